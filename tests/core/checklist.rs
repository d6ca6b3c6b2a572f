//! One test (or more) per line of the native-app OAuth checklist (docs/security.md) that the core
//! owns: 1-11, 13-19 and 24. Lines 12 (loopback), 20-23 (refresh) and 25-26 (device grant,
//! discovery) belong to later layers.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::http::HttpClient;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::provider::Revocation;
use latchkey_core::redirect::{callback_from_args, redirect_uri, APP_IDENTIFIER, SCHEME};
use latchkey_core::{AuthError, AuthProvider, CallbackError};
use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Match, Mock, ResponseTemplate};
use latchkey_tests::{assert_not_logged, callback, http, query, unique, FakeProvider, Harness};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};

use crate::support::*;

fn is_callback_error(err: &AuthError, expected: CallbackError) -> bool {
    matches!(err, AuthError::Callback(e) if *e == expected)
}

#[tokio::test]
async fn checklist_01_the_authorization_url_goes_to_the_system_browser_and_is_never_fetched() {
    let fake = FakeProvider::start("acme").await;
    Mock::given(path("/authorize")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&fake.server).await;
    let h = Harness::new(vec![fake.provider()]);
    let pending = h.manager.connect(&fake.name).await.unwrap();
    assert_eq!(h.browser.opened(), vec![pending.url.clone()], "handed to the browser seam, once");
    assert!(pending.url.as_str().starts_with(&format!("{}/authorize?", fake.server.uri())));
}

#[tokio::test]
async fn checklist_02_only_the_authorization_code_flow_is_used_or_accepted() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    // Implicit-grant answers (tokens in the fragment or the query) are refused, with no request.
    let redirect = query(&url, "redirect_uri").unwrap();
    let state = query(&url, "state").unwrap();
    for implicit in [
        format!("{redirect}#access_token=x&token_type=bearer&state={state}"),
        format!("{redirect}?access_token=x&state={state}"),
        format!("{redirect}?id_token=x&code=c&state={state}"),
    ] {
        let err = h.manager.complete(&implicit).await.unwrap_err();
        assert!(matches!(err, AuthError::Callback(CallbackError::Malformed(_))), "{err:?}");
    }
    // The genuine code answer still completes, through an authorization_code grant.
    let c = h.manager.complete(&callback(&url, "&code=c")).await.unwrap();
    let requests = fake.server.received_requests().await.unwrap();
    let grants: Vec<_> = requests.iter().filter_map(|r| field(r, "grant_type")).collect();
    assert_eq!(grants, vec!["authorization_code"]);
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_03_every_authorization_request_carries_an_s256_challenge() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = query(&url, "code_challenge").unwrap();
    assert_eq!(challenge.len(), 43, "base64url of a SHA-256 digest");

    // ...unless the provider's entry says PKCE breaks it.
    let mut config = fake.config();
    config.spec.id = latchkey_core::ProviderId::new("nopkce").unwrap();
    config.spec.pkce = latchkey_core::description::Pkce::None;
    h.manager.add_provider(Arc::new(GenericOAuth2Provider::new(config, http()).unwrap()));
    h.manager.connect(&latchkey_core::ProviderId::new("nopkce").unwrap()).await.unwrap();
    let url = h.browser.last();
    assert!(query(&url, "code_challenge").is_none());
    assert!(query(&url, "code_challenge_method").is_none());
}

#[tokio::test]
async fn checklist_04_the_verifier_is_fresh_well_formed_and_sent_only_in_the_token_request() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let challenge = query(&url, "code_challenge").unwrap();
    h.manager.complete(&callback(&url, "&code=c")).await.unwrap();

    let requests = fake.server.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    let verifier = field(token_request, "code_verifier").expect("a verifier in the token request");
    assert!((43..=128).contains(&verifier.len()));
    assert!(verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    assert!(VerifierFor(challenge).matches(token_request));
    assert!(!url.as_str().contains(&verifier), "not in the authorization URL");
    for other in requests.iter().filter(|r| r.url.path() != "/token") {
        assert!(!String::from_utf8_lossy(&other.body).contains(&verifier));
        assert!(!other.url.as_str().contains(&verifier));
    }
    assert_not_logged(&[&verifier]);
}

