# shellcheck shell=bash
# Shared by the scripts (sourced, not run): install what is missing, nothing more.

# Debian/Ubuntu packages needed to build the app.
BUILD_PACKAGES=(build-essential pkg-config libwebkit2gtk-4.1-dev curl ca-certificates)
# ...and to run its tests: a session bus, a keychain, a virtual display, a WebDriver.
TEST_PACKAGES=(xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools webkit2gtk-driver xdg-utils imagemagick git)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG... : apt-get installs those not installed yet.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "Missing packages: ${missing[*]} (and no apt-get to install them)" >&2
    return 1
  fi
  echo "Installing: ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_rust: cargo must be there (rustup puts it in ~/.cargo/bin).
ensure_rust() {
  [ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null; then
    echo "Installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >&2
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# in_test_session CMD...: runs CMD with a throw-away HOME, inside a private D-Bus session with
# an unlocked gnome-keyring (the real Secret Service) and an Xvfb display. The developer's own
# keychain and files are never touched.
in_test_session() {
  export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
  export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
  local test_home
  test_home="$(mktemp -d "${TMPDIR:-/tmp}/latchkey-test-home.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$test_home'" EXIT
  export HOME="$test_home"
  export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache"
  unset XDG_RUNTIME_DIR DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL XDG_CURRENT_DESKTOP
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"
  # shellcheck disable=SC2016 # expanded by the inner shell, inside the session
  dbus-run-session -- bash -c '
    set -euo pipefail
    # "echo |" gives the daemon an (empty) password: it creates and unlocks a login keyring.
    eval "$(echo | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    exec xvfb-run -a -s "-screen 0 1280x800x24" "$@"
  ' in-test-session "$@"
}

# ensure_test_tools: everything the tests and benchmarks run with.
ensure_test_tools() {
  ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
  ensure_rust
  ensure_tauri_driver
}

# ensure_tauri_driver: the WebDriver server that puts WebKitWebDriver in front of the app.
ensure_tauri_driver() {
  if ! command -v tauri-driver >/dev/null || ! tauri-driver --help 2>&1 | grep -q -- --native-port; then
    cargo install tauri-driver --locked --version 2.1.0
  fi
}

# The tauri-cli that builds the packages (scripts/package.sh): pinned, as CI builds with it.
TAURI_CLI_VERSION="2.11.5"

# ensure_tauri_cli: `cargo tauri` at the pinned version.
ensure_tauri_cli() {
  if ! cargo tauri --version 2>/dev/null | grep -qx "tauri-cli $TAURI_CLI_VERSION"; then
    cargo install tauri-cli --locked --version "$TAURI_CLI_VERSION"
  fi
}

# ensure_rust_components NAME...: rustup components (rustfmt, clippy) the checks run with.
ensure_rust_components() {
  local missing=()
  for component in "$@"; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || missing+=("$component")
  done
  [ ${#missing[@]} -eq 0 ] || rustup component add "${missing[@]}"
}
