#!/usr/bin/env bash
# Runs every test of Latchkey on a Debian/Ubuntu machine: installs what is missing, then runs
# `cargo test` inside a private D-Bus session with an unlocked gnome-keyring (the real Secret
# Service), a virtual display and a throw-away HOME. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages $BUILD_PACKAGES $TEST_PACKAGES
ensure_rust
ensure_tauri_driver
in_test_session cargo test --workspace --locked "$@"
