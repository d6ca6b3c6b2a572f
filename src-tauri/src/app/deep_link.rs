//! Deep links in: the callback URL of a second launch (forwarded by single-instance) or of the
//! launch that started the app. Each goes to the core, which waits until it is ready; what is
//! not a valid callback for a pending flow is logged without its query string and dropped.
//!
//! On Linux and Windows the OS passes the link as the program's argument, and the core's strict
//! parser reads that argument as it came: not the deep-link plugin's copy, which went through
//! `url::Url` and so lost what the parser refuses (dot segments, an upper-case scheme). On macOS
//! links arrive as Apple Events, through the plugin.

use std::sync::Arc;

use latchkey_core::redirect::redact_for_log;
use latchkey_core::Latchkey;
use tauri::AppHandle;
use tracing::info;
#[cfg(any(windows, target_os = "macos"))]
use tracing::warn;

pub fn install(app: &AppHandle, core: Arc<Latchkey>) {
    #[cfg(windows)]
    {
        use tauri_plugin_deep_link::DeepLinkExt;
        if let Err(e) = app.deep_link().register_all() {
            warn!(error = %e, "could not register the URL scheme");
        }
    }
    #[cfg(target_os = "macos")]
    {
        use tauri_plugin_deep_link::DeepLinkExt;
        let on_open = core.clone();
        app.deep_link().on_open_url(move |event| {
            for url in event.urls() {
                deliver(on_open.clone(), url.to_string());
            }
        });
        match app.deep_link().get_current() {
            Ok(Some(urls)) => urls.into_iter().for_each(|url| deliver(core.clone(), url.to_string())),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not read the launch URL"),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        let _ = app;
        // A link that cold-started the app: this process's own arguments.
        let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
        from_arguments(core, &args);
    }
}

/// A link among a launch's arguments (this one's, or a second launch's forwarded here), exactly
/// as the OS passed it.
pub fn from_arguments(core: Arc<Latchkey>, args: &[String]) {
    if let Some(url) = latchkey_core::redirect::callback_from_args(args) {
        deliver(core, url.to_owned());
    }
}

fn deliver(core: Arc<Latchkey>, url: String) {
    info!(url = %redact_for_log(&url), "deep link received");
    tauri::async_runtime::spawn(async move {
        // Errors are logged by the core (without the query) and shown on the provider's row
        // when they belong to a real sign-in; junk changes nothing.
        if let Ok(connection) = core.complete(&url).await {
            info!(connection = %connection.id, "deep link completed a sign-in");
        }
    });
}
