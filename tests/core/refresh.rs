//! Background refresh against a provider faked on loopback with lifetimes of a few seconds:
//! ahead of expiry, single-flight (in one process and across processes) against a rotating
//! provider that kills the grant on reuse, old refresh token kept, retries, needs reconnecting,
//! clock jumps, and a process killed mid-refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use latchkey_core::clock::{Clock, ManualClock};
use latchkey_core::manager::ConnectionStatus;
use latchkey_core::refresh::Want;
use latchkey_core::scheduler::Scheduler;
use latchkey_core::CoreEvent;
use latchkey_core::{AuthError, AuthProvider, Connection};
use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Mock, Request, Respond, ResponseTemplate};
use latchkey_tests::{callback, FakeProvider, Harness};

use crate::support::form;

/// What the fake provider answers to a refresh, in turn; `Ok` issues tokens.
#[derive(Clone)]
enum Answer {
    Ok,
    /// Tokens, after a pause shorter than the client's timeout.
    SlowOk,
    Status(u16),
    RateLimited(u64),
    Slow,
    InvalidGrant,
}

/// A token endpoint that rotates refresh tokens and, like Microsoft's and OpenID Certified
/// servers, kills the whole grant when an old refresh token comes back.
struct Rotating {
    lifetime: u64,
    rotate: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u32,
    current_refresh: String,
    dead: bool,
    refreshes: u32,
    refresh_requests: u32,
    /// Each access token issued, with when it expires.
    issued: HashMap<String, Instant>,
    script: Vec<Answer>,
}

impl Rotating {
    fn new(lifetime: u64, rotate: bool) -> Arc<Self> {
        Arc::new(Self { lifetime, rotate, state: Mutex::default() })
    }
    fn refreshes(&self) -> u32 {
        self.state.lock().unwrap().refreshes
    }
    fn requests(&self) -> u32 {
        self.state.lock().unwrap().refresh_requests
    }
    fn dead(&self) -> bool {
        self.state.lock().unwrap().dead
    }
    fn script(&self, answers: Vec<Answer>) {
        self.state.lock().unwrap().script = answers;
    }
    fn expiry_of(&self, token: &str) -> Option<Instant> {
        self.state.lock().unwrap().issued.get(token).copied()
    }
    fn issue(&self, s: &mut State) -> ResponseTemplate {
        s.generation += 1;
        let access = format!("at-{}", s.generation);
        s.issued.insert(access.clone(), Instant::now() + Duration::from_secs(self.lifetime));
        let mut body =
            serde_json::json!({ "access_token": access, "token_type": "Bearer", "expires_in": self.lifetime });
        if self.rotate || s.current_refresh.is_empty() {
            s.current_refresh = format!("rt-{}", s.generation);
            body["refresh_token"] = s.current_refresh.clone().into();
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

struct Shared(Arc<Rotating>);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fields: HashMap<String, String> = form(request).into_iter().collect();
        let this = &self.0;
        let mut s = this.state.lock().unwrap();
        match fields.get("grant_type").map(String::as_str) {
            Some("authorization_code") => this.issue(&mut s),
            Some("refresh_token") => {
                s.refresh_requests += 1;
                let answer = if s.script.is_empty() { Answer::Ok } else { s.script.remove(0) };
                let invalid =
                    || ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"}));
                match answer {
                    Answer::Status(code) => ResponseTemplate::new(code).set_body_string("<html>busy</html>"),
                    Answer::RateLimited(secs) => {
                        ResponseTemplate::new(429).insert_header("retry-after", secs.to_string().as_str())
                    }
                    // Slower than the client's timeout, failing before it changed anything.
                    Answer::Slow => ResponseTemplate::new(503).set_delay(Duration::from_secs(3)),
                    Answer::InvalidGrant => invalid(),
                    Answer::SlowOk => {
                        s.refreshes += 1;
                        this.issue(&mut s).set_delay(Duration::from_millis(800))
                    }
                    Answer::Ok if s.dead => invalid(),
                    Answer::Ok if fields.get("refresh_token") != Some(&s.current_refresh) => {
                        s.dead = true; // reuse of a rotated token: the whole grant dies
                        invalid()
                    }
                    Answer::Ok => {
                        s.refreshes += 1;
                        this.issue(&mut s)
                    }
                }
            }
            _ => ResponseTemplate::new(400),
        }
    }
}

/// Mounts `rotating` as `fake`'s token endpoint, and a userinfo endpoint naming ada.
async fn mount_rotating(fake: &FakeProvider, rotating: &Arc<Rotating>) {
    Mock::given(method("POST")).and(path("/token")).respond_with(Shared(rotating.clone())).mount(&fake.server).await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"email": "ada@example.com"})))
        .mount(&fake.server)
        .await;
}

