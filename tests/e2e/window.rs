//! Issue 15, the window a person lives with: accounts first, a searchable catalog with logos,
//! numbered set-up steps with the registration editable, About, names and roles for assistive
//! technology, narrow windows and zoom, and the README's screenshots in light and dark.

use super::*;
use serde_json::{json, Value};

const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";
const TAB: &str = "\u{E004}";

async fn js(session: &Session, script: &str) -> Value {
    session.execute(script).await
}

async fn js_text(session: &Session, script: &str) -> String {
    js(session, script).await.as_str().unwrap_or_default().to_owned()
}

/// The lines of the browser's record (what Latchkey asked the system browser to open).
fn opened(world: &World) -> String {
    std::fs::read_to_string(world.dir.path().join("opened.txt")).unwrap_or_default()
}

#[tokio::test]
async fn accounts_come_first_and_the_catalog_is_searched_as_you_type_with_the_keyboard() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    // The first render's requests were made as the document started (ui/early.js), and the page
    // took each answer.
    let early = js(&session, "const e = window.__LATCHKEY_EARLY__; return e instanceof Map ? e.size : -1").await;
    assert_eq!(early, json!(0), "early.js asked (a Map) and app.js took all four answers");
    // Nothing connected: the accounts section says what to do, above the catalog.
    let order = js(&session, "return [...document.querySelectorAll('main h2')].map(h => h.textContent)").await;
    assert_eq!(order, json!(["Your accounts", "Add an account"]));
    assert!(session.find("#no-accounts:not([hidden])").await.is_some(), "an empty list explains itself");
    // Ready providers (the Demo) first, those needing a registration after, then "by its address".
    let lists = js(
        &session,
        "return ['#ready', '#setup'].map(l => [...document.querySelectorAll(l + ' > li')].map(r => r.dataset.provider || r.id))",
    )
    .await;
    assert_eq!(lists[0], json!(["demo"]), "{lists}");
    let setup = lists[1].as_array().unwrap();
    assert_eq!(setup.len(), 22, "21 catalog entries and the address row: {lists}");
    assert_eq!(setup.last(), Some(&json!("add-provider")), "{lists}");
    assert_eq!(setup.first(), Some(&json!("asana")), "by name: {lists}");

    // Connected, the account is listed on its own, with its granted scopes.
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let (id, nickname) = connected(&session).await;
    let granted = text_of(&session, &format!("[data-granted='{id}']")).await;
    assert_eq!(granted, "Granted: profile");
    assert!(session.find("#no-accounts[hidden]").await.is_some());
    assert_eq!(text_of(&session, &format!("{DEMO} .provider-state")).await, "1 account connected");
    assert!(nickname.starts_with("e2e-user"), "{nickname}");

    // Logos: GitHub's from simple-icons, drawn as an SVG element in white on its brand colour;
    // Microsoft has none there and keeps a letter.
    let logo = js(
        &session,
        "const m = document.querySelector('[data-provider=github] .mark.logo'); \
         const p = m && m.querySelector('svg.glyph path'); if (!p) return null; const box = p.getBBox(); \
         return [p.getAttribute('d').slice(0, 8), Math.round(box.width), Math.round(box.height), \
           getComputedStyle(m).backgroundColor, getComputedStyle(p).fill, m.querySelector('svg').getBoundingClientRect().width]",
    )
    .await;
    // GitHub's path, filling most of its 24x24 box, white, in an 18 px glyph on GitHub's #181717.
    assert_eq!(logo[0], "M12 .297", "{logo}");
    let (width, height) = (logo[1].as_f64().unwrap_or_default(), logo[2].as_f64().unwrap_or_default());
    assert!((20.0..=24.0).contains(&width) && (20.0..=24.0).contains(&height), "{logo}");
    assert_eq!(logo[3], "rgb(24, 23, 23)", "{logo}");
    assert_eq!(logo[4], "rgb(255, 255, 255)", "{logo}");
    assert_eq!(logo[5], 18, "{logo}");
    // No image anywhere in a mark: an image set on a rebuilt element was kept by WebKit (the
    // memory growth of docs/decisions/0008-logos-are-svg-elements.md), and the logos' images held
    // the load back.
    let images = js(
        &session,
        "return [...document.querySelectorAll('.mark, .mark *')].filter(n => { const s = getComputedStyle(n); \
           return [s.maskImage, s.webkitMaskImage, s.backgroundImage].some(v => v && v !== 'none'); }).length",
    )
    .await;
    assert_eq!(images, serde_json::json!(0), "marks drawn with an image");
    let letter = js_text(
        &session,
        "const m = document.querySelector('[data-provider=microsoft] .mark'); return m.classList.contains('logo') ? 'logo' : m.textContent",
    )
    .await;
    assert_eq!(letter, "M");

    // "/" goes to the search; typing filters; Enter goes to the first match's first button.
    js(&session, "document.activeElement.blur(); return true").await;
    let body = session.wait_for("body", WAIT).await;
    session.send_keys(&body, "/").await;
    assert_eq!(js_text(&session, "return document.activeElement.id").await, "search");
    let search = session.wait_for("#search", WAIT).await;
    session.send_keys(&search, "GIT").await;
    let shown = || async {
        js(&session, "return [...document.querySelectorAll('[data-provider]')].filter(r => !r.hidden).map(r => r.dataset.provider)")
            .await
    };
    assert_eq!(shown().await, json!(["github", "gitlab"]));
    assert_eq!(text_of(&session, "#search-count").await, "2 providers match");
    assert!(session.find("#ready-title[hidden]").await.is_some(), "an empty group hides its title");
    session.send_keys(&search, ENTER).await;
    assert_eq!(js_text(&session, "return document.activeElement.dataset.key").await, "prov:github:setup");
    // Accents and case do not matter; nothing found offers to add it by its address.
    session.clear(&search).await;
    session.send_keys(&search, "hubspöt").await;
    assert_eq!(shown().await, json!(["hubspot"]));
    session.clear(&search).await;
    session.send_keys(&search, "Keycloak").await;
    session.wait_for("#no-match:not([hidden])", WAIT).await;
    click(&session, "#no-match-add").await;
    assert_eq!(input_value(&session, "[name=provider-name]").await, "Keycloak", "the name carried over");
    assert_eq!(js_text(&session, "return document.activeElement.name").await, "provider-name");
    // Escape clears the search.
    let search = session.wait_for("#search", WAIT).await;
    session.send_keys(&search, "zzz").await;
    session.send_keys(&search, ESCAPE).await;
    assert_eq!(input_value(&session, "#search").await, "");
    assert_eq!(shown().await.as_array().map(Vec::len), Some(22));
    disconnect(&session).await;
    session.end().await;
}

