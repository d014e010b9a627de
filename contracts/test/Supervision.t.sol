// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ModelLedger} from "../ModelLedger.sol";
import {ICoalition} from "../interfaces/ICoalition.sol";
import {IModelLedger} from "../interfaces/IModelLedger.sol";
import {ISupervision} from "../interfaces/ISupervision.sol";
import {vm} from "./utils/Vm.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Mode C's records: contexts, copies, decryption requests and answers.
contract SupervisionTest is LedgerFixture {
    bytes32 internal constant VOTE = keccak256("tclearn.vote");
    ModelLedger internal c;

    function setUp() public {
        vm.warp(1_000_000);
        deployLedger(3, 2); // a mode-A ledger, for the refusals
        c = modeCLedger(3, 2);
    }

    function _issueContext(address participant, bytes32 fingerprint) internal {
        vm.prank(supervisorAddr(0));
        c.issueContext(participant, fingerprint, keccak256(abi.encode("cid", fingerprint)));
    }

    function _pair(address a, address b) internal pure returns (address[] memory list) {
        list = new address[](2);
        list[0] = a;
        list[1] = b;
    }

    function _hashes(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](2);
        list[0] = a;
        list[1] = b;
    }

    function test_contexts_issuedBySupervisorOnly() public {
        bytes32 fp = keccak256("ctx-m0");
        vm.expectEmit(address(c));
        emit ISupervision.ContextIssued(memberAddr(0), supervisorAddr(0), fp, keccak256("cid"));
        vm.prank(supervisorAddr(0));
        c.issueContext(memberAddr(0), fp, keccak256("cid"));
        assertEq(c.contextOf(memberAddr(0)), fp, "fingerprint kept");

        vm.expectRevert(abi.encodeWithSelector(ISupervision.NotSupervisor.selector, validatorAddr(0)));
        vm.prank(validatorAddr(0));
        c.issueContext(memberAddr(1), fp, keccak256("cid"));

        vm.expectRevert(abi.encodeWithSelector(ICoalition.NotParticipant.selector, OUTSIDER));
        vm.prank(supervisorAddr(0));
        c.issueContext(OUTSIDER, fp, keccak256("cid"));

        vm.expectRevert(ISupervision.EmptyRecord.selector);
        vm.prank(supervisorAddr(0));
        c.issueContext(memberAddr(1), bytes32(0), keccak256("cid"));
    }

    function test_copies_needAContextAndABlock() public {
        _issueContext(memberAddr(0), keccak256("f0"));
        _issueContext(validatorAddr(0), keccak256("f1"));
        address[] memory who = _pair(memberAddr(0), validatorAddr(0));
        bytes32[] memory copies = _hashes(keccak256("copy0"), keccak256("copy1"));
        bytes32[] memory cids = _hashes(keccak256("cid0"), keccak256("cid1"));
        vm.expectEmit(address(c));
        emit ISupervision.CopyIssued(1, memberAddr(0), keccak256("copy0"), keccak256("cid0"), keccak256("f0"));
        vm.expectEmit(address(c));
        emit ISupervision.CopyIssued(1, validatorAddr(0), keccak256("copy1"), keccak256("cid1"), keccak256("f1"));
        vm.prank(supervisorAddr(0));
        c.issueCopies(1, who, copies, cids);

        vm.expectRevert(abi.encodeWithSelector(ISupervision.NoSuchBlock.selector, uint64(2)));
        vm.prank(supervisorAddr(0));
        c.issueCopies(2, who, copies, cids);

        who[1] = memberAddr(1); // no context issued to it
        vm.expectRevert(abi.encodeWithSelector(ISupervision.NoContext.selector, memberAddr(1)));
        vm.prank(supervisorAddr(0));
        c.issueCopies(1, who, copies, cids);

        vm.expectRevert(ISupervision.LengthMismatch.selector);
        vm.prank(supervisorAddr(0));
        c.issueCopies(1, who, copies, new bytes32[](1));

        vm.expectRevert(abi.encodeWithSelector(ISupervision.NotSupervisor.selector, memberAddr(0)));
        vm.prank(memberAddr(0));
        c.issueCopies(1, who, copies, cids);
    }

    function test_decryption_askedByParticipants_answeredOnce() public {
        vm.expectEmit(address(c));
        emit ISupervision.DecryptionRequested(1, validatorAddr(1), VOTE, 1, keccak256("outputs"));
        vm.prank(validatorAddr(1));
        uint64 id = c.requestDecryption(VOTE, 1, keccak256("outputs"));
        assertEq(id, 1, "first request");
        assertEq(c.requestCount(), 1, "counted");
        (address requester, bool answered) = c.decryptionRequest(id);
        assertEq(requester, validatorAddr(1), "requester");
        assertFalse(answered, "open");

        vm.expectRevert(abi.encodeWithSelector(ICoalition.NotParticipant.selector, OUTSIDER));
        vm.prank(OUTSIDER);
        c.requestDecryption(VOTE, 1, keccak256("outputs"));

        vm.expectRevert(abi.encodeWithSelector(ISupervision.NoSuchBlock.selector, uint64(9)));
        vm.prank(memberAddr(0));
        c.requestDecryption(VOTE, 9, keccak256("outputs"));

        vm.expectRevert(abi.encodeWithSelector(ISupervision.NotSupervisor.selector, validatorAddr(1)));
        vm.prank(validatorAddr(1));
        c.answerDecryption(id, keccak256("in"), keccak256("answer"));

        vm.expectEmit(address(c));
        emit ISupervision.Decrypted(id, supervisorAddr(0), keccak256("in"), keccak256("answer"));
        vm.prank(supervisorAddr(0));
        c.answerDecryption(id, keccak256("in"), keccak256("answer"));
        (, answered) = c.decryptionRequest(id);
        assertTrue(answered, "answered");

        vm.expectRevert(abi.encodeWithSelector(ISupervision.AlreadyAnswered.selector, id));
        vm.prank(supervisorAddr(0));
        c.answerDecryption(id, keccak256("in"), keccak256("answer"));

        vm.expectRevert(abi.encodeWithSelector(ISupervision.UnknownRequest.selector, uint64(7)));
        vm.prank(supervisorAddr(0));
        c.answerDecryption(7, keccak256("in"), keccak256("answer"));
    }

    function test_modeA_keepsNoModeCRecords() public {
        vm.expectRevert(ISupervision.NotModeC.selector);
        vm.prank(memberAddr(0));
        ledger.requestDecryption(VOTE, 1, keccak256("outputs"));
        vm.expectRevert(ISupervision.NotModeC.selector);
        vm.prank(supervisorAddr(0));
        ledger.issueContext(memberAddr(0), keccak256("f"), keccak256("cid"));
    }

    function test_aSupervisorVotedOut_issuesNothing() public {
        vm.prank(validatorAddr(0));
        uint256 id = c.proposeMembership(supervisorAddr(0), SUPERVISOR, false);
        vm.prank(validatorAddr(1));
        c.voteMembership(id, true);
        assertFalse(c.hasRole(SUPERVISOR, supervisorAddr(0)), "voted out at 2 of 3");
        vm.expectRevert(abi.encodeWithSelector(ISupervision.NotSupervisor.selector, supervisorAddr(0)));
        vm.prank(supervisorAddr(0));
        c.issueContext(memberAddr(0), keccak256("f"), keccak256("cid"));
    }

    function testFuzz_requestIds_count(uint8 n) public {
        for (uint256 i = 1; i <= n; ++i) {
            vm.prank(memberAddr(i % 2));
            assertEq(c.requestDecryption(VOTE, 1, keccak256(abi.encode(i))), i, "ids run from 1");
        }
        assertEq(c.requestCount(), n, "count");
    }

    // ------------------------------------------------------------------ secure aggregation's rosters

    function _round() internal view returns (uint32 number, uint32 attempt, address general) {
        (number, attempt, general,) = c.currentRound();
    }

    function _registerMasked(address member, uint32 round, uint32 attempt) internal returns (uint64) {
        vm.prank(member);
        return c.registerMaskedUpdate(1, round, attempt, freshHash(), keccak256("cid"), 64, MIN_BATCH);
    }

    function test_maskedUpdates_boundToTheCurrentAttempt() public {
        (uint32 number, uint32 attempt,) = _round();
        vm.expectEmit(address(c));
        emit ISupervision.UpdateMasked(1, memberAddr(0), number, attempt);
        assertEq(_registerMasked(memberAddr(0), number, attempt), 1, "first update");

        vm.expectRevert(
            abi.encodeWithSelector(ISupervision.WrongAttempt.selector, number + 1, attempt, number, attempt)
        );
        _registerMasked(memberAddr(1), number + 1, attempt);
        vm.expectRevert(
            abi.encodeWithSelector(ISupervision.WrongAttempt.selector, number, attempt + 1, number, attempt)
        );
        _registerMasked(memberAddr(1), number, attempt + 1);

        vm.expectRevert(ISupervision.MaskedUpdatesOnly.selector); // a mode-C update is masked
        vm.prank(memberAddr(1));
        c.registerUpdate(1, freshHash(), keccak256("cid"), 64, MIN_BATCH);

        vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotMember.selector, validatorAddr(0)));
        _registerMasked(validatorAddr(0), number, attempt);

        vm.expectRevert(ISupervision.NotModeC.selector);
        vm.prank(memberAddr(0));
        ledger.registerMaskedUpdate(1, number, attempt, freshHash(), keccak256("cid"), 64, MIN_BATCH);
    }

    function test_roster_closedByTheGeneralOnce_thenNoUpdateJoins() public {
        (uint32 number, uint32 attempt, address g) = _round();
        _registerMasked(memberAddr(0), number, attempt);
        (uint32 closedNumber, uint32 closedAttempt) = c.closedRoster();
        assertEq(closedNumber, 0, "none closed yet");
        assertEq(closedAttempt, 0, "none closed yet");

        vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotGeneral.selector, memberAddr(0), g));
        vm.prank(memberAddr(0));
        c.closeRoster();

        vm.expectEmit(address(c));
        emit ISupervision.RosterClosed(number, attempt, 1, g);
        vm.prank(g);
        c.closeRoster();
        (closedNumber, closedAttempt) = c.closedRoster();
        assertEq(closedNumber, number, "this round");
        assertEq(closedAttempt, attempt, "this attempt");

        // the absent member can never add an update the others' revealed masks would expose
        vm.expectRevert(abi.encodeWithSelector(ISupervision.RosterIsClosed.selector, number, attempt));
        _registerMasked(memberAddr(1), number, attempt);
        vm.expectRevert(abi.encodeWithSelector(ISupervision.RosterIsClosed.selector, number, attempt));
        vm.prank(g);
        c.closeRoster();

        // a redraw opens a new attempt, whose roster is open again
        vm.warp(block.timestamp + 2 days);
        c.redraw();
        (, uint32 next,) = _round();
        assertEq(next, attempt + 1, "redrawn");
        assertEq(_registerMasked(memberAddr(1), number, next), 2, "joins the new attempt");
    }

    function test_roster_onlyInModeC() public {
        address g = general();
        vm.expectRevert(ISupervision.NotModeC.selector);
        vm.prank(g);
        ledger.closeRoster();
    }

    function testFuzz_maskedUpdate_onlyOnTheHead(uint64 parent) public {
        vm.assume(parent != 1);
        (uint32 number, uint32 attempt,) = _round();
        vm.prank(memberAddr(0));
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongParent.selector, parent, uint64(1)));
        c.registerMaskedUpdate(parent, number, attempt, freshHash(), keccak256("cid"), 64, MIN_BATCH);
    }
}
