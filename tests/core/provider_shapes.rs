//! Each catalog provider against wiremock serving the shapes that provider documents: the code
//! exchange, the refresh, the nickname and the revocation, with the catalog's own description
//! (only its base URLs moved to the fake, which only tests can do).

use std::collections::HashMap;
use std::sync::Arc;

use latchkey::core::catalog::{self, Entry, BUILTIN};
use latchkey::core::{AuthError, AuthProvider};
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
        "google" => (
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
        other => panic!("no account shape for {other}: add one"),
    }
}

/// The entry with its URLs pointed at `server` (same paths).
fn moved(entry: &Entry, server: &MockServer) -> Arc<dyn AuthProvider> {
    let base = url::Url::parse(&server.uri()).unwrap();
    let mut config = entry.config(Some("client-id".into()), Some("client-secret".into())).unwrap();
    let mut urls = vec![&mut config.authorize_url, &mut config.token_url, &mut config.nickname.url];
    urls.extend(config.refresh_url.iter_mut());
    urls.extend(config.revoke_url.iter_mut());
    for u in urls {
        let path = format!("/{}{}", u.host_str().unwrap(), u.path());
        *u = base.join(&path).unwrap();
    }
    catalog::provider_for(entry, config, &http()).unwrap()
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
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": access, "token_type": "bearer", "expires_in": 3600,
                "refresh_token": refresh, "scope": entry.scopes.join(&entry.scope_separator),
            })))
            .expect(1)
            .mount(&server)
            .await;
        let refresh_path = host_path(entry.refresh_url.as_ref().unwrap_or(&entry.token_url));
        Mock::given(method("POST"))
            .and(path(refresh_path.as_str()))
            .and(FormHas(vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh.clone())]))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "refreshed", "token_type": "Bearer", "expires_in": "3599"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let (doc, nickname) = account(entry.id.as_str());
        Mock::given(method(entry.nickname.method.as_str()))
            .and(path(host_path(&entry.nickname.url).as_str()))
            .and(header("authorization", format!("Bearer {access}").as_str()))
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

        let redirect = latchkey::core::redirect::redirect_uri(&entry.id);
        let tokens =
            provider.exchange("the-code", &redirect, None).await.unwrap_or_else(|e| panic!("{}: {e}", entry.id));
        assert_eq!(tokens.access_token.secret(), &access, "{}", entry.id);
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
