//! The command line: fresh tokens and the state of connections for scripts, programs and git,
//! without the window. Every command goes through the core's front door, so refreshes are
//! single-flight with the app and with other `latchkey` processes. One clap definition gives the
//! parsing, each command's `--help`, shell completions and the man page.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::sync::Arc;

use clap::Parser;
use latchkey_core::latchkey::Options;
use latchkey_core::redirect::callback_from_args;
use latchkey_core::{AuthError, Browser, ConnectionStatus, ErrorKind, Latchkey};

use latchkey_resident::dbus::{self, Asked};

mod args;
use args::{Cli, Command, GitOperation, Shell};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NOT_FOUND: i32 = 3;
pub const EXIT_NEEDS_RECONNECT: i32 = 4;
pub const EXIT_KEYCHAIN: i32 = 5;
pub const EXIT_UNAVAILABLE: i32 = 6;

/// What `main` does with the command line.
pub enum Launch {
    /// A command ran: exit with this code.
    Exit(i32),
    /// Start (or hand over to) the app.
    App { hidden: bool },
}

/// Runs a command line, or says to start the app (no command, `--hidden`, or a deep link as
/// the only argument).
pub fn run(args: &[OsString]) -> Launch {
    if args.len() < 2 || callback_from_args(&lossy(args)).is_some() {
        return Launch::App { hidden: false };
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return Launch::Exit(e.exit_code());
        }
    };
    let Some(command) = cli.command else { return Launch::App { hidden: cli.hidden } };
    let code = match command {
        Command::Completions { shell } => print(completion(shell)),
        Command::Man => print(include_str!(concat!(env!("OUT_DIR"), "/latchkey.1"))),
        command => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(execute(command)),
            Err(e) => fail(EXIT_FAILURE, &format!("cannot start: {e}")),
        },
    };
    Launch::Exit(code)
}

/// The completion script for `shell`, rendered by build.rs as `completion.<shell>`.
fn completion(shell: Shell) -> &'static str {
    macro_rules! script {
        ($shell:literal) => {
            include_str!(concat!(env!("OUT_DIR"), "/completion.", $shell))
        };
    }
    match shell {
        Shell::Bash => script!("bash"),
        Shell::Zsh => script!("zsh"),
        Shell::Fish => script!("fish"),
        Shell::Elvish => script!("elvish"),
        Shell::Powershell => script!("powershell"),
    }
}

/// Prints a finished text; a closed pipe (`| head`) is not an error worth a message.
fn print(text: &str) -> i32 {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => fail(EXIT_FAILURE, &e.to_string()),
    }
}

fn lossy(args: &[OsString]) -> Vec<String> {
    args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

fn fail(code: i32, message: &str) -> i32 {
    eprintln!("latchkey: {message}");
    code
}

/// The exit code of an error of `kind`: the same classification that names the D-Bus errors.
fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::NeedsReconnect => EXIT_NEEDS_RECONNECT,
        ErrorKind::NotFound | ErrorKind::Ambiguous => EXIT_NOT_FOUND,
        ErrorKind::KeychainUnavailable => EXIT_KEYCHAIN,
        ErrorKind::ProviderUnavailable => EXIT_UNAVAILABLE,
        ErrorKind::Stopping | ErrorKind::Failed => EXIT_FAILURE,
    }
}

/// Says why `error` stopped the command, and gives its exit code.
fn failed(error: &AuthError) -> i32 {
    fail(exit_code(error.kind()), &error.to_string())
}

/// The message and exit code for a failed token request for `account`: the running app's
/// named error or this process's own, said the same way.
fn token_failure(account: &str, kind: ErrorKind, message: &str) -> i32 {
    let code = exit_code(kind);
    match kind {
        ErrorKind::NotFound => fail(code, &format!("no connection or provider named {account:?} is connected")),
        ErrorKind::NeedsReconnect => {
            fail(code, &format!("{account} needs reconnecting: {message}; open Latchkey to reconnect"))
        }
        _ => fail(code, message),
    }
}

