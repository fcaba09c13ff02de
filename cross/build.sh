#!/usr/bin/env bash
# Cross-build edgecite for a gateway: cross/build.sh TARGET
#   TARGET = aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf
# Installs the Rust target and Debian's cross gcc (when root) if missing; idempotent.
# Output: target/TARGET/release/edgecite (stripped; ONNX Runtime is a separate library).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:?usage: cross/build.sh aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf}"
case "$TARGET" in
  aarch64-unknown-linux-gnu) GCC=aarch64-linux-gnu-gcc; PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
  armv7-unknown-linux-gnueabihf) GCC=arm-linux-gnueabihf-gcc; PKGS="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" ;;
  *) echo "cross/build.sh: unsupported target '$TARGET': expected aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf" >&2; exit 2 ;;
esac
if ! command -v "$GCC" >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "[cross] installing $PKGS" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >/dev/null
  else
    echo "[cross] $GCC is missing: sudo apt-get install $PKGS" >&2; exit 1
  fi
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
cd "$ROOT"
cargo build --release --locked --target "$TARGET"
BIN="target/$TARGET/release/edgecite"
echo "$BIN: $(stat -c %s "$BIN") bytes, $(file -b "$BIN" | cut -d, -f1-2)"
