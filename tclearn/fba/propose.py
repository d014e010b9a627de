"""The general's step: build the round's candidate from the registered updates and propose it.

The general screens every update trained on the head with the same check validators apply
(`check_update`), keeps those that pass, and proposes one (sequential learning: the oldest
passing update) or their aggregate (federated averaging, with the coalition's rule). It never
proposes again a set of updates the coalition already rejected on this parent: after a
rejection, the update that scored worst on its own test sets is left out, so one bad update
cannot stall the coalition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from tclearn.fba.context import CoalitionContext
from tclearn.fba.validate import Evaluator, check_update, combine, parent_view
from tclearn.model.weights import sha256
from tclearn.store.cid import cid_digest


@dataclass(frozen=True)
class ProposalPlan:
    """How this coalition combines updates into a candidate."""

    learning: str = "fedavg"  # or "sequential"
    rule: str = "mean"
    params: dict[str, Any] | None = None
    screen: bool = True  # False: the plain federated-learning baseline (no FBA)

    def metadata(self, update_ids: list[int], excluded: dict[int, str]) -> dict[str, Any]:
        return {
            "learning": self.learning,
            "rule": self.rule,
            "params": self.params or {},
            "updates": update_ids,
            "excluded": {str(k): v for k, v in sorted(excluded.items())},
        }


@dataclass(frozen=True)
class Candidate:
    parent: int
    update_ids: list[int]
    model_hash: bytes
    cid: str
    metadata_digest: bytes
    excluded: dict[int, str]


def build_candidate(ctx: CoalitionContext, evaluator: Evaluator, plan: ProposalPlan) -> Candidate | None:
    """The candidate for the current head, or None if no update is fit to propose."""
    ledger = ctx.ledger
    head = ledger.cursor().head
    updates = ledger.updates_on(head)
    if not updates:
        return None
    parent = parent_view(ctx, evaluator, head)
    passing, excluded, scores = [], {}, {}
    for update in updates:
        check, state = check_update(ctx, evaluator, update, parent)
        if plan.screen and not check.accept:
            excluded[update.id] = check.reason
        elif state is not None:
            passing.append((update, state))
            scores[update.id] = check.metrics.global_accuracy
    rejected_sets = _rejected_update_sets(ctx, head)
    if plan.learning == "sequential":
        passing = [p for p in passing if (p[0].id,) not in rejected_sets][:1]
    while passing and tuple(u.id for u, _ in passing) in rejected_sets:
        worst = min(passing, key=lambda p: scores[p[0].id])
        excluded[worst[0].id] = "in-rejected-candidate"
        passing.remove(worst)
    if not passing:
        return None
    ids = [u.id for u, _ in passing]
    metadata = plan.metadata(ids, excluded)
    state = combine(ctx.family, metadata, [s for _, s in passing], [u.samples for u, _ in passing])
    data = ctx.family.dump(state)
    cid = ctx.store.put(data)
    return Candidate(head, ids, sha256(data), cid, ctx.put_json(metadata), excluded)


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


def _rejected_update_sets(ctx: CoalitionContext, parent: int) -> set[tuple[int, ...]]:
    closed = ctx.ledger.closed_blocks("Rejected") + ctx.ledger.closed_blocks("Expired")
    records = (ctx.ledger.block_record(b) for b in closed)
    return {tuple(sorted(r.update_ids)) for r in records if r.parent == parent}
