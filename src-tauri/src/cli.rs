//! `latchkey token | list | status`: fresh tokens and the state of connections for scripts and
//! local tools, without the window. Refreshes are single-flight with the app and with other
//! `latchkey` processes (the lock files of `core::refresh`).
//!
//! Exit codes: 0 success; 1 another failure; 2 usage; 3 no such provider or connection (or
//! several, when a provider is named); 4 needs reconnecting; 5 keychain unavailable; 6 the
//! provider could not be reached or failed for now.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::core::http::HttpClient;
use crate::core::manager::{ConnectionStatus, ManagerOptions};
use crate::core::oauth2_generic::GenericOAuth2Provider;
use crate::core::redirect::{APP_IDENTIFIER, SCHEME};
use crate::core::refresh::Want;
use crate::core::{AuthError, Browser, Connection, ConnectionManager};
use crate::demo::{self, DemoAuthority, DemoOptions};

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

/// The app's data directory, as Tauri's `app_data_dir` places it.
pub fn data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join(APP_IDENTIFIER))
}

/// The app's config directory, as Tauri's `app_config_dir` places it.
pub fn config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join(APP_IDENTIFIER))
}

/// Runs a command line, or returns `None` when the arguments are the app's (none, or a deep
/// link as the only argument).
pub fn run(args: &[String]) -> Option<i32> {
    let first = args.get(1)?;
    if args.len() == 2 && first.get(..SCHEME.len() + 1).is_some_and(|p| p.eq_ignore_ascii_case(&format!("{SCHEME}:"))) {
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
        AuthError::UnknownConnection(_) | AuthError::UnknownProvider(_) => EXIT_NOT_FOUND,
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

/// The manager and providers a command needs. The Demo authority runs here too while the
/// command runs, so that Demo tokens refresh with or without the app.
struct Session {
    manager: Arc<ConnectionManager>,
    _demo: Option<DemoAuthority>,
}

async fn open_session() -> Result<Session, (i32, String)> {
    let data = data_dir().ok_or((EXIT_FAILURE, "no data directory (HOME unset?)".to_owned()))?;
    let http = HttpClient::new(Duration::from_secs(30)).map_err(|e| (EXIT_FAILURE, e.to_string()))?;
    let manager = Arc::new(
        ConnectionManager::new(ManagerOptions::new(&data), Arc::new(NoBrowser))
            .map_err(|e| (exit_code(&e), e.to_string()))?,
    );
    let settings = config_dir().map(|dir| crate::settings::SettingsStore::open(&dir).get()).unwrap_or_default();
    let providers = crate::settings::build_providers(&http, &settings, manager.vault())
        .await
        .map_err(|e| (exit_code(&e), e.to_string()))?;
    providers.into_iter().for_each(|p| manager.add_provider(p));
    let demo_wanted = manager.list().iter().any(|c| c.provider.as_str() == demo::NAME)
        && !demo::disabled_by_env()
        && settings.demo_provider;
    let mut demo_authority = None;
    if demo_wanted {
        let options = DemoOptions::for_app(manager.vault(), &data).await.map_err(|e| (exit_code(&e), e.to_string()))?;
        let authority = DemoAuthority::start(options).await.map_err(|e| (EXIT_FAILURE, e.to_string()))?;
        let provider = GenericOAuth2Provider::new(demo::config(&authority.base_url()), http)
            .map_err(|e| (EXIT_FAILURE, e.to_string()))?;
        manager.add_provider(Arc::new(provider));
        demo_authority = Some(authority);
    }
    Ok(Session { manager, _demo: demo_authority })
}

/// The connection a name stands for: a connection id, or a provider with one connection.
fn pick<'a>(connections: &'a [Connection], name: &str) -> Result<&'a Connection, (i32, String)> {
    if let Some(c) = connections.iter().find(|c| c.id.as_str() == name) {
        return Ok(c);
    }
    let of_provider: Vec<&Connection> = connections.iter().filter(|c| c.provider.as_str() == name).collect();
    match of_provider.as_slice() {
        [one] => Ok(one),
        [] => Err((EXIT_NOT_FOUND, format!("no connection or provider named {name:?} is connected"))),
        many => Err((
            EXIT_NOT_FOUND,
            format!(
                "{name} has {} connections; name one: {}",
                many.len(),
                many.iter().map(|c| format!("{} ({})", c.id, c.nickname)).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

async fn command(name: &str, args: &[String]) -> i32 {
    let session = match open_session().await {
        Ok(s) => s,
        Err((code, message)) => return fail(code, &message),
    };
    let manager = &session.manager;
    match (name, args) {
        ("token", [target]) => {
            let connections = manager.list();
            let connection = match pick(&connections, target) {
                Ok(c) => c,
                Err((code, message)) => return fail(code, &message),
            };
            match manager.access_token(&connection.id, Want::Fresh).await {
                Ok(token) => {
                    println!("{}", token.secret());
                    EXIT_OK
                }
                Err(e @ AuthError::NeedsReconnect { .. }) => fail(
                    EXIT_NEEDS_RECONNECT,
                    &format!("{} needs reconnecting: {e}; open Latchkey to reconnect", connection.id),
                ),
                Err(e) => fail(exit_code(&e), &e.to_string()),
            }
        }
        ("token", _) => fail(EXIT_USAGE, "usage: latchkey token <provider|connection-id>"),
        ("list", flags) => {
            let json = flags.iter().any(|f| f == "--json");
            let connections = manager.list();
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
            let keychain = manager.vault().probe().await;
            let connections = manager.list();
            let stale = connections.iter().filter(|c| c.status == ConnectionStatus::NeedsReconnect).count();
            println!("keychain: {}", keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned()));
            println!("data: {}", manager.data_dir().display());
            println!("connections: {} ({} need reconnecting)", connections.len(), stale);
            match (keychain, stale) {
                (Err(_), _) => EXIT_KEYCHAIN,
                (Ok(()), 0) => EXIT_OK,
                (Ok(()), _) => EXIT_NEEDS_RECONNECT,
            }
        }
        _ => fail(EXIT_USAGE, USAGE),
    }
}
