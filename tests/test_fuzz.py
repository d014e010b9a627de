"""Hypothesis fuzzes what reads untrusted bytes: a peer's weights file, a member's CSV, the
coalition's config. Whatever comes in, the answer is the parsed value or a refusal with its
reason, never another exception (which would be a traceback for the user)."""

from __future__ import annotations

import json
import os
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from tclearn.config import CoalitionConfig
from tclearn.data.datasets import DataError
from tclearn.data.loaders import load_csv
from tclearn.errors import TCLearnError
from tclearn.model.architectures import ArchitectureSpec, build
from tclearn.model.weights import WEIGHTS_REASONS, ModelRejected, expected_layout, load_weights
from tclearn.rules import CoalitionRules

pytestmark = pytest.mark.slow
# 10,000 cases in CI: half on the weights decoder (what peers send), a quarter each on the CSV
# loader and the config parser. TCLEARN_FUZZ_SCALE multiplies them (0.1 for a quick look).
SCALE = float(os.environ.get("TCLEARN_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,  # the same cases on every CI run: a failure is a bug, not bad luck
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


SPEC = ArchitectureSpec("mlp", (4,), 2, hidden=3)
LAYOUT = expected_layout(SPEC)
VALID = save({k: v.contiguous() for k, v in build(SPEC).state_dict().items()})


def _spliced(data: bytes, position: int, insert: bytes, cut: int) -> bytes:
    position %= len(data) + 1
    return data[:position] + insert + data[position + cut :]


model_bytes = st.one_of(
    st.binary(max_size=2048),
    st.builds(_spliced, st.just(VALID), st.integers(0, len(VALID)), st.binary(max_size=64), st.integers(0, 64)),
    st.builds(lambda n, body: struct.pack("<Q", n) + body, st.integers(0, 2**64 - 1), st.binary(max_size=512)),
    st.builds(
        lambda header: struct.pack("<Q", len(header)) + header + bytes(256),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)


@fuzz(5_000)
@given(model_bytes)
def test_a_weights_file_is_tensors_of_the_architecture_or_a_refusal_with_its_reason(data: bytes) -> None:
    try:
        tensors = load_weights(data, LAYOUT)
    except ModelRejected as exc:
        assert exc.reason in WEIGHTS_REASONS and str(exc)
        return
    assert set(tensors) == set(LAYOUT)
    assert all(tuple(tensors[k].shape) == LAYOUT[k].shape and torch.isfinite(tensors[k]).all() for k in LAYOUT)


cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 5).map(str),
    st.text(alphabet=",.-+eE0123456789 naifNAIF\t\"'", max_size=6),
)
csv_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.lists(cell, min_size=0, max_size=6).map(",".join), max_size=12).map("\n".join),
)


@fuzz(2_500)
@given(csv_text)
def test_a_csv_is_rows_of_features_and_labels_or_a_refusal(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.csv"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        data = load_csv(path, (3,))
    except DataError as exc:
        assert str(exc)
        return
    assert data.x.shape == (len(data.y), 3) and (data.y >= 0).all()


VALID_CONFIG = {
    "name": "fuzz",
    "rules": CoalitionRules(architecture=SPEC.as_dict()).as_dict(),
    "participants": {
        "member-1": {"address": "0x" + "12" * 20, "keystore": "keystores/member-1.json", "roles": ["member"]}
    },
}
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _set(document: dict, path: list[str], value: object) -> dict:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node
    if isinstance(node, dict):
        node[path[-1]] = value
    return copy


config_paths = st.sampled_from(
    [
        ["name"],
        ["chain"],
        ["store"],
        ["proposal_timeout"],
        ["participants"],
        ["participants", "member-1"],
        ["participants", "member-1", "address"],
        ["participants", "member-1", "roles"],
        ["rules"],
        ["rules", "architecture"],
        ["rules", "tolerance"],
        ["rules", "training"],
        ["rules", "preprocessing"],
        ["rules", "learning"],
        ["rules", "min_batch_size"],
        ["ledger"],
        ["genesis"],
        ["task"],
        ["unknown"],
    ]
)


@fuzz(2_500)
@given(
    st.one_of(
        json_value.map(json.dumps),
        st.builds(_set, st.just(VALID_CONFIG), config_paths, json_value).map(json.dumps),
        st.binary(max_size=200),
    )
)
def test_a_config_loads_or_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, document: str | bytes
) -> None:
    directory = tmp_path_factory.getbasetemp() / "fuzz-config"
    directory.mkdir(exist_ok=True)
    path = directory / "coalition.json"
    path.write_bytes(document if isinstance(document, bytes) else document.encode("utf-8", "surrogateescape"))
    try:
        config = CoalitionConfig.load(directory)
    except TCLearnError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(config.rules, CoalitionRules)
