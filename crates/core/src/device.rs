//! The device authorization grant (RFC 8628): a sign-in with no redirect at all. The provider
//! gives a short code for the person to enter at an address in any browser; Latchkey polls the
//! token endpoint until they have (checklist line 25: never faster than the interval the
//! provider asks for, 5 s when it says nothing; 5 s more at each `slow_down`; on through
//! `authorization_pending`; stop at `expired_token`, `access_denied`, any other error, or when the
//! code's lifetime runs out).

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tracing::{debug, info};
use url::Url;

use crate::provider::AuthProvider;
use crate::{AuthError, TokenResponse};

/// The interval RFC 8628 §3.2 gives when the provider names none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What each `slow_down` adds (RFC 8628 §3.5).
pub const SLOW_DOWN: Duration = Duration::from_secs(5);
/// The lifetime assumed for a code whose answer names none (Salesforce's). The provider still
/// ends the sign-in sooner with `expired_token` if its codes live less.
const UNSTATED_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Longest wait for one code, whatever the provider says (a code of days is not a sign-in).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A device authorization as the provider answered it: what the person sees (the user code and
/// where to enter it) and, kept out of `Debug`, the device code Latchkey polls with.
#[derive(Clone)]
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: Url,
    /// The address with the code already in it, when the provider gives one.
    pub verification_uri_complete: Option<Url>,
    pub expires_in: Duration,
    pub interval: Duration,
    device_code: String,
}

impl std::fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCode")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri.as_str())
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl DeviceCode {
    /// The device code, for the provider's token endpoint only.
    pub fn device_code(&self) -> &str {
        &self.device_code
    }
}

/// The device authorization response (RFC 8628 §3.2), read leniently: Google names the address
/// `verification_url`; numbers may come as strings.
#[derive(Deserialize)]
struct Answer {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    /// Salesforce names no lifetime: [`UNSTATED_LIFETIME`] then.
    #[serde(default, deserialize_with = "maybe_seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "maybe_seconds")]
    interval: Option<u64>,
}

fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().ok_or_else(|| serde::de::Error::custom("not a whole number")),
        serde_json::Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("not a number")),
    }
}

fn maybe_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    seconds(d).map(Some)
}

impl DeviceCode {
    /// Reads a device authorization response; the addresses must be https (or loopback http,
    /// for the Demo and local test servers).
    pub fn parse(body: &[u8]) -> Result<Self, AuthError> {
        let bad = |what: &str| AuthError::BadResponse {
            what: format!("the device authorization answer {what}"),
            status: None,
            body: crate::RawBody::new(String::new()),
        };
        let answer: Answer = serde_json::from_slice(body).map_err(|_| bad("is not what RFC 8628 describes"))?;
        let address = |text: &str| {
            let url = Url::parse(text).map_err(|_| bad("names an address that is not a URL"))?;
            let loopback = url.host_str() == Some("127.0.0.1");
            if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
                Ok(url)
            } else {
                Err(bad("names an address that is not https"))
            }
        };
        if answer.device_code.is_empty() || answer.user_code.is_empty() || answer.user_code.len() > 64 {
            return Err(bad("has no usable code"));
        }
        Ok(Self {
            verification_uri: address(&answer.verification_uri)?,
            verification_uri_complete: answer.verification_uri_complete.as_deref().map(address).transpose()?,
            user_code: crate::error::printable(&answer.user_code, 64),
            expires_in: answer.expires_in.map_or(UNSTATED_LIFETIME, Duration::from_secs).min(MAX_LIFETIME),
            interval: answer.interval.map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.max(1))),
            device_code: answer.device_code,
        })
    }
}

/// One poll's answer.
#[derive(Debug)]
pub enum Poll {
    /// `authorization_pending`: the person has not finished yet.
    Pending,
    /// `slow_down`: poll less often.
    SlowDown,
    Tokens(TokenResponse),
}

/// Polls `provider` for the tokens of `code` until the person has approved, or it is over.
/// `sleep` waits (the runtime's timer in the app; a recording one in tests); `cancelled` is
/// checked before every poll, so no poll follows a cancel.
pub async fn wait_for_tokens<S, F>(
    provider: &dyn AuthProvider,
    code: &DeviceCode,
    mut sleep: S,
    cancelled: impl Fn() -> bool,
) -> Result<TokenResponse, AuthError>
where
    S: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut interval = code.interval;
    let mut waited = Duration::ZERO;
    loop {
        sleep(interval).await;
        waited += interval;
        if cancelled() {
            return Err(AuthError::Cancelled);
        }
        if waited > code.expires_in {
            return Err(AuthError::ProviderRefused {
                error: crate::OAuthErrorCode::parse("expired_token"),
                description: Some("the code expired before it was entered".into()),
            });
        }
        match provider.poll_device(code).await? {
            Poll::Pending => debug!("device sign-in: still waiting for the person"),
            Poll::SlowDown => {
                interval += SLOW_DOWN;
                info!(seconds = interval.as_secs(), "device sign-in: the provider asked to poll less often");
            }
            Poll::Tokens(tokens) => return Ok(tokens),
        }
    }
}
