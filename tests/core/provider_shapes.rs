//! Each catalog provider against wiremock serving the shapes that provider documents: the code
//! exchange, the refresh, the nickname and the revocation, with the catalog's own description
//! (only its base URLs moved to the fake, which only tests can do).

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_core::catalog::{self, BUILTIN};
use latchkey_core::description::ProviderSpec as Entry;
use latchkey_core::{AuthError, AuthProvider};
use latchkey_tests::wiremock::matchers::{header, method, path};
use latchkey_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use latchkey_tests::{http, unique};
use oauth2::{AccessToken, RefreshToken};

use crate::support::*;

/// What each provider's account endpoint answers (from its documentation), and the nickname
/// Latchkey should read from it.
fn account(id: &str) -> (serde_json::Value, &'static str) {
    match id {
        "linear" => (
            serde_json::json!({"data": {"viewer": {"id": "u1", "name": "Ada", "email": "ada@linear.example"}}}),
            "ada@linear.example",
        ),
        "github" => (serde_json::json!({"login": "octo-ada", "id": 1, "name": null, "email": null}), "octo-ada"),
        "google" | "google-device" => (
            serde_json::json!({"sub": "1", "email": "ada@gmail.example", "name": "Ada", "email_verified": true}),
            "ada@gmail.example",
        ),
        "gitlab" => (serde_json::json!({"id": 1, "username": "ada", "name": "Ada", "state": "active"}), "ada"),
        "discord" => {
            (serde_json::json!({"id": "1", "username": "ada", "global_name": "Ada L", "discriminator": "0"}), "Ada L")
        }
        "spotify" => (
            serde_json::json!({"id": "ada1", "display_name": "Ada", "email": "ada@spotify.example"}),
            "ada@spotify.example",
        ),
        "dropbox" => (
            serde_json::json!({"email": "ada@dropbox.example", "given_name": "Ada", "email_verified": true}),
            "ada@dropbox.example",
        ),
        "microsoft" => (
            serde_json::json!({"id": "1", "displayName": "Ada", "mail": null, "userPrincipalName": "ada@contoso.example"}),
            "ada@contoso.example",
        ),
        "zoom" => {
            (serde_json::json!({"id": "z1", "email": "ada@zoom.example", "display_name": "Ada"}), "ada@zoom.example")
        }
        "salesforce" => (
            serde_json::json!({"sub": "https://login.salesforce.com/id/00D/005", "preferred_username": "ada@sf.example", "email": "ada@mail.example"}),
            "ada@sf.example",
        ),
        "slack" => (
            serde_json::json!({"ok": true, "url": "https://acme.slack.example/", "team": "Acme", "user": "ada", "team_id": "T1", "user_id": "U1"}),
            "ada",
        ),
        "notion" => (
            serde_json::json!({"object": "user", "id": "b1", "type": "bot", "name": "Latchkey", "bot": {"owner": {"type": "user", "user": {"object": "user", "id": "u1", "name": "Ada", "type": "person", "person": {"email": "ada@notion.example"}}}, "workspace_name": "Ada's Notion"}}),
            "ada@notion.example",
        ),
        "atlassian" => (
            serde_json::json!({"account_id": "1", "email": "ada@atlassian.example", "name": "Ada", "nickname": "ada"}),
            "ada@atlassian.example",
        ),
        "asana" => (
            serde_json::json!({"data": {"gid": "1", "email": "ada@asana.example", "name": "Ada", "resource_type": "user"}}),
            "ada@asana.example",
        ),
        "figma" => (
            serde_json::json!({"id": "1", "email": "ada@figma.example", "handle": "Ada", "img_url": "https://x.example/a.png"}),
            "ada@figma.example",
        ),
        "box" => (
            serde_json::json!({"type": "user", "id": "1", "name": "Ada", "login": "ada@box.example"}),
            "ada@box.example",
        ),
        "twitch" => (
            serde_json::json!({"client_id": "c", "login": "ada_live", "scopes": ["user:read:email"], "user_id": "1", "expires_in": 5520838}),
            "ada_live",
        ),
        "reddit" => (serde_json::json!({"name": "ada_r", "id": "t2_1", "created_utc": 1.0}), "ada_r"),
        "x" => (serde_json::json!({"data": {"id": "1", "name": "Ada", "username": "ada_x"}}), "ada_x"),
        "hubspot" => {
            (serde_json::json!({"portalId": 62515, "timeZone": "US/Eastern", "uiDomain": "app.hubspot.com"}), "62515")
        }
        other => panic!("no account shape for {other}: add one"),
    }
}

