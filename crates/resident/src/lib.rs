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
mod window_requests;

/// The resident program's file name, next to the app's.
pub const PROGRAM: &str = "latchkey-resident";
/// The app's file name: what a person, the desktop entry and the login entry start. On Linux it
/// is a small program with nothing of GTK or WebKit linked: it runs a command as the resident
/// program, hands a launch to the window that is open, or starts the window ([`WINDOW`]).
pub const APP: &str = "latchkey";
/// The window's file name on Linux, next to the app.
pub const WINDOW: &str = "latchkey-window";

/// The window beside `program` (the app's or the resident program's executable), when it is
/// installed.
pub fn window_beside(program: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = program.parent()?.join(WINDOW);
    path.is_file().then_some(path)
}

/// The resident program beside `app` (the app's or the window's executable), when it is
/// installed.
pub fn program_beside(app: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = app.parent()?.join(PROGRAM);
    path.is_file().then_some(path)
}
