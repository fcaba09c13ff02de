#!/usr/bin/env bash
# Memory of the demo over time: runs the release daemon on the demo config (free ports, a
# temporary store) for MINUTES (default 5) and prints VmRSS every 30 s, then the growth
# between minute 2 and the end, and the stripped binary size. No thresholds.
#   bash benches/rss.sh [MINUTES]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-5}"
source "$ROOT/scripts/setup.sh" >/dev/null
cd "$ROOT" && cargo build --release --locked -q
TMP="$(mktemp -d)"; trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM=$(port); API=$(port)
sed -e "s/127.0.0.1:5020/127.0.0.1:$SIM/; s/port = 5020/port = $SIM/g; s/127.0.0.1:8080/127.0.0.1:$API/" \
    -e "s|\"../target/demo/edgecite.db\"|\"$TMP/edgecite.db\"|; s|\"../models\"|\"$ROOT/models\"|" \
    configs/demo.toml > "$TMP/demo.toml"
echo "rss-password-1" | target/release/edgecite user add rss --role viewer --password-stdin --config "$TMP/demo.toml" >/dev/null 2>&1
AUTH="Authorization: Bearer $(target/release/edgecite token create rss --config "$TMP/demo.toml" 2>/dev/null)"
target/release/edgecite run --config "$TMP/demo.toml" 2>"$TMP/log" & PID=$!
rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$PID/status; }
sqlite_mib() { curl -s "http://127.0.0.1:$API/healthz" | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["store"]["sqlite_memory_bytes"]/1048576))' 2>/dev/null || echo "?"; }
echo "binary: $(stat -c %s target/release/edgecite) bytes (stripped, release; ONNX Runtime not included)"
declare -A AT
for ((s = 0; s <= MINUTES * 60; s += 30)); do
  [ "$s" -gt 0 ] && sleep 30
  r=$(rss); AT[$s]=$r
  echo "t=${s}s RSS=${r} MiB (of which SQLite $(sqlite_mib) MiB)"
done
end=$((MINUTES * 60))
echo "RSS minute 2: ${AT[120]:-?} MiB, minute $MINUTES: ${AT[$end]} MiB"
curl -s -H "$AUTH" "http://127.0.0.1:$API/api/v1/findings?state=open" | python3 -c 'import json,sys; print("open findings:", [f["code"] for f in json.load(sys.stdin)])'
kill -TERM $PID; wait $PID && echo "clean exit"
