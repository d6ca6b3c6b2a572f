//! The window's commands: each forwards to the core and turns errors into sentences.

use std::sync::Arc;

use serde::Serialize;
use tauri::State;

use super::Core;
use crate::core::manager::Snapshot;
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
pub async fn disconnect(core: Core_<'_>, connection_id: String) -> Result<(), UiError> {
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
