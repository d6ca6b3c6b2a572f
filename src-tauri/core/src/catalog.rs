//! The provider catalog: `catalog/providers.toml`, each provider as data (unknown fields are
//! refused), turned into generic OAuth2 providers, with code only where data cannot say it
//! (the overrides named in the file).

use std::collections::BTreeMap;
use std::sync::Arc;

use oauth2::ClientSecret;
use serde::Deserialize;
use tracing::warn;
use url::Url;

use super::http::{check_url, HttpClient};
use super::oauth2_generic::{ClientAuth, GenericOAuth2Provider, Method, NicknameSource, OAuth2Config, RevokeStyle};
use super::provider::RedirectKind;
use super::providers::env_var;
use super::providers::linear;
use super::quirks::Quirks;
use super::settings::{self, Settings};
use super::vault::Vault;
use super::{AuthError, AuthProvider, ProviderId};

/// The catalog shipped with Latchkey.
pub const BUILTIN: &str = include_str!("../catalog/providers.toml");

/// Names of the code overrides a catalog entry may ask for.
pub const OVERRIDES: &[&str] = &["linear"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub provider: Vec<Entry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icon {
    pub letter: String,
    pub color: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Redirect {
    PrivateUse,
    Loopback,
}

impl Redirect {
    pub fn kind(self) -> RedirectKind {
        match self {
            Redirect::PrivateUse => RedirectKind::PrivateUse,
            Redirect::Loopback => RedirectKind::Loopback,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    S256,
    None,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Body,
    Basic,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Revoke {
    /// RFC 7009: a form POST of `token` and `token_type_hint`.
    #[default]
    Rfc7009,
    /// A POST with the token as bearer and no body (Dropbox).
    BearerPost,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nickname {
    pub url: Url,
    pub method: String,
    /// A JSON body, as text.
    #[serde(default)]
    pub body: Option<String>,
    pub pointers: Vec<String>,
    /// The word before the token in `Authorization`, when not `Bearer` (Twitch: `OAuth`).
    #[serde(default)]
    pub auth_scheme: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Pointers into the token answer, tried before the endpoint (Notion, Asana).
    #[serde(default)]
    pub in_token_response: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// A JSON object (Notion).
    Json,
}

/// Where a token answer departs from RFC 6749 (Slack).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAnswer {
    /// JSON pointer to the object holding the person's token, when not the top.
    #[serde(default)]
    pub token_at: Option<String>,
    /// A boolean field that is false on failure, with HTTP 200.
    #[serde(default)]
    pub ok_field: Option<String>,
    /// A token type that means bearer.
    #[serde(default)]
    pub bearer_alias: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: ProviderId,
    pub name: String,
    pub icon: Icon,
    pub authorize_url: Url,
    pub token_url: Url,
    #[serde(default)]
    pub refresh_url: Option<Url>,
    #[serde(default)]
    pub revoke_url: Option<Url>,
    #[serde(default)]
    pub revoke_style: Revoke,
    pub scopes: Vec<String>,
    pub scope_separator: String,
    /// The authorization parameter scopes go in, when not `scope` (Slack: `user_scope`).
    #[serde(default)]
    pub scope_param: Option<String>,
    #[serde(default)]
    pub auth_params: BTreeMap<String, String>,
    #[serde(default)]
    pub token_params: BTreeMap<String, String>,
    pub pkce: Pkce,
    pub client_auth: Auth,
    /// A public client sends HTTP Basic with an empty secret (Reddit's installed apps).
    #[serde(default)]
    pub basic_without_secret: bool,
    #[serde(default)]
    pub token_body: Body,
    #[serde(default)]
    pub token_answer: TokenAnswer,
    pub redirect: Vec<Redirect>,
    /// Whether the provider insists on a client secret even with PKCE.
    pub needs_secret: bool,
    pub nickname: Nickname,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default, rename = "override")]
    pub code_override: Option<String>,
    /// Where the facts were checked.
    pub checked: String,
}

impl Entry {
    /// The environment variables that hold this provider's client id and secret.
    pub fn env_names(&self) -> (String, String) {
        let base = self.id.as_str().to_ascii_uppercase().replace('-', "_");
        (format!("{base}_CLIENT_ID"), format!("{base}_CLIENT_SECRET"))
    }

    /// Every URL the entry names.
    pub fn urls(&self) -> Vec<&Url> {
        let mut urls = vec![&self.authorize_url, &self.token_url, &self.nickname.url];
        urls.extend(self.refresh_url.iter());
        urls.extend(self.revoke_url.iter());
        urls
    }

    /// The generic provider's description, with these client credentials.
    pub fn config(&self, client_id: Option<String>, client_secret: Option<String>) -> Result<OAuth2Config, AuthError> {
        let (id_var, secret_var) = self.env_names();
        let missing_secret = self.needs_secret && client_secret.is_none();
        let setup_hint =
            if self.needs_secret { format!("set {id_var} and {secret_var}") } else { format!("set {id_var}") };
        let method = Method::from_bytes(self.nickname.method.as_bytes())
            .map_err(|_| AuthError::InvalidConfig(format!("{}: bad nickname method", self.id)))?;
        let body = match &self.nickname.body {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| AuthError::InvalidConfig(format!("{}: nickname body: {e}", self.id)))?,
            ),
            None => None,
        };
        Ok(OAuth2Config {
            name: self.id.clone(),
            display_name: self.name.clone(),
            authorize_url: self.authorize_url.clone(),
            token_url: self.token_url.clone(),
            refresh_url: self.refresh_url.clone(),
            revoke_url: self.revoke_url.clone(),
            revoke_style: match self.revoke_style {
                Revoke::Rfc7009 => RevokeStyle::Rfc7009,
                Revoke::BearerPost => RevokeStyle::BearerPost,
            },
            scopes: self.scopes.clone(),
            scope_separator: self.scope_separator.clone(),
            extra_auth_params: self.auth_params.clone().into_iter().collect(),
            extra_token_params: self.token_params.clone().into_iter().collect(),
            pkce: self.pkce == Pkce::S256,
            client_auth: match self.client_auth {
                Auth::Body => ClientAuth::RequestBody,
                Auth::Basic => ClientAuth::BasicAuth,
            },
            // Without the secret a provider needs, it is not configured yet.
            client_id: client_id.filter(|_| !missing_secret),
            client_secret: client_secret
                .or_else(|| (self.client_auth == Auth::Basic && self.basic_without_secret).then(String::new))
                .map(ClientSecret::new),
            nickname: NicknameSource {
                url: self.nickname.url.clone(),
                method,
                body,
                pointers: self.nickname.pointers.clone(),
            },
            issuer: self.issuer.clone(),
            requires_iss: false,
            redirect: self.redirect.first().map_or(RedirectKind::PrivateUse, |r| r.kind()),
            redirect_alternatives: self.redirect.iter().skip(1).map(|r| r.kind()).collect(),
            setup_hint,
            quirks: Quirks {
                json_body: self.token_body == Body::Json,
                token_at: self.token_answer.token_at.clone(),
                ok_field: self.token_answer.ok_field.clone(),
                bearer_alias: self.token_answer.bearer_alias.clone(),
                nickname_in_token: self.nickname.in_token_response.clone(),
                scope_param: self.scope_param.clone(),
                nickname_auth_scheme: self.nickname.auth_scheme.clone(),
                nickname_headers: self.nickname.headers.clone().into_iter().collect(),
            },
        })
    }
}

/// Parses and checks a catalog: unique ids, https everywhere, at least one redirect kind,
/// overrides that exist.
pub fn parse(text: &str) -> Result<Vec<Entry>, AuthError> {
    let catalog: Catalog = toml::from_str(text).map_err(|e| AuthError::InvalidConfig(format!("catalog: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    for entry in &catalog.provider {
        if !seen.insert(entry.id.clone()) {
            return Err(AuthError::InvalidConfig(format!("catalog: {} appears twice", entry.id)));
        }
        for url in entry.urls() {
            if url.scheme() != "https" {
                return Err(AuthError::InvalidConfig(format!("catalog: {}: {url} is not https", entry.id)));
            }
            check_url(url)?;
        }
        if entry.redirect.is_empty() {
            return Err(AuthError::InvalidConfig(format!("catalog: {} accepts no redirect", entry.id)));
        }
        if let Some(name) = &entry.code_override {
            if !OVERRIDES.contains(&name.as_str()) {
                return Err(AuthError::InvalidConfig(format!("catalog: {}: no override named {name}", entry.id)));
            }
        }
        entry.config(Some("check".into()), Some("check".into()))?;
    }
    Ok(catalog.provider)
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
            let config = entry.config(lookup(&id_var), lookup(&secret_var))?;
            provider_for(entry, config, http)
        })
        .collect()
}

/// The provider of one entry, with its code override if it names one.
pub fn provider_for(
    entry: &Entry,
    config: OAuth2Config,
    http: &HttpClient,
) -> Result<Arc<dyn AuthProvider>, AuthError> {
    Ok(match entry.code_override.as_deref() {
        Some("linear") => Arc::new(linear::provider(config, http.clone())?),
        _ => Arc::new(GenericOAuth2Provider::new(config, http.clone())?),
    })
}

/// The catalog's providers and those the person added, with client registrations from the environment first
/// (`<ID>_CLIENT_ID`, `<ID>_CLIENT_SECRET`) and from the settings (and keychain) otherwise.
pub async fn build(
    http: &HttpClient,
    settings: &Settings,
    vault: &Vault,
) -> Result<Vec<Arc<dyn AuthProvider>>, AuthError> {
    let mut out = Vec::new();
    for entry in parse(BUILTIN)? {
        let (id_var, secret_var) = entry.env_names();
        let typed = settings.clients.get(&entry.id);
        let client_id = env_var(&id_var).or_else(|| typed.map(|c| c.client_id.clone()));
        let client_secret = match env_var(&secret_var) {
            Some(secret) => Some(secret),
            None if typed.is_some() => vault
                .load_raw(&settings::secret_entry(&entry.id))
                .await?
                .and_then(|bytes| String::from_utf8(bytes).ok()),
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
        out.push(provider_for(&entry, config, http)?);
    }
    for (id, custom) in &settings.custom {
        let mut config = custom.config(id);
        if let Some(scopes) = settings.scopes.get(id) {
            config.scopes = scopes.clone();
        }
        if let Some(typed) = settings.clients.get(id) {
            config.client_id = Some(typed.client_id.clone());
            config.client_secret = vault
                .load_raw(&settings::secret_entry(id))
                .await?
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map(oauth2::ClientSecret::new);
        }
        match GenericOAuth2Provider::new(config, http.clone()) {
            Ok(provider) => out.push(Arc::new(provider)),
            Err(e) => warn!(provider = %id, error = %e, "an added provider is unusable"),
        }
    }
    Ok(out)
}
