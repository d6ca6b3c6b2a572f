//! Refresh: a fresh access token for a connection, refreshing it first when it is within its
//! margin. One refresh in flight per connection, in this process (a gate) and across processes
//! (a lock file, after which the keychain and the metadata are read again, as rclone does); the
//! new tokens reach the keychain before the new access token is handed out; a grant the
//! provider refuses marks the connection "needs reconnecting" and deletes nothing.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::AccessToken;
use tracing::{info, instrument, warn};

use super::manager::{ConnectionStatus, CoreEvent};
use super::vault::Secrets;
use super::{AuthError, Connection, ConnectionId, ConnectionManager};

/// How long before expiry a token is refreshed: 10% of its lifetime, at least 30 s (or half the
/// lifetime, for tokens shorter than a minute) and at most 10 minutes.
pub fn margin(lifetime: Option<u64>) -> Duration {
    let lifetime = lifetime.unwrap_or(3600).max(1) as f64;
    let floor = 30f64.min(lifetime / 2.0);
    Duration::from_secs_f64((lifetime * 0.1).clamp(floor, 600.0))
}

/// A spread of up to a fifth of the margin, fixed for one token (so that it does not move
/// between two looks) and different across connections (so that they do not refresh together).
pub fn jitter(connection: &Connection) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    connection.id.hash(&mut h);
    connection.expires_at.hash(&mut h);
    let fraction = (h.finish() % 1000) as f64 / 1000.0;
    margin(connection.lifetime_secs).mul_f64(0.2 * fraction)
}

/// When the connection's token should be refreshed; `None` if it does not expire.
pub fn due_at(connection: &Connection) -> Option<DateTime<Utc>> {
    let expires = connection.expires_at?;
    let before = margin(connection.lifetime_secs) + jitter(connection);
    Some(expires - chrono::Duration::from_std(before).unwrap_or_default())
}

/// Whether a refresh would be asked for now.
pub fn is_due(connection: &Connection, now: DateTime<Utc>) -> bool {
    due_at(connection).is_some_and(|due| due <= now)
}

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

impl ConnectionManager {
    /// When each connected connection with an expiry is next due, without copying them all.
    pub fn due_times(&self) -> Vec<(DateTime<Utc>, ConnectionId)> {
        let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        metadata.for_each(|c| {
            if c.status == ConnectionStatus::Connected {
                if let Some(at) = due_at(c) {
                    out.push((at, c.id.clone()));
                }
            }
        });
        out
    }

    /// The connections of one provider.
    pub fn connection_ids_of(&self, provider: &super::ProviderId) -> Vec<ConnectionId> {
        let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        metadata.for_each(|c| {
            if &c.provider == provider {
                out.push(c.id.clone());
            }
        });
        out
    }

    /// When one connection is next due, if it is connected and expires.
    pub fn due_time(&self, id: &ConnectionId) -> Option<DateTime<Utc>> {
        let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        metadata.get(id).filter(|c| c.status == ConnectionStatus::Connected).and_then(due_at)
    }

