//! Bad input from outside: each gives a clear error, makes no request where none should be
//! made, and leaves the keychain as it was.

use std::time::Duration;

use latchkey_core::{AuthError, CallbackError};
use latchkey_tests::wiremock::matchers::path;
use latchkey_tests::wiremock::{Mock, ResponseTemplate};
use latchkey_tests::{assert_not_logged, callback, unique, FakeProvider, Harness};

use crate::support::*;

/// Starts a flow, lets the token endpoint answer `response`, and returns the error of the
/// callback after checking that nothing was stored.
async fn exchange_failure(response: ResponseTemplate) -> (AuthError, Harness) {
    let fake = FakeProvider::start("acme").await;
    Mock::given(path("/token")).respond_with(response).expect(1).mount(&fake.server).await;
    Mock::given(path("/userinfo")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&fake.server).await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(h.manager.list().is_empty());
    assert_eq!(h.keychain_entries(), 0);
    (err, h)
}

#[tokio::test]
async fn access_denied_is_reported_and_nothing_is_requested() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let err = h
        .manager
        .complete(&callback(&h.browser.last(), "&error=access_denied&error_description=The+user+said+no"))
        .await
        .unwrap_err();
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error == "access_denied"), "{err:?}");
    assert_eq!(err.to_string(), "access was declined at the provider: The user said no");
    assert_eq!(h.keychain_entries(), 0);
    assert!(h.manager.pending_flows().is_empty(), "the flow is over");
}

#[tokio::test]
async fn a_callback_for_a_provider_that_does_not_exist_is_refused() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    let pending = h.manager.connect(&fake.name).await.unwrap();
    let cb = callback(&pending.url, "&code=c").replace("/callback/acme", "/callback/nosuch");
    let err = h.manager.complete(&cb).await.unwrap_err();
    assert!(matches!(err, AuthError::Callback(CallbackError::UnknownProvider)), "{err:?}");
    assert_eq!(h.manager.pending_flows().len(), 1, "the real flow is untouched");
}

