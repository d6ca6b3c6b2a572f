//! Mocks and matchers shared by the core tests.

use latchkey_tests::wiremock::matchers::{header, method, path};
use latchkey_tests::wiremock::{Match, Mock, Request, ResponseTemplate};
use latchkey_tests::FakeProvider;

/// The form fields of a request body.
/// The fields of a token request: a form, or a JSON object of strings (Notion, Atlassian).
pub fn form(request: &Request) -> Vec<(String, String)> {
    let json = request.headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        let doc: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let fields = doc.as_object().cloned().unwrap_or_default();
        return fields.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))).collect();
    }
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

pub fn field(request: &Request, key: &str) -> Option<String> {
    form(request).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Matches a form body that has every one of these fields with exactly these values.
pub struct FormHas(pub Vec<(&'static str, String)>);

impl Match for FormHas {
    fn matches(&self, request: &Request) -> bool {
        let fields = form(request);
        self.0.iter().all(|(k, v)| fields.iter().filter(|(fk, _)| fk == k).map(|(_, fv)| fv).eq([v]))
    }
}

/// Matches a token request whose `code_verifier` hashes (S256) to `challenge`.
pub struct VerifierFor(pub String);

impl Match for VerifierFor {
    fn matches(&self, request: &Request) -> bool {
        let Some(verifier) = field(request, "code_verifier") else { return false };
        let computed = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&oauth2::PkceCodeVerifier::new(verifier));
        computed.as_str() == self.0
    }
}

pub fn token_body(access: &str, refresh: Option<&str>, expires_in: u64) -> serde_json::Value {
    let mut body = serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": "read profile",
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
    }
    body
}

/// A token endpoint that answers the code exchange once with these tokens.
pub async fn mount_token(fake: &FakeProvider, access: &str, refresh: Option<&str>, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormHas(vec![("grant_type", "authorization_code".into())]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, refresh, 3600)))
        .expect(expect)
        .named("token")
        .mount(&fake.server)
        .await;
}

/// A userinfo endpoint that gives `nickname` to a request bearing `access`.
pub async fn mount_userinfo(fake: &FakeProvider, access: &str, nickname: &str, expect: u64) {
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "email": nickname, "id": 7 })))
        .expect(expect)
        .named("userinfo")
        .mount(&fake.server)
        .await;
}

/// A provider that answers one code exchange (with a fresh access token, returned) and one
/// nickname request for it ("ada@example.com").
pub async fn mount_happy_path(fake: &FakeProvider, refresh: Option<&str>) -> String {
    let access = latchkey_tests::unique("at");
    mount_token(fake, &access, refresh, 1).await;
    mount_userinfo(fake, &access, "ada@example.com", 1).await;
    access
}

/// A token endpoint that must not be called.
pub async fn forbid_token(fake: &FakeProvider) {
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("token (must not be called)")
        .mount(&fake.server)
        .await;
}
