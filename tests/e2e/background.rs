//! Latchkey with its window closed: refreshing in the background, quit, a hidden start, the
//! window starting latchkey-resident again, an earlier version replaced, the tray.

use super::*;

#[tokio::test]
async fn the_window_shows_the_background_refresh_of_a_short_lived_demo_token() {
    // Demo tokens of 6 s: refreshed 3 s before they expire.
    let world = World::with_env("approve", &[("LATCHKEY_DEMO_TOKEN_SECONDS", "6")]);
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    let first = tokens_of(&id).0;
    // The rows as they are now, marked (a property only this page's nodes have).
    let mark_rows = format!(
        "document.querySelector(\"{DEMO_ACCOUNT}\").__before = true; document.querySelector(\"{DEMO}\").__before = true; return true"
    );
    assert_eq!(session.execute(&mark_rows).await, serde_json::json!(true));
    let details = format!("{DEMO_ACCOUNT} [data-details='{id}']");
    let start = Instant::now();
    loop {
        let text = text_of(&session, &details).await;
        if text.contains("last refreshed") {
            break;
        }
        assert!(start.elapsed() < WAIT, "no refresh shown: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A refresh is patched into the rows, not rebuilt: a rebuilt row is where WebKit's memory grew
    // (docs/decisions/0008-logos-are-svg-elements.md).
    let kept = format!(
        "return [document.querySelector(\"{DEMO_ACCOUNT}\").__before === true, document.querySelector(\"{DEMO}\").__before === true]"
    );
    assert_eq!(
        session.execute(&kept).await,
        serde_json::json!([true, true]),
        "the account's and the Demo's rows were rebuilt"
    );
    assert_ne!(tokens_of(&id).0, first, "the keychain holds the refreshed token");
    assert!(world.log().contains("refreshed"), "the log says so");
    disconnect(&session).await;
    session.end().await;
}

#[tokio::test]
async fn closing_the_window_leaves_latchkey_refreshing_in_the_background() {
    let world = World::with_env("approve", &[("LATCHKEY_DEMO_TOKEN_SECONDS", "6")]);
    let session = world.open_window(&[]).await;
    let autostart = world.dir.path().join("home/.config/autostart/dev.latchkey.desktop.desktop");
    assert!(!autostart.exists(), "no account yet: Latchkey does not start at login");
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    // The window (`latchkey`) and the program that holds the accounts, which it started.
    let window = the_window(&world).await;
    let resident = the_resident(&world).await;
    assert!(webkit_children(resident).is_empty(), "latchkey-resident has no WebKit process");

    // With an account connected, starting at login is on by default: the entry starts it hidden.
    until("the start-at-login entry is written", || std::future::ready(autostart.exists())).await;
    let entry = std::fs::read_to_string(&autostart).unwrap();
    let app_path = std::fs::canonicalize(APP).unwrap();
    assert!(entry.contains(&format!("\nExec={} --hidden\n", app_path.display())), "{entry}");
    until("the setting shows on", || async {
        session.execute("return document.querySelector('#background-toggle').checked").await == true
    })
    .await;
    // Turned off in the window: the entry goes; on again: it is back.
    click(&session, "#background-toggle").await;
    until("the entry is removed", || std::future::ready(!autostart.exists())).await;
    click(&session, "#background-toggle").await;
    until("the entry is written again", || std::future::ready(autostart.exists())).await;

    // The person closes the window (as its close button does): the first time, it explains.
    session.execute("window.__TAURI_INTERNALS__.invoke('plugin:window|close', { label: 'main' }); return true").await;
    session.wait_for("dialog#closing[open]", WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.screenshot(&world.shot("closing-notice.png")).await;
    assert!(alive(window), "the first close only explains");
    click_closing(&session, "#closing-close", true).await;
    world.wait_for_log("window closed; Latchkey goes on in the background", 1).await;

    // The window's process ends with it, WebKit's with it; latchkey-resident, which has no GTK
    // or WebKit in it, goes on.
    until("the window's process ends", || std::future::ready(!alive(window))).await;
    assert_eq!(app_pids(&world), vec![resident], "latchkey-resident alone");

    // At least two refreshes while hidden: in Latchkey's records and at the Demo authority.
    let generation = demo_generation(&world);
    let refreshed = last_refreshed(&world, &id);
    let start = Instant::now();
    while demo_generation(&world) < generation + 2 {
        assert!(start.elapsed() < WAIT, "fewer than two refreshes while hidden:\n{}", world.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_ne!(last_refreshed(&world, &id), refreshed, "connections.json records the refreshes");

    // Started again hidden (as at login, with Latchkey already running): nothing changes.
    assert!(launch(&world, &["--hidden"]).exits(), "the hidden launch finds Latchkey running and exits");
    world.wait_for_log("Latchkey is already running", 1).await;
    assert_eq!(app_pids(&world), vec![resident], "still the one latchkey-resident");

    // Launched again: a new window, which asks the same latchkey-resident (the WebDriver session
    // ended with the first window, so the log tells what the new one loaded and was sent).
    let loaded = world.log().matches("window loaded").count();
    let again = launch(&world, &[]);
    world.wait_for_log("window loaded", loaded + 1).await;
    until("the new window is sent the account", || std::future::ready(window_connections(&world) == Some(1))).await;
    assert_eq!(pids_of(&world, &[RESIDENT]), vec![resident], "the same latchkey-resident");
    assert_eq!(pids_of(&world, &[WINDOW]), vec![again.0.id() as i32], "one window");
    assert!(!webkit_children(again.0.id() as i32).is_empty(), "the new window has its WebKit processes");
    let (ok, out, err) = gdbus("ListAccounts", &[]);
    assert!(ok && out.contains(&id), "latchkey-resident answers on the bus: {out}{err}");
    let _ = Command::new("import").args(["-window", "root"]).arg(world.shot("window-again.png")).status();
}

#[tokio::test]
async fn quit_ends_latchkey_with_the_tokens_kept_and_hidden_start_opens_no_window() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    the_window(&world).await;
    the_resident(&world).await;
    let tokens = tokens_of(&id);

    // Clicked after the script returns: the click ends the process WebDriver talks to.
    session.wait_for("#quit", WAIT).await;
    session.execute("setTimeout(() => document.querySelector('#quit').click(), 100); return true").await;
    until("Quit ends the window and latchkey-resident", || std::future::ready(app_pids(&world).is_empty())).await;
    assert!(world.log().contains("work on tokens stopped; exiting"), "{}", world.log());
    // The resident's end, when the window sees it before the notice of quitting, is not a crash.
    assert!(!world.log().contains("ended unexpectedly"), "{}", world.log());
    assert_eq!(tokens_of(&id), tokens, "the tokens are kept");

    // Started hidden, as at login: the resident program, no window, no WebKit, and it answers
    // on the bus.
    let mut hidden = launch(&world, &["--hidden"]);
    let start = Instant::now();
    loop {
        let (ok, out, _) = gdbus("ListAccounts", &[]);
        if ok {
            assert!(out.contains(&id), "{out}");
            break;
        }
        assert!(start.elapsed() < WAIT, "the hidden Latchkey never answered on the bus:\n{}", world.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = hidden.0.id() as i32;
    assert!(hidden.0.try_wait().unwrap().is_none(), "it keeps running");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, std::fs::canonicalize(RESIDENT).unwrap(), "the resident program runs");
    assert!(webkit_children(pid).is_empty(), "no WebKit process");
    let after_quit = world.log().split("work on tokens stopped").nth(1).unwrap_or_default().to_owned();
    assert!(!after_quit.contains("window loaded"), "a hidden start loads no window");
    // Neither the resident program nor `latchkey` (which runs commands, hands launches over and
    // starts the window) links GTK, WebKit or Tauri.
    for program in [RESIDENT, APP] {
        let ldd = Command::new("ldd").arg(program).output().unwrap();
        let libraries = String::from_utf8_lossy(&ldd.stdout);
        assert!(ldd.status.success() && libraries.contains("libc.so"), "{program}: {libraries}");
        for heavy in ["webkit", "gtk", "javascriptcore", "soup"] {
            assert!(!libraries.contains(heavy), "{heavy} is linked into {program}: {libraries}");
        }
    }

    // `latchkey quit` ends it, with the tokens kept.
    let (code, out, _) = cli(&world, &["quit"]);
    assert_eq!((code, out.trim()), (0, "Latchkey has quit."));
    assert!(hidden.exits(), "the resident Latchkey quit cleanly");
    assert_eq!(tokens_of(&id), tokens, "the tokens are kept");
    let (code, out, _) = cli(&world, &["quit"]);
    assert_eq!((code, out.trim()), (0, "Latchkey is not running."));
    clear_keychain();
}

/// latchkey-resident killed while the window is open (a crash): the window starts another at
/// once, which answers on the bus and holds the same account, and the window goes on working.
#[tokio::test]
async fn the_window_starts_latchkey_resident_again_when_it_ends_unexpectedly() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    let window = the_window(&world).await;
    let first = the_resident(&world).await;
    // SAFETY: kill(2) takes plain integers.
    unsafe {
        libc::kill(first, libc::SIGKILL);
    }
    // Before anything is asked of it: the window noticed.
    until("a new latchkey-resident runs", || {
        let pids = pids_of(&world, &[RESIDENT]);
        std::future::ready(pids.len() == 1 && pids[0] != first)
    })
    .await;
    assert!(world.log().contains("latchkey-resident ended unexpectedly; starting it again"), "{}", world.log());
    assert!(alive(window), "the window stays");
    let (ok, out, err) = gdbus("ListAccounts", &[]);
    assert!(ok && out.contains(&id), "the new one answers with the account: {out}{err}");
    // The window asks the new one: Disconnect works.
    disconnect(&session).await;
    assert_eq!(keychain(&id), None, "the keychain no longer holds the tokens");
    session.end().await;
}

/// A Latchkey of an earlier version, still running after an upgrade: it owns the name and
/// answers the public interface, but nothing of the window's. Its `Quit` lets go of the name.
struct EarlierLatchkey {
    asked_to_quit: std::sync::Arc<tokio::sync::Notify>,
}

#[zbus::interface(name = "dev.latchkey.Latchkey1")]
impl EarlierLatchkey {
    fn list_accounts(&self) -> Vec<Account> {
        Vec::new()
    }

    fn quit(&self) {
        self.asked_to_quit.notify_one();
    }
}

/// The window opened while an earlier version holds the name asks it to quit and starts its
/// own latchkey-resident, which it then works with.
#[tokio::test]
async fn a_window_replaces_an_earlier_latchkey_still_running_after_an_upgrade() {
    let world = World::new("approve");
    let asked_to_quit = std::sync::Arc::new(tokio::sync::Notify::new());
    let earlier = zbus::connection::Builder::session()
        .unwrap()
        .serve_at("/dev/latchkey/Latchkey1", EarlierLatchkey { asked_to_quit: asked_to_quit.clone() })
        .unwrap()
        .name("dev.latchkey.Latchkey1")
        .unwrap()
        .build()
        .await
        .unwrap();
    let gone = tokio::spawn(async move {
        asked_to_quit.notified().await;
        drop(earlier); // the name goes with the connection
    });

    let session = world.open_window(&[]).await;
    tokio::time::timeout(WAIT, gone).await.expect("the earlier Latchkey was asked to quit").unwrap();
    assert!(world.log().contains("the running Latchkey does not answer the window"), "{}", world.log());
    the_resident(&world).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    let (ok, out, err) = gdbus("ListAccounts", &[]);
    assert!(ok && out.contains(&id), "ours answers on the bus: {out}{err}");
    disconnect(&session).await;
    session.end().await;
}

/// A tray host as KDE or Xfce runs it: the StatusNotifierWatcher that items register with. It
/// records who registered (their unique bus names).
struct Watcher {
    items: std::sync::Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, _service: String, #[zbus(header)] header: zbus::message::Header<'_>) {
        if let Some(sender) = header.sender() {
            self.items.lock().unwrap_or_else(|p| p.into_inner()).push(sender.to_string());
        }
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// Clicks the tray menu item labelled `label` of the item at `owner`, as a tray host does.
///
/// Both items this test clicks end the process that owns the menu (Quit, and Open in the
/// resident Latchkey, which hands over and exits), and it may be gone before its answer to
/// `Event` leaves: a tray host sends the event and does not wait for one. So "disconnected
/// without replying" counts as delivered here; the caller checks what the click did.
fn click_tray_item(owner: &str, label: &str) {
    let call = |method: &str, args: &[&str]| {
        let out = Command::new("gdbus")
            .args(["call", "--session", "--dest", owner, "--object-path", "/MenuBar"])
            .args(["--method", &format!("com.canonical.dbusmenu.{method}"), "--"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, layout, err) = call("GetLayout", &["0", "-1", "[]"]);
    assert!(ok, "GetLayout: {err}");
    // … <(3, {'label': <'Quit Latchkey'>, …}, @av [])> …
    let at = layout.find(&format!("'label': <'{label}'>")).unwrap_or_else(|| panic!("no {label:?} in {layout}"));
    let id = layout[..at].rsplit("<(").next().unwrap().split(',').next().unwrap().trim().to_owned();
    let (ok, _, err) = call("Event", &[&id, "clicked", "<0>", "0"]);
    assert!(ok || err.contains("org.freedesktop.DBus.Error.NoReply"), "Event: {err}");
}

#[tokio::test]
async fn the_tray_icon_opens_the_window_and_quits_where_a_tray_host_runs() {
    let world = World::new("approve");
    let items = std::sync::Arc::new(Mutex::new(Vec::new()));
    let _host = zbus::connection::Builder::session()
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at("/StatusNotifierWatcher", Watcher { items: items.clone() })
        .unwrap()
        .build()
        .await
        .unwrap();
    let registered = |n: usize| {
        let items = items.clone();
        move || std::future::ready(items.lock().unwrap().len() >= n)
    };

    // Latchkey in the background shows its icon; Open brings the window, which asks it for
    // what it shows.
    let _hidden = launch(&world, &["--hidden"]);
    until("the resident Latchkey registers its tray icon", registered(1)).await;
    let item = items.lock().unwrap()[0].clone();
    let resident = the_resident(&world).await;
    click_tray_item(&item, "Open Latchkey");
    world.wait_for_log("window loaded", 1).await;
    let window = the_window(&world).await;
    assert_eq!(pids_of(&world, &[RESIDENT]), vec![resident], "the same latchkey-resident");
    // One icon: the window shows none of its own.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(items.lock().unwrap().len(), 1, "one tray icon");

    // Its Quit ends Latchkey, the window with it.
    click_tray_item(&item, "Quit Latchkey");
    until("Quit from the tray ends Latchkey", || std::future::ready(!alive(resident) && !alive(window))).await;
    assert!(world.log().contains("work on tokens stopped; exiting"), "{}", world.log());
    assert!(world.log().contains("Latchkey is quitting; the window closes"), "{}", world.log());
}
