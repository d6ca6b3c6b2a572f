#!/usr/bin/env bash
# Regenerates icons/ from the one source image, ui/icon.svg, with `cargo tauri icon`: 8-bit RGBA
# PNGs in the sizes the Linux bundles and the window use, icon.ico (Windows) and icon.icns
# (macOS). The Android, iOS and Windows Store images it also makes are not kept: no bundle here
# uses them. tests/packaging checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_rust
ensure_tauri_cli
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo tauri icon ui/icon.svg -o "$work" >"$work.log" 2>&1 || { cat "$work.log" >&2; exit 1; }
rm -f icons/*.png icons/*.ico icons/*.icns
for f in 32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.ico icon.icns; do
  cp "$work/$f" icons/
done
ls -l icons
