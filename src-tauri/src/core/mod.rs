//! Latchkey's core: OAuth flows, providers, the keychain and the connection manager, in plain
//! Rust with no Tauri types, so that a test can drive every flow without a window.

pub mod error;
pub mod http;
pub mod ids;
pub mod manager;
pub mod metadata;
pub mod oauth2_generic;
pub mod provider;
pub mod providers;
pub mod redirect;
pub mod token;
pub mod vault;

pub use error::{AuthError, CallbackError, RawBody};
pub use ids::{ConnectionId, ProviderId};
pub use manager::{Browser, Connection, ConnectionManager, ConnectionStatus, PendingConnect};
pub use provider::AuthProvider;
pub use token::TokenResponse;
