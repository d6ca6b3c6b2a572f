//! The window's commands: each forwards to the core and turns errors into sentences.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tauri::State;

use super::Core;
use crate::core::manager::Snapshot;
use crate::core::provider::RedirectKind;
use crate::core::{AuthError, ConnectionId, ProviderId};
use crate::settings::Settings;

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

impl From<String> for UiError {
    fn from(e: String) -> Self {
        UiError(e)
    }
}

type Core_<'a> = State<'a, Arc<Core>>;

fn provider(name: &str) -> Result<ProviderId, UiError> {
    ProviderId::new(name).map_err(UiError)
}

#[tauri::command]
pub fn get_state(core: Core_) -> Snapshot {
    let snapshot = core.manager.snapshot();
    tracing::debug!(providers = snapshot.providers.len(), "state sent to the window");
    snapshot
}

#[tauri::command]
pub async fn connect(core: Core_<'_>, provider_id: String) -> Result<(), UiError> {
    core.manager.connect(&provider(&provider_id)?).await.map(|_| ()).map_err(Into::into)
}

#[tauri::command]
pub async fn cancel(core: Core_<'_>, flow_id: String) -> Result<bool, UiError> {
    Ok(core.manager.cancel(&flow_id).await)
}

#[tauri::command]
pub fn reopen(core: Core_, flow_id: String) -> Result<(), UiError> {
    core.manager.reopen(&flow_id).map_err(Into::into)
}

#[tauri::command]
/// Whether the provider confirmed the revocation; the connection is gone either way.
pub async fn disconnect(core: Core_<'_>, connection_id: String) -> Result<bool, UiError> {
    let id = ConnectionId::parse(&connection_id).map_err(UiError)?;
    core.manager.disconnect(&id).await.map_err(Into::into)
}

#[tauri::command]
pub fn dismiss_error(core: Core_, provider_id: String) -> Result<(), UiError> {
    core.manager.dismiss_error(&provider(&provider_id)?);
    Ok(())
}

#[tauri::command]
pub fn get_settings(core: Core_) -> Settings {
    core.settings.get()
}

#[tauri::command]
pub async fn set_demo_enabled(core: Core_<'_>, enabled: bool) -> Result<Settings, UiError> {
    let settings = core.settings.update(|s| s.demo_provider = enabled)?;
    core.apply_demo(enabled && !crate::demo::disabled_by_env()).await?;
    Ok(settings)
}

/// Saves a client registration typed in the window: the id in the settings file, the secret
/// (if any) in the keychain only. The secret is never sent back to the window.
#[tauri::command]
pub async fn save_client(
    core: Core_<'_>,
    provider_id: String,
    client_id: String,
    client_secret: Option<String>,
) -> Result<(), UiError> {
    let provider = provider(&provider_id)?;
    let client_id = client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 512 || client_id.chars().any(char::is_control) {
        return Err(UiError("enter the client ID your provider gave you".into()));
    }
    let secret = client_secret.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(secret) = secret {
        if secret.len() > 4096 {
            return Err(UiError("that client secret is too long".into()));
        }
        core.manager.vault().store_raw(&crate::settings::secret_entry(&provider), secret.into_bytes()).await?;
    }
    core.settings.update(|s| {
        s.clients.insert(provider.clone(), crate::settings::ClientSettings { client_id, scopes: None });
    })?;
    core.load_providers().await?;
    tracing::info!(provider = %provider, "client registration saved");
    Ok(())
}

/// Sets the scopes sign-ins to `provider_id` ask for; an empty text goes back to the provider's
/// own. Takes effect at the next sign-in; connected accounts keep what they were granted.
#[tauri::command]
pub async fn set_scopes(core: Core_<'_>, provider_id: String, scopes: String) -> Result<(), UiError> {
    let provider = provider(&provider_id)?;
    let scopes = crate::settings::parse_scopes(&scopes).map_err(UiError)?;
    core.settings.update(|s| {
        if scopes.is_empty() {
            s.scopes.remove(&provider);
        } else {
            s.scopes.insert(provider.clone(), scopes);
        }
    })?;
    core.load_providers().await?;
    tracing::info!(provider = %provider, "scopes changed");
    Ok(())
}

