#!/usr/bin/env bash
# Footprint on this machine: stripped binary size per built target, RSS idle (no sources,
# no models), and time from start to the first Modbus poll on the demo (ONNX Runtime
# loaded). Prints numbers; no thresholds. bash benches/footprint.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
cd "$ROOT" && cargo build --release --locked -q
for t in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
  b="target/$t/release/edgecite"; [ "$t" = x86_64-unknown-linux-gnu ] && b=target/release/edgecite
  [ -f "$b" ] && echo "binary $t: $(stat -c %s "$b") bytes"
done
TMP="$(mktemp -d)"; PID=""; trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; rm -rf "$TMP"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$1/status; }
# Idle: the packaged default config (no sources, no models), 20 s after start.
API=$(port)
sed -e "s|/var/lib/edgecite/edgecite.db|$TMP/idle.db|; s|127.0.0.1:8080|127.0.0.1:$API|" configs/gateway.toml > "$TMP/idle.toml"
target/release/edgecite run --config "$TMP/idle.toml" 2>/dev/null & PID=$!
sleep 20; echo "RSS idle (no sources, no models, after 20 s): $(rss $PID) MiB"; kill -TERM $PID; wait $PID || true; PID=""
# Start to first poll on the demo.
SIM=$(port); API=$(port)
sed -e "s/127.0.0.1:5020/127.0.0.1:$SIM/; s/port = 5020/port = $SIM/g; s/127.0.0.1:8080/127.0.0.1:$API/" \
    -e "s|\"../target/demo/edgecite.db\"|\"$TMP/demo.db\"|; s|\"../models\"|\"$ROOT/models\"|" configs/demo.toml > "$TMP/demo.toml"
T0=$(date +%s%N)
target/release/edgecite run --config "$TMP/demo.toml" 2>/dev/null & PID=$!
until curl -sf "http://127.0.0.1:$API/healthz" 2>/dev/null | python3 -c 'import json,sys; h=json.load(sys.stdin); sys.exit(0 if any(s["last_success"] for s in h["sources"]) else 1)' 2>/dev/null; do sleep 0.005; done
T1=$(date +%s%N)
echo "start to first successful Modbus poll (demo, ONNX Runtime and model loaded): $(( (T1 - T0) / 1000000 )) ms"
kill -TERM $PID; wait $PID || true; PID=""
