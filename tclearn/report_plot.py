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
    return _save(figure, path)


def grouped_bars(
    path: Path,
    groups: list[str],
    series: dict[str, list[float]],
    ylabel: str,
    title: str,
    errors: dict[str, list[float]] | None = None,
) -> Path:
    """One group of bars per entry of `groups`, one bar per series (e.g. accuracy per attack and
    defence), with error bars where `errors` gives them; the legend sits beside the axes, where
    it hides no bar."""
    figure, axes = plt.subplots(figsize=(max(8, 1.5 * len(groups) + 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        spread = (errors or {}).get(name)
        axes.bar([g + i * width for g in range(len(groups))], values, width, label=name, yerr=spread, capsize=2)
    axes.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups)
    axes.set(ylabel=ylabel, title=title, ylim=(0, 1.02))
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _save(figure, path)


def curves(path: Path, series: dict[str, list[float]], reference: float, ylabel: str, title: str) -> Path:
    """One line per series over rounds (e.g. mean G accuracy per defence), a dashed reference."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        axes.plot(range(1, len(values) + 1), values, marker=".", label=name)
    axes.axhline(reference, color="gray", linestyle="--", label="centralized training")
    axes.set(xlabel="round", ylabel=ylabel, title=title, ylim=(0, 1.02))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
