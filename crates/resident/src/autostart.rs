//! Start at login: an XDG autostart entry (`~/.config/autostart/dev.latchkey.desktop.desktop`)
//! that starts Latchkey without its window, written while the setting is on and removed when it
//! is off. The setting is the person's choice, or, until they choose, on once an account is
//! connected (the core decides; this file only makes the entry match).
//!
//! Our own entry rather than tauri-plugin-autostart: the plugin's Linux entry quotes nothing in
//! `Exec` and names no icon; ours is the same few lines, written atomically and only on change.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_core::redirect::APP_IDENTIFIER;
use latchkey_core::Latchkey;
use tracing::{info, warn};

/// The entry's path under an XDG config home.
pub fn entry_path(config_home: &Path) -> PathBuf {
    config_home.join("autostart").join(format!("{APP_IDENTIFIER}.desktop"))
}

fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

/// The program to start: the AppImage when running from one (its mount point changes at every
/// start), else the app (`latchkey`, which starts the resident program for `--hidden`), beside
/// this executable when this is the resident program or the window.
fn program() -> Result<PathBuf, String> {
    if let Some(appimage) = std::env::var_os("APPIMAGE") {
        return Ok(PathBuf::from(appimage));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    if exe.file_name().is_some_and(|n| n == crate::PROGRAM || n == crate::WINDOW) {
        return Ok(exe.with_file_name(crate::APP));
    }
    Ok(exe)
}

/// One argument of an `Exec` line, quoted as the Desktop Entry specification asks when it holds
/// anything but plain characters, then escaped as a desktop-file string.
fn exec_argument(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        return text.to_owned();
    }
    let mut quoted = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    // The value is itself a string in which a backslash is written twice; `%` is a field code.
    quoted.replace('\\', "\\\\").replace('%', "%%")
}

fn entry(program: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=Latchkey\n\
         Comment=Keeps your connected accounts fresh in the background\n\
         Exec={} --hidden\nIcon={APP_IDENTIFIER}\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
        exec_argument(&program.to_string_lossy())
    )
}

/// Makes the entry match `wanted`: written (when missing or different) or removed.
pub fn apply(wanted: bool) -> Result<(), String> {
    let path = entry_path(&config_home().ok_or("no config directory (HOME unset)")?);
    if wanted {
        let text = entry(&program()?);
        if std::fs::read_to_string(&path).is_ok_and(|now| now == text) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        latchkey_core::files::write_atomically(&path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        info!(entry = %path.display(), "Latchkey starts at login");
    } else {
        match std::fs::remove_file(&path) {
            Ok(()) => info!("Latchkey no longer starts at login"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Keeps the entry matching the setting as accounts come and go (the default turns on with the
/// first connected account).
pub fn follow(core: Arc<Latchkey>) {
    let mut changes = core.subscribe();
    tokio::spawn(async move {
        let mut applied = None;
        loop {
            let wanted = core.starts_at_login();
            if applied != Some(wanted) {
                match apply(wanted) {
                    Ok(()) => applied = Some(wanted),
                    Err(e) => warn!(error = %e, "could not change starting at login"),
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}