/// Two providers with 2-second rotating tokens, `first` and "other", and one connection at each
/// made through the real flow; `wrap` may put the first provider behind something of the test's.
async fn two_connected(
    first: &str,
    wrap: impl FnOnce(Arc<dyn AuthProvider>) -> Arc<dyn AuthProvider>,
) -> (Harness, [FakeProvider; 2], [Arc<Rotating>; 2], Vec<latchkey_core::ConnectionId>) {
    let fakes = [FakeProvider::start(first).await, FakeProvider::start("other").await];
    let tokens = [Rotating::new(2, true), Rotating::new(2, true)];
    for (fake, rotating) in fakes.iter().zip(&tokens) {
        mount_rotating(fake, rotating).await;
    }
    let h = Harness::new(vec![wrap(fakes[0].provider()), fakes[1].provider()]);
    let mut ids = Vec::new();
    for fake in &fakes {
        h.manager.connect(&fake.name).await.unwrap();
        ids.push(h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap().id);
    }
    (h, fakes, tokens, ids)
}

/// A provider with `lifetime`-second tokens and one connection made through the real flow.
async fn connected(lifetime: u64, rotate: bool) -> (FakeProvider, Harness, Arc<Rotating>, Connection) {
    connected_on(lifetime, rotate, None).await
}

async fn connected_on(
    lifetime: u64,
    rotate: bool,
    clock: Option<Arc<dyn Clock>>,
) -> (FakeProvider, Harness, Arc<Rotating>, Connection) {
    let fake = FakeProvider::start("acme").await;
    let rotating = Rotating::new(lifetime, rotate);
    mount_rotating(&fake, &rotating).await;
    let h = Harness::with_clock(vec![fake.provider()], clock);
    h.manager.connect(&fake.name).await.unwrap();
    let c = h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    (fake, h, rotating, c)
}

