#!/usr/bin/env bash
# Benchmarks the window (issue 3): launch to interactive and memory, next to a bare Tauri window
# with the same plugins built the same way, and deep link to connection shown. Release builds.
# Writes its figures to stdout and to target/bench-window.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages $BUILD_PACKAGES $TEST_PACKAGES
ensure_rust
ensure_tauri_driver
in_test_session cargo bench --locked -p latchkey --features custom-protocol,bench-baseline --bench window -- "$@"
