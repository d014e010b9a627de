// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
import {ModelLedger} from "../ModelLedger.sol";
import {Coalition} from "../Coalition.sol";
contract SmokeTest {
    function test_deploys() public {
        address[] memory v = new address[](1);
        v[0] = address(this);
        address[] memory none = new address[](0);
        ModelLedger l = new ModelLedger(ModelLedger.Params(Coalition.Mode.A, 8, 60, 60, 60), ModelLedger.Genesis(bytes32(uint256(1)), 0, 0), none, v, none, none);
        require(l.validatorCount() == 1, "count");
    }
}
