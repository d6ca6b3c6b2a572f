//! The redirect URI (a reverse-domain private-use scheme, RFC 8252 §7.1, with one path per
//! provider) and the strict parser for the callbacks that come back on it.

use url::Url;

use super::error::{printable, OAuthErrorCode};
use super::{CallbackError, ProviderId};

/// The app's identifier, which is also its URI scheme and its Tauri identifier.
pub const APP_IDENTIFIER: &str = "dev.latchkey.desktop";
/// The private-use URI scheme providers redirect to.
pub const SCHEME: &str = APP_IDENTIFIER;
/// The path under which each provider has its own callback.
pub const CALLBACK_PATH: &str = "/oauth/callback/";

/// Longest callback URL accepted.
const MAX_CALLBACK_LEN: usize = 8 * 1024;
/// Longest value of one callback parameter.
const MAX_PARAM_LEN: usize = 4 * 1024;

/// The host of the private-use redirect's authority form (`dev.latchkey.desktop://oauth/…`).
pub const AUTHORITY_HOST: &str = "oauth";

/// How a provider takes Latchkey's redirect URIs: facts of each provider (provider-redirects.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RedirectShape {
    /// The private-use URI with an authority, `dev.latchkey.desktop://oauth/callback/<id>`, for
    /// providers that refuse one without a host (Discord, X); RFC 8252's
    /// `dev.latchkey.desktop:/oauth/callback/<id>` otherwise.
    #[serde(default)]
    pub authority_form: bool,
    /// The loopback redirect names `localhost` instead of `127.0.0.1` (the listener still binds
    /// 127.0.0.1): Microsoft ignores the port of a registration only for `localhost`. The one
    /// exception to checklist line 12 (RFC 8252 §8.3), made for that reason.
    #[serde(default)]
    pub localhost: bool,
}

impl RedirectShape {
    /// The host a loopback redirect URI names (the listener binds 127.0.0.1 either way).
    pub fn loopback_host(self) -> &'static str {
        if self.localhost {
            "localhost"
        } else {
            "127.0.0.1"
        }
    }
}

/// `dev.latchkey.desktop:/oauth/callback/<provider>`: one slash after the colon, as RFC 8252
/// §7.1 asks.
pub fn redirect_uri(provider: &ProviderId) -> String {
    format!("{SCHEME}:{CALLBACK_PATH}{provider}")
}

/// The private-use redirect URI in the form the provider takes.
pub fn private_use_uri(provider: &ProviderId, shape: RedirectShape) -> String {
    if shape.authority_form {
        // Host `oauth`, path `/callback/<id>`: the same text as the path form, with `//`.
        format!("{SCHEME}://{AUTHORITY_HOST}/callback/{provider}")
    } else {
        redirect_uri(provider)
    }
}

/// The loopback redirect URI on `port`: `http://127.0.0.1:<port>/oauth/callback/<provider>`, the
/// literal address (RFC 8252 §7.3, §8.3), or `localhost` where the provider needs it.
pub fn loopback_uri_shaped(port: u16, provider: &ProviderId, shape: RedirectShape) -> String {
    format!("http://{}:{port}{CALLBACK_PATH}{provider}", shape.loopback_host())
}

/// What to register at a provider that takes loopback redirects: the address without a port,
/// since such providers accept any (RFC 8252 §7.3), with the host the provider takes.
pub fn loopback_registration_shaped(provider: &ProviderId, shape: RedirectShape) -> String {
    format!("http://{}{CALLBACK_PATH}{provider}", shape.loopback_host())
}

/// A redirect URI as compared on arrival: scheme, host, port and path.
pub fn redirect_base(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// What the provider said in the redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Code(String),
    Error { error: OAuthErrorCode, description: Option<String> },
}

/// A callback that passed the syntactic checks; whether it matches a flow is the manager's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The redirect URI it arrived on (scheme, host, port, path), to match the flow's.
    pub redirect: String,
    pub provider: ProviderId,
    pub state: String,
    pub outcome: Outcome,
    pub iss: Option<String>,
}

