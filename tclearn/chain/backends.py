"""Chain backends behind one interface, chosen by a URL.

- ``inprocess`` (the default): an EVM inside this process (eth-tester over py-evm), no server.
  Its state survives the process as a journal of the signed transactions it mined, each with
  its block timestamp; reopening replays the journal into a fresh EVM, which yields the same
  state (the ledger uses no block hash or prevrandao). One process holds it at a time (a file
  lock); coalitions spread over processes or machines use an RPC URL.
- ``http://…`` / ``https://…``: any EVM JSON-RPC node (anvil, Hardhat, a geth/Besu consortium).

Node code never builds raw RPC calls; the few dev-only calls (funding an account, moving the
clock on a devnet) live here.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import weakref
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, TextIO

import requests
from eth._utils import headers as eth_headers
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, TxReceipt

from tclearn.errors import ChainError, JournalError
from tclearn.transport import failure, session_for

RECEIPT_TIMEOUT_S = 120
# A receipt is asked for at once, then after 2 ms, doubling up to a quarter second: a devnet
# mines within milliseconds, a consortium chain within its block time. (web3's own wait sleeps
# a fixed 0.1 s after a miss, which made a vote on anvil cost 100 ms whenever the node had not
# finished mining by the first ask — most votes once the chain had grown.)
RECEIPT_POLL_S = (0.002, 0.25)
DEV_CLIENTS = ("anvil", "hardhat", "ganache")
_WALL_CLOCK = eth_headers.eth_now


class Chain(ABC):
    """A connection to an EVM chain: `w3` for reads, `send_raw` for signed transactions."""

    url: str
    w3: Web3

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    @property
    @abstractmethod
    def is_dev(self) -> bool:
        """True where accounts can be funded and the clock moved (test chains only)."""

    @abstractmethod
    def send_raw(self, raw_transaction: bytes) -> TxReceipt:
        """Submits a signed transaction and waits for its receipt."""

    @abstractmethod
    def fund(self, address: str, wei: int) -> None:
        """Gives `address` test ether (dev chains only)."""

    @abstractmethod
    def advance_time(self, seconds: int) -> None:
        """Moves the chain clock forward and mines a block (dev chains only)."""

    @abstractmethod
    def hold_clock(self) -> None:
        """From now on the chain's clock moves only by `advance_time` and one second a block,
        never with the wall clock (dev chains only).

        A simulation plays every site of a coalition on one machine, one after another: on the
        wall clock, ten members training in turn would use up a window that ten sites training
        in parallel never would. Holding the clock makes chain time the schedule's.
        """

    @property
    def can_roll_back(self) -> bool:
        """True where blocks already read may be lost: a devnet killed before it saved its
        state, a consortium chain that reorganised. The in-process journal never loses one."""
        return True

    def now(self) -> int:
        """Timestamp of the latest block: the clock the ledger's deadlines are read against."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def close(self) -> None:  # noqa: B027 - an optional hook, most backends hold nothing
        """Releases what the connection holds (a lock, a session)."""


def connect(url: str, base_dir: Path | None = None) -> Chain:
    """Opens the chain named by `url`; relative journal paths are taken from `base_dir`."""
    if url == "inprocess" or url.startswith("inprocess:"):
        target = url.partition(":")[2]
        if target in ("", "memory"):
            return InProcessChain(None if target == "memory" or base_dir is None else base_dir / "chain.journal")
        path = Path(target)
        return InProcessChain(path if path.is_absolute() or base_dir is None else base_dir / path)
    if url.startswith(("http://", "https://")):
        return RpcChain(url)
    raise ChainError(f"unknown chain URL {url!r}: use 'inprocess', 'inprocess:<journal>' or an http(s) RPC URL")


# ---------------------------------------------------------------------------- in-process EVM


