"""Contribution: is each update in an aggregate useful to it, or harmful?

A candidate is judged as a whole (viability), but one poisoned update could hide inside an
aggregate of honest ones. Each update is therefore also judged by what it brings: on its own,
and by leave-one-out. The general uses the same judgement to choose what it proposes.

What it costs. Each update's outputs on the screening sample (a fixed share of G) are computed
once a round; an aggregate of any set of updates is judged by the coalition's rule applied to
those outputs (the mean of their logits for FedAvg, their median for the median rule), with no
model built or run. To first order in the steps, which all leave the same parent, the outputs of
a mean of weights are the mean of the outputs. Only the set the general settles on is built and
evaluated for real, on all of G and on L (viability). Judging one round costs a validator n runs
on the sample and one full evaluation (the parent's is remembered from the round before, see
`Evaluator`), and the general a bounded number more: linear in the
members, where a leave-one-out of built aggregates costs n² runs on G.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tclearn.fba.aggregate import toward, weighted_mean
from tclearn.fba.policy import degradation, lowers_loss
from tclearn.fba.strategy import Strategy
from tclearn.fba.trigger import Stamp
from tclearn.fba.update import Update, ids
from tclearn.fba.viability import Check, Evaluations, Evaluator
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation


@dataclass
class Judgements:
    """One round's judgements: each update's outputs and each aggregate made once, however many
    times the general's screening or a validator's check asks."""

    evaluator: Evaluator
    family: ModelFamily
    strategy: Strategy
    parent: Evaluations
    parent_state: State
    # The round's updates that passed integrity: the trigger search measures each update against
    # them all, so a set chosen to hold mostly attackers cannot hide them behind its own median.
    peers: Sequence[Update] = ()
    _outputs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _proxies: dict[tuple[int, ...], Evaluation] = field(default_factory=dict, repr=False)
    _aggregates: dict[tuple[tuple[int, ...], float], State] = field(default_factory=dict, repr=False)
    _evaluations: dict[tuple[tuple[int, ...], float], Evaluations] = field(default_factory=dict, repr=False)
    _carriers: dict[tuple[int, ...], dict[int, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        evaluator: Evaluator,
        family: ModelFamily,
        strategy: Strategy,
        parent: State,
        peers: Sequence[Update] = (),
    ) -> Judgements:
        """The judgements of a round on `parent` (evaluated here, on G and L), among `peers`."""
        return cls(evaluator, family, strategy, evaluator.evaluate(parent), parent, peers)

    # ------------------------------------------------------------------ on the screening sample

    def outputs(self, update: Update) -> np.ndarray:
        if update.id not in self._outputs:
            self._outputs[update.id] = self.evaluator.screen_outputs(update.state)
        return self._outputs[update.id]

    def alone(self, update: Update) -> Evaluation:
        """The update's own model on the screening sample."""
        return self.on_sample([update])

    def on_sample(self, updates: Sequence[Update]) -> Evaluation:
        """The aggregate of `updates` judged on the screening sample by the rule applied to their
        outputs (one update: its own outputs)."""
        key = ids(tuple(updates))
        if key not in self._proxies:
            logits = [[self.outputs(u)] for u in updates]
            if len(updates) == 1:
                combined = logits[0][0]
            else:
                combined = self.strategy.combine_arrays(logits, [u.samples for u in updates])[0]
            self._proxies[key] = self.evaluator.on_screen(combined)
        return self._proxies[key]

    @cached_property
    def parent_outputs_on_sample(self) -> np.ndarray:
        return self.evaluator.screen_outputs(self.parent_state)

    @property
    def parent_on_sample(self) -> Evaluation:
        if () not in self._proxies:
            self._proxies[()] = self.evaluator.on_screen(self.parent_outputs_on_sample)
        return self._proxies[()]

    # ------------------------------------------------------------------ built and evaluated for real

    def aggregate(self, updates: Sequence[Update], step: float = 1.0) -> State:
        """The candidate the rule makes of `updates`, moved `step` of the way from the parent."""
        key = (ids(tuple(updates)), step)
        if key not in self._aggregates:
            if step == 1.0:
                self._aggregates[key] = self.strategy.combine(
                    self.family, [u.state for u in updates], [u.samples for u in updates]
                )
            else:
                full = self.family.to_arrays(self.aggregate(updates))
                parent = self.family.to_arrays(self.parent_state)
                self._aggregates[key] = self.family.from_arrays(toward(parent, full, step))
        return self._aggregates[key]

    def of_aggregate(self, updates: Sequence[Update], step: float = 1.0) -> Evaluations:
        """The aggregate's evaluations on all of G and on L."""
        key = (ids(tuple(updates)), step)
        if key not in self._evaluations:
            self._evaluations[key] = self.evaluator.evaluate(self.aggregate(updates, step))
        return self._evaluations[key]

    def viability(self, updates: Sequence[Update], step: float = 1.0) -> Check:
        return self.evaluator.judge(self.parent, self.of_aggregate(updates, step))

    # ------------------------------------------------------------------ a trigger in the aggregate

    def pooled(self, updates: Sequence[Update]) -> State:
        """The updates' samples-weighted mean: what the trigger search reads, whatever the rule
        (for federated averaging, the candidate itself). A coordinate median barely moves with
        three attackers among ten, so its candidate shows no pull for the search to find, while
        round after round their coordinates still leak into it: 37 of 60 backdoor updates got
        into an `fba-median` run (Fashion-MNIST, α = 0.5, seed 0, backdoor success 0.298)."""
        key = (ids(tuple(updates)), -1.0)
        if key not in self._aggregates:
            arrays = [self.family.to_arrays(u.state) for u in updates]
            self._aggregates[key] = self.family.from_arrays(weighted_mean(arrays, [u.samples for u in updates]))
        return self._aggregates[key]

    def backdoor_carriers(self, updates: Sequence[Update]) -> dict[int, str]:
        """The updates that carry a trigger into the aggregate of `updates`, with the reason
        `backdoor` (`tclearn.fba.trigger`): the updates' mean (`pooled`) is searched for the
        patches (on a table: stamps, grown feature by feature) that pull it toward a class
        hardest over the parent, and each update for how hard it pushes them, against all the
        round's updates (`peers` and `updates`). The search runs once per set; with fewer than
        3 updates in all there is no median to stand out from, and nothing is searched (nor in
        an empty set: it has no mean)."""
        key = ids(tuple(updates))
        if key not in self._carriers:
            self._carriers[key] = {}
            search = self.evaluator.trigger
            everyone = list({u.id: u for u in (*self.peers, *updates)}.values())
            if updates and len(everyone) >= 3 and search.patches:
                evaluator, candidate = self.evaluator, self.pooled(updates)
                suspects = search.suspects(evaluator.patch_pulls(candidate), evaluator.patch_pulls(self.parent_state))
                if suspects and isinstance(suspects[0].patch, Stamp):  # a table: grown feature by feature
                    suspects = search.grown(suspects, evaluator.runner(candidate), evaluator.runner(self.parent_state))
                if suspects:
                    runs = [(self.outputs(u)[: len(search.probes)], evaluator.runner(u.state)) for u in everyone]
                    found = {everyone[i].id for i in search.carriers(suspects, runs)}
                    self._carriers[key] = {u.id: "backdoor" for u in updates if u.id in found}
        return self._carriers[key]


