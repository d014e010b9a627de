#!/usr/bin/env bash
# Installs everything, then runs the main job on the embedded default (in-process EVM, no
# server): a new coalition, its ledger deployed, and its status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DIR=${TCLEARN_DIR:-demo-coalition}
if [ ! -f "$DIR/coalition.json" ]; then
  .venv/bin/tclearn --dir "$DIR" init --members 3 --validators 4
fi
if ! grep -q '"ledger": {' "$DIR/coalition.json"; then
  .venv/bin/tclearn --dir "$DIR" deploy
fi
.venv/bin/tclearn --dir "$DIR" status
# A whole coalition of six hospitals, two of them poisoning every round, on the same default.
.venv/bin/tclearn simulate --members 6 --validators 4 --rounds 20 --attack label-flip --attackers 2
