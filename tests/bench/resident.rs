//! Benchmark of Latchkey resident (issue 11), run by scripts/bench.sh in a private session bus,
//! keychain and Xvfb display, on release builds:
//!
//! - memory, PSS of Latchkey and all its child processes (from /proc/<pid>/smaps_rollup), with
//!   20 Demo connections made through the window: the window open; after the window is closed;
//!   and started with `--hidden` (as at login), where no window was ever opened;
//! - `GetAccessToken` over D-Bus for a fresh token (no refresh needed): median and p99 of
//!   sequential calls from a zbus client, and the wall time of `latchkey token` asking the app.
//!
//! Not a test: it asserts nothing about speed or size; it prints figures and writes
//! target/bench-resident.json.

#[allow(dead_code)] // the benchmark uses part of the e2e client
#[path = "../e2e/webdriver.rs"]
mod webdriver;

#[path = "pss.rs"]
mod pss;
use pss::{app_env, app_pid, pss_tree, start_tauri_driver, window_pid};

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APP: &str = env!("CARGO_BIN_EXE_latchkey");
const RESIDENT: &str = env!("CARGO_BIN_EXE_latchkey-resident");
const CONNECTIONS: usize = 20;
const CALLS: usize = 2000;
const WAIT: Duration = Duration::from_secs(60);

fn env_for(cmd: &mut Command, dir: &Path) {
    app_env(cmd, dir, APP);
}

fn kill_group(child: &mut Child) {
    pss::kill_group(child);
    std::thread::sleep(Duration::from_millis(300));
}

/// The median of five PSS samples a second apart, in MiB, with the processes of the last.
fn memory(label: &str, pid: u32) -> serde_json::Value {
    let mut samples = Vec::new();
    let mut names = Vec::new();
    for _ in 0..5 {
        let (kib, n) = pss_tree(pid);
        samples.push(kib as f64 / 1024.0);
        names = n;
        std::thread::sleep(Duration::from_secs(1));
    }
    let m = percentile(&samples, 50.0);
    println!("{label:<44} PSS median {m:>6.1} MiB   processes: {}", names.join(", "));
    serde_json::json!({ "pss_mib": samples, "median_pss_mib": m, "processes": names })
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[rank.min(v.len() - 1)]
}

async fn click(session: &webdriver::Session, css: &str) {
    let start = Instant::now();
    while !session.click(&session.wait_for(css, WAIT).await).await {
        assert!(start.elapsed() < WAIT, "could not click {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connection_ids(session: &webdriver::Session) -> Vec<String> {
    let ids = session
        .execute("return [...document.querySelectorAll('[data-connection]')].map(e => e.dataset.connection)")
        .await;
    ids.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

/// Sequential `GetAccessToken` calls from a zbus client: median and p99 in milliseconds.
async fn dbus_latency(id: &str) -> serde_json::Value {
    let bus = zbus::Connection::session().await.unwrap();
    let proxy = zbus::Proxy::new(&bus, "dev.latchkey.Latchkey1", "/dev/latchkey/Latchkey1", "dev.latchkey.Latchkey1")
        .await
        .unwrap();
    for _ in 0..50 {
        let _: (String, i32) = proxy.call("GetAccessToken", &(id,)).await.unwrap();
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let (token, _): (String, i32) = proxy.call("GetAccessToken", &(id,)).await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(!token.is_empty());
    }
    let (median, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    println!("{:<44} median {median:.3} ms, p99 {p99:.3} ms ({CALLS} calls)", "GetAccessToken over D-Bus, fresh token");
    serde_json::json!({ "calls": CALLS, "median_ms": median, "p99_ms": p99 })
}

/// `latchkey token <id>` asking the running app: wall time of the whole process.
fn command_latency(dir: &Path, id: &str) -> serde_json::Value {
    let mut times = Vec::new();
    for _ in 0..20 {
        let mut cmd = Command::new(APP);
        cmd.args(["token", id]).stdout(Stdio::null()).stderr(Stdio::null());
        env_for(&mut cmd, dir);
        let start = Instant::now();
        assert!(cmd.status().unwrap().success());
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let median = percentile(&times, 50.0);
    println!("{:<44} median {median:.1} ms (20 runs)", "`latchkey token` with the app running");
    serde_json::json!({ "runs": 20, "median_ms": median })
}

async fn run() -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    let (mut driver, port) = start_tauri_driver(|cmd| env_for(cmd, dir.path()));

    // Twenty Demo accounts, signed in through the window and the test browser.
    let session = webdriver::Session::start(port, APP, &[]).await;
    for i in 1..=CONNECTIONS {
        std::fs::write(dir.path().join("user"), format!("user-{i:02}")).unwrap();
        click(&session, "[data-provider=demo] [data-action=connect]").await;
        let start = Instant::now();
        while connection_ids(&session).await.len() < i {
            assert!(start.elapsed() < WAIT, "connection {i} never showed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let ids = connection_ids(&session).await;
    let pid = window_pid(dir.path(), APP).expect("the app runs");
    std::thread::sleep(Duration::from_secs(3));
    let open = memory(&format!("window open, {CONNECTIONS} connections"), pid);

    // The window closed (the first close explains; then it goes, with its process):
    // latchkey-resident, which the window started, goes on.
    session.execute("window.__TAURI_INTERNALS__.invoke('plugin:window|close', { label: 'main' }); return true").await;
    let close = session.wait_for("#closing-close", WAIT).await;
    assert!(session.click_closing(&close, true).await, "could not click #closing-close");
    let start = Instant::now();
    while window_pid(dir.path(), APP).is_some() {
        assert!(start.elapsed() < WAIT, "the window's process did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::thread::sleep(Duration::from_secs(5));
    let resident = app_pid(dir.path(), RESIDENT).expect("latchkey-resident runs");
    let closed = memory(&format!("window closed, {CONNECTIONS} connections"), resident);
    let dbus = dbus_latency(&ids[0]).await;
    let command = command_latency(dir.path(), &ids[0]);
    kill_group(&mut driver);

    // Started hidden, as at login.
    let mut hidden = Command::new(APP);
    hidden.arg("--hidden").stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    env_for(&mut hidden, dir.path());
    let mut hidden = hidden.spawn().unwrap();
    let start = Instant::now();
    let bus = zbus::Connection::session().await.unwrap();
    loop {
        let listed = bus
            .call_method(
                Some("dev.latchkey.Latchkey1"),
                "/dev/latchkey/Latchkey1",
                Some("dev.latchkey.Latchkey1"),
                "ListAccounts",
                &(),
            )
            .await;
        if listed.is_ok() {
            break;
        }
        assert!(start.elapsed() < WAIT, "the hidden app never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::thread::sleep(Duration::from_secs(5));
    let started_hidden = memory(&format!("started --hidden, {CONNECTIONS} connections"), hidden.id());
    kill_group(&mut hidden);
    let _ = Command::new("secret-tool").args(["clear", "service", "dev.latchkey.desktop"]).status();

    serde_json::json!({
        "connections": CONNECTIONS,
        "window_open": open,
        "window_closed": closed,
        "started_hidden": started_hidden,
        "get_access_token_dbus": dbus,
        "latchkey_token_command": command,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo asks benches to list themselves; this one has no sub-benchmarks
    }
    println!("Latchkey resident benchmark: release build, {CONNECTIONS} Demo connections\n");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let report = runtime.block_on(run());
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-resident.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
