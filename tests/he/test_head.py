"""Mode C's encrypted head: contexts, inference, copies and their marks, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts

from tclearn.he import ckks, head, wire
from tests.he.conftest import all_slots

BC = head.HeadLayout(30, 2)
FM = head.HeadLayout(96, 10)
MARK_KEY = b"m" * 32


def _copy(public: ckks.Context, layout: head.HeadLayout, seed: int = 0) -> tuple[np.ndarray, np.ndarray, bytes]:
    weights = np.random.default_rng(seed).normal(size=layout.shape) * 0.3
    mark = head.draw_mark(MARK_KEY, f"copy-{seed}".encode(), layout)
    return weights, mark, head.encrypt_copy(public, layout, weights, mark, block=7)


def test_a_participant_context_cannot_decrypt(keys) -> None:
    secret, public = keys[0]
    assert secret.secret and not public.secret
    with pytest.raises(ckks.HEError, match="only the supervisor decrypts") as refused:
        public.require_secret()
    assert refused.value.reason == "no-secret-key"
    with pytest.raises(ckks.HEError, match="no secret key"):
        public.secret_bytes()


def test_contexts_are_checked_on_load(keys) -> None:
    secret, public = keys[0]
    with pytest.raises(ckks.HEError) as wrong:
        ckks.load(public.public_bytes(), keys[1][1].fingerprint)
    assert wrong.value.reason == "wrong-context"
    with pytest.raises(ckks.HEError, match="must not hold a secret key"):
        ckks.load(secret.secret_bytes())
    with pytest.raises(ckks.HEError) as garbage:
        ckks.load(b"not a context")
    assert garbage.value.reason == "malformed"
    small = ts.context(ts.SCHEME_TYPE.CKKS, 4096, coeff_mod_bit_sizes=[40, 20, 40])
    small.generate_galois_keys()
    small.generate_relin_keys()
    with pytest.raises(ckks.HEError, match="N=4096"):
        ckks.load(small.serialize(save_secret_key=False))
    assert "secret" not in repr(public) or "public" in repr(public)


@pytest.mark.parametrize("encrypted", [False, True], ids=["samples-in-clear", "samples-encrypted"])
@pytest.mark.parametrize("layout", [BC, FM], ids=["breast-cancer", "fashion-mnist"])
def test_encrypted_inference_agrees_with_plaintext(keys, layout: head.HeadLayout, encrypted: bool) -> None:
    secret, public = keys[0]
    weights, _, copy = _copy(public, layout)
    x = np.random.default_rng(1).normal(size=(layout.rows + 9, layout.features))  # two batches, one padded
    samples = head.encrypt_samples(public, layout, x) if encrypted else x
    outputs = head.infer(head.load_copy(copy, public, layout), samples, public, layout)
    logits = head.decrypt_outputs(outputs, secret, layout)
    expected = head.plain_logits(weights, x)
    assert logits.shape == expected.shape
    assert np.mean(logits.argmax(1) == expected.argmax(1)) >= 0.99
    assert np.abs(logits - expected).max() < 1e-3
    with pytest.raises(ckks.HEError, match="no secret key"):
        head.decrypt_outputs(outputs, public, layout)


@pytest.mark.parametrize("layout", [BC, FM], ids=["breast-cancer", "fashion-mnist"])
def test_outputs_show_the_supervisor_only_logits(keys, layout: head.HeadLayout) -> None:
    """Every slot of an output holds one of the batch's logits (zero for the padding classes):
    no partial sums of a sample's features."""
    secret, public = keys[0]
    weights, _, copy = _copy(public, layout)
    x = np.random.default_rng(2).normal(size=(layout.rows, layout.features))
    outputs = head.infer(head.load_copy(copy, public, layout), x, public, layout)
    first = wire.unpack(outputs, secret, "outputs", 1, layout.result, head.OUTPUT_LEVEL).vectors[0]
    expected = np.zeros((layout.rows, layout.class_slots))
    expected[:, : layout.classes] = head.plain_logits(weights, x)
    slots = all_slots(first, secret).reshape(-1, layout.result)
    assert len(slots) == head.SPAN
    assert np.abs(slots - expected.ravel()).max() < 1e-3


