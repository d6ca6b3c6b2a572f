//! Soak benchmark of the window (issue 15), run by scripts/bench.sh in a private session bus,
//! keychain and Xvfb display, on a release build: one Demo account whose tokens live 20 seconds
//! (a background refresh, and so a state event, about every 9 s), the window left open, and the
//! PSS of the app and its WebKit processes sampled every 30 s. The growth is the least-squares
//! slope of those samples, in MiB per hour, after a one-minute warm-up. The same for their
//! private memory (USS), which other programs mapping WebKit's libraries do not move, and for
//! their private dirty memory, which (with no swap) only the processes themselves can give back.
//!
//! What of the growth stays: after the warm-up and (twice) after the last sample, the machine is
//! put under memory pressure (`press`), which makes WebKit collect garbage, drop its caches and
//! return free memory; the private dirty memory after each is what the processes keep. The
//! growth that stays is the difference over the time between them. The pressure also makes the
//! kernel drop clean pages of the libraries, which come back as they are used: with it, the
//! slopes of PSS and of private memory include that return; the private dirty slope does not.
//!
//! The highest private dirty sample is reported too: a run whose garbage collector stalls grows
//! until WebKit's memory limit collects it (app/web_memory.rs), and the peak shows that bound.
//!
//! LATCHKEY_SOAK_MINUTES sets how long it samples (default 45); LATCHKEY_SOAK_APP runs another
//! build of the app (to compare two versions in the same conditions); LATCHKEY_SOAK_PRESSURE=0
//! leaves the pressure out, as does a machine with swap. WebDriver only connects the account: the
//! app is then started again on its own and soaked with no WebDriver session attached, as a
//! person runs it (LATCHKEY_SOAK_WEBDRIVER=1 keeps the session, as the first soaks did: the
//! growth of docs/decisions/0004-a-memory-limit-for-the-web-process.md is seen without it too). LATCHKEY_SOAK_TOKEN_SECONDS sets the Demo tokens' lifetime (3600: a window
//! with an account and no refresh, to tell what the refreshes add). LATCHKEY_SOAK_STDERR=<file>
//! keeps that app's stderr, which its web process shares: with `JSC_logGC=1` in the environment,
//! JavaScriptCore writes each of the page's collections there.
//!
//! Not a test: it asserts nothing; it prints figures and writes target/bench-soak.json.

#[allow(dead_code)] // the benchmark uses part of the e2e client
#[path = "../e2e/webdriver.rs"]
mod webdriver;

#[path = "pss.rs"]
mod pss;
use pss::{app_env, kill_group, private_dirty_tree, private_tree, pss_tree, start_tauri_driver, window_pid};

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(30);

fn app() -> String {
    std::env::var("LATCHKEY_SOAK_APP").unwrap_or_else(|_| env!("CARGO_BIN_EXE_latchkey").to_owned())
}

/// How long the Demo's tokens live: 20 s (a refresh about every 9 s), unless
/// LATCHKEY_SOAK_TOKEN_SECONDS says otherwise (3600: no refresh in an hour, the control).
fn token_seconds() -> String {
    std::env::var("LATCHKEY_SOAK_TOKEN_SECONDS")
        .ok()
        .filter(|s| s.parse::<u32>().is_ok())
        .unwrap_or_else(|| "20".into())
}

fn env_for(cmd: &mut Command, dir: &Path) {
    app_env(cmd, dir, &app());
    cmd.env("LATCHKEY_DEMO_TOKEN_SECONDS", token_seconds()).env("NO_AT_BRIDGE", "1");
}

