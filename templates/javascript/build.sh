#!/usr/bin/env sh
# Build {{name}}.wasm from task.js and the WIT in ./wit.
#   ./build.sh [OUTPUT.wasm]   (installs componentize-js with npm on first use)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
[ -d node_modules/@bytecodealliance/componentize-js ] || npm install --no-audit --no-fund
node node_modules/@bytecodealliance/componentize-js/src/cli.js task.js \
  --wit "${BATON_WIT:-wit}" --world-name task --disable fetch-event --out "${1:-{{crate}}.wasm}"
