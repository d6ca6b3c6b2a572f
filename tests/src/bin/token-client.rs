//! A second process asking for a connection's token, as `latchkey token` or another running
//! Latchkey would: the cross-process tests start several of these at once.
//!
//! ```text
//! token-client <data-dir> <keychain-service> <provider-base-url> <client-id> <connection-id>
//!              <callers> [fresh|forced]
//! ```
//!
//! Prints one line per caller: the access token it got, or `error: <message>`.

use std::sync::Arc;

use latchkey_core::manager::ManagerOptions;
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::refresh::Want;
use latchkey_core::{ConnectionId, ConnectionManager};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_dir, service, base, client_id, connection, callers, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: token-client <data-dir> <service> <base-url> <client-id> <connection> <callers> [fresh|forced]"
        );
        std::process::exit(2);
    };
    let want = match rest.first().map(String::as_str) {
        Some("forced") => Want::Forced,
        _ => Want::Fresh,
    };
    let mut options = ManagerOptions::new(data_dir);
    options.keychain_service = service.clone();
    let manager = Arc::new(ConnectionManager::new(options, Arc::new(latchkey_tests::Recorder::default())).unwrap());
    let mut config = latchkey_tests::fake_config("acme", base, client_id, None);
    config.client_secret = None;
    manager.add_provider(Arc::new(GenericOAuth2Provider::new(config, latchkey_tests::http()).unwrap()));
    let id = ConnectionId::parse(connection).unwrap();
    let n: usize = callers.parse().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let manager = manager.clone();
        let id = id.clone();
        tasks.spawn(async move { manager.access_token(&id, want).await });
    }
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(token) => println!("{}", token.secret()),
            Err(e) => println!("error: {e}"),
        }
    }
}
