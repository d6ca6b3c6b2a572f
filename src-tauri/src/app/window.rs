//! The window comes and goes; Latchkey stays. On Linux, closing the window ends its process
//! (`latchkey-resident` holds the accounts and goes on); elsewhere it destroys the window with
//! its web view (no WebKit process while hidden) and the process goes on. Launching Latchkey
//! again builds the window anew from the configuration. The first close explains, in the window,
//! that Latchkey goes on in the background; Quit ends Latchkey once the work on tokens in flight
//! has finished.

use std::time::Duration;

use tauri::{AppHandle, Emitter, Manager, WebviewWindow, WebviewWindowBuilder, WindowEvent};
use tracing::{info, warn};

use super::backend::Backend;

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
            let Some(backend) = window.try_state::<Backend>() else { return };
            if !backend.notice_seen() {
                api.prevent_close();
                if let Err(e) = window.emit_to(LABEL, CLOSING_EVENT, ()) {
                    warn!(error = %e, "could not ask the window to explain closing");
                }
            }
        }
        WindowEvent::Destroyed if window.label() == LABEL => {
            info!("window closed; Latchkey goes on in the background");
            // The window's process has nothing else to do: latchkey-resident goes on.
            #[cfg(target_os = "linux")]
            window.app_handle().exit(0);
        }
        _ => {}
    }
}

/// Closes the window after its explanation was read.
pub fn close(window: &WebviewWindow) {
    if let Err(e) = window.destroy() {
        warn!(error = %e, "the window could not be closed");
    }
}

/// Quits: Latchkey waits (briefly) for the work on tokens in flight, then ends; so does the window.
pub async fn quit(app: AppHandle, backend: &Backend) {
    info!("quitting");
    #[cfg(target_os = "linux")]
    {
        let _ = backend;
        latchkey_resident::dbus::quit_running(QUIT_WAIT + Duration::from_secs(5)).await;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let stopped = backend.core().stop(QUIT_WAIT).await;
        info!(finished = stopped.finished, "work on tokens stopped; exiting");
        // Holds every connection until the process is gone, so that nothing starts in between.
        std::mem::forget(stopped);
    }
    app.exit(0);
}
