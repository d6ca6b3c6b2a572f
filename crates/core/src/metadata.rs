//! The non-secret facts of each connection (nickname, times, scopes, status) in
//! `connections.json` in the app's data directory, changed only under its lock (see
//! [`LockedJson`]) so that the app and the `latchkey` command can both update it. A store can
//! also live in memory only (benchmarks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::LockedJson;
use super::{AuthError, Connection, ConnectionId};

const FILE_NAME: &str = "connections.json";

#[derive(Clone, Serialize, Deserialize, Default)]
struct FileFormat {
    version: u32,
    connections: Vec<Connection>,
}

/// The connections, in memory and (unless in-memory) in their file.
pub struct MetadataStore {
    file: Option<LockedJson<FileFormat>>,
    connections: BTreeMap<ConnectionId, Connection>,
}

fn by_id(file: FileFormat) -> BTreeMap<ConnectionId, Connection> {
    file.connections.into_iter().map(|c| (c.id.clone(), c)).collect()
}

impl MetadataStore {
    /// Opens (or starts) the file in `dir`. A file that cannot be parsed is moved aside as
    /// `connections.json.unreadable-<time>`, kept for a person to look at, and an empty list is
    /// used: its tokens are still in the keychain.
    pub fn open(dir: &Path) -> Result<Self, AuthError> {
        let file = LockedJson::new(dir.join(FILE_NAME));
        let connections = by_id(file.read().map_err(|e| AuthError::Storage(e.0))?);
        Ok(Self { file: Some(file), connections })
    }

    /// A store that keeps nothing on disk.
    pub fn in_memory() -> Self {
        Self { file: None, connections: BTreeMap::new() }
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|f| f.path().to_owned())
    }

    pub fn list(&self) -> Vec<Connection> {
        self.connections.values().cloned().collect()
    }

    pub fn get(&self, id: &ConnectionId) -> Option<&Connection> {
        self.connections.get(id)
    }

    /// The first connection that matches, by id.
    pub fn find(&self, matches: impl Fn(&Connection) -> bool) -> Option<ConnectionId> {
        self.connections.values().find(|c| matches(c)).map(|c| c.id.clone())
    }

    /// Calls `f` on every connection, without copying them.
    pub fn for_each(&self, f: impl FnMut(&Connection)) {
        self.connections.values().for_each(f);
    }

    /// Re-reads the file, to see what another process changed.
    pub fn reload(&mut self) -> Result<(), AuthError> {
        if let Some(file) = &self.file {
            self.connections = by_id(file.read().map_err(|e| AuthError::Storage(e.0))?);
        }
        Ok(())
    }

    /// Adds or replaces a connection.
    pub fn upsert(&mut self, connection: Connection) -> Result<(), AuthError> {
        self.modify(|all| {
            all.insert(connection.id.clone(), connection);
        })
    }

    /// Removes a connection.
    pub fn remove(&mut self, id: &ConnectionId) -> Result<(), AuthError> {
        self.modify(|all| {
            all.remove(id);
        })
    }

    /// Changes one connection as it is on disk now; `None` if it is gone.
    pub fn update(
        &mut self,
        id: &ConnectionId,
        change: impl FnOnce(&mut Connection),
    ) -> Result<Option<Connection>, AuthError> {
        let mut changed = None;
        self.modify(|all| {
            if let Some(c) = all.get_mut(id) {
                change(c);
                changed = Some(c.clone());
            }
        })?;
        Ok(changed)
    }

    /// Read, change, write, under the lock; on failure memory is left as the file is.
    fn modify(&mut self, change: impl FnOnce(&mut BTreeMap<ConnectionId, Connection>)) -> Result<(), AuthError> {
        let Some(file) = &self.file else {
            change(&mut self.connections);
            return Ok(());
        };
        let (_, all) = file
            .update(|doc| {
                let mut all = by_id(std::mem::take(doc));
                change(&mut all);
                *doc = FileFormat { version: 1, connections: all.values().cloned().collect() };
                all
            })
            .map_err(|e| AuthError::Storage(e.0))?;
        self.connections = all;
        Ok(())
    }
}
