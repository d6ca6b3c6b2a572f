#!/usr/bin/env bash
# The layers, checked on the dependency trees cargo resolves (not on what the code happens to
# call): each rule names a package and the crates that must not appear among its normal
# dependencies. A rule first proves that it read a tree, so a cargo that printed nothing cannot
# pass it. ARCHITECTURE.md ("Layers") says why each rule is there.
#
#   ./scripts/layers.sh            every rule, for the host and for Windows
set -euo pipefail
cd "$(dirname "$0")/.."

# The window's toolkit: what only latchkey-window may link.
WINDOW_CRATES='tauri|tauri-[a-z-]+|wry|tao|gtk|gtk-sys|gdk|webkit2gtk|webkit2gtk-sys|javascriptcore-rs'

failed=0
# forbid PACKAGE TARGET PATTERN WHY: PACKAGE's tree for TARGET has no crate matching PATTERN.
forbid() {
  local package="$1" target="$2" pattern="$3" why="$4" tree
  tree="$(cargo tree -p "$package" -e normal --locked --prefix none --target "$target" 2>&1)" || {
    echo "layers: cargo tree -p $package --target $target failed:" >&2
    echo "$tree" >&2
    failed=1
    return
  }
  if ! grep -q "^$package v" <<<"$tree"; then
    echo "layers: cargo tree gave no tree for $package ($target): the check proves nothing" >&2
    failed=1
    return
  fi
  local crates found
  # One line per crate: cargo marks a crate met again with " (*)".
  crates="$(awk '{ sub(/ \(\*\)$/, "") } !seen[$0]++' <<<"$tree")"
  found="$(grep -E "^($pattern) v" <<<"$crates" || true)"
  if [ -n "$found" ]; then
    echo "layers: $package ($target) depends on what it must not: $why" >&2
    printf '  %s\n' "${found//$'\n'/$'\n'  }" >&2
    failed=1
    return
  fi
  echo "layers: $package ($target): $(grep -c . <<<"$crates") crates read, none of: ${pattern//|/, }"
}

host="$(rustc -vV | sed -n 's/^host: //p')"
for target in "$host" x86_64-pc-windows-gnu; do
  forbid latchkey-core "$target" "$WINDOW_CRATES" \
    "the core is plain Rust that a test drives without a window"
  forbid latchkey-resident "$target" "$WINDOW_CRATES" \
    "latchkey-resident runs all day with no window: nothing of Tauri, GTK or WebKit in it"
done
exit "$failed"