fn stored_refresh(h: &Harness, c: &Connection) -> String {
    let raw = h.keychain(c.id.as_str()).unwrap();
    serde_json::from_str::<serde_json::Value>(&raw).unwrap()["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn checklist_20_tokens_are_refreshed_ahead_of_expiry_and_never_handed_out_after() {
    let (_fake, h, rotating, c) = connected(4, true).await;
    let manager = h.manager.clone();
    let scheduler = tokio::spawn(Scheduler::new(manager.clone()).run());
    let start = Instant::now();
    let mut handed_out = 0;
    while start.elapsed() < Duration::from_secs(9) {
        let token = manager.access_token(&c.id, Want::Fresh).await.unwrap();
        let expires = rotating.expiry_of(token.secret()).expect("a token the provider issued");
        assert!(Instant::now() < expires, "a token was handed out after its expiry");
        handed_out += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scheduler.abort();
    // 4 s tokens with a 2 s margin: about one refresh every 2 s, each exactly once.
    let refreshes = rotating.refreshes();
    assert!((3..=6).contains(&refreshes), "{refreshes} refreshes in 9 s");
    assert_eq!(rotating.requests(), refreshes, "no refresh was repeated or wasted");
    assert!(!rotating.dead(), "no old refresh token was ever reused");
    assert!(handed_out > 50);
    let c = manager.connection(&c.id).unwrap();
    assert!(c.last_refreshed.is_some());
    assert_eq!(c.status, ConnectionStatus::Connected);
    manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_21_a_hundred_concurrent_callers_in_one_process_cause_one_refresh() {
    let (_fake, h, rotating, c) = connected(2, true).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // inside the 1 s margin
    let manager = h.manager.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (manager, id) = (manager.clone(), c.id.clone());
        tasks.spawn(async move { manager.access_token(&id, Want::Fresh).await.unwrap().secret().clone() });
    }
    let tokens: Vec<String> = tasks.join_all().await;
    assert_eq!(rotating.refreshes(), 1);
    assert_eq!(rotating.requests(), 1);
    assert!(tokens.iter().all(|t| t == "at-2"), "every caller got the refreshed token");
    assert!(!rotating.dead());
    manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_21_a_hundred_callers_from_four_processes_cause_one_refresh() {
    let (fake, h, rotating, c) = connected(2, true).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let children: Vec<_> = (0..4)
        .map(|_| token_client(&fake, &h, &c, "25", "fresh").stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let mut tokens = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        tokens.extend(String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned));
    }
    assert_eq!(tokens.len(), 100);
    assert!(tokens.iter().all(|t| t == "at-2"), "{:?}", tokens.iter().find(|t| *t != "at-2"));
    assert_eq!(rotating.refreshes(), 1);
    assert_eq!(rotating.requests(), 1, "one refresh request for the cycle");
    assert!(!rotating.dead());
    // This process sees the other processes' refresh.
    assert_eq!(h.manager.access_token(&c.id, Want::Fresh).await.unwrap().secret(), "at-2");
    assert!(h.manager.connection(&c.id).unwrap().last_refreshed.is_some());
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_22_a_response_without_refresh_token_keeps_the_old_one() {
    let (_fake, h, rotating, c) = connected(3600, false).await;
    assert_eq!(stored_refresh(&h, &c), "rt-1");
    let token = h.manager.access_token(&c.id, Want::Forced).await.unwrap();
    assert_eq!(token.secret(), "at-2");
    assert_eq!(stored_refresh(&h, &c), "rt-1", "the old refresh token is kept");
    h.manager.access_token(&c.id, Want::Forced).await.unwrap();
    assert_eq!(rotating.refreshes(), 2);
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_22_the_new_refresh_token_is_in_the_keychain_before_the_new_access_token_is_returned() {
    let (_fake, h, _rotating, c) = connected(3600, true).await;
    let token = h.manager.access_token(&c.id, Want::Forced).await.unwrap();
    // When the caller holds at-2, a fresh look at the keychain already shows rt-2.
    assert_eq!(token.secret(), "at-2");
    assert_eq!(stored_refresh(&h, &c), "rt-2");
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn checklist_23_server_errors_429_and_timeouts_are_retried_and_recover_while_staying_connected() {
    let (_fake, h, rotating, c) = connected(2, true).await;
    rotating.script(vec![Answer::Status(500), Answer::RateLimited(1), Answer::Status(502), Answer::Slow, Answer::Ok]);
    let manager = h.manager.clone();
    let scheduler =
        Scheduler::new(manager.clone()).with_backoff(Duration::from_millis(100), Duration::from_millis(400));
    let stats = scheduler.stats();
    let task = tokio::spawn(scheduler.run());
    let start = Instant::now();
    while rotating.refreshes() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "never recovered");
        assert_eq!(manager.connection(&c.id).unwrap().status, ConnectionStatus::Connected);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(rotating.requests() >= 5, "{} requests", rotating.requests());
    assert!(stats.failures.load(std::sync::atomic::Ordering::Relaxed) >= 4);
    // The 429 asked for a second: the attempt after it came no sooner.
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(manager.connection(&c.id).unwrap().status, ConnectionStatus::Connected);
    manager.vault().delete(&c.id).await.unwrap();
}

/// Issue 13: `Retry-After: 9000000000000` overflowed a date in the scheduler and panicked it,
/// which stopped background refresh for every connection until a restart.
#[tokio::test]
async fn an_absurd_retry_after_delays_only_its_connection_and_the_scheduler_goes_on() {
    let (h, _fakes, [limited, fine], ids) = two_connected("slow", |p| p).await;
    limited.script(vec![Answer::RateLimited(9_000_000_000_000); 50]);
    let task = tokio::spawn(Scheduler::new(h.manager.clone()).run());
    let start = Instant::now();
    while fine.refreshes() < 3 {
        assert!(!task.is_finished(), "the scheduler stopped");
        assert!(start.elapsed() < Duration::from_secs(20), "the other connection stopped being refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!task.is_finished(), "the scheduler stopped");
    task.abort();
    assert_eq!(limited.requests(), 1, "the rate-limited connection waits (a day at most), not retrying at once");
    assert_eq!(h.manager.connection(&ids[0]).unwrap().status, ConnectionStatus::Connected);
    for id in &ids {
        h.manager.vault().delete(id).await.unwrap();
    }
}

/// A provider whose refresh panics (a bug of ours or of a dependency), otherwise the fake one.
struct Panicking(Arc<dyn AuthProvider>);

#[async_trait::async_trait]
impl AuthProvider for Panicking {
    fn name(&self) -> &latchkey_core::ProviderId {
        self.0.name()
    }
    fn get_url(
        &self,
        redirect_uri: &str,
        state: &str,
        pkce: Option<&oauth2::PkceCodeChallenge>,
    ) -> Result<url::Url, AuthError> {
        self.0.get_url(redirect_uri, state, pkce)
    }
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<oauth2::PkceCodeVerifier>,
    ) -> Result<latchkey_core::TokenResponse, AuthError> {
        self.0.exchange(code, redirect_uri, verifier).await
    }
    async fn refresh(&self, _: &oauth2::RefreshToken) -> Result<latchkey_core::TokenResponse, AuthError> {
        panic!("a refresh that panics");
    }
    async fn get_nickname(&self, token: &oauth2::AccessToken) -> Result<String, AuthError> {
        self.0.get_nickname(token).await
    }
}

#[tokio::test]
async fn a_refresh_that_panics_costs_only_its_connection_and_is_retried() {
    let (h, _fakes, [_, fine], ids) = two_connected("broken", |p| Arc::new(Panicking(p))).await;
    let scheduler =
        Scheduler::new(h.manager.clone()).with_backoff(Duration::from_millis(100), Duration::from_millis(200));
    let stats = scheduler.stats();
    let task = tokio::spawn(scheduler.run());
    let start = Instant::now();
    while fine.refreshes() < 3 || stats.failures.load(std::sync::atomic::Ordering::Relaxed) < 3 {
        assert!(!task.is_finished(), "the scheduler stopped");
        assert!(start.elapsed() < Duration::from_secs(20), "the scheduler stopped refreshing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    // The panicking connection was tried again (three failures booked), not left "running".
    assert_eq!(h.manager.connection(&ids[0]).unwrap().status, ConnectionStatus::Connected);
    for id in &ids {
        h.manager.vault().delete(id).await.unwrap();
    }
}

#[tokio::test]
async fn checklist_23_invalid_grant_means_needs_reconnecting_with_a_notice_no_retries_and_secrets_kept() {
    let (_fake, h, rotating, c) = connected(2, true).await;
    rotating.script(vec![Answer::InvalidGrant]);
    let mut events = h.manager.events();
    let manager = h.manager.clone();
    let task = tokio::spawn(Scheduler::new(manager.clone()).run());
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("a notice").unwrap();
    let CoreEvent::NeedsReconnect(notified) = event;
    assert_eq!(notified.id, c.id);
    assert_eq!(notified.status, ConnectionStatus::NeedsReconnect);
    tokio::time::sleep(Duration::from_secs(2)).await;
    task.abort();
    assert_eq!(rotating.requests(), 1, "no retry loop");
    assert_eq!(manager.connection(&c.id).unwrap().status, ConnectionStatus::NeedsReconnect);
    assert!(h.keychain(c.id.as_str()).is_some(), "nothing deleted");
    let err = manager.access_token(&c.id, Want::Fresh).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }));
    manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn a_clock_jump_or_resume_refreshes_what_is_overdue_at_once() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (_fake, h, rotating, c) = connected_on(3600, true, Some(clock.clone())).await;
    let manager = h.manager.clone();
    let task = tokio::spawn(Scheduler::new(manager.clone()).run());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rotating.requests(), 0, "nothing is due yet");
    // The machine wakes two hours later.
    clock.set(Utc::now() + chrono::Duration::hours(2));
    let start = Instant::now();
    while rotating.refreshes() == 0 {
        assert!(start.elapsed() < Duration::from_secs(3), "the overdue refresh did not come within seconds");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.abort();
    assert_eq!(rotating.refreshes(), 1, "one refresh, then the next deadline is an hour ahead");
    let c = manager.connection(&c.id).unwrap();
    assert!(c.expires_at.unwrap() > clock.now() + chrono::Duration::minutes(50));
    manager.vault().delete(&c.id).await.unwrap();
}

/// Another process asking for `c`'s token: `callers` at once, `fresh` or `forced`.
fn token_client(fake: &FakeProvider, h: &Harness, c: &Connection, callers: &str, want: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_token-client"));
    cmd.args([
        h.data_dir.path().to_str().unwrap(),
        &h.service,
        &fake.server.uri(),
        &fake.client_id,
        c.id.as_str(),
        callers,
        want,
    ]);
    cmd
}

/// Kills a process between the token response and the keychain write, then looks.
async fn killed_mid_refresh(rotate: bool) -> (Harness, Arc<Rotating>, Connection) {
    let (fake, h, rotating, c) = connected(3600, rotate).await;
    let out = token_client(&fake, &h, &c, "1", "forced")
        .env("LATCHKEY_FAILPOINT", "after-refresh-response")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process was killed at the failpoint");
    assert!(String::from_utf8_lossy(&out.stderr).contains("failpoint after-refresh-response"));
    assert_eq!(rotating.refreshes(), 1, "the provider answered before the process died");
    assert_eq!(stored_refresh(&h, &c), "rt-1", "the keychain was not written");
    std::mem::forget(fake); // keep the server up for the next look
    (h, rotating, c)
}

#[tokio::test]
async fn killed_mid_refresh_at_a_rotating_provider_the_connection_clearly_needs_reconnecting() {
    let (h, _rotating, c) = killed_mid_refresh(true).await;
    let err = h.manager.access_token(&c.id, Want::Forced).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
    assert_eq!(h.manager.connection(&c.id).unwrap().status, ConnectionStatus::NeedsReconnect);
    assert!(h.keychain(c.id.as_str()).is_some(), "not silently lost: still listed, tokens kept");
    h.manager.vault().delete(&c.id).await.unwrap();
}

#[tokio::test]
async fn killed_mid_refresh_at_a_non_rotating_provider_the_connection_still_refreshes() {
    let (h, _rotating, c) = killed_mid_refresh(false).await;
    let token = h.manager.access_token(&c.id, Want::Forced).await.unwrap();
    assert_eq!(token.secret(), "at-3");
    assert_eq!(h.manager.connection(&c.id).unwrap().status, ConnectionStatus::Connected);
    h.manager.vault().delete(&c.id).await.unwrap();
}

/// Issues `at-N`/`rt-N` for any grant, never rotates; the nickname is the token's number.
struct Plain(Arc<Mutex<u32>>);

impl Respond for Plain {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.url.path() == "/userinfo" {
            let bearer = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let n = bearer.rsplit('-').next().unwrap_or("0");
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "email": format!("user{n}@example.com") }));
        }
        let mut n = self.0.lock().unwrap();
        *n += 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("at-{n}"), "refresh_token": format!("rt-{n}"), "token_type": "Bearer", "expires_in": 2
        }))
    }
}