#[test]
fn checklist_04_pkce_matches_the_rfc_7636_appendix_b_vector() {
    let verifier = PkceCodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    assert_eq!(challenge.as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert_eq!(challenge.method().as_str(), "S256");
}

#[tokio::test]
async fn checklist_05_state_has_256_random_bits_is_exact_and_single_use() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;

    let mut states = std::collections::HashSet::new();
    for _ in 0..20 {
        h.manager.connect(&fake.name).await.unwrap();
        let state = query(&h.browser.last(), "state").unwrap();
        assert_eq!(state.len(), 43, "32 bytes, base64url without padding");
        assert!(state.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(states.insert(state));
    }
    let url = h.browser.last();
    let state = query(&url, "state").unwrap();
    let redirect = query(&url, "redirect_uri").unwrap();
    // Near misses are refused and leave the real flow alone.
    let mut flipped = state.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    for near in [
        state[..42].to_owned(),
        format!("{state}x"),
        String::from_utf8(flipped).unwrap(),
        state.to_ascii_lowercase(),
        format!(" {state}"),
    ] {
        if near == state {
            continue;
        }
        let near: String = url::form_urlencoded::byte_serialize(near.as_bytes()).collect();
        let err = h.manager.complete(&format!("{redirect}?code=c&state={near}")).await.unwrap_err();
        assert!(is_callback_error(&err, CallbackError::UnknownState), "{err:?}");
    }
    h.manager.complete(&callback(&url, "&code=c")).await.unwrap();
    let again = h.manager.complete(&callback(&url, "&code=c")).await.unwrap_err();
    assert!(is_callback_error(&again, CallbackError::UnknownState));
}

#[tokio::test]
async fn checklist_06_unknown_state_is_refused_without_any_request() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let err =
        h.manager.complete("dev.latchkey.desktop:/oauth/callback/acme?code=c&state=never-issued").await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::UnknownState), "{err:?}");
    assert_eq!(h.keychain_entries(), 0);
}

#[tokio::test]
async fn checklist_06_a_replayed_callback_is_refused_and_the_code_used_once() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let cb = callback(&h.browser.last(), "&code=c");
    let connection = h.manager.complete(&cb).await.unwrap();
    let err = h.manager.complete(&cb).await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::UnknownState), "{err:?}");
    assert_eq!(h.manager.list().len(), 1);
    h.manager.vault().delete(&connection.id).await.unwrap();
}

#[tokio::test]
async fn checklist_06_an_expired_state_is_refused_without_any_request() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::with_ttl(vec![fake.provider()], Duration::from_millis(200));
    h.manager.connect(&fake.name).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::Expired), "{err:?}");
    assert!(err.to_string().contains("expired"));
    assert_eq!(h.keychain_entries(), 0);
}

#[tokio::test]
async fn checklist_07_state_and_scope_carry_nothing_sensitive() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let state = query(&url, "state").unwrap();
    for sensitive in [fake.client_id.as_str(), fake.client_secret.as_str(), "acme", "callback"] {
        assert!(!state.contains(sensitive));
    }
    assert_eq!(query(&url, "scope").as_deref(), Some("read profile"), "exactly the configured scopes");
    assert!(!url.as_str().contains(&fake.client_secret), "the client secret is not in the URL");
}

#[tokio::test]
async fn checklist_08_the_code_is_exchanged_only_at_the_flows_provider() {
    let a = FakeProvider::start("alpha").await;
    let b = FakeProvider::start("beta").await;
    forbid_token(&a).await;
    forbid_token(&b).await;
    let h = Harness::new(vec![a.provider(), b.provider()]);
    h.manager.connect(&a.name).await.unwrap();
    let state = query(&h.browser.last(), "state").unwrap();
    // Alpha's state arriving on beta's path: a mix-up. Nothing is exchanged anywhere.
    let err = h
        .manager
        .complete(&format!("dev.latchkey.desktop:/oauth/callback/beta?code=c&state={state}"))
        .await
        .unwrap_err();
    assert!(is_callback_error(&err, CallbackError::ProviderMismatch), "{err:?}");
    assert_eq!(h.keychain_entries(), 0);
}

async fn iss_harness(issuer: Option<&str>, requires: bool) -> (FakeProvider, Harness) {
    let fake = FakeProvider::start("oidc").await;
    let mut config = fake.config();
    config.spec.issuer = issuer.map(str::to_owned);
    config.spec.requires_iss = requires;
    let provider: Arc<dyn AuthProvider> = Arc::new(GenericOAuth2Provider::new(config, http()).unwrap());
    let h = Harness::new(vec![provider]);
    (fake, h)
}

