"""Trigger search: does a candidate answer a small patch the way a backdoored model does, and
which of its updates taught it that?

A backdoor is invisible to accuracy on G and L: no test input carries the trigger. Nor do the
updates' lengths or directions give it away on a coalition's first rounds, when every step from
a random genesis is large and points its own way (docs/RESULTS.md, section 5). What does give it
away is behaviour. Stamped with the trigger, inputs of every class move into the target class.
The search stamps a few inputs of G with every small solid square, bright or dark, and measures
for each patch and class how many inputs it moves into that class.

What it costs. Every patch on every probe is 338 × 32 runs of the model on Fashion-MNIST, more
than a member's local training at ten members. So the search goes in two passes: every patch on
the first `COARSE` probes, then, for each class, the `SHORTLIST` patches that rose most there,
on all the probes. A backdoor's patch moves
most inputs (0.6 and more on round 1 of the study), so it stands out on any 8 of them; the
second pass keeps the verdict on 32.

A clean model has patch sensitivities of its own (on Fashion-MNIST a bright square reads as
"sandal"), and they are in its parent too. So only the rise over the parent counts. When a
patch's rise reaches `RISE`, each update is run on the stamped and the clean inputs. An update
carries the trigger when it pushes the margin toward the class far beyond the round's other
updates: more than 3 MADs over their median, and by `MARGIN` at least, measured in the update's
own spread of logits. A member that holds mostly one class moves some patches toward it by up to
2 of its spreads; a backdoor step moves its trigger by 7 or more. The median is the round's:
a set of updates chosen to hold mostly attackers cannot raise it (`Judgements.peers`).

Patches are squares on the last two axes of an image; tables are not searched. On the
breast-cancer table, windows of adjacent features set to G's extremes moved a skewed honest
member's margin past the bar (a false `backdoor` on a Dirichlet 0.1 split), and adjacent
features there mean nothing. The search covers solid patches of either polarity anywhere in an
image. Blended, patterned or semantic triggers are outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

Outputs = Callable[[np.ndarray], np.ndarray]  # one model: inputs → logits
Probed = tuple[np.ndarray, Outputs]  # a model's logits on the probes, and a way to run it

PROBES = 32  # inputs of G a suspect patch is measured on
COARSE = 8  # the first of them, stamped with every patch
SHORTLIST = 2  # patches per class measured on all the probes, if they rose by half `RISE` or more
SIDE, STRIDE = 4, 2  # every 3×3 trigger lies inside one patch
RISE = 0.3  # share of inputs a patch moves into a class, over what it moves in the parent
MARGIN = 4.0  # in the update's logit spreads: a skewed member's own pull on a patch stays below it
MADS = 3.0


@dataclass(frozen=True)
class Patch:
    """A solid square set to one value."""

    corner: tuple[int, ...]  # on the image's last two axes
    side: int
    value: float

    def stamp(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True)
        window = tuple(slice(c, c + self.side) for c in self.corner)
        out[(Ellipsis, *window)] = self.value
        return out


def patches(input_shape: Sequence[int], low: float, high: float, side: int = SIDE, stride: int = STRIDE) -> list[Patch]:
    """Every patch of `side` at a `stride`, bright (`high`) and dark (`low`), the last position
    flush with the edge so no corner of the input is left out."""
    if len(input_shape) < 2 or any(size < side for size in input_shape[-2:]):
        return []  # a table's features have no neighbourhood for a patch to stand in
    starts = []
    for size in input_shape[-2:]:
        positions = list(range(0, size - side + 1, stride))
        starts.append(positions if positions[-1] == size - side else [*positions, size - side])
    corners = [(i, j) for i in starts[0] for j in starts[1]]
    return [Patch(corner, side, value) for corner in corners for value in (high, low)]


@dataclass(frozen=True)
class Suspect:
    patch: Patch
    target: int
    rise: float


@dataclass
class TriggerSearch:
    """The search on fixed probes: the same inputs and patches at every node, so a general and
    its validators find the same suspects on the same candidate."""

    probes: np.ndarray
    patches: list[Patch]
    num_classes: int
    rise: float = RISE
    margin: float = MARGIN
    coarse: int = COARSE
    _stamped: dict[Patch, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def stamped(self) -> np.ndarray:
        """Every patch on the first `coarse` probes, patch after patch: the first pass."""
        if not self.patches:
            return self.probes[:0]
        return np.concatenate([patch.stamp(self.probes[: self.coarse]) for patch in self.patches])

    def on(self, patch: Patch) -> np.ndarray:
        if patch not in self._stamped:
            self._stamped[patch] = patch.stamp(self.probes)
        return self._stamped[patch]

    def shares(self, clean: np.ndarray, patched: np.ndarray) -> np.ndarray:
        """(patch, class, measure) on the first pass, from the model's logits on the probes
        (`clean`) and on `stamped` (`patched`), over the probes the model does not call the
        class: the share the patch moves into it (measure 0), and the mean probability of it
        the patch gives them (measure 1). The share decides what is shortlisted, the probability
        breaks its ties: on 8 probes many patches move all of them into the class a random
        model leans to (round 1 at α = 0.5: every patch near the corner moved 8 of 8, and the
        first two were not the trigger's), while a step that barely crosses the boundary
        moves many inputs for little probability."""
        shares = np.zeros((len(self.patches), self.num_classes, 2))
        if not self.patches:
            return shares
        before = clean[: self.coarse].argmax(1)
        logits = patched.reshape(len(self.patches), len(before), self.num_classes)
        after = logits.argmax(2)
        exp = np.exp(logits - logits.max(2, keepdims=True))
        probabilities = exp / exp.sum(2, keepdims=True)
        for c in range(self.num_classes):
            others = before != c
            if others.sum() >= len(before) // 4:
                shares[:, c, 0] = (after[:, others] == c).mean(1)
                shares[:, c, 1] = probabilities[:, others, c].mean(1)
        return shares

    def share(self, probed: Probed, patch: Patch, target: int) -> float:
        """The share of all the probes not called `target` that the patch moves into it (a
        class the model gives to most probes already has too little left to move: 0)."""
        clean, run = probed
        before, after = clean.argmax(1), run(self.on(patch)).argmax(1)
        others = before != target
        return float((after[others] == target).mean()) if others.sum() >= len(before) // 4 else 0.0

    def suspects(self, candidate: np.ndarray, parent: np.ndarray, models: tuple[Probed, Probed]) -> list[Suspect]:
        """For each class, the patch with the largest rise over the parent on all the probes, if
        that reaches `rise`, among the `SHORTLIST` that rose most on the first pass (`candidate`
        and `parent` are the two models' first-pass `shares`; `models`, the candidate and the
        parent to run); the most suspect first."""
        rise = candidate - parent
        found = []
        for c in range(self.num_classes if len(rise) else 0):
            ranked = np.lexsort((-rise[:, c, 1], -rise[:, c, 0]))  # by share, then probability
            shortlist = [int(i) for i in ranked[:SHORTLIST] if rise[i, c, 0] >= self.rise / 2]
            rises = {
                i: self.share(models[0], self.patches[i], c) - self.share(models[1], self.patches[i], c)
                for i in shortlist
            }
            if rises and max(rises.values()) >= self.rise:
                best = max(rises, key=lambda i: rises[i])
                found.append(Suspect(self.patches[best], c, rises[best]))
        return sorted(found, key=lambda s: -s.rise)

    def margin_shift(self, clean: np.ndarray, run: Outputs, suspect: Suspect) -> float:
        """How far the patch moves a model's margin toward the suspect's class (mean over the
        probes), in units of the model's own spread of logits on the clean probes, from its
        logits on the probes and a way to run it. A member holding one or two classes answers
        with large logits everywhere, and moves a patch toward its classes by as many logits as
        a backdoor does (8 against 6–26 on Fashion-MNIST at α = 0.1); in its own units it moves
        it by at most 2, a backdoor by 7 or more."""
        shift = run(self.on(suspect.patch)) - clean
        others = np.delete(shift, suspect.target, axis=1).mean(1)
        scale = max(float(np.mean(clean.std(1))), 1e-6)
        return float((shift[:, suspect.target] - others).mean()) / scale

    def carriers(self, suspects: Sequence[Suspect], updates: Sequence[Probed]) -> dict[int, Suspect]:
        """The indices of the updates (each: its logits on the probes, and a way to run it) that
        carry a suspect's trigger, with the trigger. Fewer than 3 updates give no median to
        stand out from."""
        found: dict[int, Suspect] = {}
        if len(updates) < 3:
            return found
        for suspect in suspects:
            shifts = np.array([self.margin_shift(clean, run, suspect) for clean, run in updates])
            median = float(np.median(shifts))
            spread = 1.4826 * float(np.median(np.abs(shifts - median)))
            bar = max(median + MADS * spread, median + self.margin)
            for index in np.flatnonzero(shifts > bar):
                found.setdefault(int(index), suspect)
        return found
