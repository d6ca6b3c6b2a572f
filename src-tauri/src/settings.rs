//! The person's settings, in `settings.json` in the app's config directory: whether the Demo
//! provider shows, and the client registrations typed in the window. A client secret is never
//! in this file: it goes to the keychain (entry `client-secret.<provider>`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::core::catalog;
use crate::core::http::HttpClient;
use crate::core::metadata::write_atomically;
use crate::core::provider::RedirectKind;
use crate::core::providers::env_var;
use crate::core::vault::Vault;
use crate::core::{AuthError, AuthProvider, ProviderId};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Whether the built-in Demo provider is listed (`LATCHKEY_DEMO=0` also turns it off).
    pub demo_provider: bool,
    /// Client registrations typed in the window, by provider (secrets are in the keychain).
    pub clients: BTreeMap<ProviderId, ClientSettings>,
    /// Providers the person added by their issuer URL, as discovered.
    pub custom: BTreeMap<ProviderId, CustomProvider>,
    /// Scopes the person chose, replacing a provider's own.
    pub scopes: BTreeMap<ProviderId, Vec<String>>,
    /// The redirect kind the person chose among those a provider accepts.
    pub redirects: BTreeMap<ProviderId, RedirectKind>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            demo_provider: true,
            clients: BTreeMap::new(),
            custom: BTreeMap::new(),
            scopes: BTreeMap::new(),
            redirects: BTreeMap::new(),
        }
    }
}

/// A provider added by its issuer: what discovery found, kept so that it works offline.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomProvider {
    pub name: String,
    /// The issuer identifier exactly as its metadata states it (compared with `iss`).
    pub issuer: String,
    pub authorize_url: url::Url,
    pub token_url: url::Url,
    #[serde(default)]
    pub revoke_url: Option<url::Url>,
    pub userinfo_url: url::Url,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub requires_iss: bool,
}

impl CustomProvider {
    /// A plain OAuth 2 provider given by its endpoints. Every URL must be https; the nickname
    /// comes from `userinfo_url` (email, preferred_username, name or sub). PKCE S256 is sent.
    pub fn from_endpoints(
        name: &str,
        authorize_url: &str,
        token_url: &str,
        userinfo_url: &str,
        revoke_url: Option<&str>,
        scopes: &str,
    ) -> Result<Self, AuthError> {
        let parse = |what: &str, text: &str| {
            let url = url::Url::parse(text.trim())
                .map_err(|_| AuthError::InvalidConfig(format!("the {what} URL is not a URL")))?;
            crate::core::http::check_url(&url)?;
            Ok::<_, AuthError>(url)
        };
        Ok(Self {
            name: name.trim().to_owned(),
            issuer: String::new(),
            authorize_url: parse("authorization", authorize_url)?,
            token_url: parse("token", token_url)?,
            revoke_url: revoke_url.filter(|u| !u.trim().is_empty()).map(|u| parse("revocation", u)).transpose()?,
            userinfo_url: parse("account details", userinfo_url)?,
            scopes: scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            pkce: true,
            requires_iss: false,
        })
    }

    /// What discovery found, to keep.
    pub fn from_config(config: &crate::core::oauth2_generic::OAuth2Config) -> Self {
        Self {
            name: config.display_name.clone(),
            issuer: config.issuer.clone().unwrap_or_default(),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            revoke_url: config.revoke_url.clone(),
            userinfo_url: config.nickname.url.clone(),
            scopes: config.scopes.clone(),
            pkce: config.pkce,
            requires_iss: config.requires_iss,
        }
    }

