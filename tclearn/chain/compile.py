"""Compile `contracts/` with the pinned solcjs through py-solc-x, caching artifacts by source hash.

No native solc can be had on these machines, so py-solc-x drives `scripts/solc-adapter.cjs`, a
Node script that answers like solc over the npm `solc` package. A compile costs 1–3 s (mostly
WebAssembly start-up), hence the cache: the key covers every source, the settings and the
compiler version, so any change recompiles and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx

from tclearn.errors import ChainError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
ADAPTER = REPO_ROOT / "scripts" / "solc-adapter.cjs"
CACHE_DIR = REPO_ROOT / "build" / "artifacts"

SOLC_VERSION = "0.8.37"
# Kept equal to foundry.toml and hardhat.config.js, so the three builds agree.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


@dataclass(frozen=True)
class Artifact:
    """What deployment and bindings need of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def source_files(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """The production sources: everything under contracts/ except the forge tests."""
    return sorted(p for p in contracts_dir.rglob("*.sol") if "test" not in p.relative_to(contracts_dir).parts)


def _cache_key(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"solc": SOLC_VERSION, "settings": SETTINGS}, sort_keys=True).encode())
    for path in sources:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    oz_package = REPO_ROOT / "node_modules" / "@openzeppelin" / "contracts" / "package.json"
    if oz_package.exists():
        digest.update(oz_package.read_bytes())
    return digest.hexdigest()


def compile_contracts(cache_dir: Path = CACHE_DIR) -> dict[str, Artifact]:
    """Every contract of `contracts/`, by name, from cache when the sources are unchanged."""
    sources = source_files()
    if not sources:
        raise ChainError(f"no Solidity sources under {CONTRACTS_DIR}")
    cached = cache_dir / f"{_cache_key(sources)}.json"
    if cached.exists():
        output = json.loads(cached.read_text())
    else:
        output = _run_solc(sources)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(output))
        os.replace(tmp, cached)
    return _artifacts(output)


def _run_solc(sources: list[Path]) -> dict[str, Any]:
    if not ADAPTER.exists() or not (REPO_ROOT / "node_modules" / "solc").exists():
        raise ChainError("the Solidity compiler is not installed: run scripts/setup.sh (npm install)")
    standard_input = {
        "language": "Solidity",
        "sources": {str(p.relative_to(REPO_ROOT)): {"urls": [str(p.relative_to(REPO_ROOT))]} for p in sources},
        "settings": SETTINGS,
    }
    cwd = Path.cwd()
    try:
        os.chdir(REPO_ROOT)
        return solcx.compile_standard(
            standard_input, solc_binary=str(ADAPTER), allow_paths=[str(REPO_ROOT)], base_path=str(REPO_ROOT)
        )
    except solcx.exceptions.SolcError as exc:
        raise ChainError(f"compilation failed: {exc.message}") from exc
    finally:
        os.chdir(cwd)


def _artifacts(output: dict[str, Any]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for contracts in output["contracts"].values():
        for name, data in contracts.items():
            artifacts[name] = Artifact(
                name=name,
                abi=data["abi"],
                bytecode=data["evm"]["bytecode"]["object"],
                deployed_bytecode=data["evm"]["deployedBytecode"]["object"],
            )
    return artifacts


def ledger_artifact() -> Artifact:
    """The one contract a coalition deploys: ModelLedger (which inherits Coalition)."""
    return compile_contracts()["ModelLedger"]
