//! What git asks a credential helper for: which connected account serves a host over HTTPS,
//! and the user name git sends with its token.

use super::description::ProviderSpec;
use super::{AuthError, Connection};

/// Whether `spec`'s provider signs in at `host` (`host[:port]`, as git names it).
fn serves(spec: &ProviderSpec, host: &str) -> bool {
    let url = &spec.authorize_url;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    authority.eq_ignore_ascii_case(host)
}

/// The connection among `connections` whose provider (described in `specs`) serves `host`, with
/// its git user name: the provider's `git_username`, or the account's nickname (GitHub's login).
/// `username`, when git gives one, picks among several; more than one left is ambiguous.
pub fn account_for(
    specs: &[ProviderSpec],
    connections: Vec<Connection>,
    host: &str,
    username: Option<&str>,
) -> Result<Option<(String, Connection)>, AuthError> {
    let mut candidates: Vec<(String, Connection)> = connections
        .into_iter()
        .filter_map(|connection| {
            let spec = specs.iter().find(|s| s.id == connection.provider && serves(s, host))?;
            let user = spec.git_username.clone().unwrap_or_else(|| connection.nickname.clone());
            Some((user, connection))
        })
        .filter(|(user, _)| username.is_none_or(|wanted| wanted == user))
        .collect();
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.pop()),
        _ => Err(AuthError::Ambiguous {
            name: host.to_owned(),
            candidates: candidates
                .iter()
                .map(|(_, c)| format!("{} ({})", c.id, c.nickname))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
