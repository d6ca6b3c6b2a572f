//! The window's commands. `call` carries every request about accounts and providers to the
//! backend (`latchkey_resident::window_api` answers them); the others are the window's own.
//! A refused request reaches the page as its kind and message (`Refusal`); the window's own
//! failures as the kind `failed`. Never with a secret in it.

use serde::Serialize;
use serde_json::Value;
use tauri::ipc::Response;
use tauri::State;

use latchkey_resident::window_api::Refusal;

use super::backend::{Backend, Heard};

type Answer<T> = Result<T, Refusal>;

/// A request about accounts or providers (`get_state`, `connect`, …) with the page's
/// arguments; the answer goes back to the page as the JSON it came as.
#[tauri::command]
pub async fn call(backend: State<'_, Backend>, command: String, arguments: Value) -> Answer<Response> {
    backend.call(&command, &arguments.to_string()).await.map(Response::new)
}

/// Answers once something has happened that the page has not heard of (`known`: the counts it
/// last had): a change (it then asks for the state), or a close held back to explain. A request
/// that waits, not an event: listening to an event makes the window's process evaluate a script
/// and keep its result, for which it starts a JavaScript engine of its own
/// (docs/decisions/0007-the-page-asks-for-news.md).
#[tauri::command]
pub async fn next_news(backend: State<'_, Backend>, known: Heard) -> Answer<Heard> {
    Ok(backend.next_news(known).await)
}

/// Closes the window after its notice that Latchkey goes on in the background.
#[tauri::command]
pub async fn close_window(backend: State<'_, Backend>, window: tauri::WebviewWindow) -> Answer<()> {
    if let Err(e) = backend.set_notice_seen().await {
        tracing::warn!(error = %e, "could not record that the closing notice was read");
    }
    super::window::close(&window);
    Ok(())
}

#[tauri::command]
pub async fn quit(backend: State<'_, Backend>, app: tauri::AppHandle) -> Answer<()> {
    super::window::quit(app, &backend).await;
    Ok(())
}

/// Opens one of a provider's pages in the browser: where a person removes Latchkey's access
/// (`access`), where an app is registered (`console`) or its documentation (`docs`). The address
/// comes from the catalog, not from the window.
#[tauri::command]
pub async fn open_provider_page(backend: State<'_, Backend>, provider_id: String, page: String) -> Answer<()> {
    let arguments = serde_json::json!({ "providerId": provider_id, "page": page }).to_string();
    let address: String = serde_json::from_str(&backend.call("provider_page", &arguments).await?)
        .map_err(|e| format!("no address for that page: {e}"))?;
    #[cfg(target_os = "linux")]
    {
        let url = url::Url::parse(&address).map_err(|e| format!("not an address: {e}"))?;
        Ok(super::environment::open_in_browser(&url).map_err(|e| format!("cannot open the browser: {e}"))?)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(tauri_plugin_opener::open_url(address, None::<&str>).map_err(|e| format!("cannot open the browser: {e}"))?)
}

/// What the About section shows: nothing secret.
#[derive(Serialize)]
pub struct About {
    version: &'static str,
    /// The folder of `latchkey.log`.
    log_dir: Option<String>,
    /// Whether Latchkey answers other programs on the session bus.
    token_service: bool,
    /// The backend's: "keychain", "keychain_ok", "start_at_login", "connections",
    /// "needs_reconnect".
    #[serde(flatten)]
    status: serde_json::Map<String, Value>,
}

#[tauri::command]
pub async fn get_about(backend: State<'_, Backend>, app: tauri::AppHandle) -> Answer<About> {
    use tauri::Manager;
    let status = serde_json::from_str(&backend.call("get_status", "{}").await?)
        .map_err(|e| format!("Latchkey's status could not be read: {e}"))?;
    Ok(About {
        version: env!("CARGO_PKG_VERSION"),
        log_dir: app.path().app_log_dir().ok().map(|d| d.display().to_string()),
        token_service: latchkey_resident::dbus::is_running().await,
        status,
    })
}

/// Opens the folder that holds the log in the file manager.
#[tauri::command]
pub fn open_log_folder(app: tauri::AppHandle) -> Answer<()> {
    use tauri::Manager;
    let dir = app.path().app_log_dir().map_err(|e| format!("no log folder: {e}"))?;
    Ok(tauri_plugin_opener::open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| format!("cannot open {}: {e}", dir.display()))?)
}
