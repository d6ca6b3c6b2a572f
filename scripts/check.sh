#!/usr/bin/env bash
# The fast loop: the rules a reviewer would otherwise check by eye, in a few minutes when the
# build is warm. scripts/test.sh runs it first, so CI does too.
#
#   formatting      cargo fmt --check
#   lints           cargo clippy on every target, warnings denied
#   API docs        cargo doc, every warning (broken intra-doc links among them) denied
#   shell scripts   shellcheck
#   layers          cargo tree: which crate may depend on what (ARCHITECTURE.md, "Layers")
#   file size       no Rust source file over 500 lines, its unit tests aside (tests/ and fuzz/
#                   are tests)
#   docs' paths     every repository path a Markdown file names exists
#
# Installs what it needs first (as scripts/test.sh does). LATCHKEY_CHECK_SKIP=fmt,clippy,...
# leaves steps out (for a quick loop; CI leaves none out).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages "${BUILD_PACKAGES[@]}" shellcheck
ensure_rust
ensure_rust_components rustfmt clippy

skip=",${LATCHKEY_CHECK_SKIP:-},"
step() {
  if [[ "$skip" == *",$1,"* ]]; then
    echo "check: $1 skipped (LATCHKEY_CHECK_SKIP)"
    return 1
  fi
  echo "check: $1"
}

if step fmt; then
  cargo fmt --all --check
fi
if step clippy; then
  cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
  # The in-process architecture, as Linux builds it under test.
  cargo clippy -p latchkey --all-targets --features in-process --locked --quiet -- -D warnings
fi
if step doc; then
  # Every rustdoc warning denied: broken or private intra-doc links, unclosed HTML, bare URLs.
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
fi
if step shellcheck; then
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
  shellcheck --external-sources --source-path=SCRIPTDIR "${scripts[@]}"
fi
if step layers; then
  ./scripts/layers.sh
fi
if step file-size; then
  # Lines up to a file's `#[cfg(test)]` module: what a reader of the code has to hold at once.
  too_long="$(git ls-files -co --exclude-standard 'crates/*.rs' 'src-tauri/*.rs' | while read -r file; do
    [ -f "$file" ] || continue
    awk -v file="$file" '/^#\[cfg\(test\)\]/ { exit } { n++ } END { if (n > 500) print "  " file ": " n " lines" }' "$file"
  done)"
  if [ -n "$too_long" ]; then
    echo "check: Rust files over 500 lines (split them by what they do):" >&2
    echo "$too_long" >&2
    exit 1
  fi
fi
if step doc-paths; then
  python3 scripts/doc_paths.py
fi
echo "check: all passed"
