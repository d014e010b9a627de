// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ModelLedger} from "../ModelLedger.sol";
import {ICoalition} from "../interfaces/ICoalition.sol";
import {IModelLedger} from "../interfaces/IModelLedger.sol";
import {Vm, vm} from "./utils/Vm.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice One test per rule and per refusal of ModelLedger.
contract ModelLedgerTest is LedgerFixture {
    uint256 internal constant N = 4; // threshold 3, so one reject is tolerated and two reject
    uint256 internal constant M = 3;

    function setUp() public {
        vm.warp(1_000_000);
        deployLedger(N, M);
    }

    // ================================================================ construction

    function test_constructor_genesisAndFirstRound() public view {
        (uint64 h, uint64 o, uint64 c, uint64 u) = ledger.cursor();
        assertEq(h, 1, "head");
        assertEq(o, 0, "open");
        assertEq(c, 1, "blockCount");
        assertEq(u, 0, "updateCount");
        IModelLedger.Block memory g = ledger.blockInfo(1);
        assertTrue(g.state == IModelLedger.BlockState.Final, "genesis final");
        assertEq(g.modelHash, GENESIS_MODEL, "genesis model");
        assertEq(g.parent, 0, "genesis parent");
        bytes32 s = keccak256(abi.encode(block.chainid, address(ledger), GENESIS_MODEL));
        assertEq(ledger.seed(), s, "genesis seed");
        (uint32 r, uint32 a, address gen, uint32 d) = ledger.currentRound();
        assertEq(r, 1, "round");
        assertEq(a, 0, "attempt");
        assertEq(gen, ledger.validators()[drawIndex(s, 1, 0, N)], "first general");
        assertEq(d, block.timestamp + PROPOSAL_TIMEOUT, "proposal deadline");
        assertEq(ledger.minBatchSize(), MIN_BATCH, "minBatchSize");
        assertEq(ledger.rulesDigest(), RULES, "rulesDigest");
        assertEq(ledger.validatorCount(), N, "validatorCount");
    }

    function test_constructor_zeroGenesisModelRefused() public {
        IModelLedger.Genesis memory g = genesis();
        g.modelHash = bytes32(0);
        IModelLedger.Params memory p = params(ICoalition.Mode.A);
        address[] memory vs = addrs(validatorAddr, 2);
        address[] memory none = new address[](0);
        vm.expectRevert(IModelLedger.EmptyHash.selector);
        new ModelLedger(p, g, none, vs, none, none);
    }

    function test_blockInfo_unknownIsNone() public view {
        assertTrue(stateOf(0) == IModelLedger.BlockState.None, "block 0");
        assertTrue(stateOf(2) == IModelLedger.BlockState.None, "block 2");
    }

    // ================================================================ registerUpdate

    function test_registerUpdate_records() public {
        bytes32 w = keccak256("w");
        vm.expectEmit(address(ledger));
        emit IModelLedger.UpdateRegistered(1, memberAddr(1), 1, w, bytes32(uint256(7)), 100, 10);
        vm.prank(memberAddr(1));
        uint64 id = ledger.registerUpdate(1, w, bytes32(uint256(7)), 100, 10);
        assertEq(id, 1, "first update id");
        IModelLedger.Update memory u = ledger.updateInfo(1);
        assertEq(u.member, memberAddr(1), "member");
        assertEq(u.parent, 1, "parent");
        assertEq(u.samples, 100, "samples");
        assertEq(u.weightsHash, w, "weights");
        (,,, uint64 count) = ledger.cursor();
        assertEq(count, 1, "updateCount");
        assertEq(registerAs(memberAddr(0), 1), 2, "second update id");
    }

    function test_registerUpdate_nonMemberRefused() public {
        bytes32 w = keccak256("w");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotMember.selector, OUTSIDER));
        vm.prank(OUTSIDER);
        ledger.registerUpdate(1, w, 0, 64, MIN_BATCH);
        // a validator is not a member either
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotMember.selector, validatorAddr(0)));
        vm.prank(validatorAddr(0));
        ledger.registerUpdate(1, w, 0, 64, MIN_BATCH);
    }

    function test_registerUpdate_batchBelowMinimumRefused() public {
        bytes32 w = keccak256("w");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BatchTooSmall.selector, MIN_BATCH - 1, MIN_BATCH));
        vm.prank(memberAddr(0));
        ledger.registerUpdate(1, w, 0, 64, MIN_BATCH - 1);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BatchTooSmall.selector, 0, MIN_BATCH));
        vm.prank(memberAddr(0));
        ledger.registerUpdate(1, w, 0, 64, 0);
        // exactly the minimum is fine
        vm.prank(memberAddr(0));
        assertEq(ledger.registerUpdate(1, w, 0, 64, MIN_BATCH), 1, "batch == min accepted");
    }

    function test_registerUpdate_fewerSamplesThanBatchRefused() public {
        bytes32 w = keccak256("w");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadSampleCount.selector, 15, 16));
        vm.prank(memberAddr(0));
        ledger.registerUpdate(1, w, 0, 15, 16);
        vm.prank(memberAddr(0));
        assertEq(ledger.registerUpdate(1, w, 0, 16, 16), 1, "samples == batch accepted");
    }

    function test_registerUpdate_zeroHashRefused() public {
        vm.expectRevert(IModelLedger.EmptyHash.selector);
        vm.prank(memberAddr(0));
        ledger.registerUpdate(1, bytes32(0), keccak256("cid"), 64, MIN_BATCH);
    }

    function test_registerUpdate_unknownParentRefused() public {
        bytes32 w = keccak256("w");
        uint64[3] memory bad = [uint64(0), 2, 99];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IModelLedger.UnknownBlock.selector, bad[i]));
            vm.prank(memberAddr(0));
            ledger.registerUpdate(bad[i], w, 0, 64, MIN_BATCH);
        }
    }

    function test_registerUpdate_parentMustBeFinal() public {
        bytes32 w = keccak256("w");
        uint64 b = proposeOne(); // pending
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UnknownBlock.selector, b));
        vm.prank(memberAddr(0));
        ledger.registerUpdate(b, w, 0, 64, MIN_BATCH);
        reject(b); // rejected
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UnknownBlock.selector, b));
        vm.prank(memberAddr(0));
        ledger.registerUpdate(b, w, 0, 64, MIN_BATCH);
        uint64 f = proposeOne();
        finalize(f);
        // the new head and an older final block are both valid parents
        registerAs(memberAddr(0), f);
        registerAs(memberAddr(0), 1);
    }

    // ================================================================ propose

    function test_propose_opensCandidate() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = one(u);
        bytes32 model = keccak256("m2");
        vm.expectEmit(address(ledger));
        emit IModelLedger.BlockProposed(
            2, 1, g, 1, model, bytes32(uint256(5)), ids, bytes32(uint256(6)), uint8(N), uint32(block.timestamp) + VOTE_TIMEOUT
        );
        vm.prank(g);
        uint64 id = ledger.propose(1, model, bytes32(uint256(5)), ids, 1, bytes32(uint256(6)));
        assertEq(id, 2, "block id");
        (uint64 h, uint64 o, uint64 c,) = ledger.cursor();
        assertEq(h, 1, "head unchanged");
        assertEq(o, 2, "open");
        assertEq(c, 2, "blockCount");
        IModelLedger.Block memory b = ledger.blockInfo(2);
        assertTrue(b.state == IModelLedger.BlockState.Pending, "pending");
        assertEq(b.parent, 1, "parent");
        assertEq(b.electorate, N, "electorate");
        assertEq(b.deadline, block.timestamp + VOTE_TIMEOUT, "vote deadline");
        assertEq(b.modelHash, model, "model");
        assertEq(b.accepts + b.rejects, 0, "no votes");
    }

    function test_propose_fiveUpdatesFromSeveralMembers() public {
        uint64[] memory ids = new uint64[](5);
        for (uint256 i = 0; i < 5; ++i) ids[i] = registerAs(memberAddr(i % M), 1);
        uint64 id = proposeWith(ids);
        assertEq(id, 2, "block id");
    }

    function test_propose_onlyTheDrawnGeneral() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = one(u);
        bytes32 model = keccak256("m");
        address[] memory vs = ledger.validators();
        uint256 refused;
        for (uint256 i = 0; i < vs.length; ++i) {
            if (vs[i] == g) continue;
            vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotGeneral.selector, vs[i], g));
            vm.prank(vs[i]);
            ledger.propose(1, model, 0, ids, 1, 0);
            ++refused;
        }
        assertEq(refused, N - 1, "every other validator refused");
        address[2] memory others = [memberAddr(0), OUTSIDER];
        for (uint256 i = 0; i < others.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IModelLedger.NotGeneral.selector, others[i], g));
            vm.prank(others[i]);
            ledger.propose(1, model, 0, ids, 1, 0);
        }
        vm.prank(g);
        ledger.propose(1, model, 0, ids, 1, 0);
    }

    function test_propose_wrongRoundRefused() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = one(u);
        uint32[3] memory bad = [uint32(0), 2, type(uint32).max];
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongRound.selector, bad[i], 1));
            vm.prank(g);
            ledger.propose(1, keccak256("m"), 0, ids, bad[i], 0);
        }
    }

    function test_propose_wrongParentRefused() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = one(u);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongParent.selector, 0, 1));
        vm.prank(g);
        ledger.propose(0, keccak256("m"), 0, ids, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongParent.selector, 2, 1));
        vm.prank(g);
        ledger.propose(2, keccak256("m"), 0, ids, 1, 0);

        // once the head moved, the old head is no longer a valid parent
        finalize(proposeWith(ids));
        uint64 v = registerAs(memberAddr(0), 1);
        g = general();
        uint32 r = roundNumber();
        ids = one(v);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongParent.selector, 1, 2));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, r, 0);
    }

    function test_propose_zeroModelHashRefused() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = one(u);
        vm.expectRevert(IModelLedger.EmptyHash.selector);
        vm.prank(g);
        ledger.propose(1, bytes32(0), 0, ids, 1, 0);
    }

    function test_propose_emptyUpdatesRefused() public {
        address g = general();
        uint64[] memory ids = new uint64[](0);
        vm.expectRevert(IModelLedger.NoUpdates.selector);
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
    }

    function test_propose_unsortedUpdatesRefused() public {
        registerAs(memberAddr(0), 1);
        registerAs(memberAddr(1), 1);
        registerAs(memberAddr(2), 1);
        address g = general();
        uint64[] memory ids = new uint64[](3);
        (ids[0], ids[1], ids[2]) = (1, 3, 2);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UpdatesNotAscending.selector, 2));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
    }

    function test_propose_duplicateUpdatesRefused() public {
        registerAs(memberAddr(0), 1);
        registerAs(memberAddr(1), 1);
        address g = general();
        uint64[] memory ids = new uint64[](3);
        (ids[0], ids[1], ids[2]) = (1, 2, 2);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UpdatesNotAscending.selector, 2));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
        // update id 0 is never valid (ids start at 1)
        uint64[] memory zero = one(0);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UpdatesNotAscending.selector, 0));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, zero, 1, 0);
    }

    function test_propose_unknownUpdateRefused() public {
        registerAs(memberAddr(0), 1);
        address g = general();
        uint64[] memory ids = new uint64[](2);
        (ids[0], ids[1]) = (1, 2);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UnknownUpdate.selector, 2));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
    }

    function test_propose_updateTrainedOnAnotherParentRefused() public {
        uint64 stale = registerAs(memberAddr(0), 1);
        uint64 b = proposeWith(one(registerAs(memberAddr(1), 1)));
        finalize(b);
        uint64 fresh = registerAs(memberAddr(2), b);
        address g = general();
        uint32 r = roundNumber();
        uint64[] memory ids = new uint64[](2);
        (ids[0], ids[1]) = (stale, fresh);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.UpdateNotOnParent.selector, stale, 1, b));
        vm.prank(g);
        ledger.propose(b, keccak256("m"), 0, ids, r, 0);
        // the update on the head alone is fine
        proposeWith(one(fresh));
    }

    function test_propose_secondWhileCandidateOpenRefused() public {
        uint64 u = registerAs(memberAddr(0), 1);
        uint64 b = proposeWith(one(u));
        address g = general();
        uint64[] memory ids = one(u);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.CandidateAlreadyOpen.selector, b));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
    }

    function test_propose_secondAfterCloseIsWrongRound() public {
        uint64 u = registerAs(memberAddr(0), 1);
        uint64 b = proposeWith(one(u));
        reject(b);
        assertEq(roundNumber(), 2, "next round");
        address g = general(); // the general of round 2, whoever it is
        uint64[] memory ids = one(u);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.WrongRound.selector, 1, 2));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
        // the rejected block's updates may be proposed again in the new round
        proposeWith(ids);
    }

    function test_propose_afterProposalDeadlineRefused() public {
        uint64 u = registerAs(memberAddr(0), 1);
        address g = general();
        uint32 d = roundDeadline();
        uint64[] memory ids = one(u);
        vm.warp(uint256(d) + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.ProposalWindowClosed.selector, 1, d));
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
        vm.warp(d); // the deadline itself is still inside the window
        vm.prank(g);
        ledger.propose(1, keccak256("m"), 0, ids, 1, 0);
    }

    // ================================================================ vote

    function test_vote_nonValidatorRefused() public {
        uint64 b = proposeOne();
        address[2] memory who = [memberAddr(0), OUTSIDER];
        for (uint256 i = 0; i < who.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(ICoalition.NotValidator.selector, who[i]));
            vm.prank(who[i]);
            ledger.vote(b, true, 0, 0, 0);
        }
    }

    function test_vote_doubleVoteRefused() public {
        uint64 b = proposeOne();
        assertFalse(ledger.hasVoted(b, validatorAddr(2)), "not yet voted");
        voteAs(validatorAddr(2), b, false);
        assertTrue(ledger.hasVoted(b, validatorAddr(2)), "voted");
        assertFalse(ledger.hasVoted(b, validatorAddr(1)), "others not voted");
        assertFalse(ledger.hasVoted(b, OUTSIDER), "outsider");
        // neither the same verdict nor the opposite one counts again
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.AlreadyVoted.selector, b, validatorAddr(2)));
        vm.prank(validatorAddr(2));
        ledger.vote(b, false, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.AlreadyVoted.selector, b, validatorAddr(2)));
        vm.prank(validatorAddr(2));
        ledger.vote(b, true, 0, 0, 0);
        IModelLedger.Block memory info = ledger.blockInfo(b);
        assertEq(info.rejects, 1, "one reject");
        assertEq(info.accepts, 0, "no accept");
    }

    function test_vote_onFinalBlockRefused() public {
        uint64 b = proposeOne();
        finalize(b);
        address late = validatorAddr(N - 1); // seat order: the last one did not need to vote
        assertFalse(ledger.hasVoted(b, late), "last validator did not vote");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, IModelLedger.BlockState.Final));
        vm.prank(late);
        ledger.vote(b, true, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, 1, IModelLedger.BlockState.Final));
        vm.prank(late);
        ledger.vote(1, true, 0, 0, 0);
    }

    function test_vote_onRejectedBlockRefused() public {
        uint64 b = proposeOne();
        reject(b);
        address late = validatorAddr(N - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, IModelLedger.BlockState.Rejected)
        );
        vm.prank(late);
        ledger.vote(b, true, 0, 0, 0);
    }

    function test_vote_onExpiredBlockRefused() public {
        uint64 b = proposeOne();
        vm.warp(block.timestamp + VOTE_TIMEOUT + 1);
        ledger.expire(b);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, IModelLedger.BlockState.Expired));
        vm.prank(validatorAddr(0));
        ledger.vote(b, true, 0, 0, 0);
    }

    function test_vote_onUnknownBlockRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, 7, IModelLedger.BlockState.None));
        vm.prank(validatorAddr(0));
        ledger.vote(7, true, 0, 0, 0);
    }

    function test_vote_afterDeadlineIsVotingClosed() public {
        uint64 b = proposeOne();
        uint32 d = ledger.blockInfo(b).deadline;
        vm.warp(d); // the deadline itself still counts
        voteAs(validatorAddr(0), b, true);
        vm.warp(uint256(d) + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.VotingClosed.selector, b, d));
        vm.prank(validatorAddr(1));
        ledger.vote(b, true, 0, 0, 0);
        // the view already reports it expired, storage still pending until expire()
        assertTrue(stateOf(b) == IModelLedger.BlockState.Expired, "view reports expired");
        assertEq(openBlock(), b, "still open until expire()");
    }

    // ================================================================ expire / redraw

    function test_expire_beforeDeadlineRefused() public {
        uint64 b = proposeOne();
        uint32 d = ledger.blockInfo(b).deadline;
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.VotingStillOpen.selector, b, d));
        ledger.expire(b);
        vm.warp(d);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.VotingStillOpen.selector, b, d));
        ledger.expire(b);
    }

    function test_expire_afterDeadlineClosesAndOpensNextRound() public {
        uint64 b = proposeOne();
        voteAs(validatorAddr(0), b, true);
        voteAs(validatorAddr(1), b, false);
        uint32 d = ledger.blockInfo(b).deadline;
        vm.warp(uint256(d) + 1);
        bytes32 s = ledger.seed();
        vm.expectEmit(address(ledger));
        emit IModelLedger.BlockExpired(b, 1, 1);
        vm.prank(OUTSIDER); // anyone may call it
        ledger.expire(b);
        assertTrue(stateOf(b) == IModelLedger.BlockState.Expired, "expired");
        (uint64 h, uint64 o,,) = ledger.cursor();
        assertEq(h, 1, "head unchanged");
        assertEq(o, 0, "nothing open");
        (uint32 r, uint32 a, address g, uint32 pd) = ledger.currentRound();
        assertEq(r, 2, "next round");
        assertEq(a, 0, "attempt 0");
        assertEq(g, ledger.validators()[drawIndex(s, 2, 0, N)], "drawn general");
        assertEq(pd, block.timestamp + PROPOSAL_TIMEOUT, "new proposal deadline");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, IModelLedger.BlockState.Expired));
        ledger.expire(b);
    }

    function test_expire_decidedOrUnknownBlockRefused() public {
        uint64 b = proposeOne();
        finalize(b);
        vm.warp(block.timestamp + VOTE_TIMEOUT + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, IModelLedger.BlockState.Final));
        ledger.expire(b);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, 9, IModelLedger.BlockState.None));
        ledger.expire(9);
    }

    function test_redraw_beforeDeadlineRefused() public {
        uint32 d = roundDeadline();
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.ProposalWindowOpen.selector, 1, d));
        ledger.redraw();
        vm.warp(d);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.ProposalWindowOpen.selector, 1, d));
        ledger.redraw();
    }

    function test_redraw_afterDeadlineDrawsNextAttempt() public {
        address silent = general();
        uint32 d = roundDeadline();
        vm.warp(uint256(d) + 1);
        bytes32 s = ledger.seed();
        vm.expectEmit(address(ledger));
        emit IModelLedger.GeneralTimedOut(1, 0, silent);
        vm.prank(OUTSIDER);
        ledger.redraw();
        (uint32 r, uint32 a, address g, uint32 pd) = ledger.currentRound();
        assertEq(r, 1, "same round");
        assertEq(a, 1, "attempt 1");
        assertEq(g, ledger.validators()[drawIndex(s, 1, 1, N)], "redrawn general");
        assertEq(pd, block.timestamp + PROPOSAL_TIMEOUT, "fresh window");
        // the redrawn general proposes in the same round
        uint64 b = proposeOne();
        assertEq(ledger.blockInfo(b).parent, 1, "parent");
        // and a candidate being open forbids a redraw even past the window
        vm.warp(uint256(pd) + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.CandidateAlreadyOpen.selector, b));
        ledger.redraw();
    }

    function test_redraw_repeatedAttemptsFollowTheDraw() public {
        bytes32 s = ledger.seed();
        address[] memory vs = ledger.validators();
        for (uint32 attempt = 1; attempt <= 6; ++attempt) {
            vm.warp(uint256(roundDeadline()) + 1);
            ledger.redraw();
            assertEq(roundAttempt(), attempt, "attempt");
            assertEq(general(), vs[drawIndex(s, 1, attempt, N)], "general of attempt");
        }
    }

    // ================================================================ quorum edges

    function test_quorum_finalExactlyAtTwoThirdsAccepts_n1to10() public {
        for (uint256 n = 1; n <= 10; ++n) {
            deployLedger(n, 1);
            uint256 t = ceilTwoThirds(n);
            uint64 b = proposeOne();
            for (uint256 i = 0; i < t; ++i) {
                assertTrue(stateOf(b) == IModelLedger.BlockState.Pending, "pending before threshold");
                assertEq(head(), 1, "head before threshold");
                voteAs(validatorAddr(i), b, true);
            }
            assertTrue(stateOf(b) == IModelLedger.BlockState.Final, "final at threshold");
            assertEq(head(), b, "head moved at threshold");
            assertEq(ledger.blockInfo(b).accepts, t, "accepts == threshold");
        }
    }

    function test_quorum_finalWithToleratedRejects_n1to10() public {
        for (uint256 n = 1; n <= 10; ++n) {
            deployLedger(n, 1);
            uint256 t = ceilTwoThirds(n);
            uint64 b = proposeOne();
            // the largest tolerated number of rejects first, then the accepts
            for (uint256 i = 0; i < n - t; ++i) voteAs(validatorAddr(i), b, false);
            for (uint256 i = n - t; i < n; ++i) {
                assertTrue(stateOf(b) == IModelLedger.BlockState.Pending, "pending");
                voteAs(validatorAddr(i), b, true);
            }
            assertTrue(stateOf(b) == IModelLedger.BlockState.Final, "final with n - t rejects");
            assertEq(head(), b, "head moved");
        }
    }

    function test_quorum_rejectedAsSoonAsUnreachable_n1to10() public {
        for (uint256 n = 1; n <= 10; ++n) {
            deployLedger(n, 1);
            uint256 t = ceilTwoThirds(n);
            uint64 b = proposeOne();
            // t - 1 accepts never decide anything
            for (uint256 i = 0; i + 1 < t; ++i) voteAs(validatorAddr(n - 1 - i), b, true);
            for (uint256 i = 0; i <= n - t; ++i) {
                assertTrue(stateOf(b) == IModelLedger.BlockState.Pending, "pending while reachable");
                voteAs(validatorAddr(i), b, false);
            }
            assertTrue(stateOf(b) == IModelLedger.BlockState.Rejected, "rejected at n - t + 1 rejects");
            assertEq(ledger.blockInfo(b).rejects, n - t + 1, "rejects");
            assertEq(head(), 1, "head unchanged");
            assertEq(openBlock(), 0, "closed");
        }
    }

    function test_quorum_largestValidatorSetUsesTopSeat() public {
        deployLedger(128, 1);
        uint64 b = proposeOne();
        assertEq(ledger.blockInfo(b).electorate, 128, "electorate 128");
        // seat 128 (bit 127) and seat 1 vote first; then enough others to reach 86
        voteAs(validatorAddr(127), b, true);
        assertTrue(ledger.hasVoted(b, validatorAddr(127)), "seat 128 recorded");
        assertFalse(ledger.hasVoted(b, validatorAddr(126)), "seat 127 not recorded");
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.AlreadyVoted.selector, b, validatorAddr(127)));
        vm.prank(validatorAddr(127));
        ledger.vote(b, false, 0, 0, 0);
        for (uint256 i = 0; i < 42; ++i) voteAs(validatorAddr(i), b, false); // n - t = 42 tolerated
        for (uint256 i = 42; i < 126; ++i) voteAs(validatorAddr(i), b, true);
        assertTrue(stateOf(b) == IModelLedger.BlockState.Pending, "85 accepts pending");
        voteAs(validatorAddr(126), b, true);
        assertTrue(stateOf(b) == IModelLedger.BlockState.Final, "86 accepts final");
    }

    // ================================================================ head and lineage

    function test_head_movesOnlyOnFinalization() public {
        uint64 b = proposeOne();
        assertEq(head(), 1, "proposal does not move head");
        voteAs(validatorAddr(0), b, true);
        voteAs(validatorAddr(1), b, true);
        assertEq(head(), 1, "two accepts do not move head");
        voteAs(validatorAddr(2), b, true);
        assertEq(head(), b, "third accept moves head");

        uint64 r = proposeOne();
        reject(r);
        assertEq(head(), b, "rejection does not move head");

        uint64 e = proposeOne();
        voteAs(validatorAddr(0), e, true);
        voteAs(validatorAddr(1), e, true);
        vm.warp(block.timestamp + VOTE_TIMEOUT + 1);
        ledger.expire(e);
        assertEq(head(), b, "expiry does not move head");

        vm.warp(uint256(roundDeadline()) + 1);
        ledger.redraw();
        assertEq(head(), b, "redraw does not move head");
    }

    function test_lineage_parentLinksFormAChainOfFinalBlocks() public {
        uint64[] memory finals = new uint64[](4);
        uint256 k;
        finals[k++] = 1;
        for (uint256 step = 0; step < 6; ++step) {
            uint64 parentBefore = head();
            uint64 b = proposeOne();
            assertEq(ledger.blockInfo(b).parent, parentBefore, "candidate extends head");
            if (step % 2 == 0) {
                finalize(b);
                finals[k++] = b;
                assertEq(head(), b, "head");
            } else {
                reject(b);
                assertEq(head(), parentBefore, "head unchanged");
            }
        }
        assertEq(k, 4, "three finals plus genesis");
        // walk the lineage back from the head
        uint64 cur = head();
        for (uint256 i = k; i > 0; --i) {
            assertEq(cur, finals[i - 1], "lineage");
            assertTrue(stateOf(cur) == IModelLedger.BlockState.Final, "lineage block final");
            cur = ledger.blockInfo(cur).parent;
        }
        assertEq(cur, 0, "genesis has no parent");
    }

    // ================================================================ commit–reveal draw

    function test_commitReveal_revealMixesSeed() public {
        address v = validatorAddr(0);
        bytes32 secret = keccak256("secret of v0");
        uint64 b = proposeOne();
        bytes32 before = ledger.seed();
        voteWith(v, b, true, bytes32(0), commitmentOf(v, secret));
        assertEq(ledger.seed(), before, "a commitment alone does not move the seed");
        finalize(b);
        uint64 c = proposeOne();
        bytes32 s = ledger.seed();
        vm.expectEmit(address(ledger));
        emit IModelLedger.VoteCast(c, v, true, bytes32(0), secret, bytes32(0));
        voteWith(v, c, true, secret, bytes32(0));
        assertEq(ledger.seed(), keccak256(abi.encode(s, secret)), "seed = keccak(old, secret)");
        // the commitment was consumed: revealing the same secret again fails
        finalize(c);
        uint64 d = proposeOne();
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadReveal.selector, v));
        voteWith(v, d, true, secret, bytes32(0));
    }

    function test_commitReveal_nextGeneralUsesMixedSeed() public {
        uint64 b = proposeOne();
        for (uint256 i = 0; i < N; ++i) {
            voteWith(validatorAddr(i), b, i != N - 1, bytes32(0), commitmentOf(validatorAddr(i), bytes32(i + 1)));
            if (i == 2) break; // block is final at the third accept
        }
        uint64 c = proposeOne();
        bytes32 s = ledger.seed();
        for (uint256 i = 0; i < 3; ++i) {
            voteWith(validatorAddr(i), c, true, bytes32(i + 1), bytes32(0));
            s = keccak256(abi.encode(s, bytes32(i + 1)));
        }
        assertEq(ledger.seed(), s, "all three reveals folded in order");
        assertEq(roundNumber(), 3, "round 3");
        assertEq(general(), ledger.validators()[drawIndex(s, 3, 0, N)], "general drawn from mixed seed");
    }

    function test_commitReveal_wrongRevealRefused() public {
        address v = validatorAddr(1);
        uint64 b = proposeOne();
        // no commitment yet: any non-zero reveal is bad
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadReveal.selector, v));
        voteWith(v, b, true, keccak256("anything"), bytes32(0));
        voteWith(v, b, true, bytes32(0), commitmentOf(v, keccak256("right")));
        finalize(b);
        uint64 c = proposeOne();
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadReveal.selector, v));
        voteWith(v, c, true, keccak256("wrong"), bytes32(0));
        assertFalse(ledger.hasVoted(c, v), "refused vote not recorded");
        voteWith(v, c, true, keccak256("right"), bytes32(0));
    }

    function test_commitReveal_commitmentIsBoundToTheValidator() public {
        address a = validatorAddr(0);
        address x = validatorAddr(1);
        bytes32 secret = keccak256("a's secret");
        uint64 b = proposeOne();
        // x copies a's commitment as its own
        voteWith(a, b, true, bytes32(0), commitmentOf(a, secret));
        voteWith(x, b, true, bytes32(0), commitmentOf(a, secret));
        finalize(b);
        uint64 c = proposeOne();
        voteWith(a, c, true, secret, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadReveal.selector, x));
        voteWith(x, c, true, secret, bytes32(0));
    }

    function test_commitReveal_withheldRevealIsFlaggedAndDoesNotStall() public {
        address v = validatorAddr(0);
        uint64 b = proposeOne();
        voteWith(v, b, true, bytes32(0), commitmentOf(v, keccak256("kept")));
        finalize(b);
        uint64 c = proposeOne();
        uint32 r = roundNumber();
        bytes32 s = ledger.seed();
        vm.recordLogs();
        vm.expectEmit(address(ledger));
        emit IModelLedger.RevealWithheld(v, r);
        voteWith(v, c, true, bytes32(0), bytes32(0));
        assertEq(ledger.seed(), s, "withheld reveal leaves seed");
        voteAs(validatorAddr(1), c, true);
        voteAs(validatorAddr(2), c, true);
        assertTrue(stateOf(c) == IModelLedger.BlockState.Final, "round still finalizes");
        assertEq(roundNumber(), r + 1, "next round opened");
        assertEq(general(), ledger.validators()[drawIndex(s, r + 1, 0, N)], "next general drawn");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(countLogs(logs, IModelLedger.RevealWithheld.selector), 1, "exactly one RevealWithheld");
    }

    function test_commitReveal_noCommitmentNoFlag() public {
        uint64 b = proposeOne();
        vm.recordLogs();
        voteAs(validatorAddr(0), b, true);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(countLogs(logs, IModelLedger.RevealWithheld.selector), 0, "no commitment, no flag");
        assertEq(countLogs(logs, IModelLedger.VoteCast.selector), 1, "one VoteCast");
    }

    /// @notice Drives finalizations, rejections, expiries, redraws and reveals, and checks every
    ///         RoundOpened against the draw recomputed from the specification.
    function test_draw_everyRoundOpenedMatchesRecomputation() public {
        vm.recordLogs();
        deployLedger(7, 2);
        bytes32 expectedSeed = keccak256(abi.encode(block.chainid, address(ledger), GENESIS_MODEL));
        uint256 checked = _checkRoundsOpened(expectedSeed);
        bytes32[7] memory secret;
        for (uint256 step = 0; step < 12; ++step) {
            uint256 kind = step % 4;
            if (kind == 3) {
                vm.warp(uint256(roundDeadline()) + 1);
                ledger.redraw();
            } else {
                uint64 b = proposeOne();
                address[] memory vs = ledger.validators();
                for (uint256 i = 0; i < vs.length; ++i) {
                    if (kind == 2 && i == 3) break; // three accepts of five needed: undecided, then expire
                    bytes32 fresh = keccak256(abi.encode(step, i));
                    bytes32 reveal = (i + step) % 3 == 0 ? bytes32(0) : secret[i]; // some withheld
                    voteWith(vs[i], b, kind != 1, reveal, commitmentOf(vs[i], fresh));
                    if (reveal != bytes32(0)) expectedSeed = keccak256(abi.encode(expectedSeed, reveal));
                    secret[i] = fresh;
                    if (stateOf(b) != IModelLedger.BlockState.Pending) break;
                }
                if (kind == 2) {
                    vm.warp(block.timestamp + VOTE_TIMEOUT + 1);
                    ledger.expire(b);
                }
            }
            assertEq(ledger.seed(), expectedSeed, "seed recomputed from reveals");
            checked += _checkRoundsOpened(expectedSeed);
        }
        assertEq(checked, 13, "one RoundOpened at deployment and one per step");
    }

    function _checkRoundsOpened(bytes32 expectedSeed) private returns (uint256 count) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        address[] memory vs = ledger.validators();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(ledger) || logs[i].topics[0] != IModelLedger.RoundOpened.selector) continue;
            uint32 round = uint32(uint256(logs[i].topics[1]));
            address g = address(uint160(uint256(logs[i].topics[2])));
            (uint32 attempt, uint8 index, bytes32 s,) = abi.decode(logs[i].data, (uint32, uint8, bytes32, uint32));
            assertEq(s, expectedSeed, "RoundOpened seed");
            assertEq(index, drawIndex(s, round, attempt, vs.length), "RoundOpened index");
            assertEq(g, vs[index], "RoundOpened general");
            (uint32 r, uint32 a, address cg,) = ledger.currentRound();
            assertEq(r, round, "round");
            assertEq(a, attempt, "attempt");
            assertEq(cg, g, "current general");
            ++count;
        }
    }
}
