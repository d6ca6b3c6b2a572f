//! Deep links in: the callback URL from a second launch (forwarded by single-instance) or from
//! the launch that started the app. Each goes to the core, which waits until it is ready; what
//! is not a valid callback for a pending flow is logged without its query string and dropped.

use std::sync::Arc;

use latchkey_core::redirect::redact_for_log;
use latchkey_core::Latchkey;
use tauri::AppHandle;
use tauri_plugin_deep_link::DeepLinkExt;
use tracing::{info, warn};

pub fn install(app: &AppHandle, core: Arc<Latchkey>) {
    #[cfg(windows)]
    if let Err(e) = app.deep_link().register_all() {
        warn!(error = %e, "could not register the URL scheme");
    }

    let on_open = core.clone();
    app.deep_link().on_open_url(move |event| {
        for url in event.urls() {
            deliver(on_open.clone(), url.to_string());
        }
    });
    // A URL that cold-started the app.
    match app.deep_link().get_current() {
        Ok(Some(urls)) => urls.into_iter().for_each(|url| deliver(core.clone(), url.to_string())),
        Ok(None) => {}
        Err(e) => warn!(error = %e, "could not read the launch URL"),
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
