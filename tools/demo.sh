#!/usr/bin/env bash
# The main job of the README: builds the CLI and runs its demo, which
# creates a database in a default directory and prints what it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
cargo run --release -q -p profiledb-cli -- demo "$@"
