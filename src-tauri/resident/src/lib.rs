//! Latchkey without its window: what holds the accounts, signs in, keeps them fresh and answers
//! other programs whether or not the window is open. On Linux it runs as `latchkey-resident`
//! (this crate's program, with no Tauri, GTK or WebKit in it), which holds the session-bus name
//! `dev.latchkey.Latchkey1`; the window is a process of its own that asks it for everything it
//! shows ([`window_api`], [`client`]) and ends when it closes. Elsewhere the app runs this
//! crate's parts beside its window.

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
