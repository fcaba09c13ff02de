#!/usr/bin/env bash
# End-to-end test of the technician page in Debian's headless Chromium.
# Self-contained and idempotent: installs what is missing (chromium, a CJK font, node modules),
# builds the daemon, runs the demo on free ports with a temp store, runs `node --test` on every
# *.test.mjs, one file at a time, page.test.mjs last (it stops the daemon for its offline test),
# stops the daemon on exit and exits with the test's status.
# Screenshots go to artifacts/web/ at the repo root (gitignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CHROMIUM=/usr/bin/chromium
ART="$ROOT/artifacts/web"

log() { printf '[web-e2e] %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
APT_UPDATED=0
apt_install() {
  is_root || return 1
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq >/dev/null && APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- tools -------------------------------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
  log "installing chromium (apt)"
  apt_install chromium || { log "chromium missing at $CHROMIUM and cannot install it (not root?)"; exit 1; }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm (apt)"
  apt_install nodejs npm || { log "node/npm missing and cannot install them"; exit 1; }
fi
# A CJK font so that zh-CN screenshots show glyphs, not boxes (phones have one already).
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then
  log "installing a CJK font (fonts-wqy-microhei) for the zh screenshots"
  apt_install fonts-wqy-microhei || log "warning: no CJK font; zh screenshots will show boxes"
fi

# --- node modules: `npm ci` when missing or stale against package-lock.json ---------------
LOCK_SUM="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
STAMP="$HERE/node_modules/.edgecite-lock-sha256"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ] || [ ! -d "$HERE/node_modules/playwright-core" ]; then
  log "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
  echo "$LOCK_SUM" >"$STAMP"
fi

# --- daemon ------------------------------------------------------------------------------
log "cargo build --locked"
(cd "$ROOT" && cargo build --locked >&2)
BIN="$ROOT/target/debug/edgecite"

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
  ORT_DYLIB_PATH="$(ls "$ROOT"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1 || true)"
  [ -n "$ORT_DYLIB_PATH" ] || { log "ORT_DYLIB_PATH unset and no onnxruntime under $ROOT/.venv"; exit 1; }
  export ORT_DYLIB_PATH
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/edgecite-web.XXXXXX")"
DAEMON_PID=""
cleanup() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null \
     && [ "$(ps -o comm= -p "$DAEMON_PID" 2>/dev/null)" = edgecite ]; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "$rc" != 0 ] && [ -f "$TMP/daemon.log" ]; then
    log "daemon log (last 30 lines):"; tail -n 30 "$TMP/daemon.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two free loopback ports: the simulator (both Modbus sources poll it) and the HTTP API.
read -r SIM_PORT API_PORT < <(node -e '
  const net = require("net"); const ports = [];
  const grab = () => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => {
    ports.push(s.address().port); s.close(() => ports.length < 2 ? grab() : console.log(ports.join(" "))); }); };
  grab();')
[ "$SIM_PORT" != "$API_PORT" ] || { log "could not get two distinct free ports"; exit 1; }

# A copy of configs/demo.toml with free ports, a temp store and an absolute models_dir.
awk -v sim="$SIM_PORT" -v api="$API_PORT" -v store="$TMP/edgecite.db" -v models="$ROOT/models" '
  /^\[/ { sec = $0 }
  sec == "[simulator]"       && /^listen *=/     { print "listen = \"127.0.0.1:" sim "\""; next }
  sec == "[[sources.modbus]]" && /^port *=/      { print "port = " sim; next }
  sec == "[api]"             && /^listen *=/     { print "listen = \"127.0.0.1:" api "\""; next }
  sec == "[store]"           && /^path *=/       { print "path = \"" store "\""; next }
  sec == "[inference]"       && /^models_dir *=/ { print "models_dir = \"" models "\""; next }
  { print }' "$ROOT/configs/demo.toml" >"$TMP/demo.toml"
for want in "127.0.0.1:$SIM_PORT" "port = $SIM_PORT" "127.0.0.1:$API_PORT" "$TMP/edgecite.db" "$ROOT/models"; do
  grep -qF "$want" "$TMP/demo.toml" || { log "config rewrite failed (no \"$want\")"; exit 1; }
done

# A viewer besides the demo's technician, for the role test.
echo "viewer-pass-1" | "$BIN" user add viewer1 --role viewer --password-stdin --config "$TMP/demo.toml" >/dev/null 2>&1 \
  || { log "cannot create the viewer user"; exit 1; }

URL="http://127.0.0.1:$API_PORT"
log "starting daemon: simulator :$SIM_PORT, API $URL"
"$BIN" run --config "$TMP/demo.toml" >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!

ready=0
for _ in $(seq 120); do
  kill -0 "$DAEMON_PID" 2>/dev/null || { log "daemon exited during start-up"; exit 1; }
  if node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$URL/healthz"; then
    ready=1; break
  fi
  sleep 0.5
done
[ "$ready" = 1 ] || { log "no /healthz after 60 s"; exit 1; }

# --- benchmark (issue 14): `run.sh --bench` measures instead of testing --------------------
if [ "${1:-}" = "--bench" ]; then
  if [ ! -d "$HERE/bench/node_modules/lighthouse" ]; then
    log "npm ci (bench: lighthouse)"; (cd "$HERE/bench" && npm ci --no-audit --no-fund >&2)
  fi
  (cd "$HERE/bench" && EDGECITE_URL="$URL" CHROME_PATH="$CHROMIUM" node field_bench.mjs)
  exit $?
fi

# --- test --------------------------------------------------------------------------------
mkdir -p "$ART"
set +e
# The baseline test first: page.test.mjs stops the daemon at its end.
(cd "$HERE" && EDGECITE_URL="$URL" CHROMIUM_PATH="$CHROMIUM" node --test --test-reporter=spec baseline.test.mjs)
bl_status=$?
(cd "$HERE" && EDGECITE_URL="$URL" EDGECITE_PID="$DAEMON_PID" EDGECITE_ARTIFACTS="$ART" \
  CHROMIUM_PATH="$CHROMIUM" node --test --test-reporter=spec --test-concurrency=1 \
    $(ls *.test.mjs | grep -vx -e page.test.mjs -e baseline.test.mjs) page.test.mjs)
status=$?
[ "$status" != 0 ] || status=$bl_status
set -e
if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
  drc=0; wait "$DAEMON_PID" 2>/dev/null || drc=$?
  log "daemon stopped by the test (exit status $drc)"
fi
log "screenshots: $(cd "$ART" && ls *.png 2>/dev/null | tr '\n' ' ')(in $ART)"
exit "$status"
