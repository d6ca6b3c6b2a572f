//! Latchkey's core: OAuth flows, providers, the keychain and the connection manager, in plain
//! Rust with no Tauri types, so that a test can drive every flow without a window.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod clock;
pub mod connection;
pub mod connections;
pub mod demo;
pub mod description;
pub mod device;
pub mod discovery;
pub mod due;
pub mod error;
pub mod files;
pub mod flows;
pub mod git;
pub mod http;
pub mod ids;
pub mod latchkey;
pub mod locks;
pub mod loopback;
pub mod manager;
pub mod metadata;
pub mod oauth2_generic;
pub mod provider;
pub mod providers;
pub mod quirks;
pub mod redirect;
pub mod refresh;
pub mod registry;
pub mod scheduler;
pub mod settings;
pub mod signals;
pub mod sync;
pub mod token;
pub mod vault;
pub mod view;

pub use connection::{Connection, ConnectionStatus};
pub use error::{AuthError, CallbackError, ErrorKind, OAuthErrorCode, RawBody};
pub use ids::{ConnectionId, FlowId, ProviderId};
pub use latchkey::Latchkey;
pub use manager::{Browser, ConnectionManager, PendingConnect};
pub use provider::AuthProvider;
pub use signals::CoreEvent;
pub use token::TokenResponse;

/// A named point where a debug build can be made to stop dead (`LATCHKEY_FAILPOINT=<name>`),
/// for the tests that kill Latchkey mid-refresh. Release builds ignore it.
pub fn failpoint(name: &str) {
    if cfg!(debug_assertions) && std::env::var("LATCHKEY_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
