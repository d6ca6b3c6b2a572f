//! Linear, the contract's worked example: encoded URL, PKCE, GraphQL nickname, refresh, revoke.

use std::sync::Arc;

use latchkey_core::catalog;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::providers::linear;
use latchkey_core::{AuthError, AuthProvider};
use latchkey_tests::wiremock::matchers::{body_string_contains, header, method, path};
use latchkey_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use latchkey_tests::{callback, http, query, unique, Harness};
use oauth2::{PkceCodeChallenge, RefreshToken};

use crate::support::*;

/// Linear's description from the catalog, with these credentials.
fn linear_config(id: Option<&str>, secret: Option<&str>) -> latchkey_core::oauth2_generic::OAuth2Config {
    let entries = catalog::parse(catalog::BUILTIN).unwrap();
    let entry = entries.iter().find(|e| e.id.as_str() == "linear").unwrap();
    entry.config(id.map(str::to_owned), secret.map(str::to_owned))
}

/// Linear's real description with its endpoints moved to a local fake (tests only).
fn linear_at(server: &MockServer, secret: Option<&str>) -> GenericOAuth2Provider {
    let mut config = linear_config(Some("lin-client"), secret);
    let base = url::Url::parse(&server.uri()).unwrap();
    for url in [&mut config.spec.token_url, &mut config.spec.nickname.url] {
        url.set_scheme("http").unwrap();
        url.set_host(base.host_str()).unwrap();
        url.set_port(base.port()).unwrap();
    }
    config.spec.token_url.set_path("/oauth/token");
    config.spec.nickname.url.set_path("/graphql");
    config.spec.revoke_url = Some(url::Url::parse(&format!("{}/oauth/revoke", server.uri())).unwrap());
    linear::provider(config, http()).unwrap()
}

#[test]
fn linear_without_a_client_id_is_not_configured_and_says_what_to_set() {
    let provider = linear::provider(linear_config(None, None), http()).unwrap();
    let err = provider.check_configured().unwrap_err();
    assert!(matches!(err, AuthError::NotConfigured { .. }));
    assert!(err.to_string().contains("set LINEAR_CLIENT_ID"), "{err}");
    assert!(provider.get_url("dev.latchkey.desktop:/oauth/callback/linear", "s", None).is_err());
}

#[test]
fn linear_authorization_url_is_encoded_and_carries_pkce() {
    let provider = linear::provider(linear_config(Some("lin id"), None), http()).unwrap();
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let url = provider.get_url("dev.latchkey.desktop:/oauth/callback/linear", "st&ate", Some(&challenge)).unwrap();
    let text = url.as_str();
    assert!(text.starts_with("https://linear.app/oauth/authorize?"), "{text}");
    assert!(text.contains("redirect_uri=dev.latchkey.desktop%3A%2Foauth%2Fcallback%2Flinear"), "{text}");
    assert!(text.contains("client_id=lin+id") || text.contains("client_id=lin%20id"), "{text}");
    assert!(text.contains("state=st%26ate"), "{text}");
    assert_eq!(query(&url, "scope").as_deref(), Some("read,write"));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&url, "code_challenge").as_deref(), Some(challenge.as_str()));
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
}

#[tokio::test]
async fn linear_full_flow_reads_the_viewer_refreshes_and_revokes() {
    let server = MockServer::start().await;
    let provider = Arc::new(linear_at(&server, Some("lin-secret")));
    let h = Harness::new(vec![provider.clone()]);
    let (access, refresh) = (unique("lin-at"), unique("lin-rt"));

    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(FormHas(vec![
            ("grant_type", "authorization_code".into()),
            ("client_id", "lin-client".into()),
            ("client_secret", "lin-secret".into()),
            ("redirect_uri", "dev.latchkey.desktop:/oauth/callback/linear".into()),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": 86399, "scope": "read write"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .and(body_string_contains("viewer { id name email }"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": { "viewer": { "id": "lin-user-1", "name": "Ada Lovelace", "email": "ada@linear.example" } }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(FormHas(vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh.clone())]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "lin-at-2", "token_type": "Bearer", "expires_in": 86399
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(FormHas(vec![("token", access.clone())]))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    h.manager.connect(provider.name()).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=lin-code")).await.unwrap();
    assert_eq!(c.nickname, "ada@linear.example");
    assert_eq!(c.account_id.as_deref(), Some("lin-user-1"), "the viewer id, for reconnects");
    assert_eq!(c.scopes, vec!["read", "write"]);

    let refreshed = provider.refresh(&RefreshToken::new(refresh.clone())).await.unwrap();
    assert_eq!(refreshed.access_token.secret(), "lin-at-2");
    assert!(refreshed.refresh_token.is_none(), "Linear sent none; the caller keeps the old one");

    h.manager.disconnect(&c.id).await.unwrap();
    assert_eq!(h.keychain(c.id.as_str()), None);
}

#[tokio::test]
async fn linear_graphql_errors_are_reported_in_words() {
    let server = MockServer::start().await;
    Mock::given(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "errors": [{ "message": "Authentication required, not authenticated" }]
        })))
        .mount(&server)
        .await;
    let provider = linear_at(&server, None);
    let err = provider.get_nickname(&oauth2::AccessToken::new("t".into())).await.unwrap_err();
    assert!(err.to_string().contains("Authentication required"), "{err}");
}
