"""How a member's raw features become the model's input: a rule of the coalition.

A hospital exports its measurements as they come (a tumour's radius in mm, its area in mm²);
the model was trained from genesis on features brought to comparable ranges. The transform is
fixed once, at `init`, from reference statistics (the feature definitions the coalition agrees
on, not one member's data), committed with the rules, and applied by every node to the CSV
files it loads: members to their training data, validators to G and L. Without it, a raw CSV
trained to weights far from everyone else's (refused as `outlier`), or to NaN.

Image folders need none: they are read as grey levels scaled to [0, 1] (`tclearn.data.images`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tclearn.errors import ConfigError


@dataclass(frozen=True)
class Preprocessing:
    """`log1p` first (for heavy-tailed, non-negative measurements), then `(x - mean) / std`
    per feature; the identity when empty."""

    log1p: bool = False
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise ConfigError("preprocessing: mean and std must have one value per feature")
        if any(not np.isfinite(s) or s <= 0 for s in self.std):
            raise ConfigError("preprocessing: every std must be a positive number")

    @classmethod
    def standardizing(cls, reference: np.ndarray, log1p: bool = False) -> Preprocessing:
        """The transform that brings `reference` rows (raw features) to mean 0, std 1."""
        x = np.log1p(reference) if log1p else reference
        std = x.std(axis=0)
        std[std == 0] = 1.0  # a constant feature is left centred, not divided by zero
        return cls(log1p, tuple(float(v) for v in x.mean(axis=0)), tuple(float(v) for v in std))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Raw rows (samples × features, or any shape whose trailing axes flatten to the
        features) as the model's input, float32."""
        flat = x.reshape(len(x), -1).astype(np.float64)
        if self.log1p:
            if (flat < 0).any():
                raise ConfigError(
                    "these features are negative, but the coalition's preprocessing takes their "
                    "logarithm: give the raw measurements, not already standardised values"
                )
            flat = np.log1p(flat)
        if self.mean:
            if flat.shape[1] != len(self.mean):
                raise ConfigError(f"{flat.shape[1]} features, the coalition's preprocessing has {len(self.mean)}")
            flat = (flat - np.asarray(self.mean)) / np.asarray(self.std)
        return flat.reshape(x.shape).astype(np.float32)

    def as_dict(self) -> dict[str, Any]:
        if not self.log1p and not self.mean:
            return {}
        return {"log1p": self.log1p, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Preprocessing:
        if not isinstance(raw, dict):
            raise ConfigError("preprocessing must be a JSON object")
        try:
            return cls(
                bool(raw.get("log1p", False)),
                tuple(float(v) for v in raw.get("mean", ())),
                tuple(float(v) for v in raw.get("std", ())),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"malformed preprocessing: {exc}") from exc
