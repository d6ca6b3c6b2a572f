//! The fault matrix: every provider fault at every step (connect's code exchange, its account
//! details request, refresh, disconnect's revocation), each with its expected state, the message
//! a person sees, and the secrets checked: none lost (the keychain keeps what it had) and none
//! leaked (not in the message, not in the log). The table it prints is docs/security.md's.

use std::time::Duration;

use latchkey_core::manager::ConnectionStatus;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::oauth2_generic::OAuth2Config;
use latchkey_core::refresh::Want;
use latchkey_core::AuthError;
use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use latchkey_tests::{assert_not_logged, callback, fake_config, http, unique, Harness};

use crate::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Http500,
    Html502,
    TooManyRequests,
    Timeout,
    Refused,
    TruncatedJson,
    NoAccessToken,
    NotBearer,
    ExpiresNegative,
    ExpiresHuge,
    ExpiresString,
}

const FAULTS: [Fault; 11] = [
    Fault::Http500,
    Fault::Html502,
    Fault::TooManyRequests,
    Fault::Timeout,
    Fault::Refused,
    Fault::TruncatedJson,
    Fault::NoAccessToken,
    Fault::NotBearer,
    Fault::ExpiresNegative,
    Fault::ExpiresHuge,
    Fault::ExpiresString,
];

impl Fault {
    /// Faults of the token answer's content, which only token endpoints can have.
    fn is_token_shape(self) -> bool {
        matches!(
            self,
            Fault::NoAccessToken
                | Fault::NotBearer
                | Fault::ExpiresNegative
                | Fault::ExpiresHuge
                | Fault::ExpiresString
        )
    }

    /// An answer that is odd but usable: the lifetime is read leniently.
    fn is_usable(self) -> bool {
        matches!(self, Fault::ExpiresNegative | Fault::ExpiresHuge | Fault::ExpiresString)
    }

    /// The provider's answer; `None` for a refused connection (nothing listening).
    fn response(self, access: &str, refresh: &str) -> Option<ResponseTemplate> {
        let token = |extra: serde_json::Value| {
            let mut body =
                serde_json::json!({"access_token": access, "token_type": "Bearer", "refresh_token": refresh});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            ResponseTemplate::new(200).set_body_json(body)
        };
        Some(match self {
            Fault::Http500 => ResponseTemplate::new(500).set_body_string("internal error"),
            Fault::Html502 => ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>"),
            Fault::TooManyRequests => {
                ResponseTemplate::new(429).insert_header("retry-after", "7").set_body_string("slow down")
            }
            Fault::Timeout => token(serde_json::json!({})).set_delay(Duration::from_secs(3)),
            Fault::Refused => return None,
            Fault::TruncatedJson => ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(format!("{{\"access_token\": \"{access}\", \"token_ty")),
            Fault::NoAccessToken => {
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"token_type": "Bearer"}))
            }
            Fault::NotBearer => token(serde_json::json!({"token_type": "mac"})),
            Fault::ExpiresNegative => token(serde_json::json!({"expires_in": -30})),
            Fault::ExpiresHuge => token(serde_json::json!({"expires_in": 1e300})),
            Fault::ExpiresString => token(serde_json::json!({"expires_in": "3600"})),
        })
    }
}

/// A provider faked on wiremock whose one endpoint (`faulty`) misbehaves; a refused endpoint
/// points at a port nothing listens on.
struct Scene {
    server: MockServer,
    harness: Harness,
    client_secret: String,
    provider: String,
}

async fn scene(faulty: &str, fault: Fault, access: &str, refresh: &str) -> Scene {
    let server = MockServer::start().await;
    let provider = unique("acme");
    let client_secret = unique("client-secret");
    let mut config: OAuth2Config = fake_config(&provider, &server.uri(), "client-id", Some(&client_secret));
    // An issuer, as most providers have: the authority that redeems its grants stays the same
    // when its token endpoint stops answering (see `refault`).
    config.spec.issuer = Some(format!("https://{provider}.example"));
    match fault.response(access, refresh) {
        Some(response) => {
            Mock::given(path(faulty)).respond_with(response).mount(&server).await;
        }
        None => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let dead = format!("http://{}{faulty}", closed.local_addr().unwrap());
            drop(closed);
            let url = url::Url::parse(&dead).unwrap();
            match faulty {
                "/token" => config.spec.token_url = url,
                "/userinfo" => config.spec.nickname.url = url,
                _ => config.spec.revoke_url = Some(url),
            }
        }
    }
    let provider_impl = std::sync::Arc::new(GenericOAuth2Provider::new(config, http()).unwrap());
    let harness = Harness::new(vec![provider_impl]);
    Scene { server, harness, client_secret, provider }
}

