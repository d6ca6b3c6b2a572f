#!/usr/bin/env bash
# Runs every test of Latchkey on a Debian/Ubuntu machine: installs what is missing; runs
# scripts/check.sh (the fast loop); runs `cargo test` inside a private D-Bus session with an
# unlocked gnome-keyring (the real Secret Service), a virtual display and a throw-away HOME, and
# the in-process architecture's end-to-end test (feature `in-process`); then
# a smoke run of each fuzz target (LATCHKEY_FUZZ_SECONDS each, default 15; 0 skips it); in CI, or
# with LATCHKEY_PACKAGES=1, the Windows build check and the packages' test
# (scripts/cross-check.sh, scripts/package-test.sh).
# Extra arguments go to `cargo test`, and then only the tests they select run (no fast loop).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_test_tools
# The fast loop first (formatting, lints, API docs, shell scripts, layers, docs' paths): a
# broken rule fails in minutes, before the long run. Not when only some tests are asked for.
if [ $# -eq 0 ]; then
  ./scripts/check.sh
fi
( in_test_session cargo test --workspace --locked "$@" )
if [ $# -eq 0 ]; then
  # The in-process architecture (the core in the window's process, as on macOS and Windows),
  # run here too: the window built with the `in-process` feature, its end-to-end test alone.
  # (Its output is kept in a file of its own to be read: `tee /dev/stderr` would reopen, and so
  # truncate, a log file this script's output is written to.)
  ran="$(mktemp)"
  ( in_test_session cargo test --locked -p latchkey --features in-process --test e2e in_process:: ) 2>&1 | tee "$ran"
  grep -q '^test result: ok\. 1 passed' "$ran" || { echo "the in-process end-to-end test did not run and pass" >&2; exit 1; }
  rm -f "$ran"
fi
if [ $# -eq 0 ] && [ "${LATCHKEY_FUZZ_SECONDS:-15}" != 0 ]; then
  ./scripts/fuzz.sh "${LATCHKEY_FUZZ_SECONDS:-15}"
fi
# The packages, built, installed with apt, tested and removed (a system package: so by default
# only in CI, as root; LATCHKEY_PACKAGES=1 asks for it elsewhere, with sudo), and the Windows
# build checked.
packages="${LATCHKEY_PACKAGES:-${CI:-}}"
if [ $# -eq 0 ] && { [ "$packages" = 1 ] || [ "$packages" = true ]; }; then
  ./scripts/cross-check.sh
  ./scripts/package-test.sh
elif [ $# -eq 0 ]; then
  echo "Packages not tested here (they install system-wide): LATCHKEY_PACKAGES=1 ./scripts/test.sh runs them"
fi
