//! Loopback redirects (checklist line 12): a one-shot listener on the literal 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::provider::RedirectKind;
use latchkey_core::AuthProvider;
use latchkey_tests::{http, query, FakeProvider, Harness};

use crate::support::*;

fn loopback_provider(fake: &FakeProvider) -> Arc<dyn AuthProvider> {
    let mut config = fake.config();
    config.spec.redirect = vec![RedirectKind::Loopback];
    Arc::new(GenericOAuth2Provider::new(config, http()).unwrap())
}

/// What the browser does with the provider's redirect: a GET of the callback URL.
async fn browser_get(url: &str) -> Result<reqwest_like::Answer, String> {
    reqwest_like::get(url).await
}

/// The test's own tiny HTTP client, so that "the port is closed" is seen as a refused connection.
mod reqwest_like {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Answer {
        pub head: String,
        pub body: String,
    }

    pub async fn get(url: &str) -> Result<Answer, String> {
        let url = url::Url::parse(url).map_err(|e| e.to_string())?;
        let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let mut stream = tokio::net::TcpStream::connect(&address).await.map_err(|e| e.to_string())?;
        let target = &url[url::Position::BeforePath..];
        let request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Ok(Answer { head: head.to_owned(), body: body.to_owned() })
    }
}

#[tokio::test]
async fn checklist_12_a_loopback_redirect_binds_127_0_0_1_answers_once_and_closes() {
    let fake = FakeProvider::start("acme").await;
    mount_happy_path(&fake, None).await;
    let h = Harness::new(vec![loopback_provider(&fake)]);
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let redirect = query(&url, "redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"), "the literal address, never localhost: {redirect}");
    assert!(redirect.ends_with("/oauth/callback/acme"));
    let port: u16 = redirect["http://127.0.0.1:".len()..].split('/').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);

    // A stray request (a favicon) does not use up the listener.
    let stray = browser_get(&format!("http://127.0.0.1:{port}/favicon.ico")).await.unwrap();
    assert!(stray.head.starts_with("HTTP/1.1 404"));

    let state = query(&url, "state").unwrap();
    let answer = browser_get(&format!("{redirect}?code=c&state={state}")).await.unwrap();
    assert!(answer.head.starts_with("HTTP/1.1 200"), "{}", answer.head);
    assert!(answer.head.to_ascii_lowercase().contains("referrer-policy: no-referrer"));
    assert!(answer.body.contains("connected ada@example.com"), "{}", answer.body);
    for external in ["src=", "href=", "http://", "https://", "@import", "url("] {
        assert!(!answer.body.contains(external), "the page loads nothing from elsewhere: {external}");
    }
    let c = &h.manager.list()[0];
    assert_eq!(c.nickname, "ada@example.com");

    // The token request repeated the loopback redirect URI exactly (line 13).
    let requests = fake.server.received_requests().await.unwrap();
    let token = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert_eq!(field(token, "redirect_uri").as_deref(), Some(redirect.as_str()));

    // One callback, then the port is closed: a second request gets nothing.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(browser_get(&format!("{redirect}?code=c&state={state}")).await.is_err(), "the port is closed");
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_12_a_loopback_callback_after_cancel_finds_the_port_closed() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![loopback_provider(&fake)]);
    let pending = h.manager.connect(&fake.name).await.unwrap();
    let redirect = query(&pending.url, "redirect_uri").unwrap();
    let state = query(&pending.url, "state").unwrap();
    assert!(h.manager.cancel(&pending.flow_id).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(browser_get(&format!("{redirect}?code=c&state={state}")).await.is_err());
    assert!(h.manager.list().is_empty());
}

#[tokio::test]
async fn checklist_12_a_loopback_callback_must_arrive_on_its_own_port() {
    let fake = FakeProvider::start("acme").await;
    forbid_token(&fake).await;
    let h = Harness::new(vec![loopback_provider(&fake)]);
    h.manager.connect(&fake.name).await.unwrap();
    let url = h.browser.last();
    let state = query(&url, "state").unwrap();
    // The right state on the private-use path, or on another port, is a mix-up: refused.
    for wrong in [
        format!("dev.latchkey.desktop:/oauth/callback/acme?code=c&state={state}"),
        format!("http://127.0.0.1:1/oauth/callback/acme?code=c&state={state}"),
        format!("http://localhost:1/oauth/callback/acme?code=c&state={state}"),
    ] {
        assert!(h.manager.complete(&wrong).await.is_err(), "accepted {wrong}");
    }
    assert!(h.manager.list().is_empty());
}

/// Issue 13: the listener closed on the first request to its path, valid or not, and served one
/// connection at a time for up to 5 s each, so any local process could end a sign-in with one
/// request, or hold it up with an idle connection.
#[tokio::test]
async fn a_forged_or_idle_request_neither_ends_nor_holds_up_a_loopback_sign_in() {
    let fake = FakeProvider::start("acme").await;
    mount_happy_path(&fake, None).await;
    let h = Harness::new(vec![loopback_provider(&fake)]);
    let pending = h.manager.connect(&fake.name).await.unwrap();
    let redirect = query(&pending.url, "redirect_uri").unwrap();
    let state = query(&pending.url, "state").unwrap();
    let port = redirect["http://127.0.0.1:".len()..].split('/').next().unwrap().to_owned();

    // Another local process connects and sends nothing.
    let _idle = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
    // Another sends a callback with a state of its own, and one with none.
    for forged in [format!("{redirect}?code=evil&state=forged"), format!("{redirect}?code=evil")] {
        let answer = browser_get(&forged).await.expect("the listener is still there");
        assert!(answer.head.starts_with("HTTP/1.1 400"), "{}", answer.head);
    }
    assert_eq!(h.manager.pending_flows().len(), 1, "the sign-in goes on");

    let start = std::time::Instant::now();
    let answer = browser_get(&format!("{redirect}?code=c&state={state}")).await.unwrap();
    assert!(answer.head.starts_with("HTTP/1.1 200") && answer.body.contains("connected"), "{}", answer.body);
    assert!(start.elapsed() < Duration::from_secs(3), "not held up by the idle connection");
    let c = &h.manager.list()[0];
    let requests = fake.server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| !String::from_utf8_lossy(&r.body).contains("evil")), "no forged code exchanged");
    h.manager.vault().delete(&c.id).await.unwrap();
}
