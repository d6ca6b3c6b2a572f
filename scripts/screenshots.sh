#!/usr/bin/env bash
# Makes the README's screenshots: runs the end-to-end test that takes them (each state of the
# window in light and dark, with the real app under Xvfb) and copies them into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/test.sh -p latchkey --test e2e -- window::screenshots_of_each_state_in_light_and_dark
mkdir -p docs/screenshots
for state in connected waiting setup needs-reconnecting search; do
  for theme in light dark; do
    cp "target/tmp/e2e-screenshots/$state-$theme.png" docs/screenshots/
  done
done
ls -l docs/screenshots
