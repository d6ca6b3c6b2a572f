//! Token endpoint answers: the lenient `TokenResponse` reader and the quirks that reshape
//! Slack-like answers. Nothing panics; what is accepted is sound; secrets stay out of `Debug`.
#![no_main]

use latchkey_core::quirks::{form_to_json, Quirks};
use latchkey_core::token::{TokenResponse, MAX_LIFETIME_SECS};
use libfuzzer_sys::fuzz_target;
use oauth2::{AccessToken, RefreshToken};
use reqwest::StatusCode;

fn check(bytes: &[u8]) {
    if let Ok(tokens) = serde_json::from_slice::<TokenResponse>(bytes) {
        let access = tokens.access_token.secret();
        assert!(!access.trim().is_empty(), "an empty access token was accepted");
        assert!(tokens.expires_in.is_none_or(|s| s <= MAX_LIFETIME_SECS));
        assert!(!tokens.token_type.is_empty());
        // Debug never depends on the secrets: the same answer with other tokens reads the same.
        // (Comparing texts rather than searching for the token's characters, because the scope,
        // the token type and Debug's own field names are the provider's or our text, not a leak.)
        let mut other = tokens.clone();
        other.access_token = AccessToken::new(different_from(access));
        other.refresh_token = tokens.refresh_token.as_ref().map(|t| RefreshToken::new(different_from(t.secret())));
        assert_eq!(format!("{tokens:?}"), format!("{other:?}"), "Debug shows a token");
    }
}

/// A secret of the same length that differs from `secret` in every character.
fn different_from(secret: &str) -> String {
    secret.chars().map(|c| if c == 'x' { 'y' } else { 'x' }).collect()
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
