"""Plots of a run, as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator


def accuracy_plot(path: Path, accuracies: list[float], outcomes: list[str], centralized: float, title: str) -> Path:
    """G accuracy of the head after each round; rejected rounds marked; centralized reference."""
    rounds = list(range(1, len(accuracies) + 1))
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(rounds, accuracies, marker="o", label="coalition head (G accuracy)")
    refused = [r for r, o in zip(rounds, outcomes, strict=True) if o != "final"]
    axes.scatter(refused, [accuracies[r - 1] for r in refused], color="red", zorder=3, label="round not accepted")
    axes.axhline(centralized, color="gray", linestyle="--", label="centralized training")
    axes.set(xlabel="round", ylabel="accuracy on G", title=title, ylim=(0, 1.02))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
