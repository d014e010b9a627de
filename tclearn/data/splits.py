"""How a dataset is divided: a global test set G, a local test set L per validator, and the
members' training shards, IID or non-IID (label skew by Dirichlet α, or skewed quantities).

All functions are pure over index arrays and a seeded generator, so a split is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tclearn.data.datasets import DataError, Dataset


@dataclass(frozen=True)
class CoalitionSplit:
    """Index arrays into one dataset: who holds what."""

    global_test: np.ndarray
    local_tests: list[np.ndarray]
    members: list[np.ndarray]

    @property
    def train(self) -> np.ndarray:
        """The union of the members' data: what centralised training would see."""
        return np.concatenate(self.members)


def split_iid(indices: np.ndarray, parts: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled, near-equal shards."""
    return [np.sort(p) for p in np.array_split(rng.permutation(indices), parts)]


def split_dirichlet(
    indices: np.ndarray, labels: np.ndarray, parts: int, alpha: float, rng: np.random.Generator, min_size: int = 1
) -> list[np.ndarray]:
    """Label skew: each class is spread over the parts in proportions drawn from Dir(α).

    Small α (0.1) gives parts holding one or two classes; large α (100) is close to IID. Draws
    are repeated until every part holds at least `min_size` samples.
    """
    if alpha <= 0:
        raise DataError("the Dirichlet α must be positive")
    for _ in range(1000):
        shards: list[list[int]] = [[] for _ in range(parts)]
        for label in np.unique(labels[indices]):
            of_class = rng.permutation(indices[labels[indices] == label])
            shares = rng.dirichlet(np.full(parts, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(of_class)).astype(int)
            for shard, chunk in zip(shards, np.split(of_class, cuts), strict=True):
                shard.extend(chunk.tolist())
        if min(len(s) for s in shards) >= min_size:
            return [np.sort(np.array(s, dtype=np.int64)) for s in shards]
    raise DataError(f"cannot give each of {parts} parts {min_size} samples with α={alpha}")


def split_quantity(
    indices: np.ndarray, parts: int, rng: np.random.Generator, skew: float = 1.0, min_size: int = 1
) -> list[np.ndarray]:
    """Quantity skew: shard sizes drawn from Dir(1/skew) (skew 0 → equal), classes mixed."""
    shuffled = rng.permutation(indices)
    spare = len(shuffled) - parts * min_size
    if spare < 0:
        raise DataError(f"{len(shuffled)} samples cannot give {parts} parts {min_size} each")
    shares = np.full(parts, 1.0 / parts) if skew <= 0 else rng.dirichlet(np.full(parts, 1.0 / skew))
    sizes = min_size + np.floor(shares * spare).astype(int)
    sizes[-1] += len(shuffled) - sizes.sum()
    return [np.sort(p) for p in np.split(shuffled, np.cumsum(sizes)[:-1])]


def split_coalition(
    dataset: Dataset,
    members: int,
    validators: int,
    seed: int,
    alpha: float | None = None,
    quantity_skew: float = 0.0,
    global_fraction: float = 0.2,
    local_fraction: float = 0.2,
    min_member_size: int = 16,
) -> CoalitionSplit:
    """G (stratified), the validators' L shards (split like the members' data, so a validator
    in a skewed coalition sees a skewed L), and the members' training shards."""
    rng = np.random.default_rng(seed)
    everything = rng.permutation(len(dataset))
    n_global = round(global_fraction * len(dataset))
    n_local = round(local_fraction * len(dataset))
    global_test = _stratified_take(everything, dataset.y, n_global, rng)
    rest = np.setdiff1d(everything, global_test)
    local_pool = _stratified_take(rest, dataset.y, n_local, rng)
    train_pool = np.setdiff1d(rest, local_pool)

    def shard(pool: np.ndarray, parts: int, min_size: int) -> list[np.ndarray]:
        if alpha is not None:
            return split_dirichlet(pool, dataset.y, parts, alpha, rng, min_size)
        if quantity_skew > 0:
            return split_quantity(pool, parts, rng, quantity_skew, min_size)
        return split_iid(pool, parts, rng)

    return CoalitionSplit(
        global_test=np.sort(global_test),
        local_tests=shard(local_pool, validators, 1),
        members=shard(train_pool, members, min_member_size),
    )


def stratified_subset(dataset: Dataset, count: int, seed: int) -> Dataset:
    """`count` samples of `dataset` with its class proportions, the same for the same seed: a
    run that fits a laptop CPU on a dataset of tens of thousands of images."""
    if not 0 < count <= len(dataset):
        raise DataError(f"a subset of {count} samples cannot be drawn from {len(dataset)}")
    rng = np.random.default_rng(seed)
    return dataset.subset(np.sort(_stratified_take(np.arange(len(dataset)), dataset.y, count, rng)))


def _stratified_take(pool: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` indices from `pool` with the pool's class proportions."""
    taken = []
    for label in np.unique(labels[pool]):
        of_class = rng.permutation(pool[labels[pool] == label])
        taken.append(of_class[: round(count * len(of_class) / len(pool))])
    return np.concatenate(taken)
