//! The Demo authority's state: the key that seals its codes and tokens, and its grant book (no
//! secrets, only which rotation of each grant is current), kept in a file under its lock.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::files::{FileError, LockedJson};
use crate::sync::lock;

pub(super) struct Inner {
    pub(super) key: Vec<u8>,
    pub(super) book: BookStore,
    pub(super) access_seconds: i64,
    pub(super) redirect_uri: String,
}

/// Grants the authority has issued: no secrets, only which rotation is current.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct Book {
    pub(super) grants: BTreeMap<String, Grant>,
    /// Nonces of codes already exchanged, with their expiry.
    pub(super) used_codes: BTreeMap<String, i64>,
    /// The grant each used code produced, so that a replay ends that grant and no other.
    #[serde(default)]
    pub(super) code_grants: BTreeMap<String, String>,
    /// Sign-ins with a code in progress (RFC 8628), by the nonce sealed in their device code.
    #[serde(default)]
    pub(super) devices: BTreeMap<String, Device>,
}

/// A sign-in with a code: the code the person types, until when, and what they decided.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Device {
    pub(super) user_code: String,
    pub(super) exp: i64,
    /// The user name the person approved as, once they have.
    pub(super) approved: Option<String>,
    pub(super) denied: bool,
    /// When Latchkey last polled, to answer `slow_down` to polls closer than the interval.
    pub(super) last_poll: i64,
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Grant {
    pub(super) user: String,
    pub(super) generation: u32,
    pub(super) revoked: bool,
}

impl BookStore {
    /// Changes the book as it is on disk now, under its lock: the app and a `latchkey` command
    /// may both run an authority on the same book. Without its lock nothing changes.
    pub(super) fn update<R>(&self, f: impl FnOnce(&mut Book) -> R) -> Result<R, FileError> {
        let now = now();
        let change = |book: &mut Book| {
            book.used_codes.retain(|_, exp| *exp > now);
            book.devices.retain(|_, d| d.exp > now);
            let used = &book.used_codes;
            book.code_grants.retain(|nonce, _| used.contains_key(nonce));
            f(book)
        };
        match self {
            BookStore::Memory(book) => Ok(change(&mut lock(book))),
            BookStore::File(file) => file.update(change).map(|(_, result)| result),
        }
    }

    /// Whether a grant exists and is not revoked, as the book says now.
    pub(super) fn grant_is_live(&self, grant: &str) -> bool {
        let live = |book: &Book| book.grants.get(grant).is_some_and(|g| !g.revoked);
        match self {
            BookStore::Memory(book) => live(&lock(book)),
            BookStore::File(file) => file.read().is_ok_and(|book| live(&book)),
        }
    }
}

/// Where the grant book lives.
pub(super) enum BookStore {
    Memory(Mutex<Book>),
    File(LockedJson<Book>),
}

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Parses a form or query string, refusing a parameter given twice (RFC 6749 §3.1).
pub(super) fn params(raw: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("{k} appears twice"));
        }
    }
    Ok(map)
}
