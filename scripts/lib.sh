# Shared by scripts/start.sh and scripts/test.sh: install what is missing, nothing more.

# Debian/Ubuntu packages needed to build the app.
BUILD_PACKAGES="build-essential pkg-config libwebkit2gtk-4.1-dev curl ca-certificates"
# ...and to run its tests: a session bus, a keychain, a virtual display, a WebDriver.
TEST_PACKAGES="xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools webkit2gtk-driver xdg-utils imagemagick"

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
