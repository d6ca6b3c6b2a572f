//! Whole flows, as the app runs them: connect, callback, exchange, nickname, keychain, list,
//! disconnect.

use latchkey_core::{AuthError, ConnectionStatus};
use latchkey_tests::wiremock::matchers::{body_string_contains, header, method, path};
use latchkey_tests::wiremock::{Mock, ResponseTemplate};
use latchkey_tests::{assert_not_logged, callback, query, unique, FakeProvider, Harness};

use crate::support::*;

#[tokio::test]
async fn full_flow_connects_stores_in_the_keychain_lists_and_disconnects() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = unique("at");
    let refresh = unique("rt");
    let code = unique("code");

    // Connect: the browser gets the authorization URL with everything the provider needs.
    let pending = h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    assert_eq!(url, pending.url);
    assert_eq!(url.path(), "/authorize");
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&url, "client_id"), Some(fake.client_id.clone()));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some("dev.latchkey.desktop:/oauth/callback/acme"));
    assert_eq!(query(&url, "scope").as_deref(), Some("read profile"));
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = query(&url, "code_challenge").unwrap();
    assert!(query(&url, "state").is_some());
    assert!(query(&url, "client_secret").is_none());
    assert_eq!(h.manager.pending_flows().len(), 1);

    // The provider's token endpoint expects the code, the verifier and the same redirect_uri.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(FormHas(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", "dev.latchkey.desktop:/oauth/callback/acme".into()),
            ("client_id", fake.client_id.clone()),
            ("client_secret", fake.client_secret.clone()),
        ]))
        .and(VerifierFor(challenge))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&access, Some(&refresh), 3600)))
        .expect(1)
        .mount(&fake.server)
        .await;
    mount_userinfo(&fake, &access, "ada@example.com", 1).await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(FormHas(vec![("token", access.clone()), ("token_type_hint", "access_token".into())]))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&fake.server)
        .await;

    let before = chrono::Utc::now();
    let connection = h.manager.complete(&callback(&url, &format!("&code={code}"))).await.unwrap();
    assert_eq!(connection.nickname, "ada@example.com");
    assert_eq!(connection.provider, fake.name);
    assert_eq!(connection.status, ConnectionStatus::Connected);
    assert_eq!(connection.scopes, vec!["read", "profile"]);
    let expires = connection.expires_at.expect("an expiry");
    let lifetime = (expires - before).num_seconds();
    assert!((3595..=3605).contains(&lifetime), "expires in {lifetime} s");
    assert!(h.manager.pending_flows().is_empty(), "the flow was taken out");

    // The real keychain holds both tokens, read back with secret-tool.
    let stored = h.keychain(connection.id.as_str()).expect("the keychain holds the connection");
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["access_token"], access.as_str());
    assert_eq!(stored["refresh_token"], refresh.as_str());

    // list shows the nickname and nothing secret.
    let listed = h.manager.list();
    assert_eq!(listed, vec![connection.clone()]);
    let shown = format!("{} {listed:?}", serde_json::to_string(&listed).unwrap());
    assert!(!shown.contains(&access) && !shown.contains(&refresh));
    assert!(h.metadata_file().contains("ada@example.com"));

    // Disconnect revokes and the keychain no longer holds anything.
    h.manager.disconnect(&connection.id).await.unwrap();
    assert_eq!(h.keychain(connection.id.as_str()), None);
    assert_eq!(h.keychain_entries(), 0);
    assert!(h.manager.list().is_empty());
    assert!(!h.metadata_file().contains("ada@example.com"));
    assert_not_logged(&[&access, &refresh, &code, &fake.client_secret]);
}

