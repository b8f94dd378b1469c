#!/usr/bin/env sh
# Build the vibration-check component from app.py and Baton's WIT.
#   ./build.sh [OUTPUT.wasm]
# Needs componentize-py (pip install -r requirements.txt).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
wit="${BATON_WIT:-$here/../../../../wit}"
out="${1:-$here/vibration_check.wasm}"
cd "$here"
componentize-py --wit-path "$wit" --world task componentize app --output "$out"