/// Parses a callback strictly: our scheme, no authority, the exact path of one provider, no
/// fragment, each known parameter at most once, a `state`, and either a `code` or an `error`.
/// Unknown parameters are ignored, as providers add their own (`scope`, `authuser`, ...).
pub fn parse_callback(raw: &str) -> Result<Callback, CallbackError> {
    if raw.len() > MAX_CALLBACK_LEN {
        return Err(CallbackError::NotACallback("too long".into()));
    }
    let url = Url::parse(raw).map_err(|_| CallbackError::NotACallback("not a URL".into()))?;
    // What the url crate normalises (dot segments, case in the scheme) is refused: the raw text
    // must start with exactly our prefix.
    // (the raw text's prefix, the URL's path before the provider's id)
    let (prefix, path) = match (url.scheme(), url.host(), url.port()) {
        (SCHEME, None, None) => (format!("{SCHEME}:{CALLBACK_PATH}"), CALLBACK_PATH),
        // The authority form, for the providers that take only that (the flow says which).
        (SCHEME, Some(url::Host::Domain(AUTHORITY_HOST)), None) => {
            (format!("{SCHEME}://{AUTHORITY_HOST}/callback/"), "/callback/")
        }
        ("http", Some(url::Host::Ipv4(ip)), Some(port)) if ip.octets() == [127, 0, 0, 1] => {
            (format!("http://127.0.0.1:{port}{CALLBACK_PATH}"), CALLBACK_PATH)
        }
        ("http", Some(url::Host::Domain("localhost")), Some(port)) => {
            (format!("http://localhost:{port}{CALLBACK_PATH}"), CALLBACK_PATH)
        }
        (SCHEME, _, _) => return Err(CallbackError::NotACallback("has an authority".into())),
        _ => return Err(CallbackError::NotACallback("another scheme".into())),
    };
    if !raw.starts_with(prefix.as_str()) {
        return Err(CallbackError::NotACallback("not the callback path".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CallbackError::NotACallback("has an authority".into()));
    }
    if url.fragment().is_some() {
        return Err(CallbackError::Malformed("it has a fragment; only the authorization-code flow is accepted".into()));
    }
    let raw_name = raw[prefix.len()..].split('?').next().unwrap_or_default();
    let provider = ProviderId::new(raw_name).map_err(|_| CallbackError::UnknownProvider)?;
    if url.path() != format!("{path}{provider}") {
        return Err(CallbackError::NotACallback("not the callback path".into()));
    }

    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            "access_token" | "id_token" | "refresh_token" => {
                return Err(CallbackError::Malformed(
                    "it carries a token; only the authorization-code flow is accepted".into(),
                ))
            }
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::Malformed(format!("{key} appears twice")));
        }
        if value.len() > MAX_PARAM_LEN {
            return Err(CallbackError::Malformed(format!("{key} is too long")));
        }
        *slot = Some(value.into_owned());
    }

    let state = state.filter(|s| !s.is_empty()).ok_or_else(|| CallbackError::Malformed("it has no state".into()))?;
    let outcome = match (code, error) {
        (Some(_), Some(_)) => return Err(CallbackError::Malformed("it has both a code and an error".into())),
        (Some(code), None) if !code.is_empty() => Outcome::Code(code),
        (None, Some(error)) if !error.is_empty() => Outcome::Error {
            error: OAuthErrorCode::parse(&error),
            description: description.map(|d| printable(&d, 300)),
        },
        _ => return Err(CallbackError::MissingCode),
    };
    let redirect = redirect_base(raw).ok_or_else(|| CallbackError::NotACallback("not a URL".into()))?;
    Ok(Callback { redirect, provider, state, outcome, iss })
}

/// The callback URL among a process's arguments, as the OS passes a deep link: exactly one
/// argument after the program name, with our scheme. Anything else is not a deep link.
pub fn callback_from_args<S: AsRef<str>>(args: &[S]) -> Option<&str> {
    match args {
        [_program, url] if is_our_scheme(url.as_ref()) => Some(url.as_ref()),
        _ => None,
    }
}

fn is_our_scheme(text: &str) -> bool {
    text.get(..SCHEME.len() + 1).is_some_and(|p| p.eq_ignore_ascii_case(&format!("{SCHEME}:")))
}

