//! The errors of the core, by the kind a caller acts on; their messages are fit for a person
//! and never carry a secret or a provider's raw body.

use std::fmt;

use thiserror::Error;

/// Everything that can go wrong in a flow, a refresh or a disconnect.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The provider answered with an OAuth error (`access_denied`, `invalid_scope`, ...).
    #[error("{}", refused_message(.error, .description.as_deref()))]
    ProviderRefused { error: OAuthErrorCode, description: Option<String> },

    /// The grant is gone (`invalid_grant`): the person has to connect the account again.
    #[error("the provider no longer accepts this account's authorization; reconnect it")]
    NeedsReconnect { description: Option<String> },

    /// The provider could not be reached.
    #[error("could not reach the provider: {0}")]
    Network(String),

    /// The provider asks to slow down (HTTP 429), possibly saying for how long.
    #[error("the provider asks Latchkey to slow down{}", .retry_after.map(|s| format!(" (for {s} s)")).unwrap_or_default())]
    RateLimited { retry_after: Option<u64> },

    /// The provider did not answer in time.
    #[error("the provider did not answer in time")]
    Timeout,

    /// The provider answered something that is not what OAuth says it should. The raw body is
    /// kept for the log (see [`RawBody::for_log`]) and is not part of the message.
    #[error("the provider sent an answer Latchkey cannot use: {what}")]
    BadResponse { what: String, status: Option<u16>, body: RawBody },

    /// The OS keychain cannot be used (locked, absent, refused).
    #[error("the keychain is unavailable: {0}")]
    Keychain(String),

    /// A provider lacks its client registration.
    #[error("{provider} is not configured: {hint}")]
    NotConfigured { provider: String, hint: String },

    /// A provider's own description is unusable (an `http://` endpoint, a bad URL).
    #[error("provider configuration is invalid: {0}")]
    InvalidConfig(String),

    /// The redirect back from the browser was not a valid callback for a flow in progress.
    #[error("{0}")]
    Callback(#[from] CallbackError),

    /// What a person typed or asked for cannot be used; the message says why.
    #[error("{0}")]
    Invalid(String),

    /// A name matches several connections; the message lists them.
    #[error("{name} has several connections; name one: {candidates}")]
    Ambiguous { name: String, candidates: String },

    #[error("there is no provider named {0:?}")]
    UnknownProvider(String),

    #[error("there is no connection {0:?}")]
    UnknownConnection(String),

    /// The person cancelled the sign-in.
    #[error("the sign-in was cancelled")]
    Cancelled,

    /// The non-secret metadata file could not be read or written.
    #[error("could not save Latchkey's data: {0}")]
    Storage(String),

    /// Latchkey is stopping and takes no new work.
    #[error("Latchkey is stopping")]
    Stopping,
}

/// What a caller does about an error: the one classification of Latchkey's errors. The D-Bus
/// error names (`dev.latchkey.Error.<name>`), the command line's exit codes and what the window
/// is told all come from it, so the three never disagree about what an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider no longer accepts the account's grant: connect it again.
    NeedsReconnect,
    /// No account has that id and no provider of that id has an account.
    NotFound,
    /// Several accounts match the name: name one by its id.
    Ambiguous,
    /// The keychain is locked or cannot be reached.
    KeychainUnavailable,
    /// The provider cannot be reached, or answers with failures for now: try again later.
    ProviderUnavailable,
    /// Latchkey is stopping: ask the next one.
    Stopping,
    /// Anything else; the message says what.
    Failed,
}

impl ErrorKind {
    /// Every kind, in the order docs/dbus.md lists them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::NeedsReconnect,
        ErrorKind::NotFound,
        ErrorKind::Ambiguous,
        ErrorKind::KeychainUnavailable,
        ErrorKind::ProviderUnavailable,
        ErrorKind::Stopping,
        ErrorKind::Failed,
    ];

    /// The last part of the kind's D-Bus error name (`dev.latchkey.Error.NoSuchAccount`). These
    /// names are public: they never change for a kind that exists.
    pub fn dbus_name(self) -> &'static str {
        match self {
            ErrorKind::NeedsReconnect => "NeedsReconnect",
            ErrorKind::NotFound => "NoSuchAccount",
            ErrorKind::Ambiguous => "Ambiguous",
            ErrorKind::KeychainUnavailable => "KeychainUnavailable",
            ErrorKind::ProviderUnavailable => "ProviderUnavailable",
            ErrorKind::Stopping => "Stopping",
            ErrorKind::Failed => "Failed",
        }
    }

    /// The kind a D-Bus error name's last part stands for; `None` for a name Latchkey does not
    /// give (a newer version's, or not Latchkey's).
    pub fn from_dbus_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.dbus_name() == name)
    }
}

