"""One family of exceptions, so the CLI can print one readable line for any expected failure."""

from __future__ import annotations


class TCLearnError(Exception):
    """Base of every error TCLearn expects and reports without a traceback, in one line."""

    def __str__(self) -> str:
        # A message may quote what a user wrote (a config key, a file name): its line breaks
        # are shown escaped, so the report stays one line.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(TCLearnError):
    """The coalition directory or its config file is missing, malformed or inconsistent."""


class KeystoreError(TCLearnError):
    """An account's keystore file is missing, unreadable or its password is wrong."""


class ChainError(TCLearnError):
    """The chain cannot be reached, or answered something the ledger cannot use."""


class JournalError(ChainError):
    """An entry of the in-process chain's journal does not replay: the file was edited (a
    transaction altered, forged or moved in time) or damaged. `entry` is its line number, `raw`
    its transaction if it holds one."""

    def __init__(self, message: str, entry: int, raw: bytes | None):
        super().__init__(message)
        self.entry, self.raw = entry, raw


class DevnetError(ChainError):
    """The project-managed anvil devnet could not be started, stopped or found."""


class TransactionReverted(ChainError):
    """The ledger refused a transaction; `name` and `args` are its custom error, decoded.

    The in-process EVM and anvil report a revert with different exception types; both are
    turned into this one, so callers and tests match on the contract's own error names.
    """

    def __init__(self, name: str, args: dict[str, object] | None = None, raw: bytes = b""):
        self.name = name
        self.error_args = dict(args or {})
        self.raw = raw
        detail = ", ".join(f"{k}={_show(v)}" for k, v in self.error_args.items())
        super().__init__(f"transaction reverted: {name}({detail})")


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class NotReady(TCLearnError):
    """A step that must wait on another node (mode C: the supervisor has not issued a copy yet);
    the same command succeeds once it has."""