/// A URL fit for a log line: scheme and path only, never the query that carries the code and
/// state.
pub fn redact_for_log(raw: &str) -> String {
    let cut = raw.find(['?', '#']).unwrap_or(raw.len());
    printable(&raw[..cut], 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> ProviderId {
        ProviderId::new(name).unwrap()
    }

    #[test]
    fn redirect_uri_has_one_slash_after_the_scheme() {
        assert_eq!(redirect_uri(&p("linear")), "dev.latchkey.desktop:/oauth/callback/linear");
    }

    #[test]
    fn parses_a_code_callback() {
        let cb = parse_callback("dev.latchkey.desktop:/oauth/callback/linear?code=abc&state=xyz&scope=read").unwrap();
        assert_eq!(cb.provider, p("linear"));
        assert_eq!(cb.state, "xyz");
        assert_eq!(cb.outcome, Outcome::Code("abc".into()));
        assert_eq!(cb.iss, None);
    }

    #[test]
    fn parses_an_error_callback_with_issuer() {
        let cb = parse_callback(
            "dev.latchkey.desktop:/oauth/callback/demo?error=access_denied&error_description=User+said+no&state=s&iss=https%3A%2F%2Fid.example",
        )
        .unwrap();
        assert_eq!(
            cb.outcome,
            Outcome::Error { error: "access_denied".into(), description: Some("User said no".into()) }
        );
        assert_eq!(cb.iss.as_deref(), Some("https://id.example"));
    }

    /// The authority form (Discord, X) and Microsoft's `localhost` loopback parse, with a
    /// redirect base of their own: a flow sent the other form refuses them (see `flows`).
    #[test]
    fn the_authority_form_and_localhost_loopback_parse_as_their_own_redirects() {
        let p = ProviderId::new("discord").unwrap();
        let shaped = RedirectShape { authority_form: true, localhost: false };
        assert_eq!(private_use_uri(&p, shaped), "dev.latchkey.desktop://oauth/callback/discord");
        let cb = parse_callback("dev.latchkey.desktop://oauth/callback/discord?code=a&state=b").unwrap();
        assert_eq!(cb.provider, p);
        assert_eq!(Some(cb.redirect), redirect_base(&private_use_uri(&p, shaped)));
        assert_ne!(redirect_base(&redirect_uri(&p)), redirect_base(&private_use_uri(&p, shaped)));

        let m = ProviderId::new("microsoft").unwrap();
        let local = RedirectShape { authority_form: false, localhost: true };
        assert_eq!(loopback_uri_shaped(4567, &m, local), "http://localhost:4567/oauth/callback/microsoft");
        assert_eq!(loopback_registration_shaped(&m, local), "http://localhost/oauth/callback/microsoft");
        let cb = parse_callback("http://localhost:4567/oauth/callback/microsoft?code=a&state=b").unwrap();
        assert_eq!(Some(cb.redirect), redirect_base(&loopback_uri_shaped(4567, &m, local)));
    }

    /// The scheme and path as they were sent in the redirect URI, exactly: the url crate would
    /// lower-case the scheme and resolve the dot segments, and a parser that read its copy
    /// would take both.
    #[test]
    fn refuses_a_scheme_in_another_case_and_dot_segments() {
        for raw in [
            "DEV.LATCHKEY.DESKTOP:/oauth/callback/demo?code=a&state=b",
            "Dev.Latchkey.Desktop:/oauth/callback/demo?code=a&state=b",
            "HTTP://127.0.0.1:4567/oauth/callback/demo?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/x/../demo?code=a&state=b",
            "dev.latchkey.desktop:/oauth/./callback/demo?code=a&state=b",
        ] {
            assert!(parse_callback(raw).is_err(), "{raw} was accepted");
        }
        assert!(parse_callback("http://127.0.0.1:4567/oauth/callback/demo?code=a&state=b").is_ok());
    }

    #[test]
    fn refuses_junk() {
        let junk = [
            "",
            "hello",
            "https://example.com/oauth/callback/linear?code=a&state=b",
            "other.app:/oauth/callback/linear?code=a&state=b",
            "dev.latchkey.desktop://evil/oauth/callback/linear?code=a&state=b",
            "dev.latchkey.desktop://oauth/oauth/callback/linear?code=a&state=b",
            "dev.latchkey.desktop://OAUTH/callback/linear?code=a&state=b",
            "http://localhost/oauth/callback/linear?code=a&state=b",
            "dev.latchkey.desktop:oauth/callback/linear?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/../callback/linear?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear/extra?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/Linear?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/?code=a&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?code=a",
            "dev.latchkey.desktop:/oauth/callback/linear?state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?code=a&code=c&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?code=a&state=b&state=c",
            "dev.latchkey.desktop:/oauth/callback/linear?code=a&error=x&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?code=a&state=b#frag",
            "dev.latchkey.desktop:/oauth/callback/linear#access_token=t&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?access_token=t&state=b",
            "dev.latchkey.desktop:/oauth/callback/linear?code=&state=b",
            "dev.latchkey.desktop:/oauth/callback/lin%65ar?code=a&state=b",
        ];
        for raw in junk {
            assert!(parse_callback(raw).is_err(), "accepted {raw:?}");
        }
        let huge = format!("dev.latchkey.desktop:/oauth/callback/linear?code={}&state=b", "a".repeat(9000));
        assert!(parse_callback(&huge).is_err());
    }

    #[test]
    fn deep_links_are_taken_only_as_the_single_argument() {
        let url = "dev.latchkey.desktop:/oauth/callback/demo?code=a&state=b";
        assert_eq!(callback_from_args(&["latchkey", url]), Some(url));
        assert_eq!(callback_from_args(&["latchkey"]), None);
        assert_eq!(callback_from_args(&["latchkey", "--flag", url]), None);
        assert_eq!(callback_from_args(&["latchkey", url, "extra"]), None);
        assert_eq!(callback_from_args(&["latchkey", "https://evil.example/"]), None);
    }

    #[test]
    fn log_form_drops_the_query() {
        assert_eq!(
            redact_for_log("dev.latchkey.desktop:/oauth/callback/demo?code=secret&state=s"),
            "dev.latchkey.desktop:/oauth/callback/demo"
        );
    }
}