/// What a screen reader is given, read from the DOM: landmarks, headings, a name for every
/// control that says whose it is, one alert region; and the page fits 420 px and 200% zoom.
const AUDIT: &str = r#"
const visible = (e) => !e.closest('[hidden], dialog:not([open])');
const nameOf = (e) => {
  if (e.getAttribute('aria-label')) return e.getAttribute('aria-label').trim();
  const by = e.getAttribute('aria-labelledby');
  if (by) return by.split(' ').map(id => document.getElementById(id)?.textContent ?? '').join(' ').trim();
  if (e.id && document.querySelector(`label[for="${e.id}"]`)) return document.querySelector(`label[for="${e.id}"]`).textContent.trim();
  if (e.closest('label')) return e.closest('label').textContent.trim();
  if (e.tagName === 'BUTTON' || e.tagName === 'A' || e.tagName === 'SUMMARY') return e.textContent.trim();
  return '';
};
const controls = [...document.querySelectorAll('button, input, a[href], summary, select, textarea')].filter(visible);
const names = controls.filter(e => e.tagName === 'BUTTON').map(nameOf);
const unnamed = controls.filter(e => !nameOf(e)).map(e => e.outerHTML.slice(0, 120));
const duplicates = names.filter((n, i) => names.indexOf(n) !== i);
const rowsWithout = [];
for (const row of document.querySelectorAll('[data-provider]')) {
  const name = row.querySelector('.provider-name').textContent;
  for (const b of row.querySelectorAll('.provider-head button')) if (!nameOf(b).includes(name)) rowsWithout.push(nameOf(b));
}
for (const row of document.querySelectorAll('[data-connection]')) {
  const nick = row.querySelector('.nickname').textContent;
  for (const b of row.querySelectorAll('button')) if (!nameOf(b).includes(nick)) rowsWithout.push(nameOf(b));
}
return {
  landmarks: ['header', 'main', 'footer'].filter(t => document.querySelectorAll(t).length === 1),
  h1: [...document.querySelectorAll('h1')].map(h => h.textContent),
  h2: [...document.querySelectorAll('main h2')].map(h => h.textContent),
  sections: [...document.querySelectorAll('main section')].map(s => document.getElementById(s.getAttribute('aria-labelledby'))?.textContent),
  lists: [...document.querySelectorAll('ul[aria-labelledby], ul[aria-label]')].length,
  accountHeadings: [...document.querySelectorAll('[data-connection] h3')].length,
  unnamed, duplicates, rowsWithout,
  alerts: document.querySelectorAll('[role=alert]').length,
  expanded: [...document.querySelectorAll('[aria-expanded]')].every(b => document.getElementById(b.getAttribute('aria-controls')) || b.getAttribute('aria-expanded') === 'false'),
  lang: document.documentElement.lang,
};
"#;

