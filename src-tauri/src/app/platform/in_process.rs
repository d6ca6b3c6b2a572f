//! Where the window's process holds the core (macOS, Windows): it opens and starts it and runs
//! everything `latchkey-resident` runs on Linux (refreshes, notifications, the D-Bus service)
//! beside the window, and stays when the window closes.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::latchkey::Options;
use latchkey_core::redirect::APP_IDENTIFIER;
use latchkey_core::{Browser, CoreEvent, Latchkey};
use latchkey_resident::window_api::{self, Refusal, Request};
use latchkey_resident::{agent, dbus};
use tauri::{AppHandle, Manager, Wry};
use tracing::{info, warn};

use super::super::{backend::Backend, deep_link, window};

/// How long quitting waits for the work on tokens in flight.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// The core, in this process.
pub struct Holder {
    core: Arc<Latchkey>,
}

impl Holder {
    /// Answers one of the window's requests here.
    pub async fn request(&self, request: Request) -> Result<String, Refusal> {
        window_api::answer(&self.core, request).await
    }

    /// Completes a sign-in callback here.
    pub async fn deliver(&self, url: String) {
        window_api::complete_callback(&self.core, &url).await;
    }

    /// Waits (briefly) for the work on tokens in flight; the caller then ends the process.
    pub async fn quit(&self) {
        let stopped = self.core.stop(QUIT_WAIT).await;
        info!(finished = stopped.finished, "work on tokens stopped; exiting");
        // Holds every connection until the process is gone, so that nothing starts in between.
        std::mem::forget(stopped);
    }
}

/// Opens URLs in the person's default browser, never in a webview (checklist line 1).
struct SystemBrowser;

impl Browser for SystemBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        tauri_plugin_opener::open_url(url.as_str(), None::<&str>).map_err(|e| e.to_string())
    }
}

/// Notifications through Tauri's plugin (on Linux latchkey-resident sends them). The plugin also
/// puts a script in the page, which the window does not use.
pub fn prepare(builder: tauri::Builder<Wry>) -> tauri::Builder<Wry> {
    builder.plugin(tauri_plugin_notification::init())
}

/// Opens the core, shows the window unless `hidden`, and starts the background work.
pub fn setup(app: &mut tauri::App, hidden: bool) -> Result<(), Box<dyn std::error::Error>> {
    let paths = app.path();
    let data_dir = paths.app_data_dir()?;
    let config_dir = paths.app_config_dir()?;
    info!(version = env!("CARGO_PKG_VERSION"), hidden, data = %data_dir.display(), "Latchkey starting");
    let core = Latchkey::open(Options {
        data_dir,
        config_dir,
        keychain_service: APP_IDENTIFIER.to_owned(),
        browser: Arc::new(SystemBrowser),
    })?;
    let backend = Backend::new(Holder { core: core.clone() });
    backend.note_notice_seen(core.settings().background_notice_seen);
    app.manage(backend);
    deep_link::install(app.handle());
    forward_changes(app.handle().clone(), core.clone());
    if !hidden {
        window::show(app.handle());
    }
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        core.start().await;
        notify_reconnects(handle.clone(), core.clone());
        // Its `Quit` quits the app as the window's Quit does.
        let on_quit: dbus::OnQuit = Arc::new(move || {
            let app = handle.clone();
            tauri::async_runtime::spawn(async move { window::quit(app.clone(), &app.state::<Backend>()).await });
        });
        match agent::keep_working(core, on_quit, Duration::from_secs(10)).await {
            // The announcing task holds the connection: the service answers while the app runs.
            Ok(_) => {}
            Err(e) => warn!(error = %e, "the D-Bus service could not start; other programs can use `latchkey token`"),
        }
    });
    Ok(())
}

/// Nothing waits for the page here.
pub fn page_loaded() {}

/// The window closed: Latchkey stays in this process.
pub fn window_destroyed(_app: &AppHandle) {}

/// This process outlives its window (only Quit, or the session ending, stops it).
pub const KEEPS_RUNNING: bool = true;

/// Nothing to try again here.
pub fn cannot_build(e: tauri::Error) -> ! {
    super::super::could_not_start(&e)
}

/// A desktop notification, and the window asking for attention, when a connection needs the
/// person to reconnect it.
fn notify_reconnects(app: AppHandle, core: Arc<Latchkey>) {
    let mut events = core.events();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CoreEvent::NeedsReconnect(connection)) => {
                    use tauri_plugin_notification::NotificationExt;
                    let provider = core.provider_name(&connection.provider);
                    let shown = app
                        .notification()
                        .builder()
                        .title(format!("Reconnect {} to {provider}", connection.nickname))
                        .body(format!(
                            "{provider} no longer accepts Latchkey's access. Open Latchkey and click Reconnect."
                        ))
                        .show();
                    if let Err(e) = shown {
                        warn!(error = %e, "could not show a notification");
                    }
                    if let Some(window) = app.get_webview_window("main") {
                        let _ = window.request_user_attention(Some(tauri::UserAttentionType::Informational));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
}

/// Counts the core's changes for the page waiting in `next_news`, which then asks for the
/// snapshot (`get_state`).
fn forward_changes(app: AppHandle, core: Arc<Latchkey>) {
    let mut changes = core.subscribe();
    tauri::async_runtime::spawn(async move {
        while changes.changed().await.is_ok() {
            changes.borrow_and_update();
            app.state::<Backend>().changed();
        }
    });
}
