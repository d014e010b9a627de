"""Training the head under encryption, and secure aggregation's masks."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tclearn.he import ckks, head, masks, training, wire
from tclearn.he.features import FrozenFeatures
from tests.he.conftest import all_slots

LAYOUT = head.HeadLayout(30, 2)
ROUND = b"coalition|round 3|parent 2"


def _raw(key: x25519.X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _data(seed: int, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LAYOUT.features))
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)


def test_the_local_map_is_gradient_descent() -> None:
    """The closed form equals the epochs run one by one."""
    x, y = _data(0)
    recipe = training.Recipe(epochs=7, ridge=0.01)
    local = training.local_map(x, y, 2, recipe)
    weights = np.random.default_rng(1).normal(size=LAYOUT.shape)
    augmented = np.hstack([x, np.ones((len(x), 1))])
    hessian = augmented.T @ augmented / len(x) + recipe.ridge * np.eye(31)
    rate = 1.0 / np.linalg.eigvalsh(hessian)[-1]
    stepped = weights.copy()
    for _ in range(recipe.epochs):
        gradient = (stepped @ augmented.T - np.eye(2)[y].T) @ augmented / len(x) + recipe.ridge * stepped
        stepped -= rate * gradient
    assert np.allclose(weights + training.plain_update(weights, local), stepped, atol=1e-9)


def test_an_encrypted_update_is_the_plain_one_masked(keys) -> None:
    secret, public = keys[0]
    weights = np.random.default_rng(2).normal(size=LAYOUT.shape) * 0.1
    copy = head.load_copy(
        head.encrypt_copy(public, LAYOUT, weights, head.draw_mark(b"k" * 32, b"c", LAYOUT)), public, LAYOUT
    )
    local = training.local_map(*_data(3), 2, training.Recipe())
    mask = np.random.default_rng(4).uniform(-1e4, 1e4, size=LAYOUT.shape)
    update = training.encrypted_update(copy.vectors, public, LAYOUT, local, 0.5, mask, round=3)
    found, meta = training.decrypt_update(update, secret, LAYOUT)
    assert meta["round"] == 3
    assert np.abs(found - mask - 0.5 * training.plain_update(weights, local)).max() < 1e-4
    # every repeat of the result is masked, not only the first (a plain addend would miss them)
    vector = wire.unpack(update, secret, "update", LAYOUT.update_chunks, LAYOUT.result, head.OUTPUT_LEVEL).vectors[0]
    repeats = all_slots(vector, secret).reshape(-1, LAYOUT.result)
    assert np.abs(repeats - repeats[0]).max() < 1e-3


def test_an_update_is_refused_under_another_key(keys) -> None:
    _, public = keys[0]
    other_secret, _ = keys[1]
    copy = head.load_copy(
        head.encrypt_copy(public, LAYOUT, np.zeros(LAYOUT.shape), np.ones((2, LAYOUT.rows))), public, LAYOUT
    )
    update = training.encrypted_update(
        copy.vectors, public, LAYOUT, training.local_map(*_data(5), 2, training.Recipe()), 1.0, np.zeros(LAYOUT.shape)
    )
    with pytest.raises(ckks.HEError) as refused:
        training.decrypt_update(update, other_secret, LAYOUT)
    assert refused.value.reason == "wrong-context"
    # forging the header's fingerprint does not help: the key shows in the zero lanes
    forged = update.replace(public.fingerprint.hex().encode(), other_secret.fingerprint.hex().encode())
    with pytest.raises(ckks.HEError) as noise:
        training.decrypt_update(forged, other_secret, LAYOUT)
    assert noise.value.reason in ("wrong-context", "malformed")


def test_masks_cancel_in_the_sum() -> None:
    members = {f"0x{i:040x}": x25519.X25519PrivateKey.generate() for i in range(4)}
    public = {address: _raw(key) for address, key in members.items()}
    shape = LAYOUT.shape
    drawn = {
        me: masks.mask(me, key, {a: p for a, p in public.items() if a != me}, ROUND, shape)
        for me, key in members.items()
    }
    assert np.abs(sum(drawn.values())).max() < 1e-6
    assert all(np.abs(m).max() > 1e3 for m in drawn.values())
    assert all(np.abs(m).max() < masks.BOUND for m in drawn.values())
    other_round = masks.mask(
        *next(iter(members.items())), {a: p for a, p in list(public.items())[1:]}, b"another", shape
    )
    assert not np.allclose(other_round, next(iter(drawn.values())))


def test_a_correction_removes_absent_members_masks() -> None:
    members = {f"0x{i:040x}": x25519.X25519PrivateKey.generate() for i in range(4)}
    public = {address: _raw(key) for address, key in members.items()}
    absent = ["0x" + "0" * 39 + "2"]
    total = np.zeros(LAYOUT.shape)
    for me, key in members.items():
        if me in absent:
            continue
        peers = {a: p for a, p in public.items() if a != me}
        total += masks.mask(me, key, peers, ROUND, LAYOUT.shape)
        total -= masks.correction(me, key, peers, absent, ROUND, LAYOUT.shape)
    assert np.abs(total).max() < 1e-6


def test_a_correction_travels_encrypted_for_the_supervisor_alone(keys) -> None:
    """A correction decrypts to the values filed, and only under its member's key; it unmasks
    a present member's update in the sum when it is subtracted."""
    secret, public = keys[0]
    other_secret, _ = keys[1]
    values = np.random.default_rng(6).uniform(-1e4, 1e4, size=LAYOUT.shape)
    container = training.encrypted_correction(public, LAYOUT, values, parent=2)
    assert wire.header(container)["kind"] == "correction"
    found, meta = training.decrypt_correction(container, secret, LAYOUT)
    assert meta["parent"] == 2 and np.abs(found - values).max() < 1e-4
    with pytest.raises(ckks.HEError) as refused:
        training.decrypt_correction(container, other_secret, LAYOUT)
    assert refused.value.reason == "wrong-context"
    with pytest.raises(ckks.HEError) as kind:  # a correction is not an update, nor the reverse
        training.decrypt_update(container, secret, LAYOUT)
    assert kind.value.reason == "malformed"
    with pytest.raises(ckks.HEError) as shape:
        training.encrypted_correction(public, LAYOUT, values[:, 1:])
    assert shape.value.reason == "wrong-size"


