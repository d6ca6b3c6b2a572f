//! End-to-end tests of the real app: its window driven through tauri-driver and WebKitWebDriver
//! under Xvfb, the Demo provider's consent answered by a test browser named by `$BROWSER`, deep
//! links delivered as the OS delivers them (launching the binary with the URL), and the tokens
//! checked in the real Secret Service with `secret-tool`.
//!
//! Run by scripts/test.sh, which provides the display, the session bus and the keychain. The
//! tests take turns: the app is a single instance per session bus.

mod webdriver;

// The tests, by what a person does; the helpers they share are below.
mod background;
#[cfg(feature = "in-process")]
mod in_process;
mod launches;
mod programs;
mod secrets;
mod set_up;
mod sign_in;
// The window's layout, search, set-up, About, accessibility and screenshots.
mod window;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use webdriver::Session;

/// What a person starts: on Linux it links nothing of the window, and starts `latchkey-window`
/// in its place when the launch is to open the window.
const APP: &str = env!("CARGO_BIN_EXE_latchkey");
/// The window's program, which the processes of a window run.
const WINDOW: &str = env!("CARGO_BIN_EXE_latchkey-window");
/// What holds the accounts: the window starts it, and it goes on when the window closes.
const RESIDENT: &str = env!("CARGO_BIN_EXE_latchkey-resident");
const SERVICE: &str = "dev.latchkey.desktop";
const WAIT: Duration = Duration::from_secs(30);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// One test's world: a home of its own, a tauri-driver, the test browser's records.
struct World {
    dir: tempfile::TempDir,
    driver: Mutex<Child>,
    port: std::sync::atomic::AtomicU16,
    browser_mode: String,
    extra: Vec<(String, String)>,
    _turn: MutexGuard<'static, ()>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tauri_driver() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.map(|h| h.join("bin/tauri-driver")).filter(|p| p.exists()).unwrap_or_else(|| "tauri-driver".into())
}

impl World {
    fn new(browser_mode: &str) -> World {
        World::with_env(browser_mode, &[])
    }

    fn with_env(browser_mode: &str, extra: &[(&str, &str)]) -> World {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
            assert!(std::env::var_os(var).is_some(), "{var} is unset: run the tests through scripts/test.sh");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        clear_keychain();
        let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let (driver, port) = World::spawn_driver(dir.path(), browser_mode, &extra);
        let world = World {
            dir,
            driver: Mutex::new(driver),
            port: std::sync::atomic::AtomicU16::new(port),
            browser_mode: browser_mode.to_owned(),
            extra,
            _turn: turn,
        };
        world.wait_for_driver();
        world
    }

