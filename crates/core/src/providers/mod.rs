//! Providers that need more than data: each file wraps the generic provider and overrides only
//! what differs.

pub mod linear;

/// Reads a client credential from the environment, treating an empty value as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
