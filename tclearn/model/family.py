"""A coalition's model family: one architecture, and the conversions every node needs between
stored bytes, validated tensors, numpy arrays (for aggregation) and torch modules (for training).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from tclearn.errors import ConfigError
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.weights import DEFAULT_MAX_BYTES, TensorSpec, expected_layout, load_weights, serialize_state

State = dict[str, torch.Tensor]


@dataclass
class ModelFamily:
    spec: ArchitectureSpec
    max_bytes: int = DEFAULT_MAX_BYTES
    layout: dict[str, TensorSpec] = field(init=False)

    def __post_init__(self) -> None:
        self.layout = expected_layout(self.spec)

    @classmethod
    def of(cls, architecture: dict[str, Any]) -> ModelFamily:
        """The family a coalition's rules name (`CoalitionRules.architecture`), or one line of
        why it cannot be built."""
        try:
            fields = {**architecture, "input_shape": tuple(architecture["input_shape"])}
            return cls(ArchitectureSpec(**fields))
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"the coalition's architecture {architecture} cannot be built: {exc}") from exc

    @property
    def names(self) -> list[str]:
        return sorted(self.layout)

    def load(self, data: bytes) -> State:
        """Validated tensors of an untrusted file (raises ModelRejected)."""
        return load_weights(data, self.layout, self.max_bytes)

    def dump(self, state: State) -> bytes:
        """Canonical safetensors bytes of `state`."""
        return serialize_state(state)

    def digest(self, state: State) -> bytes:
        """A fingerprint of the weights' values, cheaper than serialising them: two states with
        the same digest compute the same outputs (used to reuse evaluations across rounds)."""
        h = hashlib.blake2b(digest_size=16)
        for name in self.names:
            h.update(state[name].detach().contiguous().numpy().tobytes())
        return h.digest()

    def module(self, state: State) -> nn.Module:
        model = build(self.spec)
        model.load_state_dict(state)
        model.eval()
        return model

    def to_arrays(self, state: State) -> list[np.ndarray]:
        return [state[name].numpy().astype(np.float64) for name in self.names]

    def from_arrays(self, arrays: list[np.ndarray]) -> State:
        return {
            name: torch.from_numpy(np.ascontiguousarray(array)).to(self.layout[name].dtype)
            for name, array in zip(self.names, arrays, strict=True)
        }