const FITS: &str = "return document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1";

#[tokio::test]
async fn every_control_is_named_with_its_provider_or_account_and_the_page_fits_narrow_and_zoomed() {
    let world = World::new("approve");
    let session = world.open_window(&[]).await;
    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    connected(&session).await;
    // One set-up open (its steps' controls are checked too) and a Disconnect being confirmed.
    unfold(&session, "github").await;
    session.wait_for("[data-provider=github] .steps", WAIT).await;
    let audit = js(&session, AUDIT).await;
    assert_eq!(audit["landmarks"], json!(["header", "main", "footer"]), "{audit}");
    assert_eq!(audit["h1"], json!(["Latchkey"]), "{audit}");
    assert_eq!(audit["h2"], json!(["Your accounts", "Add an account"]), "{audit}");
    assert_eq!(audit["sections"], json!(["Your accounts", "Add an account"]), "{audit}");
    assert_eq!(audit["accountHeadings"], json!(1), "each account is a heading: {audit}");
    assert_eq!(audit["unnamed"], json!([]), "{audit}");
    assert_eq!(audit["duplicates"], json!([]), "two buttons by one name: {audit}");
    assert_eq!(audit["rowsWithout"], json!([]), "buttons that do not say whose: {audit}");
    assert_eq!(audit["alerts"], json!(1), "one alert region, no alert per row: {audit}");
    assert_eq!(audit["expanded"], json!(true), "{audit}");
    assert_eq!(audit["lang"], json!("en"));
    let expanded =
        session.attribute(&session.wait_for("[data-key='prov:github:setup']", WAIT).await, "aria-expanded").await;
    assert_eq!(expanded.as_deref(), Some("true"));
    // Opening another set-up closes the first: one at a time.
    unfold(&session, "gitlab").await;
    session.wait_gone("[data-provider=github] .steps", WAIT).await;
    click(&session, &format!("{DEMO_ACCOUNT} [data-action=disconnect]")).await;
    let audit = js(&session, AUDIT).await;
    assert_eq!(audit["unnamed"], json!([]), "{audit}");
    assert_eq!(audit["rowsWithout"], json!([]), "{audit}");
    click(&session, &format!("{DEMO_ACCOUNT} [data-action=keep]")).await;
    // Focus is visible: Tab from the top reaches the skip link first, shown and outlined.
    js(&session, "document.activeElement.blur(); window.scrollTo(0, 0); return true").await;
    let body = session.wait_for("body", WAIT).await;
    session.send_keys(&body, TAB).await;
    let focus = js(
        &session,
        "const e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle, e.getBoundingClientRect().top >= 0]",
    )
    .await;
    assert_eq!(focus[0], json!("skip"), "{focus}");
    assert_ne!(focus[1], json!("none"), "no visible focus: {focus}");
    assert_eq!(focus[2], json!(true), "the skip link shows when focused: {focus}");

    // 420 px wide (the window's minimum), and 200% zoom: nothing runs off the side.
    assert_eq!(js(&session, FITS).await, json!(true), "the default width overflows");
    session.set_window_size(420, 640).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(js(&session, "return window.innerWidth <= 430").await, json!(true), "the window did not narrow");
    assert_eq!(js(&session, FITS).await, json!(true), "420 px overflows");
    session.screenshot(&world.shot("narrow-420.png")).await;
    session.set_window_size(760, 680).await;
    js(&session, "document.documentElement.style.zoom = '2'; return true").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(js(&session, FITS).await, json!(true), "200% zoom overflows");
    session.screenshot(&world.shot("zoom-200.png")).await;
    js(&session, "document.documentElement.style.zoom = ''; return true").await;
    disconnect(&session).await;
    session.end().await;
}

