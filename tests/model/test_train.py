"""Local training enforces the minimum batch size and learns; evaluation is per sample."""

from __future__ import annotations

import numpy as np
import pytest

from tclearn.data.datasets import load_dataset
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.train import TrainConfig, TrainingError, evaluate, train_local


def test_training_on_breast_cancer_learns() -> None:
    data = load_dataset("breast-cancer")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train, test = order[:400], order[400:]
    model = build(ArchitectureSpec("mlp", data.input_shape, 2), seed=0)
    before = evaluate(model, data.x[test], data.y[test], 2).accuracy
    train_local(model, data.x[train], data.y[train], TrainConfig(epochs=5), min_batch_size=16, seed=0)
    after = evaluate(model, data.x[test], data.y[test], 2)
    assert after.accuracy > 0.9 > before or after.accuracy > before + 0.2
    assert after.samples == len(test) and after.losses.shape == (len(test),)


def test_minimum_batch_size_is_enforced() -> None:
    data = load_dataset("breast-cancer")
    model = build(ArchitectureSpec("mlp", data.input_shape, 2))
    with pytest.raises(TrainingError, match="below the coalition's minimum"):
        train_local(model, data.x, data.y, TrainConfig(batch_size=8), min_batch_size=16, seed=0)
    with pytest.raises(TrainingError, match="cannot fill one batch"):
        train_local(model, data.x[:10], data.y[:10], TrainConfig(batch_size=16), min_batch_size=16, seed=0)


def test_training_is_reproducible() -> None:
    data = load_dataset("digits")
    spec = ArchitectureSpec("cnn", data.input_shape, 10)
    results = []
    for _ in range(2):
        model = build(spec, seed=1)
        train_local(model, data.x[:256], data.y[:256], TrainConfig(), min_batch_size=16, seed=4)
        results.append(next(iter(model.state_dict().values())).clone())
    assert (results[0] == results[1]).all()
