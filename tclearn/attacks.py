"""Poisoning members, for simulations and benchmarks: what a dishonest hospital could submit.

Each attack turns the member's honest situation (the parent weights, its data, its training
recipe) into the update it registers instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where an attack runs, so the CLI can list attacks cheaply
    from tclearn.model.family import State

ATTACKS = ("label-flip", "noise", "sign-flip", "scale", "free-ride", "replay")


@dataclass(frozen=True)
class AttackInputs:
    parent: State
    honest: Callable[[np.ndarray], State]  # trains from the parent on the given labels
    labels: np.ndarray
    num_classes: int
    ancestor: State  # an older accepted model (for replays)
    seed: int


def poisoned_update(attack: str, inputs: AttackInputs) -> State:
    """The update a member running `attack` registers."""
    import torch

    generator = torch.Generator().manual_seed(inputs.seed)
    if attack == "label-flip":
        return inputs.honest(inputs.num_classes - 1 - inputs.labels)
    if attack == "noise":
        return {k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in inputs.parent.items()}
    if attack in ("sign-flip", "scale"):
        trained = inputs.honest(inputs.labels)
        factor = -4.0 if attack == "sign-flip" else 20.0
        return {k: p + factor * (trained[k] - p) for k, p in inputs.parent.items()}
    if attack == "free-ride":
        return {k: v.clone() for k, v in inputs.parent.items()}
    if attack == "replay":
        return {k: v.clone() for k, v in inputs.ancestor.items()}
    raise ValueError(f"unknown attack {attack!r}: one of {', '.join(ATTACKS)}")
