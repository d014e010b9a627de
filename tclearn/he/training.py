"""Training the head under encryption: a member's local epochs as one affine map of its copy.

The head is trained on a ridge least-squares loss (one-hot targets): on a member's data
X̃ = [X, 1] and targets Y, a step of full-batch gradient descent is

    W ← W (I − η (X̃ᵀX̃ / n + λ I)) + η Yᵀ X̃ / n,

an affine map of W whose matrices the member computes in clear from its own data alone. T local
epochs compose into one affine map, W_T = W M^T + C, and the member's update is

    Δ = W (M^T − I) + C        (`local_map`: Q = M^T − I and C, both plain).

So the member trains without ever decrypting the model: its encrypted copy times Q, a chunk of
`rows` columns of Q at a time (each group of the copy times the plain columns, summed over the
groups and their lanes: `tclearn.he.head.summed`, depth 2, the same as inference), then C and its
secure-aggregation mask added as an encryption (`encrypted_update`). A plain addend would reach
only the first of the result's `SPAN` repeats and leave the others, unmasked, for the supervisor
to read; an encrypted one is repeated like the result. The same map in clear (`plain_update`) is mode C's
plaintext twin, the reference its accuracy is measured against.

Softmax cross-entropy has no such closed form (its gradient needs the softmax of encrypted
logits: a polynomial approximation and more depth than N = 8192 carries). What the least-squares
loss gives up is measured in docs/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tenseal as ts

from tclearn.he import wire
from tclearn.he.ckks import Context, HEError
from tclearn.he.head import OUTPUT_LEVEL, HeadLayout, summed


@dataclass(frozen=True)
class Recipe:
    """Local training of the head: epochs of full-batch gradient descent, at a step size set
    from the member's data (1 / the largest eigenvalue of its loss's Hessian), with ridge λ.

    Epochs cost the member a few products of (features + 1)² matrices, whatever their number,
    and the encrypted work not at all. On Fashion-MNIST features (10 members, Dirichlet α 0.5,
    20 rounds, in clear) 1, 10, 50 and 200 epochs end at G accuracy 0.671, 0.741, 0.777 and
    0.795; the same head trained centrally reaches 0.800."""

    epochs: int = 200
    ridge: float = 1e-3


@dataclass(frozen=True)
class LocalMap:
    """A member's update as an affine map of the head: Δ = W Q + C."""

    q: np.ndarray  # (features + 1, features + 1)
    c: np.ndarray  # (classes, features + 1)
    samples: int


def local_map(x: np.ndarray, labels: np.ndarray, classes: int, recipe: Recipe) -> LocalMap:
    """The affine map `recipe`'s local epochs make of the head, from the member's data."""
    n = len(x)
    augmented = np.hstack([x, np.ones((n, 1))])
    hessian = augmented.T @ augmented / n + recipe.ridge * np.eye(augmented.shape[1])
    rate = 1.0 / float(np.linalg.eigvalsh(hessian)[-1])
    step = np.eye(augmented.shape[1]) - rate * hessian
    targets = rate * np.eye(classes)[labels].T @ augmented / n
    power, total = np.eye(augmented.shape[1]), np.zeros_like(hessian)
    for _ in range(recipe.epochs):
        total += power
        power = power @ step
    return LocalMap(power - np.eye(augmented.shape[1]), targets @ total, n)


def plain_update(weights: np.ndarray, local: LocalMap) -> np.ndarray:
    """Δ in clear: what `encrypted_update` computes under encryption."""
    return weights @ local.q + local.c


def encrypted_update(
    copy: list[ts.CKKSVector],
    context: Context,
    layout: HeadLayout,
    local: LocalMap,
    scale: float,
    mask: np.ndarray,
    **meta: object,
) -> bytes:
    """`scale`·Δ + `mask` under the member's context, from its encrypted copy: the container it
    submits. `mask` (classes × (features + 1)) is its secure-aggregation mask (`tclearn.he.masks`)."""
    if local.c.shape != layout.shape or mask.shape != layout.shape:
        raise HEError("wrong-size", f"a local map or mask that does not fit layout {layout.shape}")
    addends = _update_slots(layout, scale * local.c + mask)
    vectors = [
        summed(copy, columns) + ts.ckks_vector(context.context, addend.tolist())
        for columns, addend in zip(layout.column_slots(scale * local.q), addends, strict=True)
    ]
    return wire.pack("update", context, vectors, **meta)


def encrypted_correction(context: Context, layout: HeadLayout, correction: np.ndarray, **meta: object) -> bytes:
    """A member's mask correction (`tclearn.he.masks.correction`) under its own context, laid
    out as its update is: only the supervisor reads it, and subtracts it from the masked sum."""
    if correction.shape != layout.shape:
        raise HEError("wrong-size", f"a correction that does not fit layout {layout.shape}")
    vectors = [ts.ckks_vector(context.context, slots.tolist()) for slots in _update_slots(layout, correction)]
    return wire.pack("correction", context, vectors, **meta)


def _update_slots(layout: HeadLayout, values: np.ndarray) -> list[np.ndarray]:
    """`values` (classes × (features + 1)) in an update's slots: column k at row k, `rows` rows
    a vector."""
    width, rows = layout.features + 1, layout.rows
    slots = np.zeros((layout.update_chunks * rows, layout.class_slots))
    slots[:width, : layout.classes] = values.T
    return [slots[chunk * rows : (chunk + 1) * rows].reshape(layout.result) for chunk in range(layout.update_chunks)]


def decrypt_update(data: bytes, secret: Context, layout: HeadLayout) -> tuple[np.ndarray, dict[str, object]]:
    """A member's masked, scaled update (the supervisor's side) and its header. Slots past the
    bias and the classes must decrypt to zero: a container under another key of the same
    parameters decrypts to noise there, and is refused as `wrong-context`."""
    return _decrypt(data, secret, layout, "update", OUTPUT_LEVEL)


def decrypt_correction(data: bytes, secret: Context, layout: HeadLayout) -> tuple[np.ndarray, dict[str, object]]:
    """A member's mask correction (the supervisor's side), checked as `decrypt_update` is."""
    return _decrypt(data, secret, layout, "correction", wire.FRESH_LEVEL)


def _decrypt(
    data: bytes, secret: Context, layout: HeadLayout, kind: str, level: int
) -> tuple[np.ndarray, dict[str, object]]:
    secret.require_secret()
    container = wire.unpack(data, secret, kind, layout.update_chunks, layout.result, level)
    values = np.array([v.decrypt() for v in container.vectors]).reshape(-1, layout.class_slots)
    width = layout.features + 1
    padding = np.concatenate([values[width:].ravel(), values[:width, layout.classes :].ravel()])
    if np.max(np.abs(padding), initial=0.0) > 1e-3:
        raise HEError("wrong-context", f"the {kind} does not decrypt under this member's key")
    return values[:width, : layout.classes].T, container.meta
