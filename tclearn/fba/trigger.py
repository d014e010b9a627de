"""Trigger search: does a candidate answer a small patch the way a backdoored model does, and
which of its updates taught it that?

A backdoor is invisible to accuracy on G and L: no test input carries the trigger. Nor do the
updates' lengths or directions give it away on a coalition's first rounds, when every step from
a random genesis is large and points its own way (docs/RESULTS.md, section 5). What does give it
away is behaviour. Stamped with the trigger, inputs of every class move into the target class.
The search stamps a few inputs of G with every small solid square, bright or dark, and measures
for each patch and class how far it moves the model's margin toward that class.

What it costs. Every patch on every probe is 338 × 32 runs of the model on Fashion-MNIST, more
than a member's local training at ten members. So the search stamps every patch on the first
`COARSE` probes only, and measures how far each moves the model's margin toward each class.
The model searched is the round's updates' mean (`Judgements.pooled`), whatever the coalition's
rule. For each class the patch that pulls it hardest over the parent is a suspect, and the
`SUSPECTS` strongest of them are put to the updates on all the probes.

Why a pull and not a share of moved inputs, and why every round. Three attackers among ten
members pull the aggregate's margin toward their target by 0.8 to 3.5 of its spreads, and in
every round studied on Fashion-MNIST (six at α = 0.5 and six at α = 0.1) theirs was the
strongest pull of every patch and class. Diluted so, they turn few inputs at once: the backdoor used to creep in at
0.1 to 0.3 of G a round, under a bar on the share of inputs moved, until every update carried
it (docs/RESULTS.md, section 6). The strongest pull is searched every round, and only the
updates decide: a clean round's strongest pulls are nobody's in particular.

A clean model has patch sensitivities of its own (on Fashion-MNIST a bright square reads as
"sandal"), and they are in its parent too: so only the rise over the parent counts. Each update
is then run on the suspects' stamped inputs and on the clean ones. An update carries the trigger
when it pushes the margin toward the class far beyond the round's other updates: more than 3
MADs over their median, and by `MARGIN` at least, measured in the update's own spread of
logits. A member that holds mostly one class moves some patches toward it by up to 2 of its
spreads; the attackers of the study moved their trigger by 5 to 9 in the first rounds and by 3
to 7 by round 18, as their models grew confident (a bar of 4 let one in from round 17). The
median is the round's: a set of updates chosen to hold mostly attackers cannot raise it
(`Judgements.peers`).

Patches are squares on the last two axes of an image. The search covers solid patches of either
polarity anywhere in an image. Blended, patterned or semantic triggers are outside it.

Tables. A table's features have no neighbourhood, and a trigger sets a few of them, any few, to
values a patient rarely shows. The first pass sets every two features together, each at G's
highest or lowest value of it (`stamps`: 1,740 on the breast-cancer table; one feature at a time
where a table is so wide that pairs would pass `TABLE_STAMPS`); each class's suspect then grows a
feature at a time while its rise over the parent grows by a fifth (`grown`, up to `GROWN`
features), and the updates are measured on the grown stamp. One feature at a time was not
enough: on the breast-cancer table (2 of 6 members attacking with a 3-feature trigger, α = 0.5,
seed 2) each of the trigger's features alone ranked 17th to 31st of 60 in the round the backdoor
got in, and it ended at 0.095 of G; pairs grown (as every triple, 32,480 stamps) kept it at 0.024.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations, product

import numpy as np

Outputs = Callable[[np.ndarray], np.ndarray]  # one model: inputs → logits
Probed = tuple[np.ndarray, Outputs]  # a model's logits on the probes, and a way to run it

PROBES = 32  # inputs of G a suspect patch is measured on
COARSE = 8  # the first of them, stamped with every patch
SUSPECTS = 3  # classes whose strongest patch is put to the updates, those pulled hardest first
SIDE, STRIDE = 4, 2  # every 3×3 trigger lies inside one patch
MARGIN = 2.5  # in the update's logit spreads: above a skewed member's own pull (2), below a late attacker's (3)
MADS = 3.0
TABLE_STAMPS = 20_000  # a table's first pass sets pairs of features while they are this many or fewer
GROWN, GROWTH = 5, 1.2  # a table's suspect: at most this many features, each added raising its rise a fifth


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
class Stamp:
    """Features of a table set to values: a table's trigger, grown one feature at a time."""

    features: tuple[int, ...]
    values: tuple[float, ...]

    def stamp(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True)
        out[..., list(self.features)] = self.values
        return out

    def extended(self, feature: int, value: float) -> Stamp:
        return Stamp((*self.features, feature), (*self.values, value))


def stamps(low: np.ndarray, high: np.ndarray, size: int | None = None) -> list[Stamp]:
    """Every `size` features of a table together, each at G's highest or lowest value of it:
    the first pass. By default pairs, or single features where pairs would pass `TABLE_STAMPS`."""
    count = len(low)
    if size is None:
        size = 2 if 4 * count * (count - 1) // 2 <= TABLE_STAMPS else 1
    ends = [(float(high[f]), float(low[f])) for f in range(count)]
    return [
        Stamp(chosen, values)
        for chosen in combinations(range(count), size)
        for values in product(*(ends[f] for f in chosen))
    ]


Trigger = Patch | Stamp


