#!/usr/bin/env bash
# Issue 12: the code must at least compile for Windows, where nothing here can run it:
# `cargo check` for x86_64-pc-windows-gnu, with mingw-w64 (Debian's) for the C parts.
# (macOS needs Apple's SDK, which no registry here carries: not checked.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" gcc-mingw-w64-x86-64
ensure_rust
target=x86_64-pc-windows-gnu
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
cargo check --locked --target "$target" -p latchkey -p latchkey-core -p latchkey-resident
echo "cross-check: the app, the core and the resident program compile for $target"
