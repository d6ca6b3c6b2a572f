//! One provider described as data, in one type ([`ProviderSpec`]): a row of the catalog, a
//! provider a person added (kept as it is in `settings.json`), and what the generic provider
//! runs on, with the client registration beside it ([`OAuth2Config`]). Plus the hooks a
//! provider may need where data cannot say it.

use std::collections::BTreeMap;

use oauth2::ClientSecret;
pub use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::http::check_url;
use super::provider::RedirectKind;
use super::{AuthError, ProviderId};

/// How the client proves itself at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// `client_id` (and `client_secret`, when there is one) in the form body.
    #[default]
    Body,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// How tokens are revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeStyle {
    /// RFC 7009: a form POST of `token` and `token_type_hint`, the client authenticated.
    #[default]
    Rfc7009,
    /// A POST carrying the token as bearer, with no body (Dropbox).
    BearerPost,
}

/// Whether sign-ins send a PKCE challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    /// S256 (never `plain`).
    #[default]
    S256,
    None,
}

/// How token, refresh and revocation requests are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// A JSON object (Notion).
    Json,
}

/// How the device authorization grant is spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStyle {
    /// RFC 8628: a POST to the device endpoint, then `grant_type=urn:ietf:params:oauth:grant-type:device_code`
    /// with `device_code` at the token endpoint.
    #[default]
    Rfc8628,
    /// Salesforce's older form: the code is asked for at the token endpoint with
    /// `response_type=device_code`, and polled with `grant_type=device` and `code`.
    Salesforce,
}

/// The window's mark for a provider without a logo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icon {
    pub letter: String,
    pub color: String,
}

/// Where a token answer departs from RFC 6749 (Slack).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenAnswer {
    /// JSON pointer to the object holding the person's token, when not the top.
    pub token_at: Option<String>,
    /// A boolean field that is false on failure, with HTTP 200.
    pub ok_field: Option<String>,
    /// A token type that means bearer.
    pub bearer_alias: Option<String>,
}

/// Where the account's nickname comes from: an endpoint called with the access token, and the
/// JSON pointers (RFC 6901) tried in order; the first that names a non-empty string wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nickname {
    pub url: Url,
    #[serde(default = "get")]
    pub method: String,
    /// A JSON body to send (a GraphQL query, say), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub pointers: Vec<String>,
    /// The word before the token in `Authorization`, when not `Bearer` (Twitch: `OAuth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Pointers into the token answer, tried before the endpoint (Notion, Asana).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_token_response: Vec<String>,
    /// Pointers to the account's stable id in the same document (`sub`, a user id), which tells
    /// a reconnect of the same account from another account with the same display name.
    #[serde(default = "account_id_pointers")]
    pub id_pointers: Vec<String>,
}

fn account_id_pointers() -> Vec<String> {
    ["/sub", "/id", "/user_id", "/account_id"].map(String::from).to_vec()
}

impl Nickname {
    /// Read with a GET at `url`, from the first of `pointers` that names something.
    pub fn get(url: Url, pointers: &[&str]) -> Self {
        Self {
            url,
            method: get(),
            body: None,
            pointers: pointers.iter().map(|p| (*p).to_owned()).collect(),
            auth_scheme: None,
            headers: BTreeMap::new(),
            in_token_response: Vec::new(),
            id_pointers: account_id_pointers(),
        }
    }
}

fn get() -> String {
    "GET".into()
}

fn space() -> String {
    " ".into()
}

fn private_use() -> Vec<RedirectKind> {
    vec![RedirectKind::PrivateUse]
}

fn is_false(b: &bool) -> bool {
    !b
}

