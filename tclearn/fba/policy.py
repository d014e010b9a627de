"""The vote rule: does a candidate model degrade the parent beyond the coalition's tolerance?

Both models are evaluated on the same test set, so the comparison is paired: what matters is
the samples the candidate gets wrong that the parent got right (`lost`) against the reverse
(`gained`). A candidate is refused on a test set when its net loss of correct answers is both
larger than the tolerance and statistically real (a one-sided sign test: `lost − gained` above
`z·√(lost + gained)`, weighted when classes are), or when its mean loss rises significantly
beyond the loss tolerance.

G is shared and representative: it is judged sample by sample. Non-IID data is the normal case
for L: a validator whose L holds few classes judges L per class (each class present weighs the
same), and L speaks for what G cannot see, so an L degradation vetoes a step only beyond what
G already shows of it: what the step gains on G overall, plus what it loses on G on the classes
that L holds (answers for the accuracy test, relative loss for the loss test). An honest step
that helps the classes a validator lacks gains on G what it costs on that validator's L and
passes — even the first steps away from a model that answers one class for everything, which
trade all of a class's answers for more of another's; a step that harms this validator's
population more than G's, or loses on L without gaining on G, fails.
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


def net_gain_on_classes(parent: Evaluation, candidate: Evaluation, classes: np.ndarray) -> float:
    """`net_gain` restricted to the samples of `classes` (each class present weighing the same;
    a class this set lacks counts as unchanged)."""
    shares = []
    for label in np.unique(classes).tolist():
        mask = parent.labels == label
        gained = float(np.sum(~parent.correct[mask] & candidate.correct[mask]))
        lost = float(np.sum(parent.correct[mask] & ~candidate.correct[mask]))
        shares.append((gained - lost) / max(1, int(np.sum(mask))))
    return float(np.mean(shares))


def loss_rise_on_classes(parent: Evaluation, candidate: Evaluation, classes: np.ndarray) -> float:
    """Relative rise of the mean loss on the samples of `classes` (each class present weighing
    the same; a class this set lacks counts as unchanged)."""
    rises = []
    for label in np.unique(classes).tolist():
        mask = parent.labels == label
        if not mask.any():
            rises.append(0.0)
            continue
        before = float(np.mean(parent.losses[mask]))
        rises.append((float(np.mean(candidate.losses[mask])) - before) / max(before, 1e-6))
    return float(np.mean(rises))


def degradation(
    parent: Evaluation,
    candidate: Evaluation,
    tolerance: Tolerance,
    balanced: bool = False,
    allowance: float = 0.0,
    loss_allowance: float | None = None,
) -> str | None:
    """Why `candidate` is significantly worse than `parent` on this set, or None.

    `allowance` widens the accuracy tolerance (a share of answers) and, unless `loss_allowance`
    is given, the loss tolerance (relatively).
    """
    weights = _class_balanced_weights(parent.labels) if balanced else np.ones(parent.samples)
    lost_mask = parent.correct & ~candidate.correct
    changed = lost_mask | (~parent.correct & candidate.correct)
    net = float(np.sum(weights * lost_mask)) - float(np.sum(weights * (changed & ~lost_mask)))
    # Under "no real change" each changed answer is lost or gained at even odds: the weighted
    # net's standard deviation is √Σw² over them (√(lost + gained) when unweighted), so one
    # heavily weighted sample of a rare class is never significant on its own.
    spread = float(np.sqrt(np.sum(weights[changed] ** 2)))
    if net > (tolerance.accuracy + allowance) * float(np.sum(weights)) and net > tolerance.z * spread:
        return "accuracy"
    rise = candidate.losses - parent.losses
    allowed = (tolerance.loss + (allowance if loss_allowance is None else loss_allowance)) * max(parent.loss, 1e-6)
    noise = tolerance.z * float(np.std(rise)) / np.sqrt(len(rise)) if len(rise) > 1 else 0.0
    if float(np.mean(rise)) > allowed + noise:
        return "loss"
    return None


LOSS_EFFECT = 0.02  # a relative drop of the mean loss below which no update is harmful by loss


def lowers_loss(before: Evaluation, after: Evaluation, z: float, effect: float = LOSS_EFFECT) -> bool:
    """Whether `after`'s mean loss is significantly below `before`'s on the same samples (a
    one-sided paired test) by at least `effect` of it. Without a least effect, a paired test
    finds any consistent difference: four near-copies of one step each lowered the loss of the
    other three's aggregate by a hair, significantly, and were all judged harmful."""
    drop = before.losses - after.losses
    if len(drop) < 2:
        return False
    mean = float(np.mean(drop))
    return mean > effect * float(np.mean(before.losses)) and mean > z * float(np.std(drop)) / np.sqrt(len(drop))


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
    classes = parent_local.labels
    seen = max(0.0, -net_gain_on_classes(parent_global, candidate_global, classes))
    seen_loss = max(0.0, loss_rise_on_classes(parent_global, candidate_global, classes))
    why = degradation(
        parent_local, candidate_local, tolerance, balanced=True, allowance=gain + seen, loss_allowance=gain + seen_loss
    )
    if why is not None:
        return Verdict(False, f"local-{why}")
    return Verdict(True, "ok")


def _class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give each present class the same total weight, summing to n."""
    classes, counts = np.unique(labels, return_counts=True)
    per_class = len(labels) / (len(classes) * counts)
    lookup = dict(zip(classes.tolist(), per_class.tolist(), strict=True))
    return np.array([lookup[label] for label in labels.tolist()])
