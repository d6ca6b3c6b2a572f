//! Identifier newtypes, so that a provider name and a connection id cannot be swapped.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A provider's unique name (`linear`, `github`, ...): lower-case ASCII letters, digits and
/// dashes, so that it is safe in a redirect path and a keychain entry name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

impl ProviderId {
    pub fn new(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if valid {
            Ok(Self(name))
        } else {
            Err(format!("invalid provider name {name:?}: use a-z, 0-9 and '-'"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ProviderId> for String {
    fn from(id: ProviderId) -> Self {
        id.0
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One connected account: `<provider>-<16 hex digits>`. A provider may hold several.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn generate(provider: &ProviderId) -> Self {
        let n: u64 = rand::random();
        Self(format!("{provider}-{n:016x}"))
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let valid = !s.is_empty()
            && s.len() <= 96
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("invalid connection id {s:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` has the form [`ConnectionId::generate`] gives (a provider id, a dash and
    /// 16 hex digits), as opposed to the app's other keychain entries.
    pub fn is_generated(name: &str) -> bool {
        match name.rsplit_once('-') {
            Some((provider, n)) => {
                n.len() == 16
                    && n.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && ProviderId::new(provider).is_ok()
            }
            None => false,
        }
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_restricted_to_safe_characters() {
        assert!(ProviderId::new("linear").is_ok());
        assert!(ProviderId::new("gitlab-self-hosted").is_ok());
        for bad in ["", "Linear", "a/b", "a b", "-x", "é", "a?b"] {
            assert!(ProviderId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_connection_ids_are_distinct_and_parse() {
        let p = ProviderId::new("demo").unwrap();
        let a = ConnectionId::generate(&p);
        let b = ConnectionId::generate(&p);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("demo-"));
        assert_eq!(ConnectionId::parse(a.as_str()).unwrap(), a);
    }
}
