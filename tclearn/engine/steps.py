"""The protocol's steps, one function per role: the only code that acts on a coalition's ledger.

- a member trains, stores and registers (`submit_update`);
- anyone keeps the rounds moving: expires a stalled candidate, replaces a silent general
  (`keep_moving`);
- the drawn general screens the updates and proposes (`propose_if_drawn`);
- a validator checks the open candidate and votes (`vote_if_open`).

A validator's daemon runs `validator_pass` every few seconds; the simulation runs it for every
simulated validator in turn (`tclearn.engine.schedule`). Each step reads the chain, acts at
most once, and reports what it did as an `Outcome`. The ledger refusing a step's transaction
(a window that closed meanwhile, a race lost to another node, a vote that came late) is an
outcome too, not a failure: the ledger is the arbiter, and the next pass acts on what it says
now — a redraw or an expiry moves the round on. A chain or store that cannot be reached raises
`ChainError` / `StoreError`, which the daemons retry with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from tclearn.chain.ledger import BlockState, Ledger
from tclearn.engine.phases import NO_PHASES, Phases
from tclearn.errors import TransactionReverted
from tclearn.fba.context import CoalitionContext
from tclearn.fba.propose import Candidate, Screened, build_candidate, propose
from tclearn.fba.viability import Check
from tclearn.fba.vote import Voter
from tclearn.model.family import State
from tclearn.model.weights import sha256
from tclearn.privacy.vault import update_context
from tclearn.store.cid import cid_digest


@dataclass(frozen=True)
class Outcome:
    """What one step did: `submitted`, `expired`, `redrawn`, `history-granted` (`detail`: the
    accounts), `gathering` (the general waits
    for more updates until chain time `detail`), `proposed`, `no-candidate` (its
    `detail` is `unchanged` when the general had already found nothing on the same chain),
    `voted`, `refused` (the ledger refused its transaction; `detail` says why), or, in mode C,
    `requested` (a decryption asked of the supervisor) and `waiting` (for its answer)."""

    action: str
    block: int | None = None
    detail: str = ""
    candidate: Candidate | None = None
    excluded: dict[int, str] = field(default_factory=dict)
    check: Check | None = None


class Pending(Exception):
    """A step that waits on another node: in mode C, on the supervisor's answer. `acted`: the
    step sent a transaction (a request) before it started waiting."""

    def __init__(self, detail: str, acted: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.acted = detail, acted


@dataclass(frozen=True)
class Submission:
    update_id: int
    parent: int
    cid: str
    weights_hash: bytes
    samples: int


# ---------------------------------------------------------------------------- member


def submit_update(
    ctx: CoalitionContext,
    member: LocalAccount,
    parent_id: int,
    train: Callable[[State], State],
    samples: int,
    batch_size: int,
    phases: Phases = NO_PHASES,
) -> Submission:
    """Trains from block `parent_id`'s model (`train`: the member's own recipe on its own data),
    stores the result (sealed, in mode B) and registers its SHA-256 and CID on chain as this
    member's step."""
    with phases("storage"):
        _, parent = ctx.block_weights(parent_id)
    with phases("training"):
        state = train(parent)
    with phases("storage"):
        context = update_context(ctx.ledger, parent_id, member.address)
        data = ctx.stored_form(ctx.family.dump(state), context)
        cid = ctx.store.put(data)
    with phases("registration"):
        digest = sha256(data)
        update_id = ctx.ledger.register_update(member, parent_id, digest, cid_digest(cid), samples, batch_size)
    return Submission(update_id, parent_id, cid, digest, samples)


# ---------------------------------------------------------------------------- anyone


def keep_moving(ledger: Ledger, caller: LocalAccount) -> Outcome | None:
    """Expires the open candidate or redraws the general if a deadline has passed."""
    now = ledger.chain.now()
    open_block = ledger.cursor().open
    try:
        if open_block:
            if now > ledger.block(open_block).deadline:
                ledger.expire(caller, open_block)
                return Outcome("expired", open_block)
            return None
        if now > ledger.current_round().deadline:
            ledger.redraw(caller)
            return Outcome("redrawn")
    except TransactionReverted as exc:  # another node moved it first
        return Outcome("refused", open_block or None, str(exc))
    return None


# ---------------------------------------------------------------------------- general


@dataclass
class General:
    """A validator's duty as general: its account and the last screening that found nothing,
    so that it screens again only once something changed on chain."""

    account: LocalAccount
    gather_s: int = 0  # the coalition's gathering window (`CoalitionRules.gather_s`)
    nothing_for: tuple[int, int, int] | None = None
    last_excluded: dict[int, str] = field(default_factory=dict)
    # How it builds a candidate: by default it screens the updates itself (`build_candidate`);
    # in mode C it cannot see them and asks the supervisor (`tclearn.he.general`).
    builder: Callable[[CoalitionContext, Voter], Screened] | None = None
    # When its gathering window opened (None: no update yet); by default the first update on
    # the head, in mode C the first of the round's attempt (`tclearn.he.general`).
    gathering_since: Callable[[Ledger], int | None] | None = None