@dataclass(frozen=True)
class Suspect:
    patch: Trigger
    target: int
    rise: float


@dataclass
class TriggerSearch:
    """The search on fixed probes: the same inputs and patches at every node, so a general and
    its validators find the same suspects on the same candidate."""

    probes: np.ndarray
    patches: list[Trigger]
    num_classes: int
    margin: float = MARGIN
    coarse: int = COARSE
    _stamped: dict[Trigger, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def stamped(self) -> np.ndarray:
        """Every patch on the first `coarse` probes, patch after patch: the first pass."""
        if not self.patches:
            return self.probes[:0]
        return np.concatenate([patch.stamp(self.probes[: self.coarse]) for patch in self.patches])

    @cached_property
    def ends(self) -> list[tuple[int, float]]:
        """A table's features, each at each of the values the first pass sets it to."""
        found = {pair for p in self.patches if isinstance(p, Stamp) for pair in zip(p.features, p.values, strict=True)}
        return sorted(found)

    def on(self, patch: Trigger) -> np.ndarray:
        """The probes stamped with `patch`; kept for the first pass's patches only (a table's grown
        stamps differ from round to round, and a daemon runs for many)."""
        if patch in self._stamped:
            return self._stamped[patch]
        stamped = patch.stamp(self.probes)
        if patch in self.first_pass:
            self._stamped[patch] = stamped
        return stamped

    @cached_property
    def first_pass(self) -> frozenset[Trigger]:
        return frozenset(self.patches)

    def pulls(self, clean: np.ndarray, patched: np.ndarray) -> np.ndarray:
        """(patch, class): how far each patch moves the model's margin toward each class on the
        first pass, from its logits on the probes (`clean`) and on `stamped` (`patched`; or on
        the first probes stamped with any other patches, patch after patch). The margin toward a
        class is its logit less the mean of the others'; the pull is its mean change over the
        first `coarse` probes, in the model's spread of logits on them (as `margin_shift`
        measures an update)."""
        if not len(patched):
            return np.zeros((0, self.num_classes))
        before = clean[: self.coarse]
        shift = patched.reshape(-1, len(before), self.num_classes) - before
        toward = shift - (shift.sum(2, keepdims=True) - shift) / (self.num_classes - 1)
        return toward.mean(1) / max(float(np.mean(before.std(1))), 1e-6)

    def suspects(self, candidate: np.ndarray, parent: np.ndarray) -> list[Suspect]:
        """For each class, the patch whose pull rose most over the parent's (`candidate` and
        `parent` are the two models' `pulls`); of those, the `SUSPECTS` that rose most, if they
        rose at all, the most suspect first."""
        rise = candidate - parent
        if not len(rise):
            return []
        best = rise.argmax(0)
        found = [Suspect(self.patches[int(best[c])], c, float(rise[best[c], c])) for c in range(self.num_classes)]
        return sorted((s for s in found if s.rise > 0), key=lambda s: -s.rise)[:SUSPECTS]

    def grown(self, suspects: Sequence[Suspect], candidate: Outputs, parent: Outputs) -> list[Suspect]:
        """A table's suspects, each grown feature by feature (up to `GROWN` features) while its
        rise over the parent grows by `GROWTH` or more: a trigger of more features than the
        first pass sets moves a model that learnt it less when only some of them are set. The
        pull is measured as in `pulls`, on the first `coarse` probes. Patches are returned as
        they are."""
        before = self.probes[: self.coarse]
        clean_c, clean_p = candidate(before), parent(before)

        def rises(options: list[Stamp], target: int) -> np.ndarray:
            stamped = np.concatenate([option.stamp(before) for option in options])
            return (self.pulls(clean_c, candidate(stamped)) - self.pulls(clean_p, parent(stamped)))[:, target]

        out = []
        for suspect in suspects:
            trigger, best = suspect.patch, suspect.rise
            while isinstance(trigger, Stamp) and len(trigger.features) < GROWN:
                options = [trigger.extended(f, v) for f, v in self.ends if f not in trigger.features]
                if not options:
                    break
                found = rises(options, suspect.target)
                if float(found.max()) < best * GROWTH:
                    break
                trigger, best = options[int(found.argmax())], float(found.max())
            out.append(Suspect(trigger, suspect.target, best))
        return out

    def _pull(self, clean: np.ndarray, stamped: np.ndarray, target: int) -> float:
        """How far stamped inputs move the margin toward `target`, in the clean logits' spread."""
        shift = stamped - clean
        others = np.delete(shift, target, axis=1).mean(1)
        return float((shift[:, target] - others).mean()) / max(float(np.mean(clean.std(1))), 1e-6)

    def margin_shift(self, clean: np.ndarray, run: Outputs, suspect: Suspect) -> float:
        """How far the patch moves a model's margin toward the suspect's class (mean over the
        probes), in units of the model's own spread of logits on the clean probes, from its
        logits on the probes and a way to run it. A member holding one or two classes answers
        with large logits everywhere, and moves a patch toward its classes by as many logits as
        a backdoor does (8 against 6–26 on Fashion-MNIST at α = 0.1); in its own units it moves
        it by at most 2, a backdoor by 3 to 9."""
        return self._pull(clean, run(self.on(suspect.patch)), suspect.target)

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
