"""py-solc-x, forge and Hardhat compile contracts/ offline to the same runtime bytecode.

The CBOR metadata trailer (which hashes source paths and settings files) may differ between
tools; the code before it must not.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tclearn.chain.artifacts import ledger_artifact
from tclearn.chain.compile import REPO_ROOT


def strip_metadata(code_hex: str) -> bytes:
    code = bytes.fromhex(code_hex.removeprefix("0x"))
    trailer = int.from_bytes(code[-2:], "big") + 2
    return code[:-trailer]


@pytest.mark.slow
def test_forge_and_hardhat_build_the_same_runtime_code() -> None:
    ours = strip_metadata(ledger_artifact().deployed_bytecode)
    forge = REPO_ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
    subprocess.run([str(forge), "build", "--quiet"], cwd=REPO_ROOT, check=True)
    forge_artifact = json.loads((REPO_ROOT / "build/forge-out/ModelLedger.sol/ModelLedger.json").read_text())
    assert strip_metadata(forge_artifact["deployedBytecode"]["object"]) == ours

    subprocess.run(["bash", "scripts/hardhat-compile.sh", "--quiet"], cwd=REPO_ROOT, check=True)
    hardhat_path = REPO_ROOT / "build/hardhat-artifacts/contracts/ModelLedger.sol/ModelLedger.json"
    assert strip_metadata(json.loads(hardhat_path.read_text())["deployedBytecode"]) == ours
