//! The provider contract (docs/provider-contract.md) in Rust: the names and parameters of the
//! contract, plus what PKCE and the issuer check need.

use async_trait::async_trait;
use oauth2::{AccessToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken};
use url::Url;

use super::{AuthError, ProviderId, TokenResponse};

/// What a disconnect learnt about the grant at the provider. The connection is gone from
/// Latchkey either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// The provider confirmed the revocation of every token sent.
    Revoked,
    /// The provider answered an error, or could not be reached: the grant may live on.
    NotConfirmed,
    /// The provider has no revocation endpoint: the grant lives on until the person removes
    /// Latchkey's access at the provider.
    NotSupported,
}

/// Where a provider sends the browser back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectKind {
    /// Latchkey's private-use URI scheme, delivered as a deep link (RFC 8252 §7.1).
    #[default]
    PrivateUse,
    /// `http://127.0.0.1:<port>/…`, a one-shot listener for providers that refuse custom
    /// schemes (RFC 8252 §7.3).
    Loopback,
}

/// One OAuth provider. Most are a [`GenericOAuth2Provider`](super::oauth2_generic::GenericOAuth2Provider)
/// configured by data; a provider with a quirk wraps one and overrides the method that differs.
///
/// PKCE is added so that a provider without it can ignore it: `get_url` receives the challenge
/// (or `None` when [`AuthProvider::uses_pkce`] is false) and `exchange` the verifier, which is
/// moved in because it is used once.
#[async_trait]
pub trait AuthProvider: Send + Sync {
    /// Unique identifier, used in the redirect path and in credential storage.
    fn name(&self) -> &ProviderId;

    /// The name a person reads ("Linear").
    fn display_name(&self) -> &str {
        self.name().as_str()
    }

    /// `Ok` when the provider has what it needs (a client id); otherwise
    /// [`AuthError::NotConfigured`] saying what to set.
    fn check_configured(&self) -> Result<(), AuthError> {
        Ok(())
    }

    /// Whether flows send a PKCE challenge (S256). True unless the provider is known to break.
    fn uses_pkce(&self) -> bool {
        true
    }

    /// The scopes sign-ins ask for (shown in the window, never secret).
    fn scopes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The issuer identifier that must match the callback's `iss` (RFC 9207), when known.
    fn issuer(&self) -> Option<&str> {
        None
    }

    /// Where the provider redirects the browser after consent.
    fn redirect_kind(&self) -> RedirectKind {
        RedirectKind::PrivateUse
    }

    /// Every redirect kind the provider is known or believed to accept, the one in use first.
    /// A person may switch among them when the provider's console refuses one.
    fn redirect_choices(&self) -> Vec<RedirectKind> {
        vec![self.redirect_kind()]
    }

    /// Whether the provider always sends `iss` in its authorization response, so that a
    /// response without it is refused.
    fn requires_iss(&self) -> bool {
        false
    }

    /// The authorization URL to open in the system browser.
    fn get_url(&self, redirect_uri: &str, state: &str, pkce: Option<&PkceCodeChallenge>) -> Result<Url, AuthError>;

    /// Exchanges an authorization code for tokens, with the same `redirect_uri` as `get_url`.
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        pkce_verifier: Option<PkceCodeVerifier>,
    ) -> Result<TokenResponse, AuthError>;

    /// Gets a new access token (and maybe a new refresh token) for a refresh token.
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenResponse, AuthError>;

    /// A name the person recognises for the account: an email, a username or an organisation.
    async fn get_nickname(&self, access_token: &AccessToken) -> Result<String, AuthError>;

    /// The account's nickname and, where the provider gives one, its stable id (`sub`, a user
    /// id): a reconnect is matched on the id, the nickname only where there is none. By default
    /// the contract's [`AuthProvider::get_nickname`] and no id.
    async fn get_account(&self, access_token: &AccessToken) -> Result<(String, Option<String>), AuthError> {
        Ok((self.get_nickname(access_token).await?, None))
    }

    /// Revokes the token at the provider. `Ok(true)` when revoked (or nothing to do).
    async fn revoke(&self, _access_token: &AccessToken) -> Result<bool, AuthError> {
        Ok(true)
    }

    /// Ends the grant at disconnect. By default the contract's [`AuthProvider::revoke`] of the
    /// access token; providers that know more (the generic one) revoke the refresh token first,
    /// since RFC 7009 lets a server keep a grant alive when only its access token is revoked.
    async fn revoke_grant(&self, access_token: &AccessToken, _refresh_token: Option<&RefreshToken>) -> Revocation {
        match self.revoke(access_token).await {
            Ok(true) => Revocation::Revoked,
            Ok(false) | Err(_) => Revocation::NotConfirmed,
        }
    }

    /// Whether the provider offers the device authorization grant (RFC 8628).
    fn offers_device_grant(&self) -> bool {
        false
    }

    /// Whether the client signs in with a code only (registered for the device grant alone):
    /// a browser sign-in is refused before it starts.
    fn code_only(&self) -> bool {
        false
    }

    /// Starts a device sign-in: the code the person enters and where.
    async fn start_device(&self) -> Result<crate::device::DeviceCode, AuthError> {
        Err(AuthError::Invalid(format!("{} offers no sign-in with a code", self.display_name())))
    }

    /// Asks once whether the person has entered the code (see [`crate::device::wait_for_tokens`]).
    async fn poll_device(&self, _code: &crate::device::DeviceCode) -> Result<crate::device::Poll, AuthError> {
        Err(AuthError::Invalid(format!("{} offers no sign-in with a code", self.display_name())))
    }

    /// The provider's page where a person can remove Latchkey's access, when known.
    fn access_page(&self) -> Option<&Url> {
        None
    }

    /// The provider's page where an app is registered, and its documentation, when known (the
    /// set-up steps link them).
    fn setup_pages(&self) -> SetupPages<'_> {
        SetupPages::default()
    }

    /// How the provider takes Latchkey's redirect URIs (the private-use form, the loopback host).
    fn redirect_shape(&self) -> super::redirect::RedirectShape {
        super::redirect::RedirectShape::default()
    }

    /// Whether the provider is reached over plain http (allowed only on 127.0.0.1: the Demo, or
    /// an issuer the person typed as `http://127.0.0.1…`), which the window says.
    fn plain_http(&self) -> bool {
        false
    }

    /// Where the provider's facts come from and how sure they are, shown in its set-up.
    fn checked_note(&self) -> Option<&str> {
        None
    }

    /// Who redeems this provider's grants: its issuer when known (stable across restarts, the
    /// Demo's port changes), else its token endpoint. A connection records it at sign-in and is
    /// never refreshed or revoked by a provider that answers to another (it needs reconnecting).
    fn grant_authority(&self) -> Option<String> {
        None
    }

    /// Whether the grant a new sign-in replaces can be revoked without ending the new one.
    fn revokes_replaced_grant(&self) -> bool {
        false
    }
}

/// Where a person registers an app at the provider, and where its sign-in is documented.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetupPages<'a> {
    pub console: Option<&'a Url>,
    pub docs: Option<&'a Url>,
}
