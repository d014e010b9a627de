"""Turn a revert, however the backend reports it, into `TransactionReverted(name, args)`.

eth-tester raises its own `TransactionFailed` (the raw revert bytes ride on the exception it
was raised from); a JSON-RPC node makes web3 raise `ContractCustomError` / `ContractLogicError`
with the revert data as hex. Both carry the same bytes: selector + ABI-encoded arguments.
"""

from __future__ import annotations

import ast
from typing import Any

from eth_abi import decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractLogicError

from tclearn.errors import TransactionReverted

_BUILTIN = {
    bytes.fromhex("08c379a0"): ("Error", ["string"], ["reason"]),
    bytes.fromhex("4e487b71"): ("Panic", ["uint256"], ["code"]),
}


class ErrorDecoder:
    """Knows a contract's custom errors by selector."""

    def __init__(self, abi: list[dict[str, Any]]):
        self._errors = dict(_BUILTIN)
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_abi_type(arg) for arg in item["inputs"]]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            self._errors[selector] = (item["name"], types, [arg["name"] for arg in item["inputs"]])

    def decode(self, data: bytes) -> TransactionReverted:
        """The named error behind revert `data`."""
        known = self._errors.get(data[:4])
        if known is None:
            return TransactionReverted("UnknownRevert", {"data": data}, raw=data)
        name, types, names = known
        values = decode(types, data[4:])
        return TransactionReverted(name, dict(zip(names, values, strict=True)), raw=data)

    def from_exception(self, exc: BaseException) -> TransactionReverted | None:
        """The revert inside `exc`, or None if `exc` is not a revert."""
        data = revert_data(exc)
        if data is not None:
            return self.decode(data)
        if isinstance(exc, (ContractLogicError, TransactionFailed)):
            return TransactionReverted("UnknownRevert", {"message": str(exc)})
        return None


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by `exc` or by the exception it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        data = getattr(seen, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if isinstance(seen, TransactionFailed) and seen.args:
            first = seen.args[0]
            if isinstance(first, Exception) and first.args:
                first = first.args[0]
            if isinstance(first, bytes):
                return first
            if isinstance(first, str):  # eth_call gives the bytes as their repr, in a message
                data = _bytes_literal(first)
                if data is not None:
                    return data
        seen = seen.__cause__ or seen.__context__
    return None


def _bytes_literal(message: str) -> bytes | None:
    """The `b'...'` literal a message ends with, as bytes (never evaluated as code beyond it)."""
    start = message.find("b'")
    if start < 0 or not message.endswith("'"):
        return None
    try:
        value = ast.literal_eval(message[start:])
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None


def _abi_type(arg: dict[str, Any]) -> str:
    if arg["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in arg["components"])
        return f"({inner}){arg['type'][5:]}"
    return arg["type"]