/// The command line never opens a browser.
struct NoBrowser;
impl Browser for NoBrowser {
    fn open(&self, _url: &url::Url) -> Result<(), String> {
        Err("the command line does not sign in; use the window".into())
    }
}

/// Opens the person's Latchkey in this process, for commands the running app does not answer
/// (or when it is not running).
async fn open() -> Result<Arc<Latchkey>, i32> {
    let latchkey = Options::for_user(Arc::new(NoBrowser)).and_then(Latchkey::open).map_err(|e| failed(&e))?;
    // The Demo authority runs here too while a command runs when a Demo account is connected,
    // so that Demo tokens refresh with or without the app.
    latchkey.start_for_tokens().await.map_err(|e| failed(&e))?;
    Ok(latchkey)
}

async fn execute(command: Command) -> i32 {
    match command {
        Command::Token { account, json } => token(&mut Tokens::default(), &account, json).await,
        Command::Exec { env, program } => exec(&mut Tokens::default(), env, program).await,
        Command::Quit => {
            if dbus::quit_running(std::time::Duration::from_secs(15)).await {
                println!("Latchkey has quit.");
            } else {
                println!("Latchkey is not running.");
            }
            EXIT_OK
        }
        command => {
            let latchkey = match open().await {
                Ok(l) => l,
                Err(code) => return code,
            };
            match command {
                Command::List { json } => list(&latchkey, json),
                Command::Status => status(&latchkey).await,
                Command::GitCredential { operation } => git_credential(&latchkey, operation).await,
                Command::Connect { provider, .. } => connect(&latchkey, &provider).await,
                Command::Token { .. }
                | Command::Exec { .. }
                | Command::Quit
                | Command::Completions { .. }
                | Command::Man => EXIT_OK,
            }
        }
    }
}

/// A fresh token and the account it belongs to.
struct Fresh {
    token: String,
    id: String,
    provider: String,
    nickname: String,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    scopes: Vec<String>,
}

/// Where fresh tokens come from: the running app over D-Bus, or, when it does not run, this
/// process (opened once). Either way the refresh is single-flight with everything else.
#[derive(Default)]
struct Tokens {
    local: Option<Arc<Latchkey>>,
}

impl Tokens {
    /// A fresh token of `account`, or the exit code after the message is printed.
    async fn fresh(&mut self, account: &str) -> Result<Fresh, i32> {
        if self.local.is_none() {
            match dbus::ask_for_token(account).await {
                Asked::Token { token, account: (id, provider, _, nickname, _, expires_at, scopes), .. } => {
                    let expires_at =
                        (expires_at != 0).then(|| chrono::DateTime::from_timestamp(expires_at, 0)).flatten();
                    return Ok(Fresh { token, id, provider, nickname, expires_at, scopes });
                }
                Asked::Failed { kind, message } => return Err(token_failure(account, kind, &message)),
                Asked::NotRunning => self.local = Some(open().await?),
            }
        }
        let Some(latchkey) = &self.local else { return Err(EXIT_FAILURE) };
        match latchkey.fresh_token(account).await {
            Ok((c, token)) => Ok(Fresh {
                token: token.secret().clone(),
                id: c.id.to_string(),
                provider: c.provider.to_string(),
                nickname: c.nickname,
                expires_at: c.expires_at,
                scopes: c.scopes,
            }),
            Err(e) => Err(token_failure(account, e.kind(), &e.to_string())),
        }
    }
}

async fn token(tokens: &mut Tokens, account: &str, json: bool) -> i32 {
    let fresh = match tokens.fresh(account).await {
        Ok(fresh) => fresh,
        Err(code) => return code,
    };
    if json {
        let doc = serde_json::json!({
            "token": fresh.token,
            "type": "Bearer",
            "expires_at": fresh.expires_at,
            "scopes": fresh.scopes,
            "account": fresh.nickname,
            "provider": fresh.provider,
            "connection": fresh.id,
        });
        println!("{doc:#}");
    } else {
        println!("{}", fresh.token);
    }
    EXIT_OK
}

