"""The general's judgement of sets of updates on one parent, as validators will judge them.

The general drops the updates that fail integrity, then those that carry a backdoor's trigger
(`tclearn.fba.trigger`), then those whose contribution is harmful
(leave-one-out on the screening sample, `tclearn.fba.contribution`), until none is left; when
what is left would still degrade the parent, it chooses a viable set by forward selection. Sets
are compared on the updates' outputs, computed once; only the few sets it would propose are
built and evaluated on all of G and L (at most `REAL_CHECKS`), so its cost stays linear in the
members. It proposes again a set of updates the coalition already refused on this parent only
at a shorter step (`retry_step`), so one bad update cannot stall the coalition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from tclearn.fba.context import CoalitionContext
from tclearn.fba.contribution import Judgements, harmful_updates
from tclearn.fba.strategy import SERVER_STEPS, declared_step
from tclearn.fba.update import Update, ids
from tclearn.store.base import StoreError

Item = Update  # what a strategy selects from
REAL_CHECKS = 3  # sets of a forward selection built and judged for viability, best first


@dataclass
class Screening:
    ctx: CoalitionContext
    judgements: Judgements
    parent_id: int
    step: float = field(default=1.0, init=False)  # of the set `select_viable` chose (`SERVER_STEPS`)

    @cached_property
    def refused_steps(self) -> dict[tuple[int, ...], float]:
        """The sets of updates the coalition refused (rejected or let expire) on this parent,
        each with the shortest step it was refused at (as its metadata declared it)."""
        ledger = self.ctx.ledger
        refused: dict[tuple[int, ...], float] = {}
        for block in ledger.closed_blocks("Rejected") + ledger.closed_blocks("Expired"):
            record = ledger.block_record(block)
            if record.parent == self.parent_id:
                key = tuple(sorted(record.update_ids))
                refused[key] = min(refused.get(key, 1.0), self._declared_step(record.metadata_hash))
        return refused

    def _declared_step(self, metadata_hash: bytes) -> float:
        try:
            return declared_step(self.ctx.get_json(metadata_hash)) or 1.0
        except (StoreError, ValueError, KeyError, AttributeError):
            return 1.0  # unreadable: as if refused at the full step

    def retry_step(self, chosen: list[Update]) -> float | None:
        """For a set the coalition refused at some step, a shorter step the general finds
        viable, if any: validators judge on their own L, and a step closer to the parent may
        pass where the full one did not, with every member still in."""
        refused = self.refused_steps.get(ids(chosen))
        if refused is None:
            return self.step
        return next((s for s in SERVER_STEPS if s < refused and self.judgements.viability(chosen, s).accept), None)

    def viable(self, updates: list[Update]) -> bool:
        return self.judgements.viability(updates).accept

    def viable_step(self, updates: list[Update], below: float | None = None) -> float | None:
        """The longest of `SERVER_STEPS` toward the set's aggregate that is viable (and shorter
        than `below`, when given), or None."""
        steps = [s for s in SERVER_STEPS if below is None or s < below]
        return next((step for step in steps if self.judgements.viability(updates, step).accept), None)

    def select_viable(self, passing: list[Update], excluded: dict[int, str]) -> list[Update]:
        """The set of updates to aggregate: all of them less the harmful ones if that is viable,
        at the longest viable step toward their aggregate (`SERVER_STEPS`, kept in `step`);
        otherwise the best viable set along a forward selection.

        Pruning alone can end empty on non-IID data: one member's step can look useless on G
        while the aggregate needs it to stay above its parent (and a smaller set makes other
        updates look harmful). The forward selection grows a set from the update best on G
        alone, adding each time the update that makes the aggregate best, and proposes the best
        of those sets that is viable once its harmful updates are pruned — validators judge
        exactly the set proposed.
        """
        kept = self.prune(passing, excluded)
        if kept and (step := self.viable_step(kept)) is not None:
            self.step = step
            return kept
        for subset in self.forward_sets(passing)[:REAL_CHECKS]:
            reasons: dict[int, str] = {}
            kept = self.prune(subset, reasons)
            if kept and (step := self.viable_step(kept)) is not None:
                self.step = step
                chosen = set(ids(kept))
                for update in passing:
                    if update.id in chosen:
                        excluded.pop(update.id, None)
                    else:
                        excluded[update.id] = reasons.get(update.id, "degrades-aggregate")
                return kept
        for update in passing:
            excluded.setdefault(update.id, "degrades-parent")
        return []

    def prune(self, updates: list[Update], excluded: dict[int, str]) -> list[Update]:
        """Drops the updates that carry a trigger, then the harmful ones, until neither finds
        any more: the set proposed is the set validators search and judge."""
        while True:
            kept = self.drop_harmful(self.drop_carriers(updates, excluded), excluded)
            if len(kept) == len(updates):
                return kept
            updates = kept

    def drop_carriers(self, passing: list[Update], excluded: dict[int, str]) -> list[Update]:
        """Drops the updates that carry a trigger, all at once (each is judged on its own pull),
        and searches what is left again until it is clean: a weaker attacker can hide behind
        stronger ones."""
        while carriers := self.judgements.backdoor_carriers(passing):
            excluded.update(carriers)
            passing = [u for u in passing if u.id not in carriers]
        return passing

    def drop_harmful(self, passing: list[Update], excluded: dict[int, str]) -> list[Update]:
        """Drops the most harmful update, then judges the rest again, until none is harmful."""
        while len(passing) > 1:
            harmful = harmful_updates(self.judgements, passing)
            if not harmful:
                break
            worst, reason = next(iter(harmful.items()))
            excluded[worst] = reason
            passing = [u for u in passing if u.id != worst]
        return passing

    def forward_sets(self, passing: list[Update]) -> list[list[Update]]:
        """The sets of a greedy forward selection on the screening sample (accuracy, then
        loss), best first."""
        scored: list[tuple[tuple[float, float], list[Update]]] = []
        chosen: list[Update] = []
        pool = list(passing)
        while pool:
            score, best = max(((self.score([*chosen, u]), u) for u in pool), key=lambda p: p[0])
            chosen = [*chosen, best]
            pool.remove(best)
            scored.append((score, chosen))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [subset for _, subset in scored]

    def score(self, subset: list[Update]) -> tuple[float, float]:
        g = self.judgements.on_sample(subset)
        return g.accuracy, -g.loss
