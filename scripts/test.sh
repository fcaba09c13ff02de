#!/usr/bin/env bash
# Quick start 2: install what the tests need and run every test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" --tests
cd "$ROOT"
cargo test --locked --all-targets
