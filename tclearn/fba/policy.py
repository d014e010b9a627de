"""The vote rule: does a candidate model degrade the parent beyond the coalition's tolerance?

Both models are evaluated on the same test set, so the comparison is paired: what matters is
the samples the candidate gets wrong that the parent got right (`lost`) against the reverse
(`gained`). A candidate is refused on a test set when its net loss of correct answers is both
larger than the tolerance and statistically real (a one-sided sign test: `lost − gained` above
`z·√(lost + gained)`), or when its mean loss rises significantly beyond the loss tolerance.
Pairing makes the rule sharp on a large G and lenient on a small L, where noise dominates.

Non-IID data is the normal case: a validator whose L holds few classes judges L by the classes
it holds (balanced per class), and only a significant degradation there vetoes a step; an
honest step that helps the classes it lacks does not lose it answers it had.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tclearn.model.train import Evaluation


@dataclass(frozen=True)
class Tolerance:
    """How much worse than its parent a candidate may look before a validator rejects it."""

    accuracy: float = 0.02  # net share of test samples lost
    loss: float = 0.10  # rise of the mean cross-entropy, relative to the parent's
    z: float = 1.645  # one-sided 95 %


@dataclass(frozen=True)
class Verdict:
    accept: bool
    reason: str  # "ok", or which test set and measure refused it


def degradation(parent: Evaluation, candidate: Evaluation, tolerance: Tolerance) -> str | None:
    """Why `candidate` is significantly worse than `parent` on this set, or None."""
    weights = _class_balanced_weights(parent.labels)
    lost = float(np.sum(weights * (parent.correct & ~candidate.correct)))
    gained = float(np.sum(weights * (~parent.correct & candidate.correct)))
    net = lost - gained
    effective_n = float(np.sum(weights))
    if net > tolerance.accuracy * effective_n and net > tolerance.z * np.sqrt(lost + gained):
        return "accuracy"
    rise = candidate.losses - parent.losses
    allowed = tolerance.loss * max(parent.loss, 1e-6)
    noise = tolerance.z * float(np.std(rise)) / np.sqrt(len(rise)) if len(rise) > 1 else 0.0
    if float(np.mean(rise)) > allowed + noise:
        return "loss"
    return None


def judge(
    parent_global: Evaluation,
    candidate_global: Evaluation,
    parent_local: Evaluation,
    candidate_local: Evaluation,
    tolerance: Tolerance,
) -> Verdict:
    """Accept unless the candidate degrades the parent on G or on this validator's L."""
    for name, parent, candidate in (
        ("global", parent_global, candidate_global),
        ("local", parent_local, candidate_local),
    ):
        why = degradation(parent, candidate, tolerance)
        if why is not None:
            return Verdict(False, f"{name}-{why}")
    return Verdict(True, "ok")


def _class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give each present class the same total weight, summing to n."""
    classes, counts = np.unique(labels, return_counts=True)
    per_class = len(labels) / (len(classes) * counts)
    lookup = dict(zip(classes.tolist(), per_class.tolist(), strict=True))
    return np.array([lookup[label] for label in labels.tolist()])
