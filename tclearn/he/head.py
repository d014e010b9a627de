"""The encrypted head: a linear classifier on frozen features, laid out so that CKKS can run it.

Layout. The head's weights W (classes × (features + 1), the last column the bias) are spread over
`lanes` = the power of two ≥ features + 2, and each lane is repeated over `rows` = 4,096 / lanes
slots: class j's ciphertext holds W[j, m] at every slot m·rows + i. Encrypted samples use the same
layout, sample i's feature m at slot m·rows + i, the bias lane set to 1. One product of the two
ciphertexts and one sum over lanes (TenSEAL's `enc_matmul_plain` with a vector of ones: a plain
multiply, then log2(lanes) rotations) leaves sample i's logit for class j at slot i: a batch of
`rows` samples per ciphertext, depth 2, no Galois step beyond the sum's. The sum runs over the
whole 4,096-slot cycle, so every slot of the result holds one of the batch's logits: decrypting it
shows the supervisor those logits and nothing else (no partial sums of a sample's features).

The last lane is the copy's **mark**: ±1 values the supervisor draws for each copy it issues.
Samples hold 0 there, so the mark never touches an output, and adding an encryption of zero (which
changes every byte of the copy) leaves it as it was: the supervisor finds a copy's holder and
block by trial decryption (`read_mark`), where an exact copy is found by its hash on chain.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import tenseal as ts

from tclearn.he import wire
from tclearn.he.ckks import SLOTS, Context, HEError

OUTPUT_LEVEL = wire.FRESH_LEVEL - 2


@dataclass(frozen=True)
class HeadLayout:
    """How a head of `features` inputs and `classes` outputs sits in CKKS slots."""

    features: int
    classes: int

    def __post_init__(self) -> None:
        if self.features < 1 or self.classes < 2 or self.lanes > SLOTS // 2:
            raise HEError("wrong-size", f"no CKKS layout for {self.features} features and {self.classes} classes")

    @property
    def lanes(self) -> int:
        """Feature lanes: the features, the bias, the mark; a power of two (the sum's rotations)."""
        return 1 << int(np.ceil(np.log2(self.features + 2)))

    @property
    def rows(self) -> int:
        """Samples per ciphertext."""
        return SLOTS // self.lanes

    @property
    def update_chunks(self) -> int:
        """Vectors per class in an update: each holds `rows` of the features + 1 outputs."""
        return -(-(self.features + 1) // self.rows)

    @property
    def bias(self) -> int:
        return self.features

    @property
    def mark(self) -> int:
        return self.lanes - 1

    @property
    def shape(self) -> tuple[int, int]:
        """The head's weights: a row per class, a column per feature and one for the bias."""
        return (self.classes, self.features + 1)

    def as_dict(self) -> dict[str, int]:
        return {"features": self.features, "classes": self.classes}

    # ------------------------------------------------------------------ plain slot vectors

    def weight_slots(self, weights: np.ndarray, mark: np.ndarray) -> np.ndarray:
        """(classes, 4096): each class's weights repeated over the rows, its mark in the last lane."""
        if weights.shape != self.shape or mark.shape != (self.classes, self.rows):
            raise HEError("wrong-size", f"weights {weights.shape} / mark {mark.shape} for layout {self.shape}")
        lanes = np.zeros((self.classes, self.lanes, self.rows))
        lanes[:, : self.features + 1, :] = weights[:, :, None]
        lanes[:, self.mark, :] = mark
        return lanes.reshape(self.classes, SLOTS)

    def sample_slots(self, x: np.ndarray) -> list[np.ndarray]:
        """One 4,096-slot vector per batch of `rows` samples (the last batch padded with zeros)."""
        if x.ndim != 2 or x.shape[1] != self.features:
            raise HEError("wrong-size", f"samples of shape {x.shape}, expected (n, {self.features})")
        batches = []
        for start in range(0, len(x), self.rows):
            chunk = x[start : start + self.rows]
            lanes = np.zeros((self.lanes, self.rows))
            lanes[: self.features, : len(chunk)] = chunk.T
            lanes[self.bias, : len(chunk)] = 1.0
            batches.append(lanes.reshape(SLOTS))
        return batches


def plain_logits(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """What the head computes, in clear: the reference encrypted inference must agree with."""
    return x @ weights[:, :-1].T + weights[:, -1]


def draw_mark(key: bytes, copy_id: bytes, layout: HeadLayout) -> np.ndarray:
    """A copy's ±1 mark, derived from the supervisor's mark key and the copy's identity, so it
    needs no storage and cannot be guessed by the holder."""
    stream = b""
    counter = 0
    need = (layout.classes * layout.rows + 7) // 8
    while len(stream) < need:
        stream += hmac.new(key, copy_id + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    bits = np.unpackbits(np.frombuffer(stream[:need], dtype=np.uint8))[: layout.classes * layout.rows]
    return (bits.astype(np.float64) * 2 - 1).reshape(layout.classes, layout.rows)


# ------------------------------------------------------------------ encrypted


def encrypt_copy(context: Context, layout: HeadLayout, weights: np.ndarray, mark: np.ndarray, **meta: object) -> bytes:
    """A participant's copy of the head, under its public context (the supervisor's side)."""
    vectors = [ts.ckks_vector(context.context, row.tolist()) for row in layout.weight_slots(weights, mark)]
    return wire.pack("copy", context, vectors, layout=layout.as_dict(), **meta)


def load_copy(data: bytes, context: Context, layout: HeadLayout) -> wire.Container:
    """A copy, checked to be this participant's, of this layout, fresh (it carries depth 2)."""
    container = wire.unpack(data, context, "copy", layout.classes, SLOTS, wire.FRESH_LEVEL)
    if container.meta.get("layout") != layout.as_dict():
        raise HEError("wrong-size", f"a copy of layout {container.meta.get('layout')}, expected {layout.as_dict()}")
    return container


def encrypt_samples(context: Context, layout: HeadLayout, x: np.ndarray) -> bytes:
    """A participant's samples, encrypted under its own context (it never sends them in clear)."""
    vectors = [ts.ckks_vector(context.context, batch.tolist()) for batch in layout.sample_slots(x)]
    return wire.pack("samples", context, vectors, samples=len(x))


def infer(copy: wire.Container, samples: bytes, context: Context, layout: HeadLayout) -> bytes:
    """Encrypted outputs of an encrypted copy on encrypted samples, both under `context`: what
    the participant sends the supervisor to decrypt."""
    header = wire.header(samples)
    batches = -(-int(header.get("samples", 0)) // layout.rows)
    encrypted = wire.unpack(samples, context, "samples", batches, SLOTS, wire.FRESH_LEVEL)
    ones = [1.0] * layout.lanes
    outputs = [(batch * row).enc_matmul_plain(ones, layout.rows) for batch in encrypted.vectors for row in copy.vectors]
    return wire.pack("outputs", context, outputs, samples=encrypted.meta["samples"], classes=layout.classes)


def decrypt_outputs(data: bytes, secret: Context, layout: HeadLayout) -> np.ndarray:
    """The logits (samples × classes) of encrypted outputs (the supervisor's side)."""
    secret.require_secret()
    header = wire.header(data)
    samples = int(header.get("samples", 0))
    batches = -(-samples // layout.rows)
    container = wire.unpack(data, secret, "outputs", batches * layout.classes, layout.rows, OUTPUT_LEVEL)
    values = np.array([v.decrypt() for v in container.vectors])
    logits = values.reshape(batches, layout.classes, layout.rows).transpose(0, 2, 1).reshape(-1, layout.classes)
    return logits[:samples]


def decrypt_copy(data: bytes, secret: Context, layout: HeadLayout) -> tuple[np.ndarray, np.ndarray]:
    """A copy's weights and mark, by its holder's secret context (the supervisor's side)."""
    secret.require_secret()
    container = load_copy(data, secret, layout)
    values = np.array([v.decrypt() for v in container.vectors])
    lanes = values.reshape(layout.classes, layout.lanes, layout.rows)
    weights = lanes[:, : layout.features + 1, :].mean(axis=2)
    return weights, lanes[:, layout.mark, :]


def mark_matches(found: np.ndarray, mark: np.ndarray) -> float:
    """The share of a mark's signs that a decrypted mark lane reproduces (0.5 by chance)."""
    return float(np.mean(np.sign(found) == mark))