impl AuthError {
    /// Whether the person must connect the account again: the grant is gone, or the provider
    /// no longer accepts the client registration it was made with.
    pub fn needs_reconnect(&self) -> bool {
        match self {
            AuthError::NeedsReconnect { .. } => true,
            AuthError::ProviderRefused { error, .. } => error.ends_the_grant(),
            _ => false,
        }
    }

    /// What a caller does about this error ([`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::NeedsReconnect { .. } => ErrorKind::NeedsReconnect,
            AuthError::UnknownConnection(_) | AuthError::UnknownProvider(_) => ErrorKind::NotFound,
            AuthError::Ambiguous { .. } => ErrorKind::Ambiguous,
            AuthError::Keychain(_) => ErrorKind::KeychainUnavailable,
            AuthError::Stopping => ErrorKind::Stopping,
            e if e.is_transient() => ErrorKind::ProviderUnavailable,
            AuthError::BadResponse { .. } | AuthError::ProviderRefused { .. } => ErrorKind::ProviderUnavailable,
            _ => ErrorKind::Failed,
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Network(_) | AuthError::Timeout | AuthError::RateLimited { .. } => true,
            AuthError::BadResponse { status: Some(s), .. } => *s >= 500 || *s == 429,
            _ => false,
        }
    }
}

/// An OAuth error code (RFC 6749 §4.1.2.1 and §5.2), read once where a provider's answer is
/// read; codes outside the RFC are kept as sent, made printable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidToken,
    Other(String),
}

impl OAuthErrorCode {
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_token" => Self::InvalidToken,
            other => Self::Other(printable(other, 64)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::Other(code) => code,
        }
    }

    /// Whether, at the token endpoint, this code means the grant can no longer be used.
    pub fn ends_the_grant(&self) -> bool {
        matches!(self, Self::InvalidGrant | Self::InvalidClient | Self::UnauthorizedClient)
    }
}

impl From<&str> for OAuthErrorCode {
    fn from(code: &str) -> Self {
        Self::parse(code)
    }
}

impl From<String> for OAuthErrorCode {
    fn from(code: String) -> Self {
        Self::parse(&code)
    }
}

impl PartialEq<str> for OAuthErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for OAuthErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn refused_message(error: &OAuthErrorCode, description: Option<&str>) -> String {
    use OAuthErrorCode as C;
    let base = match error {
        C::AccessDenied => "access was declined at the provider".to_owned(),
        C::InvalidClient | C::UnauthorizedClient => {
            "the provider does not accept Latchkey's client registration".to_owned()
        }
        C::InvalidScope => "the provider refused the requested permissions".to_owned(),
        C::TemporarilyUnavailable | C::ServerError => "the provider is having trouble; try again later".to_owned(),
        other => format!("the provider refused ({other})"),
    };
    match description {
        Some(d) if !d.trim().is_empty() => format!("{base}: {}", printable(d, 300)),
        _ => base,
    }
}

/// Why a redirect from the browser was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CallbackError {
    #[error("not a Latchkey callback: {0}")]
    NotACallback(String),
    #[error("the callback is for an unknown provider")]
    UnknownProvider,
    #[error("the callback is malformed: {0}")]
    Malformed(String),
    #[error("the callback matches no sign-in in progress (it may have been used already)")]
    UnknownState,
    #[error("the sign-in took too long and has expired; start it again")]
    Expired,
    #[error("the callback arrived on another provider's path than the one the sign-in started with")]
    ProviderMismatch,
    #[error("the callback names another issuer than the provider's; the sign-in was stopped")]
    IssuerMismatch,
    #[error("the provider promises to name itself in the callback and did not; the sign-in was stopped")]
    MissingIssuer,
    #[error("the callback carries neither a code nor an error")]
    MissingCode,
}

/// The bytes of a response that could not be used. `Debug` shows only the length, so that a
/// body holding a token cannot reach a log by accident; [`RawBody::for_log`] gives a redacted,
/// bounded text for the log.
#[derive(Clone, Default)]
pub struct RawBody(Vec<u8>);