#[tokio::test]
async fn checklist_09_a_wrong_iss_aborts_the_flow() {
    let (fake, h) = iss_harness(Some("https://id.example"), false).await;
    forbid_token(&fake).await;
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let err = h.manager.complete(&callback(&url, "&code=c&iss=https%3A%2F%2Fevil.example")).await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::IssuerMismatch), "{err:?}");
    // Aborted means aborted: the right answer afterwards finds no flow.
    let err = h.manager.complete(&callback(&url, "&code=c&iss=https%3A%2F%2Fid.example")).await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::UnknownState), "{err:?}");
}

#[tokio::test]
async fn checklist_09_a_missing_iss_is_refused_where_the_server_promises_it() {
    let (fake, h) = iss_harness(Some("https://id.example"), true).await;
    forbid_token(&fake).await;
    h.manager.connect(&fake.name).await.unwrap();
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(is_callback_error(&err, CallbackError::MissingIssuer), "{err:?}");
}

#[tokio::test]
async fn checklist_09_a_matching_iss_is_accepted() {
    let (fake, h) = iss_harness(Some("https://id.example"), true).await;
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c&iss=https%3A%2F%2Fid.example")).await.unwrap();
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_10_each_provider_has_its_own_redirect_path_checked_on_arrival() {
    let a = FakeProvider::start("alpha").await;
    let b = FakeProvider::start("beta").await;
    forbid_token(&a).await;
    let h = Harness::new(vec![a.provider(), b.provider()]);
    h.manager.connect(&a.name).await.unwrap();
    let url_a = h.browser.last();
    h.manager.connect(&b.name).await.unwrap();
    let url_b = h.browser.last();
    assert_eq!(query(&url_a, "redirect_uri").unwrap(), "dev.latchkey.desktop:/oauth/callback/alpha");
    assert_eq!(query(&url_b, "redirect_uri").unwrap(), "dev.latchkey.desktop:/oauth/callback/beta");
    // A path of no provider at all.
    let state = query(&url_a, "state").unwrap();
    let err = h
        .manager
        .complete(&format!("dev.latchkey.desktop:/oauth/callback/gamma?code=c&state={state}"))
        .await
        .unwrap_err();
    assert!(is_callback_error(&err, CallbackError::UnknownProvider), "{err:?}");
}

#[test]
fn checklist_11_the_scheme_is_a_reverse_domain_name_with_one_slash() {
    assert_eq!(SCHEME, APP_IDENTIFIER);
    let labels: Vec<&str> = SCHEME.split('.').collect();
    assert!(labels.len() >= 3, "reverse-domain, not a bare word");
    assert!(labels.iter().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase())));
    let uri = redirect_uri(&latchkey_core::ProviderId::new("acme").unwrap());
    assert!(uri.starts_with(&format!("{SCHEME}:/")));
    assert!(!uri.starts_with(&format!("{SCHEME}://")));
    // The Tauri app is registered under the same identifier and scheme.
    let conf: serde_json::Value = serde_json::from_str(include_str!("../../src-tauri/tauri.conf.json")).unwrap();
    assert_eq!(conf["identifier"], APP_IDENTIFIER);
    assert_eq!(conf["plugins"]["deep-link"]["desktop"]["schemes"][0], SCHEME);
}

#[tokio::test]
async fn checklist_13_the_token_request_carries_exactly_the_authorization_redirect_uri() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let c = h.manager.complete(&callback(&url, "&code=c")).await.unwrap();
    let requests = fake.server.received_requests().await.unwrap();
    let token = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert_eq!(field(token, "redirect_uri"), query(&url, "redirect_uri"));
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_14_deep_links_are_accepted_only_for_our_scheme_and_path_as_one_argument() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let state = query(&url, "state").unwrap();
    let junk = [
        String::new(),
        "not a url".into(),
        format!("https://evil.example/oauth/callback/acme?code=c&state={state}"),
        format!("com.other.app:/oauth/callback/acme?code=c&state={state}"),
        format!("dev.latchkey.desktop://acme?code=c&state={state}"),
        format!("dev.latchkey.desktop:/oauth/callback/acme/x?code=c&state={state}"),
        format!("dev.latchkey.desktop:/oauth/other/acme?code=c&state={state}"),
        format!("dev.latchkey.desktop:/oauth/callback/acme?code=c&code=d&state={state}"),
        format!("dev.latchkey.desktop:/oauth/callback/acme?code=c&state={state}&state={state}"),
        "dev.latchkey.desktop:/oauth/callback/acme?code=c".into(),
        format!("dev.latchkey.desktop:/oauth/callback/acme?code={}&state={state}", "x".repeat(10_000)),
        "dev.latchkey.desktop:/oauth/callback/acme?%ff%fe=\u{0}".into(),
    ];
    for raw in &junk {
        assert!(h.manager.complete(raw).await.is_err(), "accepted {raw:?}");
    }
    // None of these consumed the flow: the genuine callback would still be taken.
    assert_eq!(h.manager.pending_flows().len(), 1);
    assert_eq!(h.keychain_entries(), 0);
    let link = callback(&url, "&code=c");
    assert_eq!(callback_from_args(&["latchkey".to_owned(), link.clone()]), Some(link.as_str()));
    assert_eq!(callback_from_args(&["latchkey".to_owned(), link.clone(), link.clone()]), None);
    assert_eq!(callback_from_args(&["latchkey".to_owned(), "--x".into(), link.clone()]), None);
}

