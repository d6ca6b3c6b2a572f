//! The person's settings, in `settings.json` in the app's config directory: whether the Demo
//! provider shows, and the client registrations typed in the window. A client secret is never
//! in this file: it goes to the keychain (entry `client-secret.<provider>`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::description::{Nickname, Pkce, ProviderSpec};
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
    /// Providers the person added (by issuer URL or by endpoints), as described then.
    #[serde(deserialize_with = "added_providers")]
    pub custom: BTreeMap<ProviderId, ProviderSpec>,
    /// Scopes the person chose, replacing a provider's own.
    pub scopes: BTreeMap<ProviderId, Vec<String>>,
    /// The redirect kind the person chose among those a provider accepts.
    pub redirects: BTreeMap<ProviderId, RedirectKind>,
    /// Start Latchkey (without its window) when the person logs in. `None` until the person
    /// chooses: then it is on once an account is connected (see [`Settings::starts_at_login`]).
    pub start_at_login: Option<bool>,
    /// Whether the person has been told, at the first close of the window, that Latchkey goes
    /// on in the background.
    pub background_notice_seen: bool,
}

impl Settings {
    /// Whether Latchkey should start at login, given whether any account is connected.
    pub fn starts_at_login(&self, any_connection: bool) -> bool {
        self.start_at_login.unwrap_or(any_connection)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            demo_provider: true,
            clients: BTreeMap::new(),
            custom: BTreeMap::new(),
            scopes: BTreeMap::new(),
            redirects: BTreeMap::new(),
            start_at_login: None,
            background_notice_seen: false,
        }
    }
}

/// A provider added before its description was a [`ProviderSpec`] (settings files written
/// before 2026-11-29): read as it was, and saved in the new form at the next change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EarlierAdded {
    name: String,
    issuer: String,
    authorize_url: url::Url,
    token_url: url::Url,
    #[serde(default)]
    revoke_url: Option<url::Url>,
    userinfo_url: url::Url,
    scopes: Vec<String>,
    pkce: bool,
    requires_iss: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // read once when the settings are read, then converted
enum Added {
    Now(ProviderSpec),
    Earlier(EarlierAdded),
}

fn added_providers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<ProviderId, ProviderSpec>, D::Error> {
    let read: BTreeMap<ProviderId, Added> = BTreeMap::deserialize(d)?;
    Ok(read
        .into_iter()
        .map(|(id, added)| {
            let spec = match added {
                Added::Now(spec) => spec,
                Added::Earlier(e) => {
                    let nickname = Nickname::get(e.userinfo_url, &["/email", "/preferred_username", "/name", "/sub"]);
                    let mut spec = ProviderSpec::new(id.clone(), e.name, e.authorize_url, e.token_url, nickname);
                    spec.revoke_url = e.revoke_url;
                    spec.scopes = e.scopes;
                    spec.pkce = if e.pkce { Pkce::S256 } else { Pkce::None };
                    spec.issuer = Some(e.issuer).filter(|i| !i.is_empty());
                    spec.requires_iss = e.requires_iss;
                    spec.revoke_replaced_grant = true;
                    spec.redirect = vec![RedirectKind::Loopback];
                    spec
                }
            };
            (id, spec)
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_settings_file_is_set_aside_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("latchkey-settings-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("settings.json"), b"{\"demo_provider\": fals").unwrap();
        let store = SettingsStore::open(&dir);
        assert!(store.get().demo_provider, "the defaults are used");
        let aside: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().starts_with("settings.json.unreadable-"))
            .collect();
        assert_eq!(aside.len(), 1, "the unreadable file is kept beside");
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), b"{\"demo_provider\": fals");
        store.update(|s| s.demo_provider = false).unwrap();
        assert!(!SettingsStore::open(&dir).get().demo_provider, "the next change is saved");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_provider_added_in_the_earlier_form_reads_as_a_description() {
        let earlier = r#"{"custom": {"company-sso": {
            "name": "Company SSO", "issuer": "https://id.example.com",
            "authorize_url": "https://id.example.com/authorize", "token_url": "https://id.example.com/token",
            "userinfo_url": "https://id.example.com/userinfo", "scopes": ["openid", "email"],
            "pkce": true, "requires_iss": true }}}"#;
        let settings: Settings = serde_json::from_str(earlier).unwrap();
        let spec = &settings.custom[&ProviderId::new("company-sso").unwrap()];
        assert_eq!(spec.name, "Company SSO");
        assert_eq!(spec.pkce, Pkce::S256);
        assert_eq!(spec.issuer.as_deref(), Some("https://id.example.com"));
        assert_eq!(spec.nickname.url.as_str(), "https://id.example.com/userinfo");
        assert_eq!(spec.redirect, vec![RedirectKind::Loopback]);
        // Saved again, it is the description itself, and reads back the same.
        let again: Settings = serde_json::from_str(&serde_json::to_string(&settings).unwrap()).unwrap();
        assert_eq!(&again.custom[&spec.id], spec);
    }
}