impl RawBody {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// At most 1 KiB of the body, with every JSON value under a key that looks secret
    /// (`*token*`, `*secret*`, `code`, `*password*`) replaced by `[redacted]`. A body that is not
    /// JSON is shown only when it contains no such key.
    pub fn for_log(&self) -> String {
        const LIMIT: usize = 1024;
        let text = String::from_utf8_lossy(&self.0);
        let shown = match serde_json::from_slice::<serde_json::Value>(&self.0) {
            Ok(mut value) => {
                redact_json(&mut value);
                value.to_string()
            }
            Err(_) if looks_secret(&text.to_ascii_lowercase()) => {
                format!("[{} bytes, not JSON, withheld: it mentions a token]", self.0.len())
            }
            Err(_) => text.into_owned(),
        };
        printable(&shown, LIMIT)
    }
}

impl fmt::Debug for RawBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawBody({} bytes)", self.0.len())
    }
}

fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("token") || key.contains("secret") || key == "code" || key.contains("password")
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if looks_secret(key) && !v.is_null() {
                    *v = serde_json::Value::String("[redacted]".into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// `text` safe inside HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` without control characters, cut to `limit` characters.
pub(crate) fn printable(text: &str, limit: usize) -> String {
    let mut out: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(limit).collect();
    if text.chars().count() > limit {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_body_debug_shows_only_the_length() {
        let body = RawBody::new(br#"{"access_token":"sekrit"}"#.to_vec());
        assert_eq!(format!("{body:?}"), "RawBody(25 bytes)");
    }

    #[test]
    fn raw_body_for_log_redacts_secret_fields_at_any_depth() {
        let body = RawBody::new(
            br#"{"access_token":"a1","nested":{"refresh_token":"r1","ok":1},"list":[{"client_secret":"s"}]}"#.to_vec(),
        );
        let log = body.for_log();
        for secret in ["a1", "r1", "\"s\""] {
            assert!(!log.contains(secret), "{secret} in {log}");
        }
        assert!(log.contains("\"ok\":1"));
    }

    #[test]
    fn raw_body_for_log_withholds_non_json_that_mentions_tokens() {
        let body = RawBody::new(b"access_token=abc&token_type=bearer".to_vec());
        assert!(!body.for_log().contains("abc"));
        let html = RawBody::new(b"<html><body>Bad gateway</body></html>".to_vec());
        assert!(html.for_log().contains("Bad gateway"));
    }

    #[test]
    fn every_kind_has_its_own_dbus_name_and_is_found_by_it() {
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.dbus_name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len(), "two kinds share a name");
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_dbus_name(kind.dbus_name()), Some(kind));
        }
        assert_eq!(ErrorKind::from_dbus_name("ServiceUnknown"), None);
    }

    #[test]
    fn errors_are_classified_by_what_a_caller_does_about_them() {
        let cases = [
            (AuthError::NeedsReconnect { description: None }, ErrorKind::NeedsReconnect),
            (AuthError::UnknownConnection("x".into()), ErrorKind::NotFound),
            (AuthError::UnknownProvider("x".into()), ErrorKind::NotFound),
            (AuthError::Ambiguous { name: "x".into(), candidates: "a, b".into() }, ErrorKind::Ambiguous),
            (AuthError::Keychain("locked".into()), ErrorKind::KeychainUnavailable),
            (AuthError::Network("refused".into()), ErrorKind::ProviderUnavailable),
            (AuthError::Timeout, ErrorKind::ProviderUnavailable),
            (AuthError::RateLimited { retry_after: Some(3) }, ErrorKind::ProviderUnavailable),
            (
                AuthError::ProviderRefused { error: "access_denied".into(), description: None },
                ErrorKind::ProviderUnavailable,
            ),
            (
                AuthError::BadResponse { what: "no token".into(), status: Some(200), body: RawBody::default() },
                ErrorKind::ProviderUnavailable,
            ),
            (AuthError::Stopping, ErrorKind::Stopping),
            (AuthError::Storage("disk full".into()), ErrorKind::Failed),
            (AuthError::Invalid("bad".into()), ErrorKind::Failed),
            (AuthError::Cancelled, ErrorKind::Failed),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    #[test]
    fn refusal_messages_read_as_sentences() {
        let e = AuthError::ProviderRefused { error: "access_denied".into(), description: None };
        assert_eq!(e.to_string(), "access was declined at the provider");
        let e = AuthError::ProviderRefused { error: "weird\u{7}".into(), description: Some("line\nbreak".into()) };
        assert_eq!(e.to_string(), "the provider refused (weird ): line break");
    }
}