#[tokio::test]
async fn set_up_steps_open_the_providers_pages_and_a_registration_can_be_changed_and_forgotten() {
    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    let github = "[data-provider=github]";
    unfold(&session, "github").await;
    let steps = js(
        &session,
        "return [...document.querySelectorAll('[data-provider=github] .steps > li')].map(l => l.textContent)",
    )
    .await;
    let steps = steps.as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(steps[2].as_str().unwrap_or_default().contains("redirect URI"), "{steps:?}");
    assert!(steps[3].as_str().unwrap_or_default().contains("client ID"), "{steps:?}");
    // The provider's own pages, from the catalog, in the system browser.
    click(&session, &format!("{github} [data-action=open-console]")).await;
    until("the console page is opened", || {
        std::future::ready(opened(&world).contains("https://github.com/settings/applications/new"))
    })
    .await;
    click(&session, &format!("{github} [data-action=open-docs]")).await;
    until("the documentation is opened", || std::future::ready(opened(&world).contains("https://docs.github.com/")))
        .await;

    let id = session.wait_for(&format!("{github} input[name=client-id]"), WAIT).await;
    session.send_keys(&id, "Iv1.first").await;
    let secret = session.wait_for(&format!("{github} input[name=client-secret]"), WAIT).await;
    session.send_keys(&secret, "first-secret").await;
    click(&session, &format!("{github} .client-form button")).await;
    // Set up: its options stay open and show the registration.
    assert_eq!(text_of(&session, "[data-client-id=github]").await, "Iv1.first");
    assert_eq!(text_of(&session, &format!("{github} .provider-state")).await, "Ready to connect");

    // Changed: the form comes with the id it has.
    click(&session, &format!("{github} [data-action=edit-client]")).await;
    let field = format!("{github} input[name=client-id]");
    assert_eq!(input_value(&session, &field).await, "Iv1.first");
    let id = session.wait_for(&field, WAIT).await;
    session.clear(&id).await;
    session.send_keys(&id, "Iv1.second").await;
    let secret = session.wait_for(&format!("{github} input[name=client-secret]"), WAIT).await;
    session.send_keys(&secret, "second-secret").await;
    click(&session, &format!("{github} .client-form button")).await;
    until("the new id is shown", || async { text_of(&session, "[data-client-id=github]").await == "Iv1.second" }).await;
    let settings_file = world.dir.path().join("home/.config/dev.latchkey.desktop/settings.json");
    let settings = std::fs::read_to_string(&settings_file).unwrap();
    assert!(settings.contains("Iv1.second") && !settings.contains("Iv1.first"), "{settings}");
    assert_eq!(keychain("client-secret.github").as_deref(), Some("second-secret"));

    // Forgotten: the settings and the keychain lose it, and the set-up is back.
    click(&session, &format!("{github} [data-action=forget-client]")).await;
    until("the set-up is back", || async {
        text_of(&session, &format!("{github} .provider-state")).await == "Needs an app registration"
    })
    .await;
    let settings = std::fs::read_to_string(&settings_file).unwrap();
    assert!(!settings.contains("Iv1.second"), "{settings}");
    assert_eq!(keychain("client-secret.github"), None, "the secret left the keychain");
    session.end().await;
}

