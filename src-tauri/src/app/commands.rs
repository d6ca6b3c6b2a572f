//! The window's commands: each forwards to the core's front door; errors reach the window as
//! their message and nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use latchkey_core::latchkey::Endpoints;
use latchkey_core::provider::RedirectKind;
use latchkey_core::settings::Settings;
use latchkey_core::view::Snapshot;
use latchkey_core::{AuthError, Latchkey};
use serde::Serialize;
use tauri::State;

/// An error as the window shows it: its message, nothing else.
#[derive(Debug)]
pub struct UiError(String);

impl Serialize for UiError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl From<AuthError> for UiError {
    fn from(e: AuthError) -> Self {
        UiError(e.to_string())
    }
}

type Core<'a> = State<'a, Arc<Latchkey>>;
type Answer<T> = Result<T, UiError>;

/// (The log line marks the window becoming interactive, for the window benchmark.)
#[tauri::command]
pub fn get_state(core: Core) -> Snapshot {
    let snapshot = core.snapshot();
    let connections: usize = snapshot.providers.iter().map(|p| p.connections.len()).sum();
    tracing::debug!(providers = snapshot.providers.len(), connections, "state sent to the window");
    snapshot
}

#[tauri::command]
pub async fn connect(core: Core<'_>, provider_id: String) -> Answer<()> {
    Ok(core.connect(&provider_id).await.map(drop)?)
}

/// A sign-in with a code (RFC 8628): the window shows the code from the next state.
#[tauri::command]
pub async fn connect_with_code(core: Core<'_>, provider_id: String) -> Answer<String> {
    Ok(core.connect_with_code(&provider_id).await?.to_string())
}

#[tauri::command]
pub async fn cancel(core: Core<'_>, flow_id: String) -> Answer<bool> {
    Ok(core.cancel(&flow_id).await?)
}

#[tauri::command]
pub fn reopen(core: Core, flow_id: String) -> Answer<()> {
    Ok(core.reopen(&flow_id)?)
}

/// "revoked", "not_confirmed" or "not_supported"; the connection is gone either way.
#[tauri::command]
pub async fn disconnect(core: Core<'_>, connection_id: String) -> Answer<latchkey_core::provider::Revocation> {
    Ok(core.disconnect(&connection_id).await?)
}

#[tauri::command]
pub fn dismiss_error(core: Core, provider_id: String) -> Answer<()> {
    Ok(core.dismiss_error(&provider_id)?)
}

#[tauri::command]
pub fn get_settings(core: Core) -> Settings {
    core.settings()
}

#[tauri::command]
pub async fn set_demo_enabled(core: Core<'_>, enabled: bool) -> Answer<Settings> {
    Ok(core.set_demo_enabled(enabled).await?)
}

/// The secret goes to the keychain and is never sent back to the window.
#[tauri::command]
pub async fn save_client(
    core: Core<'_>,
    provider_id: String,
    client_id: String,
    client_secret: Option<String>,
) -> Answer<()> {
    Ok(core.save_client(&provider_id, &client_id, client_secret.as_deref()).await?)
}

#[tauri::command]
pub async fn forget_client(core: Core<'_>, provider_id: String) -> Answer<()> {
    Ok(core.forget_client(&provider_id).await?)
}

#[tauri::command]
pub async fn set_scopes(core: Core<'_>, provider_id: String, scopes: String) -> Answer<()> {
    Ok(core.set_scopes(&provider_id, &scopes).await?)
}

#[tauri::command]
pub async fn set_redirect(core: Core<'_>, provider_id: String, kind: RedirectKind) -> Answer<()> {
    Ok(core.set_redirect(&provider_id, kind).await?)
}

#[tauri::command]
pub fn get_marks(core: Core) -> BTreeMap<String, (String, String)> {
    core.marks()
}

#[tauri::command]
pub async fn add_provider(core: Core<'_>, name: String, issuer: String) -> Answer<String> {
    Ok(core.add_provider_by_issuer(&name, &issuer).await?.to_string())
}