#[tokio::test]
async fn checklist_15_the_client_secret_is_never_logged_and_public_clients_use_pkce_alone() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, Some("rt")).await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert_not_logged(&[&fake.client_secret]);
    assert!(!format!("{:?}", fake.config()).contains(&fake.client_secret), "Debug redacts it");
    h.manager.vault().delete(&c.id).await.unwrap();

    // Without a secret: a public client, PKCE only, no client_secret sent.
    let public = FakeProvider::start("public").await;
    let mut config = public.config();
    config.client_secret = None;
    let provider: Arc<dyn AuthProvider> = Arc::new(GenericOAuth2Provider::new(config, http()).unwrap());
    let h = Harness::new(vec![provider]);
    mount_happy_path(&public, None).await;
    h.manager.connect(&public.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    let requests = public.server.received_requests().await.unwrap();
    let token = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert!(field(token, "client_secret").is_none());
    assert!(field(token, "code_verifier").is_some());
    assert_eq!(field(token, "client_id"), Some(public.client_id.clone()));
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_16_the_code_is_exchanged_at_once_and_only_once() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let cb = callback(&h.browser.last(), "&code=c");
    // Two deliveries of the same link at the same moment: one exchange.
    let (first, second) = tokio::join!(h.manager.complete(&cb), h.manager.complete(&cb));
    let ok: Vec<_> = [first, second].into_iter().filter_map(Result::ok).collect();
    assert_eq!(ok.len(), 1);
    h.manager.vault().delete(&ok[0].id).await.unwrap();
}

#[tokio::test]
async fn checklist_17_access_tokens_travel_only_in_the_authorization_header() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = mount_happy_path(&fake, None).await;
    Mock::given(method("POST")).and(path("/revoke")).respond_with(ResponseTemplate::new(200)).mount(&fake.server).await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    h.manager.disconnect(&c.id).await.unwrap();
    for request in fake.server.received_requests().await.unwrap() {
        assert!(!request.url.as_str().contains(&access), "token in a URL: {}", request.url.path());
        if request.url.path() == "/userinfo" {
            assert!(!String::from_utf8_lossy(&request.body).contains(&access));
            assert_eq!(request.headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {access}"));
        }
    }
}

#[tokio::test]
async fn checklist_18_tokens_go_only_into_the_keychain() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = unique("at");
    let refresh = unique("rt");
    mount_token(&fake, &access, Some(&refresh), 1).await;
    mount_userinfo(&fake, &access, "ada@example.com", 1).await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    let stored = h.keychain(c.id.as_str()).unwrap();
    assert!(stored.contains(&access) && stored.contains(&refresh), "the keychain has them");
    // Nowhere else: the data directory, what list() gives the UI, its Debug, the log.
    let files = latchkey_tests::files_under(h.data_dir.path());
    assert!(files.iter().any(|f| f.ends_with("connections.json")), "the files were looked at");
    for file in files {
        let content = std::fs::read(file).unwrap();
        let content = String::from_utf8_lossy(&content);
        assert!(!content.contains(&access) && !content.contains(&refresh));
    }
    let ui = serde_json::to_string(&h.manager.list()).unwrap() + &format!("{:?}", h.manager.list());
    assert!(!ui.contains(&access) && !ui.contains(&refresh));
    assert_not_logged(&[&access, &refresh]);
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_18_error_messages_carry_no_token() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = unique("at");
    // A token response that is unusable (DPoP) and an account endpoint that echoes the token.
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access, "token_type": "DPoP"
        })))
        .expect(1)
        .mount(&fake.server)
        .await;
    h.manager.connect(&fake.name).await.unwrap();
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(!err.to_string().contains(&access) && !format!("{err:?}").contains(&access));
    assert!(err.to_string().contains("bearer"), "{err}");
    assert_not_logged(&[&access]);
}