#[tokio::test]
async fn about_shows_the_version_the_keychain_the_background_and_opens_the_log_folder() {
    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    click(&session, "#about-open").await;
    session.wait_for("#about[open]", WAIT).await;
    until("the version is shown", || async {
        text_of(&session, "#about-version").await == format!("Latchkey {}", env!("CARGO_PKG_VERSION"))
    })
    .await;
    assert!(text_of(&session, "#about-keychain").await.starts_with("Reachable"));
    let background = text_of(&session, "#about-background").await;
    assert!(background.starts_with("Keeps 0 accounts fresh"), "{background}");
    let log = text_of(&session, "#about-log").await;
    let expected = world.dir.path().join("home/.local/share/dev.latchkey.desktop/logs/latchkey.log");
    assert_eq!(log, expected.display().to_string());
    assert!(expected.is_file(), "the log is where About says");
    assert_eq!(js_text(&session, "return document.activeElement.id").await, "about-close", "focus in the dialog");
    click(&session, "#about-log-open").await;
    let folder = expected.parent().unwrap().display().to_string();
    until("the log folder is opened", || std::future::ready(opened(&world).lines().any(|l| l.ends_with(&folder))))
        .await;
    click(&session, "#about-close").await;
    session.wait_gone("#about[open]", WAIT).await;
    assert_eq!(js_text(&session, "return document.activeElement.id").await, "about-open", "focus goes back");
    session.end().await;
}

/// The page's text is in the desktop's interface font (GTK's `gtk-font-name`, here from the
/// person's settings.ini), which the window names to the page (app/window.rs) instead of leaving
/// it to `system-ui`; what is drawn is that font.
#[tokio::test]
async fn the_text_is_drawn_in_the_desktops_font() {
    let world = World::new("ignore");
    let gtk = world.dir.path().join("home/.config/gtk-3.0");
    std::fs::create_dir_all(&gtk).unwrap();
    std::fs::write(gtk.join("settings.ini"), "[Settings]\ngtk-font-name=DejaVu Serif 11\n").unwrap();
    let session = world.open_window(&[]).await;
    let family = js_text(&session, "return getComputedStyle(document.querySelector('h1')).fontFamily").await;
    assert_eq!(family, "\"DejaVu Serif\", sans-serif");
    // The tagline as laid out, against the same text measured in either font.
    let widths = js(
        &session,
        "const h = document.querySelector('.tagline'); const range = document.createRange(); range.selectNodeContents(h); \
         const style = getComputedStyle(h); const ctx = document.createElement('canvas').getContext('2d'); \
         const width = (family) => { ctx.font = `${style.fontWeight} ${style.fontSize} ${family}`; return ctx.measureText(h.textContent).width; }; \
         return [range.getBoundingClientRect().width, width('\"DejaVu Serif\"'), width('sans-serif')];",
    )
    .await;
    let [drawn, serif, sans] = [0, 1, 2].map(|i| widths[i].as_f64().unwrap_or(f64::NAN));
    assert!((drawn - serif).abs() < 1.0, "drawn {drawn} px, in DejaVu Serif {serif} px");
    assert!((drawn - sans).abs() > 2.0, "drawn {drawn} px, in sans-serif {sans} px: the probe tells nothing");
    session.end().await;
}

