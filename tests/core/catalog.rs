//! The provider catalog: every entry parses and is sound; the authorization URL of each carries
//! what the provider needs.

use latchkey_core::catalog::{self, BUILTIN};
use latchkey_core::provider::RedirectKind;
use latchkey_tests::{http, query};
use oauth2::PkceCodeChallenge;

#[test]
fn every_catalog_entry_parses_uses_https_and_names_existing_overrides() {
    let entries = catalog::parse(BUILTIN).expect("the shipped catalog is valid");
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    for wanted in [
        "linear",
        "github",
        "google",
        "microsoft",
        "slack",
        "notion",
        "gitlab",
        "discord",
        "spotify",
        "dropbox",
        "atlassian",
        "asana",
        "figma",
        "zoom",
        "box",
        "twitch",
        "reddit",
        "x",
        "salesforce",
        "hubspot",
    ] {
        assert!(ids.contains(&wanted), "{wanted} is in the catalog");
    }
    for e in &entries {
        assert!(e.urls().iter().all(|u| u.scheme() == "https"), "{}", e.id);
        assert!(!e.checked.trim().is_empty(), "{} says where its facts were checked", e.id);
        let icon = e.icon.as_ref().expect("every catalog entry has a mark");
        assert!(icon.color.starts_with('#') && icon.letter.chars().count() == 1, "{}", e.id);
        if let Some(o) = &e.code_override {
            assert!(catalog::OVERRIDES.contains(&o.as_str()));
        }
    }
}

#[test]
fn a_catalog_with_an_unknown_field_or_plain_http_is_refused() {
    let good = BUILTIN.split("[[provider]]").nth(2).unwrap(); // one entry (github)
    let unknown = format!("[[provider]]{good}\ncolour = \"red\"\n");
    assert!(catalog::parse(&unknown).is_err(), "unknown field accepted");
    let http_url = format!(
        "[[provider]]{}",
        good.replace("https://github.com/login/oauth/access_token", "http://github.com/token")
    );
    assert!(catalog::parse(&http_url).is_err(), "http accepted");
    let twice = format!("[[provider]]{good}[[provider]]{good}");
    assert!(catalog::parse(&twice).is_err(), "a duplicate id accepted");
    let bad_override = format!("[[provider]]{good}override = \"nosuch\"\n");
    assert!(catalog::parse(&bad_override).is_err(), "a missing override accepted");
    // The set-up's pages: https, and both named (issue 15).
    let http_page = format!(
        "[[provider]]{}",
        good.replace("https://github.com/settings/applications/new", "http://github.com/settings/applications/new")
    );
    assert!(catalog::parse(&http_page).is_err(), "an http console page accepted");
    let no_docs: String = good.lines().filter(|l| !l.starts_with("docs = ")).map(|l| format!("{l}\n")).collect();
    let refused = catalog::parse(&format!("[[provider]]{no_docs}")).unwrap_err().to_string();
    assert!(refused.contains("no app registration page or documentation"), "{refused}");
}

#[test]
fn credentials_come_from_the_environment_names_of_the_reference() {
    let providers = catalog::providers(&http(), |name| match name {
        "GITHUB_CLIENT_ID" => Some("gh-id".into()),
        "GITHUB_CLIENT_SECRET" => Some("gh-secret".into()),
        "GOOGLE_CLIENT_ID" => Some("g-id".into()), // Google needs its secret too
        "GITLAB_CLIENT_ID" => Some("gl-id".into()),
        _ => None,
    })
    .unwrap();
    let by_id = |id: &str| providers.iter().find(|p| p.name().as_str() == id).unwrap();
    assert!(by_id("github").check_configured().is_ok());
    assert!(by_id("gitlab").check_configured().is_ok(), "a public client needs no secret");
    let google = by_id("google").check_configured().unwrap_err().to_string();
    assert!(google.contains("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"), "{google}");
    let linear = by_id("linear").check_configured().unwrap_err().to_string();
    assert!(linear.contains("set LINEAR_CLIENT_ID"), "{linear}");
}

