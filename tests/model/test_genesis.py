"""The genesis model: canonical bytes, stable hash, and what it records about the architecture."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load

from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.genesis import make_genesis
from tclearn.model.weights import serialize, sha256
from tclearn.store.local import LocalStore


def test_same_spec_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    spec = ArchitectureSpec("mlp", (30,), 2)
    first = make_genesis(spec, 0, LocalStore(tmp_path))
    again = make_genesis(spec, 0, LocalStore(tmp_path / "other"))
    assert first.weights == again.weights and first.weights_cid == again.weights_cid
    assert make_genesis(spec, 1, LocalStore(tmp_path)).weights_sha256 != first.weights_sha256
    assert first.weights_sha256 == sha256(first.weights)
    assert LocalStore(tmp_path).get(first.weights_cid) == first.weights
    assert json.loads(first.metadata)["architecture"]["input_shape"] == [30]


def test_serialized_weights_load_back_without_pickle() -> None:
    model = build(ArchitectureSpec("cnn", (1, 28, 28), 10), seed=3)
    tensors = load(serialize(model))
    assert tensors.keys() == model.state_dict().keys()
    assert all((tensors[k] == v).all() for k, v in model.state_dict().items())
