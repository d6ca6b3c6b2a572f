//! Linux: makes plain `xdg-open <our scheme>` reach Latchkey. The deep-link plugin's handler
//! file quotes its `Exec` path, which the `xdg-open` of xdg-utils 1.1 (Debian 12, Ubuntu 22.04)
//! cannot read when no desktop environment is running: it takes the first word with its quotes
//! and finds no program. We write the handler ourselves with an unquoted path (through a
//! symlink when the real path needs quoting), make it the default and check that it took.
//!
//! When a package installed Latchkey, its desktop entry (in `$XDG_DATA_DIRS`) already hands the
//! scheme to this binary: then no per-user handler is written, and one written earlier (by a
//! build run from elsewhere) is removed, so that nothing is left pointing at a binary that goes
//! away with `apt-get remove`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tracing::{info, warn};

use latchkey_core::redirect::SCHEME;

const FILE_NAME: &str = "latchkey-handler.desktop";

/// Registers the scheme's handler once, on a thread of its own, when [`now`] is called (the
/// window's page has loaded) or `LATEST` after this call, whichever comes first. Not at the start:
/// `xdg-mime` is a shell script that runs a dozen programs (about 50 ms of CPU), which the window's
/// own start would share two cores with; no sign-in can begin before the page is shown.
pub fn register_soon() {
    const LATEST: std::time::Duration = std::time::Duration::from_secs(5);
    std::thread::spawn(|| {
        std::thread::sleep(LATEST);
        now();
    });
}

/// Registers the scheme's handler in the background, if that has not been done yet.
pub fn now() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| match register() {
            Ok(()) => info!(scheme = SCHEME, "registered as the handler of the callback scheme"),
            Err(e) => warn!(error = %e, "could not register the callback scheme; deep links may not reach Latchkey"),
        });
    });
}

fn data_home() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
}

/// A path `xdg-open` can run as it is: no spaces, quotes or desktop-entry specials.
fn plain(path: &Path) -> bool {
    path.to_str().is_some_and(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)))
}

/// The system's data directories (`$XDG_DATA_DIRS`, by default /usr/local/share and /usr/share).
fn data_dirs() -> Vec<PathBuf> {
    let dirs = std::env::var("XDG_DATA_DIRS").ok().filter(|d| !d.trim().is_empty());
    dirs.as_deref()
        .unwrap_or("/usr/local/share:/usr/share")
        .split(':')
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect()
}

/// The program an `Exec` line runs: its first word, unquoted, looked up on `PATH` when it has
/// no slash.
fn exec_program(exec: &str) -> Option<PathBuf> {
    let exec = exec.trim_start();
    let first = if let Some(rest) = exec.strip_prefix('"') {
        rest.split('"').next()?.replace("\\\\", "\\")
    } else {
        exec.split_whitespace().next()?.to_owned()
    };
    if first.contains('/') {
        return Some(PathBuf::from(first));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(&first)).find(|p| p.is_file())
}

/// An installed desktop entry's `Exec` program, when the entry handles our scheme.
fn scheme_handler_program(entry: &str) -> Option<PathBuf> {
    let mut in_main_group = false;
    let (mut handles, mut exec) = (false, None);
    for line in entry.lines().map(str::trim) {
        if line.starts_with('[') {
            in_main_group = line == "[Desktop Entry]";
        } else if !in_main_group {
        } else if let Some(types) = line.strip_prefix("MimeType=") {
            handles = types.split(';').any(|t| t == format!("x-scheme-handler/{SCHEME}"));
        } else if let Some(line) = line.strip_prefix("Exec=") {
            exec = Some(line.to_owned());
        }
    }
    exec.filter(|_| handles).and_then(|e| exec_program(&e))
}

/// The file name of an installed desktop entry (a package's) that hands our scheme to `exe` or
/// to the resident program beside it (the packages' `latchkey-callback.desktop`).
fn installed_entry(exe: &Path) -> Option<String> {
    let ours: Vec<PathBuf> = std::iter::once(exe.to_owned())
        .chain(latchkey_resident::program_beside(exe))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    data_dirs().into_iter().find_map(|dir| {
        std::fs::read_dir(dir.join("applications")).ok()?.flatten().find_map(|file| {
            let name = file.file_name().to_str()?.to_owned();
            if !name.ends_with(".desktop") {
                return None;
            }
            let program = scheme_handler_program(&std::fs::read_to_string(file.path()).ok()?)?;
            ours.contains(&std::fs::canonicalize(program).ok()?).then_some(name)
        })
    })
}

