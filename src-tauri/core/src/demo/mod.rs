//! The built-in Demo provider: a small OAuth 2 authorization server on 127.0.0.1 (a port the OS
//! picks) that the app talks to exactly as to a real provider, through the generic OAuth2
//! provider and the deep link. It needs nothing registered anywhere.
//!
//! Authorization code with PKCE S256 required, access tokens of two minutes (so that refresh is
//! seen at work), rotating refresh tokens whose reuse revokes the grant, RFC 7009 revocation,
//! `iss` in the authorization response (RFC 9207), and a userinfo endpoint for the nickname.
//! Codes and tokens are sealed with a key kept in the keychain, so they survive a restart of the
//! app (and a sign-in can complete after one); the grant bookkeeping (no secrets) is a JSON file.

mod pages;
mod server;
mod tokens;

pub use server::{DemoAuthority, DemoOptions};

use reqwest::Method;
use url::Url;

use crate::oauth2_generic::{ClientAuth, NicknameSource, OAuth2Config};
use crate::ProviderId;

/// The Demo provider's name, redirect path and client id.
pub const NAME: &str = "demo";
pub const CLIENT_ID: &str = "latchkey-demo";
/// The issuer named in `iss`: stable across restarts, unlike the port.
pub const ISSUER: &str = "https://demo.latchkey.invalid";
/// Environment variable that switches the Demo provider off (`0`, `false`, `off`).
pub const ENV_SWITCH: &str = "LATCHKEY_DEMO";

/// The Demo provider's id.
pub fn id() -> ProviderId {
    ProviderId::new(NAME).expect("a constant name")
}

/// Whether the environment switches the Demo provider off.
pub fn disabled_by_env() -> bool {
    std::env::var(ENV_SWITCH)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "off" | "no"))
        .unwrap_or(false)
}

/// The Demo provider's description for the generic OAuth2 provider, at `base`.
pub fn config(base: &Url) -> OAuth2Config {
    let at = |path: &str| base.join(path).expect("a fixed path joins a base URL");
    OAuth2Config {
        name: id(),
        display_name: "Demo".into(),
        authorize_url: at("authorize"),
        token_url: at("token"),
        refresh_url: None,
        revoke_url: Some(at("revoke")),
        revoke_style: Default::default(),
        scopes: vec!["profile".into()],
        scope_separator: " ".into(),
        extra_auth_params: vec![],
        extra_token_params: vec![],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
        client_id: Some(CLIENT_ID.into()),
        client_secret: None,
        nickname: NicknameSource {
            url: at("userinfo"),
            method: Method::GET,
            body: None,
            pointers: vec!["/preferred_username".into(), "/email".into()],
        },
        issuer: Some(ISSUER.into()),
        requires_iss: true,
        redirect: crate::provider::RedirectKind::PrivateUse,
        redirect_alternatives: vec![],
        setup_hint: String::new(),
        quirks: Default::default(),
    }
}
