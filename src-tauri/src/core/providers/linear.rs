//! Linear: the contract's worked example done right (encoded parameters, PKCE, refresh,
//! revocation), with the nickname from GraphQL `viewer { name email }`.

use async_trait::async_trait;
use oauth2::{AccessToken, ClientSecret, PkceCodeChallenge, PkceCodeVerifier, RefreshToken};
use reqwest::Method;
use url::Url;

use crate::core::error::printable;
use crate::core::http::HttpClient;
use crate::core::oauth2_generic::{ClientAuth, GenericOAuth2Provider, NicknameSource, OAuth2Config};
use crate::core::provider::RedirectKind;
use crate::core::{AuthError, AuthProvider, ProviderId, RawBody, TokenResponse};

pub const CLIENT_ID_VAR: &str = "LINEAR_CLIENT_ID";
pub const CLIENT_SECRET_VAR: &str = "LINEAR_CLIENT_SECRET";

fn url(s: &str) -> Url {
    Url::parse(s).expect("a constant URL")
}

/// Linear's description. The secret is optional: with PKCE Latchkey works as a public client
/// where the provider allows it (checklist line 15).
pub fn config(client_id: Option<String>, client_secret: Option<String>) -> OAuth2Config {
    OAuth2Config {
        name: ProviderId::new("linear").expect("a constant name"),
        display_name: "Linear".into(),
        authorize_url: url("https://linear.app/oauth/authorize"),
        token_url: url("https://api.linear.app/oauth/token"),
        refresh_url: None,
        revoke_url: Some(url("https://api.linear.app/oauth/revoke")),
        scopes: vec!["read".into(), "write".into()],
        scope_separator: ",".into(),
        extra_auth_params: vec![],
        extra_token_params: vec![],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
        client_id,
        client_secret: client_secret.map(ClientSecret::new),
        nickname: NicknameSource {
            url: url("https://api.linear.app/graphql"),
            method: Method::POST,
            body: Some(serde_json::json!({ "query": "{ viewer { name email } }" })),
            pointers: vec!["/data/viewer/email".into(), "/data/viewer/name".into()],
        },
        issuer: None,
        requires_iss: false,
        redirect: RedirectKind::PrivateUse,
        setup_hint: format!("set {CLIENT_ID_VAR} (and {CLIENT_SECRET_VAR} if your Linear app has one)"),
    }
}

/// Linear with its client registration from `LINEAR_CLIENT_ID` / `LINEAR_CLIENT_SECRET`.
pub fn from_env(http: HttpClient) -> Result<LinearProvider, AuthError> {
    let config = config(super::env_var(CLIENT_ID_VAR), super::env_var(CLIENT_SECRET_VAR));
    LinearProvider::new(config, http)
}

pub struct LinearProvider {
    inner: GenericOAuth2Provider,
}

impl LinearProvider {
    pub fn new(config: OAuth2Config, http: HttpClient) -> Result<Self, AuthError> {
        Ok(Self { inner: GenericOAuth2Provider::new(config, http)? })
    }
}

#[async_trait]
impl AuthProvider for LinearProvider {
    fn name(&self) -> &ProviderId {
        self.inner.name()
    }
    fn display_name(&self) -> &str {
        self.inner.display_name()
    }
    fn check_configured(&self) -> Result<(), AuthError> {
        self.inner.check_configured()
    }
    fn uses_pkce(&self) -> bool {
        self.inner.uses_pkce()
    }
    fn redirect_kind(&self) -> RedirectKind {
        self.inner.redirect_kind()
    }
    fn get_url(&self, redirect_uri: &str, state: &str, pkce: Option<&PkceCodeChallenge>) -> Result<Url, AuthError> {
        self.inner.get_url(redirect_uri, state, pkce)
    }
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<PkceCodeVerifier>,
    ) -> Result<TokenResponse, AuthError> {
        self.inner.exchange(code, redirect_uri, pkce_verifier).await
    }
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenResponse, AuthError> {
        self.inner.refresh(refresh_token).await
    }

    /// GraphQL answers 200 even when it fails, with an `errors` list: read that first.
    async fn get_nickname(&self, access_token: &AccessToken) -> Result<String, AuthError> {
        let doc = self.inner.fetch_nickname_document(access_token).await?;
        if let Some(message) = doc.pointer("/errors/0/message").and_then(|m| m.as_str()) {
            return Err(AuthError::ProviderRefused {
                error: "graphql_error".into(),
                description: Some(printable(message, 200)),
            });
        }
        self.inner.nickname_from_json(&doc).ok_or_else(|| AuthError::BadResponse {
            what: "Linear's viewer has neither an email nor a name".into(),
            status: None,
            body: RawBody::new(doc.to_string()),
        })
    }

    async fn revoke(&self, access_token: &AccessToken) -> Result<bool, AuthError> {
        self.inner.revoke(access_token).await
    }
}
