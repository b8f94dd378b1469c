#!/usr/bin/env sh
# Build {{name}}.wasm from app.py and the WIT in ./wit.
#   pip install -r requirements.txt && ./build.sh [OUTPUT.wasm]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
componentize-py --wit-path "${BATON_WIT:-wit}" --world task componentize app --output "${1:-{{crate}}.wasm}"