#[tokio::test]
async fn a_second_account_at_the_same_provider_gets_its_own_connection() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let (a1, a2) = (unique("at"), unique("at"));

    h.manager.connect(&fake.name).await.unwrap();
    let first = h.browser.last();
    h.manager.connect(&fake.name).await.unwrap();
    let second = h.browser.last();
    assert_ne!(query(&first, "state"), query(&second, "state"));
    assert_ne!(query(&first, "code_challenge"), query(&second, "code_challenge"));

    for (url, access, who) in [(&first, &a1, "one@example.com"), (&second, &a2, "two@example.com")] {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!("code={who}-code").replace('@', "%40")))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, None, 60)))
            .expect(1)
            .mount(&fake.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .and(header("authorization", format!("Bearer {access}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "login": who })))
            .expect(1)
            .mount(&fake.server)
            .await;
        let code: String = url::form_urlencoded::byte_serialize(format!("{who}-code").as_bytes()).collect();
        h.manager.complete(&callback(url, &format!("&code={code}"))).await.unwrap();
    }
    let mut nicknames: Vec<String> = h.manager.list().into_iter().map(|c| c.nickname).collect();
    nicknames.sort();
    assert_eq!(nicknames, vec!["one@example.com", "two@example.com"]);
    for c in h.manager.list() {
        h.manager.disconnect(&c.id).await.unwrap();
    }
    assert_eq!(h.keychain_entries(), 0);
}

#[tokio::test]
async fn connections_survive_a_restart_of_the_manager() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let connection = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();

    let mut options = latchkey_core::manager::ManagerOptions::new(h.data_dir.path());
    options.keychain_service = h.service.clone();
    let again = latchkey_core::ConnectionManager::new(options, h.browser.clone()).unwrap();
    assert_eq!(again.list(), vec![connection.clone()]);
    let secrets = again.vault().load(&connection.id).await.unwrap().unwrap();
    assert_eq!(secrets.access_token.secret(), &access);
    again.vault().delete(&connection.id).await.unwrap();
}

#[tokio::test]
async fn a_failed_nickname_stores_nothing_and_revokes_the_new_tokens() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let access = unique("at");
    mount_token(&fake, &access, Some("rt"), 1).await;
    Mock::given(path("/userinfo"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .expect(1)
        .mount(&fake.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(FormHas(vec![("token", access.clone())]))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&fake.server)
        .await;

    h.manager.connect(&fake.name).await.unwrap();
    let err = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap_err();
    assert!(matches!(err, AuthError::BadResponse { status: Some(503), .. }), "{err:?}");
    assert!(!err.to_string().contains("down"), "the body is not in the message");
    assert!(h.manager.list().is_empty());
    assert_eq!(h.keychain_entries(), 0);
}

#[tokio::test]
async fn cancel_forgets_the_flow_and_its_callback_is_refused() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![fake.provider()]);
    let pending = h.manager.connect(&fake.name).await.unwrap();
    assert!(h.manager.cancel(&pending.flow_id).await);
    assert!(!h.manager.cancel(&pending.flow_id).await, "cancelling twice finds nothing");
    let err = h.manager.complete(&callback(&pending.url, "&code=c")).await.unwrap_err();
    assert!(matches!(err, AuthError::Callback(latchkey_core::CallbackError::UnknownState)), "{err:?}");
}

#[tokio::test]
async fn a_sign_in_pending_when_the_app_stopped_completes_after_a_restart() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    mount_happy_path(&fake, None).await;
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    // The verifier went to the keychain with the flow, not to a file.
    assert!(h.keychain("pending-sign-ins").is_some());
    for entry in std::fs::read_dir(h.data_dir.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(&query(&url, "state").unwrap()));
    }

    // A new process (cold start by the callback) restores it and completes.
    let mut options = latchkey_core::manager::ManagerOptions::new(h.data_dir.path());
    options.keychain_service = h.service.clone();
    let again = latchkey_core::ConnectionManager::new(options, h.browser.clone()).unwrap();
    again.add_provider(fake.provider());
    assert_eq!(again.restore_pending().await.unwrap(), 1);
    let c = again.complete(&callback(&url, "&code=c")).await.unwrap();
    assert_eq!(c.nickname, "ada@example.com");
    assert_eq!(h.keychain("pending-sign-ins"), None, "nothing pending is left in the keychain");
    again.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn the_snapshot_shows_states_and_errors_in_words_and_no_secrets() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let mut changes = h.manager.subscribe();
    let pending = h.manager.connect(&fake.name).await.unwrap();
    assert!(changes.has_changed().unwrap(), "watchers are told");
    changes.mark_unchanged();
    let snap = h.manager.snapshot();
    let p = &snap.providers[0];
    assert_eq!(p.name, "Fake acme");
    assert_eq!(p.setup_hint, None);
    assert_eq!(p.redirect_uri, "dev.latchkey.desktop:/oauth/callback/acme");
    assert_eq!(p.flows.len(), 1);
    assert_eq!(p.flows[0].flow_id, pending.flow_id);

    // The person declines: the flow ends and the reason is shown.
    h.manager.complete(&callback(&pending.url, "&error=access_denied")).await.unwrap_err();
    assert!(changes.has_changed().unwrap());
    let snap = h.manager.snapshot();
    assert!(snap.providers[0].flows.is_empty());
    assert_eq!(snap.providers[0].error.as_deref(), Some("access was declined at the provider"));

    // A junk link changes nothing on screen.
    changes.mark_unchanged();
    h.manager.complete("dev.latchkey.desktop:/oauth/callback/acme?code=x&state=junk").await.unwrap_err();
    assert!(!changes.has_changed().unwrap());

    // A successful connection clears the error and lists the nickname, without tokens.
    let access = mount_happy_path(&fake, Some("refresh-secret")).await;
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    let snap = h.manager.snapshot();
    assert_eq!(snap.providers[0].error, None);
    assert_eq!(snap.providers[0].connections[0].nickname, "ada@example.com");
    let json = serde_json::to_string(&snap).unwrap();
    assert!(!json.contains(&access) && !json.contains("refresh-secret"));
    h.manager.vault().delete(&c.id).await.unwrap();
}

