#!/usr/bin/env bash
# Issue 12: builds the packages (scripts/package.sh), then tests them as a person meets them.
# The .deb is installed with apt on this machine (root or sudo: it is a system package), the
# installed Latchkey is tested in a private session (scripts/lib.sh: keychain, Xvfb) by the
# ignored end-to-end test the_installed_package_handles_the_scheme_and_signs_in_through_xdg_open,
# and the package is removed again, after which no desktop entry may hand the scheme to a
# missing program. The .rpm's metadata is read with rpm; the AppImage must start without FUSE.
# Run by scripts/test.sh in CI (or with LATCHKEY_PACKAGES=1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_test_tools
ensure_packages rpm
./scripts/package.sh
release="$PWD/target/release/bundle"
deb="$(ls "$release"/deb/*.deb)"
rpm_file="$(ls "$release"/rpm/*.rpm)"
appimage="$(ls "$release"/appimage/*.AppImage)"
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' src-tauri/tauri.conf.json)"
fail() { echo "package test: $*" >&2; exit 1; }

# The .deb's metadata: the three programs, the entry, the icons; depends on what they link.
contents="$(dpkg-deb -c "$deb")"
grep -q ' ./usr/bin/latchkey$' <<<"$contents" || fail "the .deb has no /usr/bin/latchkey"
grep -q ' ./usr/bin/latchkey-window$' <<<"$contents" || fail "the .deb has no latchkey-window"
grep -q ' ./usr/bin/latchkey-resident$' <<<"$contents" || fail "the .deb has no latchkey-resident"
grep -q ' ./usr/share/applications/Latchkey.desktop$' <<<"$contents" || fail "no desktop entry"
grep -q ' ./usr/share/applications/latchkey-callback.desktop$' <<<"$contents" || fail "no scheme handler entry"
grep -q ' ./usr/share/icons/hicolor/128x128/apps/latchkey.png$' <<<"$contents" || fail "no icon"
depends="$(dpkg-deb -f "$deb" Depends)"
for needed in libwebkit2gtk-4.1-0 libgtk-3-0 libc6 xdg-utils; do
  grep -q "$needed" <<<"$depends" || fail "Depends lacks $needed: $depends"
done
grep -q gnome-keyring <<<"$(dpkg-deb -f "$deb" Recommends)" || fail "gnome-keyring is not recommended"
for field in Maintainer Description Homepage Section; do
  [ -n "$(dpkg-deb -f "$deb" "$field")" ] || fail "the .deb has no $field"
done
echo "deb: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version), Depends: $depends"

# The .rpm, read by rpm itself.
[ "$(rpm -qp --qf '%{NAME} %{VERSION}' "$rpm_file" 2>/dev/null)" = "latchkey $version" ] || fail "the .rpm's name or version"
for bin in latchkey latchkey-window latchkey-resident; do
  grep -qx "/usr/bin/$bin" <<<"$(rpm -qpl "$rpm_file" 2>/dev/null)" || fail "the .rpm lacks $bin"
done
grep -qx /usr/share/applications/latchkey-callback.desktop <<<"$(rpm -qpl "$rpm_file" 2>/dev/null)" \
  || fail "the .rpm lacks the scheme handler entry"
grep -q 'libwebkit2gtk-4.1.so.0' <<<"$(rpm -qpR "$rpm_file" 2>/dev/null)" || fail "the .rpm does not require WebKitGTK"
echo "rpm: $(rpm -qp --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}' "$rpm_file" 2>/dev/null)"

# The AppImage starts without FUSE.
out="$("$appimage" --appimage-extract-and-run --version)"
[ "$out" = "latchkey $version" ] || fail "the AppImage printed: $out"
echo "AppImage: --appimage-extract-and-run --version: $out"

# Installed with apt, as a person would; removed again whatever happens.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
remove() { as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq latchkey >/dev/null 2>&1 || true; }
trap remove EXIT
[ "$(command -v latchkey)" = /usr/bin/latchkey ] || fail "latchkey is not on PATH after the install"
# The test by its whole path; a run that selected no test (a renamed or moved test) fails here.
ran="$(mktemp)"
( in_test_session cargo test --locked -p latchkey --test e2e -- --ignored --exact \
    launches::the_installed_package_handles_the_scheme_and_signs_in_through_xdg_open ) 2>&1 | tee "$ran"
grep -q '^test result: ok\. 1 passed' "$ran" || fail "the installed package's end-to-end test did not run and pass"
rm -f "$ran"

remove
trap - EXIT
dpkg-query -W -f='${Status}' latchkey 2>/dev/null | grep -q "install ok installed" && fail "still installed"
[ ! -e /usr/bin/latchkey ] || fail "/usr/bin/latchkey is still there"
# No desktop entry anywhere xdg-open looks may hand the scheme to a program that is gone.
left=0
for dir in /usr/local/share/applications /usr/share/applications "$HOME/.local/share/applications"; do
  [ -d "$dir" ] || continue
  while read -r entry; do
    program="$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$entry" | head -n1)"
    if ! command -v "$program" >/dev/null; then
      echo "left behind: $entry runs $program, which is gone" >&2
      left=1
    fi
  done < <(grep -l 'x-scheme-handler/dev.latchkey.desktop' "$dir"/*.desktop 2>/dev/null || true)
done
[ "$left" = 0 ] || fail "a handler points at a missing program after the removal"
handler="$(HOME="$(mktemp -d)" XDG_CONFIG_HOME='' XDG_DATA_HOME='' xdg-mime query default x-scheme-handler/dev.latchkey.desktop)"
[ -z "$handler" ] || fail "xdg-mime still names $handler after the removal"
echo "package test: the .deb installed, signed in through xdg-open, removed cleanly; the .rpm and AppImage checked"
