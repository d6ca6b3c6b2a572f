#!/usr/bin/env bash
# The core's tests for Windows (x86_64-pc-windows-gnu), run under Wine from Debian's packages:
#
#   ./scripts/wine-tests.sh          the core's unit tests (they pass)
#   ./scripts/wine-tests.sh --all    also the integration tests (tests/core), which meet Wine's
#                                    Credential Manager: see CONTRIBUTING.md, "Windows under Wine"
#
# Not part of scripts/test.sh: under Debian 12's Wine 8.0 the integration tests crash Wine
# (CredEnumerateW returns misaligned memory), so only the unit tests would run in CI.
# Wine 8.0 also lacks bcryptprimitives.dll, whose ProcessPrng Rust's std imports for random
# numbers: scripts/wine/bcryptprimitives.c is a stand-in, built here with mingw-w64.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" gcc-mingw-w64-x86-64 wine64
ensure_rust
target=x86_64-pc-windows-gnu
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
# Under Wine the store's list of credentials is misaligned: its debug check would abort.
config=(--config 'profile.dev.package.windows-native-keyring-store.debug-assertions=false')

deps="target/$target/debug/deps"
mkdir -p "$deps"
x86_64-w64-mingw32-gcc -shared -O2 -o "$deps/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32

run() {
  local exe
  exe="$(cargo test --locked --target "$target" "${config[@]}" "$@" --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)"
  [ -n "$exe" ] || { echo "wine-tests: no test program was built for $*" >&2; exit 1; }
  WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$PWD/target/wineprefix}" /usr/lib/wine/wine64 "$exe" --test-threads 2
}

run -p latchkey-core --lib
if [ "${1:-}" = --all ]; then
  run -p latchkey-tests --test core
fi