    /// A tauri-driver of this world's own, in a process group of its own (with WebKitWebDriver,
    /// the app and anything they start).
    fn spawn_driver(dir: &Path, browser_mode: &str, extra: &[(String, String)]) -> (Child, u16) {
        let port = free_port();
        let mut driver = Command::new(tauri_driver());
        driver
            .args(["--port", &port.to_string(), "--native-port", &free_port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        World::env(&mut driver, dir, browser_mode);
        driver.envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        (driver.spawn().expect("tauri-driver must be installed (scripts/test.sh installs it)"), port)
    }

    fn port(&self) -> u16 {
        self.port.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn kill_driver(&self) {
        let mut driver = self.driver.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: kill(2) takes plain integers; a process group that is gone is an error we ignore.
        unsafe {
            libc::kill(-(driver.id() as i32), libc::SIGKILL);
        }
        let _ = driver.wait();
    }

    /// The environment the app runs in: a private home, the test browser, and no desktop
    /// environment so that xdg-open honours $BROWSER.
    fn env(cmd: &mut Command, dir: &Path, browser_mode: &str) {
        let home = dir.join("home");
        cmd.env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env_remove("XDG_CURRENT_DESKTOP")
            .env_remove("DESKTOP_SESSION")
            .env("BROWSER", concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/browser.sh"))
            .env("LATCHKEY_TEST_DIR", dir)
            .env("LATCHKEY_TEST_MODE", browser_mode)
            .env("LATCHKEY_TEST_BIN", APP)
            .env("RUST_LOG", "info,latchkey=debug")
            // No accessibility bridge: under load, its bus activation at GTK's start has held a
            // launch past the WebDriver session's 90 s (seen twice with a build running beside).
            .env("NO_AT_BRIDGE", "1");
    }

    fn wait_for_driver(&self) {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port())).is_err() {
            assert!(start.elapsed() < WAIT, "tauri-driver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the app through WebDriver. When tauri-driver itself fails the request (its
    /// transport, seen once in ~30 runs: "webdriver server did not respond"), a new driver is
    /// started and the session asked for once more; an app that does not start fails at once.
    async fn open_window(&self, args: &[String]) -> Session {
        let session = match Session::try_start(self.port(), APP, args).await {
            Ok(session) => session,
            Err((true, e)) => {
                eprintln!("tauri-driver failed the session request ({e}); starting a new driver, once");
                self.kill_driver();
                let (driver, port) = World::spawn_driver(self.dir.path(), &self.browser_mode, &self.extra);
                *self.driver.lock().unwrap_or_else(|p| p.into_inner()) = driver;
                self.port.store(port, std::sync::atomic::Ordering::SeqCst);
                self.wait_for_driver();
                Session::start(self.port(), APP, args).await
            }
            Err((false, e)) => panic!("{e}"),
        };
        session.wait_for("[data-provider=demo]", WAIT).await;
        session
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("home/.local/share/dev.latchkey.desktop/logs/latchkey.log"))
            .unwrap_or_default()
    }

    /// The callback the test browser recorded (modes `hold` and `approve`).
    fn recorded_callback(&self) -> String {
        let path = self.dir.path().join("callback.txt");
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text.trim().to_owned();
            }
            assert!(start.elapsed() < WAIT, "the test browser recorded no callback");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Delivers a deep link as the OS does: a second launch of the binary with the URL.
    fn deliver(&self, url: &str) {
        let mut cmd = Command::new(APP);
        cmd.arg(url).stdout(Stdio::null()).stderr(Stdio::null());
        World::env(&mut cmd, self.dir.path(), "ignore");
        let mut child = cmd.spawn().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the second launch failed: {status}");
                return;
            }
            assert!(start.elapsed() < WAIT, "the second launch did not hand over and exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn wait_for_log(&self, needle: &str, count: usize) {
        let start = Instant::now();
        while self.log().matches(needle).count() < count {
            assert!(start.elapsed() < WAIT, "the log never said {needle:?} {count} times:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn shot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        dir.join(name)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["opened.txt", "browser.log", "callback.txt"] {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                eprintln!("--- {name}:\n{text}");
            }
            eprintln!("--- app log:\n{}", self.log());
        }
        // The driver, WebKitWebDriver, the app and anything it launched share a process group.
        self.kill_driver();
        // And anything of this world's that left it (a window started by latchkey-resident's
        // tray, say): the session bus is shared with the next test.
        for pid in app_pids(self) {
            // SAFETY: kill(2) takes plain integers; a process that is gone is an error we ignore.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn clear_keychain() {
    let _ = Command::new("secret-tool").args(["clear", "service", SERVICE]).status();
}

fn keychain(user: &str) -> Option<String> {
    let out = Command::new("secret-tool").args(["lookup", "service", SERVICE, "username", user]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tokens_of(connection: &str) -> (String, String) {
    let raw = keychain(connection).expect("the keychain holds the connection's tokens");
    let bundle: serde_json::Value = serde_json::from_str(&raw).unwrap();
    (bundle["access_token"].as_str().unwrap().to_owned(), bundle["refresh_token"].as_str().unwrap().to_owned())
}

const DEMO: &str = "[data-provider=demo]";
/// The Demo's accounts, in "Your accounts".
const DEMO_ACCOUNT: &str = "[data-of=demo]";

/// The text of `css` once it is there and not empty (elements are re-rendered from events, so a
/// found element can be replaced before it is read).
async fn text_of(session: &Session, css: &str) -> String {
    let start = Instant::now();
    loop {
        let e = session.wait_for(css, WAIT).await;
        let text = session.text(&e).await.unwrap_or_default();
        if !text.is_empty() || start.elapsed() > WAIT {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `css`, finding it again if a re-render replaced it meanwhile.
async fn click(session: &Session, css: &str) {
    click_closing(session, css, false).await;
}

/// As [`click`]; with `closes`, `css` is a button that closes the window
/// (see [`Session::click_closing`]).
async fn click_closing(session: &Session, css: &str, closes: bool) {
    let start = Instant::now();
    loop {
        let e = session.wait_for(css, WAIT).await;
        if session.click_closing(&e, closes).await {
            return;
        }
        assert!(start.elapsed() < WAIT, "could not click {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Unfolds a provider's set-up or options panel and returns once it is in the page. A click is
/// sent to where the button is; when news of a change re-renders the list at that moment (a sign-in
/// just cancelled moves its row), the click lands beside it, so the toggle is clicked again while
/// its panel is still folded.
async fn unfold(session: &Session, provider: &str) {
    let panel = format!("#panel-{provider}");
    let toggle = format!("[data-provider='{provider}'] [aria-controls='panel-{provider}']");
    let start = Instant::now();
    while session.find(&panel).await.is_none() {
        assert!(start.elapsed() < WAIT, "the panel of {provider} never unfolded");
        click(session, &toggle).await;
        for _ in 0..20 {
            if session.find(&panel).await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until `check` holds; fails saying `what` after `WAIT`.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the input `css` (re-read each time: re-renders replace elements).
async fn input_value(session: &Session, css: &str) -> String {
    let script = format!("return document.querySelector({css:?})?.value ?? ''");
    session.execute(&script).await.as_str().unwrap_or_default().to_owned()
}

/// Waits for the Demo row to show a connection and returns its id and nickname.
async fn connected(session: &Session) -> (String, String) {
    // Re-read until the element found is still the one in the page (re-renders replace it).
    let start = Instant::now();
    let id = loop {
        let row = session.wait_for(&format!("{DEMO_ACCOUNT}[data-connection]"), WAIT).await;
        if let Some(id) = session.attribute(&row, "data-connection").await {
            break id;
        }
        assert!(start.elapsed() < WAIT, "the connection row never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let nickname = text_of(session, &format!("{DEMO_ACCOUNT} .nickname")).await;
    (id, nickname)
}

async fn disconnect(session: &Session) {
    click(session, &format!("{DEMO_ACCOUNT} [data-action=disconnect]")).await;
    click(session, &format!("{DEMO_ACCOUNT} [data-action=confirm-disconnect]")).await;
    session.wait_gone(&format!("{DEMO_ACCOUNT}[data-connection]"), WAIT).await;
}

/// Runs `latchkey <args>` as a script would, in the world's environment.
fn cli(world: &World, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(APP);
    cmd.args(args);
    World::env(&mut cmd, world.dir.path(), "ignore");
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run in the page: waits for each change as the page does (`next_news`) and records the counts
/// and the snapshot fetched after each in `window.__seen`.
const RECORD_CHANGES: &str = "const t = window.__TAURI_INTERNALS__; window.__seen = []; \
    (async () => { let known = { changes: 0, closings: 0 }; for (;;) { \
    known = await t.invoke('next_news', { known }); window.__seen.push(JSON.stringify(known)); \
    window.__seen.push(JSON.stringify(await t.invoke('get_state', {}))); } })(); \
    return true";

/// The app's processes of this world (the CLI's included, while one runs): found by their
/// executable and their environment.
fn pids_of(world: &World, programs: &[&str]) -> Vec<i32> {
    let marker = format!("LATCHKEY_TEST_DIR={}", world.dir.path().display());
    let programs: Vec<PathBuf> = programs.iter().map(|p| std::fs::canonicalize(p).unwrap()).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| programs.contains(&exe)))
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            env.split(|b| *b == 0).any(|v| v == marker.as_bytes())
        })
        .collect()
}

/// This world's running Latchkey processes: the window's and latchkey-resident.
fn app_pids(world: &World) -> Vec<i32> {
    pids_of(world, &[WINDOW, RESIDENT])
}

/// The one running window of this world (`latchkey-window`).
async fn the_window(world: &World) -> i32 {
    the_one(world, WINDOW, "the window is running").await
}

/// The one running latchkey-resident of this world, which holds the accounts.
async fn the_resident(world: &World) -> i32 {
    the_one(world, RESIDENT, "latchkey-resident is running").await
}

async fn the_one(world: &World, program: &str, what: &str) -> i32 {
    let mut pids = Vec::new();
    until(what, || {
        pids = pids_of(world, &[program]);
        std::future::ready(pids.len() == 1)
    })
    .await;
    pids[0]
}

/// WebKit's processes (web content, network) started by `pid`.
fn webkit_children(pid: i32) -> Vec<String> {
    webkit_processes(pid).into_iter().map(|(_, name)| name).collect()
}

/// The same, with their process ids.
fn webkit_processes(pid: i32) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let child: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid ...
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid: i32 = rest.split(' ').nth(1)?.parse().ok()?;
            (ppid == pid && comm.starts_with("WebKit")).then(|| (child, comm.to_owned()))
        })
        .collect()
}

/// The variables of `pid`'s environment that Latchkey sets for its own WebKit
/// (src-tauri/src/app/environment.rs), as `NAME=value`.
fn webkit_settings_of(pid: i32) -> Vec<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| {
            ["GDK_GL=", "WEBKIT_SKIA_ENABLE_CPU_RENDERING=", "JSC_useJIT=", "JSC_largeHeapSize="]
                .iter()
                .any(|n| v.starts_with(n))
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    // A zombie has exited; its parent (WebKitWebDriver) has not reaped it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// The Demo authority's count of refreshes of its one grant (its rotation number).
fn demo_generation(world: &World) -> u64 {
    let path = world.dir.path().join("home/.local/share/dev.latchkey.desktop/demo-authority.json");
    let book: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default();
    let grants = book["grants"].as_object().cloned().unwrap_or_default();
    grants.values().filter(|g| g["revoked"] == false).filter_map(|g| g["generation"].as_u64()).max().unwrap_or(0)
}

fn last_refreshed(world: &World, id: &str) -> Option<String> {
    let path = world.dir.path().join("home/.local/share/dev.latchkey.desktop/connections.json");
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let found = doc["connections"].as_array()?.iter().find(|c| c["id"] == id)?;
    found["last_refreshed"].as_str().map(str::to_owned)
}

/// A launch of the app as a person or the session does it (`latchkey`, `latchkey --hidden`),
/// in a process group of its own, which is ended when this is dropped.
struct Launched(Child);

impl Launched {
    /// Waits for the launch to exit (it handed over, or found Latchkey running); its success.
    fn exits(&mut self) -> bool {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.success();
            }
            assert!(start.elapsed() < WAIT, "the launch did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        // SAFETY: kill(2) takes plain integers; a process group that is gone is an error we ignore.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

fn launch(world: &World, args: &[&str]) -> Launched {
    let mut cmd = Command::new(APP);
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    World::env(&mut cmd, world.dir.path(), "approve");
    Launched(cmd.spawn().unwrap())
}

/// `gdbus call` on Latchkey's interface: (success, stdout, stderr).
/// What the bus says of the process that owns `name` (`(uint32 1234,)`), as gdbus prints it.
fn owner_of(name: &str) -> String {
    let out = Command::new("gdbus")
        .args(["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus"])
        .args(["--method", "org.freedesktop.DBus.GetConnectionUnixProcessID", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gdbus(method: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("gdbus")
        .args(["call", "--session", "--dest", "dev.latchkey.Latchkey1", "--object-path", "/dev/latchkey/Latchkey1"])
        .args(["--method", &format!("dev.latchkey.Latchkey1.{method}")])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The last "state sent to the window" line's connection count.
fn window_connections(world: &World) -> Option<usize> {
    let log = world.log();
    let line = log.lines().rev().find(|l| l.contains("state sent to the window"))?;
    line.split("connections=").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// An account as `ListAccounts` gives it (docs/dbus.md).
type Account = (String, String, String, String, String, i64, Vec<String>);

/// The Demo authority's address, from the authorization URL the test browser was given.
fn demo_base(world: &World) -> String {
    let opened = std::fs::read_to_string(world.dir.path().join("opened.txt")).unwrap();
    opened.lines().next().unwrap().split("/authorize").next().unwrap().to_owned()
}

/// The Demo user an access token is live for, or `None` when the Demo refuses it.
fn demo_user_of(world: &World, access: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "-H", &format!("Authorization: Bearer {access}"), &format!("{}/userinfo", demo_base(world))])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    doc["preferred_username"].as_str().map(str::to_owned)
}

/// Connects the Demo in the window as `user`; returns the new connection's id.
async fn connect_demo_as(world: &World, session: &Session, user: &str) -> String {
    std::fs::write(world.dir.path().join("user"), user).unwrap();
    let before = session
        .execute("return [...document.querySelectorAll('[data-connection]')].map(e => e.dataset.connection)")
        .await;
    click(session, &format!("{DEMO} [data-action=connect]")).await;
    let start = Instant::now();
    loop {
        let now = session
            .execute("return [...document.querySelectorAll('[data-connection]')].map(e => e.dataset.connection)")
            .await;
        let new = now.as_array().into_iter().flatten().find(|id| !before.as_array().is_some_and(|b| b.contains(id)));
        if let Some(id) = new.and_then(|v| v.as_str()) {
            return id.to_owned();
        }
        assert!(start.elapsed() < WAIT, "no new connection for {user}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
