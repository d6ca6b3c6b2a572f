//! `latchkey token | list | status`: fresh tokens and the state of connections for scripts and
//! local tools, without the window. Refreshes are single-flight with the app and with other
//! `latchkey` processes (the lock files of `core::refresh`).
//!
//! Exit codes: 0 success; 1 another failure; 2 usage; 3 no such provider or connection (or
//! several, when a provider is named); 4 needs reconnecting; 5 keychain unavailable; 6 the
//! provider could not be reached or failed for now.

use std::sync::Arc;

use latchkey_core::latchkey::Options;
use latchkey_core::redirect::callback_from_args;
use latchkey_core::{AuthError, Browser, ConnectionStatus, Latchkey};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NOT_FOUND: i32 = 3;
pub const EXIT_NEEDS_RECONNECT: i32 = 4;
pub const EXIT_KEYCHAIN: i32 = 5;
pub const EXIT_UNAVAILABLE: i32 = 6;

const USAGE: &str = "\
Usage:
  latchkey                      start the app
  latchkey token <provider|id>  print a fresh access token (refreshed first when near expiry)
  latchkey list [--json]        list connections (no secrets)
  latchkey status               the keychain, and whether any connection needs reconnecting
  latchkey --version | --help

Exit codes: 0 ok, 2 usage, 3 no such (or more than one) connection, 4 needs reconnecting,
5 keychain unavailable, 6 provider unreachable or failing for now, 1 anything else.";

/// Runs a command line, or returns `None` when the arguments are the app's (none, or a deep
/// link as the only argument).
pub fn run(args: &[String]) -> Option<i32> {
    let first = args.get(1)?;
    if callback_from_args(args).is_some() {
        return None;
    }
    let rest = &args[2..];
    let code = match first.as_str() {
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            EXIT_OK
        }
        "--version" | "-V" => {
            println!("latchkey {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        "token" | "list" | "status" => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(command(first, rest)),
            Err(e) => fail(EXIT_FAILURE, &format!("cannot start: {e}")),
        },
        _ => fail(EXIT_USAGE, &format!("unknown command {first:?}\n\n{USAGE}")),
    };
    Some(code)
}

fn fail(code: i32, message: &str) -> i32 {
    eprintln!("latchkey: {message}");
    code
}

fn exit_code(error: &AuthError) -> i32 {
    match error {
        AuthError::NeedsReconnect { .. } => EXIT_NEEDS_RECONNECT,
        AuthError::Keychain(_) => EXIT_KEYCHAIN,
        AuthError::UnknownConnection(_) | AuthError::UnknownProvider(_) | AuthError::Ambiguous { .. } => EXIT_NOT_FOUND,
        e if e.is_transient() => EXIT_UNAVAILABLE,
        AuthError::BadResponse { .. } | AuthError::ProviderRefused { .. } => EXIT_UNAVAILABLE,
        _ => EXIT_FAILURE,
    }
}

/// The command line never opens a browser.
struct NoBrowser;
impl Browser for NoBrowser {
    fn open(&self, _url: &url::Url) -> Result<(), String> {
        Err("the command line does not sign in; use the window".into())
    }
}

/// The front door as a command needs it: providers loaded, and the Demo authority running
/// while the command runs when a Demo account is connected, so that Demo tokens refresh with or
/// without the app.
async fn open() -> Result<Arc<Latchkey>, AuthError> {
    let latchkey = Latchkey::open(Options::for_user(Arc::new(NoBrowser))?)?;
    latchkey.start_for_tokens().await?;
    Ok(latchkey)
}

async fn command(name: &str, args: &[String]) -> i32 {
    let latchkey = match open().await {
        Ok(l) => l,
        Err(e) => return fail(exit_code(&e), &e.to_string()),
    };
    match (name, args) {
        ("token", [target]) => match latchkey.fresh_token(target).await {
            Ok((_, token)) => {
                println!("{}", token.secret());
                EXIT_OK
            }
            Err(AuthError::UnknownConnection(_)) => {
                fail(EXIT_NOT_FOUND, &format!("no connection or provider named {target:?} is connected"))
            }
            Err(e @ AuthError::NeedsReconnect { .. }) => {
                fail(EXIT_NEEDS_RECONNECT, &format!("{target} needs reconnecting: {e}; open Latchkey to reconnect"))
            }
            Err(e) => fail(exit_code(&e), &e.to_string()),
        },
        ("token", _) => fail(EXIT_USAGE, "usage: latchkey token <provider|connection-id>"),
        ("list", flags) => {
            let json = flags.iter().any(|f| f == "--json");
            let connections = latchkey.list();
            if json {
                match serde_json::to_string_pretty(&connections) {
                    Ok(text) => println!("{text}"),
                    Err(e) => return fail(EXIT_FAILURE, &e.to_string()),
                }
            } else if connections.is_empty() {
                println!("No connections. Open Latchkey to connect an account.");
            } else {
                println!("{:<28} {:<10} {:<16} {:<32} EXPIRES", "ID", "PROVIDER", "STATUS", "ACCOUNT");
                for c in &connections {
                    let status = match c.status {
                        ConnectionStatus::Connected => "connected",
                        ConnectionStatus::NeedsReconnect => "needs reconnecting",
                    };
                    let expires = c.expires_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into());
                    println!("{:<28} {:<10} {:<16} {:<32} {expires}", c.id, c.provider, status, c.nickname);
                }
            }
            EXIT_OK
        }
        ("status", _) => {
            let status = latchkey.status().await;
            println!(
                "keychain: {}",
                status.keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned())
            );
            println!("data: {}", status.data_dir.display());
            println!("connections: {} ({} need reconnecting)", status.connections, status.needs_reconnect);
            match (status.keychain, status.needs_reconnect) {
                (Err(_), _) => EXIT_KEYCHAIN,
                (Ok(()), 0) => EXIT_OK,
                (Ok(()), _) => EXIT_NEEDS_RECONNECT,
            }
        }
        _ => fail(EXIT_USAGE, USAGE),
    }
}
