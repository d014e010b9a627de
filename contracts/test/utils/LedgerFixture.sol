// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ModelLedger} from "../../ModelLedger.sol";
import {ICoalition} from "../../interfaces/ICoalition.sol";
import {IModelLedger} from "../../interfaces/IModelLedger.sol";
import {Vm, vm} from "./Vm.sol";
import {Assert} from "./Assert.sol";

/// @notice Shared set-up: a ledger with n validators and m members, and short-hands for the
///         usual moves (register an update, propose as the drawn general, vote).
abstract contract LedgerFixture is Assert {
    uint32 internal constant MIN_BATCH = 8;
    uint32 internal constant PROPOSAL_TIMEOUT = 300;
    uint32 internal constant VOTE_TIMEOUT = 600;
    uint32 internal constant MEMBERSHIP_TIMEOUT = 3600;
    bytes32 internal constant GENESIS_MODEL = keccak256("genesis model");
    bytes32 internal constant GENESIS_CID = keccak256("genesis cid");
    bytes32 internal constant GENESIS_META = keccak256("genesis metadata");
    bytes32 internal constant RULES = keccak256("coalition rules");

    bytes32 internal constant MEMBER = keccak256("tclearn.member");
    bytes32 internal constant VALIDATOR = keccak256("tclearn.validator");
    bytes32 internal constant SUPERVISOR = keccak256("tclearn.supervisor");
    bytes32 internal constant AUDITOR = keccak256("tclearn.auditor");

    address internal constant OUTSIDER = address(0xBAD);

    ModelLedger internal ledger;
    uint256 private _nonce;

    // ---------------------------------------------------------------- addresses

    function validatorAddr(uint256 i) internal pure returns (address) {
        return address(uint160(0x1000 + i));
    }

    function memberAddr(uint256 i) internal pure returns (address) {
        return address(uint160(0x2000 + i));
    }

    function supervisorAddr(uint256 i) internal pure returns (address) {
        return address(uint160(0x3000 + i));
    }

    function auditorAddr(uint256 i) internal pure returns (address) {
        return address(uint160(0x4000 + i));
    }

    function addrs(function(uint256) pure returns (address) make, uint256 count)
        internal
        pure
        returns (address[] memory list)
    {
        list = new address[](count);
        for (uint256 i = 0; i < count; ++i) list[i] = make(i);
    }

    // ---------------------------------------------------------------- deployment

    function params(ICoalition.Mode mode) internal pure returns (IModelLedger.Params memory) {
        return IModelLedger.Params({
            mode: mode,
            minBatchSize: MIN_BATCH,
            proposalTimeout: PROPOSAL_TIMEOUT,
            voteTimeout: VOTE_TIMEOUT,
            membershipTimeout: MEMBERSHIP_TIMEOUT,
            rulesDigest: RULES
        });
    }

    function genesis() internal pure returns (IModelLedger.Genesis memory) {
        return IModelLedger.Genesis({modelHash: GENESIS_MODEL, cidDigest: GENESIS_CID, metadataHash: GENESIS_META});
    }

    /// @notice Deploys a mode-A ledger with validators 0x1000.. and members 0x2000.. as `ledger`.
    function deployLedger(uint256 n, uint256 m) internal returns (ModelLedger) {
        ledger = new ModelLedger(
            params(ICoalition.Mode.A),
            genesis(),
            addrs(memberAddr, m),
            addrs(validatorAddr, n),
            new address[](0),
            new address[](0)
        );
        return ledger;
    }

    /// @notice A mode-C ledger with `n` validators, `m` members, one supervisor and one auditor
    ///         (not kept in `ledger`).
    function modeCLedger(uint256 n, uint256 m) internal returns (ModelLedger) {
        return new ModelLedger(
            params(ICoalition.Mode.C),
            genesis(),
            addrs(memberAddr, m),
            addrs(validatorAddr, n),
            addrs(supervisorAddr, 1),
            addrs(auditorAddr, 1)
        );
    }

    // ---------------------------------------------------------------- reading

    function head() internal view returns (uint64 h) {
        (h,,,) = ledger.cursor();
    }

    function openBlock() internal view returns (uint64 o) {
        (, o,,) = ledger.cursor();
    }

    function blockCount() internal view returns (uint64 c) {
        (,, c,) = ledger.cursor();
    }

    function general() internal view returns (address g) {
        (,, g,) = ledger.currentRound();
    }

    function roundNumber() internal view returns (uint32 r) {
        (r,,,) = ledger.currentRound();
    }

    function roundAttempt() internal view returns (uint32 a) {
        (, a,,) = ledger.currentRound();
    }

    function roundDeadline() internal view returns (uint32 d) {
        (,,, d) = ledger.currentRound();
    }

    function stateOf(uint64 id) internal view returns (IModelLedger.BlockState) {
        return ledger.blockInfo(id).state;
    }

    /// @notice ⌈2n/3⌉ computed independently of the Quorum library: the least k with 3k ≥ 2n.
    function ceilTwoThirds(uint256 n) internal pure returns (uint256 k) {
        while (3 * k < 2 * n) ++k;
    }

    /// @notice The draw rule, spelled out from the specification.
    function drawIndex(bytes32 s, uint256 round, uint256 attempt, uint256 n) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(s, round, attempt))) % n;
    }

    function commitmentOf(address validator, bytes32 secret) internal pure returns (bytes32) {
        return keccak256(abi.encode(validator, secret));
    }

    // ---------------------------------------------------------------- acting

    function freshHash() internal returns (bytes32) {
        return keccak256(abi.encode("fixture", ++_nonce));
    }

    /// @notice `member` registers a valid update trained on `parent`.
    function registerAs(address member, uint64 parent) internal returns (uint64 id) {
        bytes32 w = freshHash();
        vm.prank(member);
        id = ledger.registerUpdate(parent, w, bytes32(0), 64, MIN_BATCH);
    }

    function one(uint64 id) internal pure returns (uint64[] memory ids) {
        ids = new uint64[](1);
        ids[0] = id;
    }

    /// @notice The drawn general proposes a block on the head with the given updates.
    function proposeWith(uint64[] memory ids) internal returns (uint64 id) {
        address g = general();
        uint64 h = head();
        uint32 r = roundNumber();
        bytes32 model = freshHash();
        vm.prank(g);
        id = ledger.propose(h, model, bytes32(0), ids, r, bytes32(0));
    }

    /// @notice Member 0 registers one update on the head, and the drawn general proposes it.
    function proposeOne() internal returns (uint64 id) {
        uint64 u = registerAs(memberAddr(0), head());
        id = proposeWith(one(u));
    }

    function voteAs(address validator, uint64 id, bool accept) internal {
        vm.prank(validator);
        ledger.vote(id, accept, bytes32(0), bytes32(0), bytes32(0));
    }

    function voteWith(address validator, uint64 id, bool accept, bytes32 reveal, bytes32 nextCommit) internal {
        vm.prank(validator);
        ledger.vote(id, accept, bytes32(0), reveal, nextCommit);
    }

    /// @notice Validators (in seat order) accept `id` until it is final.
    function finalize(uint64 id) internal {
        address[] memory vs = ledger.validators();
        for (uint256 i = 0; i < vs.length && stateOf(id) == IModelLedger.BlockState.Pending; ++i) {
            if (!ledger.hasVoted(id, vs[i])) voteAs(vs[i], id, true);
        }
        assertTrue(stateOf(id) == IModelLedger.BlockState.Final, "finalize: block not final");
    }

    /// @notice Validators (in seat order) reject `id` until it is rejected.
    function reject(uint64 id) internal {
        address[] memory vs = ledger.validators();
        for (uint256 i = 0; i < vs.length && stateOf(id) == IModelLedger.BlockState.Pending; ++i) {
            if (!ledger.hasVoted(id, vs[i])) voteAs(vs[i], id, false);
        }
        assertTrue(stateOf(id) == IModelLedger.BlockState.Rejected, "reject: block not rejected");
    }

    /// @notice Proposes a membership change as validator `proposer`, then has the other validators
    ///         (seat order) support it until it is decided.
    function passMembership(address proposer, address account, bytes32 role, bool grant)
        internal
        returns (uint256 id)
    {
        vm.prank(proposer);
        id = ledger.proposeMembership(account, role, grant);
        address[] memory vs = ledger.validators();
        for (uint256 i = 0; i < vs.length && ledger.membershipState(id) == ICoalition.ProposalState.Pending; ++i) {
            if (vs[i] == proposer) continue;
            vm.prank(vs[i]);
            ledger.voteMembership(id, true);
        }
    }

    // ---------------------------------------------------------------- logs

    function countLogs(Vm.Log[] memory logs, bytes32 topic0) internal view returns (uint256 count) {
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter == address(ledger) && logs[i].topics[0] == topic0) ++count;
        }
    }
}
