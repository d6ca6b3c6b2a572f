//! When a token is due for refresh: ahead of its expiry by a margin that follows its lifetime,
//! spread a little per connection.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::connection::Connection;

/// How long before expiry a token is refreshed: 10% of its lifetime, at least 30 s (or half the
/// lifetime, for tokens shorter than a minute) and at most 10 minutes.
pub fn margin(lifetime: Option<u64>) -> Duration {
    let lifetime = lifetime.unwrap_or(3600).max(1) as f64;
    let floor = 30f64.min(lifetime / 2.0);
    Duration::from_secs_f64((lifetime * 0.1).clamp(floor, 600.0))
}

/// A spread of up to a fifth of the margin, fixed for one token (so that it does not move
/// between two looks) and different across connections (so that they do not refresh together).
pub fn jitter(connection: &Connection) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    connection.id.hash(&mut h);
    connection.expires_at.hash(&mut h);
    let fraction = (h.finish() % 1000) as f64 / 1000.0;
    margin(connection.lifetime_secs).mul_f64(0.2 * fraction)
}

/// When the connection's token should be refreshed; `None` if it does not expire.
pub fn due_at(connection: &Connection) -> Option<DateTime<Utc>> {
    let expires = connection.expires_at?;
    let before = margin(connection.lifetime_secs) + jitter(connection);
    Some(expires - chrono::Duration::from_std(before).unwrap_or_default())
}

/// Whether a refresh would be asked for now.
pub fn is_due(connection: &Connection, now: DateTime<Utc>) -> bool {
    due_at(connection).is_some_and(|due| due <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_follow_the_lifetime_within_bounds() {
        assert_eq!(margin(Some(3600)), Duration::from_secs(360));
        assert_eq!(margin(Some(120)), Duration::from_secs(30));
        assert_eq!(margin(Some(86_400)), Duration::from_secs(600));
        assert_eq!(margin(Some(6)), Duration::from_secs(3), "short tokens: half their lifetime");
        assert_eq!(margin(None), Duration::from_secs(360));
    }
}
