"""The general's step: build the round's candidate from the registered updates and propose it.

The general screens every update trained on the head with the checks validators apply: the
integrity of each (`check_update`) and, in federated averaging, each one's contribution to the
aggregate (leave-one-out on G, `harmful_updates`), dropping the harmful ones until none is
left, or, when what is left would degrade the parent, choosing a viable set by forward
selection. It proposes one update (sequential learning: the oldest that passes) or the
aggregate of those chosen, with the coalition's rule. It never proposes again a set of updates the
coalition already refused on this parent (it drops the newest of them), so one bad update
cannot stall the coalition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from tclearn.chain.ledger import UpdateRecord
from tclearn.fba.context import CoalitionContext
from tclearn.fba.validate import Evaluator, ParentView, check_update, combine, harmful_updates, parent_view
from tclearn.model.family import State
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
    passing, excluded = [], {}
    for update in updates:
        why, state = check_update(ctx, update, parent)
        if state is not None and (why is None or not plan.screen):
            passing.append((update, state))
        else:
            excluded[update.id] = why or "integrity"
    rejected_sets = _rejected_update_sets(ctx, head)
    if plan.learning == "sequential":
        passing = _first_viable(evaluator, plan, parent, [p for p in passing if (p[0].id,) not in rejected_sets])
    elif plan.screen:
        passing = Screening(ctx, evaluator, plan, parent).select_viable(passing, excluded)
    if passing and tuple(u.id for u, _ in passing) in rejected_sets:
        dropped = passing.pop()  # the newest: the coalition already refused exactly this set
        excluded[dropped[0].id] = "in-rejected-candidate"
    if not passing:
        return None
    ids = [u.id for u, _ in passing]
    metadata = plan.metadata(ids, excluded)
    data = ctx.family.dump(_aggregate(ctx, plan, passing))
    cid = ctx.store.put(data)
    return Candidate(head, ids, sha256(data), cid, ctx.put_json(metadata), excluded)


Item = tuple[UpdateRecord, State]


def _first_viable(evaluator: Evaluator, plan: ProposalPlan, parent: ParentView, passing: list[Item]) -> list[Item]:
    """Sequential learning: the oldest update that does not degrade the parent (any, unscreened)."""
    for item in passing:
        if not plan.screen or evaluator.viability(parent.evals, item[1]).accept:
            return [item]
    return []


@dataclass(frozen=True)
class Screening:
    """The general's judgement of sets of updates on one parent, as validators will judge them."""

    ctx: CoalitionContext
    evaluator: Evaluator
    plan: ProposalPlan
    parent: ParentView

    def select_viable(self, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        """The set of updates to aggregate: all of them less the harmful ones if that is viable;
        otherwise the best viable set along a forward selection.

        Pruning alone can end empty on non-IID data: one member's step can look useless on G
        while the aggregate needs it to stay above its parent (and a smaller set makes other
        updates look harmful). The forward selection grows a set from the update best on G
        alone, adding each time the update that makes the aggregate best, and proposes the best
        of those sets that is viable once its harmful updates are pruned — validators judge
        exactly the set proposed.
        """
        kept = self.drop_harmful(passing, excluded)
        if kept and self.viable(kept):
            return kept
        for subset in self.forward_sets(passing):
            reasons: dict[int, str] = {}
            kept = self.drop_harmful(subset, reasons)
            if kept and self.viable(kept):
                chosen = {u.id for u, _ in kept}
                for update, _ in passing:
                    if update.id in chosen:
                        excluded.pop(update.id, None)
                    else:
                        excluded[update.id] = reasons.get(update.id, "degrades-aggregate")
                return kept
        for update, _ in passing:
            excluded.setdefault(update.id, "degrades-parent")
        return []

    def drop_harmful(self, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        """Drops the most harmful update, then judges the rest again, until none is harmful."""
        while len(passing) > 1:
            ids = [u.id for u, _ in passing]
            states, samples = [s for _, s in passing], [u.samples for u, _ in passing]
            metadata = self.plan.metadata(ids, {})
            harmful = harmful_updates(self.evaluator, self.ctx.family, metadata, self.parent, ids, states, samples)
            if not harmful:
                break
            worst, reason = next(iter(harmful.items()))
            excluded[worst] = reason
            passing = [p for p in passing if p[0].id != worst]
        return passing

    def forward_sets(self, passing: list[Item]) -> list[list[Item]]:
        """The sets of a greedy forward selection on G (accuracy, then loss), best first."""
        scored: list[tuple[tuple[float, float], list[Item]]] = []
        chosen: list[Item] = []
        pool = list(passing)
        while pool:
            score, best = max(((self.score([*chosen, item]), item) for item in pool), key=lambda p: p[0])
            chosen = [*chosen, best]
            pool.remove(best)
            scored.append((score, chosen))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [subset for _, subset in scored]

    def score(self, subset: list[Item]) -> tuple[float, float]:
        g = self.evaluator.evaluate(_aggregate(self.ctx, self.plan, subset))[0]
        return g.accuracy, -g.loss

    def viable(self, subset: list[Item]) -> bool:
        return self.evaluator.viability(self.parent.evals, _aggregate(self.ctx, self.plan, subset)).accept


def _aggregate(ctx: CoalitionContext, plan: ProposalPlan, subset: list[Item]) -> State:
    metadata = plan.metadata([u.id for u, _ in subset], {})
    return combine(ctx.family, metadata, [s for _, s in subset], [u.samples for u, _ in subset])


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
