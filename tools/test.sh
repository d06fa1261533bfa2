#!/usr/bin/env bash
# The test command of the README: installs build prerequisites when
# missing, then builds and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
# Release profile everywhere: RocksDB is compiled once, optimised, and
# shared by the tests, the CLI and the benchmarks.
cargo test --release --workspace "$@"
