//! Token endpoint answers: the lenient `TokenResponse` reader and the quirks that reshape
//! Slack-like answers. Nothing panics; what is accepted is sound; secrets stay out of `Debug`.
#![no_main]

use latchkey_core::quirks::{form_to_json, Quirks};
use latchkey_core::token::{TokenResponse, MAX_LIFETIME_SECS};
use libfuzzer_sys::fuzz_target;
use reqwest::StatusCode;

fn check(bytes: &[u8]) {
    if let Ok(tokens) = serde_json::from_slice::<TokenResponse>(bytes) {
        let access = tokens.access_token.secret();
        assert!(!access.trim().is_empty(), "an empty access token was accepted");
        assert!(tokens.expires_in.is_none_or(|s| s <= MAX_LIFETIME_SECS));
        assert!(!tokens.token_type.is_empty());
        // Debug shows the token type and scope as sent (whole, and split into scopes); the tokens
        // themselves never. (A scope that holds the token's text is the provider's text, not a leak.)
        let mut shown =
            format!("{tokens:?}").replace(&tokens.token_type, "").replace(tokens.scope.as_deref().unwrap_or(""), "");
        for scope in tokens.scope_list() {
            shown = shown.replace(&scope, "");
        }
        if access.len() >= 16 {
            assert!(!shown.contains(access.as_str()), "Debug shows the access token");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let slack = Quirks {
        token_at: Some("/authed_user".into()),
        ok_field: Some("ok".into()),
        bearer_alias: Some("user".into()),
        nickname_in_token: vec!["/owner/user/person/email".into(), "/portalId".into()],
        ..Default::default()
    };
    let (status, body, nickname) = slack.normalize(StatusCode::OK, data);
    assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST);
    if let Some(name) = nickname {
        assert!(name.chars().count() <= 201 && !name.chars().any(char::is_control));
    }
    check(&body);
    let json = form_to_json(data);
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok_and(|v| v.is_object()));
});
