#!/usr/bin/env bash
# Quick start 2: install what the tests need and run every test.
#   1. cargo test: unit tests, integration tests (daemon end to end on the simulator,
#      Modbus against pymodbus and mbpoll, broken configs, model parity, systemd,
#      packaging), benches in test mode
#   2. tests/web/run.sh: the technician page in headless Chromium against the daemon
#   2b. models: each training script re-trains in a temp dir and must reproduce the
#      committed model outputs (--check)
#   3. cross/build.sh + cross/smoke.sh: the gateway targets, cross-built and run on the
#      demo under qemu-user
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --tests
cd "$ROOT"
stages=0
cargo test --locked --all-targets
stages=$((stages + 1))
bash "$ROOT/tests/web/run.sh"
stages=$((stages + 1))
"$ROOT/.venv/bin/python" "$ROOT/models/train/train_pump_anomaly.py" --check
"$ROOT/.venv/bin/python" "$ROOT/models/train/train_machine_temperature.py" --check
"$ROOT/.venv/bin/python" "$ROOT/models/train/report_pump_valve1.py" --check
"$ROOT/.venv/bin/python" "$ROOT/models/train/train_pump_valve_anomaly.py" --check
stages=$((stages + 1))
for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
  bash "$ROOT/cross/build.sh" "$target"
  bash "$ROOT/cross/smoke.sh" "$target"
  stages=$((stages + 1))
done
echo "stages: $stages passed, 0 failed"
