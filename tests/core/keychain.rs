//! The real keychain: reachable, read back by `secret-tool`, large bundles split and joined.

use latchkey_core::vault::{Secrets, Vault};
use latchkey_core::{ConnectionId, ProviderId};
use latchkey_tests::{require_session_bus, secret_tool_lookup, unique};

use oauth2::{AccessToken, RefreshToken};

fn id() -> ConnectionId {
    ConnectionId::generate(&ProviderId::new("acme").unwrap())
}

#[tokio::test]
async fn the_keychain_is_reachable_through_the_secret_service() {
    // In CI this fails, never skips, when there is no keychain.
    require_session_bus();
    Vault::new(unique("dev.latchkey.test")).probe().await.expect("the Secret Service must answer");
}

#[tokio::test]
async fn tokens_written_are_read_back_by_secret_tool_and_deleted() {
    require_session_bus();
    let service = unique("dev.latchkey.test");
    let vault = Vault::new(service.clone());
    let id = id();
    let access = unique("at");
    vault.store(&id, &Secrets { access_token: AccessToken::new(access.clone()), refresh_token: None }).await.unwrap();
    let raw = secret_tool_lookup(&service, id.as_str()).expect("secret-tool finds the entry");
    let bundle: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(bundle["access_token"], access.as_str());
    assert!(bundle.get("refresh_token").is_none());

    // Replacing writes both tokens at once.
    let refresh = unique("rt");
    vault
        .store(
            &id,
            &Secrets {
                access_token: AccessToken::new("second".into()),
                refresh_token: Some(RefreshToken::new(refresh.clone())),
            },
        )
        .await
        .unwrap();
    let loaded = vault.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.access_token.secret(), "second");
    assert_eq!(loaded.refresh_token.unwrap().secret(), &refresh);
    assert!(!format!("{:?}", vault.load(&id).await.unwrap()).contains(&refresh));

    vault.delete(&id).await.unwrap();
    assert_eq!(secret_tool_lookup(&service, id.as_str()), None);
    assert!(vault.load(&id).await.unwrap().is_none());
    vault.delete(&id).await.expect("deleting what is gone is fine");
}

/// Windows limits an entry to 2,560 bytes and some providers issue larger JWTs; the same
/// splitting runs here with a small limit against the real Secret Service.
#[tokio::test]
async fn bundles_larger_than_an_entry_are_split_and_joined_and_cleaned_up() {
    require_session_bus();
    let service = unique("dev.latchkey.test");
    let vault = Vault::new(service.clone()).with_entry_limit(Some(256));
    let id = id();
    let jwt = format!("eyJ{}", "x".repeat(3000));
    vault
        .store(
            &id,
            &Secrets {
                access_token: AccessToken::new(jwt.clone()),
                refresh_token: Some(RefreshToken::new("r1".into())),
            },
        )
        .await
        .unwrap();
    let loaded = vault.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.access_token.secret(), &jwt);
    let head = secret_tool_lookup(&service, id.as_str()).unwrap();
    assert!(head.contains("\"parts\""), "the head names its parts: {head}");
    assert!(!head.contains("xxxx"));
    let entries = count_entries(&service);
    let bundle_len = serde_json::json!({"v": 1, "access_token": jwt, "refresh_token": "r1"}).to_string().len();
    assert_eq!(entries, 1 + bundle_len.div_ceil(256), "head + parts");

    // A smaller bundle replaces it and leaves no orphaned parts.
    vault.store(&id, &Secrets { access_token: AccessToken::new("small".into()), refresh_token: None }).await.unwrap();
    assert_eq!(vault.load(&id).await.unwrap().unwrap().access_token.secret(), "small");
    assert_eq!(count_entries(&service), 1);

    // And a split one is deleted completely.
    vault.store(&id, &Secrets { access_token: AccessToken::new(jwt), refresh_token: None }).await.unwrap();
    vault.delete(&id).await.unwrap();
    assert_eq!(count_entries(&service), 0);
}

fn count_entries(service: &str) -> usize {
    latchkey_tests::keychain_users(service).len()
}

/// With no keychain at all (no session bus), a sign-in fails with a clear error, stores
/// nothing anywhere, and revokes the tokens it had obtained. Run in a child process, since the
/// keychain connection is per process.
#[test]
fn without_a_keychain_a_sign_in_fails_clearly_and_leaves_nothing_behind() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "keychain::child_sign_in_without_a_keychain", "--nocapture"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .env("LATCHKEY_TEST_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by without_a_keychain_a_sign_in_fails_clearly_and_leaves_nothing_behind"]
async fn child_sign_in_without_a_keychain() {
    use latchkey_core::manager::ManagerOptions;
    use latchkey_tests::wiremock::matchers::path;
    use latchkey_tests::wiremock::{Mock, ResponseTemplate};
    use latchkey_tests::{callback, FakeProvider, Recorder};
    use std::sync::Arc;

    assert_eq!(std::env::var("LATCHKEY_TEST_CHILD").as_deref(), Ok("1"), "started by its parent test");
    let fake = FakeProvider::start("acme").await;
    crate::support::mount_happy_path(&fake, Some("rt")).await;
    Mock::given(path("/revoke")).respond_with(ResponseTemplate::new(200)).expect(1).mount(&fake.server).await;
    let dir = tempfile::tempdir().unwrap();
    let browser = Arc::new(Recorder::default());
    let mut options = ManagerOptions::new(dir.path());
    options.keychain_service = unique("dev.latchkey.test");
    let manager = Arc::new(latchkey_core::ConnectionManager::new(options, browser.clone()).unwrap());
    manager.add_provider(fake.provider());

    manager.connect(&fake.name).await.unwrap();
    let err = manager.complete(&callback(&browser.last(), "&code=c")).await.unwrap_err();
    assert!(matches!(err, latchkey_core::AuthError::Keychain(_)), "{err:?}");
    assert!(err.to_string().starts_with("the keychain is unavailable"), "{err}");
    assert!(manager.list().is_empty());
    assert!(!dir.path().join("connections.json").exists(), "no metadata written");
    let shown = manager.snapshot().providers[0].error.clone().unwrap();
    assert!(shown.contains("keychain"), "the window says why: {shown}");
}
