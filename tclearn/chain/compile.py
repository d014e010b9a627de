"""Compile `contracts/` with the pinned solcjs through py-solc-x: a development step.

The package ships the compiled artifacts (`tclearn/chain/artifacts/`, read by
`tclearn.chain.artifacts`), so an installed TCLearn deploys and binds the ledger without Node or
a compiler. After changing a contract, run `python -m tclearn.chain.compile` to rebuild them; a
test checks that the shipped artifacts are what the sources compile to.

No native solc can be had on these machines, so py-solc-x drives `scripts/solc-adapter.cjs`, a
Node script that answers like solc over the npm `solc` package. A compile costs 1–3 s (mostly
WebAssembly start-up), hence the cache: the key covers every source, the settings and the
compiler version, so any change recompiles and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import solcx

from tclearn.chain.artifacts import SHIPPED, SHIPPED_DIR, Artifact
from tclearn.errors import ChainError
from tclearn.fileio import write_atomic

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
        write_atomic(cached, json.dumps(output))
    return _artifacts(output)


def _run_solc(sources: list[Path]) -> dict[str, Any]:
    if not ADAPTER.exists() or not (REPO_ROOT / "node_modules" / "solc").exists():
        raise ChainError("the Solidity compiler is not installed: run scripts/setup.sh (npm install)")
    standard_input = {
        "language": "Solidity",
        "sources": {str(p.relative_to(REPO_ROOT)): {"urls": [str(p.relative_to(REPO_ROOT))]} for p in sources},
        "settings": SETTINGS,
    }
    try:  # the adapter resolves the sources' relative paths against --base-path
        return solcx.compile_standard(
            standard_input, solc_binary=str(ADAPTER), allow_paths=[str(REPO_ROOT)], base_path=str(REPO_ROOT)
        )
    except solcx.exceptions.SolcError as exc:
        raise ChainError(f"compilation failed: {exc.message}") from exc


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


def ship(directory: Path = SHIPPED_DIR) -> list[Path]:
    """Compiles the sources and writes the artifacts the package ships (`SHIPPED`)."""
    compiled = compile_contracts()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SHIPPED:
        path = directory / f"{name}.json"
        write_atomic(path, compiled[name].to_json())
        written.append(path)
    return written


if __name__ == "__main__":
    for shipped in ship():
        print(f"wrote {shipped.relative_to(REPO_ROOT)}")