fn list(latchkey: &Latchkey, json: bool) -> i32 {
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

async fn status(latchkey: &Latchkey) -> i32 {
    let status = latchkey.status().await;
    println!("keychain: {}", status.keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned()));
    println!("data: {}", status.data_dir.display());
    println!("connections: {} ({} need reconnecting)", status.connections, status.needs_reconnect);
    match (status.keychain, status.needs_reconnect) {
        (Err(_), _) => EXIT_KEYCHAIN,
        (Ok(()), 0) => EXIT_OK,
        (Ok(()), _) => EXIT_NEEDS_RECONNECT,
    }
}

/// Runs `program` with a fresh token of each account in its variable; exits as it exits.
async fn exec(tokens: &mut Tokens, env: Vec<(String, String)>, program: Vec<OsString>) -> i32 {
    let mut command = std::process::Command::new(&program[0]);
    command.args(&program[1..]);
    for (name, account) in &env {
        match tokens.fresh(account).await {
            Ok(fresh) => command.env(name, fresh.token),
            Err(code) => return code,
        };
    }
    match command.status() {
        Ok(status) => status.code().unwrap_or_else(|| {
            // Killed by a signal: the shell's convention.
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }
            #[cfg(not(unix))]
            1
        }),
        Err(e) => fail(127, &format!("cannot run {}: {e}", program[0].to_string_lossy())),
    }
}

/// git's credential protocol: `key=value` lines on stdin up to a blank line; for `get`, the
/// answer's `username` and `password` on stdout. Nothing printed means "not mine".
async fn git_credential(latchkey: &Latchkey, operation: GitOperation) -> i32 {
    let mut asked = std::collections::BTreeMap::new();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            asked.insert(key.to_owned(), value.to_owned());
        }
    }
    if !matches!(operation, GitOperation::Get) || asked.get("protocol").is_some_and(|p| p != "https") {
        return EXIT_OK;
    }
    let Some(host) = asked.get("host") else { return EXIT_OK };
    match latchkey.git_credential(host, asked.get("username").map(String::as_str)).await {
        Ok(Some((username, token))) => {
            let mut out = std::io::stdout().lock();
            let written = writeln!(out, "username={username}\npassword={}", token.secret());
            if written.is_err() {
                return EXIT_FAILURE;
            }
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(exit_code(e.kind()), &format!("no token for {host}: {e}")),
    }
}

/// `latchkey connect <provider> --device`: the code and the address on the terminal (and the
/// address in the browser where there is a desktop), then the wait, then the account.
async fn connect(latchkey: &Latchkey, provider: &str) -> i32 {
    let code = match latchkey.start_sign_in_with_code(provider).await {
        Ok(code) => code,
        Err(e) => return failed(&e),
    };
    let address = code.verification_uri_complete.as_ref().unwrap_or(&code.verification_uri);
    println!("To connect {provider}, open {} and enter the code:\n\n    {}\n", code.verification_uri, code.user_code);
    println!("Waiting (up to {} minutes; Ctrl+C to stop)…", code.expires_in.as_secs().div_ceil(60));
    let desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if desktop {
        // Best effort: the address is printed above either way.
        let _ = std::process::Command::new("xdg-open")
            .arg(address.as_str())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    match latchkey.finish_sign_in_with_code(provider, &code, || false).await {
        Ok(connection) => {
            // The running app or the resident part keeps it fresh from now on.
            latchkey_resident::dbus::ask_to_reload().await;
            println!("Connected {} to {provider} ({}).", connection.nickname, connection.id);
            EXIT_OK
        }
        Err(e) => fail(exit_code(e.kind()), &format!("not connected: {e}")),
    }
}
