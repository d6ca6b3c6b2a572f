//! What the packages carry (issue 12), checked on the files the bundler reads: the icons, the
//! desktop entry template and the bundle configuration. The packages themselves are built and
//! installed by scripts/package.sh and scripts/package-test.sh.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A PNG's width, height, bit depth and colour type, from its IHDR chunk.
fn png_header(bytes: &[u8]) -> Option<(u32, u32, u8, u8)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 26 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let number = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((number(16), number(20), bytes[24], bytes[25]))
}

/// The size a PNG's name says: `32x32.png`, `128x128@2x.png` (twice), `icon.png` (the master,
/// 512), `64x64.png`.
fn named_size(name: &str) -> Option<u32> {
    if name == "icon.png" {
        return Some(512);
    }
    let stem = name.strip_suffix(".png")?;
    let (stem, scale) = stem.strip_suffix("@2x").map_or((stem, 1), |s| (s, 2));
    let (w, h) = stem.split_once('x')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    (w == h).then_some(w * scale)
}

#[test]
fn every_png_icon_is_8_bit_rgba_of_the_size_its_name_says() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("icons")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".png") {
            continue;
        }
        let (width, height, depth, colour) = png_header(&std::fs::read(&path).unwrap()).expect(&name);
        assert_eq!((depth, colour), (8, 6), "{name}: 8-bit RGBA (colour type 6)");
        let size = named_size(&name).unwrap_or_else(|| panic!("{name}: the name gives no size"));
        assert_eq!((width, height), (size, size), "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "the icons were found: {checked}");
    for other in ["icon.ico", "icon.icns"] {
        assert!(root().join("icons").join(other).is_file(), "{other} is generated too");
    }
}

