//! Linear: the contract's worked example done right (encoded parameters, PKCE, refresh,
//! revocation: all data, in the catalog), plus what data cannot say: GraphQL answers 200 with
//! an `errors` list when it fails, which this override reads before the nickname.

use async_trait::async_trait;
use oauth2::{AccessToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken};
use url::Url;

use crate::core::error::printable;
use crate::core::http::HttpClient;
use crate::core::oauth2_generic::{GenericOAuth2Provider, OAuth2Config};
use crate::core::provider::RedirectKind;
use crate::core::{AuthError, AuthProvider, ProviderId, RawBody, TokenResponse};

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
    fn scopes(&self) -> Vec<String> {
        self.inner.scopes()
    }
    fn redirect_kind(&self) -> RedirectKind {
        self.inner.redirect_kind()
    }
    fn redirect_choices(&self) -> Vec<RedirectKind> {
        self.inner.redirect_choices()
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
