#!/usr/bin/env bash
# Run a cross-built edgecite under qemu-user on its demo: cross/smoke.sh TARGET
# aarch64: with ONNX Runtime from PyPI's aarch64 wheel, all three findings must open.
# armv7:   there is no armv7 ONNX Runtime wheel; the daemon runs the criteria and the
#          model criterion abstains (model_unavailable), which the smoke test checks.
# Needs qemu-user 10 (Debian 12's 7.2 crashes in ONNX Runtime start-up; use bookworm-backports).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:?usage: cross/smoke.sh aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf}"
case "$TARGET" in
  aarch64-unknown-linux-gnu) QEMU="qemu-aarch64 -L /usr/aarch64-linux-gnu"; WHEEL=aarch64 ;;
  armv7-unknown-linux-gnueabihf) QEMU="qemu-arm -L /usr/arm-linux-gnueabihf"; WHEEL="" ;;
  *) echo "cross/smoke.sh: unsupported target '$TARGET'" >&2; exit 2 ;;
esac
qemu_major() { ${QEMU%% *} --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -n1; }
if [ "$(qemu_major || echo 0)" -lt 10 ] 2>/dev/null || ! command -v "${QEMU%% *}" >/dev/null; then
  if [ "$(id -u)" = 0 ] && grep -q bookworm /etc/os-release; then
    echo "[smoke] installing qemu-user 10 from bookworm-backports" >&2
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/edgecite-backports.list
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-user >/dev/null
  elif [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null
  else
    echo "[smoke] qemu-user 10 is needed (Debian 12: apt-get install -t bookworm-backports qemu-user)" >&2; exit 1
  fi
fi
cd "$ROOT"
BIN="target/$TARGET/release/edgecite"
[ -x "$BIN" ] || bash cross/build.sh "$TARGET"
$QEMU "$BIN" version
TMP="$(mktemp -d)"; PID=""; trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; rm -rf "$TMP"' EXIT
ORT=""
if [ -n "$WHEEL" ]; then
  DIR="$ROOT/.venv-cross/$TARGET"
  if ! ls "$DIR"/onnxruntime/capi/libonnxruntime.so.* >/dev/null 2>&1; then
    mkdir -p "$DIR"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 -d "$DIR" \
      --platform "manylinux_2_28_$WHEEL" --platform "manylinux_2_27_$WHEEL" --platform "manylinux2014_$WHEEL" onnxruntime==1.31.1
    (cd "$DIR" && python3 -m zipfile -e onnxruntime-*.whl .)
  fi
  ORT="$(ls "$DIR"/onnxruntime/capi/libonnxruntime.so.* | head -n1)"
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM=$(port); API=$(port)
sed -e "s/127.0.0.1:5020/127.0.0.1:$SIM/; s/port = 5020/port = $SIM/g; s/127.0.0.1:8080/127.0.0.1:$API/" \
    -e "s|\"../target/demo/edgecite.db\"|\"$TMP/edgecite.db\"|; s|\"../models\"|\"$ROOT/models\"|" configs/demo.toml > "$TMP/demo.toml"
ORT_DYLIB_PATH="$ORT" $QEMU "$BIN" check --config "$TMP/demo.toml" > "$TMP/check.txt" 2>/dev/null || { cat "$TMP/check.txt"; exit 1; }
grep -E "^models:|pump_anomaly|ERROR" "$TMP/check.txt" || true
# The API needs credentials: a viewer token made with the cross-built binary itself.
echo "smoke-password-1" | $QEMU "$BIN" user add smoke --role viewer --password-stdin --config "$TMP/demo.toml" >/dev/null 2>&1
AUTH="Authorization: Bearer $($QEMU "$BIN" token create smoke --config "$TMP/demo.toml" 2>/dev/null)"
START=$(date +%s.%N)
ORT_DYLIB_PATH="$ORT" $QEMU "$BIN" run --config "$TMP/demo.toml" 2>"$TMP/log" & PID=$!
# One finding per asset and domain (docs/verdict.md): T1's DGA verdict and P1's rotating
# verdict (its code is the vibration zone's or the model's, whichever decides). With ONNX
# Runtime the model must have scored (normal or fault) inside that verdict; without it, it
# abstains as model_unavailable (checked below).
scored=1; [ -z "$ORT" ] && scored=0
for i in $(seq 240); do
  sleep 0.5
  if curl -sf -H "$AUTH" "http://127.0.0.1:$API/api/v1/findings?state=open" > "$TMP/open.json" 2>/dev/null &&
     curl -sf -H "$AUTH" "http://127.0.0.1:$API/api/v1/assets/P1" > "$TMP/p1.json" 2>/dev/null &&
     python3 - "$TMP/open.json" "$TMP/p1.json" "$scored" <<'PY'
import json, sys
codes = [f["code"] for f in json.load(open(sys.argv[1]))]
dga = any(c.startswith("DGA.") for c in codes)
rotating = any(c.startswith(("VIB.", "MODEL.")) for c in codes)
verdicts = [a for a in json.load(open(sys.argv[2]))["assessments"] if a["criterion"]["id"] == "verdict.rotating"]
model = [m for v in verdicts for m in v.get("methods") or [] if m["criterion"] == "model.pump_anomaly"]
scored = any(m["status"] in ("normal", "fault") for m in model)
sys.exit(0 if dga and rotating and (scored or sys.argv[3] == "0") else 1)
PY
  then break; fi
  [ "$i" = 240 ] && { echo "findings did not open within 120 s (want DGA. and VIB./MODEL. open, and with ONNX Runtime the model scored)"; tail -20 "$TMP/log"; exit 1; }
done
echo "open findings after $(python3 -c "print(round($(date +%s.%N) - $START, 1))") s under qemu: $(python3 -c 'import json,sys; print([f["code"] for f in json.load(open(sys.argv[1]))])' "$TMP/open.json")"
curl -s -H "$AUTH" "http://127.0.0.1:$API/api/v1/assets/P1" | python3 -c '
import json, sys
for a in json.load(sys.stdin)["assessments"]:
    print("  P1", a["criterion"]["id"], a["status"], a.get("reason") or "", (a["detail"] or "")[:90])
    for m in a.get("methods") or []:
        print("    method", m["criterion"], m["status"], m.get("reason") or "")'
if [ -z "$ORT" ]; then
  curl -s -H "$AUTH" "http://127.0.0.1:$API/api/v1/assets/P1" | grep -q '"model_unavailable"' || { echo "model criterion did not abstain"; exit 1; }
fi
kill -TERM $PID; wait $PID && echo "smoke test passed: $TARGET under $(echo $QEMU | cut -d' ' -f1)"
