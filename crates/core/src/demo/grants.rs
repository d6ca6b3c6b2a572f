//! The Demo authority's grant endpoints: token (code and refresh grants) and revocation, each
//! changing the grant book under its lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tracing::warn;

use super::state::{now, params, Book, Grant, Inner};
use super::tokens::{self, Access, Code, Refresh};
use super::CLIENT_ID;

/// Changes the book under its lock (see [`BookStore::update`]); without the lock nothing
/// changes and the request fails with `server_error`.
pub(super) fn with_book(inner: &Inner, f: impl FnOnce(&mut Book) -> Response) -> Response {
    inner.book.update(f).unwrap_or_else(|e| {
        warn!(error = %e, "the Demo authority could not use its grant book");
        oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the grant book is unavailable")
    })
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        (status, Json(serde_json::json!({ "error": error, "error_description": description }))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn issue(inner: &Inner, book: &mut Book, grant_id: String, user: String, generation: u32) -> Response {
    let access = tokens::seal(
        &inner.key,
        "access",
        &Access {
            user: user.clone(),
            grant: grant_id.clone(),
            exp: now() + inner.access_seconds,
            nonce: tokens::nonce(),
        },
    );
    let refresh = tokens::seal(
        &inner.key,
        "refresh",
        &Refresh { user: user.clone(), grant: grant_id.clone(), generation, nonce: tokens::nonce() },
    );
    book.grants.insert(grant_id, Grant { user, generation, revoked: false });
    let mut response = Json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": inner.access_seconds,
        "refresh_token": refresh,
        "scope": "profile",
    }))
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) async fn token(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if p.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    }
    match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&inner, &p),
        Some("refresh_token") => refresh(&inner, &p),
        Some(super::device::GRANT_TYPE) => super::device::exchange(&inner, &p),
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "authorization_code or refresh_token"),
    }
}

fn exchange_code(inner: &Inner, p: &BTreeMap<String, String>) -> Response {
    let Some(code) = p.get("code").and_then(|c| tokens::open::<Code>(&inner.key, "code", c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if code.exp <= now() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code has expired");
    }
    if p.get("redirect_uri") != Some(&code.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        );
    }
    let verified = p.get("code_verifier").is_some_and(|v| {
        oauth2::PkceCodeChallenge::from_code_verifier_sha256(&oauth2::PkceCodeVerifier::new(v.clone())).as_str()
            == code.challenge
    });
    if !verified {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
    }
    with_book(inner, |book| {
        if book.used_codes.insert(code.nonce.clone(), code.exp).is_some() {
            // A code used twice: revoke what its first use obtained (RFC 6749 §4.1.2), and only
            // that: the user name in a code is whatever the person typed on the consent page.
            if let Some(grant) = book.code_grants.get(&code.nonce).and_then(|g| book.grants.get_mut(g)) {
                grant.revoked = true;
            }
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code was already used");
        }
        let grant = tokens::nonce();
        book.code_grants.insert(code.nonce.clone(), grant.clone());
        issue(inner, book, grant, code.user, 0)
    })
}

fn refresh(inner: &Inner, p: &BTreeMap<String, String>) -> Response {
    let Some(presented) = p.get("refresh_token").and_then(|t| tokens::open::<Refresh>(&inner.key, "refresh", t)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown refresh token");
    };
    with_book(inner, |book| {
        let Some(grant) = book.grants.get_mut(&presented.grant) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown grant");
        };
        if grant.revoked {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the grant was revoked");
        }
        if presented.generation != grant.generation {
            // An old refresh token came back: someone else may hold it. End the grant.
            grant.revoked = true;
            warn!("Demo authority: a rotated refresh token was reused; the grant is revoked");
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "refresh token reused; grant revoked");
        }
        let next = grant.generation + 1;
        issue(inner, book, presented.grant, presented.user, next)
    })
}

pub(super) async fn revoke(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(p) = params(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "bad form");
    };
    let token = p.get("token").map(String::as_str).unwrap_or_default();
    let grant = tokens::open::<Access>(&inner.key, "access", token)
        .map(|a| a.grant)
        .or_else(|| tokens::open::<Refresh>(&inner.key, "refresh", token).map(|r| r.grant));
    if let Some(grant) = grant {
        return with_book(&inner, |book| {
            if let Some(g) = book.grants.get_mut(&grant) {
                g.revoked = true;
            }
            StatusCode::OK.into_response()
        });
    }
    // RFC 7009 §2.2: 200 whether or not the token was known.
    StatusCode::OK.into_response()
}
