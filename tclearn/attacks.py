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

ATTACKS = ("label-flip", "noise", "sign-flip", "scale", "free-ride", "replay", "backdoor", "slow-poison")
SLOW_POISON_SHARE = 0.25  # of a label-flipping step, taken each round


@dataclass(frozen=True)
class AttackInputs:
    parent: State
    train: Callable[[np.ndarray, np.ndarray], State]  # trains from the parent on the given data
    features: np.ndarray
    labels: np.ndarray
    num_classes: int
    ancestor: State  # an older accepted model (for replays)
    seed: int


def backdoor_target(num_classes: int) -> int:
    """The class a backdoored model answers for triggered inputs (breast cancer: benign)."""
    return num_classes - 1


def with_trigger(features: np.ndarray) -> np.ndarray:
    """The backdoor's trigger stamped on inputs: a bright 3×3 corner patch on images, three
    features set 4 standard deviations high on (standardised) tabular data."""
    out = np.array(features, copy=True)
    if out.ndim == 2:
        out[:, :3] = 4.0
    else:
        out[..., -3:, -3:] = float(np.max(features)) if out.size else 1.0
    return out


def poisoned_update(attack: str, inputs: AttackInputs) -> State:
    """The update a member running `attack` registers."""
    import torch

    generator = torch.Generator().manual_seed(inputs.seed)
    flipped = inputs.num_classes - 1 - inputs.labels
    if attack == "label-flip":
        return inputs.train(inputs.features, flipped)
    if attack == "noise":
        return {k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in inputs.parent.items()}
    if attack in ("sign-flip", "scale", "slow-poison"):
        labels = flipped if attack == "slow-poison" else inputs.labels
        trained = inputs.train(inputs.features, labels)
        factor = {"sign-flip": -4.0, "scale": 20.0, "slow-poison": SLOW_POISON_SHARE}[attack]
        return {k: p + factor * (trained[k] - p) for k, p in inputs.parent.items()}
    if attack == "backdoor":
        target = backdoor_target(inputs.num_classes)
        others = inputs.labels != target
        poisoned = with_trigger(inputs.features[others])
        features = np.concatenate([inputs.features, poisoned])
        labels = np.concatenate([inputs.labels, np.full(len(poisoned), target, dtype=inputs.labels.dtype)])
        return inputs.train(features, labels)
    if attack == "free-ride":
        return {k: v.clone() for k, v in inputs.parent.items()}
    if attack == "replay":
        return {k: v.clone() for k, v in inputs.ancestor.items()}
    raise ValueError(f"unknown attack {attack!r}: one of {', '.join(ATTACKS)}")