/// Everything about one provider that is not the person's: endpoints, scopes, PKCE, client
/// authentication, redirects, where the nickname lives, and how its token endpoint departs from
/// RFC 6749. Only the id, the name, two endpoints and the nickname source are required; every
/// other field has the value RFC 6749 and RFC 8252 would give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub id: ProviderId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Icon>,
    pub authorize_url: Url,
    pub token_url: Url,
    /// A separate refresh endpoint (Figma); `None` refreshes at `token_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<Url>,
    /// RFC 8628 device authorization endpoint; `None` when the provider has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_url: Option<Url>,
    #[serde(default, skip_serializing_if = "is_default_device_style")]
    pub device_style: DeviceStyle,
    /// A client registered for the device grant alone (Google's "TVs and Limited Input
    /// devices" type): it signs in with a code and never through a browser redirect.
    #[serde(default, skip_serializing_if = "is_false")]
    pub code_only: bool,
    /// RFC 7009 revocation endpoint; `None` when the provider has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_url: Option<Url>,
    #[serde(default)]
    pub revoke_style: RevokeStyle,
    /// Whether the access token is revoked too, after the refresh token (Asana refuses access
    /// tokens at its revocation endpoint).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub revoke_access_token: bool,
    /// Whether a new sign-in of an account makes a grant separate from the one it replaces, so
    /// that the replaced one can be revoked without ending the new (true for OpenID Connect
    /// servers such as Keycloak; not for Google, where revoking any token ends the client's
    /// whole grant for that account).
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoke_replaced_grant: bool,
    /// The provider's page where a person removes an app's access to their account, for when
    /// a disconnect could not end the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_page: Option<Url>,
    /// The provider's page where a developer registers an app (a client), for the set-up steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Url>,
    /// The provider's documentation of its OAuth sign-in, linked from the set-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<Url>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How scopes are joined in the authorization URL (" " by the RFC, "," for some).
    #[serde(default = "space")]
    pub scope_separator: String,
    /// The authorization parameter scopes go in, when not `scope` (Slack: `user_scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_param: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    #[serde(default)]
    pub pkce: Pkce,
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// A public client sends HTTP Basic with an empty secret (Reddit's installed apps).
    #[serde(default, skip_serializing_if = "is_false")]
    pub basic_without_secret: bool,
    #[serde(default)]
    pub token_body: Body,
    #[serde(default)]
    pub token_answer: TokenAnswer,
    /// The redirect kinds the provider accepts, the one to use first.
    #[serde(default = "private_use")]
    pub redirect: Vec<RedirectKind>,
    /// The form of each redirect kind the provider takes (authority form, `localhost`).
    #[serde(default, skip_serializing_if = "is_default_shape")]
    pub redirect_shape: crate::redirect::RedirectShape,
    /// Whether the provider insists on a client secret even with PKCE.
    #[serde(default, skip_serializing_if = "is_false")]
    pub needs_secret: bool,
    pub nickname: Nickname,
    /// The issuer identifier that must match the callback's `iss` (RFC 9207), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Whether a callback without `iss` is refused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub requires_iss: bool,
    /// The user name git sends with this provider's tokens over HTTPS, when it is not the
    /// account's nickname (GitLab: `oauth2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_username: Option<String>,
    /// The code hooks this provider needs, by name (see `catalog::OVERRIDES`).
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub code_override: Option<String>,
    /// Where the facts were checked, and how sure they are.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checked: String,
}

impl ProviderSpec {
    /// A provider with these endpoints and every other field as RFC 6749 gives it: PKCE S256,
    /// client id in the body, space-separated scopes, the private-use redirect.
    pub fn new(
        id: ProviderId,
        name: impl Into<String>,
        authorize_url: Url,
        token_url: Url,
        nickname: Nickname,
    ) -> Self {
        Self {
            id,
            name: name.into(),
            icon: None,
            authorize_url,
            token_url,
            refresh_url: None,
            revoke_url: None,
            device_url: None,
            device_style: DeviceStyle::default(),
            code_only: false,
            revoke_style: RevokeStyle::default(),
            revoke_access_token: true,
            revoke_replaced_grant: false,
            redirect_shape: crate::redirect::RedirectShape::default(),
            access_page: None,
            console: None,
            docs: None,
            scopes: Vec::new(),
            scope_separator: space(),
            scope_param: None,
            auth_params: BTreeMap::new(),
            token_params: BTreeMap::new(),
            pkce: Pkce::default(),
            client_auth: ClientAuth::default(),
            basic_without_secret: false,
            token_body: Body::default(),
            token_answer: TokenAnswer::default(),
            redirect: private_use(),
            needs_secret: false,
            nickname,
            issuer: None,
            requires_iss: false,
            git_username: None,
            code_override: None,
            checked: String::new(),
        }
    }

