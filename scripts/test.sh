#!/usr/bin/env bash
# Quick start 2: install what the tests need and run every test.
#   1. cargo test: unit tests, integration tests (daemon end to end on the simulator,
#      mbpoll against the simulator, broken configs, model parity), benches in test mode
#   2. tests/web/run.sh: the technician page in headless Chromium against the daemon
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --tests
cd "$ROOT"
cargo test --locked --all-targets
bash "$ROOT/tests/web/run.sh"
