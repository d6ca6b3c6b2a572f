//! The command line's definition, with nothing but clap and std: the app parses with it, and
//! build.rs renders the shell completions and the manual page from it at build time, so the
//! binary carries the finished texts and not the generators.

use std::ffi::OsString;

use clap::{Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes: 0 ok, 2 usage, 3 no such (or more than one) connection, 4 needs reconnecting,
5 keychain unavailable, 6 provider unreachable or failing for now, 1 anything else.";

/// Connects your accounts at OAuth providers and keeps them connected. Without a command,
/// starts the app.
#[derive(Parser)]
#[command(name = "latchkey", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Start without opening the window (as at login): Latchkey keeps accounts fresh and
    /// answers other programs; launching it again opens the window.
    #[arg(long)]
    pub hidden: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print a fresh access token (refreshed first when near expiry).
    #[command(after_help = EXIT_CODES)]
    Token {
        /// A provider with one connection (`github`), or a connection id (`github-1f…`).
        account: String,
        /// Print the token with its type, expiry, scopes, account and provider as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the connections (no secrets).
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Whether the keychain can be reached and any connection needs reconnecting.
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Run a program with fresh tokens in its environment (never in its arguments).
    #[command(after_help = "Example: latchkey exec --env GH_TOKEN=github -- gh repo list\n\n".to_owned() + EXIT_CODES)]
    Exec {
        /// NAME=ACCOUNT: put a fresh token of ACCOUNT (as for `token`) in the variable NAME.
        #[arg(long = "env", value_name = "NAME=ACCOUNT", required = true, value_parser = binding)]
        env: Vec<(String, String)>,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "PROGRAM")]
        program: Vec<OsString>,
    },
    /// A git credential helper: `git config --global credential.helper "latchkey git-credential"`.
    #[command(name = "git-credential")]
    GitCredential {
        #[arg(value_enum)]
        operation: GitOperation,
    },
    /// Connect an account by signing in with a code (no redirect to register; for a machine
    /// without a desktop too): prints the code and where to enter it, waits, exits.
    #[command(after_help = "Example: latchkey connect github --device\n\n".to_owned() + EXIT_CODES)]
    Connect {
        /// The provider (`demo`, `github`, `gitlab`, `google-device`, `microsoft`, `salesforce`,
        /// `twitch`, or one you added with a device endpoint).
        provider: String,
        /// Sign in with a code (the only way the command line signs in; the window signs in
        /// through the browser).
        #[arg(long)]
        device: bool,
    },
    /// Stop the running Latchkey (its background part, and the window if it is open).
    Quit,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: Shell },
    /// Print the manual page (roff), for `man -l -`.
    Man,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GitOperation {
    /// Answer with the user name and a fresh token for the host git asks about.
    Get,
    /// Accepted and ignored: the keychain already holds the tokens.
    Store,
    /// Accepted and ignored: disconnect in Latchkey to remove an account.
    Erase,
}

/// `NAME=ACCOUNT`, with NAME a plain environment variable name.
fn binding(text: &str) -> Result<(String, String), String> {
    let (name, account) = text.split_once('=').ok_or("expected NAME=ACCOUNT")?;
    let plain = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain || account.is_empty() {
        return Err(format!("{text:?} is not NAME=ACCOUNT (NAME: letters, digits and _)"));
    }
    Ok((name.to_owned(), account.to_owned()))
}

/// The shells `latchkey completions` has a script for.
#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}
