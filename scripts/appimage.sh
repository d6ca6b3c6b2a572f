#!/usr/bin/env bash
# Builds the AppImage from the release binaries (run by scripts/package.sh, after its build):
# target/release/bundle/appimage/Latchkey_<version>_amd64.AppImage.
#
# Tauri's AppImage bundler downloads linuxdeploy and its plugins from GitHub, which this
# project's machines cannot reach. This builds the same format from parts that come from the
# package registries: the AppImage type-2 runtime (AppImageKit's, as shipped inside the
# `appimage` crate on crates.io, checked against its SHA-256) followed by a SquashFS image of
# the AppDir made by mksquashfs (Debian's squashfs-tools). It does not carry WebKitGTK: it runs
# where libwebkit2gtk-4.1 is installed (every current GNOME or KDE desktop distribution).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNTIME_CRATE="appimage@0.4.0"
RUNTIME_SHA256="328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323"

ensure_packages squashfs-tools
ensure_rust
release="$PWD/target/release"
for bin in latchkey latchkey-window latchkey-resident; do
  [ -x "$release/$bin" ] || { echo "$release/$bin is missing: run scripts/package.sh" >&2; exit 1; }
done
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' src-tauri/tauri.conf.json)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The runtime: `cargo info` puts the crate in cargo's cache; take the file out of it.
(cd "$work" && cargo info "$RUNTIME_CRATE" >/dev/null 2>&1) || true
crate="$(find "${CARGO_HOME:-$HOME/.cargo}"/registry/cache -name "${RUNTIME_CRATE/@/-}.crate" -print -quit 2>/dev/null)"
[ -n "$crate" ] || { echo "could not fetch the $RUNTIME_CRATE crate from crates.io" >&2; exit 1; }
tar -xzf "$crate" -C "$work" "${RUNTIME_CRATE/@/-}/assets/runtime-x86_64"
runtime="$work/${RUNTIME_CRATE/@/-}/assets/runtime-x86_64"
echo "$RUNTIME_SHA256  $runtime" | sha256sum --check --quiet

# The AppDir: the three programs, the desktop entry and the icon at its top, AppRun the app.
appdir="$work/Latchkey.AppDir"
mkdir -p "$appdir/usr/bin" "$appdir/usr/share/applications" "$appdir/usr/share/icons/hicolor/128x128/apps"
install -m 755 "$release/latchkey" "$release/latchkey-window" "$release/latchkey-resident" "$appdir/usr/bin/"
sed -e 's/{{exec}}/latchkey/g' -e 's/{{icon}}/latchkey/g' src-tauri/packaging/latchkey.desktop \
  > "$appdir/usr/share/applications/latchkey.desktop"
cp "$appdir/usr/share/applications/latchkey.desktop" "$appdir/latchkey.desktop"
install -m 644 icons/128x128.png "$appdir/usr/share/icons/hicolor/128x128/apps/latchkey.png"
cp icons/128x128.png "$appdir/latchkey.png"
ln -s latchkey.png "$appdir/.DirIcon"
ln -s usr/bin/latchkey "$appdir/AppRun"

out_dir="$release/bundle/appimage"
mkdir -p "$out_dir"
out="$out_dir/Latchkey_${version}_amd64.AppImage"
mksquashfs "$appdir" "$work/payload.squashfs" -root-owned -noappend -quiet -comp xz >/dev/null
cat "$runtime" "$work/payload.squashfs" > "$out"
chmod 755 "$out"
echo "built $out"
