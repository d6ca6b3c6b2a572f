//! The in-process architecture, where the window's process holds the core (macOS and Windows,
//! `src-tauri/src/app/platform/in_process.rs`), run here on Linux with the `in-process` feature so
//! that it runs somewhere and is not only compiled. scripts/test.sh runs this module alone with
//! that feature.

use super::*;

/// The window holds the accounts itself: a Demo sign-in through the system browser and the deep
/// link, the tokens in the keychain, other programs answered on the bus by the window's own
/// process (no latchkey-resident runs), and Quit ending it with the tokens kept.
#[tokio::test]
async fn the_window_holding_the_core_signs_in_answers_programs_and_quits() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    world.wait_for_log("Latchkey starting", 1).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, nickname) = connected(&session).await;
    assert_eq!(nickname, "e2e-user");
    let tokens = tokens_of(&id);

    // The window's process answers on the bus, from the core it holds.
    let window = the_window(&world).await;
    assert!(pids_of(&world, &[RESIDENT]).is_empty(), "no latchkey-resident runs beside it");
    let start = Instant::now();
    let out = loop {
        let (ok, out, err) = gdbus("GetAccessToken", &[&id]);
        if ok {
            break out;
        }
        assert!(start.elapsed() < WAIT, "the window never answered on the bus: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(out.contains(&tokens.0), "the token the keychain holds: {out}");
    let owner = owner_of("dev.latchkey.Latchkey1");
    assert!(owner.contains(&format!("uint32 {window}")), "the window's process owns the name: {owner}");

    // Quit: the work on tokens stopped, the process gone, the tokens kept.
    session.wait_for("#quit", WAIT).await;
    session.execute("setTimeout(() => document.querySelector('#quit').click(), 100); return true").await;
    until("Quit ends the window", || std::future::ready(app_pids(&world).is_empty())).await;
    assert!(world.log().contains("work on tokens stopped; exiting"), "{}", world.log());
    assert_eq!(tokens_of(&id), tokens, "the tokens are kept");
}