    pub(super) fn gate(&self, id: &ConnectionId) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(id.clone()).or_default().clone()
    }

    /// The cross-process lock of one connection's refresh, in `<data>/locks/<id>.lock`.
    pub(super) async fn lock_file(&self, id: &ConnectionId) -> Result<Option<File>, AuthError> {
        if self.vault.is_in_memory() {
            return Ok(None);
        }
        let dir = self.data_dir.join("locks");
        let path = dir.join(format!("{id}.lock"));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let file = File::options().create(true).truncate(false).write(true).open(&path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(Some(file))
        })
        .await
        .map_err(|e| AuthError::Storage(e.to_string()))?
        .map_err(|e| AuthError::Storage(format!("cannot lock the refresh of {id}: {e}")))
    }

    /// A usable access token for `id`: the stored one while it is outside its margin, a
    /// refreshed one otherwise (or always, with [`Want::Forced`]).
    #[instrument(skip_all, fields(connection = %id))]
    pub async fn access_token(&self, id: &ConnectionId, want: Want) -> Result<AccessToken, AuthError> {
        let gate = self.gate(id);
        let _in_process = gate.lock().await;
        let _across_processes = self.lock_file(id).await?;
        // Another caller, here or in another process, may have refreshed meanwhile.
        let connection = {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.reload()?;
            metadata.get(id).cloned()
        }
        .ok_or_else(|| AuthError::UnknownConnection(id.to_string()))?;
        if connection.status == ConnectionStatus::NeedsReconnect {
            return Err(AuthError::NeedsReconnect { description: None });
        }
        let secrets = self.vault.load(id).await?.ok_or_else(|| AuthError::NeedsReconnect {
            description: Some("the keychain holds no tokens for this connection".into()),
        })?;
        let now = self.clock.now();
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
                Some(expires) if expires <= now => Err(self
                    .mark_needs_reconnect(&connection, "the token expired and the provider gave no refresh token")
                    .await),
                _ => Ok(secrets.access_token),
            };
        };
        let provider = self
            .provider(&connection.provider)
            .ok_or_else(|| AuthError::UnknownProvider(connection.provider.to_string()))?;

        super::failpoint("refresh-before-request");
        self.set_refreshing(id, true);
        let result = provider.refresh(&refresh_token).await;
        self.set_refreshing(id, false);
        let tokens = match result {
            Ok(tokens) => tokens,
            Err(e @ AuthError::NeedsReconnect { .. }) => {
                let reason = e.to_string();
                return Err(self.mark_needs_reconnect(&connection, &reason).await);
            }
            Err(AuthError::ProviderRefused { error, description })
                if error == "invalid_client" || error == "unauthorized_client" =>
            {
                let reason = AuthError::ProviderRefused { error, description }.to_string();
                return Err(self.mark_needs_reconnect(&connection, &reason).await);
            }
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
        self.vault.store(id, &secrets).await?;
        super::failpoint("refresh-after-keychain-write");
        let now = self.clock.now();
        let expires_at = tokens.expires_in.and_then(|s| now.checked_add_signed(chrono::Duration::seconds(s as i64)));
        let scopes = tokens.scope_list();
        let saved = {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.update(id, |c| {
                c.expires_at = expires_at;
                c.lifetime_secs = tokens.expires_in;
                c.last_refreshed = Some(now);
                c.status = ConnectionStatus::Connected;
                if !scopes.is_empty() {
                    c.scopes = scopes;
                }
            })
        };
        // The tokens are safe in the keychain; a connections file that cannot be written (a full
        // disk) only leaves the expiry shown stale, so the next call refreshes early.
        if let Err(e) = saved {
            warn!(error = %e, "the refreshed connection could not be saved; its tokens are in the keychain");
        }
        info!(rotated, "refreshed");
        self.changed();
        Ok(secrets.access_token)
    }

    fn set_refreshing(&self, id: &ConnectionId, on: bool) {
        {
            let mut refreshing = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
            let count = refreshing.entry(id.clone()).or_default();
            if on {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    refreshing.remove(id);
                }
            }
        }
        self.changed();
    }

    /// Marks a connection "needs reconnecting" (keeping its tokens) and tells the app.
    async fn mark_needs_reconnect(&self, connection: &Connection, reason: &str) -> AuthError {
        warn!(connection = %connection.id, reason, "needs reconnecting");
        let updated = {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.update(&connection.id, |c| c.status = ConnectionStatus::NeedsReconnect)
        };
        match updated {
            Ok(Some(updated)) => {
                let _ = self.events.send(CoreEvent::NeedsReconnect(updated));
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not save the needs-reconnecting state"),
        }
        self.roster_changed();
        AuthError::NeedsReconnect { description: Some(reason.to_owned()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_follow_the_lifetime_within_bounds() {
        assert_eq!(margin(Some(3600)), Duration::from_secs(360));
        assert_eq!(margin(Some(120)), Duration::from_secs(30));
        assert_eq!(margin(Some(86_400)), Duration::from_secs(600));
        assert_eq!(margin(Some(6)), Duration::from_secs(3), "short tokens: half their lifetime");
        assert_eq!(margin(None), Duration::from_secs(360));
    }
}
