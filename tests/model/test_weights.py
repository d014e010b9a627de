"""A peer's weights file is refused, with a reason, for every way it can be wrong."""

from __future__ import annotations

import io
import json
import struct

import pytest
import torch
from safetensors.torch import save

from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.weights import ModelRejected, expected_layout, load_weights, serialize

SPEC = ArchitectureSpec("mlp", (30,), 2)
LAYOUT = expected_layout(SPEC)


def good_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in build(SPEC, seed=1).state_dict().items()}


def with_header(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


def altered(change) -> bytes:
    state = good_state()
    change(state)
    return save(state)


def pickled() -> bytes:
    buffer = io.BytesIO()
    torch.save(good_state(), buffer)
    return buffer.getvalue()


def test_a_good_file_loads() -> None:
    tensors = load_weights(serialize(build(SPEC, seed=1)), LAYOUT)
    assert tensors.keys() == LAYOUT.keys()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x02", "malformed"),
        (struct.pack("<Q", 2**40) + b"{}", "malformed"),
        (with_header(b"not json"), "malformed"),
        (with_header(b"[1, 2]"), "malformed"),
        (with_header(json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()), "malformed"),
        (pickled(), "malformed"),
        (altered(lambda s: s.pop("1.weight")), "architecture"),
        (altered(lambda s: s.update(extra=torch.zeros(1))), "architecture"),
        (altered(lambda s: s.update({"1.weight": s["1.weight"].double()})), "dtype"),
        (altered(lambda s: s.update({"1.weight": torch.zeros(3, 3)})), "shape"),
        (altered(lambda s: s["1.bias"].__setitem__(0, float("nan"))), "non-finite"),
        (altered(lambda s: s["5.weight"].__setitem__((0, 0), float("inf"))), "non-finite"),
    ],
    ids=[
        "too-short",
        "header-past-end",
        "header-not-json",
        "header-not-object",
        "truncated-data",
        "pickle",
        "missing-tensor",
        "extra-tensor",
        "wrong-dtype",
        "wrong-shape",
        "nan",
        "inf",
    ],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ModelRejected) as refused:
        load_weights(data, LAYOUT)
    assert refused.value.reason == reason


def test_oversized_files_are_refused_before_parsing() -> None:
    data = serialize(build(SPEC))
    with pytest.raises(ModelRejected) as refused:
        load_weights(data, LAYOUT, max_bytes=len(data) - 1)
    assert refused.value.reason == "oversized"
