"""Aggregation rules: pure functions over members' weights, no chain, no network.

A model is a list of numpy arrays (one per tensor, in a fixed order); each rule takes one such
list per update (and the sample counts where they matter) and returns the aggregate. The
semantics follow Flower's reference implementations (`flwr.server.strategy.aggregate`), which
the tests compare against on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Weights = list[np.ndarray]


def weighted_mean(updates: Sequence[Weights], samples: Sequence[int]) -> Weights:
    """FedAvg: each tensor averaged, weighted by the samples each member trained on."""
    total = float(sum(samples))
    return [
        sum(layer * n for layer, n in zip(layers, samples, strict=True)) / total
        for layers in zip(*updates, strict=True)
    ]


def coordinate_median(updates: Sequence[Weights]) -> Weights:
    """Each coordinate's median across updates (Yin et al. 2018)."""
    return [np.median(np.stack(layers), axis=0) for layers in zip(*updates, strict=True)]


def trimmed_mean(updates: Sequence[Weights], beta: float) -> Weights:
    """Each coordinate's mean after dropping the ⌊β·n⌋ largest and smallest values (Yin et al. 2018)."""
    if not 0.0 <= beta < 0.5:
        raise ValueError("the trimmed fraction β must lie in [0, 0.5)")
    cut = int(beta * len(updates))
    keep = slice(cut, len(updates) - cut)
    return [np.sort(np.stack(layers), axis=0)[keep].mean(axis=0) for layers in zip(*updates, strict=True)]


def krum_scores(updates: Sequence[Weights], num_malicious: int) -> np.ndarray:
    """Krum score of each update: summed squared distance to its n−f−2 nearest others."""
    flat = np.stack([np.concatenate([layer.ravel() for layer in update]) for update in updates])
    squared = ((flat[:, None, :] - flat[None, :, :]) ** 2).sum(axis=2)
    nearest = max(1, len(updates) - num_malicious - 2)
    return np.array([np.sort(np.delete(row, i))[:nearest].sum() for i, row in enumerate(squared)])


def krum(updates: Sequence[Weights], num_malicious: int) -> Weights:
    """The single update with the lowest Krum score (Blanchard et al. 2017)."""
    return [layer.copy() for layer in updates[int(np.argmin(krum_scores(updates, num_malicious)))]]


def multi_krum(updates: Sequence[Weights], samples: Sequence[int], num_malicious: int, keep: int) -> Weights:
    """FedAvg over the `keep` updates with the lowest Krum scores."""
    chosen = np.argsort(krum_scores(updates, num_malicious), kind="stable")[:keep]
    return weighted_mean([updates[i] for i in chosen], [samples[i] for i in chosen])


def toward(parent: Weights, target: Weights, step: float) -> Weights:
    """The parent moved `step` of the way to `target`: a server learning rate (FedOpt's η)."""
    return [p + step * (t - p) for p, t in zip(parent, target, strict=True)]


Rule = Callable[[Sequence[Weights], Sequence[int]], Weights]


def rule(name: str, num_malicious: int = 1, beta: float = 0.2, keep: int | None = None) -> Rule:
    """An aggregation rule by name, with its parameters bound: `(updates, samples) -> weights`."""
    rules: dict[str, Rule] = {
        "mean": weighted_mean,
        "median": lambda u, s: coordinate_median(u),
        "trimmed-mean": lambda u, s: trimmed_mean(u, beta),
        "krum": lambda u, s: krum(u, num_malicious),
        "multi-krum": lambda u, s: multi_krum(u, s, num_malicious, keep or max(1, len(u) - num_malicious)),
    }
    try:
        return rules[name]
    except KeyError as exc:
        raise ValueError(f"unknown aggregation rule {name!r}: one of {', '.join(rules)}") from exc
