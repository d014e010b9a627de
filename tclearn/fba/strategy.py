"""How a coalition turns the updates trained on its head into one candidate: its learning strategy.

As in Flower, each learning mode is one small object with two verbs: `select` chooses which of
the well-formed updates go into the candidate (the general's judgement), `combine` makes the
candidate's weights from them (which every validator recomputes). The coalition's rules name
one strategy; the general and every validator build it from those rules, so a candidate that
declares another recipe than the coalition's is refused for integrity.

- `Sequential`: the candidate is one member's step, the oldest that does not degrade the head
  (at a shorter step toward it when every step on the head would, `STUCK_AFTER`).
- `FederatedAveraging`: the candidate aggregates the updates that survive screening, by the
  coalition's aggregation rule (`tclearn.fba.aggregate`).
- `Unscreened`: the plain federated-learning baseline: every well-formed update goes in and
  validators accept every candidate (no FBA). For measuring what the FBA adds, never for a
  real coalition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tclearn.fba.aggregate import Weights
from tclearn.fba.aggregate import rule as aggregation_rule

if TYPE_CHECKING:
    from tclearn.fba.screening import Item, Screening
    from tclearn.model.family import ModelFamily, State

LEARNING_MODES = ("fedavg", "sequential")
# How far a candidate may move from its parent toward its updates' aggregate (a server learning
# rate). On skewed data the full aggregate of honest steps can overshoot and fall below its parent
# for a round; half or a quarter of the same step keeps every member's work in the block, where
# leaving members out would tilt the model toward the rest. The candidate's metadata declares
# the step, and validators rebuild it with that step.
SERVER_STEPS = (1.0, 0.5, 0.25)
# Updates on a head that all degrade it at their full step before sequential learning takes one
# at a shorter step (`Sequential.select`): a coalition that would otherwise stall.
STUCK_AFTER = 3


def declared_step(metadata: Mapping[str, Any]) -> float | None:
    """The step a candidate's metadata declares (1 when it names none), or None when it is not
    one the coalition takes."""
    step = metadata.get("step", 1.0)
    return float(step) if isinstance(step, int | float) and step in SERVER_STEPS else None


AGGREGATORS = ("mean", "median", "trimmed-mean", "krum", "multi-krum")


class Strategy(ABC):
    """One learning mode: which updates a candidate holds, and how they combine."""

    learning: str
    screens: bool = True  # False: no screening by the general, no judgement by validators

    @abstractmethod
    def select(self, screening: Screening, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        """The updates the candidate holds, among those that passed integrity (`excluded` gets
        the reason of each one left out)."""

    @abstractmethod
    def combine_arrays(self, arrays: Sequence[Weights], samples: Sequence[int]) -> Weights:
        """The rule applied to one list of arrays per update: their weights (the candidate), or
        their outputs on a test sample (the screening's stand-in for the candidate's outputs)."""

    def combine(self, family: ModelFamily, states: Sequence[State], samples: Sequence[int]) -> State:
        """The candidate's weights from the chosen updates' weights and sample counts."""
        return family.from_arrays(self.combine_arrays([family.to_arrays(s) for s in states], samples))

    @abstractmethod
    def recipe(self) -> dict[str, Any]:
        """What a candidate's metadata declares of how it was made (checked by validators)."""

    def trainers(self, round_number: int, members: int) -> list[int]:
        """Which members train in a round (a simulation's schedule): all of them."""
        return list(range(members))

    def metadata(self, update_ids: Sequence[int], excluded: Mapping[int, str], step: float = 1.0) -> dict[str, Any]:
        """The candidate's metadata document (stored; its digest goes on chain); `step` only when
        the candidate takes less than its aggregate's full step."""
        return {
            **self.recipe(),
            "updates": list(update_ids),
            "excluded": {str(k): v for k, v in sorted(excluded.items())},
        } | ({} if step == 1.0 else {"step": step})

    def declared_by(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a candidate's metadata declares this strategy's recipe."""
        return all(metadata.get(key) == value for key, value in self.recipe().items())


@dataclass(frozen=True)
class Sequential(Strategy):
    learning: str = "sequential"

    def select(self, screening: Screening, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        """The oldest update that does not degrade the parent; once `STUCK_AFTER` updates on the
        head all degrade it, the oldest that does not at a shorter step (`SERVER_STEPS`).

        A member whose data hold one class pulls a good model far toward it, and its whole step
        falls back to answering that class for everything: on a skewed split every honest step
        can degrade the head, which then never moves (breast cancer, α = 0.5: from round 6 at
        0.851). A shorter step keeps such a member's work. It also dilutes a poisoned step
        below what the vote can see, so it is taken only when the coalition would otherwise
        stall: offered at every turn it let 23 and 35 of 40 label-flipping steps in and a
        backdoor to 0.905 and 0.976 on the near-IID split, where full steps had kept them out.
        A member's newer update on the same head supersedes its older one, so a head that does
        not move costs a round no more judgements than it has members."""
        newest = {item.record.member: item.id for item in passing}
        current = [item for item in passing if newest[item.record.member] == item.id]
        excluded.update({item.id: "superseded" for item in passing if newest[item.record.member] != item.id})
        refused = screening.refused_steps
        chosen = next((u for u in current if (u.id,) not in refused and screening.viable([u])), None)
        if chosen is None and len(passing) >= STUCK_AFTER:
            for item in current:
                if (step := screening.viable_step([item], below=refused.get((item.id,), 1.0))) is not None:
                    screening.step, chosen = step, item
                    break
        passed_over = current[: current.index(chosen)] if chosen else current
        for item in passed_over:
            excluded[item.id] = "in-rejected-candidate" if (item.id,) in refused else "degrades-parent"
        return [chosen] if chosen else []

    def trainers(self, round_number: int, members: int) -> list[int]:
        """One member a round, in turn: each trains the model the previous one made."""
        return [round_number % members]

    def combine_arrays(self, arrays: Sequence[Weights], samples: Sequence[int]) -> Weights:
        if len(arrays) != 1:
            raise ValueError("a sequential block holds exactly one update")
        return list(arrays[0])

    def recipe(self) -> dict[str, Any]:
        return {"learning": self.learning}


@dataclass(frozen=True)
class FederatedAveraging(Strategy):
    rule: str = "mean"
    params: Mapping[str, Any] = field(default_factory=dict)
    learning: str = "fedavg"

    def __post_init__(self) -> None:
        if self.rule not in AGGREGATORS:
            raise ValueError(f"unknown aggregation rule {self.rule!r}: one of {', '.join(AGGREGATORS)}")

    def select(self, screening: Screening, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        return screening.select_viable(passing, excluded)

    def combine_arrays(self, arrays: Sequence[Weights], samples: Sequence[int]) -> Weights:
        return aggregation_rule(self.rule, **dict(self.params))(arrays, samples)

    def recipe(self) -> dict[str, Any]:
        return {"learning": self.learning, "rule": self.rule, "params": dict(self.params)}


@dataclass(frozen=True)
class Unscreened(Strategy):
    inner: Strategy = field(default_factory=FederatedAveraging)
    screens: bool = False

    @property
    def learning(self) -> str:  # type: ignore[override]
        return self.inner.learning

    def select(self, screening: Screening, passing: list[Item], excluded: dict[int, str]) -> list[Item]:
        return passing[:1] if isinstance(self.inner, Sequential) else passing

    def combine_arrays(self, arrays: Sequence[Weights], samples: Sequence[int]) -> Weights:
        return self.inner.combine_arrays(arrays, samples)

    def trainers(self, round_number: int, members: int) -> list[int]:
        return self.inner.trainers(round_number, members)

    def recipe(self) -> dict[str, Any]:
        return {**self.inner.recipe(), "screened": False}


@dataclass(frozen=True)
class Careless(Unscreened):
    """A Byzantine general's way: it declares the coalition's recipe and leaves nothing out that
    passed integrity, attackers' updates included (`tclearn.attacks.rogue_general`). Only the
    validators' votes stand between its candidate and the head."""

    screens: bool = True  # integrity still refuses what cannot be read or is an outlier

    def recipe(self) -> dict[str, Any]:
        return self.inner.recipe()


def strategy_for(
    learning: str, rule: str = "mean", params: Mapping[str, Any] | None = None, screen: bool = True
) -> Strategy:
    """The strategy a coalition's rules name."""
    if learning == "sequential":
        chosen: Strategy = Sequential()
    elif learning == "fedavg":
        chosen = FederatedAveraging(rule, dict(params or {}))
    else:
        raise ValueError(f"unknown learning mode {learning!r}: one of {', '.join(LEARNING_MODES)}")
    return chosen if screen else Unscreened(chosen)
