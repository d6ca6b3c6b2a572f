//! Where connections are kept: their facts in the metadata file and their tokens in the
//! keychain, each connection changed under its lock, with who is told when they change.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tracing::warn;

use super::clock::Clock;
use super::connection::{Connection, ConnectionStatus};
use super::due::due_at;
use super::files::LockedJson;
use super::locks::{ConnectionGuard, ConnectionLocks};
use super::metadata::MetadataStore;
use super::signals::{CoreEvent, Signals};
use super::sync::lock;
use super::vault::Vault;
use super::{AuthError, ConnectionId, ProviderId};

/// The journal of first writes: connections whose tokens are being written to the keychain for
/// the first time by this data directory, until their facts are saved too.
const JOURNAL: &str = "first-writes.json";

pub struct Connections {
    vault: Vault,
    /// `None` for the in-memory store of the benchmarks.
    journal: Option<LockedJson<Vec<ConnectionId>>>,
    metadata: Mutex<MetadataStore>,
    data_dir: PathBuf,
    locks: ConnectionLocks,
    clock: Arc<dyn Clock>,
    signals: Signals,
    /// Connections whose refresh is in flight in this process (a count per connection).
    refreshing: Mutex<HashMap<ConnectionId, usize>>,
}

impl Connections {
    pub fn new(vault: Vault, metadata: MetadataStore, data_dir: PathBuf, clock: Arc<dyn Clock>) -> Self {
        // The in-memory store of the benchmarks has no files to lock across processes.
        let lock_dir = (!vault.is_in_memory()).then(|| data_dir.join("locks"));
        Self {
            journal: (!vault.is_in_memory()).then(|| LockedJson::new(data_dir.join(JOURNAL))),
            vault,
            metadata: Mutex::new(metadata),
            data_dir,
            locks: ConnectionLocks::new(lock_dir),
            clock,
            signals: Signals::default(),
            refreshing: Mutex::default(),
        }
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    /// Waits until this process, and then no other, holds the connection.
    pub async fn lock(&self, id: &ConnectionId) -> Result<ConnectionGuard, AuthError> {
        self.locks.lock(id).await
    }

    pub fn list(&self) -> Vec<Connection> {
        lock(&self.metadata).list()
    }

    pub fn get(&self, id: &ConnectionId) -> Option<Connection> {
        lock(&self.metadata).get(id).cloned()
    }

    /// The connection as the file has it now (another process may have changed it).
    pub fn reload(&self, id: &ConnectionId) -> Result<Option<Connection>, AuthError> {
        let mut metadata = lock(&self.metadata);
        metadata.reload()?;
        Ok(metadata.get(id).cloned())
    }

    /// Reads every connection's facts again from the file (another process changed it).
    pub fn reload_all(&self) -> Result<(), AuthError> {
        lock(&self.metadata).reload()
    }

    /// The connection of `provider` with this `nickname`, if there is one.
    pub fn find(&self, provider: &ProviderId, nickname: &str) -> Option<ConnectionId> {
        lock(&self.metadata).find(|c| &c.provider == provider && c.nickname == nickname)
    }

    /// The connection a sign-in of this account replaces: the one with its stable id, where the
    /// provider gives one (a connection saved before ids were kept is matched by nickname);
    /// else the one with its nickname.
    pub fn find_account(
        &self,
        provider: &ProviderId,
        account_id: Option<&str>,
        nickname: &str,
    ) -> Option<ConnectionId> {
        let metadata = lock(&self.metadata);
        match account_id {
            Some(id) => {
                metadata.find(|c| &c.provider == provider && c.account_id.as_deref() == Some(id)).or_else(|| {
                    metadata.find(|c| &c.provider == provider && c.account_id.is_none() && c.nickname == nickname)
                })
            }
            None => metadata.find(|c| &c.provider == provider && c.nickname == nickname),
        }
    }

    /// When each connected connection with an expiry is next due, without copying them all.
    pub fn due_times(&self) -> Vec<(DateTime<Utc>, ConnectionId)> {
        let mut out = Vec::new();
        lock(&self.metadata).for_each(|c| {
            if c.status == ConnectionStatus::Connected {
                if let Some(at) = due_at(c) {
                    out.push((at, c.id.clone()));
                }
            }
        });
        out
    }

    /// When one connection is next due, if it is connected and expires.
    pub fn due_time(&self, id: &ConnectionId) -> Option<DateTime<Utc>> {
        lock(&self.metadata).get(id).filter(|c| c.status == ConnectionStatus::Connected).and_then(due_at)
    }

    /// The connections of one provider.
    pub fn ids_of(&self, provider: &ProviderId) -> Vec<ConnectionId> {
        let mut out = Vec::new();
        lock(&self.metadata).for_each(|c| {
            if &c.provider == provider {
                out.push(c.id.clone());
            }
        });
        out
    }

    pub fn upsert(&self, connection: Connection) -> Result<(), AuthError> {
        lock(&self.metadata).upsert(connection)
    }

    pub fn update(
        &self,
        id: &ConnectionId,
        change: impl FnOnce(&mut Connection),
    ) -> Result<Option<Connection>, AuthError> {
        lock(&self.metadata).update(id, change)
    }

    /// Forgets a connection: its facts and its lock (its tokens are deleted by the caller).
    pub fn remove(&self, id: &ConnectionId) -> Result<(), AuthError> {
        lock(&self.metadata).remove(id)?;
        self.locks.forget(id);
        Ok(())
    }

    /// Notes, before a new connection's tokens are first written to the keychain, that this data
    /// directory is writing them: if Latchkey stops before the connection is saved, the next
    /// start removes them (and only them). Without the note the tokens are not written.
    pub fn note_first_write(&self, id: &ConnectionId) -> Result<(), AuthError> {
        let Some(journal) = &self.journal else { return Ok(()) };
        journal
            .update(|ids| {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            })
            .map(drop)
            .map_err(|e| AuthError::Storage(e.0))
    }

    /// The first write of `id` is over: its connection was saved, or its tokens removed.
    pub fn first_write_done(&self, id: &ConnectionId) {
        if let Some(journal) = &self.journal {
            if let Err(e) = journal.update(|ids| ids.retain(|i| i != id)) {
                warn!(error = %e, "could not update the journal of first writes; the next start checks that connection");
            }
        }
    }

    /// Counts a refresh of `id` in or out of flight.
    pub fn set_refreshing(&self, id: &ConnectionId, on: bool) {
        {
            let mut refreshing = lock(&self.refreshing);
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
        self.signals.changed();
    }

    pub fn refreshing(&self) -> HashSet<ConnectionId> {
        lock(&self.refreshing).keys().cloned().collect()
    }

    /// Marks a connection "needs reconnecting" (keeping its tokens) and tells the app.
    pub fn mark_needs_reconnect(&self, connection: &Connection, reason: &str) -> AuthError {
        warn!(connection = %connection.id, reason, "needs reconnecting");
        match self.update(&connection.id, |c| c.status = ConnectionStatus::NeedsReconnect) {
            Ok(Some(updated)) => self.signals.tell(CoreEvent::NeedsReconnect(updated)),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "could not save the needs-reconnecting state"),
        }
        self.signals.roster_changed();
        AuthError::NeedsReconnect { description: Some(reason.to_owned()) }
    }

    /// Deletes the tokens of connections whose first write this data directory began and never
    /// finished (Latchkey stopped between the keychain write and saving the connection), as the
    /// journal of first writes names them; nothing else in the keychain is touched, whatever the
    /// connections file says or lacks. Run at start, before any sign-in can complete. Skipped
    /// while a connections file is set aside as unreadable. Returns how many were removed.
    pub async fn sweep_orphans(&self) -> Result<usize, AuthError> {
        let Some(journal) = &self.journal else { return Ok(0) };
        // A connections file set aside as unreadable still names tokens: leave them all.
        if super::files::has_set_aside(&self.data_dir) {
            warn!("a connections file was set aside as unreadable; keychain entries are left as they are");
            return Ok(0);
        }
        let begun = journal.read().map_err(|e| AuthError::Storage(e.0))?;
        let mut removed = 0;
        for id in begun {
            // A sign-in of the same connection in another process finishes first.
            let _held = self.lock(&id).await?;
            if self.reload(&id)?.is_none() {
                self.vault.delete(&id).await?;
                warn!(connection = %id, "removed tokens of a connection that was never saved");
                removed += 1;
            }
            self.first_write_done(&id);
        }
        Ok(removed)
    }
}
