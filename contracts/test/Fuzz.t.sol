// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ICoalition} from "../interfaces/ICoalition.sol";
import {IModelLedger} from "../interfaces/IModelLedger.sol";
import {Quorum} from "../libraries/Quorum.sol";
import {GeneralDraw} from "../libraries/GeneralDraw.sol";
import {Vm, vm} from "./utils/Vm.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Property tests: the 2/3 rule for blocks and membership, seat bookkeeping under random
///         membership changes, and the Quorum / GeneralDraw libraries.
contract FuzzTest is LedgerFixture {
    function setUp() public {
        vm.warp(1_000_000);
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }

    /// @dev A pseudo-random permutation of 0..n-1 (Fisher–Yates driven by `seed`).
    function permutation(uint256 n, uint256 seed) internal pure returns (uint256[] memory p) {
        p = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) p[i] = i;
        for (uint256 i = n; i > 1; --i) {
            seed = uint256(keccak256(abi.encode(seed, i)));
            uint256 j = seed % i;
            (p[i - 1], p[j]) = (p[j], p[i - 1]);
        }
    }

    // ================================================================ block votes

    /// @notice n in [1, 40] validators vote in random order with random verdicts; after every vote
    ///         the block is Final iff accepts reached ⌈2n/3⌉, Rejected iff rejects exceed n − ⌈2n/3⌉,
    ///         and Pending otherwise; once decided, every further vote is refused.
    function testFuzz_blockDecisionFollowsTwoThirdsRule(uint256 nRaw, uint256 verdicts, uint256 order) public {
        uint256 n = bound(nRaw, 1, 40);
        deployLedger(n, 1);
        uint256 t = ceilTwoThirds(n);
        uint64 b = proposeOne();
        uint256[] memory p = permutation(n, order);
        uint256 accepts;
        uint256 rejects;
        uint256 k;
        for (; k < n; ++k) {
            bool accept = (verdicts >> (k % 256)) & 1 == 1;
            voteAs(validatorAddr(p[k]), b, accept);
            if (accept) ++accepts;
            else ++rejects;
            IModelLedger.Block memory info = ledger.blockInfo(b);
            assertEq(info.accepts, accepts, "accepts");
            assertEq(info.rejects, rejects, "rejects");
            if (accepts >= t) {
                assertEq(accepts, t, "final at exactly t accepts");
                assertTrue(info.state == IModelLedger.BlockState.Final, "final");
                assertEq(head(), b, "head moved");
                break;
            }
            if (rejects > n - t) {
                assertEq(rejects, n - t + 1, "rejected at exactly n - t + 1 rejects");
                assertTrue(info.state == IModelLedger.BlockState.Rejected, "rejected");
                assertEq(head(), 1, "head kept");
                break;
            }
            assertTrue(info.state == IModelLedger.BlockState.Pending, "pending while undecided");
            assertEq(head(), 1, "head kept while pending");
        }
        assertLt(k, n, "every full vote decides");
        assertEq(openBlock(), 0, "closed");
        assertEq(roundNumber(), 2, "next round");
        if (k + 1 < n) {
            address late = validatorAddr(p[k + 1]);
            vm.expectRevert(abi.encodeWithSelector(IModelLedger.BlockNotPending.selector, b, stateOf(b)));
            vm.prank(late);
            ledger.vote(b, true, 0, 0, 0);
        }
    }

    /// @notice Several blocks in a row over one validator set, random verdicts each time: the head
    ///         moves exactly on the finals and the lineage links the finals in order.
    function testFuzz_headFollowsFinalsOnly(uint256 nRaw, uint256 verdicts) public {
        uint256 n = bound(nRaw, 1, 12);
        deployLedger(n, 1);
        uint256 t = ceilTwoThirds(n);
        uint64 expectedHead = 1;
        for (uint256 round = 0; round < 6; ++round) {
            uint64 b = proposeOne();
            uint256 accepts;
            for (uint256 i = 0; i < n && stateOf(b) == IModelLedger.BlockState.Pending; ++i) {
                bool accept = (verdicts >> ((round * 40 + i) % 256)) & 1 == 1;
                voteAs(validatorAddr(i), b, accept);
                if (accept) ++accepts;
            }
            if (accepts >= t) {
                assertEq(ledger.blockInfo(b).parent, expectedHead, "final extends the old head");
                expectedHead = b;
            }
            assertEq(head(), expectedHead, "head");
        }
        for (uint64 cur = head(); cur != 0; cur = ledger.blockInfo(cur).parent) {
            assertTrue(stateOf(cur) == IModelLedger.BlockState.Final, "lineage of finals");
        }
    }

    // ================================================================ membership

    address[] internal model; // swap-and-pop model of the validator list
    uint32 internal modelVersion;

    /// @notice Random membership changes (add/remove validator, add/remove member) voted on in
    ///         random order: each is executed iff ⌈2n/3⌉ ayes come before n − ⌈2n/3⌉ + 1 nays, and
    ///         the validator list always equals a swap-and-pop model of it.
    function testFuzz_membershipChanges(uint256 seed) public {
        uint256 n0 = bound(seed, 1, 7);
        deployLedger(n0, 2);
        for (uint256 i = 0; i < n0; ++i) model.push(validatorAddr(i));
        modelVersion = ledger.validatorSetVersion();
        for (uint256 step = 0; step < 8; ++step) {
            seed = uint256(keccak256(abi.encode(seed, step)));
            _randomChange(seed, n0 + step, step);
            _checkModel();
        }
    }

    function _randomChange(uint256 seed, uint256 freshIndex, uint256 step) private {
        uint256 kind = seed % 4;
        address[] memory vs = ledger.validators();
        address proposer = vs[(seed >> 8) % vs.length];
        bytes32 role = kind < 2 ? VALIDATOR : MEMBER;
        bool grant = kind % 2 == 0;
        address account;
        if (kind == 0) account = validatorAddr(freshIndex);
        else if (kind == 1) account = vs[(seed >> 16) % vs.length];
        else if (kind == 2) account = address(uint160(0x5000 + step));
        else account = memberAddr((seed >> 16) % 2);
        if (!grant && !ledger.hasRole(role, account)) return;
        if (kind == 1 && vs.length == 1) {
            vm.expectRevert(abi.encodeWithSelector(ICoalition.LastValidator.selector, account));
            vm.prank(proposer);
            ledger.proposeMembership(account, role, grant);
            return;
        }
        vm.prank(proposer);
        uint256 id = ledger.proposeMembership(account, role, grant);
        bool passed = _voteOut(id, vs, proposer, seed);
        assertTrue(
            ledger.membershipState(id)
                == (passed ? ICoalition.ProposalState.Executed : ICoalition.ProposalState.Rejected),
            "outcome follows the 2/3 rule"
        );
        assertEq(ledger.hasRole(role, account), passed == grant, "role follows the outcome");
        if (!passed || role != VALIDATOR) return;
        ++modelVersion;
        if (grant) {
            model.push(account);
        } else {
            uint256 pos;
            while (model[pos] != account) ++pos;
            model[pos] = model[model.length - 1];
            model.pop();
        }
    }

    /// @dev Validators other than the proposer vote in random order (three in four support) until
    ///      the model of the 2/3 rule says the proposal is decided; returns whether it passed.
    function _voteOut(uint256 id, address[] memory vs, address proposer, uint256 seed) private returns (bool) {
        uint256 n = vs.length;
        uint256 t = ceilTwoThirds(n);
        uint256 ayes = 1;
        uint256 nays;
        uint256[] memory order = permutation(n, seed >> 32);
        for (uint256 k = 0; k < n && ayes < t && nays <= n - t; ++k) {
            if (vs[order[k]] == proposer) continue;
            bool support = (seed >> (64 + k)) & 3 != 0;
            vm.prank(vs[order[k]]);
            ledger.voteMembership(id, support);
            if (support) ++ayes;
            else ++nays;
            if (ayes < t && nays <= n - t) {
                assertTrue(ledger.membershipState(id) == ICoalition.ProposalState.Pending, "pending");
            }
        }
        assertTrue(ayes == t || nays == n - t + 1, "decided at the exact edge");
        return ayes >= t;
    }

    function _checkModel() private view {
        assertEq(ledger.validatorSetVersion(), modelVersion, "version counts validator changes");
        address[] memory now_ = ledger.validators();
        assertEq(now_, model, "swap-and-pop model");
        for (uint256 i = 0; i < now_.length; ++i) {
            assertEq(ledger.seatOf(now_[i]), i + 1, "seatOf");
        }
        assertTrue(ledger.seatOf(general()) != 0, "general is seated");
    }

    // ================================================================ commit–reveal

    function testFuzz_commitReveal(bytes32 secret, bytes32 wrong, uint256 who) public {
        vm.assume(secret != bytes32(0) && wrong != secret && wrong != bytes32(0));
        deployLedger(4, 1);
        address v = validatorAddr(who % 4);
        uint64 b = proposeOne();
        voteWith(v, b, true, bytes32(0), commitmentOf(v, secret));
        finalize(b);
        uint64 c = proposeOne();
        bytes32 s = ledger.seed();
        vm.expectRevert(abi.encodeWithSelector(IModelLedger.BadReveal.selector, v));
        voteWith(v, c, true, wrong, bytes32(0));
        voteWith(v, c, true, secret, bytes32(0));
        assertEq(ledger.seed(), keccak256(abi.encode(s, secret)), "seed mixed");
    }

    // ================================================================ libraries

    function testFuzz_quorumThresholdIsCeilTwoThirds(uint256 nRaw) public pure {
        uint256 n = bound(nRaw, 1, type(uint128).max);
        uint256 t = Quorum.threshold(n);
        assertGe(t * 3, 2 * n, "threshold(n) * 3 >= 2n");
        assertLt((t - 1) * 3, 2 * n, "(threshold(n) - 1) * 3 < 2n");
        assertLe(t, n, "threshold <= n");
        assertGe(t, 1, "threshold >= 1");
        // a supermajority: two quorums always share more than a third of n
        assertGe(2 * t, n + (n + 2) / 3, "two quorums share at least ceil(n/3)");
    }

    function testFuzz_quorumThresholdSmall(uint256 nRaw) public pure {
        uint256 n = bound(nRaw, 0, 300);
        assertEq(Quorum.threshold(n), ceilTwoThirds(n), "threshold == least k with 3k >= 2n");
    }

    function testFuzz_quorumUnreachable(uint256 nRaw, uint256 rRaw) public pure {
        uint256 n = bound(nRaw, 1, type(uint64).max);
        uint256 r = bound(rRaw, 0, n);
        uint256 t = Quorum.threshold(n);
        // unreachable exactly when the voters left cannot bring the accepts to t
        assertEq(Quorum.unreachable(n, r), n - r < t, "unreachable iff n - rejects < threshold");
        // monotonic in the rejects
        if (Quorum.unreachable(n, r)) assertTrue(Quorum.unreachable(n, r + 1), "monotonic");
        if (r > 0 && !Quorum.unreachable(n, r)) assertFalse(Quorum.unreachable(n, r - 1), "monotonic below");
        // the edge itself
        assertFalse(Quorum.unreachable(n, n - t), "n - t rejects tolerated");
        assertTrue(Quorum.unreachable(n, n - t + 1), "n - t + 1 rejects decide");
    }

    /// @notice The one tally of blocks and membership: passed at ⌈2n/3⌉ accepts, failed once the
    ///         rejects make that unreachable, pending otherwise; a vote adds to one count only.
    function testFuzz_quorumTally(uint256 nRaw, uint256 aRaw, uint256 rRaw, bool support) public pure {
        uint256 n = bound(nRaw, 1, 128);
        uint256 a = bound(aRaw, 0, n - 1);
        uint256 r = bound(rRaw, 0, n - 1 - a); // room for one more vote
        uint256 t = ceilTwoThirds(n);
        Quorum.Outcome o = Quorum.outcome(n, a, r);
        assertEq(o == Quorum.Outcome.Passed, a >= t, "passed iff 2n/3 accepts");
        assertEq(o == Quorum.Outcome.Failed, a < t && n - r < t, "failed iff 2n/3 accepts out of reach");
        (uint8 a2, uint8 r2, Quorum.Outcome o2) = Quorum.count(uint8(n), uint8(a), uint8(r), support);
        assertEq(a2, support ? a + 1 : a, "accepts counted");
        assertEq(r2, support ? r : r + 1, "rejects counted");
        assertTrue(o2 == Quorum.outcome(n, a2, r2), "count reports the outcome of the new counts");
    }

    function testFuzz_generalDrawIndex(bytes32 s, uint32 round, uint32 attempt, uint256 nRaw) public pure {
        uint256 n = bound(nRaw, 1, 128);
        uint256 i = GeneralDraw.index(s, round, attempt, n);
        assertLt(i, n, "index in range");
        assertEq(i, drawIndex(s, round, attempt, n), "index per specification");
        assertEq(GeneralDraw.mix(s, bytes32(n)), keccak256(abi.encode(s, bytes32(n))), "mix");
    }
}
