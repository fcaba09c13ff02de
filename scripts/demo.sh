#!/usr/bin/env bash
# Quick start 1: build edgecite and run it on its built-in plant simulator.
# Open http://127.0.0.1:8080 ; stop with Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo build --release --locked
echo "[demo] open http://127.0.0.1:8080 and log in as demo / edgecite-demo  (Ctrl-C stops the daemon)" >&2
exec "$ROOT/target/release/edgecite" run --config "$ROOT/configs/demo.toml"
