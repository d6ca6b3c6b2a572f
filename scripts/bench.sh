#!/usr/bin/env bash
# Benchmarks, release builds, figures on stdout:
# - the window (issue 3): launch to interactive and memory next to a bare Tauri window with the
#   same plugins, and deep link to connection shown (also written to target/bench-window.json);
# - resident (issue 11): memory with the window open, closed and never opened (--hidden), 20
#   connections; GetAccessToken over D-Bus (also written to target/bench-resident.json);
# - soak (issue 15): the window open for 45 minutes with 20-second Demo tokens, growth of PSS and
#   of private memory in MiB/hour, the highest private dirty sample, and the growth that stays
#   after memory pressure (it briefly fills the machine's memory to 97%; not on a machine with
#   swap, or with LATCHKEY_SOAK_PRESSURE=0; target/bench-soak.json);
# - background refresh (issue 5): 10,000 connections in the headless core, about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_test_tools
in_test_session cargo bench --locked -p latchkey --features custom-protocol,bench-baseline --bench window
in_test_session cargo bench --locked -p latchkey --features custom-protocol --bench resident
# The window left open, 45 minutes (LATCHKEY_SOAK_MINUTES): memory growth per hour.
in_test_session cargo bench --locked -p latchkey --features custom-protocol --bench soak
cargo bench --locked -p latchkey-tests --bench refresh
