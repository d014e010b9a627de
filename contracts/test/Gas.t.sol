// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ModelLedger} from "../ModelLedger.sol";
import {vm} from "./utils/Vm.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Gas scenarios for `forge test --isolate --gas-report --match-contract GasTest`:
///         per validator count, the report's `propose` row has min = 1 update and max = 5
///         updates, and `vote` has min = an ordinary vote and max = the finalizing vote.
contract GasTest is LedgerFixture {
    function _scenario(uint256 n) internal {
        vm.warp(1_000_000);
        deployLedger(n, 5);
        uint64[] memory five = new uint64[](5);
        for (uint256 i = 0; i < 5; ++i) five[i] = registerAs(memberAddr(i), 1);
        uint64 b = proposeWith(one(five[0]));
        uint256 t = ceilTwoThirds(n);
        for (uint256 i = 0; i < t; ++i) voteAs(validatorAddr(i), b, true);
        assertEq(head(), b, "finalized");
        for (uint256 i = 0; i < 5; ++i) five[i] = registerAs(memberAddr(i), b);
        uint64 c = proposeWith(five);
        for (uint256 i = 0; i < t; ++i) voteAs(validatorAddr(n - 1 - i), c, true);
        assertEq(head(), c, "finalized");
    }

    function test_gas_n4() public {
        _scenario(4);
    }

    function test_gas_n10() public {
        _scenario(10);
    }

    function test_gas_n25() public {
        _scenario(25);
    }

    /// @notice `vote` rows: min = vote committing to a fresh secret, max = vote revealing the
    ///         previous secret and committing to the next one (n = 4, none of them finalizing).
    function test_gas_commitReveal_n4() public {
        vm.warp(1_000_000);
        deployLedger(4, 1);
        uint64 b = proposeOne();
        address v = validatorAddr(0);
        voteWith(v, b, true, bytes32(0), commitmentOf(v, bytes32(uint256(1))));
        vm.warp(block.timestamp + VOTE_TIMEOUT + 1);
        ledger.expire(b); // closes b without further votes, so the report holds just these two
        uint64 c = proposeOne();
        voteWith(v, c, true, bytes32(uint256(1)), commitmentOf(v, bytes32(uint256(2))));
    }

    /// @notice Mode C's rows: `registerMaskedUpdate` (5 members, the same 5-member coalition as
    ///         above's `registerUpdate`) and the general's `closeRoster`.
    function test_gas_modeC_roster_n4() public {
        vm.warp(1_000_000);
        ModelLedger c = modeCLedger(4, 5);
        (uint32 number, uint32 attempt, address g,) = c.currentRound();
        for (uint256 i = 0; i < 5; ++i) {
            vm.prank(memberAddr(i));
            c.registerMaskedUpdate(1, number, attempt, freshHash(), bytes32(0), 64, MIN_BATCH);
        }
        vm.prank(g);
        c.closeRoster();
    }
}
