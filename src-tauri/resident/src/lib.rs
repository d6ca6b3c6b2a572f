//! Latchkey without its window: what keeps accounts fresh and answers other programs whether or
//! not the window is open. The desktop app runs it next to its window; when the window closes,
//! the app hands over to `latchkey-resident` (this crate's program), which has no Tauri, GTK or
//! WebKit in it and so stays small. One of the two runs at a time: the one that holds the
//! session-bus name `dev.latchkey.Latchkey1`.

pub mod agent;
#[cfg(target_os = "linux")]
pub mod autostart;
pub mod browser;
pub mod client;
pub mod dbus;
#[cfg(target_os = "linux")]
pub mod handover;
pub mod logging;
pub mod notify;
#[cfg(target_os = "linux")]
pub mod tray;
pub mod window_api;

/// The resident program's file name, next to the app's.
pub const PROGRAM: &str = "latchkey-resident";
/// The app's file name (the window and the command line), next to the resident program.
pub const APP: &str = "latchkey";

/// The app beside `program` (this resident program's executable), when it is installed.
pub fn app_beside(program: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = program.parent()?.join(APP);
    path.is_file().then_some(path)
}

/// The resident program beside `app` (the running app's executable), when it is installed.
pub fn program_beside(app: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = app.parent()?.join(PROGRAM);
    path.is_file().then_some(path)
}
