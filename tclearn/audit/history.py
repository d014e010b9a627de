"""Everything the ledger's events say, read at once, and the ledger's history replayed from them.

An auditor trusts no node, so it re-derives from the events alone what the contract computed:
the validator seats at every moment, the draw's seed, each round's general, each block's votes
and outcome. It reads them in bulk: one `eth_getLogs` over the ledger's address for the whole
range of chain blocks, never one call per block, and the timestamps of the chain blocks that
hold them in batches of JSON-RPC requests (`Ledger.block_times`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from eth_utils import to_checksum_address

from tclearn.chain.ledger import (
    ROLES,
    BlockRecord,
    Ledger,
    LedgerParams,
    UpdateRecord,
    genesis_record,
    proposal_record,
    registration_record,
    role_id,
)
from tclearn.fba.metrics import VoteMetrics

ZERO = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Event:
    """One decoded log of the ledger, where the chain put it."""

    name: str
    args: dict[str, Any]
    chain_block: int
    index: int  # the log's index in its chain block: events of one block keep their order
    tx: str


@dataclass(frozen=True)
class Vote:
    validator: str
    accept: bool
    metrics: VoteMetrics | None  # None: a metrics word this version cannot read
    reveal: bytes
    next_commit: bytes
    tx: str
    chain_block: int
    time: int


@dataclass(frozen=True)
class Block(BlockRecord):
    """A block as its events tell it: its proposal (the genesis event for block 1), its votes,
    and how it closed."""

    electorate: int = 0
    deadline: int = 0
    tx: str = ""
    chain_block: int = 0
    time: int = 0
    state: str = "pending"  # genesis, final, rejected, expired or pending
    closed: Event | None = None
    votes: tuple[Vote, ...] = ()

    @property
    def accepts(self) -> int:
        return sum(v.accept for v in self.votes)

    @property
    def rejects(self) -> int:
        return sum(not v.accept for v in self.votes)


@dataclass(frozen=True)
class Update(UpdateRecord):
    """A registered update, where the chain put it."""

    tx: str = ""
    chain_block: int = 0


@dataclass(frozen=True)
class Draw:
    """A round's general, drawn (`RoundOpened`)."""

    round: int
    attempt: int
    general: str
    index: int
    seed: bytes
    deadline: int
    validators: int  # how many sat when it was drawn, as the seat events replay them
    tx: str
    chain_block: int


CLOSES = {"BlockFinalized": "final", "BlockRejected": "rejected", "BlockExpired": "expired"}
# The events whose time an auditor reads (a block's, a vote's, a close's): only their chain
# blocks' timestamps are asked for, half the chain blocks of a history.
TIMED = frozenset({"GenesisBlock", "BlockProposed", "VoteCast", *CLOSES})


@dataclass
class History:
    """The ledger's events in chain order, with the chain blocks' timestamps."""

    chain_id: int
    ledger: str
    params: LedgerParams
    events: list[Event]
    times: dict[int, int]

    @classmethod
    def read(cls, ledger: Ledger) -> History:
        events = [
            Event(
                str(log["event"]),
                dict(log["args"]),
                int(log["blockNumber"]),
                int(log["logIndex"]),
                "0x" + bytes(log["transactionHash"]).hex(),
            )
            for log in ledger.all_events()
        ]
        times = ledger.block_times(sorted({e.chain_block for e in events if e.name in TIMED}))
        return cls(ledger.chain.chain_id, ledger.address, ledger.params(), events, times)

    def of(self, *names: str) -> Iterator[Event]:
        return (e for e in self.events if e.name in names)

    def time(self, event: Event) -> int:
        return self.times.get(event.chain_block, 0)

    # ------------------------------------------------------------------ what the events build

    def blocks(self) -> dict[int, Block]:
        """Every block by id, with its votes and outcome."""
        proposals: dict[int, Event] = {}
        votes: dict[int, list[Vote]] = {}
        closes: dict[int, Event] = {}
        for e in self.events:
            if e.name in ("GenesisBlock", "BlockProposed"):
                proposals[e.args["id"]] = e
            elif e.name == "VoteCast":
                votes.setdefault(e.args["id"], []).append(self._vote(e))
            elif e.name in CLOSES:
                closes[e.args["id"]] = e
        blocks = {}
        for block_id, e in proposals.items():
            genesis = e.name == "GenesisBlock"
            record = genesis_record(e.args) if genesis else proposal_record(e.args)
            closed = closes.get(block_id)
            blocks[block_id] = Block(
                **{f.name: getattr(record, f.name) for f in fields(BlockRecord)},
                electorate=0 if genesis else e.args["electorate"],
                deadline=0 if genesis else e.args["deadline"],
                tx=e.tx,
                chain_block=e.chain_block,
                time=self.time(e),
                state="genesis" if genesis else CLOSES[closed.name] if closed else "pending",
                closed=closed,
                votes=tuple(votes.get(block_id, ())),
            )
        return blocks

    def _vote(self, e: Event) -> Vote:
        a = e.args
        return Vote(
            validator=a["validator"],
            accept=a["accept"],
            metrics=_metrics(a["metrics"]),
            reveal=bytes(a["reveal"]),
            next_commit=bytes(a["nextCommit"]),
            tx=e.tx,
            chain_block=e.chain_block,
            time=self.time(e),
        )

    def updates(self) -> dict[int, Update]:
        found = {}
        for e in self.of("UpdateRegistered"):
            record = registration_record(e.args)
            fields_of = {f.name: getattr(record, f.name) for f in fields(UpdateRecord)}
            found[record.id] = Update(**fields_of, tx=e.tx, chain_block=e.chain_block)
        return found

    def seats(self) -> Iterator[tuple[Event, list[str]]]:
        """Every event with the validator seats as they stood once it was emitted (seat i at
        index i - 1), replayed from `ValidatorSeated` and `ValidatorUnseated`: the leaver's seat
        goes to the last seat's holder. The list is the replay's own: read it, do not keep it."""
        seated: list[str] = []
        for e in self.events:
            if e.name == "ValidatorSeated":
                seated.append(e.args["validator"])
            elif e.name == "ValidatorUnseated" and seated:
                seat, moved = e.args["seat"], e.args["moved"]
                if moved != ZERO and 0 < seat <= len(seated):
                    seated[seat - 1] = moved
                seated.pop()
            yield e, seated

    def draws(self) -> list[Draw]:
        return [
            Draw(
                round=e.args["round"],
                attempt=e.args["attempt"],
                general=e.args["general"],
                index=e.args["index"],
                seed=bytes(e.args["seed"]),
                deadline=e.args["deadline"],
                validators=len(seated),
                tx=e.tx,
                chain_block=e.chain_block,
            )
            for e, seated in self.seats()
            if e.name == "RoundOpened"
        ]

    def roles(self) -> Iterator[tuple[Event, dict[str, set[str]]]]:
        """Every event with the accounts holding each role once it was emitted. The sets are
        the replay's own: read them, do not keep them."""
        names = {role_id(name): name for name in ROLES}
        held: dict[str, set[str]] = {name: set() for name in ROLES}
        for e in self.events:
            if e.name in ("RoleGranted", "RoleRevoked") and bytes(e.args["role"]) in names:
                accounts = held[names[bytes(e.args["role"])]]
                account = to_checksum_address(e.args["account"])
                if e.name == "RoleGranted":
                    accounts.add(account)
                else:
                    accounts.discard(account)
            yield e, held


def _metrics(word: bytes) -> VoteMetrics | None:
    try:
        return VoteMetrics.decode(bytes(word))
    except (ValueError, IndexError):
        return None
