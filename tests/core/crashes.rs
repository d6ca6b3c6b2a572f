//! Latchkey killed at each step of a sign-in and of a refresh, its keychain locked or gone, its
//! disk full: each run in another process (`flow-client`), as it would happen, then looked at
//! from a fresh one. Nothing is lost that was saved, nothing is left behind that was not, and
//! the person is told what happened.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use latchkey_core::manager::{ConnectionStatus, ManagerOptions};
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::refresh::Want;
use latchkey_core::{ConnectionId, ConnectionManager};
use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Mock, MockServer, ResponseTemplate};
use latchkey_tests::{fake_config, http, keychain_users, secret_tool_lookup, unique, NumberedTokens, Recorder};

/// A provider, a data directory and a keychain service of their own.
struct Place {
    server: MockServer,
    issued: Arc<AtomicU32>,
    dir: tempfile::TempDir,
    service: String,
}

impl Place {
    async fn new() -> Place {
        let server = MockServer::start().await;
        let issued = Arc::new(AtomicU32::new(0));
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(NumberedTokens(issued.clone()))
            .mount(&server)
            .await;
        Mock::given(path("/userinfo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"email": "ada@acme.example"})))
            .mount(&server)
            .await;
        Mock::given(path("/revoke")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        Place { server, issued, dir: tempfile::tempdir().unwrap(), service: unique("dev.latchkey.test") }
    }

    /// `flow-client <mode>` against this place.
    fn client(&self, mode: &str, connection: Option<&ConnectionId>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flow-client"));
        cmd.args([
            mode,
            self.dir.path().to_str().unwrap(),
            &self.service,
            &self.server.uri(),
            "client-id",
            "client-secret",
        ]);
        cmd.args(connection.map(|c| c.as_str()));
        cmd
    }

    fn run(&self, mode: &str, connection: Option<&ConnectionId>) -> String {
        let out = self.client(mode, connection).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs until the failpoint `at` kills the process.
    fn killed(&self, mode: &str, connection: Option<&ConnectionId>, at: &str) {
        let out = self.client(mode, connection).env("LATCHKEY_FAILPOINT", at).output().unwrap();
        assert!(!out.status.success() && text(&out).contains(&format!("failpoint {at}")), "{}", text(&out));
    }

    fn connect(&self) -> ConnectionId {
        let out = self.run("connect", None);
        let id = out.trim().strip_prefix("connect: ok ").unwrap_or_else(|| panic!("{out}"));
        ConnectionId::parse(id).unwrap()
    }

    /// A fresh Latchkey on this place, as after a restart.
    fn restarted(&self) -> Arc<ConnectionManager> {
        let mut options = ManagerOptions::new(self.dir.path());
        options.keychain_service = self.service.clone();
        let manager = ConnectionManager::new(options, Arc::new(Recorder::default())).unwrap();
        let config = fake_config("acme", &self.server.uri(), "client-id", Some("client-secret"));
        manager.add_provider(Arc::new(GenericOAuth2Provider::new(config, http()).unwrap()));
        Arc::new(manager)
    }

    /// The connections whose tokens the keychain holds (read with secret-tool).
    fn tokens_kept(&self) -> Vec<String> {
        keychain_users(&self.service).into_iter().filter(|u| ConnectionId::is_generated(u)).collect()
    }

    /// Whether the keychain holds pending sign-ins.
    fn pending_kept(&self) -> bool {
        keychain_users(&self.service).iter().any(|u| u == latchkey_core::flows::PENDING_ENTRY)
    }

    fn stored(&self, id: &ConnectionId) -> String {
        secret_tool_lookup(&self.service, id.as_str()).unwrap_or_default()
    }

    async fn revocations(&self) -> usize {
        self.server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/revoke").count()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test]
async fn killed_after_the_code_exchange_a_sign_in_leaves_nothing_and_can_be_done_again() {
    let place = Place::new().await;
    place.killed("connect", None, "connect-after-exchange");
    assert_eq!(place.issued.load(Ordering::SeqCst), 1, "the provider issued tokens before the process died");
    // The keychain's copy of the pending sign-ins is rewritten after the exchange: here it still
    // has the flow, and only the note of used flows keeps it from coming back (checklist line 6).
    assert!(place.pending_kept(), "the keychain still holds the flow");
    let latchkey = place.restarted();
    assert_eq!(latchkey.sweep_orphans().await.unwrap(), 0);
    assert_eq!(latchkey.restore_pending().await.unwrap(), 0, "the used sign-in cannot be completed twice");
    assert!(!place.pending_kept(), "the restart rewrote the keychain's copy without it");
    assert!(latchkey.list().is_empty() && place.tokens_kept().is_empty());
    // The person sees "Not connected" and connects again.
    let id = place.connect();
    assert_eq!(place.restarted().list().len(), 1);
    assert!(place.stored(&id).contains("at-2"));
}

/// Where the note of used flows cannot be written, the keychain's copy is rewritten before the
/// code is exchanged, as the only record: still used once across a restart.
#[tokio::test]
async fn without_the_note_of_used_sign_ins_the_keychain_is_rewritten_before_the_exchange() {
    let place = Place::new().await;
    std::fs::create_dir_all(place.dir.path().join(latchkey_core::flows::USED_FILE).join("in-the-way")).unwrap();
    place.killed("connect", None, "connect-after-exchange");
    assert_eq!(place.issued.load(Ordering::SeqCst), 1);
    assert!(!place.pending_kept(), "the flow left the keychain before the exchange");
    assert_eq!(place.restarted().restore_pending().await.unwrap(), 0);
}

#[tokio::test]
async fn killed_between_the_keychain_and_the_connections_file_the_orphaned_tokens_are_removed_at_start() {
    let place = Place::new().await;
    place.killed("connect", None, "connect-after-keychain-write");
    assert_eq!(place.tokens_kept().len(), 1, "the tokens reached the keychain");
    let latchkey = place.restarted();
    assert!(latchkey.list().is_empty(), "no connection was saved");
    assert_eq!(latchkey.sweep_orphans().await.unwrap(), 1);
    assert!(place.tokens_kept().is_empty(), "no secret is left that no connection owns");
    // A saved connection is never taken for an orphan.
    let id = place.connect();
    assert_eq!(place.restarted().sweep_orphans().await.unwrap(), 0);
    assert!(place.stored(&id).contains("at-2"));
}

/// Issue 13: a start with no connections file (another `XDG_DATA_HOME`, a new profile, a file
/// deleted by hand) took every Latchkey entry of the keychain for an orphan and deleted it.
#[tokio::test]
async fn a_start_without_the_connections_file_sweeps_none_of_the_keychain_s_tokens() {
    let place = Place::new().await;
    let id = place.connect();
    // The same keychain, another data directory: no connections file there.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut options = ManagerOptions::new(elsewhere.path());
    options.keychain_service = place.service.clone();
    let other = ConnectionManager::new(options, Arc::new(Recorder::default())).unwrap();
    assert_eq!(other.sweep_orphans().await.unwrap(), 0);
    assert!(place.stored(&id).contains("at-1"), "the other directory's connection keeps its tokens");
    // The connections file deleted by hand: still nothing is swept.
    std::fs::remove_file(place.dir.path().join("connections.json")).unwrap();
    assert_eq!(place.restarted().sweep_orphans().await.unwrap(), 0);
    assert!(place.stored(&id).contains("at-1"), "tokens this start cannot account for are kept");
}

#[tokio::test]
async fn tokens_are_never_swept_while_an_unreadable_connections_file_is_set_aside() {
    let place = Place::new().await;
    let id = place.connect();
    std::fs::write(place.dir.path().join("connections.json"), b"{ not json").unwrap();
    let latchkey = place.restarted();
    assert!(latchkey.list().is_empty(), "the unreadable file was set aside");
    assert_eq!(latchkey.sweep_orphans().await.unwrap(), 0);
    assert!(place.stored(&id).contains("at-1"), "its tokens are kept for the person to recover");
}

#[tokio::test]
async fn killed_at_each_step_of_a_refresh_the_connection_keeps_working() {
    let place = Place::new().await;
    let id = place.connect();

    // Before the request: nothing happened.
    place.killed("refresh", Some(&id), "refresh-before-request");
    assert_eq!(place.issued.load(Ordering::SeqCst), 1);
    assert!(place.stored(&id).contains("at-1"));

    // After the keychain write, before the connections file: the new tokens are kept and used.
    place.killed("refresh", Some(&id), "refresh-after-keychain-write");
    assert!(place.stored(&id).contains("at-2") && place.stored(&id).contains("rt-2"));
    let latchkey = place.restarted();
    assert_eq!(latchkey.connection(&id).unwrap().last_refreshed, None, "the file was not written");
    assert_eq!(latchkey.access_token(&id, Want::Fresh).await.unwrap().secret(), "at-2");
    assert_eq!(latchkey.access_token(&id, Want::Forced).await.unwrap().secret(), "at-3", "refreshes with rt-2");
    assert_eq!(latchkey.connection(&id).unwrap().status, ConnectionStatus::Connected);
}

#[tokio::test]
async fn without_a_keychain_a_refresh_fails_clearly_and_the_connection_is_kept() {
    let place = Place::new().await;
    let id = place.connect();
    let out = place
        .client("refresh", Some(&id))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(said.contains("refresh: error the keychain is unavailable"), "{said}");
    assert_eq!(place.issued.load(Ordering::SeqCst), 1, "no refresh without a place to keep its answer");
    let latchkey = place.restarted();
    assert_eq!(latchkey.connection(&id).unwrap().status, ConnectionStatus::Connected);
    assert!(place.stored(&id).contains("at-1"), "nothing lost");
    assert_eq!(latchkey.access_token(&id, Want::Forced).await.unwrap().secret(), "at-2");
}

/// The keychain locked while Latchkey runs, in a D-Bus session and keyring of the test's own
/// (locking the shared one would disturb the other tests), with no display so that nobody can
/// answer the unlock prompt.
#[tokio::test]
async fn a_keychain_locked_mid_run_refuses_clearly_and_loses_nothing() {
    let place = Place::new().await;
    let home = tempfile::tempdir().unwrap();
    let client = place.client("locked", None);
    let out = Command::new("dbus-run-session")
        .args([
            "--",
            "sh",
            "-c",
            r#"eval "$(echo | gnome-keyring-daemon --unlock --components=secrets)"; exec "$@""#,
            "sh",
        ])
        .arg(client.get_program())
        .args(client.get_args())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env_remove("DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("GNOME_KEYRING_CONTROL")
        .output()
        .unwrap();
    let said = text(&out);
    let line = |step: &str| {
        said.lines()
            .find(|l| l.starts_with(&format!("{step}: ")))
            .unwrap_or_else(|| panic!("no {step}: {said}"))
            .to_owned()
    };
    assert!(line("connect").starts_with("connect: ok"), "{said}");
    let refresh = line("refresh-locked");
    assert!(refresh.contains("error the keychain is unavailable") && refresh.contains("locked"), "{refresh}");
    assert_eq!(line("status-locked"), "status-locked: Connected", "a locked keychain is not a dead grant");
    let connect = line("connect-locked");
    assert!(connect.contains("error the keychain is unavailable"), "{connect}");
    assert_eq!(place.revocations().await, 1, "the tokens of the sign-in that could not be kept were revoked");
    // Unlocked again: the tokens were kept, and the refresh that had failed now works.
    assert_eq!(line("refresh-unlocked"), "refresh-unlocked: ok at-3", "{said}");
    assert!(out.status.success(), "{said}");
}

/// A write limit (RLIMIT_FSIZE) stands in for a full disk: writing the connections file fails
/// as on a full disk (EFBIG there, ENOSPC here), while the keychain (another process) works.
fn disk_full(cmd: &mut Command) -> &mut Command {
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 16, rlim_max: 16 };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn with_the_disk_full_a_sign_in_fails_clearly_and_a_refresh_still_keeps_its_tokens() {
    let place = Place::new().await;
    let out = disk_full(&mut place.client("connect", None)).output().unwrap();
    let said = text(&out);
    assert!(said.contains("connect: error could not save Latchkey's data"), "{said}");
    assert!(place.tokens_kept().is_empty(), "no tokens without a connection: {said}");
    assert_eq!(place.revocations().await, 1, "the tokens of the unsaved connection were revoked");

    let id = place.connect();
    let out = disk_full(&mut place.client("refresh", Some(&id))).output().unwrap();
    let said = text(&out);
    assert!(said.contains("refresh: ok at-3"), "the refreshed token is usable: {said}");
    assert!(said.contains("could not be saved"), "and the failure is logged: {said}");
    assert!(place.stored(&id).contains("at-3") && place.stored(&id).contains("rt-3"), "the new tokens are kept");
    let latchkey = place.restarted();
    assert_eq!(latchkey.connection(&id).unwrap().status, ConnectionStatus::Connected);
    assert_eq!(latchkey.access_token(&id, Want::Fresh).await.unwrap().secret(), "at-3");
}

/// A reconnect of a connected account whose new facts cannot be saved (the disk full) leaves
/// the connection as it was, with its earlier tokens: it used to delete them.
#[tokio::test]
async fn with_the_disk_full_a_reconnect_keeps_the_connections_earlier_tokens() {
    let place = Place::new().await;
    let id = place.connect();
    let before = place.stored(&id);
    assert!(!before.is_empty(), "connected");
    let out = disk_full(&mut place.client("connect", None)).output().unwrap();
    let said = text(&out);
    assert!(said.contains("connect: error could not save Latchkey's data"), "{said}");
    assert_eq!(place.stored(&id), before, "the earlier tokens are still there: {said}");
    let latchkey = place.restarted();
    assert_eq!(latchkey.connection(&id).unwrap().status, ConnectionStatus::Connected);
}
