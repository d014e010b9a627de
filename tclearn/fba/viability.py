"""Viability: a candidate may not degrade its parent on the global test set G nor on this
validator's local test set L beyond the coalition's tolerance (`tclearn.fba.policy`).

The evaluator also holds the screening sample: a fixed share of G, the same at every node,
on which each update's outputs are computed once a round (`tclearn.fba.contribution`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from tclearn.fba.metrics import VoteMetrics
from tclearn.fba.policy import Tolerance, judge
from tclearn.fba.trigger import PROBES, Outputs, Trigger, TriggerSearch, patches, stamps
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation, outputs, scored

Evaluations = tuple[Evaluation, Evaluation]  # on G, on L
SCREEN_SAMPLES = 512  # of G: enough for the sign test to see a 2-point net loss at 95 %
SCREEN_SEED = 0  # the sample is the same at every node, so general and validators agree
# Outputs a node keeps, one per model and set: a round's candidate is the next one's parent,
# and a round adds one per update on the screening sample, so 16 lost the parent's by the time
# the trigger search needed them (a second search's worth of runs each round at 10 members).
REMEMBERED = 96
Part = Literal["global", "local", "screen", "probes", "patched"]


@dataclass(frozen=True)
class Check:
    """One validator's verdict on a candidate, with the metrics its vote carries on chain."""

    accept: bool
    reason: str
    metrics: VoteMetrics


@dataclass
class Evaluator:
    """A node's test sets: G (shared by all validators) and its own L."""

    family: ModelFamily
    global_x: np.ndarray
    global_y: np.ndarray
    local_x: np.ndarray
    local_y: np.ndarray
    tolerance: Tolerance
    screen_samples: int = SCREEN_SAMPLES
    forwarded: int = field(default=0, init=False)  # samples run through a model: the cost of judging
    _remembered: OrderedDict[tuple[bytes, Part], np.ndarray] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    def evaluate(self, state: State) -> Evaluations:
        return self.on_global(state), self.on_local(state)

    def on_global(self, state: State) -> Evaluation:
        return self.scored(self._outputs(state, "global"), self.global_y)

    def on_local(self, state: State) -> Evaluation:
        return self.scored(self._outputs(state, "local"), self.local_y)

    @cached_property
    def screen(self) -> np.ndarray:
        """The indices of G in the screening sample (all of G when G is smaller)."""
        return screening_sample(len(self.global_y), self.screen_samples)

    def screen_outputs(self, state: State) -> np.ndarray:
        """The model's logits on the screening sample."""
        return self._outputs(state, "screen")

    @cached_property
    def trigger(self) -> TriggerSearch:
        """The trigger search on the first `PROBES` inputs of the screening sample, with patches
        bright and dark as G's extremes (an image) or stamps of pairs of features at G's
        extremes of each (a table): the same at every node."""
        x = self.global_x
        if not len(x):
            found: list[Trigger] = []
        elif x.ndim == 2:  # a table: each feature at G's extremes of it
            found = list(stamps(x.min(0), x.max(0)))
        else:
            found = list(patches(x.shape[1:], float(x.min()), float(x.max())))
        return TriggerSearch(x[self.screen[:PROBES]], found, self.family.spec.num_classes)

    def patch_pulls(self, state: State) -> np.ndarray:
        """How far each patch pulls the model toward each class on the search's first pass
        (`TriggerSearch.pulls`); remembered, like the outputs, so the parent's costs nothing."""
        return self.trigger.pulls(self._outputs(state, "probes"), self._outputs(state, "patched"))

    def runner(self, state: State) -> Outputs:
        """A way to run the model on other inputs, counted in `forwarded`."""
        model = self.family.module(state)

        def run(x: np.ndarray) -> np.ndarray:
            self.forwarded += len(x)
            return outputs(model, x)

        return run

    def on_screen(self, logits: np.ndarray) -> Evaluation:
        """What logits on the screening sample score against its labels."""
        return self.scored(logits, self.global_y[self.screen])

    def scored(self, logits: np.ndarray, labels: np.ndarray) -> Evaluation:
        return scored(logits, labels, self.family.spec.num_classes)

    def _outputs(self, state: State, part: Part) -> np.ndarray:
        """The model's logits on one of the node's sets. The last few models' are remembered by
        the weights' digest: the parent a round judges against is the candidate every node
        evaluated the round before, so its evaluation costs nothing the second time."""
        digest = self.family.digest(state)
        # The screening sample is part of G, and the probes are the sample's first inputs.
        within: dict[Part, object] = {part: slice(None)}
        if part == "screen":
            within["global"] = self.screen
        if part == "probes":
            within |= {"screen": slice(PROBES), "global": self.screen[:PROBES]}
        for whole, rows in within.items():
            if (digest, whole) in self._remembered:
                self._remembered.move_to_end((digest, whole))
                return self._remembered[(digest, whole)][rows]  # type: ignore[index]
        sets = {"global": self.global_x, "local": self.local_x, "probes": self.trigger.probes}
        x = self.trigger.stamped if part == "patched" else sets.get(part)
        x = self.global_x[self.screen] if x is None else x
        self.forwarded += len(x)
        logits = outputs(self.family.module(state), x)
        self._remembered[(digest, part)] = logits
        if len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)
        return logits

    def judge(self, parent: Evaluations, candidate: Evaluations) -> Check:
        """The verdict on a candidate whose evaluations are known, against its parent's."""
        return judged(parent, candidate, self.tolerance)

    def refusal(self, reason: str) -> Check:
        return refused(reason, len(self.global_y), len(self.local_y))

    def unchecked(self) -> Check:
        """The verdict of the unscreened baseline: accepted without looking."""
        return Check(True, "ok", self.refusal("ok").metrics)


def screening_sample(size: int, samples: int = SCREEN_SAMPLES) -> np.ndarray:
    """Indices of the screening sample in a G of `size`: the same at every node."""
    order = np.random.default_rng(SCREEN_SEED).permutation(size)
    return np.sort(order[:samples])


def judged(parent: Evaluations, candidate: Evaluations, tolerance: Tolerance) -> Check:
    """The verdict on a candidate whose evaluations on G and L are known, against its parent's
    (however they were computed: in clear, or under encryption in mode C)."""
    g, local = candidate
    verdict = judge(parent[0], g, parent[1], local, tolerance)
    return Check(verdict.accept, verdict.reason, _metrics(g, local, verdict.reason))


def refused(reason: str, global_samples: int, local_samples: int) -> Check:
    """A refusal for `reason`, with no metrics measured."""
    return Check(False, reason, VoteMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, global_samples, local_samples, reason))


def _metrics(g: Evaluation, local: Evaluation, reason: str) -> VoteMetrics:
    return VoteMetrics(
        g.accuracy,
        local.accuracy,
        g.balanced_accuracy,
        local.balanced_accuracy,
        g.loss,
        local.loss,
        g.samples,
        local.samples,
        reason,
    )