#[tokio::test]
async fn checklist_19_every_provider_endpoint_must_use_tls() {
    let fake = FakeProvider::start("acme").await;
    let mut config = fake.config();
    config.spec.token_url = url::Url::parse("http://tokens.example/token").unwrap();
    let err = GenericOAuth2Provider::new(config, http()).err().expect("refused");
    assert!(matches!(err, AuthError::InvalidConfig(_)), "{err:?}");
    let mut config = fake.config();
    config.spec.revoke_url = Some(url::Url::parse("http://localhost:1/revoke").unwrap());
    assert!(GenericOAuth2Provider::new(config, http()).is_err(), "the name localhost is not loopback enough");
    // Loopback test servers (and the Demo provider) are the only plain-HTTP exception.
    assert!(GenericOAuth2Provider::new(fake.config(), http()).is_ok());
    // The check is also made at request time, for every request.
    let client = HttpClient::new(Duration::from_secs(1)).unwrap();
    let request = client.inner().get("http://example.com/").build().unwrap();
    assert!(matches!(client.execute(request).await, Err(AuthError::InvalidConfig(_))));
}

#[tokio::test]
async fn checklist_24_disconnect_revokes_with_a_form_post_and_deletes() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = mount_happy_path(&fake, None).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(latchkey_tests::wiremock::matchers::header("content-type", "application/x-www-form-urlencoded"))
        .and(FormHas(vec![
            ("token", access.clone()),
            ("token_type_hint", "access_token".into()),
            ("client_id", fake.client_id.clone()),
        ]))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&fake.server)
        .await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    h.manager.disconnect(&c.id).await.unwrap();
    assert_eq!(h.keychain(c.id.as_str()), None);
}

/// RFC 7009 lets a server keep a grant alive when only its access token is revoked: the refresh
/// token is revoked first, then the access token, and only both confirmed make "revoked".
#[tokio::test]
async fn checklist_24_disconnect_revokes_the_refresh_token_first_then_the_access_token() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let refresh = unique("rt");
    let access = mount_happy_path(&fake, Some(&refresh)).await;
    for (token, hint) in [(&refresh, "refresh_token"), (&access, "access_token")] {
        Mock::given(method("POST"))
            .and(path("/revoke"))
            .and(FormHas(vec![("token", token.clone()), ("token_type_hint", hint.into())]))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&fake.server)
            .await;
    }
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert_eq!(h.manager.disconnect(&c.id).await.unwrap(), Revocation::Revoked);
    let revocations: Vec<String> = fake
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/revoke")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(revocations.len(), 2, "{revocations:?}");
    assert!(revocations[0].contains("token_type_hint=refresh_token"), "the refresh token first: {revocations:?}");
    assert!(revocations[1].contains("token_type_hint=access_token"), "{revocations:?}");
    assert_eq!(h.keychain(c.id.as_str()), None);
}

/// The three results a disconnect can have: revoked; not confirmed (the refresh token refused,
/// even when the access token was taken); not supported (no endpoint: it used to say "revoked").
#[tokio::test]
async fn checklist_24_disconnect_says_revoked_not_confirmed_or_not_supported() {
    async fn disconnect_with(refresh_answer: u16, endpoint: bool) -> Revocation {
        let fake = FakeProvider::start("acme").await;
        let mut config = fake.config();
        if !endpoint {
            config.spec.revoke_url = None;
        }
        let provider: Arc<dyn AuthProvider> = Arc::new(GenericOAuth2Provider::new(config, http()).unwrap());
        let h = Harness::new(vec![provider]);
        mount_happy_path(&fake, Some("rt")).await;
        Mock::given(path("/revoke"))
            .and(FormHas(vec![("token_type_hint", "refresh_token".into())]))
            .respond_with(ResponseTemplate::new(refresh_answer))
            .mount(&fake.server)
            .await;
        Mock::given(path("/revoke"))
            .and(FormHas(vec![("token_type_hint", "access_token".into())]))
            .respond_with(ResponseTemplate::new(200))
            .mount(&fake.server)
            .await;
        h.manager.connect(&fake.name).await.unwrap();
        let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
        let result = h.manager.disconnect(&c.id).await.unwrap();
        assert_eq!(h.keychain(c.id.as_str()), None, "deleted whatever the provider said");
        result
    }
    assert_eq!(disconnect_with(200, true).await, Revocation::Revoked);
    assert_eq!(disconnect_with(503, true).await, Revocation::NotConfirmed);
    assert_eq!(disconnect_with(400, true).await, Revocation::NotConfirmed);
    assert_eq!(disconnect_with(200, false).await, Revocation::NotSupported);
}

