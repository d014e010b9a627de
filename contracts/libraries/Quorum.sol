// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Quorum arithmetic and the one tally of the Federated Byzantine Agreement
/// @notice One place for the 2/3 rule and for counting a vote against it, so that candidate blocks
///         and membership votes count alike: both go through `count`, as every proposal of
///         OpenZeppelin's GovernorCountingSimple goes through its one `_countVote`.
library Quorum {
    /// @notice Where a vote stands: undecided, passed (⌈2n/3⌉ accepts) or failed (that many
    ///         accepts are out of reach).
    enum Outcome {
        Pending,
        Passed,
        Failed
    }

    /// @notice Accepts needed among `n` voters: ⌈2n/3⌉.
    function threshold(uint256 n) internal pure returns (uint256) {
        return (2 * n + 2) / 3;
    }

    /// @notice True once `rejects` among `n` voters leave fewer than ⌈2n/3⌉ possible accepts.
    function unreachable(uint256 n, uint256 rejects) internal pure returns (bool) {
        return rejects > n - threshold(n);
    }

    /// @notice The outcome of `accepts` and `rejects` among `n` voters: `Passed` at ⌈2n/3⌉ accepts,
    ///         `Failed` as soon as the rejects make that unreachable, `Pending` until either.
    /// @dev While each voter votes at most once (accepts + rejects ≤ n) the two cannot hold at
    ///      once, so the order of the tests decides nothing.
    function outcome(uint256 n, uint256 accepts, uint256 rejects) internal pure returns (Outcome) {
        uint256 t = threshold(n);
        if (accepts >= t) return Outcome.Passed;
        if (rejects > n - t) return Outcome.Failed;
        return Outcome.Pending;
    }

    /// @notice Counts one vote among `n` voters: adds it to `accepts` (`support`) or to `rejects`,
    ///         and says where the vote then stands.
    /// @dev The counts are a vote's storage fields; the caller writes back what it gets. A count
    ///      past 255 reverts, which the 128-voter bound of the validator set rules out.
    function count(uint8 n, uint8 accepts, uint8 rejects, bool support) internal pure returns (uint8, uint8, Outcome) {
        if (support) ++accepts;
        else ++rejects;
        return (accepts, rejects, outcome(n, accepts, rejects));
    }
}
