#!/usr/bin/env sh
# Build the mes-record component from mes-record.js and Baton's WIT.
#   ./build.sh [OUTPUT.wasm]
# Installs the pinned componentize-js from package-lock.json on first use.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
wit="${BATON_WIT:-$here/../../../../wit}"
out="${1:-$here/mes_record.wasm}"
cd "$here"
[ -d node_modules/@bytecodealliance/componentize-js ] || npm install --no-audit --no-fund
node node_modules/@bytecodealliance/componentize-js/src/cli.js mes-record.js \
  --wit "$wit" --world-name task --disable fetch-event --out "$out"
