//! Identifier newtypes, so that a provider name, a connection id and a sign-in id cannot be
//! swapped; each is checked when it is made, and serialised as its text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What every id here has: its text, made only through its checking constructor (also when
/// read from JSON), and written as that text.
macro_rules! text_id {
    ($name:ident, $check:path) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $check(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(ProviderId, ProviderId::new);
text_id!(ConnectionId, ConnectionId::parse);
text_id!(FlowId, FlowId::parse);

/// The name of one sign-in in progress, for the window to cancel it or open it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlowId(String);

impl FlowId {
    pub fn generate() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    /// A flow id as the window sends it back: 16 lower-case hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text.len() == 16 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err("that is not a sign-in of Latchkey's".into())
        }
    }
}

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
