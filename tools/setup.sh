#!/usr/bin/env bash
# Installs what building profiledb needs on a fresh Debian machine:
# libclang (bindgen generates RocksDB's bindings with it) and a C++ compiler.
# Safe to run repeatedly: it does nothing when everything is present.
set -euo pipefail
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (needed to build RocksDB)" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# One target directory outside the clone, shared by every checkout, so
# RocksDB's C++ (about 25 minutes from scratch on 2 cores) builds once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/profiledb/target}"
mkdir -p "$CARGO_TARGET_DIR"
