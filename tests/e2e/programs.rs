//! Other programs: the command line and D-Bus (accounts, tokens, named errors, the interface's
//! committed contract), and a locked keychain as they meet it.

use super::*;

#[tokio::test]
async fn the_command_line_prints_fresh_tokens_with_the_app_running_and_without_it() {
    let world = World::with_env("approve", &[("LATCHKEY_DEMO_TOKEN_SECONDS", "6")]);
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, nickname) = connected(&session).await;

    let (code, out, _) = cli(&world, &["token", "demo"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), tokens_of(&id).0, "the token the keychain holds now");
    let (code, out, _) = cli(&world, &["list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains(&nickname), "{out}");
    assert!(!out.contains(&tokens_of(&id).0) && !out.contains(&tokens_of(&id).1), "no secret in the list");
    let (code, out, _) = cli(&world, &["list", "--json"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["nickname"], nickname.as_str());
    let (code, out, _) = cli(&world, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("keychain: reachable"), "{out}");
    assert_eq!(cli(&world, &["token", "nosuch"]).0, 3);
    assert_eq!(cli(&world, &["token"]).0, 2);
    assert_eq!(cli(&world, &["frobnicate"]).0, 2);

    // Without the app (quit): the token expires, and the command line refreshes it itself.
    the_window(&world).await;
    session.execute("setTimeout(() => document.querySelector('#quit').click(), 100); return true").await;
    until("Quit ends Latchkey", || std::future::ready(app_pids(&world).is_empty())).await;
    let before = tokens_of(&id).0;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (code, out, err) = cli(&world, &["token", &id]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(out.trim(), before, "a refreshed token");
    assert_eq!(out.trim(), tokens_of(&id).0, "written to the keychain before it was printed");
    clear_keychain();
}

#[tokio::test]
async fn the_dbus_service_answers_programs_with_accounts_fresh_tokens_and_named_errors() {
    // Tokens of 30 s: the first background refresh comes 15 s after a sign-in.
    let world = World::with_env("approve", &[("LATCHKEY_DEMO_TOKEN_SECONDS", "30")]);
    let session = world.open_window(&[]).await;
    let ada = connect_demo_as(&world, &session, "ada").await;
    let bob = connect_demo_as(&world, &session, "bob").await;

    // gdbus, as a shell script would: the accounts, without secrets.
    let (ok, listed, err) = gdbus("ListAccounts", &[]);
    assert!(ok, "{err}");
    assert!(listed.contains(&ada) && listed.contains(&bob) && listed.contains("'connected'"), "{listed}");
    for id in [&ada, &bob] {
        let (access, refresh) = tokens_of(id);
        assert!(!listed.contains(&access) && !listed.contains(&refresh), "no secret in the list");
    }
    // A token by account id: the one the keychain holds now, and live at the Demo for Ada.
    let (ok, out, err) = gdbus("GetAccessToken", &[&ada]);
    assert!(ok, "{err}");
    let token = out.trim().trim_start_matches("('").split('\'').next().unwrap().to_owned();
    assert_eq!(token, tokens_of(&ada).0, "{out}");
    assert_eq!(demo_user_of(&world, &token).as_deref(), Some("ada"), "the Demo takes it as Ada's");
    let seconds: i64 = out.trim().trim_end_matches(')').rsplit(", ").next().unwrap().parse().unwrap();
    assert!((1..=30).contains(&seconds), "expires_in {seconds}");
    // Named errors: no such account; two Demo accounts and no id.
    let (ok, _, err) = gdbus("GetAccessToken", &["nosuch"]);
    assert!(!ok && err.contains("dev.latchkey.Error.NoSuchAccount"), "{err}");
    let (ok, _, err) = gdbus("GetAccessToken", &["demo"]);
    assert!(!ok && err.contains("dev.latchkey.Error.Ambiguous") && err.contains(&ada) && err.contains(&bob), "{err}");

    // The interface is the one committed as its contract, method by method and argument by
    // argument (comments and layout aside).
    let introspected = Command::new("gdbus")
        .args([
            "introspect",
            "--session",
            "--dest",
            "dev.latchkey.Latchkey1",
            "--object-path",
            "/dev/latchkey/Latchkey1",
        ])
        .arg("--xml")
        .output()
        .unwrap();
    assert!(introspected.status.success(), "{}", String::from_utf8_lossy(&introspected.stderr));
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/resident/dbus/dev.latchkey.Latchkey1.xml"
    ))
    .unwrap();
    assert_eq!(
        interface_of(&String::from_utf8_lossy(&introspected.stdout), "dev.latchkey.Latchkey1"),
        interface_of(&committed, "dev.latchkey.Latchkey1"),
        "the live interface differs from crates/resident/dbus/dev.latchkey.Latchkey1.xml"
    );

    // zbus, as a program would: the same list, and AccountsChanged when Bob is disconnected.
    let bus = zbus::Connection::session().await.unwrap();
    let proxy = zbus::Proxy::new(&bus, "dev.latchkey.Latchkey1", "/dev/latchkey/Latchkey1", "dev.latchkey.Latchkey1")
        .await
        .unwrap();
    let accounts: Vec<Account> = proxy.call("ListAccounts", &()).await.unwrap();
    let mut ids: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
    ids.sort_unstable();
    let mut want = vec![ada.as_str(), bob.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    let of_ada = accounts.iter().find(|a| a.0 == ada).unwrap();
    assert_eq!((of_ada.1.as_str(), of_ada.2.as_str(), of_ada.4.as_str()), ("demo", "Demo", "connected"));
    assert!(of_ada.5 > chrono::Utc::now().timestamp(), "expires at, in Unix seconds");
    let mut changes = proxy.receive_signal("AccountsChanged").await.unwrap();
    click(&session, &format!("[data-key='conn:{bob}:disconnect']")).await;
    click(&session, &format!("[data-key='conn:{bob}:confirm']")).await;
    let signal = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut changes)).await;
    assert!(matches!(signal, Ok(Some(_))), "AccountsChanged was emitted");
    let accounts: Vec<Account> = proxy.call("ListAccounts", &()).await.unwrap();
    assert_eq!(accounts.len(), 1);
    let (token, expires_in): (String, i32) = proxy.call("GetAccessToken", &("demo",)).await.unwrap();
    assert_eq!(token, tokens_of(&ada).0);
    assert!(expires_in > 0);

    // The command line asks the running app.
    let (code, out, err) = cli(&world, &["token", "demo", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["connection"], ada.as_str());
    assert_eq!(doc["token"], tokens_of(&ada).0.as_str());
    world.wait_for_log("a token and its account were asked for over D-Bus", 1).await;

    // Ada's grant revoked at the Demo: the next refresh is refused, and the token request says
    // she needs reconnecting, by name, on the bus and on the command line.
    let revoked = Command::new("curl")
        .args(["-sf", "-d", &format!("token={}", tokens_of(&ada).1), &format!("{}/revoke", demo_base(&world))])
        .status()
        .unwrap();
    assert!(revoked.success());
    let start = Instant::now();
    loop {
        let (_, listed, _) = gdbus("ListAccounts", &[]);
        if listed.contains("'needs_reconnect'") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "never marked as needing reconnecting: {listed}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (ok, _, err) = gdbus("GetAccessToken", &[&ada]);
    assert!(!ok && err.contains("dev.latchkey.Error.NeedsReconnect"), "{err}");
    assert_eq!(cli(&world, &["token", "demo"]).0, 4, "needs reconnecting, from the app");
    session.end().await;
    clear_keychain();
}

/// The element of `interface` in introspection XML, one tag a line, without comments or
/// indentation: what a client depends on, and nothing a doc comment changes.
fn interface_of(xml: &str, interface: &str) -> Vec<String> {
    let start =
        xml.find(&format!("<interface name=\"{interface}\">")).unwrap_or_else(|| panic!("no {interface} in {xml}"));
    let end = start + xml[start..].find("</interface>").unwrap_or_else(|| panic!("{interface} is not closed"));
    let mut element = xml[start..end].to_owned();
    while let Some(open) = element.find("<!--") {
        let close = element[open..].find("-->").map_or(element.len(), |at| open + at + 3);
        element.replace_range(open..close, "");
    }
    element.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect()
}

/// Locks the session's login keyring (as the screen locker or `seahorse` would); unlocks it
/// again when dropped, through gnome-keyring's own unlock call with the test keyring's empty
/// password (the Secret Service's Unlock would need a person at a prompt).
struct LockedKeyring;

const LOGIN: &str = "/org/freedesktop/secrets/collection/login";

impl LockedKeyring {
    fn lock() -> LockedKeyring {
        let out = Command::new("gdbus")
            .args([
                "call",
                "--session",
                "--dest",
                "org.freedesktop.secrets",
                "--object-path",
                "/org/freedesktop/secrets",
            ])
            .args(["--method", "org.freedesktop.Secret.Service.Lock", &format!("['{LOGIN}']")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        LockedKeyring
    }
}

impl Drop for LockedKeyring {
    fn drop(&mut self) {
        use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
        let unlock = || -> zbus::Result<()> {
            let bus = zbus::blocking::Connection::session()?;
            let service = zbus::blocking::Proxy::new(
                &bus,
                "org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service",
            )?;
            let (_, session): (OwnedValue, OwnedObjectPath) =
                service.call("OpenSession", &("plain", Value::from("")))?;
            let internal = zbus::blocking::Proxy::new(
                &bus,
                "org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
            )?;
            // `echo |` gave the daemon its password: a newline.
            let password = (session, Vec::<u8>::new(), b"\n".to_vec(), "text/plain");
            internal.call::<_, _, ()>("UnlockWithMasterPassword", &(ObjectPath::try_from(LOGIN)?, password))
        };
        if let Err(e) = unlock() {
            eprintln!("could not unlock the test keyring again: {e}");
        }
    }
}

#[tokio::test]
async fn a_locked_keychain_is_a_named_error_on_the_bus_and_loses_nothing() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    let tokens = tokens_of(&id);
    {
        let _locked = LockedKeyring::lock();
        assert_eq!(keychain(&id), None, "the keyring is locked");
        let (ok, _, err) = gdbus("GetAccessToken", &[&id]);
        assert!(!ok && err.contains("dev.latchkey.Error.KeychainUnavailable"), "{err}");
        assert_eq!(cli(&world, &["token", &id]).0, 5, "keychain unavailable, from the app");
        let (ok, listed, _) = gdbus("ListAccounts", &[]);
        assert!(ok && listed.contains("'connected'"), "a locked keychain is not a dead grant: {listed}");
    }
    assert_eq!(tokens_of(&id), tokens, "unlocked again: the tokens are all there");
    let (ok, out, err) = gdbus("GetAccessToken", &[&id]);
    assert!(ok && out.contains(&tokens.0), "{err}");
    session.end().await;
    clear_keychain();
}
