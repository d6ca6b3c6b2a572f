//! The secret scan: no token, code or client secret anywhere a person or another program could
//! read it.

use super::*;

/// The secret scan: after a client secret typed in the window, a sign-in, background refreshes,
/// a token handed to a script, refused links (a replay, junk) and a disconnect, none of the
/// tokens, the code or the client secret is in any log file, any file of the app's, any state
/// the window fetched after a change, or the window's DOM.
#[tokio::test]
async fn the_secret_scan_finds_no_token_code_or_client_secret_anywhere() {
    let world = World::with_env("approve", &[("LATCHKEY_DEMO_TOKEN_SECONDS", "6")]);
    let session = world.open_window(&[]).await;
    session.execute(RECORD_CHANGES).await;
    let mut secrets = Vec::new();

    // A client secret typed in the window.
    let github = "[data-provider=github]";
    unfold(&session, "github").await;
    let field = session.wait_for(&format!("{github} input[name=client-id]"), WAIT).await;
    session.send_keys(&field, "Iv1.scan-client").await;
    let field = session.wait_for(&format!("{github} input[name=client-secret]"), WAIT).await;
    let client_secret = format!("scan-secret-{}", std::process::id());
    session.send_keys(&field, &client_secret).await;
    click(&session, &format!("{github} .client-form button")).await;
    session.wait_for(&format!("{github} [data-action=connect]"), WAIT).await;
    secrets.push(client_secret);

    // A sign-in, then background refreshes.
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, _) = connected(&session).await;
    let (access, refresh) = tokens_of(&id);
    let link = world.recorded_callback();
    let code = url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    secrets.extend([access.clone(), refresh, code]);
    until("no background refresh", || async { tokens_of(&id).0 != access }).await;
    let (access, refresh) = tokens_of(&id);
    secrets.extend([access, refresh]);

    // A token handed to a script (its job: on stdout, nowhere else).
    let (status, out, _) = cli(&world, &["token", "demo"]);
    assert_eq!(status, 0, "{out}");
    secrets.push(out.trim().to_owned());
    let (access, refresh) = tokens_of(&id);
    secrets.extend([access, refresh]);

    // Refused links: the used callback again, and junk.
    world.deliver(&link);
    world.deliver("dev.latchkey.desktop:/oauth/callback/demo?code=junk&state=junk");
    world.wait_for_log("callback refused", 2).await;

    disconnect(&session).await;

    let home = world.dir.path().join("home");
    let mut places: Vec<(String, String)> = walk(&home)
        .into_iter()
        .map(|f| {
            (f.display().to_string(), String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned())
        })
        .collect();
    assert!(places.iter().any(|(name, _)| name.ends_with("latchkey.log")), "the log file was scanned");
    assert!(places.iter().any(|(name, _)| name.ends_with("settings.json")), "the settings were scanned");
    let seen = session.execute("return window.__seen.join('\\n')").await;
    let seen = seen.as_str().unwrap_or_default().to_owned();
    assert!(seen.len() > 1000, "the changes were recorded");
    places.push(("the states fetched after each change".into(), seen));
    places.push(("the DOM".into(), session.html().await));
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        for (place, text) in &places {
            assert!(!text.contains(secret.as_str()), "a secret ({} chars) is in {place}", secret.len());
        }
    }
    assert!(secrets.len() >= 9, "the scan looked for every secret: {}", secrets.len());
    session.end().await;
}
