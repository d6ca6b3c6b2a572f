//! Benchmark of background refresh (issue 5): 10,000 connections in the headless core (secrets
//! and metadata in memory), a provider on loopback in a separate process (so that this process's
//! CPU time is Latchkey's alone), and the real scheduler on the system clock.
//!
//! Reports: refreshes per token per lifetime (goal 1: no refresh repeated, none late), tokens
//! handed out after their expiry (goal 0), CPU time per refresh, memory, and the scheduler's
//! wake-ups while nothing was due. Prints figures; asserts nothing about speed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_core::manager::ManagerOptions;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::refresh::Want;
use latchkey_core::scheduler::Scheduler;
use latchkey_core::{Browser, ConnectionManager};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CONNECTIONS: usize = 10_000;
const LIFETIME: u64 = 60;
const RUN: Duration = Duration::from_secs(150);

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

// ---- the provider, in its own process -------------------------------------------------------

#[derive(Default)]
struct Grants {
    /// grant -> current generation, and when its access token expires (ms)
    current: HashMap<String, u32>,
    expires: HashMap<String, u128>,
    refreshes: u64,
    reused: u64,
    late: u64,
    issued: u64,
}

struct Provider(Arc<Mutex<Grants>>);

fn tokens(grant: &str, generation: u32) -> ResponseTemplate {
    let exp = now_ms() + u128::from(LIFETIME) * 1000;
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": format!("at.{grant}.{generation}.{exp}"),
        "refresh_token": format!("rt.{grant}.{generation}.{exp}"),
        "token_type": "Bearer",
        "expires_in": LIFETIME,
    }))
}

impl Respond for Provider {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let mut g = self.0.lock().unwrap();
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let grant = form["code"].clone();
                g.current.insert(grant.clone(), 0);
                g.expires.insert(grant.clone(), now_ms() + u128::from(LIFETIME) * 1000);
                g.issued += 1;
                tokens(&grant, 0)
            }
            Some("refresh_token") => {
                let rt = &form["refresh_token"];
                let parts: Vec<&str> = rt.split('.').collect();
                let (grant, generation, exp) =
                    (parts[1], parts[2].parse::<u32>().unwrap(), parts[3].parse::<u128>().unwrap());
                if now_ms() > exp {
                    g.late += 1; // refreshed only after the access token had expired
                }
                if g.current.get(grant) != Some(&generation) {
                    g.reused += 1;
                    return ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"}));
                }
                g.current.insert(grant.to_owned(), generation + 1);
                g.expires.insert(grant.to_owned(), now_ms() + u128::from(LIFETIME) * 1000);
                g.refreshes += 1;
                g.issued += 1;
                tokens(grant, generation + 1)
            }
            _ => ResponseTemplate::new(400),
        }
    }
}

/// One account per grant: the nickname is the grant's name.
struct UserInfo;
impl Respond for UserInfo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let bearer = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let grant = bearer.split('.').nth(1).unwrap_or("unknown");
        ResponseTemplate::new(200).set_body_json(serde_json::json!({ "email": format!("{grant}@example.com") }))
    }
}

struct Stats(Arc<Mutex<Grants>>);
impl Respond for Stats {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let g = self.0.lock().unwrap();
        let now = now_ms();
        let lapsed = g.expires.values().filter(|exp| **exp <= now).count();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "refreshes": g.refreshes, "reused": g.reused, "late": g.late, "issued": g.issued,
            "grants": g.current.len(), "lapsed": lapsed,
        }))
    }
}

async fn provider_process() {
    let grants = Arc::new(Mutex::new(Grants::default()));
    let server = MockServer::builder().body_print_limit(wiremock::BodyPrintLimit::Limited(0)).start().await;
    Mock::given(method("POST")).and(path("/token")).respond_with(Provider(grants.clone())).mount(&server).await;
    Mock::given(method("GET")).and(path("/stats")).respond_with(Stats(grants.clone())).mount(&server).await;
    Mock::given(method("GET")).and(path("/userinfo")).respond_with(UserInfo).mount(&server).await;
    println!("PROVIDER {}", server.uri());
    // Until the parent closes our stdin.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

// ---- Latchkey's side --------------------------------------------------------------------------

struct NoBrowser;
impl Browser for NoBrowser {
    fn open(&self, _: &url::Url) -> Result<(), String> {
        Ok(())
    }
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc_rusage>::zeroed();
    unsafe { getrusage(0, usage.as_mut_ptr()) };
    let u = unsafe { usage.assume_init() };
    (u.utime_s + u.stime_s) as f64 + (u.utime_us + u.stime_us) as f64 / 1e6
}

#[repr(C)]
struct libc_rusage {
    utime_s: i64,
    utime_us: i64,
    stime_s: i64,
    stime_us: i64,
    rest: [i64; 14],
}
extern "C" {
    fn getrusage(who: i32, usage: *mut libc_rusage) -> i32;
}

fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0u64)
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

