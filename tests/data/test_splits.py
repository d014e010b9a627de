"""Datasets load from packages, and splits are disjoint, complete, reproducible and as skewed as asked."""

from __future__ import annotations

import numpy as np
import pytest

from tclearn.data.datasets import DataError, load_dataset
from tclearn.data.splits import split_coalition, split_dirichlet, split_iid, split_quantity, stratified_subset


def test_breast_cancer_is_the_wisconsin_set() -> None:
    data = load_dataset("breast-cancer")
    assert data.x.shape == (569, 30) and data.x.dtype == np.float32
    assert np.bincount(data.y).tolist() == [212, 357]
    assert data.num_classes == 2 and np.isfinite(data.x).all()


def test_digits_are_images() -> None:
    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and len(data) == 1797
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("imagenet")


@pytest.mark.parametrize("alpha", [None, 0.1, 0.5, 100.0])
def test_coalition_split_is_disjoint_and_complete(alpha: float | None) -> None:
    data = load_dataset("breast-cancer")
    split = split_coalition(data, members=6, validators=4, seed=3, alpha=alpha)
    parts = [split.global_test, *split.local_tests, *split.members]
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)) == len(data)
    assert all(len(m) >= 16 for m in split.members)
    again = split_coalition(data, members=6, validators=4, seed=3, alpha=alpha)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(parts, [again.global_test, *again.local_tests, *again.members], strict=True)
    )
    g_share = np.bincount(data.y[split.global_test], minlength=2) / len(split.global_test)
    assert abs(g_share[1] - 357 / 569) < 0.02, "G keeps the class balance"


def test_small_alpha_skews_labels_and_large_alpha_does_not() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    indices = np.arange(1000)

    def classes_held(parts: list[np.ndarray]) -> float:
        return float(np.mean([np.sum(np.bincount(labels[p], minlength=10) >= 5) for p in parts]))

    skewed = split_dirichlet(indices, labels, 10, 0.1, rng)
    even = split_dirichlet(indices, labels, 10, 100.0, rng)
    assert classes_held(skewed) < 4 < 9 <= classes_held(even)


def test_iid_and_quantity_splits() -> None:
    rng = np.random.default_rng(1)
    iid = split_iid(np.arange(100), 4, rng)
    assert sorted(len(p) for p in iid) == [25, 25, 25, 25]
    sizes = sorted(len(p) for p in split_quantity(np.arange(1000), 5, rng, skew=2.0, min_size=10))
    assert sum(sizes) == 1000 and sizes[0] >= 10 and sizes[-1] > 2 * sizes[0]


def test_a_subset_keeps_the_class_proportions_and_is_fixed_by_the_seed() -> None:
    digits = load_dataset("digits")
    subset = stratified_subset(digits, 500, seed=3)
    assert len(subset) == 500
    full_share = np.bincount(digits.y) / len(digits)
    assert np.abs(np.bincount(subset.y, minlength=10) / 500 - full_share).max() < 0.01
    again = stratified_subset(digits, 500, seed=3)
    assert np.array_equal(subset.x, again.x) and not np.array_equal(subset.x, stratified_subset(digits, 500, 4).x)
    with pytest.raises(DataError, match="cannot be drawn"):
        stratified_subset(digits, 5000, seed=0)