#[test]
fn each_authorization_url_carries_what_its_provider_needs() {
    let providers =
        catalog::providers(&http(), |name| name.ends_with("_ID").then(|| "id".into()).or(Some("secret".into())))
            .unwrap();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    // A client that signs in with a code only has no authorization URL that Latchkey uses.
    for p in providers.iter().filter(|p| !p.code_only()) {
        let redirect = match p.redirect_kind() {
            RedirectKind::PrivateUse => latchkey_core::redirect::redirect_uri(p.name()),
            RedirectKind::Loopback => latchkey_core::redirect::loopback_uri_shaped(49152, p.name(), p.redirect_shape()),
        };
        let url = p.get_url(&redirect, "st", Some(&challenge)).unwrap();
        assert_eq!(url.scheme(), "https", "{}", p.name());
        assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
        assert_eq!(query(&url, "client_id").as_deref(), Some("id"));
        assert_eq!(query(&url, "redirect_uri").as_deref(), Some(redirect.as_str()));
        assert_eq!(query(&url, "state").as_deref(), Some("st"));
        assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"), "{}", p.name());
        assert!(query(&url, "client_secret").is_none());
    }
    let url_of = |id: &str| {
        let p = providers.iter().find(|p| p.name().as_str() == id).unwrap();
        p.get_url("http://127.0.0.1:1/oauth/callback/x", "s", None).unwrap()
    };
    let google = url_of("google");
    assert_eq!(query(&google, "access_type").as_deref(), Some("offline"), "a refresh token needs it");
    assert_eq!(query(&google, "scope").as_deref(), Some("openid email profile"));
    assert_eq!(query(&url_of("dropbox"), "token_access_type").as_deref(), Some("offline"));
    assert_eq!(query(&url_of("linear"), "scope").as_deref(), Some("read,write"));
    let slack = url_of("slack");
    assert_eq!(query(&slack, "user_scope").as_deref(), Some("users:read"), "Slack's user scopes");
    assert!(query(&slack, "scope").is_none(), "no bot scopes from a desktop redirect");
    assert_eq!(query(&url_of("notion"), "owner").as_deref(), Some("user"));
    let atlassian = url_of("atlassian");
    assert_eq!(query(&atlassian, "audience").as_deref(), Some("api.atlassian.com"));
    assert_eq!(query(&atlassian, "prompt").as_deref(), Some("consent"));
    assert_eq!(query(&atlassian, "scope").as_deref(), Some("read:me offline_access"));
    assert_eq!(query(&url_of("reddit"), "duration").as_deref(), Some("permanent"), "a refresh token needs it");
    assert_eq!(query(&url_of("x"), "scope").as_deref(), Some("users.read tweet.read offline.access"));
    assert_eq!(query(&url_of("figma"), "scope").as_deref(), Some("current_user:read"));
    // Providers that refuse custom schemes use loopback (Box and HubSpot first of their two).
    for id in ["github", "google", "spotify", "dropbox", "zoom", "box", "hubspot"] {
        let p = providers.iter().find(|p| p.name().as_str() == id).unwrap();
        assert_eq!(p.redirect_kind(), RedirectKind::Loopback, "{id}");
    }
}

/// The second pass over the providers' docs (provider-redirects.md): Discord and X take the
/// private-use URI only with an authority; Microsoft ignores the port of a loopback
/// registration only for `localhost` (and HubSpot allows plain http only there), so their
/// loopback redirects name it.
#[test]
fn redirect_forms_follow_each_providers_rules() {
    use latchkey_core::redirect::{loopback_uri_shaped, private_use_uri};
    let providers = catalog::providers(&http(), |_| Some("id".into())).unwrap();
    let by_id = |id: &str| providers.iter().find(|p| p.name().as_str() == id).unwrap();
    for id in ["discord", "x"] {
        let p = by_id(id);
        assert_eq!(p.redirect_kind(), RedirectKind::PrivateUse, "{id}");
        assert_eq!(
            private_use_uri(p.name(), p.redirect_shape()),
            format!("dev.latchkey.desktop://oauth/callback/{id}")
        );
    }
    for id in ["microsoft", "hubspot"] {
        let p = by_id(id);
        assert!(p.redirect_choices().contains(&RedirectKind::Loopback), "{id}");
        let uri = loopback_uri_shaped(4567, p.name(), p.redirect_shape());
        assert_eq!(uri, format!("http://localhost:4567/oauth/callback/{id}"));
    }
    assert_eq!(by_id("microsoft").redirect_kind(), RedirectKind::PrivateUse, "the 'Mobile and desktop' platform first");
    // Everyone else: RFC 8252's forms.
    let github = by_id("github");
    assert_eq!(
        loopback_uri_shaped(4567, github.name(), github.redirect_shape()),
        "http://127.0.0.1:4567/oauth/callback/github"
    );
    let linear = by_id("linear");
    assert_eq!(private_use_uri(linear.name(), linear.redirect_shape()), "dev.latchkey.desktop:/oauth/callback/linear");
    assert!(
        by_id("asana").checked_note().is_some_and(|c| c.contains("refresh token only")),
        "the checked note is there"
    );
}

/// The device grant (RFC 8628): the providers that offer it say so in the catalog.
#[test]
fn the_providers_that_offer_sign_in_with_a_code_say_so() {
    let providers = catalog::providers(&http(), |_| Some("id".into())).unwrap();
    let offering: Vec<&str> = providers.iter().filter(|p| p.offers_device_grant()).map(|p| p.name().as_str()).collect();
    assert_eq!(offering, vec!["github", "google-device", "gitlab", "microsoft", "salesforce", "twitch"]);
}
