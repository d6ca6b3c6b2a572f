//! The OAuth 2 authorization-code provider driven by data: endpoints, scopes, PKCE, client
//! authentication and where the nickname lives. Most providers are nothing but an
//! [`OAuth2Config`].

use std::borrow::Cow;

use async_trait::async_trait;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    TokenUrl,
};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use tracing::{debug, warn};
use url::Url;

use super::description::NoHooks;
pub use super::description::{
    ClientAuth, DeviceStyle, Method, Nickname, OAuth2Config, Pkce, ProviderHooks, ProviderSpec, RevokeStyle,
};
use super::http::{authorization, HttpClient};
use super::provider::{RedirectKind, Revocation};
use super::quirks::{Quirks, TokenTransport};
use super::{AuthError, AuthProvider, OAuthErrorCode, ProviderId, TokenResponse};

type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A request's form fields, in order.
type Form<'a> = Vec<(&'a str, &'a str)>;

mod device;

/// An OAuth 2 provider described by an [`OAuth2Config`].
pub struct GenericOAuth2Provider {
    config: OAuth2Config,
    /// Read once from the description.
    quirks: Quirks,
    nickname_method: Method,
    nickname_body: Option<serde_json::Value>,
    http: HttpClient,
    hooks: std::sync::Arc<dyn ProviderHooks>,
}

impl GenericOAuth2Provider {
    pub fn new(config: OAuth2Config, http: HttpClient) -> Result<Self, AuthError> {
        Self::with_hooks(config, http, std::sync::Arc::new(NoHooks))
    }

    pub fn with_hooks(
        config: OAuth2Config,
        http: HttpClient,
        hooks: std::sync::Arc<dyn ProviderHooks>,
    ) -> Result<Self, AuthError> {
        config.validate()?;
        Ok(Self {
            quirks: Quirks::from(&config.spec),
            nickname_method: config.nickname_method()?,
            nickname_body: config.nickname_body()?,
            config,
            http,
            hooks,
        })
    }

    pub fn config(&self) -> &OAuth2Config {
        &self.config
    }

    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    fn client_id(&self) -> Result<&str, AuthError> {
        self.config.client_id.as_deref().filter(|id| !id.trim().is_empty()).ok_or_else(|| AuthError::NotConfigured {
            provider: self.config.spec.name.clone(),
            hint: self.config.setup_hint.clone(),
        })
    }

