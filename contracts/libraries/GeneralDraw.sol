// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title The verifiable draw of a round's general
/// @notice Pure functions, so that anyone can recompute every draw from the ledger's events:
///         `seed` starts as `genesisSeed` and each valid reveal carried by a vote folds in with
///         `mix`; a round's general is `validators[index(seed, round, attempt, n)]`, with the
///         validator list replayed from the `ValidatorSeated` / `ValidatorUnseated` events.
library GeneralDraw {
    /// @notice Seed of round 1, fixed by the deployment (chain, address and genesis model).
    function genesisSeed(uint256 chainId, address ledger, bytes32 genesisModel) internal pure returns (bytes32) {
        return keccak256(abi.encode(chainId, ledger, genesisModel));
    }

    /// @notice Commitment a validator publishes for `secret`; binding it to the validator stops
    ///         another validator from replaying the same commitment as its own.
    function commitment(address validator, bytes32 secret) internal pure returns (bytes32) {
        return keccak256(abi.encode(validator, secret));
    }

    /// @notice Folds one revealed secret into the running seed.
    function mix(bytes32 seed, bytes32 secret) internal pure returns (bytes32) {
        return keccak256(abi.encode(seed, secret));
    }

    /// @notice Position, in the current validator list of length `n`, of the general drawn for
    ///         `round` at its `attempt`-th draw (a silent general's round is redrawn).
    function index(bytes32 seed, uint256 round, uint256 attempt, uint256 n) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, round, attempt))) % n;
    }
}
