"""Viability: a candidate may not degrade its parent on the global test set G nor on this
validator's local test set L beyond the coalition's tolerance (`tclearn.fba.policy`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tclearn.fba.metrics import VoteMetrics
from tclearn.fba.policy import Tolerance, judge
from tclearn.model.family import ModelFamily, State
from tclearn.model.train import Evaluation, evaluate

Evaluations = tuple[Evaluation, Evaluation]  # on G, on L


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

    def evaluate(self, state: State) -> Evaluations:
        return self.on_global(state), self.on_local(state)

    def on_global(self, state: State) -> Evaluation:
        return evaluate(self.family.module(state), self.global_x, self.global_y, self.family.spec.num_classes)

    def on_local(self, state: State) -> Evaluation:
        return evaluate(self.family.module(state), self.local_x, self.local_y, self.family.spec.num_classes)

    def judge(self, parent: Evaluations, candidate: Evaluations) -> Check:
        """The verdict on a candidate whose evaluations are known, against its parent's."""
        g, local = candidate
        verdict = judge(parent[0], g, parent[1], local, self.tolerance)
        return Check(verdict.accept, verdict.reason, _metrics(g, local, verdict.reason))

    def refusal(self, reason: str) -> Check:
        empty = VoteMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, len(self.global_y), len(self.local_y), reason)
        return Check(False, reason, empty)

    def unchecked(self) -> Check:
        """The verdict of the unscreened baseline: accepted without looking."""
        return Check(True, "ok", self.refusal("ok").metrics)


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
