#!/usr/bin/env bash
# Memory of the daemon polling 10,000 Modbus points for MINUTES (default 60): 20 TCP devices
# x 500 u16 points against the pymodbus peer on loopback, every second, with a zero
# deadband (the peer's values are constant, so the store gets each point once a minute).
# Prints RSS and SQLite's share every minute, then first/last. No thresholds.
#   bash benches/modbus_soak.sh [MINUTES]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-60}"
source "$ROOT/scripts/setup.sh" --tests >/dev/null
cd "$ROOT" && cargo build --release --locked -q
TMP="$(mktemp -d)"
cleanup() { kill "${PID:-0}" "${PEER:-0}" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
span = 500 + (500 // 25 - 1) * 3
units = {str(u): {"holding": list(range(span))} for u in range(1, 21)}
json.dump({"transport": "tcp", "port": 0, "units": units, "exit_on_stdin_eof": False}, open(f"{tmp}/spec.json", "w"))
PY
"$ROOT/.venv/bin/python" tests/peers/modbus_peer.py "$TMP/spec.json" >"$TMP/ready" 2>"$TMP/peer.log" & PEER=$!
for _ in $(seq 100); do grep -q READY "$TMP/ready" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '{split($3, a, ":"); print a[2]}' "$TMP/ready")
API=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$TMP" "$PORT" "$API" <<'PY'
import sys
tmp, port, api = sys.argv[1], sys.argv[2], sys.argv[3]
out = [f'[site]\nid = "soak"\n[api]\nlisten = "127.0.0.1:{api}"\n[store]\npath = "{tmp}/soak.db"\n[inference]\nenabled = false\n']
for u in range(1, 21):
    out.append(f'[[sources.modbus]]\nid = "d{u}"\nhost = "127.0.0.1"\nport = {port}\nunit = {u}\ninterval_ms = 1000\ntimeout_ms = 2000\nmax_gap = 3\npoints = [\n')
    for i in range(500):
        out.append(f'  {{ id = "p{i}", register = "holding", address = {i + (i // 25) * 3}, type = "u16", deadband_abs = 0.0 }},\n')
    out.append(']\n')
open(f"{tmp}/soak.toml", "w").write("".join(out))
PY
target/release/edgecite run --config "$TMP/soak.toml" 2>"$TMP/daemon.log" & PID=$!
field() { curl -s "http://127.0.0.1:$API/healthz" | python3 -c "import json,sys; h=json.load(sys.stdin); print($1)" 2>/dev/null || echo "?"; }
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$PID/status; }
sleep 5
echo "soak: 20 devices x 500 points every 1 s (10,000 points/s) against pymodbus; $(field 'sum(s["requests"] for s in h["sources"])') requests so far"
FIRST=""
for ((m = 1; m <= MINUTES; m++)); do
  sleep 60
  r=$(rss); [ -z "$FIRST" ] && FIRST=$r
  echo "minute $m: RSS ${r} MiB; SQLite $(field '"%.2f" % (h["store"]["sqlite_memory_bytes"]/1048576)') MiB; samples stored $(field 'h["store"]["samples"]'); errors $(field 'sum(s["errors"] for s in h["sources"])')"
done
echo "RSS minute 1: ${FIRST} MiB, minute ${MINUTES}: $(rss) MiB"
kill -TERM $PID; wait $PID && echo "clean exit"
