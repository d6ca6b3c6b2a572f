#!/usr/bin/env bash
# Fuzzes what Latchkey reads from outside, each target for a bounded time:
#   callback  deep links and loopback callbacks (core::redirect)
#   token     token endpoint answers (core::token) and the quirks reshaping them (core::quirks)
#   config    the provider catalog, the settings file and scopes typed in the window
#
#   ./scripts/fuzz.sh [seconds per target, default 300] [target ...]
#
# Installs what is missing (apt packages, cargo-fuzz). cargo-fuzz wants a nightly compiler for
# its instrumentation flags; RUSTC_BOOTSTRAP=1 lets the stable one accept them. The sanitizer is
# off: the code under test is safe Rust, so the findings that matter are panics, overflows
# (debug assertions are on) and broken invariants, which libFuzzer reports as crashes.
# The corpus grows in fuzz/corpus/<target> (not committed), starting from fuzz/seeds/<target>;
# a crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

seconds="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(callback token config)

ensure_packages "${BUILD_PACKAGES[@]}"
ensure_rust
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

export RUSTC_BOOTSTRAP=1
summary=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log="fuzz/$target.log"
  echo "fuzzing $target for ${seconds}s"
  if ! cargo fuzz run --fuzz-dir fuzz --sanitizer none --debug-assertions "$target" \
      "fuzz/corpus/$target" "fuzz/seeds/$target" -- -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target FAILED: input in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  summary+=("$(printf '%-9s %12s runs  %8s/s  coverage %6s  corpus %5s  crashes 0' \
    "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$corpus")")
done
printf '%s\n' "${summary[@]}"
