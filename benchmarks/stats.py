"""Summaries the benchmarks share: over seeds, means and spreads rounded alike."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def mean_sd(name: str, values: Iterable[float]) -> dict[str, float]:
    """`{name}_mean` and `{name}_sd` (population) of `values`, to 4 decimals."""
    data = list(values)
    return {f"{name}_mean": round(statistics.mean(data), 4), f"{name}_sd": round(statistics.pstdev(data), 4)}
