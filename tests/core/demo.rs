//! The built-in Demo provider, end to end over HTTP: consent page, code with PKCE, `iss`,
//! rotating refresh tokens with reuse detection, revocation, restart survival.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::demo::{self, DemoAuthority, DemoOptions};
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::{AuthError, AuthProvider, ProviderId};
use latchkey_tests::{demo_consent, http, query, Harness};

async fn authority(key: [u8; 32], book: Option<std::path::PathBuf>) -> (DemoAuthority, Arc<GenericOAuth2Provider>) {
    let server = DemoAuthority::start(DemoOptions {
        key: key.to_vec(),
        book_path: book,
        access_lifetime: Duration::from_secs(120),
    })
    .await
    .unwrap();
    let provider = Arc::new(GenericOAuth2Provider::new(demo::config(&server.base_url()), http()).unwrap());
    (server, provider)
}

#[tokio::test]
async fn demo_connects_through_its_consent_page_and_the_deep_link() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, provider) = authority([1; 32], Some(dir.path().join("book.json"))).await;
    let h = Harness::new(vec![provider.clone()]);
    let pending = h.manager.connect(&ProviderId::new("demo").unwrap()).await.unwrap();
    let link = demo_consent(&pending.url, "ada", true).await;
    assert!(link.starts_with("dev.latchkey.desktop:/oauth/callback/demo?code="), "{link}");
    assert!(link.contains("iss=https%3A%2F%2Fdemo.latchkey.invalid"));
    let c = h.manager.complete(&link).await.unwrap();
    assert_eq!(c.nickname, "ada");
    let lifetime = (c.expires_at.unwrap() - c.connected_at).num_seconds();
    assert!((118..=120).contains(&lifetime), "{lifetime}");
    // The book on disk holds no token.
    let secrets = h.manager.vault().load(&c.id).await.unwrap().unwrap();
    let book = std::fs::read_to_string(dir.path().join("book.json")).unwrap();
    assert!(!book.contains(secrets.access_token.secret()));
    h.manager.disconnect(&c.id).await.unwrap();
    // Revoked: the old access token no longer works.
    let err = provider.get_nickname(&secrets.access_token).await.unwrap_err();
    assert!(matches!(err, AuthError::ProviderRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn demo_declined_consent_is_access_denied() {
    let (_server, provider) = authority([2; 32], None).await;
    let h = Harness::new(vec![provider]);
    let pending = h.manager.connect(&ProviderId::new("demo").unwrap()).await.unwrap();
    let link = demo_consent(&pending.url, "ada", false).await;
    let err = h.manager.complete(&link).await.unwrap_err();
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error == "access_denied"), "{err:?}");
}

#[tokio::test]
async fn demo_requires_pkce_s256() {
    let (server, _provider) = authority([3; 32], None).await;
    let url = server
        .base_url()
        .join("/authorize?response_type=code&client_id=latchkey-demo&redirect_uri=dev.latchkey.desktop%3A%2Foauth%2Fcallback%2Fdemo&state=s")
        .unwrap();
    let answer = http().inner().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_request"), "{location}");
    // An unregistered redirect is never redirected to.
    let url = server
        .base_url()
        .join(
            "/authorize?response_type=code&client_id=latchkey-demo&redirect_uri=https%3A%2F%2Fevil.example%2F&state=s",
        )
        .unwrap();
    let answer = http().inner().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.headers().get("location").is_none());
}

