//! The person's settings, in `settings.json` in the app's config directory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::core::metadata::write_atomically;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Whether the built-in Demo provider is listed (`LATCHKEY_DEMO=0` also turns it off).
    pub demo_provider: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { demo_provider: true }
    }
}

pub struct SettingsStore {
    path: PathBuf,
    current: Mutex<Settings>,
}

impl SettingsStore {
    /// Reads the settings; a missing or unreadable file gives the defaults (and is logged).
    pub fn open(dir: &Path) -> Self {
        let path = dir.join("settings.json");
        let current = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(error = %e, path = %path.display(), "settings unreadable; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        Self { path, current: Mutex::new(current) }
    }

    pub fn get(&self) -> Settings {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes and saves the settings; on a write failure nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, String> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = current.clone();
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot save the settings: {e}"))?;
        }
        write_atomically(&self.path, &bytes).map_err(|e| format!("cannot save the settings: {e}"))?;
        *current = next.clone();
        Ok(next)
    }
}
