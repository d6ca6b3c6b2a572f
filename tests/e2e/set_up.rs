//! Setting providers up in the window: a client secret typed in, a provider added by its
//! address, the scopes a sign-in asks for.

use super::*;

#[tokio::test]
async fn a_client_secret_typed_in_the_window_goes_to_the_keychain_and_to_no_file() {
    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    let github = "[data-provider=github]";
    assert_eq!(text_of(&session, &format!("{github} .provider-state")).await, "Needs an app registration");
    unfold(&session, "github").await;
    let id = session.wait_for(&format!("{github} input[name=client-id]"), WAIT).await;
    session.send_keys(&id, "Iv1.typed-client-id").await;
    let secret = session.wait_for(&format!("{github} input[name=client-secret]"), WAIT).await;
    session.send_keys(&secret, "typed-secret-0123456789").await;
    click(&session, &format!("{github} .client-form button")).await;

    // Configured: it can be connected now.
    session.wait_for(&format!("{github} [data-action=connect]"), WAIT).await;
    let stored = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", "client-secret.github"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stored.stdout), "typed-secret-0123456789", "the secret is in the keychain");
    let home = world.dir.path().join("home");
    let settings = std::fs::read_to_string(home.join(".config/dev.latchkey.desktop/settings.json")).unwrap();
    assert!(settings.contains("Iv1.typed-client-id"), "{settings}");
    for dir in [".local/share/dev.latchkey.desktop", ".config/dev.latchkey.desktop"] {
        for file in walk(&home.join(dir)) {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            assert!(!text.contains("typed-secret-0123456789"), "the secret is in {}", file.display());
        }
    }
    assert!(!session.html().await.contains("typed-secret-0123456789"), "the window forgot it");
    assert!(!world.log().contains("typed-secret-0123456789"), "not in the log");
    // The command line sees the same registration.
    let (code, out, _) = cli(&world, &["status"]);
    assert_eq!(code, 0, "{out}");
    session.end().await;
}

/// Opens "Add a provider by its address" (it closes when a provider is added, whose set-up opens).
async fn open_add_panel(session: &Session) {
    if session.find("#add-provider-panel[hidden]").await.is_some() {
        click(session, "#add-provider-toggle").await;
    }
    session.wait_for("#add-provider-panel:not([hidden])", WAIT).await;
}

#[tokio::test]
async fn a_provider_added_by_its_issuer_url_is_listed_and_a_bad_one_is_explained() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let issuer = MockServer::start().await;
    let base = issuer.uri();
    latchkey_tests::mount_discovery(&issuer, false).await;
    let broken = MockServer::start().await;
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&broken)
        .await;

    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    let add = |name: &'static str, url: String| {
        let session = &session;
        async move {
            open_add_panel(session).await;
            let n = session.wait_for("[name=provider-name]", WAIT).await;
            session.send_keys(&n, name).await;
            let i = session.wait_for("[name=provider-issuer]", WAIT).await;
            session.send_keys(&i, &url).await;
            click(session, "#add-provider-form button").await;
        }
    };
    add("Company SSO", base.clone()).await;
    assert_eq!(text_of(&session, "[data-provider=company-sso] .provider-state").await, "Needs an app registration");
    // Its issuer is plain http on 127.0.0.1 (typed so): the window says what that means.
    let note = text_of(&session, "[data-provider=company-sso] [data-key='prov:company-sso:plain-http']").await;
    assert!(note.contains("plain http (127.0.0.1)"), "{note}");
    assert!(session.find("[data-provider=demo] .plain-http").await.is_none(), "not for the Demo");
    let settings =
        std::fs::read_to_string(world.dir.path().join("home/.config/dev.latchkey.desktop/settings.json")).unwrap();
    assert!(settings.contains(&format!("{base}/token")), "the discovered endpoints are kept: {settings}");

    // Broken metadata: nothing is added, and the window says why.
    add("Broken", broken.uri()).await;
    let start = Instant::now();
    loop {
        let status = text_of(&session, "#status").await;
        if status.contains("broken") {
            break;
        }
        assert!(start.elapsed() < WAIT, "no clear error shown: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Said as an error, with the kind the command line and D-Bus would give it (the provider's
    // description is unusable: `failed`), not as news.
    let kind = session.execute("return document.querySelector('#status').dataset.kind ?? null").await;
    assert_eq!(kind, serde_json::json!("failed"), "the refusal's kind reaches the page");
    assert!(session.find("[data-provider=broken]").await.is_none());

    // An added provider without connections can be removed.
    click(&session, "[data-provider=company-sso] [data-action=remove-provider]").await;
    session.wait_gone("[data-provider=company-sso]", WAIT).await;

    // A plain OAuth 2 provider by its endpoints.
    open_add_panel(&session).await;
    for (field, value) in [
        ("o-name", "Tracker"),
        ("o-authorize", "https://tracker.example/oauth/authorize"),
        ("o-token", "https://tracker.example/oauth/token"),
        ("o-userinfo", "https://api.tracker.example/me"),
        ("o-scopes", "read"),
    ] {
        let input = session.wait_for(&format!("[name={field}]"), WAIT).await;
        session.send_keys(&input, value).await;
    }
    click(&session, "#add-oauth2-form button").await;
    assert_eq!(text_of(&session, "[data-provider=tracker] .provider-state").await, "Needs an app registration");
    session.end().await;
}

#[tokio::test]
async fn scopes_edited_in_the_window_are_asked_for_at_the_next_sign_in() {
    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    // The Demo's options (one line until opened) hold its permissions.
    unfold(&session, "demo").await;
    let summary = format!("{DEMO} .scopes-summary");
    let permissions = || async {
        let script = format!("return document.querySelector({:?})?.textContent ?? ''", summary);
        session.execute(&script).await.as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(permissions().await, "Permissions: profile");
    let field = session.wait_for(&format!("{DEMO} input[name=scopes]"), WAIT).await;
    session.clear(&field).await;
    session.send_keys(&field, "profile, email").await;
    click(&session, &format!("{DEMO} .scopes-form button[type=submit]")).await;
    until("the new scopes are not shown", || async { permissions().await == "Permissions: profile, email" }).await;
    let settings =
        std::fs::read_to_string(world.dir.path().join("home/.config/dev.latchkey.desktop/settings.json")).unwrap();
    assert!(settings.contains("\"email\""), "kept in the settings: {settings}");

    // The next sign-in asks for them.
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    session.wait_for(&format!("{DEMO} [data-flow]"), WAIT).await;
    let opened = std::fs::read_to_string(world.dir.path().join("opened.txt")).unwrap();
    let url = url::Url::parse(opened.trim()).unwrap();
    let scope = url.query_pairs().find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned());
    assert_eq!(scope.as_deref(), Some("profile email"), "{opened}");
    click(&session, &format!("{DEMO} [data-action=cancel]")).await;
    session.wait_gone(&format!("{DEMO} [data-flow]"), WAIT).await;

    // Junk is refused with a message; "Use defaults" goes back to the provider's own.
    let field = session.wait_for(&format!("{DEMO} input[name=scopes]"), WAIT).await;
    session.clear(&field).await;
    session.send_keys(&field, "bad\"scope").await;
    click(&session, &format!("{DEMO} .scopes-form button[type=submit]")).await;
    until("no error shown for a junk scope", || async {
        text_of(&session, "#status").await.contains("is not a scope")
    })
    .await;
    click(&session, &format!("{DEMO} [data-key$=scopes-reset]")).await;
    until("the defaults are not back", || async { permissions().await == "Permissions: profile" }).await;
    session.end().await;
}
