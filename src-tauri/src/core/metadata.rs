//! The non-secret facts of each connection (nickname, times, scopes, status) in one JSON file
//! in the app's data directory, replaced atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use super::{AuthError, Connection, ConnectionId};

const FILE_NAME: &str = "connections.json";

#[derive(Serialize, Deserialize, Default)]
struct FileFormat {
    version: u32,
    connections: Vec<Connection>,
}

/// The metadata file and its contents in memory.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    connections: Vec<Connection>,
}

impl MetadataStore {
    /// Opens (or starts) the file in `dir`. A file that cannot be parsed is moved aside as
    /// `connections.json.unreadable-<time>`, kept for a person to look at, and an empty list is
    /// used: its tokens are still in the keychain.
    pub fn open(dir: &Path) -> Result<Self, AuthError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AuthError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let connections = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<FileFormat>(&bytes) {
                Ok(file) => file.connections,
                Err(e) => {
                    let aside =
                        path.with_extension(format!("json.unreadable-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
                    error!(error = %e, aside = %aside.display(), "the connections file is unreadable; moved aside");
                    std::fs::rename(&path, &aside).map_err(|e| {
                        AuthError::Storage(format!("cannot move the unreadable {} aside: {e}", path.display()))
                    })?;
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(AuthError::Storage(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Self { path, connections })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn list(&self) -> &[Connection] {
        &self.connections
    }

    pub fn get(&self, id: &ConnectionId) -> Option<&Connection> {
        self.connections.iter().find(|c| &c.id == id)
    }

    /// Adds or replaces a connection and saves; on failure memory is left as it was.
    pub fn upsert(&mut self, connection: Connection) -> Result<(), AuthError> {
        let mut next = self.connections.clone();
        match next.iter_mut().find(|c| c.id == connection.id) {
            Some(slot) => *slot = connection,
            None => next.push(connection),
        }
        self.save(next)
    }

    /// Removes a connection and saves; on failure memory is left as it was.
    pub fn remove(&mut self, id: &ConnectionId) -> Result<(), AuthError> {
        let next: Vec<Connection> = self.connections.iter().filter(|c| &c.id != id).cloned().collect();
        self.save(next)
    }

    fn save(&mut self, connections: Vec<Connection>) -> Result<(), AuthError> {
        let file = FileFormat { version: 1, connections };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| AuthError::Storage(e.to_string()))?;
        write_atomically(&self.path, &bytes)
            .map_err(|e| AuthError::Storage(format!("cannot write {}: {e}", self.path.display())))?;
        self.connections = file.connections;
        Ok(())
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