/// The token endpoint's answer to a code exchange, in the shape the provider documents, and the
/// account name Latchkey should read from it when the provider puts one there.
fn token_answer(id: &str, access: &str, refresh: &str, scope: &str) -> (serde_json::Value, Option<&'static str>) {
    let plain = serde_json::json!({
        "access_token": access, "token_type": "bearer", "expires_in": 3600,
        "refresh_token": refresh, "scope": scope,
    });
    match id {
        // The user token under authed_user; no bot token because no bot scope was asked for.
        "slack" => (
            serde_json::json!({"ok": true, "app_id": "A1", "authed_user": {"id": "U1", "scope": scope, "access_token": access,
                "token_type": "user", "refresh_token": refresh, "expires_in": 43200}, "team": {"id": "T1", "name": "Acme"},
                "enterprise": null, "is_enterprise_install": false}),
            None,
        ),
        "notion" => (
            serde_json::json!({"access_token": access, "token_type": "bearer", "refresh_token": refresh, "bot_id": "b1",
                "workspace_icon": null, "workspace_name": "Ada's Notion", "workspace_id": "w1",
                "owner": {"type": "user", "user": {"object": "user", "id": "u1", "name": "Ada", "type": "person",
                "person": {"email": "ada@notion.example"}}}, "duplicated_template_id": null, "request_id": "r1"}),
            Some("ada@notion.example"),
        ),
        "asana" => (
            serde_json::json!({"access_token": access, "expires_in": 3600, "token_type": "bearer", "refresh_token": refresh,
                "data": {"id": 1, "gid": "1", "name": "Ada", "email": "ada@asana.example"}}),
            Some("ada@asana.example"),
        ),
        // Twitch sends scope as a list.
        "twitch" => (
            serde_json::json!({"access_token": access, "expires_in": 14124, "refresh_token": refresh,
                "scope": [scope], "token_type": "bearer"}),
            None,
        ),
        _ => (plain, None),
    }
}

/// The refresh answer: Slack's carries the rotated user token at the top, typed "user".
fn refresh_answer(id: &str) -> serde_json::Value {
    match id {
        "slack" => serde_json::json!({"ok": true, "access_token": "refreshed", "token_type": "user",
            "refresh_token": "rt-2", "expires_in": "3599"}),
        _ => serde_json::json!({"access_token": "refreshed", "token_type": "Bearer", "expires_in": "3599"}),
    }
}

/// The entry with its URLs pointed at `server` (same paths).
fn moved(entry: &Entry, server: &MockServer) -> Arc<dyn AuthProvider> {
    let base = url::Url::parse(&server.uri()).unwrap();
    let mut config = entry.config(Some("client-id".into()), Some("client-secret".into()));
    let mut urls = vec![&mut config.spec.authorize_url, &mut config.spec.token_url, &mut config.spec.nickname.url];
    urls.extend(config.spec.refresh_url.iter_mut());
    urls.extend(config.spec.revoke_url.iter_mut());
    urls.extend(config.spec.device_url.iter_mut());
    for u in urls {
        let path = format!("/{}{}", u.host_str().unwrap(), u.path());
        *u = base.join(&path).unwrap();
    }
    catalog::provider_for(config, &http()).unwrap()
}

fn host_path(url: &url::Url) -> String {
    format!("/{}{}", url.host_str().unwrap(), url.path())
}

