"""Aggregation rules against Flower's reference implementations, on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from tclearn.fba import aggregate as ours

flwr_aggregate = pytest.importorskip("flwr.server.strategy.aggregate")

SHAPES = [(5, 3), (3,), (2, 2, 2)]


def random_updates(seed: int, count: int) -> tuple[list[list[np.ndarray]], list[int]]:
    rng = np.random.default_rng(seed)
    updates = [[rng.normal(size=shape) for shape in SHAPES] for _ in range(count)]
    return updates, [int(n) for n in rng.integers(1, 500, size=count)]


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("count", [1, 2, 5, 9])
def test_mean_median_trimmed_match_flower(seed: int, count: int) -> None:
    updates, samples = random_updates(seed, count)
    results = list(zip(updates, samples, strict=True))
    assert_same(ours.weighted_mean(updates, samples), flwr_aggregate.aggregate(results))
    assert_same(ours.coordinate_median(updates), flwr_aggregate.aggregate_median(results))
    for beta in (0.0, 0.1, 0.2, 0.4):
        assert_same(ours.trimmed_mean(updates, beta), flwr_aggregate.aggregate_trimmed_avg(results, beta))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("count", "malicious"), [(4, 1), (7, 2), (10, 3)])
def test_krum_and_multi_krum_match_flower(seed: int, count: int, malicious: int) -> None:
    updates, samples = random_updates(100 + seed, count)
    results = list(zip(updates, samples, strict=True))
    assert_same(ours.krum(updates, malicious), flwr_aggregate.aggregate_krum(results, malicious, 0))
    keep = count - malicious
    assert_same(
        ours.multi_krum(updates, samples, malicious, keep), flwr_aggregate.aggregate_krum(results, malicious, keep)
    )


def test_krum_drops_an_outlier() -> None:
    updates, _ = random_updates(7, 6)
    updates[2] = [layer + 100.0 for layer in updates[2]]
    scores = ours.krum_scores(updates, 1)
    assert int(np.argmax(scores)) == 2
    assert not np.allclose(ours.krum(updates, 1)[0], updates[2][0])


def test_rules_by_name() -> None:
    updates, samples = random_updates(3, 5)
    assert_same(ours.rule("mean")(updates, samples), ours.weighted_mean(updates, samples))
    assert_same(ours.rule("trimmed-mean", beta=0.2)(updates, samples), ours.trimmed_mean(updates, 0.2))
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        ours.rule("bulyan")
    with pytest.raises(ValueError, match="β"):
        ours.trimmed_mean(updates, 0.5)
