//! Latchkey's own files: private directories and files, atomic replacement, and the one
//! read-modify-write of a JSON file under its lock that the connections, the settings and the
//! Demo's grant book share. A file that cannot be parsed is set aside, never overwritten.

use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{error, warn};

/// The marker in the name of a file set aside as unreadable.
pub const SET_ASIDE: &str = ".unreadable-";

/// Creates `dir` (and its parents) readable by this user only.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_options() -> std::fs::OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes `dir` and what it holds, two levels down, readable by this user only: folders 0700,
/// files 0600 (those written by earlier versions, or by anything with the default umask).
/// Links are left alone. Failures are logged: they leave a file as it was.
pub fn make_private(dir: &Path) {
    #[cfg_attr(not(unix), allow(unused_variables))]
    fn walk(path: &Path, depth: u32) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(path) else { return };
            let wanted = if meta.is_dir() {
                0o700
            } else if meta.is_file() {
                0o600
            } else {
                return;
            };
            if meta.permissions().mode() & 0o777 != wanted {
                if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)) {
                    warn!(error = %e, path = %path.display(), "could not make a file of Latchkey's private");
                }
            }
            if meta.is_dir() && depth > 0 {
                for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                    walk(&entry.path(), depth - 1);
                }
            }
        }
    }
    walk(dir, 2);
}

/// Opens (creating it) the lock file at `path`; lock it with [`File::lock`].
pub fn open_lock(path: &Path) -> std::io::Result<File> {
    private_options().create(true).truncate(false).write(true).open(path)
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
        let mut file = private_options().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(dir) = File::open(dir) {
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

/// Whether a file of `dir` was set aside as unreadable.
pub fn has_set_aside(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|f| f.file_name().to_string_lossy().contains(SET_ASIDE)))
        .unwrap_or(true)
}

/// A JSON document in a file, read and changed only under its lock (`<name>.lock` beside it),
/// so that the app and `latchkey` commands can change it together.
pub struct LockedJson<T> {
    path: PathBuf,
    _of: PhantomData<fn() -> T>,
}

/// What went wrong with a [`LockedJson`] file, with its path.
#[derive(Debug)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn file_error(what: &str, path: &Path, e: impl std::fmt::Display) -> FileError {
    FileError(format!("cannot {what} {}: {e}", path.display()))
}

impl<T: Serialize + DeserializeOwned + Default> LockedJson<T> {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), _of: PhantomData }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The document as it is now (the default when there is no file yet).
    pub fn read(&self) -> Result<T, FileError> {
        let _lock = self.lock()?;
        self.read_locked()
    }

    /// Reads the document under its lock, changes it and writes it back before the lock is
    /// released. On a failed write the file is as it was and the error is returned.
    pub fn update<R>(&self, change: impl FnOnce(&mut T) -> R) -> Result<(T, R), FileError> {
        let _lock = self.lock()?;
        let mut doc = self.read_locked()?;
        let result = change(&mut doc);
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| file_error("encode", &self.path, e))?;
        write_atomically(&self.path, &bytes).map_err(|e| file_error("write", &self.path, e))?;
        Ok((doc, result))
    }

    fn lock(&self) -> Result<File, FileError> {
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(|e| file_error("create", dir, e))?;
        }
        let path = self.path.with_extension("lock");
        let file = open_lock(&path).map_err(|e| file_error("open", &path, e))?;
        file.lock().map_err(|e| file_error("lock", &path, e))?;
        Ok(file)
    }

    /// The document; an unparsable file is moved aside as `<name>.unreadable-<time>` (kept
    /// for a person to look at) and the default is used.
    fn read_locked(&self) -> Result<T, FileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(doc) => Ok(doc),
                Err(e) => {
                    let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
                    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
                    let aside = self.path.with_file_name(format!("{name}{SET_ASIDE}{stamp}"));
                    error!(error = %e, aside = %aside.display(), "a file of Latchkey's is unreadable; moved aside");
                    std::fs::rename(&self.path, &aside).map_err(|e| file_error("move aside", &self.path, e))?;
                    Ok(T::default())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(file_error("read", &self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_is_set_aside_and_the_default_used() {
        let dir = tempdir();
        let path = dir.join("settings.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let file: LockedJson<std::collections::BTreeMap<String, u32>> = LockedJson::new(&path);
        assert!(file.read().unwrap().is_empty());
        assert!(has_set_aside(&dir), "the unreadable file is kept beside");
        let (doc, _) = file.update(|m| m.insert("a".into(), 1)).unwrap();
        assert_eq!(doc["a"], 1);
        assert_eq!(file.read().unwrap()["a"], 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_and_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir().join("deeper");
        let file: LockedJson<Vec<u8>> = LockedJson::new(dir.join("x.json"));
        file.update(|v| v.push(1)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("x.json")), 0o600);
        assert_eq!(mode(&dir.join("x.lock")), 0o600);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("latchkey-files-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