async fn bench() {
    // The provider, in a child process.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LATCHKEY_BENCH_PROVIDER", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let base = first.trim().strip_prefix("PROVIDER ").unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let manager = Arc::new(ConnectionManager::in_memory(ManagerOptions::new(dir.path()), Arc::new(NoBrowser)));
    let mut config = latchkey_tests::fake_config("acme", &base, "bench", None);
    config.spec.nickname.pointers = vec!["/email".into()];
    let http = latchkey_core::http::HttpClient::new(Duration::from_secs(10)).unwrap();
    manager.add_provider(Arc::new(GenericOAuth2Provider::new(config, http).unwrap()));
    let (rss_before, _) = memory();

    // 10,000 connections through the real flow (connect, callback, exchange, nickname).
    let setup = Instant::now();
    let provider = latchkey_core::ProviderId::new("acme").unwrap();
    let mut ids = Vec::with_capacity(CONNECTIONS);
    for chunk in (0..CONNECTIONS).collect::<Vec<_>>().chunks(64) {
        let mut tasks = tokio::task::JoinSet::new();
        for &i in chunk {
            let (manager, provider) = (manager.clone(), provider.clone());
            tasks.spawn(async move {
                let pending = manager.connect(&provider).await.unwrap();
                let cb = latchkey_tests::callback(&pending.url, &format!("&code=g{i}"));
                manager.complete(&cb).await.unwrap().id
            });
        }
        ids.extend(tasks.join_all().await);
    }
    let connected = manager.list().len();
    println!("set-up: {connected} connections in {:.1} s", setup.elapsed().as_secs_f64());
    let (rss_connected, _) = memory();

    // The scheduler, and consumers asking for tokens all along.
    let scheduler = Scheduler::new(manager.clone()).with_concurrency(16);
    let stats = scheduler.stats();
    let cpu0 = cpu_seconds();
    let task = tokio::spawn(scheduler.run());
    let handed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let expired = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tick = 0usize;
    while start.elapsed() < RUN {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // 200 consumers each half second, spread over all connections.
        for k in 0..200 {
            let id = &ids[(tick * 200 + k * 37) % ids.len()];
            if let Ok(token) = manager.access_token(id, Want::Fresh).await {
                handed.fetch_add(1, Ordering::Relaxed);
                let exp: u128 = token.secret().rsplit('.').next().unwrap().parse().unwrap();
                if now_ms() >= exp {
                    expired.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        tick += 1;
    }
    let cpu = cpu_seconds() - cpu0;
    task.abort();
    let (rss_end, hwm) = memory();

    let s: serde_json::Value = reqwest_get(&format!("{base}/stats")).await;
    let refreshes = stats.refreshes.load(Ordering::Relaxed);
    let margin = latchkey_core::refresh::margin(Some(LIFETIME)).as_secs_f64();
    let expected = RUN.as_secs_f64() / (LIFETIME as f64 - margin * 1.1) * connected as f64;
    println!("run: {} s with {connected} connections of {LIFETIME} s tokens", RUN.as_secs());
    let provider_refreshes = s["refreshes"].as_u64().unwrap_or(0);
    let (reused, late, lapsed) =
        (s["reused"].as_u64().unwrap_or(0), s["late"].as_u64().unwrap_or(0), s["lapsed"].as_u64().unwrap_or(0));
    println!(
        "refreshes: {refreshes} by the scheduler, {provider_refreshes} at the provider (about {expected:.0} expected)"
    );
    println!(
        "  refresh tokens used twice: {reused}; refreshed only after expiry: {late}; tokens left to lapse: {lapsed}"
    );
    // Each token that reached its refresh point was refreshed once: retired tokens are the
    // refreshes plus what was reused or lapsed.
    let retired = provider_refreshes + reused + lapsed;
    println!(
        "refreshes per token per lifetime: {:.4} (goal 1)",
        provider_refreshes as f64 / retired.max(1) as f64 + reused as f64 / retired.max(1) as f64
    );
    println!(
        "tokens handed out: {}, after their expiry: {} (goal 0)",
        handed.load(Ordering::Relaxed),
        expired.load(Ordering::Relaxed)
    );
    println!(
        "CPU: {cpu:.1} s for {refreshes} refreshes and the consumers: {:.0} µs per refresh",
        cpu / refreshes.max(1) as f64 * 1e6
    );
    println!(
        "memory (RSS): {} MiB before, {} MiB with {connected} connections, {} MiB at the end (peak {} MiB)",
        rss_before / 1024,
        rss_connected / 1024,
        rss_end / 1024,
        hwm / 1024
    );
    println!(
        "scheduler wake-ups: {} in all, {} while nothing was due (goal 0)",
        stats.wakeups.load(Ordering::Relaxed),
        stats.idle_wakeups.load(Ordering::Relaxed)
    );
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    let http = latchkey_tests::http();
    http.inner().get(url).send().await.unwrap().json().await.unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if std::env::var("LATCHKEY_BENCH_PROVIDER").is_ok() {
        runtime.block_on(provider_process());
    } else {
        runtime.block_on(bench());
    }
}