def test_a_copy_decrypts_to_its_weights_and_mark(keys) -> None:
    secret, public = keys[0]
    weights, mark, copy = _copy(public, FM, seed=3)
    found_weights, found_mark = head.decrypt_copy(copy, secret, FM)
    assert np.abs(found_weights - weights).max() < 1e-6
    assert head.mark_matches(found_mark, mark) == 1.0
    other = head.draw_mark(MARK_KEY, b"copy-4", FM)
    assert 0.3 < head.mark_matches(found_mark, other) < 0.7


def test_a_rerandomised_copy_keeps_its_mark(keys) -> None:
    secret, public = keys[0]
    weights, mark, copy = _copy(public, BC, seed=5)
    container = head.load_copy(copy, public, BC)
    zero = ts.ckks_vector(public.context, [0.0] * ckks.SLOTS)
    disguised = wire.pack("copy", public, [v + zero for v in container.vectors], **container.meta)
    start = len(wire.MAGIC) + 4 + 400  # past the header
    assert sum(a != b for a, b in zip(disguised[start:], copy[start:], strict=False)) > 0.9 * (len(copy) - start)
    found_weights, found_mark = head.decrypt_copy(disguised, secret, BC)
    assert head.mark_matches(found_mark, mark) == 1.0
    assert np.abs(found_weights - weights).max() < 1e-6


@pytest.mark.parametrize(
    ("maker", "layout", "reason"), [(1, BC, "wrong-context"), (0, FM, "wrong-size")], ids=["context", "shape"]
)
def test_a_copy_under_another_context_or_of_another_shape_is_refused(keys, maker, layout, reason) -> None:
    _, public = keys[0]
    _, _, copy = _copy(keys[maker][1], layout)
    with pytest.raises(ckks.HEError) as refused:
        head.load_copy(copy, public, BC)
    assert refused.value.reason == reason


def test_a_vector_at_another_scale_is_refused(keys) -> None:
    _, public = keys[0]
    odd = ts.ckks_vector(public.context, [0.5] * ckks.SLOTS, scale=2**30)
    data = wire.pack("copy", public, [odd] * BC.groups, layout=BC.as_dict())
    with pytest.raises(ckks.HEError) as refused:
        head.load_copy(data, public, BC)
    assert refused.value.reason == "wrong-scale"


def test_a_used_vector_is_refused_as_a_copy(keys) -> None:
    """A copy must be fresh: one already multiplied has lost the depth inference needs."""
    _, public = keys[0]
    used = ts.ckks_vector(public.context, [0.5] * ckks.SLOTS) * ([2.0] * ckks.SLOTS)
    data = wire.pack("copy", public, [used] * BC.groups, layout=BC.as_dict())
    with pytest.raises(ckks.HEError) as refused:
        head.load_copy(data, public, BC)
    assert refused.value.reason == "wrong-scale"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"XXXXXX" + data[6:],
        lambda data: data[:200] + bytes(64) + data[264:],
        lambda data: data + b"trailing",
    ],
    ids=["cut", "magic", "overwritten", "trailing"],
)
def test_damaged_copies_are_refused(keys, damage) -> None:
    _, public = keys[0]
    _, _, copy = _copy(public, BC)
    with pytest.raises(ckks.HEError) as refused:
        head.load_copy(damage(copy), public, BC)
    assert refused.value.reason in ("malformed", "wrong-size")


def test_outputs_under_another_key_are_refused(keys) -> None:
    """Fashion-MNIST's 10 classes leave 6 class slots empty in every output: under another key
    they decrypt to noise, and the outputs are refused."""
    secret, public = keys[0]
    _, other_public = keys[1]
    _, _, copy = _copy(other_public, FM)
    outputs = head.infer(head.load_copy(copy, other_public, FM), np.zeros((3, FM.features)), other_public, FM)
    forged = outputs.replace(other_public.fingerprint.hex().encode(), public.fingerprint.hex().encode())
    with pytest.raises(ckks.HEError) as refused:
        head.decrypt_outputs(forged, secret, FM)
    assert refused.value.reason in ("wrong-context", "malformed")
