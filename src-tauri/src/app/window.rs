//! The window comes and goes; Latchkey stays. Closing the window destroys it with its web view
//! (no WebKit process while hidden); launching Latchkey again builds it anew from the
//! configuration. The first close explains, in the window, that Latchkey goes on in the
//! background; Quit ends the process once the work on tokens in flight has finished.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::Latchkey;
use tauri::{AppHandle, Emitter, Manager, WebviewWindow, WebviewWindowBuilder, WindowEvent};
use tracing::{info, warn};

pub const LABEL: &str = "main";
/// Asks the window to explain, before it closes for the first time, that Latchkey goes on.
pub const CLOSING_EVENT: &str = "latchkey://closing";
/// How long Quit waits for refreshes and sign-ins in flight to save their tokens.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// Shows the window: brings it forward when it is open, builds it when it is not.
pub fn show(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == LABEL) else {
        return warn!("no window is configured");
    };
    // Before the first window: the web context WebKit makes for it gets Latchkey's memory limit.
    #[cfg(target_os = "linux")]
    if !super::web_memory::limit() {
        warn!("the window's web context could not be given a memory limit; WebKit's own applies");
    }
    match WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
        Ok(window) => {
            #[cfg(target_os = "linux")]
            document_viewer(&window);
            let _ = window.set_focus();
            info!("window opened");
        }
        Err(e) => warn!(error = %e, "the window could not be opened"),
    }
}

/// WebKitGTK's cache model for a page that is an app, not a browser: no memory cache of
/// resources (the default, "web browser", sizes its caches from the machine's RAM). Part of
/// the work on a window left open that grew for as long as it was open (docs/benchmarks.md,
/// "Soak").
#[cfg(target_os = "linux")]
fn document_viewer(window: &WebviewWindow) {
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
        if let Some(context) = webview.inner().context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    if let Err(e) = applied {
        warn!(error = %e, "could not set the window's cache model");
    }
}

/// A close of the window (its close button, the window manager, Alt+F4): the first time, the
/// window is kept and asked to explain; after that it closes, and Latchkey goes on.
pub fn on_event(window: &tauri::Window, event: &WindowEvent) {
    match event {
        WindowEvent::CloseRequested { api, .. } if window.label() == LABEL => {
            let Some(core) = window.try_state::<Arc<Latchkey>>() else { return };
            if !core.settings().background_notice_seen {
                api.prevent_close();
                if let Err(e) = window.emit_to(LABEL, CLOSING_EVENT, ()) {
                    warn!(error = %e, "could not ask the window to explain closing");
                }
            }
        }
        WindowEvent::Destroyed if window.label() == LABEL => {
            info!("window closed; Latchkey goes on in the background");
            #[cfg(target_os = "linux")]
            settle_in_background(window.app_handle().clone());
        }
        _ => {}
    }
}

/// Closes the window after its explanation was read: it is not shown again.
pub fn close(window: &WebviewWindow, core: &Latchkey) {
    if let Err(e) = core.background_notice_seen() {
        warn!(error = %e, "could not record that the closing notice was read");
    }
    if let Err(e) = window.destroy() {
        warn!(error = %e, "the window could not be closed");
    }
}

/// Quits: waits (briefly) for the work on tokens in flight, then ends the process.
pub async fn quit(app: AppHandle, core: Arc<Latchkey>) {
    info!("quitting");
    let stopped = core.stop(QUIT_WAIT).await;
    info!(finished = stopped.finished, "work on tokens stopped; exiting");
    // Holds every connection until the process is gone, so that nothing starts in between.
    std::mem::forget(stopped);
    app.exit(0);
}

/// What the window leaves behind when it is gone: WebKitGTK keeps its network process running
/// after the last web view (tauri keeps the web context for the next window: tauri#14626,
/// wry#590), and the process keeps the libraries' pages it shared with WebKit's processes (about
/// 130 MiB, against 60 for a process that never had a window). So once the window has been gone
/// a moment, the idle network process is ended and the process becomes `latchkey-resident` in
/// place (`exec`, same process id; or, without it, the app again as `--hidden`), after the work
/// on tokens in flight has finished. Sign-ins waiting for a deep link are kept in the keychain
/// and survive it (the link starts the app, which takes over and completes them); one waiting on
/// a loopback listener (an `http://` redirect) would not, so Latchkey waits for it to end first.
#[cfg(target_os = "linux")]
fn settle_in_background(app: AppHandle) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let Some(core) = app.try_state::<Arc<Latchkey>>().map(|c| c.inner().clone()) else { return };
        loop {
            if !app.webview_windows().is_empty() {
                return;
            }
            let waiting_on_loopback = core
                .snapshot()
                .providers
                .iter()
                .flat_map(|p| &p.flows)
                .any(|flow| flow.url.query_pairs().any(|(k, v)| k == "redirect_uri" && v.starts_with("http://")));
            if !waiting_on_loopback {
                break;
            }
            std::thread::sleep(Duration::from_secs(10));
        }
        end_network_process();
        let stopped = tauri::async_runtime::block_on(core.stop(QUIT_WAIT));
        if !app.webview_windows().is_empty() {
            return; // reopened meanwhile: `stopped` is dropped and the work goes on
        }
        let app_program = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return warn!(error = %e, "cannot restart without the window"),
        };
        // The resident program (no GTK or WebKit in it) when installed; else the app, hidden.
        let mut program = std::process::Command::new(&app_program);
        program.arg("--hidden");
        if let Some(resident) = latchkey_resident::program_beside(&app_program) {
            program = std::process::Command::new(resident);
            program.arg("--take-over");
        }
        info!(finished = stopped.finished, "restarting without the window, to give its memory back");
        use std::os::unix::process::CommandExt;
        let error = program.exec();
        // Only on failure (the program was replaced by an upgrade, say): go on as we are.
        warn!(error = %error, "could not restart without the window; going on as is");
        drop(stopped);
    });
}

#[cfg(target_os = "linux")]
fn end_network_process() {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid …": the name can hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let name = head.split_once(" (").map_or("", |(_, name)| name);
        let parent = rest.split(' ').nth(1).unwrap_or_default();
        if parent == me && name.starts_with("WebKitNetwork") {
            let Some(pid) = rustix::process::Pid::from_raw(pid) else { continue };
            match rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
                Ok(()) => {
                    reap(pid);
                    info!(pid = pid.as_raw_nonzero().get(), "ended WebKit's idle network process");
                }
                Err(e) => warn!(error = %e, "could not end WebKit's idle network process"),
            }
        }
    }
}

/// Waits for a child that was asked to end (killing it after 2 s), so that no zombie outlives
/// the restart: the new program would not know to reap it. GLib may reap it first; then there
/// is nothing to wait for.
#[cfg(target_os = "linux")]
fn reap(pid: rustix::process::Pid) {
    use rustix::process::{waitpid, WaitOptions};
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
                return;
            }
            // Reaped, or already reaped by GLib (ECHILD).
            Ok(Some(_)) | Err(_) => return,
        }
    }
}