#[tauri::command]
pub async fn add_oauth2_provider(
    core: Core<'_>,
    name: String,
    authorize_url: String,
    token_url: String,
    userinfo_url: String,
    revoke_url: Option<String>,
    scopes: String,
) -> Answer<String> {
    let at = Endpoints {
        authorize_url: &authorize_url,
        token_url: &token_url,
        userinfo_url: &userinfo_url,
        revoke_url: revoke_url.as_deref(),
        scopes: &scopes,
    };
    Ok(core.add_provider_by_endpoints(&name, at).await?.to_string())
}

#[tauri::command]
pub async fn remove_provider(core: Core<'_>, provider_id: String) -> Answer<()> {
    Ok(core.remove_provider(&provider_id).await?)
}

/// Whether Latchkey starts (hidden) at login.
#[tauri::command]
pub fn get_start_at_login(core: Core) -> bool {
    core.starts_at_login()
}

#[tauri::command]
pub fn set_start_at_login(core: Core, enabled: bool) -> Answer<bool> {
    core.set_start_at_login(enabled)?;
    #[cfg(target_os = "linux")]
    latchkey_resident::autostart::apply(enabled).map_err(UiError)?;
    Ok(core.starts_at_login())
}

/// Closes the window after its notice that Latchkey goes on in the background.
#[tauri::command]
pub fn close_window(core: Core, window: tauri::WebviewWindow) {
    super::window::close(&window, &core);
}

#[tauri::command]
pub async fn quit(core: Core<'_>, app: tauri::AppHandle) -> Answer<()> {
    super::window::quit(app, core.inner().clone()).await;
    Ok(())
}

/// Opens one of a provider's pages in the browser: where a person removes Latchkey's access
/// (`access`), where an app is registered (`console`) or its documentation (`docs`). The address
/// comes from the catalog, not from the window.
#[tauri::command]
pub fn open_provider_page(core: Core, provider_id: String, page: String) -> Answer<()> {
    let provider = core
        .snapshot()
        .providers
        .into_iter()
        .find(|p| p.id.as_str() == provider_id)
        .ok_or_else(|| UiError(format!("no provider named {provider_id}")))?;
    let address = match page.as_str() {
        "access" => provider.access_page,
        "console" => provider.console,
        "docs" => provider.docs,
        _ => return Err(UiError(format!("no page named {page}"))),
    }
    .ok_or_else(|| UiError(format!("no such page is known for {}", provider.name)))?;
    tauri_plugin_opener::open_url(address, None::<&str>).map_err(|e| UiError(format!("cannot open the browser: {e}")))
}

/// What the About section shows: nothing secret.
#[derive(Serialize)]
pub struct About {
    version: &'static str,
    /// The folder of `latchkey.log`.
    log_dir: Option<String>,
    /// "reachable", or why not.
    keychain: String,
    keychain_ok: bool,
    start_at_login: bool,
    /// Whether this Latchkey answers other programs on the session bus.
    token_service: bool,
    connections: usize,
    needs_reconnect: usize,
}

#[tauri::command]
pub async fn get_about(core: Core<'_>, app: tauri::AppHandle) -> Answer<About> {
    use tauri::Manager;
    let status = core.status().await;
    Ok(About {
        version: env!("CARGO_PKG_VERSION"),
        log_dir: app.path().app_log_dir().ok().map(|d| d.display().to_string()),
        keychain_ok: status.keychain.is_ok(),
        keychain: status.keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned()),
        start_at_login: core.starts_at_login(),
        token_service: latchkey_resident::dbus::is_running().await,
        connections: status.connections,
        needs_reconnect: status.needs_reconnect,
    })
}

/// Opens the folder that holds the log in the file manager.
#[tauri::command]
pub fn open_log_folder(app: tauri::AppHandle) -> Answer<()> {
    use tauri::Manager;
    let dir = app.path().app_log_dir().map_err(|e| UiError(format!("no log folder: {e}")))?;
    tauri_plugin_opener::open_path(dir.display().to_string(), None::<&str>)
        .map_err(|e| UiError(format!("cannot open {}: {e}", dir.display())))
}

#[tauri::command]
pub async fn set_pkce(core: Core<'_>, provider_id: String, enabled: bool) -> Answer<()> {
    Ok(core.set_pkce(&provider_id, enabled).await?)
}