class InProcessChain(Chain):
    """eth-tester/py-evm in this process, made durable by a journal of what it mined."""

    FUNDER_INDEX = 0

    def __init__(self, journal: Path | None):
        self.url = f"inprocess:{journal}" if journal else "inprocess:memory"
        self._journal_path = journal
        self._journal: TextIO | None = None
        self._offset = 0
        self._last_ts = 0
        self._held = False
        entries = self._open_journal() if journal else []
        header = entries[0] if entries else {"genesis_timestamp": int(time.time())}
        params = PyEVMBackend.generate_genesis_params({"timestamp": header["genesis_timestamp"]})
        self._tester = EthereumTester(PyEVMBackend(genesis_parameters=params))
        self.w3 = Web3(_caching_identity(EthereumTesterProvider(self._tester)))
        self._last_ts = header["genesis_timestamp"]
        if journal and not entries:
            self._append(header)
        for number, entry in enumerate(entries[1:], start=2):
            try:
                self._replay(entry)
            except Exception as exc:  # whatever py-evm refuses, the journal is not what it mined
                raw = bytes.fromhex(entry["raw"]) if isinstance(entry.get("raw"), str) else None
                raise JournalError(
                    f"{journal}:{number} does not replay ({type(exc).__name__}: {exc}): the journal was "
                    "edited or damaged after it was written",
                    number,
                    raw,
                ) from exc
        self._hold_pending()

    @property
    def is_dev(self) -> bool:
        return True

    @property
    def can_roll_back(self) -> bool:
        return False

    def send_raw(self, raw_transaction: bytes) -> TxReceipt:
        ts = self._stamp()
        tx_hash = self.w3.eth.send_raw_transaction(raw_transaction)
        self._append({"op": "tx", "ts": ts, "offset": self._offset, "raw": raw_transaction.hex()})
        self._hold_pending()
        return self.w3.eth.get_transaction_receipt(tx_hash)

    def fund(self, address: str, wei: int) -> None:
        ts = self._stamp()
        self._send_funds(address, wei)
        self._append({"op": "fund", "ts": ts, "offset": self._offset, "to": address, "wei": wei})
        self._hold_pending()

    def advance_time(self, seconds: int) -> None:
        self._offset += int(seconds)
        ts = self._stamp(at_least=self._last_ts + int(seconds))
        self._tester.mine_blocks(1)
        self._append({"op": "mine", "ts": ts, "offset": self._offset})
        self._hold_pending()

    def hold_clock(self) -> None:
        self._held = True
        self._append({"op": "hold", "ts": self._last_ts, "offset": self._offset})
        self._hold_pending()

    def close(self) -> None:
        if self._held:
            eth_headers.eth_now = _WALL_CLOCK
        if self._journal is not None:
            fcntl.flock(self._journal, fcntl.LOCK_UN)
            self._journal.close()
            self._journal = None

    # -- internals

    def _stamp(self, at_least: int = 0) -> int:
        """Sets the pending block's timestamp: wall clock plus any advance (or, held, only the
        advances), strictly increasing."""
        wall = 0 if self._held else int(time.time()) + self._offset
        ts = max(self._last_ts + 1, at_least, wall)
        self._set_timestamp(ts)
        return ts

    def _hold_pending(self) -> None:
        """On a held clock, the next block is one second after the last, for calls and gas
        estimates too. py-evm builds the block it estimates in with the wall clock
        (`eth._utils.headers.eth_now`), so a window the schedule keeps open would look closed
        to the estimate once this machine had taken longer than the window: the clock py-evm
        reads is pointed at the schedule while this chain holds it (one held chain a process)."""
        if not self._held:
            return
        self._tester.backend.chain.set_header_timestamp(self._last_ts + 1)
        held = weakref.ref(self)

        def schedule_now() -> int:  # the wall clock again once this chain is gone
            chain = held()
            return chain._last_ts + 1 if chain is not None and chain._held else _WALL_CLOCK()

        eth_headers.eth_now = schedule_now

    def _set_timestamp(self, ts: int) -> None:
        self._tester.backend.chain.set_header_timestamp(ts)
        self._last_ts = ts

    def _send_funds(self, address: str, wei: int) -> None:
        funder = self.w3.eth.accounts[self.FUNDER_INDEX]
        tx_hash = self.w3.eth.send_transaction({"from": funder, "to": address, "value": wei})
        self.w3.eth.get_transaction_receipt(tx_hash)

    def _replay(self, entry: dict[str, Any]) -> None:
        self._offset = entry["offset"]
        self._set_timestamp(entry["ts"])
        if entry["op"] == "tx":
            self.w3.eth.send_raw_transaction(bytes.fromhex(entry["raw"]))
        elif entry["op"] == "fund":
            self._send_funds(entry["to"], entry["wei"])
        elif entry["op"] == "mine":
            self._tester.mine_blocks(1)
        elif entry["op"] == "hold":
            self._held = True
        else:
            raise ChainError(f"unknown journal entry {entry['op']!r} in {self._journal_path}")

    def _open_journal(self) -> list[dict[str, Any]]:
        assert self._journal_path is not None
        self._journal_path.parent.mkdir(parents=True, exist_ok=True)
        self._journal = open(self._journal_path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock
        try:
            fcntl.flock(self._journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._journal.close()
            raise ChainError(
                f"the in-process chain {self._journal_path} is open in another process; "
                "run the coalition's nodes in one process, or use a devnet (tclearn devnet up)"
            ) from exc
        self._journal.seek(0)
        entries = []
        for number, line in enumerate(self._journal, start=1):
            if not line.endswith("\n"):
                break  # a write cut short by a crash: that transaction never got its receipt
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ChainError(f"{self._journal_path}:{number} is not a journal entry") from exc
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            return
        self._journal.seek(0, os.SEEK_END)
        self._journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())


def _caching_identity(provider: BaseProvider) -> BaseProvider:
    """Keeps the answers that never change for a connection (chain id, client version): web3
    asks for the chain id before every call and transaction, which doubled the requests."""
    provider.cache_allowed_requests = True
    provider.cacheable_requests = {RPCEndpoint("eth_chainId"), RPCEndpoint("web3_clientVersion")}
    return provider


# ---------------------------------------------------------------------------- JSON-RPC


class _ReportingProvider(HTTPProvider):
    """web3's HTTP provider, whose transport failures are `ChainError`s: a node that restarts
    or a network that drops is an outage every caller handles the same way (nodes back off and
    retry, one-shot commands print one line), wherever in web3 the request was made."""

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        try:
            return super()._make_request(method, request_data)
        except (requests.exceptions.RequestException, OSError) as exc:
            raise ChainError(f"chain unreachable at {self.endpoint_uri}: {failure(exc)}") from exc


class RpcChain(Chain):
    """Any EVM JSON-RPC endpoint: a devnet, or a consortium chain spanning the members' sites."""

    def __init__(self, url: str, timeout_s: float = 30.0):
        self.url = url
        self._held = False
        provider = _ReportingProvider(url, request_kwargs={"timeout": timeout_s}, session=session_for(url))
        self.w3 = Web3(_caching_identity(provider))
        self._client = str(self.w3.client_version).lower()

    @property
    def is_dev(self) -> bool:
        return any(name in self._client for name in DEV_CLIENTS)

    def send_raw(self, raw_transaction: bytes) -> TxReceipt:
        return self._receipt(self.w3.eth.send_raw_transaction(raw_transaction))

    def fund(self, address: str, wei: int) -> None:
        self._require_dev("fund accounts")
        self._receipt(self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0], "to": address, "value": wei}))

    def advance_time(self, seconds: int) -> None:
        self._require_dev("move the clock")
        if self._held:  # a held anvil ignores evm_increaseTime: name the next block's time instead
            self.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [self.now() + int(seconds)])
        else:
            self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(seconds)])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def hold_clock(self) -> None:
        """anvil stamps each block one interval after the last once an interval is set."""
        if "anvil" not in self._client:
            raise ChainError(f"cannot hold the clock of {self.url}: only anvil can ({self._client})")
        self.w3.provider.make_request(RPCEndpoint("anvil_setBlockTimestampInterval"), [1])
        self._held = True

    def close(self) -> None:
        """Gives a held clock back to the wall (the devnet may serve others after this run)."""
        if self._held:
            self.w3.provider.make_request(RPCEndpoint("anvil_removeBlockTimestampInterval"), [])
            # The schedule may have run ahead of the wall clock: go on from where it stopped.
            ahead = self.now() - int(time.time())
            if ahead > 0:
                self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [ahead])
            self._held = False

    def _receipt(self, tx_hash: bytes) -> TxReceipt:
        """The mined transaction's receipt, asked for promptly and then less often (RECEIPT_POLL_S)."""
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        wait, longest = RECEIPT_POLL_S
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)
            except (TransactionNotFound, TransactionIndexingInProgress):
                pass
            if time.monotonic() >= deadline:
                raise ChainError(f"transaction {tx_hash.hex()} not mined after {RECEIPT_TIMEOUT_S} s at {self.url}")
            time.sleep(wait)
            wait = min(2 * wait, longest)

    def _require_dev(self, what: str) -> None:
        if not self.is_dev:
            raise ChainError(f"cannot {what} on {self.url}: not a development chain ({self._client})")
