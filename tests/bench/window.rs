//! Benchmark of the window (issue 3), run by scripts/bench.sh in a private session bus,
//! keychain and Xvfb display, on release builds:
//!
//! - launch to window loaded (page load finished) for Latchkey and for a bare Tauri window with
//!   the same plugins; for Latchkey also launch to provider list interactive (the window has
//!   asked for and received the state it renders);
//! - memory: PSS of the app and its WebKit processes, from /proc/<pid>/smaps_rollup, 3 s after
//!   the window loaded;
//! - deep link to connection shown, with the Demo provider: from the second launch carrying the
//!   callback to the first frame painted with the connection row (the page notes the time), and
//!   inside the app (log timestamps of "deep link received" and of "connected", when the window
//!   is told). Each run's times go to stderr; `LATCHKEY_BENCH_KEEP_LOG=<file>` keeps the app's
//!   log (run with `RUST_LOG` set for more of it) to break a run down.
//!
//! The launches take turns (Latchkey, then the bare window); each pair's ratio is printed, and
//! the goals (at most 1.10x) are read from their medians. `LATCHKEY_BENCH_RUNS` sets how many
//! launches of each, and deep links (default 7).
//!
//! Not a test: it asserts nothing about speed; it prints figures and writes
//! target/bench-window.json.

#[allow(dead_code)] // the benchmark uses part of the e2e client
#[path = "../e2e/webdriver.rs"]
mod webdriver;

#[path = "pss.rs"]
mod pss;
use pss::{pss_tree, start_tauri_driver};

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const APP: &str = env!("CARGO_BIN_EXE_latchkey");
const BARE: &str = env!("CARGO_BIN_EXE_latchkey-bare");
/// The per-user scheme handler (src/bin/resident.rs hands a callback over without GTK).
const RESIDENT: &str = env!("CARGO_BIN_EXE_latchkey-resident");
const BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/browser.sh");
/// Launches of each window (LATCHKEY_BENCH_RUNS sets it), and deep links.
fn runs() -> usize {
    std::env::var("LATCHKEY_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or(7)
}

fn env_for(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("RUST_LOG", "info,latchkey=debug");
}

fn stop(child: &mut Child) {
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(300));
}

struct Launch {
    loaded_ms: f64,
    ready_ms: Option<f64>,
    pss_kib: u64,
    processes: Vec<String>,
}

