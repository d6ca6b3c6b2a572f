//! A connected account as the window, the log and other programs may see it: who, at which
//! provider, since when, until when, with which scopes and in what state; never its secrets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuthError, ConnectionId, ProviderId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    /// The provider refused the grant; the person must connect again. Tokens are kept.
    NeedsReconnect,
}

/// A connected account, without its secrets: this is what the window and the log may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub provider: ProviderId,
    pub nickname: String,
    pub connected_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub status: ConnectionStatus,
    /// When the tokens were last refreshed, if ever.
    #[serde(default)]
    pub last_refreshed: Option<DateTime<Utc>>,
    /// The access token's lifetime as the provider gave it, which sets the refresh margin.
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
    /// Whether the sign-in brought a refresh token. Without one the connection lasts as long as
    /// its access token, and the window says so. (Connections saved before this was recorded
    /// read as renewable.)
    #[serde(default = "renewable")]
    pub renewable: bool,
    /// Who redeems the grant (the provider's issuer, or its token endpoint) as it was at sign-in:
    /// see [`crate::AuthProvider::grant_authority`]. Recorded at the next refresh for
    /// connections made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// The account's stable id at the provider, where it gives one: what a reconnect is
    /// matched on (two accounts may share a display name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

fn renewable() -> bool {
    true
}

/// The connection `name` stands for among `connections`: the one with that id, or the only one
/// of the provider with that id.
pub fn named(connections: Vec<Connection>, name: &str) -> Result<Connection, AuthError> {
    if let Some(c) = connections.iter().find(|c| c.id.as_str() == name) {
        return Ok(c.clone());
    }
    let mut of_provider = connections.into_iter().filter(|c| c.provider.as_str() == name);
    match (of_provider.next(), of_provider.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(AuthError::UnknownConnection(name.to_owned())),
        (Some(first), Some(second)) => Err(AuthError::Ambiguous {
            name: name.to_owned(),
            candidates: [first, second]
                .into_iter()
                .chain(of_provider)
                .map(|c| format!("{} ({})", c.id, c.nickname))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Whether `provider` may redeem or revoke `connection`'s grant: it answers to the authority the
/// connection was made with (or the connection predates the record).
pub fn same_authority(connection: &Connection, provider: &dyn crate::AuthProvider) -> bool {
    match (&connection.authority, provider.grant_authority()) {
        (Some(recorded), Some(now)) => *recorded == now,
        (Some(_), None) => false,
        (None, _) => true,
    }
}