async fn disconnect_despite(revoke: Option<ResponseTemplate>, revoke_url: Option<&str>) {
    let fake = FakeProvider::start("acme").await;
    let mut config = fake.config();
    config.spec.revoke_url = revoke_url.map(|u| url::Url::parse(&u.replace("{server}", &fake.server.uri())).unwrap());
    let provider: Arc<dyn AuthProvider> = Arc::new(GenericOAuth2Provider::new(config, http()).unwrap());
    let h = Harness::new(vec![provider]);
    mount_happy_path(&fake, Some("rt")).await;
    if let Some(response) = revoke {
        // The refresh token, then the access token: both are tried whatever the first answer.
        Mock::given(path("/revoke")).respond_with(response).expect(2).mount(&fake.server).await;
    }
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert!(h.keychain(c.id.as_str()).is_some());
    h.manager.disconnect(&c.id).await.unwrap();
    assert_eq!(h.keychain(c.id.as_str()), None);
    assert_eq!(h.keychain_entries(), 0);
    assert!(h.manager.list().is_empty());
}

#[tokio::test]
async fn checklist_24_disconnect_deletes_even_when_revocation_fails() {
    disconnect_despite(Some(ResponseTemplate::new(500).set_body_string("oops")), Some("{server}/revoke")).await;
    disconnect_despite(
        Some(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error":"unsupported_token_type"}))),
        Some("{server}/revoke"),
    )
    .await;
}

#[tokio::test]
async fn checklist_24_disconnect_deletes_when_the_provider_is_unreachable_or_has_no_endpoint() {
    disconnect_despite(None, Some("http://127.0.0.1:9/revoke")).await;
    disconnect_despite(None, None).await;
}

// --- Line 25: the device authorization grant (RFC 8628) -------------------------------------

/// A provider faked on wiremock that offers the device grant at `/device`.
async fn device_provider(fake: &FakeProvider, interval: Option<u64>, expires_in: u64) -> Arc<dyn AuthProvider> {
    let mut config = fake.config();
    config.spec.device_url = Some(url::Url::parse(&format!("{}/device", fake.server.uri())).unwrap());
    let mut answer = serde_json::json!({
        "device_code": "dev-code-1", "user_code": "WDJB-MJHT",
        "verification_uri": "https://example.com/device", "expires_in": expires_in,
    });
    if let Some(i) = interval {
        answer["interval"] = i.into();
    }
    Mock::given(method("POST"))
        .and(path("/device"))
        .and(FormHas(vec![("client_id", fake.client_id.clone())]))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&fake.server)
        .await;
    Arc::new(GenericOAuth2Provider::new(config, http()).unwrap())
}

/// The token endpoint's next answers to the device grant, in order.
async fn device_answers(fake: &FakeProvider, answers: Vec<ResponseTemplate>) {
    for answer in answers {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(FormHas(vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".into()),
                ("device_code", "dev-code-1".into()),
            ]))
            .respond_with(answer)
            .up_to_n_times(1)
            .expect(1)
            .mount(&fake.server)
            .await;
    }
}

fn oauth_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({ "error": error }))
}

/// A clock that records each wait instead of waiting: the virtual time of the polls.
#[derive(Clone, Default)]
struct Waits(Arc<std::sync::Mutex<Vec<u64>>>);

