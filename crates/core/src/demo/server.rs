//! The Demo authority's HTTP server (axum on 127.0.0.1) and its grant book.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use tokio::sync::oneshot;
use tracing::{info, warn};
use url::Url;

use super::grants::{oauth_error, revoke, token};
use super::pages;
use super::state::{now, params, BookStore, Inner};
use super::tokens::{self, Access, Code};
use super::{CLIENT_ID, ISSUER, NAME};
use crate::files::LockedJson;
use crate::redirect::redirect_uri;

use crate::vault::Vault;
use crate::{AuthError, ProviderId};

const CODE_SECONDS: i64 = 60;
const KEY_ENTRY: &str = "demo-authority-key";

pub struct DemoOptions {
    /// The key that seals codes and tokens.
    pub key: Vec<u8>,
    /// Where the grant book is kept; `None` keeps it in memory only.
    pub book_path: Option<PathBuf>,
    pub access_lifetime: Duration,
}

impl DemoOptions {
    /// The key from the keychain (made on first use), the book in `data_dir`, and the access
    /// token lifetime from `LATCHKEY_DEMO_TOKEN_SECONDS` (default 120).
    pub async fn for_app(vault: &Vault, data_dir: &std::path::Path) -> Result<Self, AuthError> {
        let key = match vault.load_raw(KEY_ENTRY).await? {
            Some(key) if key.len() >= 32 => key,
            _ => {
                let key = rand::random::<[u8; 32]>().to_vec();
                vault.store_raw(KEY_ENTRY, key.clone()).await?;
                key
            }
        };
        let seconds = std::env::var("LATCHKEY_DEMO_TOKEN_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s >= 5)
            .unwrap_or(120);
        Ok(Self {
            key,
            book_path: Some(data_dir.join("demo-authority.json")),
            access_lifetime: Duration::from_secs(seconds),
        })
    }
}

/// A running Demo authority; it stops when dropped.
pub struct DemoAuthority {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl DemoAuthority {
    pub async fn start(options: DemoOptions) -> std::io::Result<Self> {
        let book = match options.book_path {
            Some(path) => BookStore::File(LockedJson::new(path)),
            None => BookStore::Memory(Mutex::default()),
        };
        let inner = Arc::new(Inner {
            key: options.key,
            book,
            access_seconds: options.access_lifetime.as_secs().max(1) as i64,
            redirect_uri: redirect_uri(&ProviderId::new(NAME).expect("a constant name")),
        });
        let app = Router::new()
            .route("/", get(home))
            .route("/authorize", get(authorize).post(decide))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/userinfo", get(userinfo))
            .route("/device_authorization", post(super::device::authorize))
            .route("/device", get(super::device::entry).post(super::device::decide));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        // Only requests addressed to 127.0.0.1:<port>: a page that reaches the port through a
        // name of its own (DNS rebinding) is refused.
        let own_host = HeaderValue::from_str(&addr.to_string()).map_err(std::io::Error::other)?;
        let app = app.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let addressed = request.headers().get(header::HOST) == Some(&own_host);
                async move {
                    if addressed {
                        next.run(request).await
                    } else {
                        page(StatusCode::MISDIRECTED_REQUEST, pages::error("This server answers only Latchkey."))
                    }
                }
            },
        ));
        let app = app.with_state(inner);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                warn!(error = %e, "the Demo authority stopped");
            }
        });
        info!(%addr, "Demo authority listening");
        Ok(Self { addr, shutdown: Some(tx) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("an address makes a URL")
    }
}

