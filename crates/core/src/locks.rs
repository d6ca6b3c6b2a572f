//! Per-connection locks: one holder at a time for a connection's tokens, in this process (an
//! async gate) and across processes (a lock file, `<data>/locks/<id>.lock`), so that a refresh,
//! a reconnect and a disconnect of the same connection never interleave.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::sync::lock;
use super::{AuthError, ConnectionId};

pub struct ConnectionLocks {
    /// `None` keeps the locks in this process only (the in-memory store of the benchmarks).
    dir: Option<PathBuf>,
    gates: Mutex<HashMap<ConnectionId, Arc<AsyncMutex<()>>>>,
}

/// Held while a connection's tokens are read and written; released when dropped.
pub struct ConnectionGuard {
    _file: Option<File>,
    _gate: OwnedMutexGuard<()>,
}

impl ConnectionLocks {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, gates: Mutex::default() }
    }

    /// Waits for the connection's gate in this process, then for its lock file.
    pub async fn lock(&self, id: &ConnectionId) -> Result<ConnectionGuard, AuthError> {
        let gate = lock(&self.gates).entry(id.clone()).or_default().clone();
        let gate = gate.lock_owned().await;
        let file = match &self.dir {
            Some(dir) => Some(lock_file(dir.clone(), id).await?),
            None => None,
        };
        Ok(ConnectionGuard { _file: file, _gate: gate })
    }

    /// Drops the gate of a connection that is gone.
    pub fn forget(&self, id: &ConnectionId) {
        lock(&self.gates).remove(id);
    }
}

async fn lock_file(dir: PathBuf, id: &ConnectionId) -> Result<File, AuthError> {
    let path = dir.join(format!("{id}.lock"));
    tokio::task::spawn_blocking(move || {
        super::files::private_dir(&dir)?;
        let file = super::files::open_lock(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| AuthError::Storage(e.to_string()))?
    .map_err(|e| AuthError::Storage(format!("cannot lock the tokens of {id}: {e}")))
}