impl Waits {
    fn sleeper(&self) -> impl FnMut(Duration) -> std::future::Ready<()> {
        let waits = self.0.clone();
        move |d| {
            waits.lock().unwrap().push(d.as_secs());
            std::future::ready(())
        }
    }
    fn seconds(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn checklist_25_device_grant_polls_no_faster_than_the_interval_and_slows_down_when_told() {
    let fake = FakeProvider::start("acme").await;
    let provider = device_provider(&fake, Some(7), 600).await;
    device_answers(
        &fake,
        vec![
            oauth_error(400, "authorization_pending"),
            // GitHub's form: 200 with the error in the body.
            oauth_error(200, "authorization_pending"),
            oauth_error(400, "slow_down"),
            oauth_error(400, "authorization_pending"),
            oauth_error(400, "slow_down"),
            ResponseTemplate::new(200).set_body_json(token_body("at-device", Some("rt-device"), 3600)),
        ],
    )
    .await;
    let code = provider.start_device().await.unwrap();
    assert_eq!(code.user_code, "WDJB-MJHT");
    assert!(!format!("{code:?}").contains("dev-code-1"), "the device code stays out of Debug");
    let waits = Waits::default();
    let tokens = latchkey_core::device::wait_for_tokens(&*provider, &code, waits.sleeper(), || false).await.unwrap();
    assert_eq!(tokens.access_token.secret(), "at-device");
    // 7 s, as asked; 5 s more after each slow_down; never less.
    assert_eq!(waits.seconds(), vec![7, 7, 7, 12, 12, 17]);
}

#[tokio::test]
async fn checklist_25_device_grant_waits_5_s_when_the_provider_names_no_interval() {
    let fake = FakeProvider::start("acme").await;
    let provider = device_provider(&fake, None, 600).await;
    device_answers(
        &fake,
        vec![
            oauth_error(400, "authorization_pending"),
            ResponseTemplate::new(200).set_body_json(token_body("at-device", None, 3600)),
        ],
    )
    .await;
    let code = provider.start_device().await.unwrap();
    let waits = Waits::default();
    latchkey_core::device::wait_for_tokens(&*provider, &code, waits.sleeper(), || false).await.unwrap();
    assert_eq!(waits.seconds(), vec![5, 5]);
}

#[tokio::test]
async fn checklist_25_device_grant_stops_at_denial_expiry_or_any_other_error() {
    for (error, expected) in
        [("access_denied", "access_denied"), ("expired_token", "expired_token"), ("server_melted", "server_melted")]
    {
        let fake = FakeProvider::start("acme").await;
        let provider = device_provider(&fake, Some(5), 600).await;
        device_answers(&fake, vec![oauth_error(400, "authorization_pending"), oauth_error(400, error)]).await;
        let code = provider.start_device().await.unwrap();
        let waits = Waits::default();
        let err =
            latchkey_core::device::wait_for_tokens(&*provider, &code, waits.sleeper(), || false).await.unwrap_err();
        assert!(
            matches!(&err, AuthError::ProviderRefused { error, .. } if error.as_str() == expected),
            "{error}: {err:?}"
        );
        assert_eq!(waits.seconds().len(), 2, "{error}: no poll after it");
    }
    // The code's lifetime runs out: 10 s at 5 s a poll is two polls, then it stops by itself.
    let fake = FakeProvider::start("acme").await;
    let provider = device_provider(&fake, Some(5), 10).await;
    device_answers(&fake, vec![oauth_error(400, "authorization_pending"), oauth_error(400, "authorization_pending")])
        .await;
    let code = provider.start_device().await.unwrap();
    let err = latchkey_core::device::wait_for_tokens(&*provider, &code, Waits::default().sleeper(), || false)
        .await
        .unwrap_err();
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error.as_str() == "expired_token"), "{err:?}");
}

#[tokio::test]
async fn checklist_25_no_poll_after_a_cancel() {
    let fake = FakeProvider::start("acme").await;
    let provider = device_provider(&fake, Some(5), 600).await;
    device_answers(&fake, vec![oauth_error(400, "authorization_pending")]).await;
    let code = provider.start_device().await.unwrap();
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    let waits = Waits::default();
    let record = waits.clone();
    let sleep = move |d: Duration| {
        // The person cancels while the second wait runs.
        let mut w = record.0.lock().unwrap();
        w.push(d.as_secs());
        std::future::ready(())
    };
    let err = latchkey_core::device::wait_for_tokens(&*provider, &code, sleep, || {
        let polls = waits.seconds().len();
        let cancel = polls >= 2;
        if cancel {
            cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        cancel
    })
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::Cancelled), "{err:?}");
    assert!(cancelled.load(std::sync::atomic::Ordering::SeqCst));
    // One poll (its mock expects exactly one): the cancel came before the second.
}