impl Drop for DemoAuthority {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn page(status: StatusCode, html: String) -> Response {
    secure_headers((status, Html(html)).into_response())
}

async fn home() -> Response {
    page(StatusCode::OK, pages::home())
}

/// What an authorization request must carry; checked on the page and again on the decision.
struct AuthRequest {
    state: Option<String>,
    challenge: String,
    scope: String,
}

/// Errors that may not be sent back to the redirect URI are shown as a page (RFC 6749 §4.1.2.1).
#[allow(clippy::result_large_err)] // a Response, built once per request
fn check_request(
    inner: &Inner,
    p: &BTreeMap<String, String>,
) -> Result<Result<AuthRequest, (&'static str, &'static str)>, Response> {
    if p.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return Err(page(
            StatusCode::BAD_REQUEST,
            pages::error("This application is not registered with the Demo provider."),
        ));
    }
    if p.get("redirect_uri") != Some(&inner.redirect_uri) {
        return Err(page(
            StatusCode::BAD_REQUEST,
            pages::error("The redirect address is not the one registered for Latchkey."),
        ));
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Ok(Err(("unsupported_response_type", "only the authorization code flow is offered")));
    }
    let challenge = match (p.get("code_challenge"), p.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256")) if c.len() == 43 => c.clone(),
        _ => return Ok(Err(("invalid_request", "PKCE with S256 is required"))),
    };
    Ok(Ok(AuthRequest {
        state: p.get("state").cloned(),
        challenge,
        scope: p.get("scope").cloned().unwrap_or_default(),
    }))
}

fn redirect_back(inner: &Inner, state: Option<&str>, pairs: &[(&str, &str)]) -> Response {
    let mut url = match Url::parse(&inner.redirect_uri) {
        Ok(url) => url,
        Err(_) => return page(StatusCode::INTERNAL_SERVER_ERROR, pages::error("Bad redirect address.")),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", ISSUER);
    }
    // The page carries the link too, for a browser that does not follow to a custom scheme.
    let mut response = page(StatusCode::SEE_OTHER, pages::handoff(url.as_str()));
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn authorize(State(inner): State<Arc<Inner>>, RawQuery(query): RawQuery) -> Response {
    let p = match params(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, pages::error(&e)),
    };
    match check_request(&inner, &p) {
        Err(response) => response,
        Ok(Err((error, description))) => redirect_back(
            &inner,
            p.get("state").map(String::as_str),
            &[("error", error), ("error_description", description)],
        ),
        Ok(Ok(request)) => page(
            StatusCode::OK,
            pages::consent(&request.scope, request.state.as_deref(), &request.challenge, &inner.redirect_uri),
        ),
    }
}

/// The person's answer on the consent page.
async fn decide(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let p = match params(&body) {
        Ok(p) => p,
        Err(e) => return page(StatusCode::BAD_REQUEST, pages::error(&e)),
    };
    let request = match check_request(&inner, &p) {
        Err(response) => return response,
        Ok(Err((error, description))) => {
            return redirect_back(
                &inner,
                p.get("state").map(String::as_str),
                &[("error", error), ("error_description", description)],
            )
        }
        Ok(Ok(request)) => request,
    };
    if p.get("decision").map(String::as_str) != Some("approve") {
        return redirect_back(
            &inner,
            request.state.as_deref(),
            &[("error", "access_denied"), ("error_description", "The person declined on the Demo consent page")],
        );
    }
    let user: String = p
        .get("user")
        .map(|u| u.trim().chars().filter(|c| !c.is_control()).take(40).collect())
        .filter(|u: &String| !u.is_empty())
        .unwrap_or_else(|| "demo-user".into());
    let code = tokens::seal(
        &inner.key,
        "code",
        &Code {
            client_id: CLIENT_ID.into(),
            redirect_uri: inner.redirect_uri.clone(),
            challenge: request.challenge,
            user,
            exp: now() + CODE_SECONDS,
            nonce: tokens::nonce(),
        },
    );
    redirect_back(&inner, request.state.as_deref(), &[("code", &code)])
}

async fn userinfo(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let unauthorized = || {
        let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "a valid bearer token is required");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        r
    };
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(access) = token.and_then(|t| tokens::open::<Access>(&inner.key, "access", t)) else {
        return unauthorized();
    };
    let live = inner.book.grant_is_live(&access.grant);
    if access.exp <= now() || !live {
        return unauthorized();
    }
    let slug: String =
        access.user.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '.' }).collect();
    Json(serde_json::json!({
        "sub": format!("demo|{slug}"),
        "preferred_username": access.user,
        "name": access.user,
        "email": format!("{slug}@demo.latchkey.invalid"),
    }))
    .into_response()
}
