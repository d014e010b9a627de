"""A validator's measured metrics, packed into the `bytes32` its vote carries on chain.

Layout (big-endian): version (1 byte) · G accuracy · L accuracy · G balanced accuracy ·
L balanced accuracy (each u32, parts per million) · G loss · L loss (u32, millionths, capped)
· G size · L size (u16) · verdict reason code (u8) · 2 bytes reserved.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 1
_FORMAT = ">BIIIIIIHHB2x"
_CAP = 2**32 - 1
REASONS = (
    "ok",
    "global-accuracy",
    "global-loss",
    "local-accuracy",
    "local-loss",
    "integrity",
    "architecture",
    "replay",
    "free-ride",
    "outlier",
    "harmful-update",
    "suspended",
    # a weights file's own refusals (`ModelRejected.reason`); appended, so earlier codes keep their numbers
    "malformed",
    "oversized",
    "dtype",
    "shape",
    "non-finite",
    "backdoor",  # a candidate whose update carries a trigger (`tclearn.fba.trigger`)
    # mode B's sealed objects (`tclearn.privacy.envelope.SealError`)
    "sealed-elsewhere",
    "no-key",
    "tampered",
    "grants",
)


@dataclass(frozen=True)
class VoteMetrics:
    global_accuracy: float
    local_accuracy: float
    global_balanced: float
    local_balanced: float
    global_loss: float
    local_loss: float
    global_samples: int
    local_samples: int
    reason: str = "ok"

    def encode(self) -> bytes:
        packed = struct.pack(
            _FORMAT,
            VERSION,
            _millionths(self.global_accuracy),
            _millionths(self.local_accuracy),
            _millionths(self.global_balanced),
            _millionths(self.local_balanced),
            _millionths(self.global_loss),
            _millionths(self.local_loss),
            min(self.global_samples, 2**16 - 1),
            min(self.local_samples, 2**16 - 1),
            REASONS.index(self.reason),
        )
        return packed.ljust(32, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> VoteMetrics:
        if len(data) != 32 or data[0] != VERSION:
            raise ValueError("not a version-1 metrics word")
        fields = struct.unpack(_FORMAT, data[: struct.calcsize(_FORMAT)])
        _, g_acc, l_acc, g_bal, l_bal, g_loss, l_loss, n_g, n_l, reason = fields
        return cls(
            g_acc / 1e6, l_acc / 1e6, g_bal / 1e6, l_bal / 1e6, g_loss / 1e6, l_loss / 1e6, n_g, n_l, REASONS[reason]
        )


def _millionths(value: float) -> int:
    return max(0, min(_CAP, round(value * 1e6)))