def harmful_updates(judgements: Judgements, updates: Sequence[Update]) -> dict[int, str]:
    """The updates that harm the aggregate, most harmful first.

    An update harms the aggregate when the aggregate is significantly better without it
    (leave-one-out, by `tclearn.fba.policy.degradation`), or when on its own it is significantly
    worse than its parent and the aggregate's loss is significantly lower without it (by
    `LOSS_EFFECT` at least: a poisoned step hides in a large aggregate); where most of the
    round's updates are worse than their parent on their own, only if that improvement also
    stands out from what leaving out each of the others brings (`stand_out`). An update that
    neither helps nor hurts measurably is noise, not harm: it stays, so an honest member's work
    counts even when the model has little left to learn from it. An update significantly
    better than its parent on its own, and no worse on the other measure, is never dropped for
    the noise of a leave-one-out comparison (better in accuracy alone is not enough: a
    sign-flipped step from a random start gains accuracy while its loss soars). An update that
    teaches the model wrong labels (`mislabels`) is harmful whatever the aggregate shows.
    """
    if len(updates) < 2:
        return {}
    tolerance = judgements.evaluator.tolerance
    parent = judgements.parent_on_sample
    full = judgements.on_sample(updates)
    alones = [judgements.alone(u) for u in updates]
    worse_alone = [degradation(parent, alone, tolerance) is not None for alone in alones]
    withouts = [judgements.on_sample([u for j, u in enumerate(updates) if j != i]) for i in range(len(updates))]
    standing = stand_out(full, withouts) if common_pull(worse_alone) else [True] * len(updates)
    harmful: list[tuple[float, int, str]] = []
    parent_predictions = judgements.parent_outputs_on_sample.argmax(1)
    labels = judgements.evaluator.global_y[judgements.evaluator.screen]
    classes = judgements.family.spec.num_classes
    for i, update in enumerate(updates):
        if mislabels(parent_predictions, judgements.outputs(update).argmax(1), labels, classes):
            harmful.append((withouts[i].loss - full.loss, update.id, "harmful-mislabels"))
            continue
        if not standing[i]:
            continue
        if degradation(alones[i], parent, tolerance) is not None and not worse_alone[i]:
            continue  # on its own it is significantly better than its parent, and no worse
        without = withouts[i]
        why = degradation(without, full, tolerance)
        if why is None and worse_alone[i] and lowers_loss(full, without, tolerance.z):
            why = "loss"
        if why is not None:
            harmful.append((without.loss - full.loss, update.id, f"harmful-{why}"))
    return {update_id: reason for _, update_id, reason in sorted(harmful)}