def test_the_frozen_features_are_fixed_by_the_seed() -> None:
    images = np.random.default_rng(0).uniform(size=(5, 1, 28, 28))
    extractor = FrozenFeatures.for_input((1, 28, 28), seed=11)
    assert extractor.width == 96 == extractor(images).shape[1]
    assert np.array_equal(extractor(images), FrozenFeatures.for_input((1, 28, 28), seed=11)(images))
    assert not np.allclose(extractor(images), FrozenFeatures.for_input((1, 28, 28), seed=12)(images))
    table = FrozenFeatures.for_input((30,), seed=0)
    assert table.width == 30 and table(np.ones((2, 30))).shape == (2, 30)


def test_an_update_wider_than_a_ciphertext_comes_in_chunks(keys) -> None:
    """Fashion-MNIST's head: 97 columns, 32 a vector (every class): four vectors."""
    secret, public = keys[0]
    layout = head.HeadLayout(96, 10)
    assert layout.update_chunks == 4
    rng = np.random.default_rng(6)
    weights = rng.normal(size=layout.shape) * 0.1
    mark = head.draw_mark(b"k" * 32, b"c", layout)
    copy = head.load_copy(head.encrypt_copy(public, layout, weights, mark), public, layout)
    x, y = rng.normal(size=(80, 96)), rng.integers(0, 10, 80)
    local = training.local_map(x, y, 10, training.Recipe(epochs=3))
    mask = rng.uniform(-1e3, 1e3, size=layout.shape)
    found, _ = training.decrypt_update(
        training.encrypted_update(copy.vectors, public, layout, local, 2.0, mask), secret, layout
    )
    assert np.abs(found - mask - 2.0 * training.plain_update(weights, local)).max() < 1e-3