async fn serve_plain(
    listener: std::net::TcpListener,
    counter: Arc<Mutex<u32>>,
) -> latchkey_tests::wiremock::MockServer {
    let server = latchkey_tests::wiremock::MockServer::builder().listener(listener).start().await;
    Mock::given(path("/token")).respond_with(Plain(counter.clone())).mount(&server).await;
    Mock::given(path("/userinfo")).respond_with(Plain(counter)).mount(&server).await;
    server
}

#[tokio::test]
async fn while_a_provider_is_unreachable_one_connection_probes_and_all_recover_when_it_returns() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let counter = Arc::new(Mutex::new(0));
    let server = serve_plain(listener, counter.clone()).await;
    let config = latchkey_tests::fake_config("acme", &server.uri(), "client", None);
    let provider =
        Arc::new(latchkey_core::oauth2_generic::GenericOAuth2Provider::new(config, latchkey_tests::http()).unwrap());
    let h = Harness::new(vec![provider]);
    for _ in 0..5 {
        h.manager.connect(&latchkey_core::ProviderId::new("acme").unwrap()).await.unwrap();
        h.manager.complete(&callback(&h.browser.last(), "&code=c")).await.unwrap();
    }
    assert_eq!(h.manager.list().len(), 5);

    // The network goes away: the provider's port refuses connections.
    drop(server);
    let scheduler =
        Scheduler::new(h.manager.clone()).with_backoff(Duration::from_millis(200), Duration::from_millis(400));
    let stats = scheduler.stats();
    let task = tokio::spawn(scheduler.run());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failures = stats.failures.load(std::sync::atomic::Ordering::Relaxed);
    // Five connections each retrying at 200-400 ms would fail some 40 times in 3 s; one probe
    // at that pace fails about 8 times (plus the first round).
    assert!(failures <= 16, "{failures} attempts while the provider was unreachable");
    assert!(h.manager.list().iter().all(|c| c.status == ConnectionStatus::Connected), "still connected");

    // It comes back on the same address: the probe succeeds and every connection refreshes.
    let _server = serve_plain(std::net::TcpListener::bind(address).unwrap(), counter).await;
    let start = Instant::now();
    while h.manager.list().iter().any(|c| c.last_refreshed.is_none()) {
        assert!(start.elapsed() < Duration::from_secs(10), "not all recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    for c in h.manager.list() {
        h.manager.vault().delete(&c.id).await.unwrap();
    }
}

