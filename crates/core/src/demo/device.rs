//! The Demo authority's device authorization grant (RFC 8628): the device authorization
//! endpoint, the verification page where the person enters the code, and the token endpoint's
//! answers while they have not (`authorization_pending`, `slow_down` for polls closer than the
//! interval, `access_denied`, `expired_token`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use super::grants::{issue, oauth_error, with_book};
use super::pages;
use super::state::{now, params, Device, Inner};
use super::tokens::{self, DeviceCode};
use super::CLIENT_ID;

pub(super) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How long a code may be entered.
const LIFETIME_SECONDS: i64 = 600;
/// How often Latchkey may poll.
const INTERVAL_SECONDS: i64 = 5;
/// Letters a person cannot mistake for one another (RFC 8628 §6.1).
const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

fn user_code() -> String {
    let pick = |_| LETTERS[rand::random::<usize>() % LETTERS.len()] as char;
    let letters: String = (0..8).map(pick).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A code as a person types it: any case, with or without the dash or spaces.
fn normalized(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_uppercase()).collect()
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// POST /device_authorization: a device code (sealed) and the code for the person.
pub(super) async fn authorize(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if p.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    }
    // The Host was checked by the server: it is this authority's own 127.0.0.1:<port>.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no host");
    };
    let nonce = tokens::nonce();
    let exp = now() + LIFETIME_SECONDS;
    let code = user_code();
    let device = Device { user_code: code.clone(), exp, approved: None, denied: false, last_poll: 0 };
    let stored = with_book(&inner, |book| {
        book.devices.insert(nonce.clone(), device);
        StatusCode::OK.into_response()
    });
    if !stored.status().is_success() {
        return stored;
    }
    let device_code = tokens::seal(&inner.key, "device", &DeviceCode { nonce, exp });
    Json(serde_json::json!({
        "device_code": device_code,
        "user_code": code,
        "verification_uri": format!("http://{host}/device"),
        "verification_uri_complete": format!("http://{host}/device?user_code={code}"),
        "expires_in": LIFETIME_SECONDS,
        "interval": INTERVAL_SECONDS,
    }))
    .into_response()
}

/// GET /device: the page where the person enters the code.
pub(super) async fn entry(RawQuery(query): RawQuery) -> Response {
    let p = params(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let code = p.get("user_code").map(|c| c.chars().take(9).collect::<String>()).unwrap_or_default();
    html(StatusCode::OK, pages::device_entry(&code))
}

/// POST /device: the person's decision for a code.
pub(super) async fn decide(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return html(StatusCode::BAD_REQUEST, pages::error(&e)),
    };
    let typed = normalized(p.get("user_code").map(String::as_str).unwrap_or_default());
    let approve = p.get("decision").map(String::as_str) == Some("approve");
    let user: String = p
        .get("user")
        .map(|u| u.trim().chars().filter(|c| !c.is_control()).take(40).collect())
        .filter(|u: &String| !u.is_empty())
        .unwrap_or_else(|| "demo-user".into());
    let found = inner.book.update(|book| {
        let now = now();
        let device = book.devices.values_mut().find(|d| normalized(&d.user_code) == typed && d.exp > now);
        match device {
            Some(d) if d.approved.is_none() && !d.denied => {
                if approve {
                    d.approved = Some(user);
                } else {
                    d.denied = true;
                }
                true
            }
            _ => false,
        }
    });
    match found {
        Ok(true) => html(StatusCode::OK, pages::device_done(approve)),
        Ok(false) => html(StatusCode::BAD_REQUEST, pages::error("That code is unknown, used or expired.")),
        Err(_) => {
            html(StatusCode::INTERNAL_SERVER_ERROR, pages::error("The Demo provider could not keep the decision."))
        }
    }
}

/// The token endpoint's answer to a device code.
pub(super) fn exchange(inner: &Inner, p: &BTreeMap<String, String>) -> Response {
    let Some(code) = p.get("device_code").and_then(|c| tokens::open::<DeviceCode>(&inner.key, "device", c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown device code");
    };
    with_book(inner, |book| {
        let now = now();
        let Some(device) = book.devices.get_mut(&code.nonce) else {
            // Gone from the book: expired (and swept) or already used.
            return oauth_error(StatusCode::BAD_REQUEST, "expired_token", "the code expired or was used");
        };
        if device.denied {
            book.devices.remove(&code.nonce);
            return oauth_error(StatusCode::BAD_REQUEST, "access_denied", "the person declined");
        }
        if let Some(user) = device.approved.clone() {
            book.devices.remove(&code.nonce);
            return issue(inner, book, tokens::nonce(), user, 0);
        }
        let too_soon = now - device.last_poll < INTERVAL_SECONDS;
        device.last_poll = now;
        if too_soon {
            oauth_error(StatusCode::BAD_REQUEST, "slow_down", "poll less often")
        } else {
            oauth_error(StatusCode::BAD_REQUEST, "authorization_pending", "the code has not been entered yet")
        }
    })
}
