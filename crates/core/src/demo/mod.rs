//! The built-in Demo provider: a small OAuth 2 authorization server on 127.0.0.1 (a port the OS
//! picks) that the app talks to exactly as to a real provider, through the generic OAuth2
//! provider and the deep link. It needs nothing registered anywhere.
//!
//! Authorization code with PKCE S256 required, access tokens of two minutes (so that refresh is
//! seen at work), rotating refresh tokens whose reuse revokes the grant, RFC 7009 revocation,
//! `iss` in the authorization response (RFC 9207), and a userinfo endpoint for the nickname.
//! Codes and tokens are sealed with a key kept in the keychain, so they survive a restart of the
//! app (and a sign-in can complete after one); the grant bookkeeping (no secrets) is a JSON file.

mod device;
mod grants;
mod pages;
mod server;
mod state;
mod tokens;

pub use server::{DemoAuthority, DemoOptions};

use url::Url;

use crate::description::{Nickname, OAuth2Config, ProviderSpec};
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

/// The Demo provider's description for the generic OAuth2 provider, at `base`, with its
/// client id.
pub fn config(base: &Url) -> OAuth2Config {
    let at = |path: &str| base.join(path).expect("a fixed path joins a base URL");
    let nickname = Nickname::get(at("userinfo"), &["/preferred_username", "/email"]);
    let mut spec = ProviderSpec::new(id(), "Demo", at("authorize"), at("token"), nickname);
    spec.revoke_url = Some(at("revoke"));
    spec.device_url = Some(at("device_authorization"));
    spec.scopes = vec!["profile".into()];
    spec.issuer = Some(ISSUER.into());
    spec.requires_iss = true;
    spec.revoke_replaced_grant = true;
    let mut config = spec.config(Some(CLIENT_ID.into()), None);
    config.setup_hint = String::new();
    config
}
