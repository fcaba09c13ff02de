#!/usr/bin/env bash
# Quick start 1: build edgecite and run it on its built-in plant simulator.
# Open http://127.0.0.1:8080 ; stop with Ctrl-C.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo build --release --locked
# Published transformer failure cases for the reference library, from the repository's copy
# of the dga-series data set (data/dga-series, MIT); re-importing replaces them.
mkdir -p "$ROOT/target/demo"
python3 "$ROOT/scripts/dga_cases.py" "$ROOT/data/dga-series/dga_records_flat.csv" > "$ROOT/target/demo/dga-cases.toml"
"$ROOT/target/release/edgecite" refs import "$ROOT/target/demo/dga-cases.toml" --id dga-series-cases \
  --config "$ROOT/configs/demo.toml" | head -1 | sed 's/^/[demo] /' >&2
echo "[demo] open http://127.0.0.1:8080 and log in as demo / edgecite-demo  (Ctrl-C stops the daemon)" >&2
exec "$ROOT/target/release/edgecite" run --config "$ROOT/configs/demo.toml"
