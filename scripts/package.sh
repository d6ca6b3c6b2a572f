#!/usr/bin/env bash
# Builds Latchkey's release packages on a Debian/Ubuntu machine: a .deb and an .rpm (and the
# AppImage, see below), into target/release/bundle/. Installs what it needs first: the build
# packages and tauri-cli (pinned). Prints each package's size and the installed size.
#
# LATCHKEY_BUNDLES  which to build, comma-separated (default: deb,rpm,appimage)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bundles="${LATCHKEY_BUNDLES:-deb,rpm,appimage}"
ensure_packages "${BUILD_PACKAGES[@]}" xdg-utils
ensure_rust
ensure_tauri_cli

# The three programs (latchkey, the window and latchkey-resident), as scripts/start.sh builds them.
cargo build --locked --release -p latchkey --features custom-protocol \
  --bin latchkey --bin latchkey-window --bin latchkey-resident
release="$PWD/target/release"

# The .deb depends on what the binaries link, with the versions their symbols need, as
# dpkg-shlibdeps (from dpkg-dev, part of build-essential) works them out.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: latchkey\n\nPackage: latchkey\nArchitecture: any\n' > "$work/debian/control"
shlibs="$(cd "$work" && dpkg-shlibdeps -O "$release/latchkey" "$release/latchkey-window" "$release/latchkey-resident" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')"
if [ -z "$shlibs" ]; then
  echo "dpkg-shlibdeps found no dependencies: the .deb would depend on nothing" >&2
  exit 1
fi
python3 - "$shlibs" "$work/overlay.json" src-tauri/tauri.conf.json <<'PY'
import json, sys
shlibs, out, conf = sys.argv[1:]
deb = json.load(open(conf))["bundle"]["linux"]["deb"]
depends = [d.strip() for d in shlibs.split(",") if d.strip()] + deb.get("depends", [])
json.dump({"bundle": {"linux": {"deb": {"depends": depends}}}}, open(out, "w"))
PY

IFS=, read -ra wanted <<<"$bundles"
tauri_bundles=()
for b in "${wanted[@]}"; do
  case "$b" in
    deb|rpm) tauri_bundles+=("$b") ;;
    appimage) want_appimage=1 ;;
    *) echo "unknown bundle: $b" >&2; exit 2 ;;
  esac
done
rm -rf "$release/bundle"
if [ ${#tauri_bundles[@]} -gt 0 ]; then
  (IFS=,; cargo tauri bundle --ci --features custom-protocol --bundles "${tauri_bundles[*]}" --config "$work/overlay.json")
fi
# Tauri writes the .deb's data with gzip; Debian's own packages use xz, about half the size.
for deb in "$release"/bundle/deb/*.deb; do
  [ -e "$deb" ] || continue
  rm -rf "$work/deb"
  dpkg-deb -R "$deb" "$work/deb"
  dpkg-deb -Zxz -z9 --root-owner-group -b "$work/deb" "$deb" >/dev/null
done
if [ -n "${want_appimage:-}" ]; then
  ./scripts/appimage.sh
fi

echo
echo "Packages:"
for f in "$release"/bundle/deb/*.deb "$release"/bundle/rpm/*.rpm "$release"/bundle/appimage/*.AppImage; do
  [ -e "$f" ] || continue
  awk -v f="${f#"$PWD"/}" -v s="$(stat -c %s "$f")" 'BEGIN { printf "  %-60s %6.2f MB\n", f, s / 1e6 }'
done
for f in "$release"/bundle/deb/*.deb; do
  [ -e "$f" ] || continue
  printf '  installed size of the .deb: %s KiB\n' "$(dpkg-deb -f "$f" Installed-Size)"
done