/// A sign-in that brings no refresh token is recorded as such (the window says the connection
/// ends with its access token); a reconnect without one at a provider whose grants are not
/// separate (Google gives a refresh token only at the first consent) keeps the earlier one.
#[tokio::test]
async fn a_sign_in_without_a_refresh_token_is_told_and_a_reconnect_without_one_keeps_the_earlier() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let (first, second) = (latchkey_tests::unique("at"), latchkey_tests::unique("at"));
    for (access, refresh) in [(&first, Some("rt-first")), (&second, None)] {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, refresh, 3600)))
            .up_to_n_times(1)
            .mount(&fake.server)
            .await;
        mount_userinfo(&fake, access, "ada@example.com", 1).await;
    }
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert!(c.renewable);
    h.manager.connect(&fake.name).await.unwrap();
    let again = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert_eq!(again.id, c.id);
    assert!(again.renewable, "the earlier refresh token still serves");
    let stored = h.keychain(c.id.as_str()).unwrap();
    assert!(stored.contains(&second) && stored.contains("rt-first"), "{stored}");
    h.manager.vault().delete(&c.id).await.unwrap();

    // A provider that never gives one: the connection says so.
    let other = FakeProvider::start("plain").await;
    let h = Harness::new(vec![other.provider()]);
    mount_happy_path(&other, None).await;
    h.manager.connect(&other.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert!(!c.renewable);
    let shown = h.manager.snapshot().providers.into_iter().flat_map(|p| p.connections).find(|x| x.id == c.id).unwrap();
    assert!(!shown.renewable, "the window is told");
    h.manager.vault().delete(&c.id).await.unwrap();
}

/// Issue 13: a reconnect was matched by nickname, so two accounts with the same display name
/// overwrote each other. It is matched on the provider's stable account id where it gives one:
/// two "Ada"s stay two connections, and an account renamed at the provider reconnects into its
/// own connection.
#[tokio::test]
async fn a_reconnect_is_matched_on_the_account_id_not_the_display_name() {
    let fake = FakeProvider::start("acme").await;
    let h = Harness::new(vec![fake.provider()]);
    let sign_in = |name: &'static str, id: u32| {
        let fake = &fake;
        let h = &h;
        async move {
            let access = latchkey_tests::unique("at");
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&access, Some("rt"), 3600)))
                .up_to_n_times(1)
                .mount(&fake.server)
                .await;
            Mock::given(method("GET"))
                .and(path("/userinfo"))
                .and(header("authorization", format!("Bearer {access}").as_str()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({ "email": name, "sub": format!("user-{id}") })),
                )
                .mount(&fake.server)
                .await;
            h.manager.connect(&fake.name).await.unwrap();
            h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap()
        }
    };
    let first = sign_in("Ada", 1).await;
    let other = sign_in("Ada", 2).await;
    assert_ne!(first.id, other.id, "another account with the same display name");
    assert_eq!(first.account_id.as_deref(), Some("user-1"));
    let renamed = sign_in("Ada Lovelace", 1).await;
    assert_eq!(renamed.id, first.id, "the same account, renamed");
    assert_eq!(renamed.nickname, "Ada Lovelace");
    assert_eq!(h.manager.list().len(), 2);
    for c in h.manager.list() {
        h.manager.vault().delete(&c.id).await.unwrap();
    }
}

/// A provider that takes the private-use URI only with an authority (Discord, X) is sent
/// `dev.latchkey.desktop://oauth/callback/<id>`, and its callback is accepted in that form only:
/// the same callback in RFC 8252's form is refused as another redirect.
#[tokio::test]
async fn the_authority_form_is_sent_and_accepted_only_where_the_provider_takes_it() {
    let fake = FakeProvider::start("acme").await;
    let mut config = fake.config();
    config.spec.redirect_shape = latchkey_core::redirect::RedirectShape { authority_form: true, localhost: false };
    let provider = std::sync::Arc::new(
        latchkey_core::oauth2_generic::GenericOAuth2Provider::new(config, latchkey_tests::http()).unwrap(),
    );
    let h = Harness::new(vec![provider]);
    mount_happy_path(&fake, Some("rt")).await;
    h.manager.connect(&fake.name).await.unwrap();
    let sent = query(&h.browser.last(), "redirect_uri").unwrap();
    assert_eq!(sent, format!("dev.latchkey.desktop://oauth/callback/{}", fake.name));
    let answer = callback(&h.browser.last(), "&code=c");
    assert!(answer.starts_with("dev.latchkey.desktop://oauth/callback/"));
    let other_form = answer.replacen("://oauth/callback/", ":/oauth/callback/", 1);
    let err = h.manager.complete(&other_form).await.unwrap_err();
    assert!(matches!(err, AuthError::Callback(_)), "{err:?}");
    // That ended the sign-in (its state was used); a new one completes in the right form.
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    assert_eq!(c.nickname, "ada@example.com");
    h.manager.vault().delete(&c.id).await.unwrap();
}