#[tokio::test]
async fn every_catalog_provider_reads_its_documented_token_refresh_nickname_and_revoke_shapes() {
    let entries = catalog::parse(BUILTIN).unwrap();
    let mut checked = HashMap::new();
    for entry in &entries {
        let server = MockServer::start().await;
        let provider = moved(entry, &server);
        let (access, refresh) = (unique("at"), unique("rt"));
        let token_path = host_path(&entry.token_url);
        // The code exchange: some providers send expires_in, some don't; all send a bearer.
        Mock::given(method("POST"))
            .and(path(token_path.as_str()))
            .and(FormHas(vec![("grant_type", "authorization_code".into()), ("code", "the-code".into())]))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                token_answer(entry.id.as_str(), &access, &refresh, &entry.scopes.join(&entry.scope_separator)).0,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let refresh_path = host_path(entry.refresh_url.as_ref().unwrap_or(&entry.token_url));
        Mock::given(method("POST"))
            .and(path(refresh_path.as_str()))
            .and(FormHas(vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh.clone())]))
            .respond_with(ResponseTemplate::new(200).set_body_json(refresh_answer(entry.id.as_str())))
            .expect(1)
            .mount(&server)
            .await;
        let (doc, nickname) = account(entry.id.as_str());
        Mock::given(method(entry.nickname.method.as_str()))
            .and(path(host_path(&entry.nickname.url).as_str()))
            .and(header(
                "authorization",
                format!("{} {access}", entry.nickname.auth_scheme.as_deref().unwrap_or("Bearer")).as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(doc))
            .expect(1)
            .mount(&server)
            .await;
        if let Some(revoke) = &entry.revoke_url {
            Mock::given(method("POST"))
                .and(path(host_path(revoke).as_str()))
                .respond_with(ResponseTemplate::new(200))
                .expect(1)
                .mount(&server)
                .await;
        }

        let redirect = latchkey_core::redirect::redirect_uri(&entry.id);
        let tokens =
            provider.exchange("the-code", &redirect, None).await.unwrap_or_else(|e| panic!("{}: {e}", entry.id));
        assert_eq!(tokens.access_token.secret(), &access, "{}", entry.id);
        assert_eq!(tokens.refresh_token.as_ref().map(|t| t.secret().as_str()), Some(refresh.as_str()), "{}", entry.id);
        assert!(tokens.is_bearer(), "{}", entry.id);
        let in_token = token_answer(entry.id.as_str(), &access, &refresh, "").1;
        assert_eq!(tokens.account.as_deref(), in_token, "{}: the account name in the token answer", entry.id);
        assert_eq!(provider.get_nickname(&AccessToken::new(access.clone())).await.unwrap(), nickname, "{}", entry.id);
        let refreshed = provider.refresh(&RefreshToken::new(refresh.clone())).await.unwrap();
        assert_eq!(refreshed.access_token.secret(), "refreshed");
        assert_eq!(refreshed.expires_in, Some(3599));
        assert!(provider.revoke(&AccessToken::new(access.clone())).await.unwrap(), "{}", entry.id);
        if entry.revoke_url.is_some() {
            let requests = server.received_requests().await.unwrap();
            let revoke =
                requests.iter().find(|r| r.url.path() == host_path(entry.revoke_url.as_ref().unwrap())).unwrap();
            let in_body = String::from_utf8_lossy(&revoke.body).contains(&access);
            let in_header =
                revoke.headers.get("authorization").is_some_and(|v| v.to_str().unwrap_or("").contains(&access));
            assert!(in_body || in_header, "{}: the token goes to the revocation endpoint", entry.id);
            assert!(!revoke.url.as_str().contains(&access), "{}: never in the URL", entry.id);
        }
        server.verify().await; // each endpoint was called exactly once
                               // A refused grant reads as "reconnect" at every provider.
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})))
            .mount(&server)
            .await;
        let err = provider.refresh(&RefreshToken::new(refresh)).await.unwrap_err();
        assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{}: {err:?}", entry.id);
        checked.insert(entry.id.to_string(), nickname);
    }
    assert_eq!(checked.len(), entries.len());
}

fn entry(id: &str) -> Entry {
    catalog::parse(BUILTIN).unwrap().into_iter().find(|e| e.id.as_str() == id).unwrap()
}