#[test]
fn the_bundle_names_existing_icons_and_the_desktop_entry_the_scheme() {
    let text = std::fs::read_to_string(root().join("src-tauri/tauri.conf.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bundle = &config["bundle"];
    let icons = bundle["icon"].as_array().unwrap();
    assert!(!icons.is_empty());
    for icon in icons {
        let path = root().join("src-tauri").join(icon.as_str().unwrap());
        assert!(path.is_file(), "{} is named but missing", path.display());
    }
    for field in ["publisher", "homepage", "license", "shortDescription", "longDescription", "category"] {
        assert!(bundle[field].as_str().is_some_and(|v| !v.is_empty()), "bundle.{field}");
    }
    let scheme = config["plugins"]["deep-link"]["desktop"]["schemes"][0].as_str().unwrap();
    for kind in ["deb", "rpm"] {
        let template = bundle["linux"][kind]["desktopTemplate"].as_str().unwrap();
        let entry = std::fs::read_to_string(root().join("src-tauri").join(template)).unwrap();
        let line = |key: &str| {
            entry.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key}"))
        };
        // The application's entry launches the app; the scheme is another entry's (below).
        assert!(!entry.contains("MimeType="), "{kind}: one handler for the scheme, not two");
        for key in ["Categories", "Comment", "Keywords", "Icon", "Name", "Exec"] {
            assert!(!line(key).is_empty(), "{key}");
        }
        // The scheme's handler: latchkey-resident, which hands a callback to the running window
        // without loading GTK or WebKit. xdg-open of xdg-utils 1.1 takes the first word as it is:
        // no quotes, and the URL as %u.
        let files = bundle["linux"][kind]["files"].as_object().expect("the callback entry is packaged");
        let source = files["/usr/share/applications/latchkey-callback.desktop"].as_str().unwrap();
        let handler = std::fs::read_to_string(root().join("src-tauri").join(source)).unwrap();
        let key = |k: &str| handler.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_default();
        assert!(key("MimeType").split(';').any(|t| t == format!("x-scheme-handler/{scheme}")), "{kind}");
        assert_eq!(key("Exec"), "/usr/bin/latchkey-resident %u");
        assert_eq!(key("NoDisplay"), "true", "not in the applications menu");
    }
    let depends: Vec<&str> =
        bundle["linux"]["deb"]["depends"].as_array().unwrap().iter().filter_map(|d| d.as_str()).collect();
    assert!(depends.contains(&"xdg-utils"), "{depends:?}");
    let recommends = bundle["linux"]["deb"]["recommends"].as_array().unwrap();
    assert!(recommends.iter().any(|r| r == "gnome-keyring"), "a Secret Service provider is recommended");
}

/// The window's logos (issue 15): written into ui/logos/logos.js by scripts/logos.sh from the
/// simple-icons version it records, one per catalog id with a logo there, each a brand colour and
/// one path in a 24x24 box (path data only: the window draws it as an SVG element).
#[test]
fn every_logo_is_a_recorded_simple_icons_path_of_a_catalog_provider() {
    let root = root();
    let catalog = std::fs::read_to_string(root.join("crates/core/catalog/providers.toml")).unwrap();
    let ids: Vec<&str> = catalog.lines().filter_map(|l| l.strip_prefix("id = \"")?.strip_suffix('"')).collect();
    let script = std::fs::read_to_string(root.join("scripts/logos.sh")).unwrap();
    let version = script.lines().find_map(|l| l.strip_prefix("VERSION=")).expect("scripts/logos.sh records a version");
    let listing = std::fs::read_to_string(root.join("ui/logos/logos.js")).unwrap();
    assert!(listing.contains(&format!("simple-icons {version} (CC0 1.0)")), "logos.js is from another version");
    let object = listing
        .split_once("window.LATCHKEY_LOGOS = ")
        .and_then(|(_, rest)| rest.trim_end().strip_suffix(';'))
        .expect("logos.js sets window.LATCHKEY_LOGOS to an object");
    let logos: serde_json::Map<String, serde_json::Value> = serde_json::from_str(object).expect("the object is JSON");
    for (id, logo) in &logos {
        assert!(ids.contains(&id.as_str()), "{id} is no catalog provider");
        let [colour, path] = logo.as_array().map(Vec::as_slice).unwrap_or_default() else {
            panic!("{id}: not [colour, path]: {logo}")
        };
        let colour = colour.as_str().unwrap_or_default();
        assert!(
            colour.len() == 7 && colour.starts_with('#') && colour[1..].chars().all(|c| c.is_ascii_hexdigit()),
            "{id}: {colour}"
        );
        let path = path.as_str().unwrap_or_default();
        assert!(path.starts_with(['M', 'm']), "{id}: a path starts with a move");
        assert!(path.chars().all(|c| "MmLlHhVvCcSsQqTtAaZzEe0123456789.,+- ".contains(c)), "{id}: not path data only");
    }
    assert!(logos.len() >= 15, "most of the catalog has a logo: {:?}", logos.keys());
    // Nothing else there: the window loads no logo file of its own.
    let files: Vec<String> = std::fs::read_dir(root.join("ui/logos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["logos.js"]);
}

/// The page's commands, one list: the capability grants each command of the page and of the
/// window (crates/resident/src/window_requests.rs) and nothing else of Latchkey's, and every
/// command the page's scripts call is one of them.
#[test]
fn the_capability_grants_exactly_the_listed_commands_and_the_page_calls_no_other() {
    use latchkey_resident::window_api::Request;
    let listed: std::collections::BTreeSet<&str> = Request::PAGE.iter().chain(Request::COMMANDS).copied().collect();
    assert!(listed.contains("connect") && listed.contains("next_news"), "{listed:?}");

    let capability: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("src-tauri/capabilities/default.json")).unwrap())
            .unwrap();
    let granted: std::collections::BTreeSet<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    let want: std::collections::BTreeSet<String> = listed.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(granted, want, "the capability's allow-<command> permissions against the list");

    // The names the scripts invoke: `run("x"`, `call("x"`, `invoke("x"`, `ask("x"` and early.js's
    // `ask("x"`.
    let mut called = std::collections::BTreeSet::new();
    for script in ["ui/app.js", "ui/early.js"] {
        let text = std::fs::read_to_string(root().join(script)).unwrap();
        for opener in ["run(\"", "call(\"", "invoke(\"", "ask(\""] {
            for piece in text.split(opener).skip(1) {
                if let Some(name) = piece.split('"').next() {
                    called.insert(name.to_owned());
                }
            }
        }
    }
    assert!(called.len() >= 20, "the scripts' calls were not found: {called:?}");
    let unknown: Vec<_> = called.iter().filter(|c| !listed.contains(c.as_str())).collect();
    assert!(unknown.is_empty(), "the page calls commands that are not in the list: {unknown:?}");
}
