"""The validator's step: check the open candidate and cast a signed vote, exactly once.

A validator's progress lives in a small state file written before every transaction, so a
validator killed at any point and restarted neither votes twice (the ledger refuses it anyway;
the state knows it first) nor loses the draw secret it committed. Each vote reveals the secret
committed at the previous vote and commits a fresh one (the general draw); the secret is not a
key, but it is kept out of logs and off chain until revealed.

The chain is the truth the state follows (`reconcile`, on start, after an error, and whenever
the chain lost blocks): a vote the chain no longer holds is forgotten, so a re-created block is
voted on, and the secret to reveal is the one whose commitment the chain holds now, found
among the last few this validator drew. When none matches, the vote reveals nothing (the
ledger accepts a withheld reveal): a validator never loses its vote to a lost secret.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from tclearn.errors import ConfigError, TransactionReverted
from tclearn.fba.context import CoalitionContext
from tclearn.fba.draw import commitment
from tclearn.fba.strategy import Strategy
from tclearn.fba.validate import check_candidate
from tclearn.fba.viability import Check, Evaluator
from tclearn.fileio import write_atomic

ZERO = b"\x00" * 32
KEPT_SECRETS = 8  # secrets already revealed, in case the chain rolls back past their reveal
KEPT_VOTES = 100


@dataclass
class VoterState:
    """What a validator must remember across restarts."""

    committed_secret: str | None = None  # hex; its commitment is on chain
    pending_secret: str | None = None  # hex; committed by the vote in flight, if that vote landed
    voted: dict[str, bool] = field(default_factory=dict)  # block id -> accept
    in_flight: int | None = None  # block id of a vote sent but not yet confirmed
    missed: list[int] = field(default_factory=list)  # blocks whose vote the ledger refused (closed)
    earlier_secrets: list[str] = field(default_factory=list)  # hex; revealed ones, for a chain that rolls back

    @classmethod
    def load(cls, path: Path | None) -> VoterState:
        if path is None or not path.exists():
            return cls()
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            damage = exc.__class__.__name__
            raise ConfigError(f"{path} is damaged ({damage}): restore it, or delete it to vote afresh") from exc

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
        evaluator: Evaluator | None,
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
        self._rollbacks_seen = ctx.ledger.rollbacks
        self.reconcile()

    def pending_block(self) -> int | None:
        """The open candidate this validator has still to vote on, if any."""
        ledger = self.ctx.ledger
        block = ledger.cursor().open
        if ledger.rollbacks != self._rollbacks_seen:
            self.reconcile()
        if not block or block in self.state.missed:
            return None
        # The chain, not the record, says whether this validator voted: a chain that rolled
        # back to the very height last seen lost the vote without looking any different.
        voted_here = ledger.has_voted(block, self.account.address)
        if voted_here != (str(block) in self.state.voted):
            self.reconcile()
        return None if voted_here else block

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
        next_commit = commitment(self.account.address, bytes.fromhex(self.state.pending_secret))
        try:
            self._send(block_id, verdict, next_commit)
        except TransactionReverted as exc:
            if exc.name != "BadReveal":
                raise
            # The chain holds a commitment to none of the secrets kept: withhold the reveal.
            self._forget_committed()
            self._send(block_id, verdict, next_commit)
        self._landed(block_id, verdict.accept)

    def _send(self, block_id: int, verdict: Check, next_commit: bytes) -> None:
        reveal = bytes.fromhex(self.state.committed_secret) if self.state.committed_secret else ZERO
        self.ctx.ledger.vote(self.account, block_id, verdict.accept, verdict.metrics.encode(), reveal, next_commit)

    def missed(self, block_id: int) -> None:
        """The ledger refused this vote (the block closed, or its voting window did, before it
        landed): nothing reached the chain, so the committed secret stays committed; the block
        is not checked again."""
        self.state.missed = [*self.state.missed[-99:], block_id]
        self.state.in_flight = None
        self.state.save(self.state_path)

    def _landed(self, block_id: int, accept: bool) -> None:
        if self.state.pending_secret is not None:
            self._retire_committed()
            self.state.committed_secret, self.state.pending_secret = self.state.pending_secret, None
        self.state.voted[str(block_id)] = accept
        self.state.voted = dict(list(self.state.voted.items())[-KEPT_VOTES:])
        self.state.in_flight = None
        self.state.save(self.state_path)

    def _retire_committed(self) -> None:
        """Keeps the committed secret among the earlier ones, in case the chain rolls back."""
        if self.state.committed_secret is not None:
            self.state.earlier_secrets = [*self.state.earlier_secrets[1 - KEPT_SECRETS :], self.state.committed_secret]
            self.state.committed_secret = None

    def _forget_committed(self) -> None:
        self._retire_committed()
        self.state.save(self.state_path)

    def reconcile(self) -> None:
        """Makes the recorded progress what the chain holds now.

        - a vote sent just before a crash: learnt from the chain whether it landed;
        - votes the chain no longer holds (it rolled back): forgotten, and refusals too, so the
          re-created block is checked and voted on;
        - the secret to reveal next: the one whose commitment the chain holds (or none).
        """
        ledger = self.ctx.ledger
        self._rollbacks_seen = ledger.rollbacks
        block = self.state.in_flight
        if block is not None:
            if ledger.has_voted(block, self.account.address):
                mine = [v for v in ledger.votes(block) if v["validator"] == self.account.address]
                self._landed(block, bool(mine[-1]["accept"]) if mine else True)
            self.state.in_flight = None
        count = ledger.cursor().block_count
        self.state.voted = {
            b: accept
            for b, accept in self.state.voted.items()
            if int(b) <= count and ledger.has_voted(int(b), self.account.address)
        }
        self.state.missed = []
        self._follow_commitment(ledger.vote_commitment(self.account.address))
        self.state.save(self.state_path)

    def _follow_commitment(self, on_chain: bytes | None) -> None:
        """Picks, among the secrets kept, the one committed on chain (none: reveal nothing)."""
        known = [self.state.committed_secret, self.state.pending_secret, *reversed(self.state.earlier_secrets)]
        match = None
        if on_chain is not None:
            match = next(
                (s for s in known if s and commitment(self.account.address, bytes.fromhex(s))[:31] == on_chain[:31]),
                None,
            )
        if match == self.state.committed_secret:
            return
        self._retire_committed()
        self.state.committed_secret = match
        if match is not None and match == self.state.pending_secret:
            self.state.pending_secret = None
