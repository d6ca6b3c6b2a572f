#!/usr/bin/env bash
# Benchmarks, release builds, figures on stdout (docs/benchmarks.md says what each measures):
#   window    launch to interactive and memory next to a bare Tauri window with the same
#             plugins, taking turns; a deep link to the account shown
#   resident  memory with the window open, closed and never opened (--hidden), 20 connections;
#             GetAccessToken over D-Bus
#   soak      the window open for 45 minutes (LATCHKEY_SOAK_MINUTES) with 20-second Demo tokens:
#             memory growth per hour; it briefly fills the machine's memory to 97% (not on a
#             machine with swap, or with LATCHKEY_SOAK_PRESSURE=0)
#   refresh   10,000 connections refreshing in the headless core, about 3 minutes
#
#   ./scripts/bench.sh                 all four
#   ./scripts/bench.sh window resident those named
#
# Each benchmark that writes its figures as JSON (target/bench-<name>.json) has them kept in
# docs/benchmarks/results/<date>-<commit>-<name>.json (the commit marked -dirty when the tree
# has changes), to be committed with the figures it reports. Run alone on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_test_tools
results=docs/benchmarks/results
commit="$(git rev-parse --short=7 HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit-dirty"

# keep NAME: target/bench-NAME.json into the results, under today's date and the commit.
keep() {
  local from="target/bench-$1.json" to
  [ -f "$from" ] || return 0
  mkdir -p "$results"
  to="$results/$(date -u +%Y-%m-%d)-$commit-$1.json"
  cp "$from" "$to"
  echo "bench: kept $to"
}

run() {
  case "$1" in
    window) in_test_session cargo bench --locked -p latchkey --features custom-protocol,bench-baseline --bench window ;;
    resident) in_test_session cargo bench --locked -p latchkey --features custom-protocol --bench resident ;;
    soak) in_test_session cargo bench --locked -p latchkey --features custom-protocol --bench soak ;;
    refresh) cargo bench --locked -p latchkey-tests --bench refresh ;;
    *) echo "bench: no benchmark named $1 (window, resident, soak, refresh)" >&2; exit 2 ;;
  esac
  keep "$1"
}

if [ $# -eq 0 ]; then
  set -- window resident soak refresh
fi
for name in "$@"; do
  rm -f "target/bench-$name.json"
  run "$name"
done
