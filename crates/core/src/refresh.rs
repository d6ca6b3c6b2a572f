//! Refresh: a fresh access token for a connection, refreshing it first when it is within its
//! margin. One refresh in flight per connection, in this process (a gate) and across processes
//! (a lock file, after which the keychain and the metadata are read again, as rclone does); the
//! new tokens reach the keychain before the new access token is handed out; a grant the
//! provider refuses marks the connection "needs reconnecting" and deletes nothing.

use chrono::{DateTime, Utc};
use oauth2::AccessToken;
use tracing::{info, instrument, warn};

use super::connection::ConnectionStatus;
use super::connections::Connections;
use super::registry::ProviderRegistry;
use super::vault::Secrets;
use super::{AuthError, ConnectionId};

pub use super::due::{due_at, is_due, jitter, margin};

/// Why a refresh was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A token that is still good for a while is returned as it is.
    Fresh,
    /// As `Fresh`, judged at this time by the caller's clock (the scheduler's).
    DueAt(DateTime<Utc>),
    /// Refresh whatever the expiry says.
    Forced,
}

/// A usable access token for `id`: the stored one while it is outside its margin, a
/// refreshed one otherwise (or always, with [`Want::Forced`]). Refreshes at the connection's
/// provider in `providers`; everything else it reads and writes is in `store`.
#[instrument(skip_all, fields(connection = %id))]
pub async fn access_token(
    store: &Connections,
    providers: &ProviderRegistry,
    id: &ConnectionId,
    want: Want,
) -> Result<AccessToken, AuthError> {
    // The common case, a token far from expiry, needs no lock: a refresh elsewhere writes the
    // new refresh token before the new access token, each bundle whole, so what is read here is
    // either bundle, and either access token is good for longer than the refresh margin.
    if matches!(want, Want::Fresh) {
        if let Some(connection) = store.get(id) {
            if connection.status == ConnectionStatus::Connected && !is_due(&connection, store.clock().now()) {
                if let Some(secrets) = store.vault().load(id).await? {
                    return Ok(secrets.access_token);
                }
            }
        }
    }
    let _held = store.lock(id).await?;
    // Another caller, here or in another process, may have refreshed meanwhile.
    let connection = store.reload(id)?.ok_or_else(|| AuthError::UnknownConnection(id.to_string()))?;
    if connection.status == ConnectionStatus::NeedsReconnect {
        return Err(AuthError::NeedsReconnect { description: None });
    }
    let secrets = store.vault().load(id).await?.ok_or_else(|| AuthError::NeedsReconnect {
        description: Some("the keychain holds no tokens for this connection".into()),
    })?;
    let now = store.clock().now();
    let due = match want {
        Want::Fresh => is_due(&connection, now),
        Want::DueAt(at) => is_due(&connection, at),
        Want::Forced => true,
    };
    if !due {
        return Ok(secrets.access_token);
    }
    let Some(refresh_token) = secrets.refresh_token.clone() else {
        return match connection.expires_at {
            Some(expires) if expires <= now => {
                Err(store.mark_needs_reconnect(&connection, "the token expired and the provider gave no refresh token"))
            }
            _ => Ok(secrets.access_token),
        };
    };
    let provider = providers
        .get(&connection.provider)
        .ok_or_else(|| AuthError::UnknownProvider(connection.provider.to_string()))?;
    // The refresh token goes only to the authority that issued it.
    if !crate::connection::same_authority(&connection, &*provider) {
        return Err(store.mark_needs_reconnect(
            &connection,
            "the provider's endpoints are not those this account was connected with",
        ));
    }

    super::failpoint("refresh-before-request");
    store.set_refreshing(id, true);
    let result = provider.refresh(&refresh_token).await;
    store.set_refreshing(id, false);
    let tokens = match result {
        Ok(tokens) => tokens,
        Err(e) if e.needs_reconnect() => return Err(store.mark_needs_reconnect(&connection, &e.to_string())),
        Err(e) => {
            warn!(error = %e, "refresh failed; the connection stays connected");
            return Err(e);
        }
    };
    super::failpoint("after-refresh-response");

    // The new refresh token is in the keychain before the new access token is used; without
    // a new one, the old one is kept.
    let rotated = tokens.refresh_token.is_some();
    let secrets = Secrets {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone().or(Some(refresh_token)),
    };
    store.vault().store(id, &secrets).await?;
    super::failpoint("refresh-after-keychain-write");
    let now = store.clock().now();
    let expires_at = tokens.expires_in.and_then(|s| now.checked_add_signed(chrono::Duration::seconds(s as i64)));
    let scopes = tokens.scope_list();
    let authority = provider.grant_authority();
    let saved = store.update(id, |c| {
        if c.authority.is_none() {
            c.authority = authority;
        }
        c.expires_at = expires_at;
        c.lifetime_secs = tokens.expires_in;
        c.last_refreshed = Some(now);
        c.status = ConnectionStatus::Connected;
        if !scopes.is_empty() {
            c.scopes = scopes;
        }
    });
    // The tokens are safe in the keychain; a connections file that cannot be written (a full
    // disk) only leaves the expiry shown stale, so the next call refreshes early.
    if let Err(e) = saved {
        warn!(error = %e, "the refreshed connection could not be saved; its tokens are in the keychain");
    }
    info!(rotated, "refreshed");
    store.signals().changed();
    Ok(secrets.access_token)
}