/// Starts `bin`, times the lines that mark its milestones on stderr, measures memory, stops it.
fn launch(bin: &str, home: &Path, ready_marker: Option<&str>) -> Launch {
    let mut cmd = Command::new(bin);
    env_for(&mut cmd, home);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the app starts");
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut loaded = None;
    let mut ready = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while loaded.is_none() || (ready_marker.is_some() && ready.is_none()) {
        let (at, line) = rx.recv_timeout(deadline - Instant::now()).expect("the window loads within a minute");
        if loaded.is_none() && line.contains("window loaded") {
            loaded = Some(at - start);
        }
        if ready_marker.is_some_and(|m| line.contains(m)) && ready.is_none() {
            ready = Some(at - start);
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let (pss_kib, processes) = pss_tree(child.id());
    stop(&mut child);
    Launch {
        loaded_ms: loaded.unwrap().as_secs_f64() * 1000.0,
        ready_ms: ready.map(|d| d.as_secs_f64() * 1000.0),
        pss_kib,
        processes,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn summary(label: &str, runs: &[Launch]) -> serde_json::Value {
    let loaded: Vec<f64> = runs.iter().map(|r| r.loaded_ms).collect();
    let ready: Vec<f64> = runs.iter().filter_map(|r| r.ready_ms).collect();
    let pss: Vec<f64> = runs.iter().map(|r| r.pss_kib as f64 / 1024.0).collect();
    println!(
        "{label:<28} loaded median {:>6.0} ms (min {:.0}, max {:.0}){}   PSS median {:>5.1} MiB (min {:.1}, max {:.1})",
        median(loaded.clone()),
        loaded.iter().cloned().fold(f64::MAX, f64::min),
        loaded.iter().cloned().fold(0.0, f64::max),
        if ready.is_empty() {
            String::new()
        } else {
            format!("   interactive median {:>6.0} ms", median(ready.clone()))
        },
        median(pss.clone()),
        pss.iter().cloned().fold(f64::MAX, f64::min),
        pss.iter().cloned().fold(0.0, f64::max),
    );
    println!("{:<28} processes: {}", "", runs.last().map(|r| r.processes.join(", ")).unwrap_or_default());
    serde_json::json!({
        "runs": runs.len(),
        "loaded_ms": loaded, "interactive_ms": ready, "pss_mib": pss,
        "median_loaded_ms": median(loaded.clone()),
        "median_interactive_ms": if ready.is_empty() { serde_json::Value::Null } else { median(ready).into() },
        "median_pss_mib": median(pss),
    })
}

/// Each pair's ratio (a Latchkey launch against the bare window's launch right after it, which
/// met the same spell of the machine): median, range and the median's 90% interval, for launch to
/// window loaded, to interactive (against the bare window's loaded), and PSS. The goal is read from
/// these medians and their intervals.
fn pair_ratios(ours: &[Launch], theirs: &[Launch]) -> serde_json::Value {
    let of = |f: &dyn Fn(&Launch, &Launch) -> Option<f64>| -> Vec<f64> {
        ours.iter().zip(theirs).filter_map(|(a, b)| f(a, b)).collect()
    };
    let loaded = of(&|a, b| Some(a.loaded_ms / b.loaded_ms));
    let interactive = of(&|a, b| a.ready_ms.map(|r| r / b.loaded_ms));
    let pss = of(&|a, b| Some(a.pss_kib as f64 / b.pss_kib as f64));
    let [loaded_90, interactive_90, pss_90] = [&loaded, &interactive, &pss].map(|v| median_interval(v));
    let line = |v: &[f64], (low, high): (f64, f64)| {
        let (lo, hi) = v.iter().fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{:.2}x (pairs {lo:.2}-{hi:.2}; median 90% {low:.2}-{high:.2})", median(v.to_vec()))
    };
    println!("{:<28} by pair, Latchkey / bare: loaded {}", "", line(&loaded, loaded_90));
    println!("{:<28}                         interactive {}", "", line(&interactive, interactive_90));
    println!("{:<28}                         PSS {}", "", line(&pss, pss_90));
    serde_json::json!({
        "loaded": loaded, "interactive": interactive, "pss": pss,
        "median_loaded": median(loaded.clone()), "median_interactive": median(interactive.clone()),
        "median_pss": median(pss.clone()),
        "median_loaded_90": [loaded_90.0, loaded_90.1],
        "median_interactive_90": [interactive_90.0, interactive_90.1],
        "median_pss_90": [pss_90.0, pss_90.1],
    })
}

/// How far the median of `v` could be from the machine's own, read from `v` alone: the 5th and
/// 95th percentiles of the medians of 2,000 resamplings of `v` with replacement (a bootstrap). A
/// run's median ratio moves by several hundredths from one run to the next; this says by how much
/// for the run at hand, so that a goal is read as met when the interval is under it, not only the
/// median.
fn median_interval(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    // A fixed seed: the same launches give the same interval.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut medians: Vec<f64> =
        (0..2000).map(|_| median((0..v.len()).map(|_| v[(next() % v.len() as u64) as usize]).collect())).collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    (medians[medians.len() * 5 / 100], medians[medians.len() * 95 / 100])
}

/// Latchkey's launches and the bare window's, taking turns, so that a slower or quicker spell of
/// the machine falls on both alike (the bare window alone has read 272 to 379 ms from one hour to
/// the next). One pair first, to warm the disk cache and create the apps' files; not counted.
fn launches(ready_marker: &str) -> (Vec<Launch>, Vec<Launch>) {
    let (ours, bare) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _ = (launch(APP, ours.path(), Some(ready_marker)), launch(BARE, bare.path(), None));
    (0..runs()).map(|_| (launch(APP, ours.path(), Some(ready_marker)), launch(BARE, bare.path(), None))).unzip()
}

fn log_time(line: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    line.split_whitespace().next()?.parse().ok()
}

/// Installed in the page before each deep link: `window.__painted` becomes the wall-clock time of
/// the first frame after the Demo's account row entered the list.
const SHOWN_AT: &str = "window.__painted = null;
    const list = document.getElementById('accounts');
    const seen = new MutationObserver(() => {
      if (list.querySelector('[data-of=demo][data-connection]')) {
        seen.disconnect();
        window.__inserted = Date.now();
        requestAnimationFrame(() => { window.__painted = Date.now(); });
      }
    });
    seen.observe(list, { childList: true });";

/// Now, in milliseconds since the epoch (the page's `Date.now()`).
fn epoch_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// Deep link to connection shown, with the Demo provider, `n` times in one window.
async fn deep_links(n: usize) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (mut driver, port) = start_tauri_driver(|driver| {
        env_for(driver, &home);
        driver
            .env("BROWSER", BROWSER)
            .env("LATCHKEY_TEST_DIR", dir.path())
            .env("LATCHKEY_TEST_MODE", "hold")
            .env("LATCHKEY_TEST_BIN", APP);
    });
    let session = webdriver::Session::start(port, APP, &[]).await;
    let wait = Duration::from_secs(30);
    // The app itself as the second launch (a packaged desktop entry runs it), and the resident
    // program (the per-user handler entry runs it), taking turns.
    let mut outside = Vec::new();
    let mut by_resident = Vec::new();
    let callback_file = dir.path().join("callback.txt");
    // Clicks `css`, finding it again when a re-render replaced it.
    async fn click(session: &webdriver::Session, css: &str, wait: Duration) {
        let start = Instant::now();
        while !session.click(&session.wait_for(css, wait).await).await {
            assert!(start.elapsed() < wait, "could not click {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for run in 0..2 * n {
        let launcher = if run % 2 == 0 { APP } else { RESIDENT };
        let _ = std::fs::remove_file(&callback_file);
        click(&session, "[data-provider=demo] [data-action=connect]", wait).await;
        let asked = Instant::now();
        let callback = loop {
            if let Ok(text) = std::fs::read_to_string(&callback_file) {
                break text.trim().to_owned();
            }
            assert!(asked.elapsed() < wait, "the test browser recorded no callback");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The page notes (wall clock, ms) when the row enters the list and the frame after, when it
        // is painted; polling through WebDriver would add its own round trips to the figure.
        session.execute(SHOWN_AT).await;
        let start = Instant::now();
        let launched = epoch_ms();
        let mut second = Command::new(launcher);
        env_for(&mut second, &home);
        second.arg(&callback).stdout(Stdio::null()).stderr(Stdio::null());
        let mut second = second.spawn().unwrap();
        let painted = loop {
            if let Some(at) = session.execute("return window.__painted || null").await.as_f64() {
                break at;
            }
            assert!(start.elapsed() < wait, "the connection never showed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = painted - launched;
        let inserted = session.execute("return window.__inserted || null").await.as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "deep link {run}: {launcher}, launched at {launched:.1} ms (epoch), row in the list +{:.1} ms, painted +{took:.1} ms",
            inserted - launched
        );
        if launcher == APP {
            outside.push(took)
        } else {
            by_resident.push(took)
        }
        let _ = second.wait();
        click(&session, "[data-of=demo] [data-action=disconnect]", wait).await;
        click(&session, "[data-of=demo] [data-action=confirm-disconnect]", wait).await;
        session.wait_gone("[data-of=demo][data-connection]", wait).await;
    }
    session.end().await;
    unsafe {
        libc::kill(-(driver.id() as i32), libc::SIGKILL);
    }
    let _ = driver.wait();

    // Inside the app: from the log line of the link's arrival to that of the connection kept (the
    // window is told then; the pending sign-ins' keychain copy is rewritten after).
    let log =
        std::fs::read_to_string(home.join(".local/share/dev.latchkey.desktop/logs/latchkey.log")).unwrap_or_default();
    if let Some(keep) = std::env::var_os("LATCHKEY_BENCH_KEEP_LOG") {
        let _ = std::fs::write(keep, &log);
    }
    let mut inside = Vec::new();
    let mut received = None;
    for line in log.lines() {
        if line.contains("deep link received") {
            received = log_time(line);
        } else if line.contains("latchkey_core::manager: connected ") {
            if let (Some(a), Some(b)) = (received.take(), log_time(line)) {
                inside.push((b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
    }
    // "median M ms (min A, max B)" of a series of milliseconds.
    let spread = |ms: &[f64]| {
        let (min, max) = ms.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        format!("median {:.0} ms (min {min:.0}, max {max:.0})", median(ms.to_vec()))
    };
    println!(
        "{:<28} second launch to row shown: {}; in the app, link to connection stored: median {:.1} ms",
        "deep link to connection",
        spread(&outside),
        if inside.is_empty() { f64::NAN } else { median(inside.clone()) },
    );
    println!("{:<28} the same, handed over by latchkey-resident (the per-user handler): {}", "", spread(&by_resident));
    serde_json::json!({
        "runs": n,
        "resident_second_launch_to_row_ms": by_resident,
        "median_resident_second_launch_to_row_ms": median(by_resident.clone()),
        "second_launch_to_row_ms": outside,
        "in_app_link_to_stored_ms": inside,
        "median_second_launch_to_row_ms": median(outside),
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo asks benches to list themselves; this one has no sub-benchmarks
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // LATCHKEY_BENCH_DEEP_LINK_ONLY=1: only the deep links (while working on them), nothing written.
    if std::env::var_os("LATCHKEY_BENCH_DEEP_LINK_ONLY").is_some() {
        println!("{}", runtime.block_on(deep_links(runs())));
        return;
    }
    let runs = runs();
    println!("Latchkey window benchmark: {runs} launches each, taking turns, after one warm-up pair, release builds\n");
    let (ours, theirs) = launches("state sent to the window");
    let latchkey = summary("Latchkey", &ours);
    let bare = summary("bare Tauri window", &theirs);
    let ratios = pair_ratios(&ours, &theirs);
    let links = runtime.block_on(deep_links(runs));
    let report = serde_json::json!({
        "latchkey": latchkey, "bare_tauri_window": bare, "ratios_by_pair": ratios, "deep_link": links,
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-window.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