/// A /proc/meminfo figure, in KiB.
fn meminfo(field: &str) -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines().find_map(|l| l.strip_prefix(field)?.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Puts the machine under memory pressure, as a person's other programs would: takes memory
/// until /proc/meminfo's MemAvailable is 3% of MemTotal, holds it 15 s, gives it back and lets
/// 15 s pass. WebKit's UI process polls that figure (every 1 to 5 s) and, at 95% used, sends its
/// web processes a critical memory-pressure event. Returns the private dirty memory of `pid`'s
/// tree (MiB) before and after. One soak at a time presses (a lock file), so that runs side by
/// side do not both take the last 3%.
async fn press(pid: u32) -> (f64, f64) {
    use std::os::fd::AsRawFd;
    let before = private_dirty_tree(pid) as f64 / 1024.0;
    let lock = std::fs::File::create(std::env::temp_dir().join("latchkey-soak-pressure.lock")).unwrap();
    // SAFETY: flock(2) on a descriptor this function owns; it is released when `lock` is dropped.
    unsafe {
        libc::flock(lock.as_raw_fd(), libc::LOCK_EX);
    }
    const CHUNK: usize = 64 << 20;
    let leave = meminfo("MemTotal:") * 3 / 100;
    let mut taken: Vec<Vec<u8>> = Vec::new();
    while meminfo("MemAvailable:") > leave + (CHUNK as u64 >> 10) {
        // Written, so that every page is really taken (a zeroed allocation is not).
        taken.push(vec![0x5a; CHUNK]);
    }
    std::hint::black_box(&taken);
    let used = 100 - meminfo("MemAvailable:") * 100 / meminfo("MemTotal:").max(1);
    tokio::time::sleep(Duration::from_secs(15)).await;
    println!("  memory pressure: took {} MiB for 15 s ({used}% of memory in use)", taken.len() * (CHUNK >> 20));
    drop(taken);
    drop(lock);
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = private_dirty_tree(pid) as f64 / 1024.0;
    println!("  private dirty memory {before:.1} -> {after:.1} MiB");
    (before, after)
}

/// Whether the soak runs the window with no WebDriver session (unless LATCHKEY_SOAK_WEBDRIVER=1):
/// WebDriver connects the account, then the app is started again on its own, as a person runs it.
fn by_itself() -> bool {
    std::env::var("LATCHKEY_SOAK_WEBDRIVER").map_or(true, |v| v != "1")
}

/// Waits (up to a minute) for `done`, named `what` in the failure.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "waited a minute in vain for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Least-squares slope of (hours, MiB).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    num / den
}

