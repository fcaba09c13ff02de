#!/usr/bin/env bash
# Issue 21's side-by-side peer benchmark (edgecite vs Node-RED 4 + node-red-contrib-modbus vs
# pymodbus + paho-mqtt) and the MQTT publish table. Idempotent: installs what it needs, then
# runs benches/peers/peers.py with the arguments given (--seconds N, --only SYSTEM, ...).
# A benchmark, not a test: scripts/test.sh never runs it. See benches/peers/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${EDGECITE_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ] && [ -z "${EDGECITE_VENV:-}" ]; then
  # in a git worktree: the main checkout's .venv (scripts/setup.sh made it there)
  common="$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  [ -n "$common" ] && [ -x "$(dirname "$common")/.venv/bin/python" ] && VENV="$(dirname "$common")/.venv"
fi
log() { echo "[peers] $*" >&2; }

apt_need() { # apt_need COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $2 with apt"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  else
    log "error: '$1' is missing; install the Debian package '$2' and rerun"; exit 1
  fi
}
apt_need mosquitto mosquitto
apt_need mosquitto_pub mosquitto-clients
command -v node >/dev/null || { log "error: node (20 or later) is needed for Node-RED and mqtt.js"; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"; python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("pymodbus") != "3.16.1" or m.version("paho-mqtt") != "2.1.0")' 2>/dev/null; then
  log "installing benches/peers/requirements.txt into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
fi

# node_modules from the committed lock file; reinstalled only when the lock changed.
NODE="$HERE/node"
if [ ! -f "$NODE/node_modules/.peers-lock" ] || ! cmp -s "$NODE/package-lock.json" "$NODE/node_modules/.peers-lock"; then
  log "npm ci in benches/peers/node (node-red, node-red-contrib-modbus, mqtt)"
  (cd "$NODE" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$NODE/package-lock.json" "$NODE/node_modules/.peers-lock"
fi

# edgecite release binary (built if missing or older than the sources).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$CARGO_TARGET_DIR/release/edgecite"
if [ ! -x "$BIN" ] || [ -n "$(find "$ROOT/src" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$BIN" -print -quit)" ]; then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --quiet)
fi

exec "$VENV/bin/python" "$HERE/peers.py" --edgecite-bin "$BIN" "$@"