#[tokio::test]
async fn a_disconnect_during_a_refresh_waits_for_it_and_leaves_nothing_behind() {
    let (fake, h, rotating, c) = connected(3600, true).await;
    Mock::given(path("/revoke")).respond_with(ResponseTemplate::new(200)).mount(&fake.server).await;
    // A refresh that takes 0.8 s at the provider; the disconnect comes in the middle of it.
    rotating.script(vec![Answer::SlowOk]);
    let manager = h.manager.clone();
    let id = c.id.clone();
    let refresh = tokio::spawn(async move { manager.access_token(&id, Want::Forced).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.manager.disconnect(&c.id).await.unwrap();
    let refreshed = refresh.await.unwrap();
    assert!(refreshed.is_ok(), "the refresh in flight completed first: {refreshed:?}");
    assert_eq!(h.keychain(c.id.as_str()), None, "no tokens written back after the disconnect");
    assert!(h.manager.connection(&c.id).is_none());
}

/// A token far from expiry is handed out without waiting for the connection's lock (held here
/// as a long refresh or a disconnect elsewhere would hold it): programs asking over D-Bus do not
/// queue behind each other. Once due, the lock is waited for, as single-flight needs.
#[tokio::test]
async fn a_token_far_from_expiry_is_read_without_waiting_for_the_connections_lock() {
    let (_fake, h, rotating, c) = connected(3600, true).await;
    let held = h.manager.connections().lock(&c.id).await.unwrap();
    let token = tokio::time::timeout(Duration::from_secs(2), h.manager.access_token(&c.id, Want::Fresh)).await;
    let token = token.expect("a fresh token does not wait for the lock").unwrap();
    assert!(rotating.expiry_of(token.secret()).is_some(), "the token the provider issued");
    // Forced (as when due), it waits for the lock.
    let forced = tokio::time::timeout(Duration::from_millis(500), h.manager.access_token(&c.id, Want::Forced)).await;
    assert!(forced.is_err(), "a refresh waits for the lock");
    drop(held);
    h.manager.vault().delete(&c.id).await.unwrap();
}

/// Issue 13: a connection is refreshed and revoked only by the authority it was made with. A
/// provider of the same id at other endpoints (an added provider that took a catalog id, a
/// changed registration) gets none of its tokens: the connection needs reconnecting instead.
#[tokio::test]
async fn a_connection_is_never_refreshed_or_revoked_at_endpoints_other_than_its_own() {
    let (_fake, h, _rotating, c) = connected(3600, true).await;
    assert!(c.authority.is_some(), "recorded at sign-in");
    let impostor = FakeProvider::start("acme").await;
    h.manager.add_provider(impostor.provider());

    let err = h.manager.access_token(&c.id, Want::Forced).await.unwrap_err();
    assert!(matches!(err, AuthError::NeedsReconnect { .. }), "{err:?}");
    assert_eq!(h.manager.connection(&c.id).unwrap().status, ConnectionStatus::NeedsReconnect);
    assert_eq!(
        h.manager.disconnect(&c.id).await.unwrap(),
        latchkey_core::provider::Revocation::NotConfirmed,
        "not revoked at the other endpoints"
    );
    assert!(impostor.server.received_requests().await.unwrap().is_empty(), "nothing was sent to it");
    assert_eq!(h.keychain(c.id.as_str()), None, "deleted locally all the same");
}