/// The good answers of the endpoints that are not at fault (mounted after the faulty one, which
/// wins on its path).
async fn mount_good(server: &MockServer, access: &str, refresh: &str) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, Some(refresh), 3600)))
        .mount(server)
        .await;
    Mock::given(path("/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"email": "ada@acme.example"})))
        .mount(server)
        .await;
    Mock::given(path("/revoke")).respond_with(ResponseTemplate::new(200)).mount(server).await;
}

struct Row {
    step: &'static str,
    fault: Fault,
    state: String,
    message: String,
}

/// Neither the state the window is sent nor the connections file holds a secret.
fn check_places(s: &Scene, secrets: &[&str]) {
    let state = serde_json::to_string(&s.harness.manager.snapshot()).unwrap();
    let file = s.harness.metadata_file();
    for secret in secrets {
        assert!(!state.contains(secret), "a secret in the window's state");
        assert!(!file.contains(secret), "a secret in the connections file");
    }
}

fn check_message(message: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!message.contains(s), "a secret in the message: {message}");
    }
    assert!(!message.contains("<html") && !message.contains("Bad Gateway"), "a body in the message: {message}");
    assert!(!message.contains("127.0.0.1"), "an endpoint in the message: {message}");
}

async fn connect_with(s: &Scene) -> Result<latchkey_core::manager::Connection, AuthError> {
    let provider = latchkey_core::ProviderId::new(&s.provider).unwrap();
    s.harness.manager.connect(&provider).await.unwrap();
    s.harness.manager.complete(&callback(&s.harness.browser.last(), "&code=the-code")).await
}

#[tokio::test]
async fn every_fault_at_every_step_has_a_defined_outcome_and_loses_or_leaks_nothing() {
    let mut rows = Vec::new();
    let mut all_secrets = Vec::new();

    // Connect, at the code exchange.
    for fault in FAULTS {
        let (access, refresh) = (unique("at-connect"), unique("rt-connect"));
        let s = scene("/token", fault, &access, &refresh).await;
        mount_good(&s.server, &access, &refresh).await;
        let result = connect_with(&s).await;
        let (state, message) = match (&result, fault.is_usable()) {
            (Ok(c), true) => {
                let expires = c.expires_at.expect("a lifetime was given");
                let now = chrono::Utc::now();
                match fault {
                    Fault::ExpiresNegative => assert!(expires <= now + chrono::Duration::seconds(1)),
                    Fault::ExpiresHuge => assert!(expires > now + chrono::Duration::days(3000)),
                    _ => assert!((expires - now - chrono::Duration::seconds(3600)).num_seconds().abs() < 60),
                }
                assert_eq!(s.harness.keychain_entries(), 1, "{fault:?}: the tokens are kept");
                (format!("connected, token expires {}", describe_expiry(expires)), String::new())
            }
            (Err(e), false) => {
                assert!(s.harness.manager.list().is_empty(), "{fault:?}: no connection");
                assert_eq!(s.harness.keychain_entries(), 0, "{fault:?}: nothing in the keychain");
                ("not connected; nothing stored".to_owned(), e.to_string())
            }
            (other, _) => panic!("connect, {fault:?}: unexpected {other:?}"),
        };
        check_message(&message, &[&access, &refresh, &s.client_secret, "the-code"]);
        check_places(&s, &[&access, &refresh, &s.client_secret, "the-code"]);
        all_secrets.extend([access, refresh, s.client_secret.clone()]);
        rows.push(Row { step: "connect: code exchange", fault, state, message });
    }

    // Connect, at the account details request (the token endpoint answered well).
    for fault in FAULTS.into_iter().filter(|f| !f.is_token_shape()) {
        let (access, refresh) = (unique("at-nick"), unique("rt-nick"));
        let s = scene("/userinfo", fault, &access, &refresh).await;
        mount_good(&s.server, &access, &refresh).await;
        let err = connect_with(&s).await.expect_err("no account name, no connection");
        assert!(s.harness.manager.list().is_empty(), "{fault:?}");
        assert_eq!(s.harness.keychain_entries(), 0, "{fault:?}");
        // The tokens just issued are given back rather than left alive at the provider.
        let revoked = s.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/revoke").count();
        assert_eq!(revoked, 1, "{fault:?}: the new tokens are revoked");
        let message = err.to_string();
        check_message(&message, &[&access, &refresh, &s.client_secret]);
        check_places(&s, &[&access, &refresh, &s.client_secret]);
        all_secrets.extend([access, refresh, s.client_secret.clone()]);
        rows.push(Row {
            step: "connect: account details",
            fault,
            state: "not connected; new tokens revoked, nothing stored".into(),
            message,
        });
    }

    // Refresh: connected first with good answers, then the token endpoint misbehaves.
    for fault in FAULTS {
        let (access, refresh) = (unique("at-refresh"), unique("rt-refresh"));
        let (new_access, new_refresh) = (unique("at-new"), unique("rt-new"));
        let s = scene("/unused", Fault::Http500, &access, &refresh).await;
        mount_good(&s.server, &access, &refresh).await;
        let c = connect_with(&s).await.unwrap();
        let before = s.harness.keychain(c.id.as_str()).unwrap();
        // From now on the token endpoint misbehaves.
        s.server.reset().await;
        let s = refault(s, fault, &new_access, &new_refresh).await;
        let result = s.harness.manager.access_token(&c.id, Want::Forced).await;
        let after = s.harness.keychain(c.id.as_str()).unwrap();
        let connection = s.harness.manager.connection(&c.id).unwrap();
        let (state, message) = match (&result, fault.is_usable()) {
            (Ok(token), true) => {
                assert_eq!(token.secret(), &new_access);
                assert!(after.contains(&new_access) && after.contains(&new_refresh), "{fault:?}: new tokens stored");
                (
                    format!(
                        "connected with the new tokens, expires {}",
                        describe_expiry(connection.expires_at.unwrap())
                    ),
                    String::new(),
                )
            }
            (Err(e), false) => {
                assert_eq!(after, before, "{fault:?}: the keychain keeps the tokens it had");
                assert_eq!(connection.status, ConnectionStatus::Connected, "{fault:?}: still connected, retried later");
                ("still connected; old tokens kept; retried with backoff".to_owned(), e.to_string())
            }
            (other, _) => panic!("refresh, {fault:?}: unexpected {other:?}"),
        };
        check_message(&message, &[&access, &refresh, &new_access, &new_refresh, &s.client_secret]);
        check_places(&s, &[&access, &refresh, &new_access, &new_refresh, &s.client_secret]);
        all_secrets.extend([access, refresh, new_access, new_refresh, s.client_secret.clone()]);
        rows.push(Row { step: "refresh", fault, state, message });
    }

    // Disconnect, at the revocation: the connection goes whatever the provider says.
    for fault in FAULTS.into_iter().filter(|f| !f.is_token_shape()) {
        let (access, refresh) = (unique("at-disc"), unique("rt-disc"));
        let s = scene("/revoke", fault, &access, &refresh).await;
        mount_good(&s.server, &access, &refresh).await;
        let c = connect_with(&s).await.unwrap();
        let revoked = s.harness.manager.disconnect(&c.id).await.expect("disconnect works offline")
            == latchkey_core::provider::Revocation::Revoked;
        // A 200 with a truncated body is still a 200: RFC 7009 asks for no body.
        assert_eq!(revoked, fault == Fault::TruncatedJson, "{fault:?}");
        assert!(s.harness.manager.list().is_empty(), "{fault:?}");
        assert_eq!(s.harness.keychain_entries(), 0, "{fault:?}: the tokens are deleted");
        all_secrets.extend([access, refresh, s.client_secret.clone()]);
        let state = if revoked {
            "disconnected; revoked".to_owned()
        } else {
            "disconnected; tokens deleted; the window says the provider did not confirm".to_owned()
        };
        rows.push(Row { step: "disconnect: revocation", fault, state, message: String::new() });
    }

    let secrets: Vec<&str> = all_secrets.iter().map(String::as_str).collect();
    assert_not_logged(&secrets);
    print_table(&rows);
}

