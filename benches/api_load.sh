#!/usr/bin/env bash
# API latency under load (issue 7): the release daemon runs the demo (simulator, both Modbus
# sources, criteria, model) while wrk drives 50 concurrent connections with an API token
# against one endpoint at a time. Prints wrk's latency distribution (p50 .. p99).
#   benches/api_load.sh [seconds per endpoint, default 20]
# Needs: wrk (apt-get install wrk), a release build (cargo build --release), ONNX Runtime
# (source scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUR="${1:-20}"
BIN="$ROOT/target/release/edgecite"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release" >&2; exit 1; }
[ -n "${ORT_DYLIB_PATH:-}" ] || source "$ROOT/scripts/setup.sh" >/dev/null
TMP="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
read -r SIM API < <(python3 -c 'import socket
ps=[]
for _ in range(2):
    s=socket.socket(); s.bind(("127.0.0.1",0)); ps.append(s)
print(*[s.getsockname()[1] for s in ps])')
sed -e "s/127.0.0.1:5020/127.0.0.1:$SIM/; s/port = 5020/port = $SIM/; s/127.0.0.1:8080/127.0.0.1:$API/" \
    -e "s#\"../target/demo/edgecite.db\"#\"$TMP/e.db\"#; s#\"../models\"#\"$ROOT/models\"#" "$ROOT/configs/demo.toml" >"$TMP/c.toml"
echo "bench-password-1" | "$BIN" user add bench --role viewer --password-stdin -c "$TMP/c.toml" >/dev/null 2>&1
TOKEN="$("$BIN" token create bench -c "$TMP/c.toml" 2>/dev/null)"
"$BIN" run -c "$TMP/c.toml" 2>"$TMP/log" &
PID=$!
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$API/healthz" >/dev/null && break; sleep 0.5; done
# Let the faults develop so that findings exist (the demo opens them within ~30 s).
for _ in $(seq 60); do
  n="$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API/api/v1/findings?state=open" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
  [ "$n" -ge 3 ] && break; sleep 1
done
echo "open findings: $n; daemon pid $PID; $(nproc) cores" >&2
cat >"$TMP/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
# While wrk runs, sample how old the pipeline's last evaluation is (interval: 1 s): the
# pipeline must keep evaluating under API load.
eval_age() {
  curl -s --max-time 2 "http://127.0.0.1:$API/healthz" | python3 -c 'import json,sys,datetime
h=json.load(sys.stdin); t=datetime.datetime.fromisoformat(h["last_evaluation"].replace("Z","+00:00"))
print(int((datetime.datetime.now(datetime.timezone.utc)-t).total_seconds()*1000))' 2>/dev/null || echo 99999
}
for path in /api/v1/findings?state=open /api/v1/assets /api/v1/findings/1 /healthz; do
  echo "== GET $path: 50 connections, 2 threads, ${DUR} s"
  ( for _ in $(seq $((DUR * 2 - 2))); do sleep 0.5; eval_age; done >"$TMP/ages" ) &
  SAMPLER=$!
  wrk -t2 -c50 -d"${DUR}s" --latency -s "$TMP/auth.lua" "http://127.0.0.1:$API$path" | sed -n '/Latency Distribution/,/Requests\/sec/p;/Non-2xx/p'
  wait "$SAMPLER"
  sort -n "$TMP/ages" | awk '{a[NR]=$1} END {printf "  pipeline: last evaluation at most %d ms old during the run (median %d ms; interval 1000 ms)\n", a[NR], a[int((NR+1)/2)]}'
done
ps -o rss=,pcpu= -p "$PID" | awk '{printf "daemon RSS %.1f MiB, CPU %s%% (lifetime average)\n", $1/1024, $2}'
grep -c "finding opened" "$TMP/log" | sed 's/^/findings opened during the run: /'
