"""Contribution: is each update in an aggregate useful to it, or harmful?

A candidate is judged as a whole (viability), but one poisoned update could hide inside an
aggregate of honest ones. Each update is therefore also judged by what it brings: on G alone,
and by leave-one-out. The general uses the same judgement to choose what it proposes, and
`Judgements` computes each aggregate and each evaluation of a round once, however many times the
general's screening or a validator's check asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tclearn.fba.policy import degradation
from tclearn.fba.strategy import Strategy
from tclearn.fba.update import Update, ids
from tclearn.fba.viability import Check, Evaluations, Evaluator
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation


@dataclass
class Judgements:
    """Aggregates of sets of one round's updates, and evaluations of models, each made once."""

    evaluator: Evaluator
    family: ModelFamily
    strategy: Strategy
    parent: Evaluations
    _aggregates: dict[tuple[int, ...], State] = field(default_factory=dict, repr=False)
    _evaluations: dict[tuple[str, tuple[object, ...]], Evaluation] = field(default_factory=dict, repr=False)

    def aggregate(self, updates: Sequence[Update]) -> State:
        key = ids(tuple(updates))
        if key not in self._aggregates:
            self._aggregates[key] = self.strategy.combine(
                self.family, [u.state for u in updates], [u.samples for u in updates]
            )
        return self._aggregates[key]

    def of_aggregate(self, updates: Sequence[Update]) -> Evaluations:
        """The aggregate's evaluations on G and on L."""
        return self.on_global(updates), self._evaluated("L", ids(tuple(updates)), lambda: self.aggregate(updates))

    def on_global(self, updates: Sequence[Update]) -> Evaluation:
        """The aggregate's evaluation on G alone: all that screening by contribution needs."""
        return self._evaluated("G", ids(tuple(updates)), lambda: self.aggregate(updates))

    def alone_on_global(self, update: Update) -> Evaluation:
        """The update's own model on G (not its aggregate of one, which a rule may round)."""
        return self._evaluated("G", ("alone", update.id), lambda: update.state)

    def viability(self, updates: Sequence[Update]) -> Check:
        return self.evaluator.judge(self.parent, self.of_aggregate(updates))

    def _evaluated(self, test_set: str, key: tuple[object, ...], state: Callable[[], State]) -> Evaluation:
        """Each model on each test set evaluated once (G is the larger: L only when judged)."""
        if (test_set, key) not in self._evaluations:
            on = self.evaluator.on_global if test_set == "G" else self.evaluator.on_local
            self._evaluations[(test_set, key)] = on(state())
        return self._evaluations[(test_set, key)]


def harmful_updates(judgements: Judgements, updates: Sequence[Update]) -> dict[int, str]:
    """The updates that harm the aggregate, judged on G alone and by their contribution.

    An update is harmful when on its own it is not significantly better than its parent on G
    (better on one measure and worse on the other does not count) *and* the aggregate is no
    better with it: either significantly better without it (leave-one-out), or not lowered in
    mean loss by it nor significantly worse without it (near a decision boundary loss and
    accuracy can disagree: an update that turns a quarter of G's answers right is useful even
    if the mean loss rises a little). Alone, an honest update from a member holding one class
    degrades G, but the aggregate is better with it: it is kept. An update significantly
    better on its own is never dropped for the noise of a leave-one-out comparison. Most
    harmful first.
    """
    if len(updates) < 2:
        return {}
    tolerance = judgements.evaluator.tolerance
    parent_g = judgements.parent[0]
    full = judgements.on_global(updates)
    harmful: list[tuple[float, int, str]] = []
    for i, update in enumerate(updates):
        alone = judgements.alone_on_global(update)
        better = degradation(alone, parent_g, tolerance) is not None
        if better and degradation(parent_g, alone, tolerance) is None:
            continue  # on its own it is significantly better than its parent on G, and no worse
        without = judgements.on_global([u for j, u in enumerate(updates) if j != i])
        why = degradation(without, full, tolerance)
        if why is not None:
            harmful.append((without.loss - full.loss, update.id, f"harmful-{why}"))
        elif full.loss >= without.loss and degradation(full, without, tolerance) is None:
            harmful.append((without.loss - full.loss, update.id, "harmful-no-gain"))
    return {update_id: reason for _, update_id, reason in sorted(harmful)}
