"""The architectures a coalition can choose by name, built with torch for CPU training.

A coalition fixes one architecture (name, input shape, classes) at genesis; every model in its
lineage must have exactly that architecture's tensor names, shapes and dtypes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ArchitectureSpec:
    """What identifies a coalition's model family; hashed into the genesis metadata."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    hidden: int = 32

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _mlp(spec: ArchitectureSpec) -> nn.Module:
    features = 1
    for size in spec.input_shape:
        features *= size
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, spec.hidden),
        nn.ReLU(),
        nn.Linear(spec.hidden, spec.hidden),
        nn.ReLU(),
        nn.Linear(spec.hidden, spec.num_classes),
    )


class MaxPool2x2(nn.Module):
    """2×2 max pooling at stride 2. Run for outputs only, it is the elementwise maximum of the
    four strided views: the same outputs as `nn.MaxPool2d(2)`, about ten times faster on one
    CPU thread (torch 2.13: 1.7 ms against 18 ms for 256 images of 16 channels), where pooling
    was most of the time of every evaluation and of the trigger search. In training, the
    backward pass of `max_pool2d` is the faster one, and it is kept."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad or x.shape[-1] % 2 or x.shape[-2] % 2:
            return nn.functional.max_pool2d(x, 2)
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def _cnn(spec: ArchitectureSpec) -> nn.Module:
    if len(spec.input_shape) != 3:
        raise ValueError("the cnn takes images shaped (channels, height, width)")
    channels, height, width = spec.input_shape
    # Pooling before the ReLU: the same function as the usual order (a maximum commutes with a
    # monotone map) and the same weights' names, with the ReLU on a quarter of the values.
    return nn.Sequential(
        nn.Conv2d(channels, 16, kernel_size=3, padding=1),
        MaxPool2x2(),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        MaxPool2x2(),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * (height // 4) * (width // 4), spec.hidden),
        nn.ReLU(),
        nn.Linear(spec.hidden, spec.num_classes),
    )


class FrozenExtractor(nn.Module):
    """Mode C's public feature extractor (`tclearn.he.features`) as a torch layer: its filters
    are a buffer outside the state dict, so a model's weights are its head's alone."""

    def __init__(self, spec: ArchitectureSpec) -> None:
        super().__init__()
        from tclearn.he.features import FrozenFeatures  # its filters are drawn with torch

        self.extractor = FrozenFeatures.for_input(spec.input_shape)
        self.width = self.extractor.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.extractor(x.detach().numpy())).to(x.dtype)


def _frozen_linear(spec: ArchitectureSpec) -> nn.Module:
    """A linear head on mode C's frozen features, trained in clear: mode C's model family in
    mode A, so that a round of each can be compared (`benchmarks/he.py`)."""
    extractor = FrozenExtractor(spec)
    return nn.Sequential(extractor, nn.Linear(extractor.width, spec.num_classes))


ARCHITECTURES: dict[str, Callable[[ArchitectureSpec], nn.Module]] = {
    "mlp": _mlp,
    "cnn": _cnn,
    "frozen-linear": _frozen_linear,
}


def build(spec: ArchitectureSpec, seed: int = 0) -> nn.Module:
    """A freshly initialised model; the same spec and seed always give the same weights."""
    try:
        factory = ARCHITECTURES[spec.name]
    except KeyError as exc:
        raise ValueError(f"unknown architecture {spec.name!r}: one of {', '.join(ARCHITECTURES)}") from exc
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        return factory(spec)
    finally:
        torch.random.set_rng_state(generator_state)
