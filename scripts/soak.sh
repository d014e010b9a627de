#!/usr/bin/env bash
# The long soak: 100 validator kills, anvil killed hard twice, the IPFS node once, as separate
# processes (benchmarks/soak.py); writes benchmarks/results/soak.json and its figures into
# docs/RELIABILITY.md. Needs scripts/setup.sh first. Takes about an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m benchmarks.soak --kills "${KILLS:-100}" --seed "${SEED:-0}" --docs