    fn client(&self, token_url: &Url) -> Result<Client, AuthError> {
        let mut client = oauth2::Client::new(ClientId::new(self.client_id()?.to_owned()))
            .set_auth_uri(AuthUrl::from_url(self.config.spec.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(token_url.clone()))
            .set_auth_type(match self.config.spec.client_auth {
                ClientAuth::Body => AuthType::RequestBody,
                ClientAuth::Basic => AuthType::BasicAuth,
            });
        if let Some(secret) = &self.config.client_secret {
            client = client.set_client_secret(secret.clone());
        }
        Ok(client)
    }

    /// Reads the nickname from a JSON document by the configured pointers.
    pub fn nickname_from_json(&self, doc: &serde_json::Value) -> Option<String> {
        Quirks::pick(doc, &self.config.spec.nickname.pointers)
    }

    /// Calls the nickname endpoint with the token in the `Authorization` header (never in the
    /// URL: checklist line 17) and returns its JSON.
    pub async fn fetch_nickname_document(&self, access_token: &AccessToken) -> Result<serde_json::Value, AuthError> {
        let scheme = self.quirks.nickname_auth_scheme.as_deref().unwrap_or("Bearer");
        let mut request = self
            .http
            .inner()
            .request(self.nickname_method.clone(), self.config.spec.nickname.url.clone())
            .header(AUTHORIZATION, authorization(scheme, access_token.secret())?)
            .header(ACCEPT, "application/json");
        for (name, value) in &self.quirks.nickname_headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &self.nickname_body {
            request = request.json(body);
        }
        let request = request.build().map_err(|e| AuthError::InvalidConfig(format!("nickname request: {e}")))?;
        let response = self.http.execute(request).await?;
        let status = response.status;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AuthError::ProviderRefused {
                error: "invalid_token".into(),
                description: Some("the provider did not accept the new access token".into()),
            });
        }
        if !status.is_success() {
            return Err(AuthError::BadResponse {
                what: format!("the account details request failed with HTTP {}", status.as_u16()),
                status: Some(status.as_u16()),
                body: response.body,
            });
        }
        let doc: serde_json::Value = serde_json::from_slice(response.bytes()).map_err(|_| AuthError::BadResponse {
            what: "the account details are not JSON".into(),
            status: Some(status.as_u16()),
            body: response.body,
        })?;
        if let Some(error) = self.quirks.failure_in(&doc) {
            return Err(AuthError::ProviderRefused {
                error: error.into(),
                description: Some("the provider refused the account details request".into()),
            });
        }
        Ok(doc)
    }

    fn token_error(&self, error: RequestTokenError<AuthError, BasicErrorResponse>) -> AuthError {
        match error {
            RequestTokenError::ServerResponse(response) => {
                let description = response.error_description().cloned();
                match response.error() {
                    BasicErrorResponseType::InvalidGrant => AuthError::NeedsReconnect { description },
                    other => AuthError::ProviderRefused { error: other.as_ref().into(), description },
                }
            }
            RequestTokenError::Request(error) => error,
            RequestTokenError::Parse(error, body) => {
                let body = super::RawBody::new(body);
                // The serde message names the field, not its value, when it is ours.
                let what = match error.inner().to_string() {
                    m if m.contains("access_token") => "the answer has no access token".to_owned(),
                    _ => format!("the answer is not a token response (at {})", error.path()),
                };
                AuthError::BadResponse { what, status: None, body }
            }
            RequestTokenError::Other(message) => {
                AuthError::BadResponse { what: message, status: None, body: Default::default() }
            }
        }
    }

    fn checked(&self, tokens: TokenResponse) -> Result<TokenResponse, AuthError> {
        if tokens.is_bearer() {
            Ok(tokens)
        } else {
            // The type is named only when it looks like one (a provider could put anything there).
            let kind = &tokens.token_type;
            let named = kind.len() <= 20 && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            Err(AuthError::BadResponse {
                what: match named {
                    true => format!("the provider issued a {kind:?} token; Latchkey can only use bearer tokens"),
                    false => {
                        "the provider issued a token of an unknown type; Latchkey can only use bearer tokens".into()
                    }
                },
                status: None,
                body: Default::default(),
            })
        }
    }

    /// A POST to `url` asking for JSON, the client authenticated as at the token endpoint: HTTP
    /// Basic, or `client_id` (and any secret) added to `form`. The caller encodes the form.
    fn client_post<'a>(
        &'a self,
        url: &Url,
        mut form: Form<'a>,
    ) -> Result<(reqwest::RequestBuilder, Form<'a>), AuthError> {
        let client_id = self.client_id()?;
        let mut request = self.http.inner().post(url.clone()).header(ACCEPT, "application/json");
        match (self.config.spec.client_auth, &self.config.client_secret) {
            (ClientAuth::Basic, Some(secret)) => request = request.basic_auth(client_id, Some(secret.secret())),
            (_, secret) => {
                form.push(("client_id", client_id));
                if let Some(secret) = secret {
                    form.push(("client_secret", secret.secret()));
                }
            }
        }
        Ok((request, form))
    }

    /// RFC 7009 revocation of `token`: a form POST of `token` and `token_type_hint`, with the
    /// client authenticated as at the token endpoint. HTTP 200 is success, even for a token the
    /// provider no longer knows. Written here rather than with `oauth2`, which refuses plain
    /// HTTP endpoints and so the loopback Demo provider and test servers.
    pub async fn revoke_token(&self, token: &str, hint: &str) -> Result<bool, AuthError> {
        let Some(url) = &self.config.spec.revoke_url else {
            return Ok(true);
        };
        // Unconfigured is said before anything is sent, whatever the style.
        self.client_id()?;
        if self.config.spec.revoke_style == RevokeStyle::BearerPost {
            let request = self
                .http
                .inner()
                .post(url.clone())
                .header(AUTHORIZATION, authorization("Bearer", token)?)
                .build()
                .map_err(|e| AuthError::InvalidConfig(format!("revocation request: {e}")))?;
            let response = self.http.execute(request).await?;
            return Ok(response.status.is_success());
        }
        let (request, form) = self.client_post(url, vec![("token", token), ("token_type_hint", hint)])?;
        let request = if self.quirks.json_body {
            request.json(&form.iter().copied().collect::<std::collections::BTreeMap<_, _>>())
        } else {
            request.form(&form)
        };
        let request = request.build().map_err(|e| AuthError::InvalidConfig(format!("revocation request: {e}")))?;
        let response = self.http.execute(request).await?;
        if response.status.is_success() {
            return Ok(true);
        }
        // The request carried the token, and a provider may echo it anywhere in its answer: only
        // the status and the OAuth error code are logged, never the body.
        let error = serde_json::from_slice::<serde_json::Value>(response.bytes())
            .ok()
            .and_then(|doc| doc.get("error")?.as_str().map(OAuthErrorCode::parse))
            .filter(|code| !code.as_str().contains(token));
        warn!(status = response.status.as_u16(), error = error.as_ref().map(|c| c.as_str()), "revocation refused");
        Ok(false)
    }
}