fn default_handler(mime: &str) -> Result<String, String> {
    let query = Command::new("xdg-mime")
        .args(["query", "default", mime])
        .output()
        .map_err(|e| format!("xdg-mime: {e} (install xdg-utils)"))?;
    Ok(String::from_utf8_lossy(&query.stdout).trim().to_owned())
}

fn make_default(file_name: &str, mime: &str) -> Result<(), String> {
    let set = Command::new("xdg-mime")
        .args(["default", file_name, mime])
        .output()
        .map_err(|e| format!("xdg-mime: {e} (install xdg-utils)"))?;
    if !set.status.success() {
        return Err(format!("xdg-mime default failed: {}", String::from_utf8_lossy(&set.stderr).trim()));
    }
    // xdg-mime can report success without effect (plugins-workspace#3585): check.
    let current = default_handler(mime)?;
    if current != file_name {
        return Err(format!("the default handler is still {current:?}"));
    }
    Ok(())
}

/// Whether a desktop entry of that file name exists where xdg-open looks.
fn entry_exists(data: &Path, file_name: &str) -> bool {
    std::iter::once(data.to_owned()).chain(data_dirs()).any(|d| d.join("applications").join(file_name).is_file())
}

fn register() -> Result<(), String> {
    let appimage = std::env::var_os("APPIMAGE").map(PathBuf::from);
    let exe = appimage.clone().map_or_else(|| std::env::current_exe().map_err(|e| e.to_string()), Ok)?;
    let data = data_home().ok_or("no data directory (HOME unset)")?;
    let ours = data.join("applications").join(FILE_NAME);
    let mime = format!("x-scheme-handler/{SCHEME}");
    if let Some(installed) = appimage.is_none().then(|| installed_entry(&exe)).flatten() {
        if ours.exists() {
            std::fs::remove_file(&ours).map_err(|e| format!("removing {}: {e}", ours.display()))?;
            let _ = Command::new("update-desktop-database").arg(ours.parent().unwrap_or(&data)).output();
            info!(file = %ours.display(), "removed the per-user handler: the installed entry serves");
        }
        // The installed entry serves unless the person's default names one that is gone (ours).
        let current = default_handler(&mime)?;
        if current != installed && (current == FILE_NAME || !entry_exists(&data, &current)) {
            make_default(&installed, &mime)?;
        }
        info!(entry = %installed, "the installed desktop entry handles the callback scheme");
        return Ok(());
    }
    // The resident program beside the app takes the callback to the running window without
    // loading GTK or WebKit (src/bin/resident.rs); the app itself when it is not there (and for an
    // AppImage, whose programs are inside it).
    let target = appimage.is_none().then(|| latchkey_resident::program_beside(&exe)).flatten().unwrap_or(exe);
    let exec = if plain(&target) {
        target
    } else {
        let name = target.file_name().map_or_else(|| "latchkey".into(), |n| n.to_string_lossy().into_owned());
        let link = data.join("dev.latchkey.desktop/bin").join(name);
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(|e| e.to_string())?;
        if !plain(&link) {
            return Err(format!("{} needs quoting; xdg-open cannot run it", link.display()));
        }
        link
    };
    let dir = data.join("applications");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Latchkey\nComment=Receives sign-in callbacks\n\
         Exec={} %u\nTerminal=false\nNoDisplay=true\nMimeType={mime};\n",
        exec.display()
    );
    // Every start after the first: the same entry, still the default. One query then, instead
    // of rewriting the entry and the MIME cache (each xdg-utils call is a shell script and its
    // processes, run while the window loads).
    if std::fs::read_to_string(&ours).is_ok_and(|e| e == entry) && default_handler(&mime)? == FILE_NAME {
        return Ok(());
    }
    latchkey_core::files::write_atomically(&ours, entry.as_bytes()).map_err(|e| e.to_string())?;
    // Optional: refreshes the MIME cache where desktop-file-utils is installed.
    let _ = Command::new("update-desktop-database").arg(&dir).output();
    make_default(FILE_NAME, &mime)
}
