// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Quorum arithmetic of the Federated Byzantine Agreement
/// @notice One place for the 2/3 rule, so that candidate blocks and membership votes count alike.
library Quorum {
    /// @notice Accepts needed among `n` voters: ⌈2n/3⌉.
    function threshold(uint256 n) internal pure returns (uint256) {
        return (2 * n + 2) / 3;
    }

    /// @notice True once `rejects` among `n` voters leave fewer than ⌈2n/3⌉ possible accepts.
    function unreachable(uint256 n, uint256 rejects) internal pure returns (bool) {
        return rejects > n - threshold(n);
    }
}