    /// The environment variables that hold this provider's client id and secret.
    pub fn env_names(&self) -> (String, String) {
        let base = self.id.as_str().to_ascii_uppercase().replace('-', "_");
        (format!("{base}_CLIENT_ID"), format!("{base}_CLIENT_SECRET"))
    }

    /// Every URL the description names.
    pub fn urls(&self) -> Vec<&Url> {
        let mut urls = vec![&self.authorize_url, &self.token_url, &self.nickname.url];
        urls.extend(self.refresh_url.iter());
        urls.extend(self.revoke_url.iter());
        urls.extend(self.device_url.iter());
        urls
    }

    /// The pages a person is sent to (access, app registration, documentation): https only.
    pub fn pages(&self) -> Vec<&Url> {
        self.access_page.iter().chain(self.console.iter()).chain(self.docs.iter()).collect()
    }

    /// The redirect kind in use: the first the provider accepts.
    pub fn redirect_kind(&self) -> RedirectKind {
        self.redirect.first().copied().unwrap_or_default()
    }

    /// Puts `kind` first, when the provider accepts it.
    pub fn choose_redirect(&mut self, kind: RedirectKind) {
        if let Some(at) = self.redirect.iter().position(|k| *k == kind) {
            let chosen = self.redirect.remove(at);
            self.redirect.insert(0, chosen);
        }
    }

    /// What the generic provider runs on, with this client registration. A provider that needs
    /// a secret is not configured without one.
    pub fn config(&self, client_id: Option<String>, client_secret: Option<String>) -> OAuth2Config {
        let (id_var, secret_var) = self.env_names();
        let missing_secret = self.needs_secret && client_secret.is_none();
        let setup_hint =
            if self.needs_secret { format!("set {id_var} and {secret_var}") } else { format!("set {id_var}") };
        OAuth2Config {
            spec: self.clone(),
            client_id: client_id.filter(|_| !missing_secret),
            client_secret: client_secret
                .or_else(|| (self.client_auth == ClientAuth::Basic && self.basic_without_secret).then(String::new))
                .map(ClientSecret::new),
            setup_hint,
        }
    }
}

/// A provider's description with the client registration it is used with.
#[derive(Clone, Debug)]
pub struct OAuth2Config {
    pub spec: ProviderSpec,
    /// `None` means not configured: see `setup_hint`.
    pub client_id: Option<String>,
    /// Not really secret in a desktop app (checklist line 15); never logged all the same.
    pub client_secret: Option<ClientSecret>,
    /// What to do when `client_id` is missing ("set LINEAR_CLIENT_ID").
    pub setup_hint: String,
}

impl OAuth2Config {
    /// Checks what can be checked before any request: every provider URL is https (or
    /// loopback http, for tests and the Demo provider), and the nickname request is well formed.
    pub fn validate(&self) -> Result<(), AuthError> {
        self.spec.urls().into_iter().try_for_each(check_url)?;
        self.nickname_method()?;
        self.nickname_body()?;
        Ok(())
    }

    pub fn nickname_method(&self) -> Result<Method, AuthError> {
        Method::from_bytes(self.spec.nickname.method.as_bytes())
            .map_err(|_| AuthError::InvalidConfig(format!("{}: bad nickname method", self.spec.id)))
    }

    pub fn nickname_body(&self) -> Result<Option<serde_json::Value>, AuthError> {
        self.spec
            .nickname
            .body
            .as_deref()
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|e| AuthError::InvalidConfig(format!("{}: nickname body: {e}", self.spec.id)))
            })
            .transpose()
    }
}

/// What a provider needs beyond data, as hooks with default methods (Linear's GraphQL errors).
pub trait ProviderHooks: Send + Sync {
    /// Reads the account details document for a failure the provider reports with HTTP 200.
    fn check_account_document(&self, _doc: &serde_json::Value) -> Result<(), AuthError> {
        Ok(())
    }

    /// What to say when the account details name nobody.
    fn no_account_name(&self) -> &'static str {
        "the account details carry no name"
    }
}

/// The hooks of a provider that data describes fully.
pub(crate) struct NoHooks;
impl ProviderHooks for NoHooks {}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_default_device_style(style: &DeviceStyle) -> bool {
    *style == DeviceStyle::default()
}

fn is_default_shape(shape: &crate::redirect::RedirectShape) -> bool {
    *shape == crate::redirect::RedirectShape::default()
}