#[tokio::test]
async fn demo_rotates_refresh_tokens_and_revokes_the_grant_on_reuse() {
    let (_server, provider) = authority([4; 32], None).await;
    let h = Harness::new(vec![provider.clone()]);
    let pending = h.manager.connect(&ProviderId::new("demo").unwrap()).await.unwrap();
    let c = h.manager.complete(&demo_consent(&pending.url, "ada", true).await).await.unwrap();
    let first = h.manager.vault().load(&c.id).await.unwrap().unwrap().refresh_token.unwrap();

    let second = provider.refresh(&first).await.unwrap();
    let second_rt = second.refresh_token.clone().expect("a new refresh token");
    assert_ne!(second_rt.secret(), first.secret(), "rotated");
    assert_eq!(provider.get_nickname(&second.access_token).await.unwrap(), "ada");

    // Reusing the first one kills the grant, including the newest token.
    let err = provider.refresh(&first).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
    let err = provider.refresh(&second_rt).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn demo_tokens_survive_a_restart_of_the_authority() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book.json");
    let (server, provider) = authority([5; 32], Some(book.clone())).await;
    let h = Harness::new(vec![provider]);
    let pending = h.manager.connect(&ProviderId::new("demo").unwrap()).await.unwrap();
    // Consent given, then the app (and its authority) stops before the callback arrives.
    let link = demo_consent(&pending.url, "ada", true).await;
    drop(server);

    // The new authority listens on another port and still knows the code and the grant.
    let (_server, provider) = authority([5; 32], Some(book)).await;
    h.manager.add_provider(provider.clone());
    let c = h.manager.complete(&link).await.unwrap();
    let rt = h.manager.vault().load(&c.id).await.unwrap().unwrap().refresh_token.unwrap();
    assert!(provider.refresh(&rt).await.is_ok());
    assert_eq!(query(&pending.url, "client_id").as_deref(), Some("latchkey-demo"));
    h.manager.vault().delete(&c.id).await.unwrap();
}

/// Issue 13: the Demo server answered any `Host` (a web page could reach it by DNS rebinding).
#[tokio::test]
async fn demo_answers_only_requests_addressed_to_its_own_host() {
    let (server, _provider) = authority([3; 32], None).await;
    let base = server.base_url();
    let client = http();
    let ok = client.inner().get(base.clone()).send().await.unwrap();
    assert_eq!(ok.status(), 200, "its own 127.0.0.1:<port>");
    for host in ["evil.example", "localhost", "127.0.0.1"] {
        let refused = client.inner().get(base.clone()).header("host", host).send().await.unwrap();
        assert_eq!(refused.status(), 421, "Host: {host}");
    }
}

/// Issue 13: a replayed code revoked every grant of the user name in the code, which the caller
/// picks on the consent page: anyone could sign in as "ada", replay their own code, and end
/// ada's grants. Now a replay revokes only the grant that code produced.
#[tokio::test]
async fn demo_a_replayed_code_revokes_its_own_grant_only() {
    let (_server, provider) = authority([4; 32], None).await;
    let h = Harness::new(vec![provider.clone()]);
    // Ada connects.
    let pending = h.manager.connect(&ProviderId::new("demo").unwrap()).await.unwrap();
    let ada = h.manager.complete(&demo_consent(&pending.url, "ada", true).await).await.unwrap();
    // Someone else signs in calling themselves "ada", and replays their own code.
    let redirect = latchkey_core::redirect::redirect_uri(&ProviderId::new("demo").unwrap());
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let url = provider.get_url(&redirect, "their-state", Some(&challenge)).unwrap();
    let code = query_code(&demo_consent(&url, "ada", true).await);
    let secret = verifier.secret().clone();
    provider.exchange(&code, &redirect, Some(verifier)).await.unwrap();
    let replay = provider.exchange(&code, &redirect, Some(oauth2::PkceCodeVerifier::new(secret))).await;
    assert!(replay.is_err(), "a code is used once");
    // Ada's grant lives on: her connection still refreshes.
    let refreshed = h.manager.access_token(&ada.id, latchkey_core::refresh::Want::Forced).await;
    assert!(refreshed.is_ok(), "the replay revoked another sign-in's grant: {refreshed:?}");
    h.manager.vault().delete(&ada.id).await.unwrap();
}

fn query_code(link: &str) -> String {
    url::Url::parse(link).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned()
}

