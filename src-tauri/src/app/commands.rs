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

/// Opens, in the browser, the provider's page where a person removes Latchkey's access (the
/// address comes from the catalog, not from the window).
#[tauri::command]
pub fn open_access_page(core: Core, provider_id: String) -> Answer<()> {
    let page = core
        .snapshot()
        .providers
        .into_iter()
        .find(|p| p.id.as_str() == provider_id)
        .and_then(|p| p.access_page)
        .ok_or_else(|| UiError(format!("no page is known for {provider_id}")))?;
    tauri_plugin_opener::open_url(page, None::<&str>).map_err(|e| UiError(format!("cannot open the browser: {e}")))
}

#[tauri::command]
pub async fn set_pkce(core: Core<'_>, provider_id: String, enabled: bool) -> Answer<()> {
    Ok(core.set_pkce(&provider_id, enabled).await?)
}
