"""The encrypted head: a linear classifier on frozen features, laid out so that CKKS can run it.

Layout. The head's weights W (classes × (features + 1), the last column the bias) and the copy's
mark make `features + 2` lanes. They are cut into groups of `SPAN` lanes, one ciphertext a group.
In a group's ciphertext, slot m·(rows·C) + r·C + j holds lane m's weight for class j (C: the
classes rounded up to a power of two), repeated over `rows` = 4,096 / (SPAN·C) repeats r.
Samples take the same slots, sample r's feature in its lane for every class j, the bias lane set
to 1: the product of a copy's group with a batch's group, summed over the groups, then summed
over the SPAN lanes (a plain multiply by ones and log2(SPAN) rotations: TenSEAL's
`enc_matmul_plain`), leaves sample r's logit for class j at slot r·C + j. A batch of `rows`
samples, all classes at once, depth 2.

Why this layout. Rotations are what CKKS charges for (one is ~1 ms at N = 8192, a product with a
plain vector ~1.5 ms): summing a product over all of a sample's lanes takes log2(lanes) of them
and yields one logit per repeat. Summing the groups' products first, with additions, leaves
log2(SPAN) rotations for `rows`·C logits. On Fashion-MNIST (96 features, 10 classes) a batch of
32 samples costs 13 plain products and 3 rotations, where a ciphertext per class cost 10 products
and 70 rotations (docs/RESULTS.md, section 7). The sum runs over the whole 4,096-slot cycle, so
every slot of an output holds one of the batch's logits: decrypting it shows the supervisor those
logits and nothing else (no partial sums of a sample's features).

The lane after the bias is the copy's **mark**: ±1 values the supervisor draws for each copy it
issues. Samples hold 0 there, so the mark never touches an output, and adding an encryption of
zero (which changes every byte of the copy) leaves it as it was: the supervisor finds a copy's
holder and block by trial decryption (`tclearn.he.trace`), where an exact copy is found by its
hash on chain.

A participant runs its copy on its samples in clear (`infer`): the samples never leave it, and
the product is encrypted under its key all the same. Samples encrypted under its context
(`encrypt_samples`) give the same outputs, for samples that travel, at four to five times the cost
(ciphertext products and relinearisation where plain products do).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import reduce
from operator import add

import numpy as np
import tenseal as ts

from tclearn.he import wire
from tclearn.he.ckks import SLOTS, Context, HEError

OUTPUT_LEVEL = wire.FRESH_LEVEL - 2
SPAN = 8  # lanes a ciphertext sums by rotations
ONES = [1.0] * SPAN


@dataclass(frozen=True)
class HeadLayout:
    """How a head of `features` inputs and `classes` outputs sits in CKKS slots."""

    features: int
    classes: int

    def __post_init__(self) -> None:
        if self.features < 1 or self.classes < 2 or SPAN * self.class_slots > SLOTS:
            raise HEError("wrong-size", f"no CKKS layout for {self.features} features and {self.classes} classes")

    @property
    def class_slots(self) -> int:
        """The classes, rounded up to a power of two (the slots a repeat gives them)."""
        return 1 << int(np.ceil(np.log2(self.classes)))

    @property
    def groups(self) -> int:
        """Ciphertexts in a copy: the features, the bias and the mark, `SPAN` lanes each."""
        return -(-(self.features + 2) // SPAN)

    @property
    def lanes(self) -> int:
        return self.groups * SPAN

    @property
    def rows(self) -> int:
        """Samples per batch, and the repeats of each weight in a copy."""
        return SLOTS // (SPAN * self.class_slots)

    @property
    def result(self) -> int:
        """Slots of an output or update vector: a value per repeat and class slot."""
        return self.rows * self.class_slots

    @property
    def update_chunks(self) -> int:
        """Vectors in an update: each holds `rows` of the features + 1 columns, every class."""
        return -(-(self.features + 1) // self.rows)

    @property
    def bias(self) -> int:
        return self.features

    @property
    def mark(self) -> int:
        return self.features + 1

    @property
    def shape(self) -> tuple[int, int]:
        """The head's weights: a row per class, a column per feature and one for the bias."""
        return (self.classes, self.features + 1)

    def as_dict(self) -> dict[str, int]:
        return {"features": self.features, "classes": self.classes, "span": SPAN}

    # ------------------------------------------------------------------ plain slot vectors

    def weight_slots(self, weights: np.ndarray, mark: np.ndarray) -> np.ndarray:
        """(groups, 4096): the weights repeated over the rows, the mark in its lane."""
        if weights.shape != self.shape or mark.shape != (self.classes, self.rows):
            raise HEError("wrong-size", f"weights {weights.shape} / mark {mark.shape} for layout {self.shape}")
        lanes = np.zeros((self.lanes, self.rows, self.class_slots))
        lanes[: self.features + 1, :, : self.classes] = weights.T[:, None, :]
        lanes[self.mark, :, : self.classes] = mark.T
        return lanes.reshape(self.groups, SLOTS)

    def sample_slots(self, x: np.ndarray) -> list[np.ndarray]:
        """(groups, 4096) per batch of `rows` samples (the last batch padded with zeros)."""
        if x.ndim != 2 or x.shape[1] != self.features:
            raise HEError("wrong-size", f"samples of shape {x.shape}, expected (n, {self.features})")
        batches = []
        for start in range(0, len(x), self.rows):
            chunk = x[start : start + self.rows]
            lanes = np.zeros((self.lanes, self.rows, self.class_slots))
            lanes[: self.features, : len(chunk), :] = chunk.T[:, :, None]
            lanes[self.bias, : len(chunk), :] = 1.0
            batches.append(lanes.reshape(self.groups, SLOTS))
        return batches

    def column_slots(self, matrix: np.ndarray) -> list[np.ndarray]:
        """(groups, 4096) per chunk of `rows` columns of a (features + 1)-row matrix: column
        chunk·rows + r in repeat r, every class slot. A copy times them gives W·matrix."""
        width = self.features + 1
        if matrix.shape != (width, width):
            raise HEError("wrong-size", f"a matrix of shape {matrix.shape}, expected ({width}, {width})")
        padded = np.zeros((self.lanes, self.update_chunks * self.rows))
        padded[:width, :width] = matrix
        return [
            np.repeat(padded[:, c * self.rows : (c + 1) * self.rows, None], self.class_slots, axis=2).reshape(
                self.groups, SLOTS
            )
            for c in range(self.update_chunks)
        ]