async fn run(minutes: u64) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    let (mut driver, port) = start_tauri_driver(|cmd| env_for(cmd, dir.path()));
    let session = webdriver::Session::start(port, &app(), &[]).await;
    let connect = session.wait_for("[data-provider=demo] [data-action=connect]", WAIT).await;
    assert!(session.click(&connect).await, "Connect");
    session.wait_for("[data-of=demo][data-connection]", WAIT).await;
    let log = dir.path().join("home/.local/share/dev.latchkey.desktop/logs/latchkey.log");
    let mut alone = None;
    if by_itself() {
        // The window as a person has it, with no WebDriver session holding it: the app that
        // connected the account is ended (its tokens stay in the keychain, the Demo authority's
        // book on disk) and the app is started again, on its own.
        kill_group(&mut driver);
        until("the app that connected to end", || window_pid(dir.path(), &app()).is_none()).await;
        let loaded = || std::fs::read_to_string(&log).unwrap_or_default().matches("window loaded").count();
        let before = loaded();
        let mut cmd = Command::new(app());
        env_for(&mut cmd, dir.path());
        let stderr = match std::env::var_os("LATCHKEY_SOAK_STDERR") {
            Some(file) => Stdio::from(std::fs::File::create(file).expect("LATCHKEY_SOAK_STDERR can be written")),
            None => Stdio::null(),
        };
        cmd.stdout(Stdio::null()).stderr(stderr).process_group(0);
        alone = Some(cmd.spawn().expect("the app starts"));
        until("the app started again to load its window", || loaded() > before).await;
        println!("  the app started again without WebDriver");
    }
    let pid = window_pid(dir.path(), &app()).expect("the app runs");
    // A minute's warm-up.
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Not on a machine with swap: there, pressure pushes pages out to swap, which would read as
    // memory given back (and slows everything else down).
    let pressure = std::env::var("LATCHKEY_SOAK_PRESSURE").map_or(true, |v| v != "0") && meminfo("SwapTotal:") == 0;
    if !pressure {
        println!("  no memory pressure (LATCHKEY_SOAK_PRESSURE=0, or the machine has swap)");
    }
    let pressed_first = if pressure { Some(press(pid).await) } else { None };

    let start = Instant::now();
    let mut points = Vec::new();
    let mut private_points = Vec::new();
    let mut dirty_points = Vec::new();
    while start.elapsed() < Duration::from_secs(minutes * 60) {
        let (kib, names) = pss_tree(pid);
        let mib = kib as f64 / 1024.0;
        let private = private_tree(pid) as f64 / 1024.0;
        let dirty = private_dirty_tree(pid) as f64 / 1024.0;
        let hours = start.elapsed().as_secs_f64() / 3600.0;
        println!(
            "{:>6.1} min  PSS {mib:>6.1} MiB  private {private:>6.1} MiB  dirty {dirty:>6.1} MiB   {}",
            hours * 60.0,
            names.join(", ")
        );
        points.push((hours, mib));
        private_points.push((hours, private));
        dirty_points.push((hours, dirty));
        tokio::time::sleep(EVERY).await;
    }
    // Twice: what the first pressure's collection frees may be returned only at the second.
    let pressed_last = if pressure {
        let (before, _) = press(pid).await;
        let (_, after) = press(pid).await;
        Some((before, after))
    } else {
        None
    };
    let pressed_hours = start.elapsed().as_secs_f64() / 3600.0;
    let refreshes = std::fs::read_to_string(&log).unwrap_or_default().matches("refreshed").count();
    match alone.as_mut() {
        Some(app) => kill_group(app),
        None => session.end().await,
    }
    kill_group(&mut driver);
    let _ = Command::new("secret-tool").args(["clear", "service", "dev.latchkey.desktop"]).status();

    let growth = slope(&points);
    let private_growth = slope(&private_points);
    let dirty_growth = slope(&dirty_points);
    let dirty_peak = dirty_points.iter().map(|p| p.1).fold(0.0, f64::max);
    let ends = |points: &[(f64, f64)]| (points.first().map_or(0.0, |p| p.1), points.last().map_or(0.0, |p| p.1));
    let ((first, last), (private_first, private_last)) = (ends(&points), ends(&private_points));
    println!(
        "\n{minutes} min, {} samples: PSS {first:.1} -> {last:.1} MiB, growth {growth:+.1} MiB/hour; \
         private {private_first:.1} -> {private_last:.1} MiB, growth {private_growth:+.1} MiB/hour; \
         private dirty growth {dirty_growth:+.1} MiB/hour, highest {dirty_peak:.1} MiB; \
         log lines naming a refresh: {refreshes}",
        points.len()
    );
    // Private dirty MiB after the first pressure and after the last, and the growth between them.
    let kept =
        pressed_first.zip(pressed_last).map(|((_, first), (_, last))| (first, last, (last - first) / pressed_hours));
    if let Some((first, last, kept)) = kept {
        println!(
            "after memory pressure: private dirty {first:.1} -> {last:.1} MiB over {:.1} min, \
             growth that stays {kept:+.1} MiB/hour",
            pressed_hours * 60.0
        );
    }
    serde_json::json!({
        "app": app(),
        "webdriver": !by_itself(),
        "minutes": minutes,
        "token_seconds": 20,
        "samples_mib": points.iter().map(|p| p.1).collect::<Vec<_>>(),
        "growth_mib_per_hour": growth,
        "private_samples_mib": private_points.iter().map(|p| p.1).collect::<Vec<_>>(),
        "private_growth_mib_per_hour": private_growth,
        "dirty_samples_mib": dirty_points.iter().map(|p| p.1).collect::<Vec<_>>(),
        "dirty_growth_mib_per_hour": dirty_growth,
        "dirty_peak_mib": dirty_peak,
        "refresh_log_lines": refreshes,
        // Private dirty MiB before and after the first pressure and the last ones, and the growth
        // between the two afters.
        "pressed_first_mib": pressed_first,
        "pressed_last_mib": pressed_last,
        "kept_growth_mib_per_hour": kept.map(|k| k.2),
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo asks benches to list themselves; this one has no sub-benchmarks
    }
    let minutes = std::env::var("LATCHKEY_SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(45);
    println!(
        "Latchkey window soak: release build, one Demo account with {}-second tokens, {minutes} min\n",
        token_seconds()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let report = runtime.block_on(run(minutes));
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-soak.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