/// Signing the same account in again keeps the connection and replaces its tokens, and the grant
/// it replaced is revoked once the new tokens are stored (its refresh token no longer works);
/// the new grant is untouched.
#[tokio::test]
async fn signing_the_same_account_in_again_revokes_the_grant_it_replaced() {
    let (_server, provider) = authority([7; 32], None).await;
    let h = Harness::new(vec![provider.clone()]);
    let demo = ProviderId::new("demo").unwrap();
    let pending = h.manager.connect(&demo).await.unwrap();
    let first = h.manager.complete(&demo_consent(&pending.url, "ada", true).await).await.unwrap();
    let old = h.manager.vault().load(&first.id).await.unwrap().unwrap();

    let pending = h.manager.connect(&demo).await.unwrap();
    let again = h.manager.complete(&demo_consent(&pending.url, "ada", true).await).await.unwrap();
    assert_eq!(again.id, first.id, "the same connection");
    let new = h.manager.vault().load(&first.id).await.unwrap().unwrap();
    assert_ne!(new.access_token.secret(), old.access_token.secret());

    let err = provider.refresh(old.refresh_token.as_ref().unwrap()).await.unwrap_err();
    assert!(err.needs_reconnect(), "the replaced grant is revoked: {err:?}");
    assert_eq!(provider.get_nickname(&new.access_token).await.unwrap(), "ada", "the new grant works");
    provider.refresh(new.refresh_token.as_ref().unwrap()).await.expect("and refreshes");
    h.manager.vault().delete(&first.id).await.unwrap();
}

/// Issue 14: the Demo provider serves the device grant: a code, a verification page where the
/// person enters it, `authorization_pending` until then (`slow_down` to polls too close), and the
/// tokens once approved; a declined code is `access_denied`.
#[tokio::test]
async fn demo_signs_in_with_a_code_entered_on_its_verification_page() {
    let (server, provider) = authority([8; 32], None).await;
    assert!(provider.offers_device_grant());
    let code = provider.start_device().await.unwrap();
    assert_eq!(code.user_code.len(), 9, "{}", code.user_code);
    assert_eq!(code.verification_uri.as_str(), format!("{}device", server.base_url()));
    assert!(matches!(provider.poll_device(&code).await.unwrap(), latchkey_core::device::Poll::Pending));
    assert!(
        matches!(provider.poll_device(&code).await.unwrap(), latchkey_core::device::Poll::SlowDown),
        "a poll sooner than the interval is told to slow down"
    );

    // The person opens the page (the code filled in from the complete address) and allows.
    let page = reqwest::get(code.verification_uri_complete.clone().unwrap()).await.unwrap().text().await.unwrap();
    assert!(page.contains(&code.user_code), "the code is filled in");
    let typed = code.user_code.to_lowercase().replace('-', " ");
    let answer = reqwest::Client::new()
        .post(code.verification_uri.clone())
        .form(&[("user_code", typed.as_str()), ("user", "ada"), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "typed in any case, with a space for the dash");
    let waits = std::sync::Mutex::new(Vec::new());
    let tokens = latchkey_core::device::wait_for_tokens(
        &*provider,
        &code,
        |d| {
            waits.lock().unwrap().push(d);
            std::future::ready(())
        },
        || false,
    )
    .await
    .unwrap();
    assert_eq!(provider.get_nickname(&tokens.access_token).await.unwrap(), "ada");
    let again = provider.poll_device(&code).await.unwrap_err();
    assert!(
        matches!(&again, AuthError::ProviderRefused { error, .. } if error.as_str() == "expired_token"),
        "used once: {again:?}"
    );

    // Declined.
    let code = provider.start_device().await.unwrap();
    reqwest::Client::new()
        .post(code.verification_uri.clone())
        .form(&[("user_code", code.user_code.as_str()), ("user", "bob"), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    let err = provider.poll_device(&code).await.unwrap_err();
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error.as_str() == "access_denied"), "{err:?}");
}
