"""The general's step: build the round's candidate from the registered updates and propose it.

The general screens every update trained on the head with the checks validators apply: the
integrity of each and its member's record (`check_update`), then the coalition's strategy
chooses what goes in (`tclearn.fba.strategy`: the oldest viable update in sequential learning,
the screened aggregate in federated averaging) and combines it. It proposes again a set of
updates the coalition already refused on this parent only at a shorter step, or else drops the
newest of them, so one bad update cannot stall the coalition.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from tclearn.fba.context import CoalitionContext
from tclearn.fba.contribution import Judgements
from tclearn.fba.integrity import read_round
from tclearn.fba.records import check_update
from tclearn.fba.screening import Screening
from tclearn.fba.strategy import Strategy
from tclearn.fba.update import Update, ids
from tclearn.fba.viability import Evaluator
from tclearn.model.weights import sha256
from tclearn.privacy.vault import model_context
from tclearn.store.cid import cid_digest


@dataclass(frozen=True)
class Candidate:
    parent: int
    update_ids: list[int]
    model_hash: bytes
    cid: str
    metadata_digest: bytes
    excluded: dict[int, str]


@dataclass(frozen=True)
class Screened:
    """What the general made of the updates on the head: a candidate, or none, and why each
    update it left out was left out."""

    parent: int
    candidate: Candidate | None
    excluded: dict[int, str]


def build_candidate(ctx: CoalitionContext, evaluator: Evaluator, strategy: Strategy) -> Screened:
    """The candidate for the current head (None if no update is fit to propose)."""
    head = ctx.ledger.cursor().head
    records = ctx.ledger.updates_on(head)
    if not records:
        return Screened(head, None, {})
    parent = read_round(ctx, head, records)
    passing: list[Update] = []
    excluded: dict[int, str] = {}
    for record in records:
        why, state = check_update(ctx, record, parent)
        if state is not None and (why is None or not strategy.screens):
            passing.append(Update(record, state))
        else:
            excluded[record.id] = why or "integrity"
    judgements = Judgements.of(evaluator, ctx.family, strategy, parent.state, peers=passing)
    screening = Screening(ctx, judgements, head)
    # In id order, as the chain lists them and validators recombine them (a sum's rounding
    # depends on its order).
    chosen = sorted(strategy.select(screening, passing, excluded), key=lambda u: u.id)
    if chosen and (step := screening.retry_step(chosen)) is not None:
        screening.step = step  # a set the coalition refused is tried again at a shorter step
    elif chosen:
        dropped = chosen.pop()  # the newest: the coalition already refused exactly this set
        excluded[dropped.id] = "in-rejected-candidate"
        screening.step = (screening.viable_step(chosen) or 1.0) if chosen else 1.0
    if not chosen:
        return Screened(head, None, excluded)
    update_ids = list(ids(chosen))
    current = ctx.ledger.current_round()  # a redraw before the proposal lands makes it revert
    context = model_context(ctx.ledger, head, current.number, current.general)
    data = ctx.stored_form(ctx.family.dump(judgements.aggregate(chosen, screening.step)), context)
    cid = ctx.store.put(data)
    metadata = ctx.put_json(strategy.metadata(update_ids, excluded, screening.step))
    return Screened(head, Candidate(head, update_ids, sha256(data), cid, metadata, excluded), excluded)


def propose(ctx: CoalitionContext, general: LocalAccount, candidate: Candidate) -> int:
    """Puts the candidate on chain; returns its block id."""
    round_number = ctx.ledger.current_round().number
    return ctx.ledger.propose(
        general,
        candidate.parent,
        candidate.model_hash,
        cid_digest(candidate.cid),
        candidate.update_ids,
        round_number,
        candidate.metadata_digest,
    )
