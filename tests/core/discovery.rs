//! Providers given by an issuer URL (checklist line 26): discovery against a fake issuer.

use latchkey_core::description::Pkce;
use latchkey_core::discovery::discover;
use latchkey_core::provider::RedirectKind;
use latchkey_core::{AuthError, ProviderId};
use latchkey_tests::http;
use latchkey_tests::wiremock::matchers::path;
use latchkey_tests::wiremock::{Mock, MockServer, ResponseTemplate};

fn metadata(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "code_challenge_methods_supported": ["plain", "S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["openid", "email", "profile", "offline_access", "admin"],
        "response_types_supported": ["code", "id_token"],
    })
}

fn id() -> ProviderId {
    ProviderId::new("company-sso").unwrap()
}

#[tokio::test]
async fn checklist_26_an_issuer_s_metadata_gives_endpoints_pkce_revocation_and_iss() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata(&issuer)))
        .expect(1)
        .mount(&server)
        .await;
    let config = discover(&http(), id(), "Company SSO", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert_eq!(config.authorize_url.as_str(), format!("{issuer}/authorize"));
    assert_eq!(config.token_url.as_str(), format!("{issuer}/token"));
    assert_eq!(config.revoke_url.unwrap().as_str(), format!("{issuer}/revoke"));
    assert_eq!(config.nickname.url.as_str(), format!("{issuer}/userinfo"));
    assert_eq!(config.pkce, Pkce::S256, "S256 is offered");
    assert!(config.requires_iss, "the server promises iss");
    assert_eq!(config.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(config.scopes, vec!["openid", "email", "profile", "offline_access"]);
    assert_eq!(config.redirect, vec![RedirectKind::Loopback]);
    assert_eq!(config.name, "Company SSO");
}

#[tokio::test]
async fn checklist_26_rfc_8414_metadata_is_read_when_there_is_no_openid_configuration() {
    let server = MockServer::start().await;
    let issuer = format!("{}/tenant", server.uri());
    let mut doc = metadata(&issuer);
    doc["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
    doc["authorization_response_iss_parameter_supported"] = false.into();
    Mock::given(path("/.well-known/oauth-authorization-server/tenant"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .expect(1)
        .mount(&server)
        .await;
    let config = discover(&http(), id(), "Tenant", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert_eq!(config.pkce, Pkce::None, "plain only: no PKCE rather than plain");
    assert!(!config.requires_iss);
}

async fn discovery_error(doc: ResponseTemplate) -> String {
    let server = MockServer::start().await;
    Mock::given(path("/.well-known/openid-configuration")).respond_with(doc).mount(&server).await;
    let err = discover(&http(), id(), "X", &url::Url::parse(&server.uri()).unwrap()).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidConfig(_) | AuthError::BadResponse { .. }), "{err:?}");
    err.to_string()
}

#[tokio::test]
async fn bad_issuers_and_broken_metadata_give_clear_errors() {
    let wrong_issuer =
        discovery_error(ResponseTemplate::new(200).set_body_json(metadata("https://evil.example"))).await;
    assert!(wrong_issuer.contains("another issuer"), "{wrong_issuer}");
    let broken = discovery_error(ResponseTemplate::new(200).set_body_string("{\"issuer\": ")).await;
    assert!(broken.contains("broken"), "{broken}");
    let missing = discovery_error(ResponseTemplate::new(404)).await;
    assert!(missing.contains("no metadata"), "{missing}");
    let err = discover(&http(), id(), "X", &url::Url::parse("http://id.example.com").unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
    let server = MockServer::start().await;
    let issuer = server.uri();
    let mut doc = metadata(&issuer);
    doc["token_endpoint"] = "http://tokens.example/token".into();
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    let err = discover(&http(), id(), "X", &url::Url::parse(&issuer).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("https"), "a plain-http endpoint in the metadata: {err}");
}

#[test]
fn an_oauth2_provider_given_by_its_endpoints_is_checked_and_described() {
    use latchkey_core::discovery::from_endpoints;
    let spec = from_endpoints(
        id(),
        "Tracker",
        "https://tracker.example/oauth/authorize",
        "https://tracker.example/oauth/token",
        "https://api.tracker.example/me",
        Some(""),
        "read write,admin",
    )
    .unwrap();
    assert_eq!(spec.name, "Tracker");
    assert_eq!(spec.scopes, vec!["read", "write", "admin"]);
    assert_eq!(spec.pkce, Pkce::S256);
    assert!(spec.revoke_url.is_none());
    assert_eq!(spec.issuer, None);
    assert_eq!(spec.redirect, vec![RedirectKind::Loopback]);
    let plain =
        from_endpoints(id(), "T", "http://tracker.example/a", "https://t.example/t", "https://t.example/me", None, "");
    assert!(plain.unwrap_err().to_string().contains("https"));
    let junk = from_endpoints(id(), "T", "not a url", "https://t.example/t", "https://t.example/me", None, "");
    assert!(junk.unwrap_err().to_string().contains("authorization URL"));
}

/// Issue 13: metadata that does not list PKCE methods turned PKCE off. Most servers support S256
/// without saying so; it is sent unless the metadata lists methods and S256 is not among them.
#[tokio::test]
async fn pkce_is_sent_when_the_metadata_lists_no_methods() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    let mut doc = metadata(&issuer);
    doc.as_object_mut().unwrap().remove("code_challenge_methods_supported");
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    let spec = discover(&http(), id(), "Quiet", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert_eq!(spec.pkce, Pkce::S256);
}

/// Issue 13: a provider added by issuer asked for `offline_access` without `prompt=consent`;
/// OpenID Connect servers that follow the spec then drop the scope and issue no refresh token.
#[tokio::test]
async fn offline_access_is_asked_for_with_prompt_consent_where_the_server_offers_it() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    let mut doc = metadata(&issuer);
    doc["prompt_values_supported"] = serde_json::json!(["none", "login", "consent"]);
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    let spec = discover(&http(), id(), "SSO", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert!(spec.scopes.iter().any(|s| s == "offline_access"));
    assert_eq!(spec.auth_params.get("prompt").map(String::as_str), Some("consent"));

    // A server that lists no consent prompt gets none; one without offline_access neither.
    let server = MockServer::start().await;
    let issuer = server.uri();
    let mut doc = metadata(&issuer);
    doc["prompt_values_supported"] = serde_json::json!(["none", "login"]);
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    let spec = discover(&http(), id(), "SSO", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert_eq!(spec.auth_params.get("prompt"), None);
}

/// Issue 13: an issuer with a query or a fragment is not an issuer (RFC 8414 §2); nothing is
/// fetched for it. A document that is not metadata is refused without its text in the message.
#[tokio::test]
async fn issuers_with_a_query_or_fragment_and_broken_metadata_are_refused_plainly() {
    let server = MockServer::start().await;
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"issuer": ["do-not-echo-this"]}"#))
        .expect(1)
        .mount(&server)
        .await;
    for odd in [format!("{}/?tenant=x", server.uri()), format!("{}/#frag", server.uri())] {
        let err = discover(&http(), id(), "X", &url::Url::parse(&odd).unwrap()).await.unwrap_err().to_string();
        assert!(err.contains("query") || err.contains("fragment"), "{odd}: {err}");
    }
    let err = discover(&http(), id(), "X", &url::Url::parse(&server.uri()).unwrap()).await.unwrap_err().to_string();
    assert!(!err.contains("do-not-echo-this"), "{err}");
}

/// The device grant (RFC 8628): an issuer that offers the device grant names its endpoint in its
/// metadata, and the added provider keeps it; one that names none offers no code sign-in.
#[tokio::test]
async fn the_device_authorization_endpoint_is_read_from_the_metadata() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    let mut doc = metadata(&issuer);
    doc["device_authorization_endpoint"] = format!("{issuer}/device").into();
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(&server)
        .await;
    let config = discover(&http(), id(), "Company SSO", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert_eq!(config.device_url.unwrap().as_str(), format!("{issuer}/device"));

    let plain = MockServer::start().await;
    let issuer = plain.uri();
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata(&issuer)))
        .mount(&plain)
        .await;
    let config = discover(&http(), id(), "Company SSO", &url::Url::parse(&issuer).unwrap()).await.unwrap();
    assert!(config.device_url.is_none());
}
