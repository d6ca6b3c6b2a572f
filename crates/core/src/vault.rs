//! Tokens in the OS keychain (the Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows), one entry per connection, split across entries only where the platform
//! limits an entry's size.
//!
//! The platform stores are the ones the `keyring` 4 crate picks, used through `keyring-core`
//! directly (as keyring 4 itself advises applications to): keyring 4's `Entry` creates its store
//! once per process, so a keychain that was locked, restarted or not yet running at the first
//! call would stay unusable until Latchkey restarts. Here a failed store is built anew on the
//! next call.
//!
//! Layout: service [`Vault::service`], user = the connection id, value = a small JSON bundle
//! `{"v":1,"access_token":…,"refresh_token":…}`. One write replaces both tokens at once, so a
//! refresh can never leave a new access token beside an old refresh token. Where an entry is
//! limited (Windows: 2,560 bytes) and the bundle is larger, the bundle is split into parts
//! stored as `<id>.<generation>.<n>`, written before the head entry that names them, so a reader
//! sees either the old bundle or the new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::sync::lock;
use super::{AuthError, ConnectionId};

/// The secrets of one connection.
pub struct Secrets {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

#[derive(Serialize, Deserialize)]
struct Bundle {
    v: u8,
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The head entry of a value split across entries.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    v: u8,
    parts: u32,
    generation: String,
}

/// A head entry's bytes, and the split they describe when they describe one.
type HeadEntry = (Vec<u8>, Option<Head>);

/// The largest value one entry takes on this platform, when there is a limit.
pub fn platform_entry_limit() -> Option<usize> {
    if cfg!(windows) {
        // CRED_MAX_CREDENTIAL_BLOB_SIZE is 2,560 bytes; stay clear of it.
        Some(2048)
    } else {
        None
    }
}

/// The process's connection to the platform store, built on first use and again after a
/// failure.
static STORE: Mutex<Option<Arc<CredentialStore>>> = Mutex::new(None);

fn platform_store() -> Result<Arc<CredentialStore>, KeyringError> {
    #[cfg(target_os = "macos")]
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    #[cfg(target_os = "windows")]
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    #[cfg(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android"))))]
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

fn shared_store() -> Result<Arc<CredentialStore>, AuthError> {
    let mut slot = lock(&STORE);
    if let Some(store) = slot.as_ref() {
        return Ok(store.clone());
    }
    let store = platform_store().map_err(|e| {
        AuthError::Keychain(match e {
            KeyringError::PlatformFailure(cause) | KeyringError::NoStorageAccess(cause) => {
                format!("cannot reach it ({cause}); on Linux a Secret Service such as gnome-keyring must be running")
            }
            other => describe(&other),
        })
    })?;
    *slot = Some(store.clone());
    Ok(store)
}

/// How many times the store was dropped after a failure; a call that saw it change retries.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn forget_store() {
    let mut slot = lock(&STORE);
    *slot = None;
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Runs a keychain operation off the async threads, once more on a fresh connection when the
/// first attempt found the old one dead (the keychain daemon restarted, or was replaced after
/// being unlocked).
async fn keychain<T: Send + 'static>(op: impl Fn() -> Result<T, AuthError> + Send + 'static) -> Result<T, AuthError> {
    blocking(move || {
        let before = GENERATION.load(std::sync::atomic::Ordering::SeqCst);
        match op() {
            Err(_) if GENERATION.load(std::sync::atomic::Ordering::SeqCst) != before => op(),
            result => result,
        }
    })
    .await
}

/// A message for a keychain error that never includes the bytes some variants carry.
fn describe(error: &KeyringError) -> String {
    match error {
        KeyringError::NoStorageAccess(cause) => format!("it is locked or refused access ({cause})"),
        KeyringError::PlatformFailure(cause) => format!("it failed ({cause})"),
        KeyringError::NoDefaultStore => "there is no keychain on this system".into(),
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => {
            "an entry of Latchkey's is not in a form it can read".into()
        }
        KeyringError::TooLong(what, limit) => format!("{what} is longer than the keychain's limit of {limit}"),
        KeyringError::Ambiguous(entries) => format!("{} entries match where one was expected", entries.len()),
        KeyringError::Invalid(what, why) => format!("invalid {what}: {why}"),
        KeyringError::NotSupportedByStore(what) => format!("not supported: {what}"),
        _ => "an unexpected keychain error".into(),
    }
}

fn keychain_error(error: KeyringError) -> AuthError {
    if matches!(error, KeyringError::PlatformFailure(_)) {
        // The connection may be gone (the daemon restarted): reconnect next time.
        forget_store();
    }
    AuthError::Keychain(describe(&error))
}

type MemoryStore = HashMap<String, Vec<u8>>;

/// What finds every entry of `service` in this platform's store: the Secret Service matches the
/// attribute; Windows' Credential Manager matches a pattern over its target names
/// (`<user>.<service>`), and refuses any other key.
fn search_spec(service: &str) -> Vec<(&'static str, String)> {
    if cfg!(windows) {
        let escaped: String = service
            .chars()
            .flat_map(|c| if "\\.+*?()|[]{}^$#&-~".contains(c) { vec!['\\', c] } else { vec![c] })
            .collect();
        vec![("pattern", format!("^.*\\.{escaped}$"))]
    } else {
        vec![("service", service.to_owned())]
    }
}

/// The keychain entries of Latchkey, under one service name.
#[derive(Clone, Debug)]
pub struct Vault {
    service: String,
    entry_limit: Option<usize>,
    /// Set only for benchmarks of the headless core: values kept in this map instead.
    memory: Option<Arc<Mutex<MemoryStore>>>,
}

impl Vault {
    pub fn new(service: impl Into<String>) -> Self {
        Self { service: service.into(), entry_limit: platform_entry_limit(), memory: None }
    }

