// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice Minimal assertions: a failed one reverts with a readable message, which fails the test.
abstract contract Assert {
    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert(message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) revert(message);
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) revert(string.concat(message, ": ", _u(a), " != ", _u(b)));
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) revert(string.concat(message, ": ", _a(a), " != ", _a(b)));
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) revert(string.concat(message, ": ", _h(a), " != ", _h(b)));
    }

    function assertEq(bool a, bool b, string memory message) internal pure {
        if (a != b) revert(string.concat(message, a ? ": true != false" : ": false != true"));
    }

    function assertEq(address[] memory a, address[] memory b, string memory message) internal pure {
        if (a.length != b.length) revert(string.concat(message, ": length ", _u(a.length), " != ", _u(b.length)));
        for (uint256 i = 0; i < a.length; ++i) {
            if (a[i] != b[i]) revert(string.concat(message, ": at ", _u(i), " ", _a(a[i]), " != ", _a(b[i])));
        }
    }

    function assertNotEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a == b) revert(string.concat(message, ": both ", _u(a)));
    }

    function assertNotEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a == b) revert(string.concat(message, ": both ", _h(a)));
    }

    function assertNotEq(address a, address b, string memory message) internal pure {
        if (a == b) revert(string.concat(message, ": both ", _a(a)));
    }

    function assertLt(uint256 a, uint256 b, string memory message) internal pure {
        if (a >= b) revert(string.concat(message, ": ", _u(a), " >= ", _u(b)));
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) revert(string.concat(message, ": ", _u(a), " > ", _u(b)));
    }

    function assertGe(uint256 a, uint256 b, string memory message) internal pure {
        if (a < b) revert(string.concat(message, ": ", _u(a), " < ", _u(b)));
    }

    // ---------------------------------------------------------------- formatting

    function _u(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 t = v; t != 0; t /= 10) ++len;
        bytes memory out = new bytes(len);
        for (; v != 0; v /= 10) out[--len] = bytes1(uint8(48 + (v % 10)));
        return string(out);
    }

    function _hex(bytes memory raw) private pure returns (string memory) {
        bytes16 digits = "0123456789abcdef";
        bytes memory out = new bytes(2 + raw.length * 2);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i = 0; i < raw.length; ++i) {
            out[2 + 2 * i] = digits[uint8(raw[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(raw[i]) & 0x0f];
        }
        return string(out);
    }

    function _a(address v) internal pure returns (string memory) {
        return _hex(abi.encodePacked(v));
    }

    function _h(bytes32 v) internal pure returns (string memory) {
        return _hex(abi.encodePacked(v));
    }
}
