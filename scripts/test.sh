#!/usr/bin/env bash
# Installs everything, then runs every check: forge (unit, fuzz, invariant), slither, ruff,
# and pytest on two workers (which start and stop their own anvil and js-ipfs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== forge: Solidity unit, fuzz and invariant tests"
node_modules/@foundry-rs/forge-linux-amd64/bin/forge test
echo "== slither: static analysis of contracts/"
bash scripts/slither.sh
echo "== hardhat: the same sources compile with the same pinned compiler"
bash scripts/hardhat-compile.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pytest"
.venv/bin/pytest -q -n 2 "$@"