def propose_if_drawn(
    ctx: CoalitionContext, general: General, voter: Voter, phases: Phases = NO_PHASES
) -> Outcome | None:
    """Proposes the round's candidate if this validator is the drawn general and no candidate
    is open; `no-candidate` when no update is fit to propose."""
    ledger = ctx.ledger
    with phases("draw"):
        cursor, current = ledger.cursor(), ledger.current_round()
    if cursor.open or current.general != general.account.address:
        return None
    now = ledger.chain.now()
    if now > current.deadline:
        return None  # too late: the round is about to be redrawn
    since = general.gathering_since(ledger) if general.gathering_since else ledger.first_update_time(cursor.head)
    if general.gather_s and since is not None:
        until = since + general.gather_s
        if now < until:
            return Outcome("gathering", detail=str(until))
    seen = (cursor.head, cursor.update_count, current.number)
    if general.nothing_for == seen:  # nothing changed since it last found nothing
        return Outcome("no-candidate", detail="unchanged", excluded=general.last_excluded)
    with phases("candidate"):
        try:
            screened = (
                general.builder(ctx, voter)
                if general.builder
                else build_candidate(ctx, voter.evaluator, voter.strategy)  # type: ignore[arg-type]
            )
        except Pending as pending:
            return Outcome("requested" if pending.acted else "waiting", detail=pending.detail)
    if screened.candidate is None:
        general.nothing_for, general.last_excluded = seen, screened.excluded
        return Outcome("no-candidate", excluded=screened.excluded)
    try:
        with phases("proposal"):
            block = propose(ctx, general.account, screened.candidate)
    except TransactionReverted as exc:
        return Outcome("refused", detail=str(exc), candidate=screened.candidate, excluded=screened.excluded)
    return Outcome("proposed", block, candidate=screened.candidate, excluded=screened.excluded)


def grant_history_if_drawn(ctx: CoalitionContext, general: General) -> Outcome | None:
    """Mode B, with `joiners_read_history`: the drawn general wraps the earlier models' keys
    for the participants that joined since (`tclearn.privacy.history`)."""
    vault = ctx.vault
    if vault is None or not vault.share_history or ctx.ledger.current_round().general != general.account.address:
        return None
    try:
        granted = vault.grant_history(general.account)
    except TransactionReverted as exc:
        return Outcome("refused", detail=str(exc))
    return Outcome("history-granted", detail=",".join(granted)) if granted else None


# ---------------------------------------------------------------------------- validator


def vote_if_open(voter: Voter, phases: Phases = NO_PHASES) -> Outcome | None:
    """Checks the open candidate and casts this validator's vote on it, once."""
    with phases("polling"):
        block = voter.pending_block()
    if not block:
        return None
    with phases("validation"):
        try:
            check = voter.check(block)
        except Pending as pending:
            return Outcome("requested" if pending.acted else "waiting", block, pending.detail)
    started = time.perf_counter()
    try:
        voter.cast(block, check)
    except TransactionReverted as exc:  # the block or its window closed before the vote landed
        voter.missed(block)
        return Outcome("refused", block, str(exc), check=check)
    final = voter.ctx.ledger.block(block).state is BlockState.FINAL
    phases.add("finality" if final else "votes", time.perf_counter() - started)
    return Outcome("voted", block, check=check)


@dataclass
class ValidatorRole:
    """One validator as its daemon runs it: its voter (account, test sets, strategy, persisted
    progress) and, unless it was told never to propose, its duty as general."""

    voter: Voter
    general: General | None
    votes: bool = True

    @property
    def ctx(self) -> CoalitionContext:
        return self.voter.ctx

    @property
    def address(self) -> str:
        return self.voter.account.address

    kind = "validator"  # its daemon's log: tclearn.validator

    def pass_(self) -> Outcome | None:
        """One pass (`validator_pass`): what a daemon runs every few seconds."""
        return validator_pass(self)

    def recover(self) -> None:
        """After an error: the recorded progress reconciled with the chain before acting again."""
        self.voter.reconcile()


def validator_pass(role: ValidatorRole, phases: Phases = NO_PHASES) -> Outcome | None:
    """One pass of a validator: the first of keep the round moving, propose if drawn, vote,
    that has something to do. A pass acts at most once, so every node sees the chain as the
    last transaction left it."""
    with phases("polling"):
        role.ctx.ledger.follow()
        outcome = keep_moving(role.ctx.ledger, role.voter.account)
    if outcome is None and role.general is not None:
        outcome = grant_history_if_drawn(role.ctx, role.general)
    if outcome is None and role.general is not None:
        outcome = propose_if_drawn(role.ctx, role.general, role.voter, phases)
    if outcome is None and role.votes:
        outcome = vote_if_open(role.voter, phases)
    return outcome
