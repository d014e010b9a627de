"""Weights as bytes: canonical safetensors (never pickle), the SHA-256 the chain commits to, and
the validation of a peer's weights file before anything uses it.

safetensors writes a JSON header and raw little-endian tensors in a fixed order, so the same
state dict always gives the same bytes, hence the same hash and the same CID.

A file from another member, a general or the store is untrusted: it is parsed only as
safetensors (never pickle) and accepted only if it is within the size bound, its header is
well formed, and its tensors are exactly the coalition architecture's names, shapes and dtypes,
with finite values. Every refusal is a `ModelRejected` carrying a short machine-readable reason.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from tclearn.errors import TCLearnError
from tclearn.model.architectures import ArchitectureSpec, build

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_MAX_HEADER_BYTES = 16 * 1024 * 1024


def serialize_state(state: dict[str, torch.Tensor]) -> bytes:
    """A state dict as canonical safetensors bytes."""
    return save({name: tensor.detach().contiguous().cpu() for name, tensor in sorted(state.items())})


def serialize(model: nn.Module) -> bytes:
    """The model's weights as canonical safetensors bytes."""
    return serialize_state(model.state_dict())


def sha256(data: bytes) -> bytes:
    """The 32-byte digest that goes on chain as `bytes32`."""
    return hashlib.sha256(data).digest()


# Why a weights file is refused, first rule broken first.
WEIGHTS_REASONS = ("oversized", "malformed", "architecture", "dtype", "shape", "non-finite")


class ModelRejected(TCLearnError):
    """A weights file that must not be used; `reason` is one of WEIGHTS_REASONS."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(f"model rejected ({reason}): {detail}")


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype


def expected_layout(spec: ArchitectureSpec) -> dict[str, TensorSpec]:
    """Tensor names, shapes and dtypes every model of the coalition must have."""
    return {name: TensorSpec(tuple(t.shape), t.dtype) for name, t in build(spec).state_dict().items()}


def load_weights(
    data: bytes, layout: dict[str, TensorSpec], max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, torch.Tensor]:
    """The tensors of `data`, or `ModelRejected` with the first rule it breaks."""
    if len(data) > max_bytes:
        raise ModelRejected("oversized", f"{len(data)} bytes, the limit is {max_bytes}")
    _check_header(data)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelRejected("malformed", f"not a readable safetensors file ({exc})") from None
    missing, unexpected = layout.keys() - tensors.keys(), tensors.keys() - layout.keys()
    if missing or unexpected:
        raise ModelRejected(
            "architecture", f"missing tensors {sorted(missing)}, unexpected tensors {sorted(unexpected)}"
        )
    for name, expected in layout.items():
        tensor = tensors[name]
        if tensor.dtype != expected.dtype:
            raise ModelRejected("dtype", f"{name} is {tensor.dtype}, expected {expected.dtype}")
        if tuple(tensor.shape) != expected.shape:
            raise ModelRejected("shape", f"{name} has shape {tuple(tensor.shape)}, expected {expected.shape}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelRejected("non-finite", f"{name} holds NaN or infinite values")
    return tensors


def _check_header(data: bytes) -> None:
    """Bounds the header before safetensors parses it, so a hostile length cannot mislead it."""
    if len(data) < 8:
        raise ModelRejected("malformed", "shorter than a safetensors header")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER_BYTES, len(data) - 8):
        raise ModelRejected("malformed", f"header length {header_len} runs past the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelRejected("malformed", "header is not JSON") from None
    if not isinstance(header, dict):
        raise ModelRejected("malformed", "header is not a JSON object")
