//! `TokenResponse`, the contract's answer from a token endpoint, read leniently from the shapes
//! real providers send, with secrets in types that keep them out of `Debug`.

use oauth2::basic::BasicTokenType;
use oauth2::{AccessToken, RefreshToken, Scope};
use serde::{Deserialize, Deserializer, Serialize};

/// Longest lifetime we believe; anything longer is treated as this (about ten years).
pub const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

/// A token endpoint's answer, as the provider contract names it.
///
/// Read leniently: `expires_in` as a number, a string or a float (negative means already
/// expired, larger than [`MAX_LIFETIME_SECS`] is capped); `token_type` missing (taken as
/// `Bearer`) or in any case; `scope` as a string or a list; unknown fields ignored. An absent or
/// empty `access_token` is an error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "JsonObject")]
pub struct TokenResponse {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub expires_in: Option<u64>,
    pub token_type: String,
    pub scope: Option<String>,
    /// The account's name when the token answer carries it (Notion, Asana); never stored.
    #[serde(skip)]
    pub account: Option<String>,
    #[serde(skip)]
    scopes: Vec<Scope>,
    #[serde(skip)]
    basic_type: Option<BasicTokenType>,
}

impl TokenResponse {
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            access_token: AccessToken::new(access_token.into()),
            refresh_token: None,
            expires_in: None,
            token_type: "Bearer".into(),
            scope: None,
            account: None,
            scopes: Vec::new(),
            basic_type: Some(BasicTokenType::Bearer),
        }
    }

    pub fn with_refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(RefreshToken::new(token.into()));
        self
    }

    pub fn with_expires_in(mut self, secs: u64) -> Self {
        self.expires_in = Some(secs.min(MAX_LIFETIME_SECS));
        self
    }

    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.scopes = split_scopes(&scope);
        self.scope = Some(scope);
        self
    }

    /// Whether the token is a bearer token, the only kind Latchkey knows how to present.
    pub fn is_bearer(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("bearer")
    }

    /// The granted scopes, split on spaces or commas (providers use both).
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes.iter().map(|s| s.to_string()).collect()
    }
}

fn split_scopes(scope: &str) -> Vec<Scope> {
    scope.split([' ', ',']).filter(|s| !s.is_empty()).map(|s| Scope::new(s.to_owned())).collect()
}

/// A token answer is a JSON object (RFC 6749 §5.1). Derived struct deserialisation would also
/// take an array, its items as the fields in order: refused by reading an object first.
#[derive(Deserialize)]
#[serde(transparent)]
struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl TryFrom<JsonObject> for TokenResponse {
    type Error = String;

    fn try_from(object: JsonObject) -> Result<Self, Self::Error> {
        let wire: WireTokenResponse =
            serde_json::from_value(serde_json::Value::Object(object.0)).map_err(|e| e.to_string())?;
        Self::try_from(wire).map_err(str::to_owned)
    }
}

#[derive(Deserialize)]
struct WireTokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_scope")]
    scope: Option<String>,
}

impl TryFrom<WireTokenResponse> for TokenResponse {
    type Error = &'static str;

    fn try_from(w: WireTokenResponse) -> Result<Self, Self::Error> {
        let access_token = match w.access_token {
            Some(t) if !t.trim().is_empty() => t,
            _ => return Err("the response has no access_token"),
        };
        let token_type = match w.token_type.as_deref().map(str::trim) {
            None | Some("") => "Bearer".to_owned(),
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(t) => t.to_owned(),
        };
        let basic_type = token_type.eq_ignore_ascii_case("bearer").then_some(BasicTokenType::Bearer);
        let scopes = w.scope.as_deref().map(split_scopes).unwrap_or_default();
        Ok(Self {
            access_token: AccessToken::new(access_token),
            refresh_token: w.refresh_token.filter(|t| !t.trim().is_empty()).map(RefreshToken::new),
            expires_in: w.expires_in,
            token_type,
            scope: w.scope.filter(|s| !s.is_empty()),
            account: None,
            scopes,
            basic_type,
        })
    }
}