/// Chooses the redirect kind of a provider that accepts several: "private-use" or "loopback".
/// Takes effect at the next sign-in.
#[tauri::command]
pub async fn set_redirect(core: Core_<'_>, provider_id: String, kind: RedirectKind) -> Result<(), UiError> {
    let provider = provider(&provider_id)?;
    if !core.manager.provider(&provider).is_some_and(|p| p.redirect_choices().contains(&kind)) {
        return Err(UiError(format!("{provider_id} does not accept that kind of redirect")));
    }
    core.settings.update(|s| {
        s.redirects.insert(provider.clone(), kind);
    })?;
    core.load_providers().await?;
    tracing::info!(provider = %provider, ?kind, "redirect kind chosen");
    Ok(())
}

/// The catalog's marks (letter and colour) by provider, for the window.
#[tauri::command]
pub fn get_marks() -> BTreeMap<String, (String, String)> {
    let mut marks: BTreeMap<String, (String, String)> = crate::core::catalog::parse(crate::core::catalog::BUILTIN)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.id.to_string(), (e.icon.letter, e.icon.color)))
        .collect();
    marks.insert(crate::demo::NAME.into(), ("D".into(), "#0f766e".into()));
    marks
}

/// Forgets a client registration typed in the window (settings and keychain).
#[tauri::command]
pub async fn forget_client(core: Core_<'_>, provider_id: String) -> Result<(), UiError> {
    let provider = provider(&provider_id)?;
    core.manager.vault().delete_raw(&crate::settings::secret_entry(&provider)).await?;
    core.settings.update(|s| {
        s.clients.remove(&provider);
    })?;
    core.load_providers().await?;
    Ok(())
}

/// A provider id for `name` that no provider has yet.
fn new_provider_id(core: &Core, name: &str) -> Result<ProviderId, UiError> {
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(UiError("give the provider a name".into()));
    }
    let slug = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let base: String = if slug.is_empty() { "custom".to_owned() } else { slug.chars().take(40).collect() };
    let taken: Vec<String> = core.manager.providers().iter().map(|p| p.name().to_string()).collect();
    (1..)
        .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
        .find(|candidate| !taken.contains(candidate))
        .and_then(|candidate| ProviderId::new(candidate).ok())
        .ok_or_else(|| UiError("cannot name that provider".into()))
}

async fn keep_custom(core: &Core, id: ProviderId, custom: crate::settings::CustomProvider) -> Result<String, UiError> {
    core.settings.update(|s| {
        s.custom.insert(id.clone(), custom);
    })?;
    core.load_providers().await?;
    tracing::info!(provider = %id, "provider added");
    Ok(id.to_string())
}

/// Adds a provider by its issuer URL, read through OpenID Connect Discovery (or RFC 8414).
#[tauri::command]
pub async fn add_provider(core: Core_<'_>, name: String, issuer: String) -> Result<String, UiError> {
    let name = name.trim().to_owned();
    let id = new_provider_id(&core, &name)?;
    let issuer = url::Url::parse(issuer.trim())
        .map_err(|_| UiError("the issuer must be a URL, like https://id.example.com".into()))?;
    let config = crate::core::discovery::discover(core.http(), id.clone(), &name, &issuer).await?;
    keep_custom(&core, id, crate::settings::CustomProvider::from_config(&config)).await
}

/// Adds a plain OAuth 2 provider by its endpoints.
#[tauri::command]
pub async fn add_oauth2_provider(
    core: Core_<'_>,
    name: String,
    authorize_url: String,
    token_url: String,
    userinfo_url: String,
    revoke_url: Option<String>,
    scopes: String,
) -> Result<String, UiError> {
    let name = name.trim().to_owned();
    let id = new_provider_id(&core, &name)?;
    let custom = crate::settings::CustomProvider::from_endpoints(
        &name,
        &authorize_url,
        &token_url,
        &userinfo_url,
        revoke_url.as_deref(),
        &scopes,
    )?;
    keep_custom(&core, id, custom).await
}

/// Removes a provider the person added, once it has no connections.
#[tauri::command]
pub async fn remove_provider(core: Core_<'_>, provider_id: String) -> Result<(), UiError> {
    let provider = provider(&provider_id)?;
    if !core.settings.get().custom.contains_key(&provider) {
        return Err(UiError("only providers you added can be removed".into()));
    }
    if core.manager.list().iter().any(|c| c.provider == provider) {
        return Err(UiError("disconnect its accounts first".into()));
    }
    core.manager.vault().delete_raw(&crate::settings::secret_entry(&provider)).await?;
    core.settings.update(|s| {
        s.custom.remove(&provider);
        s.clients.remove(&provider);
    })?;
    core.manager.remove_provider(&provider);
    Ok(())
}
