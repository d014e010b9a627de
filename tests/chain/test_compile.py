"""Compilation through the solcjs adapter, its cache, and the revert decoder built from the ABI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from tclearn.chain import artifacts
from tclearn.chain import compile as compile_module
from tclearn.chain.artifacts import ledger_artifact
from tclearn.chain.compile import ADAPTER, compile_contracts
from tclearn.chain.revert import ErrorDecoder
from tclearn.errors import ChainError


def test_ledger_compiles_within_the_contract_size_limit() -> None:
    artifact = ledger_artifact()
    assert len(bytes.fromhex(artifact.deployed_bytecode)) < 24_576  # EIP-170
    names = {item["name"] for item in artifact.abi if item["type"] == "function"}
    assert {"registerUpdate", "propose", "vote", "expire", "redraw", "proposeMembership"} <= names


def test_the_shipped_artifacts_are_what_the_sources_compile_to(tmp_path: Path) -> None:
    """The package ships compiled contracts (no Node needed to run it): they must be current.
    After changing a contract: python -m tclearn.chain.compile."""
    compiled = compile_contracts()
    for name in artifacts.SHIPPED:
        assert artifacts.shipped(name) == compiled[name], f"{name}: run python -m tclearn.chain.compile"


def test_a_damaged_shipped_artifact_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ModelLedger.json").write_text("{")
    monkeypatch.setattr(artifacts, "SHIPPED_DIR", tmp_path)
    artifacts.shipped.cache_clear()
    try:
        with pytest.raises(ChainError, match="reinstall TCLearn"):
            ledger_artifact()
    finally:
        artifacts.shipped.cache_clear()


def test_second_compile_is_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    compile_contracts()

    def must_not_run(*_: object) -> None:
        raise AssertionError("recompiled although the sources did not change")

    monkeypatch.setattr(compile_module, "_run_solc", must_not_run)
    assert "ModelLedger" in compile_contracts()


def test_a_source_change_changes_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "contracts"
    shutil.copytree(compile_module.CONTRACTS_DIR, copy)
    monkeypatch.setattr(compile_module, "REPO_ROOT", tmp_path)
    key = compile_module._cache_key(compile_module.source_files(copy))
    assert compile_module._cache_key(compile_module.source_files(copy)) == key
    ledger = copy / "ModelLedger.sol"
    ledger.write_text(ledger.read_text() + "\n// touched\n")
    assert compile_module._cache_key(compile_module.source_files(copy)) != key


def test_adapter_answers_more_than_64_kib_without_truncation() -> None:
    """The STACK.md trap: an adapter that exits before stdout drains cuts output at 64 KiB."""
    sources = {str(p.relative_to(compile_module.REPO_ROOT)): {"urls": [str(p)]} for p in compile_module.source_files()}
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {**compile_module.SETTINGS, "outputSelection": {"*": {"*": ["*"]}}},
    }
    done = subprocess.run(
        [str(ADAPTER), "--standard-json", "--base-path", str(compile_module.REPO_ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(done.stdout) > 65_536
    assert "ModelLedger" in json.loads(done.stdout)["contracts"]["contracts/ModelLedger.sol"]


def test_compile_errors_are_chain_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "contracts"
    broken.mkdir()
    (broken / "Broken.sol").write_text("pragma solidity 0.8.37; contract Broken { function }")
    monkeypatch.setattr(compile_module, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(compile_module, "ADAPTER", ADAPTER)
    (tmp_path / "node_modules").symlink_to(Path(ADAPTER).parents[1] / "node_modules")
    with pytest.raises(ChainError, match="compilation failed"):
        compile_module._run_solc([broken / "Broken.sol"])


def test_error_decoder_names_custom_errors_and_builtins() -> None:
    decoder = ErrorDecoder(ledger_artifact().abi)
    selector = function_signature_to_4byte_selector("BatchTooSmall(uint32,uint32)")
    reverted = decoder.decode(selector + encode(["uint32", "uint32"], [4, 16]))
    assert (reverted.name, reverted.error_args) == ("BatchTooSmall", {"batchSize": 4, "minBatchSize": 16})
    legacy = decoder.decode(bytes.fromhex("08c379a0") + encode(["string"], ["nope"]))
    assert (legacy.name, legacy.error_args) == ("Error", {"reason": "nope"})
    assert decoder.decode(b"\xde\xad\xbe\xef").name == "UnknownRevert"
