//! What some providers do differently at their token endpoint, said as data ([`Quirks`]) and
//! undone in one place ([`TokenTransport`]) so that the rest of Latchkey only meets RFC 6749
//! answers: Slack's user token under `authed_user` and its `"ok": false` with HTTP 200, Notion's
//! and Atlassian's JSON request bodies, account names carried in the token answer (Notion, Asana).

use std::sync::Mutex;

use oauth2::{HttpRequest, HttpResponse};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use super::description::{Body, ProviderSpec};
use super::error::{printable, OAuthErrorCode};
use super::http::HttpClient;
use super::sync::lock;
use super::AuthError;

/// A provider's departures from RFC 6749, all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Token, refresh and revocation requests as a JSON object instead of a form (Notion).
    pub json_body: bool,
    /// Where the person's token sits when it is not at the top of the answer (Slack:
    /// `/authed_user`). Used only when that object holds an `access_token`.
    pub token_at: Option<String>,
    /// A boolean field that is `false` when the request failed, sent with HTTP 200 (Slack: `ok`).
    pub ok_field: Option<String>,
    /// A token type that is a bearer token by another name (Slack: `user`).
    pub bearer_alias: Option<String>,
    /// JSON pointers into the token answer for the account's name, tried before the nickname
    /// endpoint (Notion: the workspace owner's email).
    pub nickname_in_token: Vec<String>,
    /// The authorization parameter the scopes go in, when not `scope` (Slack: `user_scope`).
    pub scope_param: Option<String>,
    /// The word before the token in the nickname request's `Authorization` (Twitch: `OAuth`).
    pub nickname_auth_scheme: Option<String>,
    /// Extra headers for the nickname request (Notion: `Notion-Version`).
    pub nickname_headers: Vec<(String, String)>,
}

impl From<&ProviderSpec> for Quirks {
    fn from(spec: &ProviderSpec) -> Self {
        Self {
            json_body: spec.token_body == Body::Json,
            token_at: spec.token_answer.token_at.clone(),
            ok_field: spec.token_answer.ok_field.clone(),
            bearer_alias: spec.token_answer.bearer_alias.clone(),
            nickname_in_token: spec.nickname.in_token_response.clone(),
            scope_param: spec.scope_param.clone(),
            nickname_auth_scheme: spec.nickname.auth_scheme.clone(),
            nickname_headers: spec.nickname.headers.clone().into_iter().collect(),
        }
    }
}

impl Quirks {
    /// The error a provider reports with `"<ok_field>": false`, if this answer is one.
    pub fn failure_in(&self, doc: &Value) -> Option<String> {
        let field = self.ok_field.as_deref()?;
        if doc.get(field).and_then(Value::as_bool) != Some(false) {
            return None;
        }
        let error = doc.get("error").and_then(Value::as_str).unwrap_or("unknown_error");
        Some(printable(error, 80))
    }

    /// The first non-empty string (or number) at one of `pointers` in `doc`.
    pub fn pick(doc: &Value, pointers: &[String]) -> Option<String> {
        pointers.iter().find_map(|p| match doc.pointer(p)? {
            Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(|s| printable(s, 200)),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    }

    /// Rewrites a token endpoint's JSON answer into RFC 6749's shape. Returns the new body and
    /// status, and the account name found in it.
    pub fn normalize(&self, status: StatusCode, bytes: &[u8]) -> (StatusCode, Vec<u8>, Option<String>) {
        let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
            return (status, bytes.to_vec(), None); // oauth2 reports what it cannot parse
        };
        if let Some(error) = self.failure_in(&doc) {
            let body = serde_json::json!({ "error": as_rfc6749_error(&error).as_str(), "error_description": error });
            return (StatusCode::BAD_REQUEST, body.to_string().into_bytes(), None);
        }
        let nickname = Self::pick(&doc, &self.nickname_in_token);
        if let Some(at) = &self.token_at {
            if let Some(inner) = doc.pointer(at).filter(|v| v.get("access_token").is_some()).cloned() {
                doc = inner;
            }
        }
        if let (Some(alias), Some(Value::String(kind))) = (&self.bearer_alias, doc.get("token_type")) {
            if kind.eq_ignore_ascii_case(alias) {
                doc["token_type"] = Value::String("Bearer".into());
            }
        }
        (status, doc.to_string().into_bytes(), nickname)
    }
}

/// Error codes that do not follow RFC 6749 mapped onto it, so that a dead grant reads as
/// "reconnect" and a bad client as "check the client settings" everywhere.
fn as_rfc6749_error(error: &str) -> OAuthErrorCode {
    match error {
        "invalid_refresh_token"
        | "invalid_code"
        | "code_already_used"
        | "code_expired"
        | "token_revoked"
        | "token_expired" => OAuthErrorCode::InvalidGrant,
        "invalid_client_id" | "bad_client_secret" => OAuthErrorCode::InvalidClient,
        other => OAuthErrorCode::parse(other),
    }
}

/// Turns a form body into a JSON object of strings.
pub fn form_to_json(body: &[u8]) -> Vec<u8> {
    let object: Map<String, Value> =
        url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
    Value::Object(object).to_string().into_bytes()
}

/// The transport for one token request: the quirks undone on the way out and on the way back,
/// the account name found in the answer kept for [`TokenTransport::take_nickname`].
pub struct TokenTransport<'a> {
    http: &'a HttpClient,
    quirks: &'a Quirks,
    nickname: Mutex<Option<String>>,
}

