"""The vote rule: does a candidate model degrade the parent beyond the coalition's tolerance?

Both models are evaluated on the same test set, so the comparison is paired: what matters is
the samples the candidate gets wrong that the parent got right (`lost`) against the reverse
(`gained`). A candidate is refused on a test set when its net loss of correct answers is both
larger than the tolerance and statistically real (a one-sided sign test: `lost − gained` above
`z·√(lost + gained)`), or when its mean loss rises significantly beyond the loss tolerance.

G is shared and representative: it is judged sample by sample. Non-IID data is the normal case
for L: a validator whose L holds few classes judges L per class (each class present weighs the
same), and L speaks for what G cannot see, so an L degradation vetoes a step only beyond what
the step gains on G. An honest step that helps the classes a validator lacks gains on G what it
costs on that validator's L and passes; a harmful step loses on L without gaining on G and fails.
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


def net_gain(parent: Evaluation, candidate: Evaluation, balanced: bool = False) -> float:
    """Share of (class-weighted) answers the candidate gains over the parent; negative: lost."""
    weights = _class_balanced_weights(parent.labels) if balanced else np.ones(parent.samples)
    gained = float(np.sum(weights * (~parent.correct & candidate.correct)))
    lost = float(np.sum(weights * (parent.correct & ~candidate.correct)))
    return (gained - lost) / float(np.sum(weights))


def degradation(
    parent: Evaluation,
    candidate: Evaluation,
    tolerance: Tolerance,
    balanced: bool = False,
    allowance: float = 0.0,
) -> str | None:
    """Why `candidate` is significantly worse than `parent` on this set, or None.

    `allowance` widens both tolerances (as a share of answers, and relatively for the loss).
    """
    weights = _class_balanced_weights(parent.labels) if balanced else np.ones(parent.samples)
    lost = float(np.sum(weights * (parent.correct & ~candidate.correct)))
    gained = float(np.sum(weights * (~parent.correct & candidate.correct)))
    net = lost - gained
    if net > (tolerance.accuracy + allowance) * float(np.sum(weights)) and net > tolerance.z * np.sqrt(lost + gained):
        return "accuracy"
    rise = candidate.losses - parent.losses
    allowed = (tolerance.loss + allowance) * max(parent.loss, 1e-6)
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
    """Accept unless the candidate degrades the parent on G, or on L beyond what it gains on G."""
    why = degradation(parent_global, candidate_global, tolerance)
    if why is not None:
        return Verdict(False, f"global-{why}")
    gain = max(0.0, net_gain(parent_global, candidate_global))
    why = degradation(parent_local, candidate_local, tolerance, balanced=True, allowance=gain)
    if why is not None:
        return Verdict(False, f"local-{why}")
    return Verdict(True, "ok")


def _class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give each present class the same total weight, summing to n."""
    classes, counts = np.unique(labels, return_counts=True)
    per_class = len(labels) / (len(classes) * counts)
    lookup = dict(zip(classes.tolist(), per_class.tolist(), strict=True))
    return np.array([lookup[label] for label in labels.tolist()])