MISLABEL_CLASSES = 3  # with two classes, a skewed honest member's push gains no recall either
MISLABEL_PUSH = 0.05  # of the screening sample: fewer extra predictions than this say nothing
MISLABEL_GAIN = -0.15  # true positives per extra prediction at or below which the push is wrong


def mislabels(parent: np.ndarray, update: np.ndarray, labels: np.ndarray, classes: int) -> bool:
    """Whether an update, on its own, teaches the model wrong labels: over the classes it
    predicts more often than its parent on the screening sample (`parent` and `update` are
    their predicted classes, `labels` the truth), its extra predictions are at least
    `MISLABEL_PUSH` of the sample and bring fewer true positives on those classes than the
    parent had (at most `MISLABEL_GAIN` per extra prediction).

    An honest member on skewed data pushes the model toward the classes it holds, and those
    pushes land on samples of those classes: over five Fashion-MNIST runs of 20 rounds the
    lowest honest update brought −0.09 true positives per extra prediction, and in the grid's
    attack-free runs one in about 2,400 went to −0.13 (a member holding no coats or shirts
    calls them pullovers), while a member trained on labels mapped c → 9 − c pushes the classes
    it relabelled onto samples of others (α = 0.5: 38 of 45 records at −0.15 or lower; α = 0.1:
    41 of 60; a bar of −0.1 left that honest update out and changed the run's course). A
    leave-one-out cannot see it when three flippers' pushes, averaged with seven honest ones,
    still leave the aggregate better than its parent: 32 and 57 of 60 flipping updates got into
    `fba-fedavg` runs at α = 0.5. A flipper holding a single class predicts one class for
    everything, exactly like an honest holder of the mirrored class: it is not caught. Not
    applied to fewer than `MISLABEL_CLASSES` classes: on the breast-cancer table a skewed honest
    member's push toward its class gains no true positives either (22 of 93 honest updates in
    one run)."""
    if classes < MISLABEL_CLASSES or not len(labels):
        return False
    before, after = np.bincount(parent, minlength=classes), np.bincount(update, minlength=classes)
    pushed = after > before
    extra = int((after - before)[pushed].sum())
    if extra < MISLABEL_PUSH * len(labels):
        return False
    hits_before = np.bincount(labels[parent == labels], minlength=classes)
    hits_after = np.bincount(labels[update == labels], minlength=classes)
    gain = int((hits_after - hits_before)[pushed].sum())
    return gain <= MISLABEL_GAIN * extra


OUTLYING_FROM = 5  # updates: with fewer, a median and a MAD say nothing about the others


def common_pull(worse_alone: Sequence[bool]) -> bool:
    """Whether the round's updates pull the model away from G together: most of them (5 or
    more in all) are significantly worse than their parent on their own.

    That is what skewed data does: at Dirichlet α = 0.1 on Fashion-MNIST every honest member
    trains on a class or two, and on its own each is worse on G than the model it started
    from, in every round measured (10 of 10). On the breast-cancer table split IID an honest
    step on its own is rarely worse (0–2 of 4), and a poisoning step is. Fewer than a third of
    the updates can be an attacker's, so when most are worse alone, honest ones are among
    them."""
    return len(worse_alone) >= OUTLYING_FROM and sum(worse_alone) > len(worse_alone) / 2


def stand_out(full: Evaluation, withouts: Sequence[Evaluation]) -> list[bool]:
    """Whether leaving each update out improves the aggregate far beyond what leaving out the
    round's other updates does: by more than 3 MADs over their median, in accuracy or in
    relative loss, on the screening sample (`withouts[i]` is the aggregate without update i).

    Under a common pull (`common_pull`) the aggregate without any one honest member is often
    better on G by a few significant points: at α = 0.1 on Fashion-MNIST, 26 of 80 honest
    updates were left out as harmful in one 8-round run, and the rounds that lost them were
    refused more often. Harm is then what stands out from that pull. Without a common pull this
    gate is not applied: on the breast-cancer table split IID it let 104 of 120 slow-poisoning
    steps in (49 without it), whose leave-one-out gain is a few points, as large as the spread
    of honest ones among 6 updates."""
    if len(withouts) < OUTLYING_FROM:
        return [True] * len(withouts)
    gains = np.array([w.accuracy - full.accuracy for w in withouts])
    drops = np.array([(full.loss - w.loss) / max(full.loss, 1e-6) for w in withouts])
    out = np.zeros(len(withouts), dtype=bool)
    for effects in (gains, drops):
        median = float(np.median(effects))
        spread = 1.4826 * float(np.median(np.abs(effects - median)))
        out |= effects > median + 3.0 * spread
    return out.tolist()