    /// A vault in memory, for benchmarks of the headless core. Never used by the app.
    pub fn in_memory() -> Self {
        Self { service: "memory".into(), entry_limit: None, memory: Some(Arc::default()) }
    }

    /// Splits bundles larger than `limit` bytes across entries (the platform's limit by default).
    pub fn with_entry_limit(mut self, limit: Option<usize>) -> Self {
        self.entry_limit = limit.map(|l| l.max(64));
        self
    }

    pub fn is_in_memory(&self) -> bool {
        self.memory.is_some()
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Checks that the keychain can be reached and read.
    pub async fn probe(&self) -> Result<(), AuthError> {
        let vault = self.clone();
        keychain(move || vault.read_entry("probe").map(|_| ())).await
    }

    /// Writes both tokens of a connection in one step, replacing what was there.
    pub async fn store(&self, id: &ConnectionId, secrets: &Secrets) -> Result<(), AuthError> {
        let bundle = Bundle {
            v: 1,
            access_token: secrets.access_token.secret().clone(),
            refresh_token: secrets.refresh_token.as_ref().map(|t| t.secret().clone()),
        };
        let bytes =
            serde_json::to_vec(&bundle).map_err(|e| AuthError::Keychain(format!("cannot encode the tokens: {e}")))?;
        self.store_raw(id.as_str(), bytes).await?;
        debug!(connection = %id, "tokens written to the keychain");
        Ok(())
    }

    /// The tokens of a connection; `None` when the keychain holds none.
    pub async fn load(&self, id: &ConnectionId) -> Result<Option<Secrets>, AuthError> {
        let Some(bytes) = self.load_raw(id.as_str()).await? else {
            return Ok(None);
        };
        let bundle: Bundle = serde_json::from_slice(&bytes)
            .map_err(|_| AuthError::Keychain(format!("the entry of {id} is not in a form Latchkey can read")))?;
        Ok(Some(Secrets {
            access_token: AccessToken::new(bundle.access_token),
            refresh_token: bundle.refresh_token.map(RefreshToken::new),
        }))
    }

    /// Removes every entry of a connection. Removing what is not there is not an error.
    pub async fn delete(&self, id: &ConnectionId) -> Result<(), AuthError> {
        self.delete_raw(id.as_str()).await?;
        debug!(connection = %id, "tokens deleted from the keychain");
        Ok(())
    }

    /// The names of the values under this vault's service (parts of split values left out).
    /// Empty where the platform's store cannot list (only the Secret Service is asked).
    pub async fn names(&self) -> Result<Vec<String>, AuthError> {
        if let Some(memory) = &self.memory {
            return Ok(lock(memory).keys().cloned().collect());
        }
        let service = self.service.clone();
        keychain(move || {
            let store = shared_store()?;
            let spec = search_spec(&service);
            let spec: HashMap<&str, &str> = spec.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let found = match Entry::search_in_store(&store, &spec) {
                Ok(found) => found,
                Err(KeyringError::NotSupportedByStore(_)) => return Ok(Vec::new()),
                Err(e) => return Err(keychain_error(e)),
            };
            Ok(found
                .iter()
                .filter_map(|entry| entry.get_attributes().ok()?.get("username").cloned())
                .filter(|name| !is_part_name(name))
                .collect())
        })
        .await
    }

    /// Stores any secret value under `name`, split where the platform needs it.
    pub async fn store_raw(&self, name: &str, bytes: Vec<u8>) -> Result<(), AuthError> {
        if let Some(memory) = &self.memory {
            lock(memory).insert(name.to_owned(), bytes);
            return Ok(());
        }
        let vault = self.clone();
        let name = name.to_owned();
        keychain(move || vault.write_value(&name, &bytes)).await
    }

    pub async fn load_raw(&self, name: &str) -> Result<Option<Vec<u8>>, AuthError> {
        if let Some(memory) = &self.memory {
            return Ok(lock(memory).get(name).cloned());
        }
        let vault = self.clone();
        let name = name.to_owned();
        keychain(move || vault.read_value(&name)).await
    }

    pub async fn delete_raw(&self, name: &str) -> Result<(), AuthError> {
        if let Some(memory) = &self.memory {
            lock(memory).remove(name);
            return Ok(());
        }
        let vault = self.clone();
        let name = name.to_owned();
        keychain(move || vault.delete_value(&name)).await
    }

    /// The keychain entry of `user`. Only the Secret Service takes a label (what a keychain
    /// viewer shows); the macOS and Windows stores refuse any modifier they do not know, and
    /// with one no entry could be read or written there (seen under Wine: "invalid label:
    /// unknown key").
    fn entry(&self, user: &str) -> Result<Entry, AuthError> {
        let store = shared_store()?;
        #[cfg(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android"))))]
        {
            let label = format!("Latchkey: {user}");
            let modifiers = HashMap::from([("label", label.as_str())]);
            Entry::new_in_store_with_modifiers(&store, &self.service, user, &modifiers).map_err(keychain_error)
        }
        #[cfg(not(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android")))))]
        Entry::new_in_store(&store, &self.service, user).map_err(keychain_error)
    }

    fn read_entry(&self, user: &str) -> Result<Option<Vec<u8>>, AuthError> {
        match self.entry(user)?.get_secret() {
            Ok(bytes) => Ok(Some(bytes)),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn write_entry(&self, user: &str, bytes: &[u8]) -> Result<(), AuthError> {
        self.entry(user)?.set_secret(bytes).map_err(keychain_error)
    }

    fn delete_entry(&self, user: &str) -> Result<(), AuthError> {
        match self.entry(user)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }

    /// The head entry, and the split it describes when it is one.
    fn read_head(&self, name: &str) -> Result<Option<HeadEntry>, AuthError> {
        Ok(self.read_entry(name)?.map(|bytes| {
            let head = serde_json::from_slice::<Head>(&bytes).ok();
            (bytes, head)
        }))
    }

    fn read_value(&self, name: &str) -> Result<Option<Vec<u8>>, AuthError> {
        match self.read_head(name)? {
            None => Ok(None),
            Some((bytes, None)) => Ok(Some(bytes)),
            Some((_, Some(head))) => {
                let mut bytes = Vec::new();
                for n in 0..head.parts {
                    let part = self
                        .read_entry(&part_name(name, &head.generation, n))?
                        .ok_or_else(|| AuthError::Keychain(format!("part {n} of {name} is missing")))?;
                    bytes.extend(part);
                }
                Ok(Some(bytes))
            }
        }
    }

    /// Whether values may be split here, and so whether a head must be read before a value is
    /// replaced or deleted. Where the platform has no limit (the Secret Service, Keychain) no
    /// value is ever split, and skipping that read saves a search and a secret's transfer (on the
    /// Secret Service here, 1 to 1.3 ms of a write or delete's 3.5 to 7).
    fn splits(&self) -> bool {
        self.entry_limit.is_some()
    }

    fn write_value(&self, name: &str, bytes: &[u8]) -> Result<(), AuthError> {
        let old = if self.splits() { self.read_head(name).unwrap_or(None).and_then(|(_, head)| head) } else { None };
        match self.entry_limit {
            Some(limit) if bytes.len() > limit => {
                let generation = format!("{:08x}", rand::random::<u32>());
                let parts: Vec<&[u8]> = bytes.chunks(limit).collect();
                for (n, part) in parts.iter().enumerate() {
                    self.write_entry(&part_name(name, &generation, n as u32), part)?;
                }
                let head = Head { v: 1, parts: parts.len() as u32, generation };
                let head = serde_json::to_vec(&head).map_err(|e| AuthError::Keychain(e.to_string()))?;
                self.write_entry(name, &head)?;
            }
            _ => self.write_entry(name, bytes)?,
        }
        if let Some(old) = old {
            self.delete_parts(name, &old);
        }
        Ok(())
    }

    fn delete_parts(&self, name: &str, head: &Head) {
        for n in 0..head.parts {
            if let Err(e) = self.delete_entry(&part_name(name, &head.generation, n)) {
                warn!(entry = %name, error = %e, "an old keychain part was left behind");
            }
        }
    }

    fn delete_value(&self, name: &str) -> Result<(), AuthError> {
        if !self.splits() {
            return self.delete_entry(name);
        }
        let head = self.read_head(name);
        self.delete_entry(name)?;
        if let Ok(Some((_, Some(head)))) = head {
            self.delete_parts(name, &head);
        }
        Ok(())
    }
}

fn part_name(name: &str, generation: &str, n: u32) -> String {
    format!("{name}.{generation}.{n}")
}

/// Whether `name` is one part of a split value (`<name>.<8 hex>.<n>`).
fn is_part_name(name: &str) -> bool {
    let mut pieces = name.rsplitn(3, '.');
    let (Some(n), Some(generation), Some(_)) = (pieces.next(), pieces.next(), pieces.next()) else {
        return false;
    };
    n.parse::<u32>().is_ok() && generation.len() == 8 && generation.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Keychain(format!("the keychain call did not finish: {e}")))?
}
