"""Weights as bytes: canonical safetensors (never pickle), and the SHA-256 the chain commits to.

safetensors writes a JSON header and raw little-endian tensors in a fixed order, so the same
state dict always gives the same bytes, hence the same hash and the same CID.
"""

from __future__ import annotations

import hashlib

import torch
from safetensors.torch import save
from torch import nn


def serialize_state(state: dict[str, torch.Tensor]) -> bytes:
    """A state dict as canonical safetensors bytes."""
    return save({name: tensor.detach().contiguous().cpu() for name, tensor in sorted(state.items())})


def serialize(model: nn.Module) -> bytes:
    """The model's weights as canonical safetensors bytes."""
    return serialize_state(model.state_dict())


def sha256(data: bytes) -> bytes:
    """The 32-byte digest that goes on chain as `bytes32`."""
    return hashlib.sha256(data).digest()
