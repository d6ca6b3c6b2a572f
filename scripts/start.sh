#!/usr/bin/env bash
# Builds Latchkey (release) and starts it, on a Debian/Ubuntu machine: installs what is missing
# first. On a machine with no desktop session it also starts a session bus with a temporary
# keychain, and a virtual display, so that the app runs all the same.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" xdg-utils
ensure_rust
cargo build --locked --release -p latchkey --features custom-protocol
app="$PWD/target/release/latchkey"

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  ensure_packages dbus dbus-x11 gnome-keyring
  echo "No session bus: starting one, with a temporary keychain that ends with it." >&2
  # shellcheck disable=SC2016 # expanded by the inner shell, inside the session
  exec dbus-run-session -- bash -c '
    eval "$(echo | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    exec "$0" "$@"' "$0" "$@"
fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  ensure_packages xvfb xauth
  echo "No display: running under Xvfb (a virtual screen nobody sees)." >&2
  exec xvfb-run -a -s "-screen 0 1280x800x24" "$app" "$@"
fi
exec "$app" "$@"
