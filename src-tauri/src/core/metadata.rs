//! The non-secret facts of each connection (nickname, times, scopes, status) in one JSON file
//! in the app's data directory. Every change is a read-modify-write under an exclusive lock on
//! `connections.lock`, replaced atomically (temporary file, fsync, rename), so that the app and
//! the `latchkey` command can both update it. A store can also live in memory only (benchmarks).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use super::{AuthError, Connection, ConnectionId};

const FILE_NAME: &str = "connections.json";
const LOCK_NAME: &str = "connections.lock";

#[derive(Serialize, Deserialize, Default)]
struct FileFormat {
    version: u32,
    connections: Vec<Connection>,
}

/// The connections, in memory and (unless in-memory) in their file.
#[derive(Debug)]
pub struct MetadataStore {
    dir: Option<PathBuf>,
    connections: BTreeMap<ConnectionId, Connection>,
}

fn storage(what: &str, path: &Path, e: impl std::fmt::Display) -> AuthError {
    AuthError::Storage(format!("cannot {what} {}: {e}", path.display()))
}

impl MetadataStore {
    /// Opens (or starts) the file in `dir`. A file that cannot be parsed is moved aside as
    /// `connections.json.unreadable-<time>`, kept for a person to look at, and an empty list is
    /// used: its tokens are still in the keychain.
    pub fn open(dir: &Path) -> Result<Self, AuthError> {
        std::fs::create_dir_all(dir).map_err(|e| storage("create", dir, e))?;
        let mut store = Self { dir: Some(dir.to_owned()), connections: BTreeMap::new() };
        let _lock = store.lock()?;
        store.connections = store.read_file()?;
        Ok(store)
    }

    /// A store that keeps nothing on disk.
    pub fn in_memory() -> Self {
        Self { dir: None, connections: BTreeMap::new() }
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(FILE_NAME))
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
        if self.dir.is_some() {
            self.connections = self.read_file()?;
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
        let Some(dir) = self.dir.clone() else {
            change(&mut self.connections);
            return Ok(());
        };
        let _lock = self.lock()?;
        let mut all = self.read_file()?;
        change(&mut all);
        let file = FileFormat { version: 1, connections: all.values().cloned().collect() };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| AuthError::Storage(e.to_string()))?;
        let path = dir.join(FILE_NAME);
        write_atomically(&path, &bytes).map_err(|e| storage("write", &path, e))?;
        self.connections = all;
        Ok(())
    }

    /// An exclusive lock on the store, released when dropped.
    fn lock(&self) -> Result<Option<File>, AuthError> {
        let Some(dir) = &self.dir else { return Ok(None) };
        let path = dir.join(LOCK_NAME);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| storage("open", &path, e))?;
        file.lock().map_err(|e| storage("lock", &path, e))?;
        Ok(Some(file))
    }

    fn read_file(&self) -> Result<BTreeMap<ConnectionId, Connection>, AuthError> {
        let Some(dir) = &self.dir else { return Ok(self.connections.clone()) };
        let path = dir.join(FILE_NAME);
        let list = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<FileFormat>(&bytes) {
                Ok(file) => file.connections,
                Err(e) => {
                    let aside =
                        path.with_extension(format!("json.unreadable-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
                    error!(error = %e, aside = %aside.display(), "the connections file is unreadable; moved aside");
                    std::fs::rename(&path, &aside).map_err(|e| storage("move aside", &path, e))?;
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(storage("read", &path, e)),
        };
        Ok(list.into_iter().map(|c| (c.id.clone(), c)).collect())
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{:08x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        if let Err(e) = std::fs::remove_file(&tmp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(error = %e, "a temporary file was left behind");
            }
        }
    }
    result
}
