//! The front door (`Latchkey`) as the window's commands and the command line call it, on the
//! real keychain.

use std::path::Path;
use std::sync::Arc;

use latchkey_core::latchkey::{Endpoints, Options};
use latchkey_core::Latchkey;
use latchkey_tests::{require_session_bus, secret_tool_lookup, unique, Recorder};

fn open(dir: &Path, service: &str) -> Arc<Latchkey> {
    require_session_bus();
    Latchkey::open(Options {
        data_dir: dir.join("data"),
        config_dir: dir.join("config"),
        keychain_service: service.to_owned(),
        browser: Arc::new(Recorder::default()),
    })
    .unwrap()
}

const SSO: Endpoints<'static> = Endpoints {
    authorize_url: "https://sso.example/authorize",
    token_url: "https://sso.example/token",
    userinfo_url: "https://sso.example/userinfo",
    revoke_url: None,
    scopes: "openid",
};

/// Issue 13: a secret saved once stayed in the keychain after the client was saved again with
/// an empty secret, and went out with the next sign-in.
#[tokio::test]
async fn saving_a_client_again_without_a_secret_removes_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let service = unique("dev.latchkey.test");
    let latchkey = open(dir.path(), &service);
    latchkey.start_for_tokens().await.unwrap();
    latchkey.save_client("github", "Iv1.client", Some("first-secret")).await.unwrap();
    assert_eq!(secret_tool_lookup(&service, "client-secret.github").as_deref(), Some("first-secret"));
    latchkey.save_client("github", "Iv1.client", Some("  ")).await.unwrap();
    assert_eq!(secret_tool_lookup(&service, "client-secret.github"), None, "an empty secret means none");
    latchkey.save_client("github", "Iv1.client", Some("second")).await.unwrap();
    latchkey.forget_client("github").await.unwrap();
    assert_eq!(secret_tool_lookup(&service, "client-secret.github"), None, "forgetting removes it too");
    assert!(!latchkey.settings().clients.contains_key(&latchkey_core::ProviderId::new("github").unwrap()));
}

/// Issue 13: with the Demo off (or the catalog not loaded), a provider added as "Demo" took the
/// Demo's id, and existing Demo connections would have refreshed at its endpoints.
#[tokio::test]
async fn an_added_provider_never_takes_the_id_of_a_catalog_provider_or_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let latchkey = open(dir.path(), &unique("dev.latchkey.test"));
    latchkey.start_for_tokens().await.unwrap(); // no Demo account: the Demo provider is not running
    for (name, reserved) in [("Demo", "demo"), ("GitHub", "github"), ("Linear", "linear")] {
        let id = latchkey.add_provider_by_endpoints(name, SSO).await.unwrap();
        assert_ne!(id.as_str(), reserved, "{name}");
        assert!(id.as_str().starts_with(reserved), "still named after it: {id}");
    }
}

/// Issue 13: Latchkey's directories and files were made with the default umask (0755/0644), so
/// other users could read which accounts are connected and the logs. Those of earlier versions
/// are made private at start.
#[cfg(unix)]
#[tokio::test]
async fn files_and_folders_of_earlier_versions_are_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("config"));
    for d in [data.join("locks"), data.join("logs"), config.clone()] {
        std::fs::create_dir_all(&d).unwrap();
    }
    let files = [
        data.join("connections.json"),
        data.join("locks/acme-0123456789abcdef.lock"),
        data.join("logs/latchkey.log"),
        config.join("settings.json"),
    ];
    for f in &files {
        let text = match f.file_name().and_then(|n| n.to_str()) {
            Some("connections.json") => r#"{"version": 1, "connections": []}"#,
            Some("settings.json") => "{}",
            _ => "",
        };
        std::fs::write(f, text).unwrap();
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for d in [&data, &data.join("locks"), &data.join("logs"), &config] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _latchkey = open(dir.path(), &unique("dev.latchkey.test"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for d in [&data, &data.join("locks"), &data.join("logs"), &config] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
}

/// Issue 13: PKCE can be turned off for a provider the person added (a server that refuses the
/// parameter), from the next sign-in; the catalog's providers keep theirs.
#[tokio::test]
async fn pkce_can_be_turned_off_for_an_added_provider_only() {
    let dir = tempfile::tempdir().unwrap();
    let latchkey = open(dir.path(), &unique("dev.latchkey.test"));
    latchkey.start_for_tokens().await.unwrap();
    let id = latchkey.add_provider_by_endpoints("Company SSO", SSO).await.unwrap();
    latchkey.save_client(id.as_str(), "client", None).await.unwrap();
    let has_challenge = |url: &url::Url| url.query_pairs().any(|(k, _)| k == "code_challenge");
    let pending = latchkey.connect(id.as_str()).await.unwrap();
    assert!(has_challenge(&pending.url), "PKCE by default");
    latchkey.cancel(pending.flow_id.as_str()).await.unwrap();

    latchkey.set_pkce(id.as_str(), false).await.unwrap();
    let pending = latchkey.connect(id.as_str()).await.unwrap();
    assert!(!has_challenge(&pending.url), "off: {}", pending.url);
    assert!(!latchkey.snapshot().providers.iter().find(|p| p.id == id).unwrap().pkce, "the window is told");
    latchkey.cancel(pending.flow_id.as_str()).await.unwrap();

    let err = latchkey.set_pkce("github", false).await.unwrap_err();
    assert!(err.to_string().contains("only providers you added"), "{err}");
}