#[tokio::test]
async fn a_token_endpoint_answering_500_is_a_transient_error() {
    let (err, _h) =
        exchange_failure(ResponseTemplate::new(500).set_body_json(serde_json::json!({"error": "server_error"}))).await;
    assert!(matches!(err, AuthError::BadResponse { status: Some(500), .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_token_endpoint_answering_an_html_page_is_a_bad_response_whose_body_stays_out_of_the_message() {
    let page = "<html><body><h1>Sign-in service is down for maintenance</h1></body></html>";
    let (err, _h) =
        exchange_failure(ResponseTemplate::new(200).insert_header("content-type", "text/html").set_body_string(page))
            .await;
    match &err {
        AuthError::BadResponse { body, .. } => assert!(body.for_log().contains("maintenance"), "kept for the log"),
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("maintenance"), "{err}");
    let (err, _h) = exchange_failure(ResponseTemplate::new(502).set_body_string(page)).await;
    assert!(matches!(err, AuthError::BadResponse { status: Some(502), .. }), "{err:?}");
}

#[tokio::test]
async fn a_token_response_without_access_token_is_a_bad_response() {
    let (err, _h) = exchange_failure(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"token_type": "bearer", "refresh_token": "r"})),
    )
    .await;
    assert!(matches!(err, AuthError::BadResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("no access token"), "{err}");
    let (err, _h) =
        exchange_failure(ResponseTemplate::new(200).set_body_raw("{\"access_token\": \"trunc", "application/json"))
            .await;
    assert!(matches!(err, AuthError::BadResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_grant_at_the_token_endpoint_means_reconnect() {
    let (err, _h) = exchange_failure(
        ResponseTemplate::new(400)
            .set_body_json(serde_json::json!({"error": "invalid_grant", "error_description": "code expired"})),
    )
    .await;
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
}

#[tokio::test]
async fn other_oauth_errors_are_the_providers_refusal() {
    let (err, _h) = exchange_failure(
        ResponseTemplate::new(401)
            .set_body_json(serde_json::json!({"error": "invalid_client", "error_description": "bad client"})),
    )
    .await;
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error == "invalid_client"), "{err:?}");
    assert!(err.to_string().contains("client registration"), "{err}");
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_a_timeout() {
    let (err, _h) = exchange_failure(
        ResponseTemplate::new(200).set_body_json(token_body("late", None, 60)).set_delay(Duration::from_secs(3)),
    )
    .await;
    assert!(matches!(err, AuthError::Timeout), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_unreachable_provider_is_a_network_error() {
    let fake = FakeProvider::start("acme").await;
    let mut config = fake.config();
    config.spec.token_url = url::Url::parse("http://127.0.0.1:9/token").unwrap();
    let provider = std::sync::Arc::new(
        latchkey_core::oauth2_generic::GenericOAuth2Provider::new(config, latchkey_tests::http()).unwrap(),
    );
    let h = Harness::new(vec![provider]);
    h.manager.connect(&fake.name).await.unwrap();
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(matches!(err, AuthError::Network(_)), "{err:?}");
    assert!(!err.to_string().contains("127.0.0.1:9/token"), "no URL in the message: {err}");
    assert_eq!(h.keychain_entries(), 0);
}

#[tokio::test]
async fn junk_callbacks_never_panic_and_change_nothing() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let secret = unique("junk-code");
    for raw in [
        "\u{0}".to_owned(),
        "dev.latchkey.desktop:".into(),
        "dev.latchkey.desktop:/".into(),
        "dev.latchkey.desktop:/oauth/callback/".into(),
        "dev.latchkey.desktop:/oauth/callback/acme".into(),
        "dev.latchkey.desktop:/oauth/callback/acme?".into(),
        format!("dev.latchkey.desktop:/oauth/callback/acme?state=&code={secret}"),
        "dev.latchkey.desktop:/oauth/callback/acme?state=%00&code=%ff".into(),
        "DEV.LATCHKEY.DESKTOP:/oauth/callback/acme?state=x&code=y".into(),
        "dev.latchkey.desktop:/oauth/callback/acme?state=x&code=y&iss=".into(),
        "dev.latchkey.desktop:%2Foauth%2Fcallback%2Facme?state=x&code=y".into(),
        "javascript:alert(1)".into(),
        "file:///etc/passwd".into(),
    ] {
        assert!(h.manager.complete(&raw).await.is_err(), "accepted {raw:?}");
    }
    assert_eq!(h.manager.pending_flows().len(), 1);
    assert_eq!(h.keychain_entries(), 0);
    assert_not_logged(&[&secret]);
}

#[tokio::test]
async fn connecting_an_unconfigured_provider_says_what_to_set() {
    let fake = FakeProvider::start("acme").await;
    let mut config = fake.config();
    config.client_id = None;
    let provider = std::sync::Arc::new(
        latchkey_core::oauth2_generic::GenericOAuth2Provider::new(config, latchkey_tests::http()).unwrap(),
    );
    let h = Harness::new(vec![provider]);
    let err = h.manager.connect(&fake.name).await.unwrap_err();
    assert!(matches!(err, AuthError::NotConfigured { .. }), "{err:?}");
    assert_eq!(err.to_string(), "Fake acme is not configured: set FAKE_CLIENT_ID");
    assert!(h.browser.opened().is_empty());
    assert!(h.manager.pending_flows().is_empty());
}

/// Issue 13: a revocation endpoint that echoes the token in its error put the token in the log
/// (the body was filtered by key names only).
#[tokio::test]
async fn a_revocation_error_that_echoes_the_token_keeps_it_out_of_the_log() {
    let fake = FakeProvider::start("acme").await;
    let access = mount_happy_path(&fake, None).await;
    Mock::given(path("/revoke"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("the token {access} cannot be revoked now"),
            "detail": access,
        })))
        .mount(&fake.server)
        .await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert_eq!(h.manager.disconnect(&c.id).await.unwrap(), latchkey_core::provider::Revocation::NotConfirmed);
    assert!(latchkey_tests::logs().contains("revocation refused"), "the refusal is logged");
    assert_not_logged(&[&access]);
}

/// A browser that cannot be opened, whose error names the URL it was given (as the opener's do).
struct BrokenBrowser;
impl latchkey_core::Browser for BrokenBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        Err(format!("xdg-open failed for {url}"))
    }
}

/// Issue 13: when the browser could not be opened, the opener's error, with the whole
/// authorization URL (state, code challenge), went into the log.
#[tokio::test]
async fn a_browser_that_does_not_open_keeps_the_authorization_url_out_of_the_log() {
    latchkey_tests::init_logs();
    latchkey_tests::require_session_bus();
    let fake = FakeProvider::start("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let service = unique("dev.latchkey.test");
    let options = latchkey_core::manager::ManagerOptions {
        keychain_service: service.clone(),
        ..latchkey_core::manager::ManagerOptions::new(dir.path())
    };
    let vault = latchkey_core::vault::Vault::new(service);
    let manager = std::sync::Arc::new(
        latchkey_core::ConnectionManager::with_vault(options, vault, std::sync::Arc::new(BrokenBrowser)).unwrap(),
    );
    manager.add_provider(fake.provider());
    let pending = manager.connect(&fake.name).await.expect("the sign-in waits: the window offers the link");
    let state = latchkey_tests::query(&pending.url, "state").unwrap();
    let challenge = latchkey_tests::query(&pending.url, "code_challenge").unwrap();
    assert!(latchkey_tests::logs().contains("the browser did not open"));
    assert_not_logged(&[&state, &challenge]);
    manager.cancel(&pending.flow_id).await;
}