#[async_trait]
impl AuthProvider for GenericOAuth2Provider {
    fn name(&self) -> &ProviderId {
        &self.config.spec.id
    }

    fn display_name(&self) -> &str {
        &self.config.spec.name
    }

    fn check_configured(&self) -> Result<(), AuthError> {
        self.client_id().map(|_| ())
    }

    fn uses_pkce(&self) -> bool {
        self.config.spec.pkce == Pkce::S256
    }

    fn scopes(&self) -> Vec<String> {
        self.config.spec.scopes.clone()
    }

    fn issuer(&self) -> Option<&str> {
        self.config.spec.issuer.as_deref()
    }

    fn requires_iss(&self) -> bool {
        self.config.spec.requires_iss
    }

    fn redirect_kind(&self) -> RedirectKind {
        self.config.spec.redirect_kind()
    }

    fn redirect_choices(&self) -> Vec<RedirectKind> {
        if self.config.spec.code_only {
            return Vec::new();
        }
        let mut kinds = vec![self.redirect_kind()];
        for kind in &self.config.spec.redirect {
            if !kinds.contains(kind) {
                kinds.push(*kind);
            }
        }
        kinds
    }

    fn get_url(&self, redirect_uri: &str, state: &str, pkce: Option<&PkceCodeChallenge>) -> Result<Url, AuthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| AuthError::InvalidConfig(format!("redirect URI: {e}")))?;
        let client = self.client(&self.config.spec.token_url)?;
        let state = state.to_owned();
        let mut request = client.authorize_url(move || CsrfToken::new(state)).set_redirect_uri(Cow::Owned(redirect));
        if !self.config.spec.scopes.is_empty() {
            // Joined here so that a provider's own separator survives (oauth2 joins with " ").
            let scopes = self.config.spec.scopes.join(&self.config.spec.scope_separator);
            request = match &self.quirks.scope_param {
                Some(param) => request.add_extra_param(param.clone(), scopes),
                None => request.add_scope(Scope::new(scopes)),
            };
        }
        if let Some(challenge) = pkce.filter(|_| self.uses_pkce()) {
            request = request.set_pkce_challenge(challenge.clone());
        }
        for (name, value) in &self.config.spec.auth_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        Ok(request.url().0)
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<PkceCodeVerifier>,
    ) -> Result<TokenResponse, AuthError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| AuthError::InvalidConfig(format!("redirect URI: {e}")))?;
        let client = self.client(&self.config.spec.token_url)?;
        let mut request =
            client.exchange_code(AuthorizationCode::new(code.to_owned())).set_redirect_uri(Cow::Owned(redirect));
        if let Some(verifier) = pkce_verifier.filter(|_| self.uses_pkce()) {
            request = request.set_pkce_verifier(verifier);
        }
        for (name, value) in &self.config.spec.token_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        debug!(provider = %self.config.spec.id, "exchanging the authorization code");
        let transport = TokenTransport::new(&self.http, &self.quirks);
        let mut tokens = request.request_async(&transport).await.map_err(|e| self.token_error(e))?;
        tokens.account = transport.take_nickname();
        self.checked(tokens)
    }

    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenResponse, AuthError> {
        let url = self.config.spec.refresh_url.as_ref().unwrap_or(&self.config.spec.token_url);
        let client = self.client(url)?;
        let mut request = client.exchange_refresh_token(refresh_token);
        for (name, value) in &self.config.spec.token_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        debug!(provider = %self.config.spec.id, "refreshing");
        let transport = TokenTransport::new(&self.http, &self.quirks);
        let tokens = request.request_async(&transport).await.map_err(|e| self.token_error(e))?;
        self.checked(tokens)
    }

    async fn get_account(&self, access_token: &AccessToken) -> Result<(String, Option<String>), AuthError> {
        let doc = self.fetch_nickname_document(access_token).await?;
        self.hooks.check_account_document(&doc)?;
        let nickname = self.nickname_from_json(&doc).ok_or_else(|| AuthError::BadResponse {
            what: self.hooks.no_account_name().into(),
            status: None,
            body: super::RawBody::new(doc.to_string()),
        })?;
        Ok((nickname, Quirks::pick(&doc, &self.config.spec.nickname.id_pointers)))
    }

    async fn get_nickname(&self, access_token: &AccessToken) -> Result<String, AuthError> {
        let doc = self.fetch_nickname_document(access_token).await?;
        self.hooks.check_account_document(&doc)?;
        self.nickname_from_json(&doc).ok_or_else(|| AuthError::BadResponse {
            what: self.hooks.no_account_name().into(),
            status: None,
            body: super::RawBody::new(doc.to_string()),
        })
    }

    async fn revoke(&self, access_token: &AccessToken) -> Result<bool, AuthError> {
        self.revoke_token(access_token.secret(), "access_token").await
    }

    /// The refresh token first, then the access token (each where the provider takes it); one
    /// refusal or failure and the grant is not confirmed gone.
    async fn revoke_grant(&self, access_token: &AccessToken, refresh_token: Option<&RefreshToken>) -> Revocation {
        if self.config.spec.revoke_url.is_none() {
            return Revocation::NotSupported;
        }
        let mut tokens = Vec::with_capacity(2);
        if self.config.spec.revoke_style == RevokeStyle::BearerPost {
            // The token authenticates the request and is the one revoked (Dropbox, Slack).
            tokens.push((access_token.secret().as_str(), "access_token"));
        } else {
            if let Some(refresh) = refresh_token {
                tokens.push((refresh.secret().as_str(), "refresh_token"));
            }
            if self.config.spec.revoke_access_token || refresh_token.is_none() {
                tokens.push((access_token.secret().as_str(), "access_token"));
            }
        }
        let mut confirmed = true;
        for (token, hint) in tokens {
            match self.revoke_token(token, hint).await {
                Ok(true) => {}
                Ok(false) => confirmed = false,
                Err(e) => {
                    warn!(error = %e, hint, "revocation failed");
                    confirmed = false;
                }
            }
        }
        if confirmed {
            Revocation::Revoked
        } else {
            Revocation::NotConfirmed
        }
    }

    fn access_page(&self) -> Option<&Url> {
        self.config.spec.access_page.as_ref()
    }

    fn setup_pages(&self) -> crate::provider::SetupPages<'_> {
        crate::provider::SetupPages { console: self.config.spec.console.as_ref(), docs: self.config.spec.docs.as_ref() }
    }

    fn offers_device_grant(&self) -> bool {
        self.config.spec.device_url.is_some()
    }

    fn code_only(&self) -> bool {
        self.config.spec.code_only
    }

    async fn start_device(&self) -> Result<crate::device::DeviceCode, AuthError> {
        self.start_device_grant().await
    }

    async fn poll_device(&self, code: &crate::device::DeviceCode) -> Result<crate::device::Poll, AuthError> {
        self.poll_device_grant(code).await
    }

    fn redirect_shape(&self) -> super::redirect::RedirectShape {
        self.config.spec.redirect_shape
    }

    fn plain_http(&self) -> bool {
        self.config.spec.token_url.scheme() == "http"
    }

    fn checked_note(&self) -> Option<&str> {
        Some(self.config.spec.checked.as_str()).filter(|c| !c.is_empty())
    }

    fn grant_authority(&self) -> Option<String> {
        let spec = &self.config.spec;
        Some(spec.issuer.clone().unwrap_or_else(|| spec.refresh_url.as_ref().unwrap_or(&spec.token_url).to_string()))
    }

    fn revokes_replaced_grant(&self) -> bool {
        self.config.spec.revoke_replaced_grant
    }
}
