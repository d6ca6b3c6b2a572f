//! Deep links in: the callback URL of a second launch (forwarded by single-instance) or of the
//! launch that started the app. Each goes to the backend, which completes it; what is not a
//! valid callback for a pending flow is logged without its query string and dropped.
//!
//! On Linux and Windows the OS passes the link as the program's argument, and the core's strict
//! parser reads that argument as it came: not the deep-link plugin's copy, which went through
//! `url::Url` and so lost what the parser refuses (dot segments, an upper-case scheme). On macOS
//! links arrive as Apple Events, through the plugin.

use tauri::{AppHandle, Manager};
#[cfg(any(windows, target_os = "macos"))]
use tracing::warn;

use super::backend::Backend;

pub fn install(app: &AppHandle) {
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
        let on_open = app.clone();
        app.deep_link().on_open_url(move |event| {
            for url in event.urls() {
                deliver(&on_open, url.to_string());
            }
        });
        match app.deep_link().get_current() {
            Ok(Some(urls)) => urls.into_iter().for_each(|url| deliver(app, url.to_string())),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not read the launch URL"),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        // A link that cold-started the app: this process's own arguments.
        let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
        from_arguments(app, &args);
    }
}

/// A link among a launch's arguments (this one's, or a second launch's forwarded here), exactly
/// as the OS passed it.
pub fn from_arguments(app: &AppHandle, args: &[String]) {
    if let Some(url) = latchkey_core::redirect::callback_from_args(args) {
        deliver(app, url.to_owned());
    }
}

fn deliver(app: &AppHandle, url: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(backend) = app.try_state::<Backend>() {
            backend.deliver(url).await;
        }
    });
}