/// The README's screenshots, made here: each state in light and dark (GTK's dark theme, which
/// WebKitGTK passes to the page as `prefers-color-scheme`). Written to `e2e-screenshots/` in the
/// test target directory; `scripts/screenshots.sh` copies them into docs/screenshots/.
#[tokio::test]
async fn screenshots_of_each_state_in_light_and_dark() {
    for (theme, dark) in [("light", false), ("dark", true)] {
        let gtk_theme = if dark { "Adwaita:dark" } else { "Adwaita" };
        let world = World::with_env("hold", &[("GTK_THEME", gtk_theme), ("LATCHKEY_DEMO_TOKEN_SECONDS", "8")]);
        let session = world.open_window(&[]).await;
        let matches = js(&session, "return matchMedia('(prefers-color-scheme: dark)').matches").await;
        assert_eq!(matches, json!(dark), "the page is not in the {theme} scheme");
        let shot = |name: &str| world.shot(&format!("{name}-{theme}.png"));
        let settle = || tokio::time::sleep(Duration::from_millis(600));

        // Waiting for the browser (the test browser holds the callback).
        click(&session, &format!("{DEMO} [data-action=connect]")).await;
        session.wait_for(&format!("{DEMO} [data-flow]"), WAIT).await;
        settle().await;
        session.screenshot(&shot("waiting")).await;
        // Connected.
        world.deliver(&world.recorded_callback());
        let (id, _) = connected(&session).await;
        settle().await;
        session.screenshot(&shot("connected")).await;
        // Search.
        let search = session.wait_for("#search", WAIT).await;
        session.send_keys(&search, "g").await;
        js(&session, "document.querySelector('.add-section').scrollIntoView(); return true").await;
        settle().await;
        session.screenshot(&shot("search")).await;
        session.send_keys(&search, ESCAPE).await;
        // Set-up.
        unfold(&session, "gitlab").await;
        js(&session, "document.querySelector('[data-provider=gitlab]').scrollIntoView(); return true").await;
        settle().await;
        session.screenshot(&shot("setup")).await;
        click(&session, "[data-provider=gitlab] [data-action=setup]").await;
        js(&session, "window.scrollTo(0, 0); return true").await;
        // Needs reconnecting: the Demo forgets the grant; the next refresh is refused.
        let revoked = Command::new("curl")
            .args(["-sf", "-d", &format!("token={}", tokens_of(&id).1), &format!("{}/revoke", demo_base(&world))])
            .status()
            .unwrap();
        assert!(revoked.success());
        session.wait_for(&format!("[data-connection='{id}'][data-state='Needs reconnecting']"), WAIT).await;
        settle().await;
        session.screenshot(&shot("needs-reconnecting")).await;
        disconnect(&session).await;
        session.end().await;
    }
}

/// The scheme's handler, as Latchkey registers it per user, is the resident program: it hands the
/// callback to the running window without loading GTK or WebKit, and exits. (The benchmark
/// measures it: docs/benchmarks.md.)
#[tokio::test]
async fn the_per_user_handler_hands_a_callback_to_the_running_window_without_gtk() {
    let world = World::new("hold");
    let session = world.open_window(&[]).await;
    let entry = world.dir.path().join("home/.local/share/applications/latchkey-handler.desktop");
    until("the handler entry is written", || std::future::ready(entry.is_file())).await;
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains(&format!("\nExec={RESIDENT} %u\n")), "{text}");

    click(&session, &format!("{DEMO} [data-action=connect]")).await;
    let callback = world.recorded_callback();
    let mut cmd = Command::new(RESIDENT);
    cmd.arg(&callback).stdout(Stdio::null()).stderr(Stdio::piped());
    World::env(&mut cmd, world.dir.path(), "ignore");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (id, _) = connected(&session).await;
    assert!(keychain(&id).is_some());
    // It started no Latchkey of its own: one app, the window's.
    assert_eq!(world.log().matches("Latchkey starting").count(), 1, "{}", world.log());
    disconnect(&session).await;
    session.end().await;
}

/// The capability means something: the page's requests are commands of their own, each granted
/// by name (src-tauri/capabilities/default.json, from crates/resident/src/window_requests.rs), and a
/// command the capability does not grant is refused before it runs. Failed before the requests
/// became commands: one `call` command, granted once, carried them all.
#[tokio::test]
async fn the_page_may_call_only_the_commands_its_capability_grants() {
    let world = World::new("ignore");
    let session = world.open_window(&[]).await;
    session
        .execute(
            "const t = window.__TAURI_INTERNALS__; window.__asked = {}; \
             const note = (name, p) => p.then(() => { window.__asked[name] = 'answered'; }, \
               (e) => { window.__asked[name] = String((e && e.message) || e); }); \
             note('granted', t.invoke('get_marks', {})); \
             note('outside', t.invoke('plugin:window|set_title', { label: 'main', value: 'taken over' })); \
             note('router', t.invoke('call', { command: 'get_marks', arguments: {} })); \
             return true",
        )
        .await;
    until("each call is answered or refused", || async {
        js(&session, "return Object.keys(window.__asked).length").await == 3
    })
    .await;
    let asked = js(&session, "return window.__asked").await;
    assert_eq!(asked["granted"], "answered", "{asked}");
    let outside = asked["outside"].as_str().unwrap_or_default();
    assert!(outside.contains("not allowed"), "a command outside the capability is refused: {asked}");
    assert_ne!(asked["router"], "answered", "no command carries other commands any more: {asked}");
    session.end().await;
}