impl<'a> TokenTransport<'a> {
    pub fn new(http: &'a HttpClient, quirks: &'a Quirks) -> Self {
        Self { http, quirks, nickname: Mutex::new(None) }
    }

    pub fn take_nickname(&self) -> Option<String> {
        lock(&self.nickname).take()
    }

    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, AuthError> {
        if self.quirks.json_body {
            let json = form_to_json(request.body());
            request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = json;
        }
        let response = self.http.oauth2_call(request).await?;
        if *self.quirks == Quirks::default() {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let (status, body, nickname) = self.quirks.normalize(parts.status, &body);
        *lock(&self.nickname) = nickname;
        let mut out = HttpResponse::from_parts(parts, body);
        *out.status_mut() = status;
        Ok(out)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenTransport<'_> {
    type Error = AuthError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, AuthError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(TokenTransport::call(self, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack() -> Quirks {
        Quirks {
            token_at: Some("/authed_user".into()),
            ok_field: Some("ok".into()),
            bearer_alias: Some("user".into()),
            ..Default::default()
        }
    }

    #[test]
    fn slack_user_token_is_lifted_out_of_authed_user() {
        let answer = br#"{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"identify","access_token":"xoxp-1","token_type":"user","refresh_token":"xoxe-1","expires_in":43200},"team":{"id":"T1","name":"Acme"}}"#;
        let (status, body, _) = slack().normalize(StatusCode::OK, answer);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["access_token"], "xoxp-1");
        assert_eq!(doc["refresh_token"], "xoxe-1");
        assert_eq!(doc["token_type"], "Bearer");
    }

    #[test]
    fn a_refresh_answer_with_the_token_at_the_top_is_kept() {
        let answer = br#"{"ok":true,"access_token":"xoxe.xoxp-2","token_type":"user","refresh_token":"xoxe-2","expires_in":43200}"#;
        let (_, body, _) = slack().normalize(StatusCode::OK, answer);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["access_token"], "xoxe.xoxp-2");
        assert_eq!(doc["token_type"], "Bearer");
    }

    #[test]
    fn ok_false_with_http_200_is_an_rfc6749_error() {
        let (status, body, _) = slack().normalize(StatusCode::OK, br#"{"ok":false,"error":"invalid_refresh_token"}"#);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(doc["error"], "invalid_grant");
    }

    #[test]
    fn form_bodies_become_json_objects() {
        let json = form_to_json(b"grant_type=authorization_code&code=a%2Bb&redirect_uri=x%3A%2Fy");
        let doc: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc, serde_json::json!({"grant_type": "authorization_code", "code": "a+b", "redirect_uri": "x:/y"}));
    }

    #[test]
    fn nickname_pointers_read_strings_and_numbers() {
        let doc = serde_json::json!({"owner": {"user": {"person": {"email": " "}}}, "portalId": 62515});
        assert_eq!(Quirks::pick(&doc, &["/owner/user/person/email".into(), "/portalId".into()]), Some("62515".into()));
    }
}
