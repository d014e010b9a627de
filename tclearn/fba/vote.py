"""The validator's step: check the open candidate and cast a signed vote, exactly once.

A validator's progress lives in a small state file written before every transaction, so a
validator killed at any point and restarted neither votes twice (the ledger refuses it anyway;
the state knows it first) nor loses the draw secret it committed. Each vote reveals the secret
committed at the previous vote and commits a fresh one (the general draw); the secret is not a
key, but it is kept out of logs and off chain until revealed.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from tclearn.fba.context import CoalitionContext
from tclearn.fba.draw import commitment
from tclearn.fba.strategy import Strategy
from tclearn.fba.validate import check_candidate
from tclearn.fba.viability import Check, Evaluator
from tclearn.fileio import write_atomic

ZERO = b"\x00" * 32


@dataclass
class VoterState:
    """What a validator must remember across restarts."""

    committed_secret: str | None = None  # hex; its commitment is on chain
    pending_secret: str | None = None  # hex; committed by the vote in flight, if that vote landed
    voted: dict[str, bool] = field(default_factory=dict)  # block id -> accept
    in_flight: int | None = None  # block id of a vote sent but not yet confirmed
    missed: list[int] = field(default_factory=list)  # blocks whose vote the ledger refused (closed)

    @classmethod
    def load(cls, path: Path | None) -> VoterState:
        if path is None or not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        write_atomic(path, json.dumps(asdict(self)), mode=0o600, durable=True)


class Voter:
    """One validator: its account, its test sets, its persisted progress."""

    def __init__(
        self,
        ctx: CoalitionContext,
        account: LocalAccount,
        evaluator: Evaluator,
        strategy: Strategy,
        state_path: Path | None = None,
        secret_source: random.Random | None = None,
    ):
        self.ctx = ctx
        self.account = account
        self.evaluator = evaluator
        self.strategy = strategy
        self.state_path = state_path
        # Draw secrets come from the OS; a simulation passes a seeded source to be reproducible.
        self._secret_source = secret_source
        self.state = VoterState.load(state_path)
        self._reconcile()

    def pending_block(self) -> int | None:
        """The open candidate this validator has still to vote on, if any."""
        ledger = self.ctx.ledger
        block = ledger.cursor().open
        if not block or str(block) in self.state.voted or block in self.state.missed:
            return None
        if ledger.has_voted(block, self.account.address):
            self._reconcile()
            return None
        return block

    def check(self, block_id: int) -> Check:
        if not self.strategy.screens:  # the no-FBA baseline: every candidate accepted unchecked
            return self.evaluator.unchecked()
        return check_candidate(self.ctx, self.evaluator, self.strategy, block_id)

    def vote(self, block_id: int) -> Check:
        """Checks candidate `block_id` and casts this validator's vote on it."""
        verdict = self.check(block_id)
        self.cast(block_id, verdict)
        return verdict

    def cast(self, block_id: int, verdict: Check) -> None:
        if self.state.pending_secret is None:
            source = self._secret_source
            self.state.pending_secret = source.randbytes(32).hex() if source else secrets.token_hex(32)
        self.state.in_flight = block_id
        self.state.save(self.state_path)  # before sending: a crash here loses nothing
        reveal = bytes.fromhex(self.state.committed_secret) if self.state.committed_secret else ZERO
        next_commit = commitment(self.account.address, bytes.fromhex(self.state.pending_secret))
        self.ctx.ledger.vote(self.account, block_id, verdict.accept, verdict.metrics.encode(), reveal, next_commit)
        self._landed(block_id, verdict.accept)

    def missed(self, block_id: int) -> None:
        """The ledger refused this vote (the block closed, or its voting window did, before it
        landed): nothing reached the chain, so the committed secret stays committed; the block
        is not checked again."""
        self.state.missed = [*self.state.missed[-99:], block_id]
        self.state.in_flight = None
        self.state.save(self.state_path)

    def _landed(self, block_id: int, accept: bool) -> None:
        if self.state.pending_secret is not None:
            self.state.committed_secret, self.state.pending_secret = self.state.pending_secret, None
        self.state.voted[str(block_id)] = accept
        self.state.in_flight = None
        self.state.save(self.state_path)

    def _reconcile(self) -> None:
        """After a crash between sending a vote and recording it: learn from the chain whether it landed."""
        block = self.state.in_flight
        if block is None:
            return
        mine = [v for v in self.ctx.ledger.votes(block) if v["validator"] == self.account.address]
        if mine:
            self._landed(block, bool(mine[0]["accept"]))
        else:
            self.state.in_flight = None
            self.state.save(self.state_path)