    pub fn config(&self, id: &ProviderId) -> crate::core::oauth2_generic::OAuth2Config {
        use crate::core::discovery::{added_provider, AddedProvider};
        added_provider(AddedProvider {
            id: id.clone(),
            name: self.name.clone(),
            authorize_url: self.authorize_url.clone(),
            token_url: self.token_url.clone(),
            revoke_url: self.revoke_url.clone(),
            userinfo_url: self.userinfo_url.clone(),
            scopes: self.scopes.clone(),
            pkce: self.pkce,
            issuer: Some(self.issuer.clone()).filter(|i| !i.is_empty()),
            requires_iss: self.requires_iss,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub client_id: String,
    /// Replaces the catalog's scopes when set (older settings files; [`Settings::scopes`] wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Reads scopes typed by a person: separated by spaces or commas, each printable and short.
/// An empty list means "the provider's own".
pub fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = text.split([' ', ',', '\n', '\t']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if scopes.len() > 100 {
        return Err("that is more than 100 scopes".into());
    }
    match scopes.iter().find(|s| s.len() > 200 || s.chars().any(|c| c.is_control() || c == '"' || c == '\\')) {
        Some(bad) => Err(format!("{:?} is not a scope", crate::core::error::printable(bad, 40))),
        None => Ok(scopes),
    }
}

/// The keychain entry of a provider's client secret typed in the window.
pub fn secret_entry(provider: &ProviderId) -> String {
    format!("client-secret.{provider}")
}

/// The catalog's providers, with client registrations from the environment first
/// (`<ID>_CLIENT_ID`, `<ID>_CLIENT_SECRET`) and from the settings (and keychain) otherwise.
pub async fn build_providers(
    http: &HttpClient,
    settings: &Settings,
    vault: &Vault,
) -> Result<Vec<Arc<dyn AuthProvider>>, AuthError> {
    let mut out = Vec::new();
    for entry in catalog::parse(catalog::BUILTIN)? {
        let (id_var, secret_var) = entry.env_names();
        let typed = settings.clients.get(&entry.id);
        let client_id = env_var(&id_var).or_else(|| typed.map(|c| c.client_id.clone()));
        let client_secret = match env_var(&secret_var) {
            Some(secret) => Some(secret),
            None if typed.is_some() => {
                vault.load_raw(&secret_entry(&entry.id)).await?.and_then(|bytes| String::from_utf8(bytes).ok())
            }
            None => None,
        };
        let mut config = entry.config(client_id, client_secret)?;
        if let Some(scopes) = settings.scopes.get(&entry.id).cloned().or_else(|| typed.and_then(|c| c.scopes.clone())) {
            config.scopes = scopes;
        }
        if let Some(&kind) = settings.redirects.get(&entry.id) {
            if kind != config.redirect && config.redirect_alternatives.contains(&kind) {
                config.redirect_alternatives.retain(|k| *k != kind);
                config.redirect_alternatives.insert(0, config.redirect);
                config.redirect = kind;
            }
        }
        out.push(catalog::provider_for(&entry, config, http)?);
    }
    for (id, custom) in &settings.custom {
        let mut config = custom.config(id);
        if let Some(scopes) = settings.scopes.get(id) {
            config.scopes = scopes.clone();
        }
        if let Some(typed) = settings.clients.get(id) {
            config.client_id = Some(typed.client_id.clone());
            config.client_secret = vault
                .load_raw(&secret_entry(id))
                .await?
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map(oauth2::ClientSecret::new);
        }
        match crate::core::oauth2_generic::GenericOAuth2Provider::new(config, http.clone()) {
            Ok(provider) => out.push(Arc::new(provider)),
            Err(e) => warn!(provider = %id, error = %e, "an added provider is unusable"),
        }
    }
    Ok(out)
}

pub struct SettingsStore {
    path: PathBuf,
    current: Mutex<Settings>,
}

impl SettingsStore {
    /// Reads the settings; a missing or unreadable file gives the defaults (and is logged).
    pub fn open(dir: &Path) -> Self {
        let path = dir.join("settings.json");
        let current = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(error = %e, path = %path.display(), "settings unreadable; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        Self { path, current: Mutex::new(current) }
    }

    pub fn get(&self) -> Settings {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes and saves the settings; on a write failure nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, String> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = current.clone();
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot save the settings: {e}"))?;
        }
        write_atomically(&self.path, &bytes).map_err(|e| format!("cannot save the settings: {e}"))?;
        *current = next.clone();
        Ok(next)
    }
}
