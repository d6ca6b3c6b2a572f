//! The person's settings, in `settings.json` in the app's config directory: whether the Demo
//! provider shows, and the client registrations typed in the window. A client secret is never
//! in this file: it goes to the keychain (entry `client-secret.<provider>`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::files::LockedJson;
use crate::provider::RedirectKind;
use crate::sync::lock;
use crate::{AuthError, ProviderId};

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
            crate::http::check_url(&url)?;
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
    pub fn from_config(config: &crate::oauth2_generic::OAuth2Config) -> Self {
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

    pub fn config(&self, id: &ProviderId) -> crate::oauth2_generic::OAuth2Config {
        use crate::discovery::{added_provider, AddedProvider};
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
        Some(bad) => Err(format!("{:?} is not a scope", crate::error::printable(bad, 40))),
        None => Ok(scopes),
    }
}

/// The keychain entry of a provider's client secret typed in the window.
pub fn secret_entry(provider: &ProviderId) -> String {
    format!("client-secret.{provider}")
}

/// Reads a client registration typed by a person: the id trimmed and required, the secret
/// trimmed and optional (empty means none).
pub fn parse_client(client_id: &str, client_secret: Option<&str>) -> Result<(String, Option<String>), AuthError> {
    let client_id = client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 512 || client_id.chars().any(char::is_control) {
        return Err(AuthError::Invalid("enter the client ID your provider gave you".into()));
    }
    let secret = client_secret.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > 4096) {
        return Err(AuthError::Invalid("that client secret is too long".into()));
    }
    Ok((client_id, secret))
}

/// A provider id for the name a person gave an added provider, that none of `taken` has.
pub fn new_provider_id(name: &str, taken: &[ProviderId]) -> Result<ProviderId, AuthError> {
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(AuthError::Invalid("give the provider a name".into()));
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
    (1..)
        .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
        .find(|candidate| !taken.iter().any(|t| t.as_str() == candidate))
        .and_then(|candidate| ProviderId::new(candidate).ok())
        .ok_or_else(|| AuthError::Invalid("cannot name that provider".into()))
}

pub struct SettingsStore {
    file: LockedJson<Settings>,
    current: Mutex<Settings>,
}

impl SettingsStore {
    /// Reads the settings; a missing file gives the defaults, and an unreadable one is set aside
    /// (`settings.json.unreadable-<time>`, logged) before the defaults are used, so that nothing a
    /// person typed is overwritten unseen.
    pub fn open(dir: &Path) -> Self {
        let file = LockedJson::new(dir.join("settings.json"));
        let current = file.read().unwrap_or_else(|e| {
            warn!(error = %e, "settings unavailable; using the defaults");
            Settings::default()
        });
        Self { file, current: Mutex::new(current) }
    }

    pub fn get(&self) -> Settings {
        lock(&self.current).clone()
    }

    /// Changes and saves the settings, as the file has them now (a `latchkey` command may have
    /// changed them); on a write failure nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, AuthError> {
        let mut current = lock(&self.current);
        let (next, ()) =
            self.file.update(change).map_err(|e| AuthError::Storage(format!("cannot save the settings: {e}")))?;
        *current = next.clone();
        Ok(next)
    }
}
