#!/usr/bin/env bash
# Installs what edgecite's demo and tests need, idempotently. Sourced by scripts/demo.sh
# and scripts/test.sh; exports ORT_DYLIB_PATH.
#   - ONNX Runtime 1.31.1 from PyPI into .venv (the daemon loads its shared library)
#   - with `--tests`: mbpoll, socat and a CJK font from apt (when root), pymodbus and fpdf2
#     into .venv, and the other test tools below (ONNX Runtime 1.22.1 and the OpenVINO build
#     into .ort/<version>/, systemd-nspawn, debootstrap and cargo-deb for the boot test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
ORT_VERSION="1.31.1"

log() { echo "[setup] $*" >&2; }

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating Python venv at $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing python3-venv with apt"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"; python3 -m venv "$VENV"
      else
        log "error: python3 -m venv failed; install python3-venv (apt) and rerun"; exit 1
      fi
    fi
  fi
  if ! "$VENV/bin/python" -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
    log "installing onnxruntime==$ORT_VERSION from PyPI"
    "$VENV/bin/pip" install -q --disable-pip-version-check "onnxruntime==$ORT_VERSION"
  fi
  local lib
  lib="$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1)"
  if [ -z "$lib" ]; then log "error: libonnxruntime.so not found in $VENV"; exit 1; fi
  export ORT_DYLIB_PATH="$lib"
  log "ORT_DYLIB_PATH=$ORT_DYLIB_PATH"
}

apt_install() { # apt_install COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $2 with apt"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
  else
    log "error: '$1' is missing; install the Debian package '$2' (sudo apt-get install $2) and rerun"; exit 1
  fi
}

ensure_test_peers() {
  # pymodbus (an independent Modbus peer), socat (pty pairs for RTU), and fpdf2 with a CJK
  # font (the PDF manual the reference-import test writes).
  if ! "$VENV/bin/python" -c "import pymodbus, serial, fpdf, sys; sys.exit(pymodbus.__version__ != '3.16.1' or fpdf.__version__ != '2.8.9')" 2>/dev/null; then
    log "installing the test peers' packages (tests/peers/requirements.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/peers/requirements.txt"
  fi
  apt_install socat socat
  if [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing fonts-wqy-microhei with apt (a CJK font for the PDF and web tests)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
    else
      log "error: no CJK font; install the Debian package fonts-wqy-microhei (sudo apt-get install fonts-wqy-microhei) and rerun"; exit 1
    fi
  fi
}

ensure_training_packages() {
  # Issue 5: numpy for the Rust-vs-Python feature and `model eval` tests, and the pinned
  # training packages for the models' re-train checks (models/train/requirements.txt).
  if ! "$VENV/bin/python" -c "import numpy, scipy, sklearn, onnx" 2>/dev/null; then
    log "installing the model training packages (models/train/requirements.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/models/train/requirements.txt"
  fi
}

ensure_api_test_tools() {
  # Issue 7: schemathesis fuzzes the API from its OpenAPI document (tests/api_schemathesis.rs);
  # openssl makes the HTTPS test's certificate; curl is its TLS client.
  if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version 4.32.5" ]; then
    log "installing schemathesis 4.32.5 into .venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5"
  fi
  # Issue 14: the OpenAPI document validates, and a client generated from it works
  # (tests/api_openapi_client.rs).
  if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("openapi-spec-validator") != "0.9.0" or m.version("openapi-python-client") != "0.29.1")' 2>/dev/null; then
    log "installing openapi-spec-validator 0.9.0 and openapi-python-client 0.29.1 into .venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==0.9.0" "openapi-python-client==0.29.1"
  fi
  apt_install openssl openssl
  apt_install curl curl
}

ensure_mqtt_peers() {
  # MQTT tests: Mosquitto (a real broker), jsonschema (payload schemas) and protobuf +
  # grpcio-tools (an independent Sparkplug B decoder), see tests/peers/mqtt-requirements.txt.
  apt_install mosquitto mosquitto
  # Issue 19: the fleet test's two-node RabbitMQ cluster (tests/common/rabbitmq.rs, MQTT
  # 3.1.1 plugin). The harness runs its own nodes as plain processes (own epmd port, node
  # names, free ports, cookie and files), so a system node the package may have started
  # (only where systemd runs) is never in its way; it is left alone.
  apt_install /usr/lib/rabbitmq/bin/rabbitmq-server rabbitmq-server
  if ! "$VENV/bin/python" -c "import jsonschema, google.protobuf, grpc_tools" 2>/dev/null; then
    log "installing the MQTT test peers' packages (tests/peers/mqtt-requirements.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/peers/mqtt-requirements.txt"
  fi
}

ensure_boot_test_tools() {
  # Issue 15: tests/boot.rs packs the .deb (cargo-deb), boots a Debian container
  # (systemd-nspawn from systemd-container, its root file system from debootstrap) and installs
  # the package there.
  apt_install systemd-nspawn systemd-container
  apt_install debootstrap debootstrap
  if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb 3.8.0" ]; then
    log "installing cargo-deb 3.8.0 (cargo install)"
    cargo install -q --locked cargo-deb --version 3.8.0
  fi
}

ensure_ort_versions() {
  # Issue 15: other ONNX Runtime releases from PyPI, each in its own directory under .ort/
  # (never into .venv): the oldest release edgecite supports, and the OpenVINO build (a real
  # second execution provider on this CPU). Only the shared libraries are used (--no-deps).
  local spec dir
  for spec in "onnxruntime==1.22.1:1.22.1" "onnxruntime-openvino==1.24.1:openvino-1.24.1"; do
    dir="$ROOT/.ort/${spec##*:}"
    if ! ls "$dir"/onnxruntime/capi/libonnxruntime.so.1.* >/dev/null 2>&1; then
      log "installing ${spec%%:*} into $dir"
      rm -rf "$dir"
      "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --target "$dir" "${spec%%:*}"
    fi
  done
}

ensure_venv
if [ "${1:-}" = "--tests" ]; then
  ensure_boot_test_tools
  ensure_ort_versions
  ensure_api_test_tools
  ensure_mqtt_peers
  apt_install mbpoll mbpoll
  apt_install systemd-analyze systemd
  ensure_test_peers
  ensure_training_packages
fi
