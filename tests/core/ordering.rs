//! Ordering and concurrency with defined outcomes: a sign-in completing while the same account
//! is being disconnected. (The same deep link twice: checklist_06 and checklist_16; disconnect
//! during a refresh: refresh.rs; two app instances at once: the end-to-end tests.)

use latchkey_core::provider::Revocation;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Mock, Request, ResponseTemplate};
use latchkey_tests::{callback, FakeProvider, Harness, NumberedTokens};

/// A provider whose tokens are numbered, whose account names come from `name` (called with
/// the count of account requests), and whose revocation takes 800 ms; one account connected and a
/// second sign-in started. Returns the harness, the connection and the second sign-in's callback.
async fn connected_with_a_slow_revocation(
    name: impl Fn(u32) -> String + Send + Sync + 'static,
) -> (FakeProvider, Harness, latchkey_core::Connection, String) {
    let fake = FakeProvider::start("acme").await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(NumberedTokens(Arc::new(AtomicU32::new(0))))
        .mount(&fake.server)
        .await;
    let asked = AtomicU32::new(0);
    Mock::given(path("/userinfo"))
        .respond_with(move |_: &Request| {
            let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "email": name(n) }))
        })
        .mount(&fake.server)
        .await;
    Mock::given(path("/revoke"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .mount(&fake.server)
        .await;
    let h = Harness::new(vec![fake.provider()]);
    h.manager.connect(&fake.name).await.unwrap();
    let first = h.manager.complete(&callback(&h.browser.last(), "&code=c1")).await.unwrap();
    h.manager.connect(&fake.name).await.unwrap();
    let second = callback(&h.browser.last(), "&code=c2");
    (fake, h, first, second)
}

/// The disconnect finishes first (its revocation is slow); the sign-in of the same account that
/// arrived meanwhile waits for it, then makes the account connected again with its own tokens.
/// Before, it wrote its tokens under the connection being deleted, and the disconnect deleted
/// them: the person saw the sign-in succeed and then the account vanish.
#[tokio::test]
async fn a_sign_in_completing_during_a_disconnect_of_the_same_account_waits_and_wins() {
    let (_fake, h, first, second_link) = connected_with_a_slow_revocation(|_| "ada@acme.example".into()).await;
    let manager = h.manager.clone();
    let id = first.id.clone();
    let disconnecting = tokio::spawn(async move { manager.disconnect(&id).await });
    tokio::time::sleep(Duration::from_millis(200)).await; // the revocation is under way
    let started = Instant::now();
    let again = h.manager.complete(&second_link).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400), "the sign-in waited for the disconnect");
    assert_eq!(disconnecting.await.unwrap().unwrap(), Revocation::Revoked, "the disconnect completed, revoked");

    assert_eq!(again.id, first.id, "the same account, connected again");
    assert_eq!(h.manager.list().len(), 1);
    let stored = h.keychain(first.id.as_str()).expect("the new sign-in's tokens are kept");
    assert!(stored.contains("at-2") && !stored.contains("at-1"), "{stored}");
    h.manager.vault().delete(&first.id).await.unwrap();
}

/// A sign-in of another account of the same provider does not wait for the disconnect.
#[tokio::test]
async fn a_sign_in_of_another_account_during_a_disconnect_does_not_wait() {
    let (_fake, h, first, other_link) = connected_with_a_slow_revocation(|n| format!("user{n}@acme.example")).await;
    let manager = h.manager.clone();
    let id = first.id.clone();
    let disconnecting = tokio::spawn(async move { manager.disconnect(&id).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let other = h.manager.complete(&other_link).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "no wait for an unrelated disconnect");
    assert_ne!(other.id, first.id);
    disconnecting.await.unwrap().unwrap();
    assert_eq!(h.manager.list().iter().map(|c| c.nickname.clone()).collect::<Vec<_>>(), vec!["user2@acme.example"]);
    h.manager.vault().delete(&other.id).await.unwrap();
}