fn lenient_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    let secs = match value {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(secs.filter(|s| s.is_finite()).map(|s| s.max(0.0).min(MAX_LIFETIME_SECS as f64) as u64))
}

fn lenient_scope<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Array(items)) => {
            Some(items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" "))
        }
        _ => None,
    })
}

static BEARER: BasicTokenType = BasicTokenType::Bearer;
static OTHER: std::sync::LazyLock<BasicTokenType> =
    std::sync::LazyLock::new(|| BasicTokenType::Extension("other".into()));

/// Lets `oauth2` parse token endpoint answers straight into our type.
impl oauth2::TokenResponse for TokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        match &self.basic_type {
            Some(_) => &BEARER,
            None => &OTHER,
        }
    }
    fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_in.map(std::time::Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref().map(|_| &self.scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TokenResponse, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_the_standard_shape() {
        let t = parse(r#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"token_type":"Bearer","scope":"read write"}"#).unwrap();
        assert_eq!(t.access_token.secret(), "at");
        assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "rt");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.scope_list(), vec!["read", "write"]);
    }

    #[test]
    fn an_array_is_not_a_token_answer() {
        // Found by the token fuzz target: derived deserialisation took arrays as positional fields.
        assert!(serde_json::from_str::<TokenResponse>(r#"["at-1", "rt-1", 3600, "Bearer", "read"]"#).is_err());
        assert!(serde_json::from_str::<TokenResponse>(r#"{"access_token": "at-1"}"#).is_ok());
    }

    #[test]
    fn reads_the_variants_real_providers_send() {
        let t = parse(r#"{"access_token":"at","expires_in":"7200","token_type":"bearer","extra":{"x":1}}"#).unwrap();
        assert_eq!(t.expires_in, Some(7200));
        assert_eq!(t.token_type, "Bearer");
        assert!(t.is_bearer());
        let t = parse(r#"{"access_token":"at"}"#).unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, None);
        assert!(t.refresh_token.is_none());
        let t = parse(r#"{"access_token":"at","expires_in":3599.7,"scope":["a","b"],"refresh_token":""}"#).unwrap();
        assert_eq!(t.expires_in, Some(3599));
        assert_eq!(t.scope.as_deref(), Some("a b"));
        assert!(t.refresh_token.is_none(), "an empty refresh_token is no refresh token");
        let t = parse(r#"{"access_token":"at","scope":"read,write"}"#).unwrap();
        assert_eq!(t.scope_list(), vec!["read", "write"]);
    }

    #[test]
    fn odd_lifetimes_are_bounded() {
        assert_eq!(parse(r#"{"access_token":"a","expires_in":-5}"#).unwrap().expires_in, Some(0));
        assert_eq!(parse(r#"{"access_token":"a","expires_in":1e300}"#).unwrap().expires_in, Some(MAX_LIFETIME_SECS));
        assert_eq!(parse(r#"{"access_token":"a","expires_in":"soon"}"#).unwrap().expires_in, None);
        assert_eq!(parse(r#"{"access_token":"a","expires_in":null}"#).unwrap().expires_in, None);
    }

    #[test]
    fn a_response_without_access_token_is_an_error() {
        assert!(parse(r#"{"token_type":"Bearer"}"#).is_err());
        assert!(parse(r#"{"access_token":""}"#).is_err());
        assert!(parse(r#"{"access_token":42}"#).is_err());
    }

    #[test]
    fn other_token_types_are_kept_and_flagged() {
        let t = parse(r#"{"access_token":"a","token_type":"DPoP"}"#).unwrap();
        assert_eq!(t.token_type, "DPoP");
        assert!(!t.is_bearer());
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let t = parse(r#"{"access_token":"sekrit-at","refresh_token":"sekrit-rt"}"#).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
    }
}
