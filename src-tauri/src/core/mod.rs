//! Latchkey's core: OAuth flows, providers, the keychain and the connection manager, in plain
//! Rust with no Tauri types, so that a test can drive every flow without a window.

pub mod catalog;
pub mod discovery;
pub mod error;
pub mod http;
pub mod ids;
pub mod loopback;
pub mod manager;
pub mod metadata;
pub mod oauth2_generic;
pub mod provider;
pub mod providers;
pub mod quirks;
pub mod redirect;
pub mod refresh;
pub mod scheduler;
pub mod token;
pub mod vault;

pub use error::{AuthError, CallbackError, RawBody};
pub use ids::{ConnectionId, ProviderId};
pub use manager::{Browser, Connection, ConnectionManager, ConnectionStatus, PendingConnect};
pub use provider::AuthProvider;
pub use token::TokenResponse;

/// A named point where a debug build can be made to stop dead (`LATCHKEY_FAILPOINT=<name>`),
/// for the tests that kill Latchkey mid-refresh. Release builds ignore it.
pub fn failpoint(name: &str) {
    if cfg!(debug_assertions) && std::env::var("LATCHKEY_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