/// The scene after `reset`: the token endpoint now answers with `fault`, the rest well.
async fn refault(s: Scene, fault: Fault, access: &str, refresh: &str) -> Scene {
    match fault.response(access, refresh) {
        Some(response) => {
            Mock::given(path("/token")).respond_with(response).mount(&s.server).await;
            mount_good(&s.server, access, refresh).await;
            s
        }
        None => {
            // The same provider, its token endpoint now where nothing listens.
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let dead = url::Url::parse(&format!("http://{}/token", closed.local_addr().unwrap())).unwrap();
            drop(closed);
            let mut config = fake_config(&s.provider, &s.server.uri(), "client-id", Some(&s.client_secret));
            config.spec.issuer = Some(format!("https://{}.example", s.provider));
            config.spec.token_url = dead;
            s.harness.manager.add_provider(std::sync::Arc::new(GenericOAuth2Provider::new(config, http()).unwrap()));
            mount_good(&s.server, access, refresh).await;
            s
        }
    }
}

fn describe_expiry(at: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (at - chrono::Utc::now()).num_seconds();
    match secs {
        s if s <= 1 => "at once (refreshed now)".into(),
        s if s < 86_400 => format!("in about {} min", (s + 30) / 60),
        s => format!("in about {} years (capped)", s / (365 * 86_400)),
    }
}

fn print_table(rows: &[Row]) {
    println!("| step | fault | state afterwards | message |\n|---|---|---|---|");
    for r in rows {
        let message = if r.message.is_empty() { "—".to_owned() } else { r.message.replace('|', "/") };
        println!("| {} | {:?} | {} | {} |", r.step, r.fault, r.state, message);
    }
}
