//! Sealed values of the Demo authority: base64url(JSON) "." base64url(HMAC-SHA256), with the
//! kind of value bound into the MAC so that one kind cannot pass for another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// An authorization code's contents.
#[derive(Serialize, Deserialize)]
pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub user: String,
    pub exp: i64,
    pub nonce: String,
}

/// An access token's contents.
#[derive(Serialize, Deserialize)]
pub struct Access {
    pub user: String,
    pub grant: String,
    pub exp: i64,
    pub nonce: String,
}

/// A refresh token's contents: the grant and which rotation it is.
#[derive(Serialize, Deserialize)]
pub struct Refresh {
    pub user: String,
    pub grant: String,
    pub generation: u32,
    pub nonce: String,
}

/// A device code's contents: which sign-in with a code it polls for.
#[derive(Serialize, Deserialize)]
pub struct DeviceCode {
    pub nonce: String,
    pub exp: i64,
}

pub fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn mac(key: &[u8], kind: &str, body: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(kind.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

pub fn seal<T: Serialize>(key: &[u8], kind: &str, value: &T) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("plain structs serialise"));
    let tag = URL_SAFE_NO_PAD.encode(mac(key, kind, &body).finalize().into_bytes());
    format!("{body}.{tag}")
}

/// The value inside `sealed`, if it was sealed with `key` as `kind`.
pub fn open<T: DeserializeOwned>(key: &[u8], kind: &str, sealed: &str) -> Option<T> {
    let (body, tag) = sealed.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(key, kind, body).verify_slice(&tag).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_kind() {
        let key = [7u8; 32];
        let sealed = seal(&key, "access", &Access { user: "ada".into(), grant: "g".into(), exp: 5, nonce: nonce() });
        assert_eq!(open::<Access>(&key, "access", &sealed).unwrap().user, "ada");
        assert!(open::<Access>(&[8u8; 32], "access", &sealed).is_none());
        assert!(open::<Access>(&key, "refresh", &sealed).is_none());
        let tampered = sealed.replacen('e', "f", 1);
        assert!(tampered == sealed || open::<Access>(&key, "access", &tampered).is_none());
        assert!(open::<Access>(&key, "access", "junk").is_none());
    }
}