def summed(copy: list[ts.CKKSVector], operands: list[ts.CKKSVector] | np.ndarray) -> ts.CKKSVector:
    """Σ over the groups of copy × operand, summed over each group's `SPAN` lanes: a value per
    repeat and class slot (the one reduction inference and training share)."""
    if len(operands) != len(copy):
        raise HEError("wrong-size", f"{len(operands)} groups for a copy of {len(copy)}")
    rows = SLOTS // SPAN
    products = (c * (o if isinstance(o, ts.CKKSVector) else o.tolist()) for c, o in zip(copy, operands, strict=True))
    return reduce(add, products).enc_matmul_plain(ONES, rows)


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
    vectors = [ts.ckks_vector(context.context, group.tolist()) for group in layout.weight_slots(weights, mark)]
    return wire.pack("copy", context, vectors, layout=layout.as_dict(), **meta)


def load_copy(data: bytes, context: Context, layout: HeadLayout) -> wire.Container:
    """A copy, checked to be this participant's, of this layout, fresh (it carries depth 2)."""
    document = wire.header(data)
    if document.get("kind") == "copy" and document.get("layout") != layout.as_dict():
        raise HEError("wrong-size", f"a copy of layout {document.get('layout')}, expected {layout.as_dict()}")
    return wire.unpack(data, context, "copy", layout.groups, SLOTS, wire.FRESH_LEVEL)


def encrypt_samples(context: Context, layout: HeadLayout, x: np.ndarray) -> bytes:
    """Samples encrypted under a participant's context: for samples that travel (a participant's
    own inference runs on them in clear, `infer`)."""
    vectors = [ts.ckks_vector(context.context, group.tolist()) for batch in layout.sample_slots(x) for group in batch]
    return wire.pack("samples", context, vectors, samples=len(x))


def infer(copy: wire.Container, samples: np.ndarray | bytes, context: Context, layout: HeadLayout) -> bytes:
    """Encrypted outputs of an encrypted copy on samples, in clear (n × features) or encrypted
    under `context` (`encrypt_samples`): what the participant sends the supervisor to decrypt."""
    if isinstance(samples, np.ndarray):
        count, batches = len(samples), [list(batch) for batch in layout.sample_slots(samples)]
    else:
        count = int(wire.header(samples).get("samples", 0))
        total = -(-count // layout.rows) * layout.groups
        vectors = wire.unpack(samples, context, "samples", total, SLOTS, wire.FRESH_LEVEL).vectors
        batches = [vectors[i : i + layout.groups] for i in range(0, total, layout.groups)]
    outputs = [summed(copy.vectors, batch) for batch in batches]
    return wire.pack("outputs", context, outputs, samples=count, classes=layout.classes)


def decrypt_outputs(data: bytes, secret: Context, layout: HeadLayout) -> np.ndarray:
    """The logits (samples × classes) of encrypted outputs (the supervisor's side)."""
    secret.require_secret()
    samples = int(wire.header(data).get("samples", 0))
    batches = -(-samples // layout.rows)
    container = wire.unpack(data, secret, "outputs", batches, layout.result, OUTPUT_LEVEL)
    values = np.array([v.decrypt() for v in container.vectors]).reshape(batches * layout.rows, layout.class_slots)
    if np.max(np.abs(values[:, layout.classes :]), initial=0.0) > 1e-3:  # a copy has no weights there
        raise HEError("wrong-context", "the outputs do not decrypt under this participant's key")
    return values[:samples, : layout.classes]


def decrypt_copy(data: bytes, secret: Context, layout: HeadLayout) -> tuple[np.ndarray, np.ndarray]:
    """A copy's weights and mark, by its holder's secret context (the supervisor's side)."""
    secret.require_secret()
    container = load_copy(data, secret, layout)
    values = np.array([v.decrypt() for v in container.vectors])
    lanes = values.reshape(layout.lanes, layout.rows, layout.class_slots)[:, :, : layout.classes]
    weights = lanes[: layout.features + 1].mean(axis=1).T
    return weights, lanes[layout.mark].T


def mark_matches(found: np.ndarray, mark: np.ndarray) -> float:
    """The share of a mark's signs that a decrypted mark lane reproduces (0.5 by chance)."""
    return float(np.mean(np.sign(found) == mark))
