//! Linux: makes plain `xdg-open <our scheme>` reach Latchkey. The deep-link plugin's handler
//! file quotes its `Exec` path, which the `xdg-open` of xdg-utils 1.1 (Debian 12, Ubuntu 22.04)
//! cannot read when no desktop environment is running: it takes the first word with its quotes
//! and finds no program. We write the handler ourselves with an unquoted path (through a
//! symlink when the real path needs quoting), make it the default and check that it took.

use std::path::{Path, PathBuf};
use std::process::Command;

use tracing::{info, warn};

use latchkey_core::redirect::SCHEME;

const FILE_NAME: &str = "latchkey-handler.desktop";

pub fn register_in_background() {
    std::thread::spawn(|| match register() {
        Ok(()) => info!(scheme = SCHEME, "registered as the handler of the callback scheme"),
        Err(e) => warn!(error = %e, "could not register the callback scheme; deep links may not reach Latchkey"),
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

fn register() -> Result<(), String> {
    let exe = std::env::var_os("APPIMAGE")
        .map(PathBuf::from)
        .map_or_else(|| std::env::current_exe().map_err(|e| e.to_string()), Ok)?;
    let data = data_home().ok_or("no data directory (HOME unset)")?;
    let exec = if plain(&exe) {
        exe
    } else {
        let link = data.join("dev.latchkey.desktop/bin/latchkey");
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link).map_err(|e| e.to_string())?;
        if !plain(&link) {
            return Err(format!("{} needs quoting; xdg-open cannot run it", link.display()));
        }
        link
    };
    let dir = data.join("applications");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mime = format!("x-scheme-handler/{SCHEME}");
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Latchkey\nComment=Receives sign-in callbacks\n\
         Exec={} %u\nTerminal=false\nNoDisplay=true\nMimeType={mime};\n",
        exec.display()
    );
    latchkey_core::files::write_atomically(&dir.join(FILE_NAME), entry.as_bytes()).map_err(|e| e.to_string())?;
    // Optional: refreshes the MIME cache where desktop-file-utils is installed.
    let _ = Command::new("update-desktop-database").arg(&dir).output();
    let set = Command::new("xdg-mime")
        .args(["default", FILE_NAME, &mime])
        .output()
        .map_err(|e| format!("xdg-mime: {e} (install xdg-utils)"))?;
    if !set.status.success() {
        return Err(format!("xdg-mime default failed: {}", String::from_utf8_lossy(&set.stderr).trim()));
    }
    // xdg-mime can report success without effect (plugins-workspace#3585): check.
    let query = Command::new("xdg-mime").args(["query", "default", &mime]).output().map_err(|e| e.to_string())?;
    let current = String::from_utf8_lossy(&query.stdout).trim().to_owned();
    if current != FILE_NAME {
        return Err(format!("the default handler is still {current:?}"));
    }
    Ok(())
}
