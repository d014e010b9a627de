"""Local training and evaluation on CPU: what a member runs on its own data, and what a
validator runs on G and L.

Training enforces the coalition's minimum batch size on every gradient step (a smaller last
batch is dropped, not used), so no step is computed from fewer samples than the coalition
allows: the privacy floor of mode A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tclearn.errors import TCLearnError


class TrainingError(TCLearnError):
    """Training was asked for something the coalition's rules forbid."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 0.05
    momentum: float = 0.9
    # Each batch's gradient is clipped to this norm (None: not clipped). On skewed data a member
    # whose shard holds one or two classes otherwise takes steps many times the others' (6–18×
    # on Fashion-MNIST at α = 0.1), and the average of such steps can fall to chance.
    clip_norm: float | None = 1.0


@dataclass(frozen=True)
class Evaluation:
    """A model's results on one test set, per sample, so two models can be compared pairwise."""

    correct: np.ndarray  # bool per sample
    losses: np.ndarray  # cross-entropy per sample
    labels: np.ndarray
    num_classes: int

    @property
    def samples(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def loss(self) -> float:
        return float(self.losses.mean())

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes present: robust to a skewed local test set."""
        present = np.unique(self.labels)
        return float(np.mean([self.correct[self.labels == c].mean() for c in present]))


def train_local(
    model: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig, min_batch_size: int, seed: int
) -> nn.Module:
    """Trains `model` in place on (x, y) with SGD, gradients clipped; every step uses at least
    `min_batch_size`."""
    if config.batch_size < min_batch_size:
        raise TrainingError(f"batch size {config.batch_size} is below the coalition's minimum {min_batch_size}")
    if len(y) < config.batch_size:
        raise TrainingError(f"{len(y)} samples cannot fill one batch of {config.batch_size}")
    generator = torch.Generator().manual_seed(seed)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss_fn(model(features[batch]), labels[batch]).backward()
            if config.clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
    model.eval()
    return model


CHUNK = 256  # samples run at once: larger batches run slower on one CPU thread (4096: 1.4×)


@torch.no_grad()
def outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's logits on x (float32, one row per sample)."""
    model.eval()
    if len(x) <= CHUNK:
        return model(torch.from_numpy(x)).numpy()
    return np.concatenate([model(torch.from_numpy(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)])


def scored(logits: np.ndarray, y: np.ndarray, num_classes: int) -> Evaluation:
    """The per-sample results that logits give on labels y: of one model, or of a combination of
    several models' logits (the screening's stand-in for their aggregate)."""
    tensor, labels = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32)), torch.from_numpy(y)
    losses = nn.functional.cross_entropy(tensor, labels, reduction="none")
    correct = tensor.argmax(dim=1) == labels
    return Evaluation(correct.numpy(), losses.numpy().astype(np.float64), y, num_classes)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, num_classes: int) -> Evaluation:
    """The model's per-sample results on (x, y)."""
    return scored(outputs(model, x), y, num_classes)
