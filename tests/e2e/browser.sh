#!/bin/sh
# The test browser, named by $BROWSER: what a person's browser does with the Demo provider's
# authorization URL. It loads the consent page, answers it, and hands the callback URL to the
# OS as a browser does with a custom scheme: by launching the app binary with it.
#
# LATCHKEY_TEST_DIR   where to record what happened (opened.txt, browser-env.txt, callback.txt)
# LATCHKEY_TEST_MODE  approve (default): consent and deliver; hold: consent, record, don't deliver;
#                     ignore: record the URL only; redirect: follow the provider's immediate
#                     redirect to the loopback listener
# LATCHKEY_TEST_BIN   the app binary to launch with the callback
# $LATCHKEY_TEST_DIR/user, when present: the Demo user to sign in as
set -eu
url="$1"
dir="${LATCHKEY_TEST_DIR:?}"
exec 2>>"$dir/browser.log"
set -x
printf '%s\n' "$url" >> "$dir/opened.txt"
# What of Latchkey's own WebKit settings reached the browser (none should).
env | grep -E '^(GDK_GL|WEBKIT_SKIA_ENABLE_CPU_RENDERING|JSC_useJIT|JSC_largeHeapSize)=' >> "$dir/browser-env.txt" || true
mode="${LATCHKEY_TEST_MODE:-approve}"
[ "$mode" = ignore ] && exit 0
if [ "$mode" = redirect ]; then
  # A provider that redirects at once (no consent page): follow it to the loopback listener.
  location=$(curl -s -o /dev/null -D - "$url" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  printf '%s\n' "$location" > "$dir/callback.txt"
  exec curl -s -o /dev/null "$location"
fi

base="${url%%/authorize*}"
# The account to sign in as: the test's choice of the moment (file "user"), or the default.
user=$(cat "$dir/user" 2>/dev/null || echo "${LATCHKEY_TEST_USER:-e2e-user}")
query="${url#*\?}"
curl -sf -o /dev/null "$url"
# The Location header as sent (curl's %{redirect_url} rewrites custom-scheme URLs).
location=$(curl -s -o /dev/null -D - \
  --data "$query&user=$user&decision=approve" "$base/authorize" \
  | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
printf '%s\n' "$location" > "$dir/callback.tmp" && mv "$dir/callback.tmp" "$dir/callback.txt"
[ "$mode" = hold ] && exit 0
exec "${LATCHKEY_TEST_BIN:?}" "$location"
