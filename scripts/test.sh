#!/usr/bin/env bash
# Runs every test of Latchkey on a Debian/Ubuntu machine: installs what is missing, then runs
# `cargo test` inside a private D-Bus session with an unlocked gnome-keyring (the real Secret
# Service) and a virtual display. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages $BUILD_PACKAGES $TEST_PACKAGES
ensure_rust
# tauri-driver puts WebKitWebDriver in front of the app for the end-to-end tests.
if ! command -v tauri-driver >/dev/null || ! tauri-driver --help 2>&1 | grep -q -- --native-port; then
  cargo install tauri-driver --locked --version 2.1.0
fi

# The keychain and the app's files live in a throw-away home, never the developer's own.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
test_home="$(mktemp -d "${TMPDIR:-/tmp}/latchkey-test-home.XXXXXX")"
trap 'rm -rf "$test_home"' EXIT
export HOME="$test_home"
export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"
unset XDG_RUNTIME_DIR DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"

exec dbus-run-session -- bash -c '
  set -euo pipefail
  # "echo |" gives the daemon an (empty) password: it creates and unlocks a login keyring.
  eval "$(echo | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  exec xvfb-run -a -s "-screen 0 1280x800x24" cargo test --workspace --locked "$@"
' latchkey-tests "$@"
