//! Another Latchkey process, for the tests that kill Latchkey mid-step or take its keychain or
//! disk away: it signs in, refreshes, or runs the locked-keychain scenario against a provider
//! faked by the parent test, and prints what happened, one line per step.
//!
//! ```text
//! flow-client connect|refresh|locked <data-dir> <keychain-service> <provider-base-url>
//!             <client-id> <client-secret> [connection-id]
//! ```
//!
//! `LATCHKEY_FAILPOINT=<name>` (debug builds) makes it die at that point, as a crash would.

use std::process::Command;
use std::sync::Arc;

use latchkey_core::manager::ManagerOptions;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::refresh::Want;
use latchkey_core::{AuthError, ConnectionId, ConnectionManager, ProviderId};
use latchkey_tests::{callback, fake_config, http, Recorder};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::WARN).init();
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, data_dir, service, base, client_id, client_secret, rest @ ..] = args.as_slice() else {
        eprintln!("usage: flow-client connect|refresh|locked <data-dir> <service> <base> <client-id> <secret> [id]");
        std::process::exit(2);
    };
    let mut options = ManagerOptions::new(data_dir);
    options.keychain_service = service.clone();
    let browser = Arc::new(Recorder::default());
    let manager = Arc::new(ConnectionManager::new(options, browser.clone()).unwrap());
    let config = fake_config("acme", base, client_id, Some(client_secret));
    manager.add_provider(Arc::new(GenericOAuth2Provider::new(config, http()).unwrap()));
    let connect = || async {
        manager.connect(&ProviderId::new("acme").unwrap()).await?;
        manager.complete(&callback(&browser.last(), "&code=c")).await
    };
    let refresh = |id: ConnectionId| {
        let manager = manager.clone();
        async move { manager.access_token(&id, Want::Forced).await }
    };
    match mode.as_str() {
        "connect" => say("connect", connect().await.map(|c| c.id.to_string())),
        "refresh" => {
            let id = ConnectionId::parse(rest.first().expect("a connection id")).unwrap();
            say("refresh", refresh(id).await.map(|t| t.secret().clone()));
        }
        // Connected, then the keychain is locked: refresh and a new sign-in fail clearly and
        // lose nothing; once it is unlocked again (the daemon restarted on its unlocked file),
        // refresh works with the tokens kept.
        "locked" => {
            let c = match connect().await {
                Ok(c) => c,
                Err(e) => return say::<String>("connect", Err(e)),
            };
            println!("connect: ok {}", c.id);
            run(
                "dbus-send",
                &[
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.secrets",
                    "/org/freedesktop/secrets",
                    "org.freedesktop.Secret.Service.Lock",
                    "array:objpath:/org/freedesktop/secrets/collection/login",
                ],
            );
            say("refresh-locked", refresh(c.id.clone()).await.map(|t| t.secret().clone()));
            let status = manager.connection(&c.id).map(|c| format!("{:?}", c.status)).unwrap_or_default();
            println!("status-locked: {status}");
            say("connect-locked", connect().await.map(|c| c.id.to_string()));
            run("sh", &["-c", "echo | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null"]);
            std::thread::sleep(std::time::Duration::from_millis(500));
            say("refresh-unlocked", refresh(c.id.clone()).await.map(|t| t.secret().clone()));
        }
        other => panic!("unknown mode {other}"),
    }
}

fn say<T: std::fmt::Display>(step: &str, result: Result<T, AuthError>) {
    match result {
        Ok(value) => println!("{step}: ok {value}"),
        Err(e) => println!("{step}: error {e}"),
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).stdout(std::process::Stdio::null()).status().unwrap();
    assert!(status.success(), "{program} failed");
}
