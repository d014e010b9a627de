"""Mode C's public, frozen feature extractor: fixed at genesis, the same for every participant,
never trained. Only the head on top of it is encrypted and learned.

- Tables (breast cancer): the features as the dataset's preprocessing leaves them (standardised).
- Images: 6 random 5×5 filters (zero mean, unit norm, drawn from the public seed 0, which the
  genesis metadata records), a ReLU, and a
  7×7 average pool, times 4: 6 × 4 × 4 = 96 features. On a 12,000-image Fashion-MNIST subset a
  least-squares head on them reaches 0.806 trained centrally (0.867 for mode A's CNN): random
  convolutions keep more than pooled pixels (0.738 for 7×7 pooled pixels, 49 features) at a width
  that keeps 32 samples in each ciphertext (`tclearn.he.head`). A coalition could fix a stronger
  extractor trained on public data at genesis; this one needs no data at all, so it leaks none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

FILTERS = 6
KERNEL = 5
POOL = 7
GAIN = 4.0


@dataclass(frozen=True)
class FrozenFeatures:
    """The extractor a coalition's genesis fixes: `kind` "table" or "random-conv", its seed."""

    kind: str
    input_shape: tuple[int, ...]
    seed: int = 0

    @classmethod
    def for_input(cls, input_shape: tuple[int, ...], seed: int = 0) -> FrozenFeatures:
        return cls("random-conv" if len(input_shape) == 3 else "table", tuple(input_shape), seed)

    @property
    def width(self) -> int:
        if self.kind == "table":
            return int(np.prod(self.input_shape))
        _, height, width = self.input_shape
        return FILTERS * (height // POOL) * (width // POOL)

    def filters(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        weights = torch.randn(FILTERS, self.input_shape[0], KERNEL, KERNEL, generator=generator)
        weights -= weights.mean(dim=(1, 2, 3), keepdim=True)
        return weights / weights.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, width) features of n inputs."""
        if self.kind == "table":
            return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        images = torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(len(x), *self.input_shape))
        with torch.no_grad():
            maps = torch.relu(torch.nn.functional.conv2d(images, self.filters(), padding=KERNEL // 2))
            pooled = torch.nn.functional.avg_pool2d(maps, POOL)
        return GAIN * pooled.reshape(len(x), -1).numpy().astype(np.float64)