#[tokio::test]
async fn slack_failures_sent_with_http_200_read_as_errors() {
    let server = MockServer::start().await;
    let slack = moved(&entry("slack"), &server);
    Mock::given(method("POST"))
        .and(path("/slack.com/api/oauth.v2.access"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": false, "error": "invalid_refresh_token"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/slack.com/api/auth.test"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": false, "error": "invalid_auth"})),
        )
        .mount(&server)
        .await;
    let err = slack.refresh(&RefreshToken::new("xoxe-1-old".into())).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
    let err = slack.get_nickname(&AccessToken::new("xoxp-1".into())).await.unwrap_err();
    assert!(matches!(&err, AuthError::ProviderRefused { error, .. } if error == "invalid_auth"), "{err:?}");
}

#[tokio::test]
async fn notion_token_requests_are_json_with_http_basic() {
    let server = MockServer::start().await;
    let notion = moved(&entry("notion"), &server);
    Mock::given(method("POST"))
        .and(path("/api.notion.com/v1/oauth/token"))
        .and(header("content-type", "application/json"))
        .and(header("authorization", "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ=")) // client-id:client-secret
        .and(FormHas(vec![("grant_type", "authorization_code".into()), ("code", "c1".into())]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer("notion", "at-n", "rt-n", "").0))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api.notion.com/v1/oauth/revoke"))
        .and(header("content-type", "application/json"))
        .and(FormHas(vec![("token", "at-n".into())]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = notion.exchange("c1", "dev.latchkey.desktop:/oauth/callback/notion", None).await.unwrap();
    assert_eq!(tokens.account.as_deref(), Some("ada@notion.example"));
    assert!(notion.revoke(&tokens.access_token).await.unwrap());
    server.verify().await;
}

#[tokio::test]
async fn reddit_installed_apps_send_basic_with_an_empty_secret() {
    let server = MockServer::start().await;
    let e = entry("reddit");
    let mut config = e.config(Some("installed-id".into()), None);
    let base = url::Url::parse(&server.uri()).unwrap();
    config.spec.token_url = base.join("/www.reddit.com/api/v1/access_token").unwrap();
    let reddit = catalog::provider_for(config, &http()).unwrap();
    assert!(reddit.check_configured().is_ok(), "an installed app has no secret");
    Mock::given(method("POST"))
        .and(path("/www.reddit.com/api/v1/access_token"))
        .and(header("authorization", "Basic aW5zdGFsbGVkLWlkOg==")) // installed-id:
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer("reddit", "at-r", "rt-r", "identity").0))
        .expect(1)
        .mount(&server)
        .await;
    reddit.exchange("c1", "dev.latchkey.desktop:/oauth/callback/reddit", None).await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    assert!(!String::from_utf8_lossy(&request.body).contains("client_id"), "Basic only, not the body too");
}

/// Issue 14: a sign-in with a code at each provider that offers one, in the form that provider
/// documents: RFC 8628 at GitHub (pending answered with HTTP 200), GitLab, Microsoft and Twitch;
/// Google's limited-input client, whose answer names `verification_url` and whose polls carry
/// the client secret; Salesforce's older form, asked for at the token endpoint with
/// `response_type=device_code` and polled with `grant_type=device` and `code`, its answer
/// naming no lifetime.
#[tokio::test]
async fn the_device_grant_speaks_each_providers_documented_form() {
    let entries = catalog::parse(BUILTIN).unwrap();
    let offering: Vec<&Entry> = entries.iter().filter(|e| e.device_url.is_some()).collect();
    let ids: Vec<&str> = offering.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["github", "google-device", "gitlab", "microsoft", "salesforce", "twitch"]);
    for entry in offering {
        let id = entry.id.as_str();
        let server = MockServer::start().await;
        let provider = moved(entry, &server);
        let device_path = host_path(entry.device_url.as_ref().unwrap());
        let token_path = host_path(&entry.token_url);
        let salesforce = id == "salesforce";
        let mut answer = serde_json::json!({"device_code": "dc-1", "user_code": "ABCD-EFGH", "interval": 5});
        let address = if id == "google-device" { "verification_url" } else { "verification_uri" };
        answer[address] = "https://example.com/device".into();
        if !salesforce {
            answer["expires_in"] = 900.into();
        }
        let mut asked = vec![("client_id", "client-id".to_owned())];
        if salesforce {
            asked.push(("response_type", "device_code".into()));
        }
        Mock::given(method("POST"))
            .and(path(device_path.as_str()))
            .and(FormHas(asked))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&server)
            .await;
        let poll = if salesforce {
            vec![("grant_type", "device".to_owned()), ("code", "dc-1".into())]
        } else {
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_owned()),
                ("device_code", "dc-1".into()),
            ]
        };
        let mut with_secret = poll.clone();
        with_secret.push(("client_secret", "client-secret".into()));
        let pending_status = if id == "github" { 200 } else { 400 };
        Mock::given(method("POST"))
            .and(path(token_path.as_str()))
            .and(FormHas(if id == "google-device" { with_secret.clone() } else { poll.clone() }))
            .respond_with(
                ResponseTemplate::new(pending_status)
                    .set_body_json(serde_json::json!({"error": "authorization_pending"})),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(token_path.as_str()))
            .and(FormHas(poll))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "at-code", "token_type": "Bearer", "refresh_token": "rt-code", "expires_in": 3600})))
            .expect(1)
            .mount(&server)
            .await;

        let code = provider.start_device().await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(code.user_code, "ABCD-EFGH", "{id}");
        assert_eq!(code.verification_uri.as_str(), "https://example.com/device", "{id}");
        let lifetime = if salesforce { 600 } else { 900 };
        assert_eq!(code.expires_in.as_secs(), lifetime, "{id}: the code's lifetime");
        let tokens = latchkey_core::device::wait_for_tokens(&*provider, &code, |_| std::future::ready(()), || false)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(tokens.access_token.secret(), "at-code", "{id}");
        server.verify().await;
    }
}

/// Issue 14: Google's limited-input client is its own catalog entry that signs in with a code
/// only: a browser sign-in is refused with words that say what to do instead, and nothing is
/// sent anywhere.
#[tokio::test]
async fn a_client_that_signs_in_with_a_code_only_refuses_a_browser_sign_in() {
    let google = entry("google-device");
    assert!(google.code_only && google.needs_secret);
    let server = MockServer::start().await;
    let provider = moved(&google, &server);
    assert!(provider.code_only() && provider.offers_device_grant());
    assert!(provider.redirect_choices().is_empty(), "no redirect to register");
    let h = latchkey_tests::Harness::new(vec![provider]);
    let id = latchkey_core::ProviderId::new("google-device").unwrap();
    let err = h.manager.connect(&id).await.unwrap_err();
    assert!(err.to_string().contains("signs in with a code only"), "{err}");
    assert!(h.browser.opened().is_empty(), "no browser opened");
    assert!(server.received_requests().await.unwrap().is_empty());
}
