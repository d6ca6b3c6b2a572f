//! The provider catalog: `catalog/providers.toml`, each provider a [`ProviderSpec`] (unknown
//! fields are refused), turned into providers together with the ones a person added, with code
//! only where data cannot say it (the hooks named in the file).

use std::sync::Arc;

use serde::Deserialize;
use tracing::warn;

use super::description::{OAuth2Config, ProviderSpec};
use super::http::{check_url, HttpClient};
use super::oauth2_generic::GenericOAuth2Provider;
use super::providers::{env_var, linear};
use super::settings::{self, Settings};
use super::vault::Vault;
use super::{AuthError, AuthProvider};

/// The catalog shipped with Latchkey.
pub const BUILTIN: &str = include_str!("../catalog/providers.toml");

/// Names of the code hooks a catalog entry may ask for (`override = "…"`).
pub const OVERRIDES: &[&str] = &["linear"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    provider: Vec<ProviderSpec>,
}

/// Parses and checks a catalog: unique ids, https everywhere, a mark for the window, at least
/// one redirect kind (or a device endpoint, for a client that signs in with a code only), hooks that exist, a nickname request that can be made.
pub fn parse(text: &str) -> Result<Vec<ProviderSpec>, AuthError> {
    let catalog: Catalog = toml::from_str(text).map_err(|e| AuthError::InvalidConfig(format!("catalog: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    for entry in &catalog.provider {
        let refuse = |why: String| Err(AuthError::InvalidConfig(format!("catalog: {}: {why}", entry.id)));
        if !seen.insert(entry.id.clone()) {
            return refuse("appears twice".into());
        }
        for url in entry.urls() {
            if url.scheme() != "https" {
                return refuse(format!("{url} is not https"));
            }
            check_url(url)?;
        }
        if let Some(page) = entry.pages().into_iter().find(|u| u.scheme() != "https") {
            return refuse(format!("{page} is not https"));
        }
        if entry.console.is_none() || entry.docs.is_none() {
            return refuse("names no app registration page or documentation for its set-up".into());
        }
        if entry.redirect.is_empty() && !entry.code_only {
            return refuse("accepts no redirect".into());
        }
        if entry.code_only && entry.device_url.is_none() {
            return refuse("signs in with a code only but names no device endpoint".into());
        }
        if entry.icon.is_none() {
            return refuse("has no icon".into());
        }
        if let Some(name) = &entry.code_override {
            if !OVERRIDES.contains(&name.as_str()) {
                return refuse(format!("no override named {name}"));
            }
        }
        entry.config(Some("check".into()), Some("check".into())).validate()?;
    }
    Ok(catalog.provider)
}

/// The catalog's marks (letter and colour) by provider id, the Demo's included, for the window.
pub fn marks() -> std::collections::BTreeMap<String, (String, String)> {
    let mut marks: std::collections::BTreeMap<String, (String, String)> = parse(BUILTIN)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.id.to_string(), (e.icon.as_ref()?.letter.clone(), e.icon?.color))))
        .collect();
    marks.insert(super::demo::NAME.into(), ("D".into(), "#0f766e".into()));
    marks
}

/// The built-in providers, with client credentials from `lookup` (the environment, in the app).
pub fn providers(
    http: &HttpClient,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Arc<dyn AuthProvider>>, AuthError> {
    parse(BUILTIN)?
        .iter()
        .map(|entry| {
            let (id_var, secret_var) = entry.env_names();
            provider_for(entry.config(lookup(&id_var), lookup(&secret_var)), http)
        })
        .collect()
}

/// The provider of one description, with the code hooks it names.
pub fn provider_for(config: OAuth2Config, http: &HttpClient) -> Result<Arc<dyn AuthProvider>, AuthError> {
    Ok(match config.spec.code_override.as_deref() {
        Some("linear") => Arc::new(linear::provider(config, http.clone())?),
        _ => Arc::new(GenericOAuth2Provider::new(config, http.clone())?),
    })
}

/// The catalog's providers and those the person added, with client registrations from the
/// environment first (`<ID>_CLIENT_ID`, `<ID>_CLIENT_SECRET`) and from the settings (and the
/// keychain) otherwise, and the scopes and redirect kind the person chose.
pub async fn build(
    http: &HttpClient,
    settings: &Settings,
    vault: &Vault,
) -> Result<Vec<Arc<dyn AuthProvider>>, AuthError> {
    let mut out = Vec::new();
    let added = settings.custom.values().map(|spec| (spec, true));
    for (spec, is_added) in parse(BUILTIN)?.iter().map(|spec| (spec, false)).chain(added) {
        let (id_var, secret_var) = spec.env_names();
        let typed = settings.clients.get(&spec.id);
        // The environment names a catalog provider's registration; an added one has only its own.
        let from_env = |name: &str| if is_added { None } else { env_var(name) };
        let client_id = from_env(&id_var).or_else(|| typed.map(|c| c.client_id.clone()));
        let client_secret = match from_env(&secret_var) {
            Some(secret) => Some(secret),
            None if typed.is_some() => {
                vault.load_raw(&settings::secret_entry(&spec.id)).await?.and_then(|bytes| String::from_utf8(bytes).ok())
            }
            None => None,
        };
        let mut config = spec.config(client_id, client_secret);
        if is_added {
            config.setup_hint = "enter its client ID".into();
        }
        if let Some(scopes) = settings.scopes.get(&spec.id).cloned().or_else(|| typed.and_then(|c| c.scopes.clone())) {
            config.spec.scopes = scopes;
        }
        if let Some(&kind) = settings.redirects.get(&spec.id) {
            config.spec.choose_redirect(kind);
        }
        match provider_for(config, http) {
            Ok(provider) => out.push(provider),
            Err(e) if is_added => warn!(provider = %spec.id, error = %e, "an added provider is unusable"),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
