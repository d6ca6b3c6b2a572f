//! The one HTTP client every provider call goes through: TLS only (loopback excepted), no
//! redirects, bounded time and size, and errors mapped to [`AuthError`] without URLs or bodies
//! in their messages.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use super::{AuthError, RawBody};

/// Largest response body read from a provider.
const MAX_BODY: usize = 1024 * 1024;

/// A response read in full. `Debug` shows the status and the body's length only: a provider's
/// answer can hold a token.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: RawBody,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("body", &self.body).finish_non_exhaustive()
    }
}

/// An `Authorization` header value holding a token, marked sensitive so that no `Debug` of a
/// request (ours or a dependency's) shows it.
pub fn authorization(scheme: &str, token: &str) -> Result<reqwest::header::HeaderValue, AuthError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("{scheme} {token}"))
        .map_err(|_| AuthError::InvalidConfig("a token that cannot go in a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Response {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `Retry-After` in seconds from now (RFC 9110 §10.2.3: a number of seconds or an HTTP
    /// date), at most a day: a provider cannot park a connection for longer, nor overflow a date.
    pub fn retry_after(&self) -> Option<u64> {
        retry_after(self.headers.get(RETRY_AFTER)?.to_str().ok()?, chrono::Utc::now())
    }

    fn is_json(&self) -> bool {
        serde_json::from_slice::<serde_json::Value>(&self.bytes).is_ok()
    }
}

#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// A client whose every request must complete within `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(false) // enforced per request by `check_url`, which allows loopback
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Network(format!("cannot start an HTTP client: {e}")))?;
        Ok(Self { client })
    }

    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads its answer (at most 1 MiB).
    pub async fn execute(&self, request: reqwest::Request) -> Result<Response, AuthError> {
        check_url(request.url())?;
        let mut response = self.client.execute(request).await.map_err(map_reqwest_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest_error)? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(AuthError::BadResponse {
                    what: "the answer is larger than 1 MiB".into(),
                    status: Some(status.as_u16()),
                    body: RawBody::default(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body: RawBody::new(bytes.clone()), bytes })
    }

    /// The transport `oauth2` uses for token requests. Answers that are not OAuth answers at all
    /// (a 5xx, a 429, an HTML page, a redirect) become errors here, with their status and body,
    /// so that `oauth2` only ever parses JSON.
    pub async fn oauth2_call(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|e| AuthError::InvalidConfig(format!("bad endpoint URL: {e}")))?;
        let mut builder = self.client.request(parts.method, url).body(body);
        for (name, value) in parts.headers.iter() {
            builder = builder.header(name, value);
        }
        let request = builder.build().map_err(map_reqwest_error)?;
        let response = self.execute(request).await?;
        let status = response.status;

        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(AuthError::RateLimited { retry_after: response.retry_after() });
        }
        if status.is_server_error() {
            let what = match response.retry_after() {
                Some(s) => format!("HTTP {} (retry after {s} s)", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            };
            return Err(AuthError::BadResponse { what, status: Some(status.as_u16()), body: response.body });
        }
        if !response.is_json() {
            let what = if status.is_success() {
                "the token endpoint did not answer with JSON".to_owned()
            } else {
                format!("HTTP {} without an OAuth error", status.as_u16())
            };
            return Err(AuthError::BadResponse { what, status: Some(status.as_u16()), body: response.body });
        }

        // Some providers label JSON as text/plain, and some answer 201; oauth2 wants 200 + JSON.
        let status = if status.is_success() { StatusCode::OK } else { status };
        let mut out = HttpResponse::new(response.bytes);
        *out.status_mut() = status;
        out.headers_mut().insert(CONTENT_TYPE, "application/json".parse().expect("static header"));
        Ok(out)
    }
}

/// `oauth2` sends its token requests through [`HttpClient::oauth2_call`].
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = AuthError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, AuthError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.oauth2_call(request))
    }
}

/// The longest wait a `Retry-After` can ask for.
pub const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;

/// Reads a `Retry-After` value at `now`: delta-seconds (any size, capped) or an HTTP date.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "very long", not "now".
        return Some(value.parse::<u64>().unwrap_or(u64::MAX).min(MAX_RETRY_AFTER_SECS));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - now).num_seconds().max(0);
    Some(u64::try_from(secs).unwrap_or(0).min(MAX_RETRY_AFTER_SECS))
}

/// TLS for every call to a provider; plain HTTP only to a loopback address (tests and the
/// built-in Demo provider). Checklist line 19.
pub fn check_url(url: &Url) -> Result<(), AuthError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        other => Err(AuthError::InvalidConfig(format!(
            "{other}:// endpoints are refused; providers must use https (host {})",
            url.host_str().unwrap_or("?")
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

fn map_reqwest_error(error: reqwest::Error) -> AuthError {
    if error.is_timeout() {
        return AuthError::Timeout;
    }
    // The whole cause chain, without the URL, for the log; a short reason for people.
    let error = error.without_url();
    let mut chain = error.to_string();
    let mut io_kind = None;
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain = format!("{chain}: {cause}");
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = cause.source();
    }
    tracing::debug!(error = %chain, "request failed");
    let lower = chain.to_ascii_lowercase();
    let reason = match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => "the connection was refused",
        Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => "the connection was cut",
        Some(std::io::ErrorKind::TimedOut) => return AuthError::Timeout,
        _ if lower.contains("dns") || lower.contains("resolve") => "its name could not be looked up (offline?)",
        _ if lower.contains("certificate") || lower.contains("tls") => "its TLS certificate was not accepted",
        _ if error.is_connect() => "no connection could be made",
        _ if error.is_body() || error.is_decode() => "the answer was cut off",
        _ => "the request failed",
    };
    AuthError::Network(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_and_authorization_headers_never_show_a_token_in_debug() {
        let token = "tok-0123456789abcdef";
        let response = Response {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: RawBody::new(format!(r#"{{"access_token":"{token}"}}"#)),
            bytes: format!(r#"{{"access_token":"{token}"}}"#).into_bytes(),
        };
        let shown = format!("{response:?}");
        let as_numbers = token.bytes().map(|b| b.to_string()).collect::<Vec<_>>().join(", ");
        assert!(!shown.contains(token) && !shown.contains(&as_numbers), "{shown}");
        let header = authorization("Bearer", token).unwrap();
        assert!(!format!("{header:?}").contains(token), "{header:?}");
        let request = reqwest::Client::new()
            .get("https://provider.example/me")
            .header(reqwest::header::AUTHORIZATION, header)
            .build()
            .unwrap();
        assert!(!format!("{request:?}").contains(token), "a request's Debug: {request:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_never_asks_for_more_than_a_day() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(120));
        assert_eq!(retry_after(" 7 ", now), Some(7));
        assert_eq!(retry_after("9000000000000", now), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(retry_after("99999999999999999999999999", now), Some(MAX_RETRY_AFTER_SECS), "not read as 0");
        assert_eq!(retry_after("Sun, 29 Nov 2026 12:01:30 GMT", now), Some(90));
        assert_eq!(retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now), Some(0), "a past date: now");
        assert_eq!(retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_RETRY_AFTER_SECS));
        for junk in ["", "-5", "soon", "1.5", "Sun, 99 Nov 2026"] {
            assert_eq!(retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        for ok in ["https://example.com/token", "http://127.0.0.1:8080/t", "http://[::1]:9/t"] {
            assert!(check_url(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in ["http://example.com/token", "http://localhost:80/t", "ftp://x/y", "http://10.0.0.1/t"] {
            assert!(check_url(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
