//! The window's commands. One per request of the page about accounts and providers, generated
//! from the list in `crates/resident/src/window_requests.rs` with its arguments typed, each
//! forwarded to the backend (`latchkey_resident::window_api` answers them) and each granted by
//! its own permission in `capabilities/default.json`; the others are the window's own.
//! A refused request reaches the page as its kind and message (`Refusal`); the window's own
//! failures as the kind `failed`. Never with a secret in it.

use serde::Serialize;
use serde_json::Value;
use tauri::ipc::Response;
use tauri::State;

use latchkey_resident::window_api::{Refusal, Request};

use super::backend::{Backend, Heard};

type Answer<T> = Result<T, Refusal>;

/// One Tauri command per page request: its arguments as the page names them (`provider_id`
/// is `providerId`), the answer back to the page as the JSON it came as.
macro_rules! page_commands {
    (
        page { $($page:ident : $Variant:ident { $($arg:ident : $ty:ty),* $(,)? }),* $(,)? }
        window { $($own:tt)* }
        commands { $($command:tt)* }
    ) => {
        $(
            #[tauri::command]
            pub async fn $page(backend: State<'_, Backend>, $($arg: $ty),*) -> Answer<Response> {
                backend.request(Request::$Variant { $($arg),* }).await.map(Response::new)
            }
        )*
    };
}

latchkey_resident::window_requests!(page_commands);

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
    let address: String = serde_json::from_str(&backend.request(Request::ProviderPage { provider_id, page }).await?)
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
    let status = serde_json::from_str(&backend.request(Request::GetStatus {}).await?)
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
