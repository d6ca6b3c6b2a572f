//! What the window asks of the Latchkey that holds the accounts. The window is a view: each of
//! its requests is a command name and its arguments as JSON (as the page sent them), answered
//! here from the core's front door with JSON, or refused with an error's kind and message. On
//! Linux the requests come over the session bus (`dev.latchkey.Window1`, [`crate::dbus`]) from
//! the window's process; elsewhere the window's process holds the core and answers them itself.

use std::sync::Arc;

use latchkey_core::latchkey::Endpoints;
use latchkey_core::{AuthError, ErrorKind, Latchkey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the window's About section shows of this Latchkey: nothing secret.
#[derive(Serialize)]
struct Status {
    /// "reachable", or why not.
    keychain: String,
    keychain_ok: bool,
    start_at_login: bool,
    connections: usize,
    needs_reconnect: usize,
}

/// A request refused: what a caller does about it ([`ErrorKind`], the same classification as the
/// D-Bus error names and the command line's exit codes) and a message for the person, never
/// with a secret in it. The page receives it as `{"kind": "not_found", "message": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Refusal { kind: e.kind(), message: e.to_string() }
    }
}

/// A refusal of Latchkey's own making (a request the window should not have sent, an answer
/// that could not be written): [`ErrorKind::Failed`].
impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal { kind: ErrorKind::Failed, message }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Builds [`Request`] and its reading and writing from the list in `window_requests.rs`: the
/// page's requests and the window's own, as one list, and the names of each part.
macro_rules! request_enum {
    (
        page { $($page:ident : $PageVariant:ident { $($page_args:tt)* }),* $(,)? }
        window { $($own:ident : $OwnVariant:ident { $($own_args:tt)* }),* $(,)? }
        commands { $($command:ident),* $(,)? }
    ) => {
        request_enum! {
            @all
            $( $page : $PageVariant { $($page_args)* } )*
            $( $own : $OwnVariant { $($own_args)* } )*
        }

        impl Request {
            /// The page's requests' command names, in the list's order.
            pub const PAGE: &'static [&'static str] = &[$(stringify!($page)),*];
            /// The window's own requests' command names.
            pub const WINDOW: &'static [&'static str] = &[$(stringify!($own)),*];
            /// The window's own Tauri commands, which no request carries.
            pub const COMMANDS: &'static [&'static str] = &[$(stringify!($command)),*];
        }
    };
    (@all $( $name:ident : $Variant:ident { $($arg:ident : $ty:ty),* $(,)? } )*) => {
        /// One of the window's requests, its arguments typed: the page's
        /// (`Connect { provider_id }`, …) and the window's own (`GetVersion`, …). The list is
        /// `window_requests.rs`; [`answer`] answers each.
        #[derive(Clone, PartialEq)]
        pub enum Request {
            $( $Variant { $($arg: $ty),* }, )*
        }

        /// The command's name only: an argument may be a client secret, which no log line holds.
        impl std::fmt::Debug for Request {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "Request({})", self.command())
            }
        }

        impl Request {
            /// The request's command name, as the page calls it.
            pub fn command(&self) -> &'static str {
                match self {
                    $( Request::$Variant { .. } => stringify!($name), )*
                }
            }

            /// Its arguments as the page sends them: a JSON object with camelCase names.
            pub fn arguments(&self) -> Result<String, Refusal> {
                let written = match self {
                    $( Request::$Variant { $($arg),* } => {
                        #[derive(Serialize)]
                        #[serde(rename_all = "camelCase")]
                        struct Arguments<'a> {
                            $($arg: &'a $ty,)*
                            #[serde(skip)]
                            borrowed: std::marker::PhantomData<&'a ()>,
                        }
                        serde_json::to_string(&Arguments { $($arg,)* borrowed: std::marker::PhantomData })
                    } )*
                };
                written.map_err(|e| format!("the request could not be written: {e}").into())
            }

            /// Reads a request from its command name and its arguments (a JSON object, as the
            /// page sends them). A refusal names the command and a missing argument, never an
            /// argument's value (`clientSecret` is one of them).
            pub fn read(command: &str, arguments: &str) -> Result<Request, Refusal> {
                let arguments: Value = serde_json::from_str(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| format!("the arguments of {command} are not a JSON object"))?;
                match command {
                    $( stringify!($name) => {
                        #[derive(Deserialize)]
                        #[serde(rename_all = "camelCase")]
                        struct Arguments { $($arg: $ty),* }
                        let Arguments { $($arg),* } = read_arguments(command, arguments)?;
                        Ok(Request::$Variant { $($arg),* })
                    } )*
                    _ => Err(format!("Latchkey has no command {command:?}").into()),
                }
            }
        }
    };
}

crate::window_requests!(request_enum);

/// `arguments` as a request's arguments. serde names a missing field; for a value of the wrong
/// kind it would quote the value, so that message is replaced by one that does not.
fn read_arguments<T: DeserializeOwned>(command: &str, arguments: Value) -> Result<T, Refusal> {
    serde_json::from_value(arguments).map_err(|e| {
        let said = e.to_string();
        match said.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            Some(name) => format!("{command} needs {name}").into(),
            None => format!("{command} has an argument of another kind").into(),
        }
    })
}

/// Answers one request from the page or the window: JSON, or a [`Refusal`].
pub async fn answer(core: &Arc<Latchkey>, request: Request) -> Result<String, Refusal> {
    match request {
        Request::GetState { catalog } => {
            let snapshot = core.snapshot();
            let connections: usize = snapshot.providers.iter().map(|p| p.connections.len()).sum();
            tracing::debug!(providers = snapshot.providers.len(), connections, "state sent to the window");
            Ok(state(&snapshot, catalog.as_deref())?)
        }
        // The window of another version asks another latchkey-resident to replace this one.
        Request::GetVersion {} => json(env!("CARGO_PKG_VERSION")),
        Request::GetSettings {} => json(&core.settings()),
        Request::GetMarks {} => json(&core.marks()),
        Request::GetStartAtLogin {} => json(&core.starts_at_login()),
        Request::GetStatus {} => {
            let status = core.status().await;
            json(&Status {
                keychain_ok: status.keychain.is_ok(),
                keychain: status.keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned()),
                start_at_login: core.starts_at_login(),
                connections: status.connections,
                needs_reconnect: status.needs_reconnect,
            })
        }
        Request::Connect { provider_id } => unit(core.connect(&provider_id).await.map(drop)),
        // A sign-in with a code (RFC 8628): the window shows the code from the next state.
        Request::ConnectWithCode { provider_id } => json(&core.connect_with_code(&provider_id).await?.to_string()),
        Request::Cancel { flow_id } => json(&core.cancel(&flow_id).await?),
        Request::Reopen { flow_id } => unit(core.reopen(&flow_id)),
        // "revoked", "not_confirmed" or "not_supported"; the connection is gone either way.
        Request::Disconnect { connection_id } => json(&core.disconnect(&connection_id).await?),
        Request::DismissError { provider_id } => unit(core.dismiss_error(&provider_id)),
        Request::SetDemoEnabled { enabled } => json(&core.set_demo_enabled(enabled).await?),
        // The secret goes to the keychain and is never sent back to the window.
        Request::SaveClient { provider_id, client_id, client_secret } => {
            unit(core.save_client(&provider_id, &client_id, client_secret.as_deref()).await)
        }
        Request::ForgetClient { provider_id } => unit(core.forget_client(&provider_id).await),
        Request::SetScopes { provider_id, scopes } => unit(core.set_scopes(&provider_id, &scopes).await),
        Request::SetRedirect { provider_id, kind } => unit(core.set_redirect(&provider_id, kind).await),
        Request::SetPkce { provider_id, enabled } => unit(core.set_pkce(&provider_id, enabled).await),
        Request::AddProvider { name, issuer } => json(&core.add_provider_by_issuer(&name, &issuer).await?.to_string()),
        Request::AddOauth2Provider { name, authorize_url, token_url, userinfo_url, revoke_url, scopes } => {
            let at = Endpoints {
                authorize_url: &authorize_url,
                token_url: &token_url,
                userinfo_url: &userinfo_url,
                revoke_url: revoke_url.as_deref(),
                scopes: &scopes,
            };
            json(&core.add_provider_by_endpoints(&name, at).await?.to_string())
        }
        Request::RemoveProvider { provider_id } => unit(core.remove_provider(&provider_id).await),
        // Whether Latchkey starts (hidden) at login.
        Request::SetStartAtLogin { enabled } => {
            core.set_start_at_login(enabled)?;
            #[cfg(target_os = "linux")]
            crate::autostart::apply(enabled)?;
            json(&core.starts_at_login())
        }
        // The first close's notice was read: it is not shown again.
        Request::BackgroundNoticeSeen {} => unit(core.background_notice_seen()),
        // The address of one of a provider's pages, from the catalog (not from the window): where
        // a person removes Latchkey's access (`access`), where an app is registered (`console`),
        // its documentation (`docs`). The window opens it.
        Request::ProviderPage { provider_id, page } => json(&provider_page(core, &provider_id, &page)?),
    }
}

/// A sign-in callback, exactly as the OS passed it, completed. Errors are logged by the core
/// (without the query) and shown on the provider's row when they belong to a real sign-in; junk
/// changes nothing.
pub async fn complete_callback(core: &Latchkey, url: &str) {
    tracing::info!(url = %latchkey_core::redirect::redact_for_log(url), "deep link received");
    if let Ok(connection) = core.complete(url).await {
        tracing::info!(connection = %connection.id, "deep link completed a sign-in");
    }
}

fn provider_page(core: &Latchkey, provider_id: &str, page: &str) -> Result<String, String> {
    let provider = core
        .snapshot()
        .providers
        .into_iter()
        .find(|p| p.id.as_str() == provider_id)
        .ok_or_else(|| format!("no provider named {provider_id}"))?;
    match page {
        "access" => provider.access_page,
        "console" => provider.console,
        "docs" => provider.docs,
        _ => return Err(format!("no page named {page}")),
    }
    .ok_or_else(|| format!("no such page is known for {}", provider.name))
}

/// The window's state: each provider's changing part, and the providers' descriptions only when
/// they differ from those the page has (`known`, the `catalog` tag of an earlier answer). The
/// descriptions are most of the state (about 21 of 23 KB with the catalog), and the page asks for
/// the state at every change, so a refresh sends what changed: `{catalog, providers}`, with
/// `described` (the descriptions, each with its `id`) when the page lacks them. The two parts
/// are typed (`latchkey_core::view::ProviderState::parts`).
fn state(snapshot: &latchkey_core::view::Snapshot, known: Option<&str>) -> Result<String, String> {
    #[derive(Serialize)]
    struct Answer<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        described: Option<Value>,
        catalog: String,
        providers: Vec<latchkey_core::view::Changing<'a>>,
    }
    let written = |e: serde_json::Error| format!("the answer could not be written: {e}");
    let (described, providers): (Vec<_>, Vec<_>) = snapshot.providers.iter().map(|p| p.parts()).unzip();
    let described = serde_json::to_value(&described).map_err(written)?;
    let catalog = catalog_tag(&described);
    let described = (known != Some(catalog.as_str())).then_some(described);
    serde_json::to_string(&Answer { described, catalog, providers }).map_err(written)
}

/// A tag that changes when the descriptions do: a hash of their JSON (keys in order).
fn catalog_tag(described: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    described.to_string().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn message(e: AuthError) -> Refusal {
    e.into()
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, Refusal> {
    serde_json::to_string(value).map_err(|e| format!("the answer could not be written: {e}").into())
}

fn unit(result: Result<(), AuthError>) -> Result<String, Refusal> {
    result.map_err(message).and_then(|()| json(&()))
}

#[cfg(test)]
mod tests {
    use latchkey_core::provider::RedirectKind;

    use super::*;

    #[test]
    fn a_request_is_read_by_the_pages_names_and_a_refusal_names_an_argument_never_its_value() {
        let want = Request::SaveClient { provider_id: "demo".into(), client_id: "abc".into(), client_secret: None };
        let read = Request::read("save_client", r#"{"providerId":"demo","clientId":"abc","clientSecret":null}"#);
        assert_eq!(read, Ok(want.clone()));
        assert_eq!(Request::read("save_client", r#"{"providerId":"demo","clientId":"abc"}"#), Ok(want));
        let missing = Request::read("set_pkce", r#"{"providerId":"demo"}"#).unwrap_err();
        assert_eq!((missing.kind, missing.message.as_str()), (ErrorKind::Failed, "set_pkce needs enabled"));
        let wrong = Request::read("save_client", r#"{"providerId":"demo","clientId":"abc","clientSecret":4242}"#);
        let wrong = wrong.unwrap_err().message;
        assert!(wrong.starts_with("save_client has an argument") && !wrong.contains("4242"), "{wrong}");
        let unknown = Request::read("format_disk", "{}").unwrap_err().message;
        assert_eq!(unknown, "Latchkey has no command \"format_disk\"");
        assert!(Request::read("connect", "[1]").unwrap_err().message.contains("not a JSON object"));
    }

    #[test]
    fn every_kind_of_request_is_written_as_it_is_read() {
        let requests = [
            Request::GetState { catalog: Some("0123".into()) },
            Request::GetState { catalog: None },
            Request::GetMarks {},
            Request::SetRedirect { provider_id: "github".into(), kind: RedirectKind::Loopback },
            Request::AddOauth2Provider {
                name: "Tracker".into(),
                authorize_url: "https://t.example/a".into(),
                token_url: "https://t.example/t".into(),
                userinfo_url: "https://t.example/u".into(),
                revoke_url: None,
                scopes: "read".into(),
            },
            Request::ProviderPage { provider_id: "github".into(), page: "docs".into() },
        ];
        for request in requests {
            let arguments = request.arguments().unwrap();
            assert_eq!(Request::read(request.command(), &arguments), Ok(request.clone()), "{arguments}");
        }
        let written = Request::SaveClient { provider_id: "a".into(), client_id: "b".into(), client_secret: None };
        assert_eq!(written.arguments().unwrap(), r#"{"providerId":"a","clientId":"b","clientSecret":null}"#);
        let secret =
            Request::SaveClient { provider_id: "a".into(), client_id: "b".into(), client_secret: Some("s3".into()) };
        assert_eq!(format!("{secret:?}"), "Request(save_client)", "no argument in a log line");
    }

    #[test]
    fn the_page_s_and_the_window_s_requests_are_apart_and_each_named_once() {
        let mut names: Vec<&str> = Request::PAGE.iter().chain(Request::WINDOW).copied().collect();
        assert!(Request::PAGE.contains(&"connect") && Request::WINDOW.contains(&"get_version"));
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a command is listed twice");
    }

    fn provider(id: &str, error: Option<&str>, checked: &str) -> latchkey_core::view::ProviderState {
        latchkey_core::view::ProviderState {
            id: latchkey_core::ProviderId::new(id).unwrap(),
            name: id.to_uppercase(),
            setup_hint: None,
            redirect_uri: format!("dev.latchkey.desktop:/oauth/callback/{id}"),
            redirect_choices: Vec::new(),
            scopes: vec!["read".into()],
            access_page: None,
            console: None,
            docs: None,
            pkce: true,
            checked: Some(checked.into()),
            plain_http: false,
            flows: Vec::new(),
            offers_code: false,
            code_only: false,
            codes: Vec::new(),
            connections: Vec::new(),
            refreshing: Vec::new(),
            error: error.map(str::to_owned),
        }
    }

    /// The page's merge (ui/app.js `fetchState`): each provider's description, then its changing part.
    fn merged(answer: &Value, described: &Value) -> Value {
        let providers = answer["providers"].as_array().unwrap().iter().map(|part| {
            let mut whole = described.as_array().unwrap().iter().find(|d| d["id"] == part["id"]).unwrap().clone();
            whole.as_object_mut().unwrap().extend(part.as_object().unwrap().clone());
            whole
        });
        serde_json::json!({ "providers": providers.collect::<Vec<_>>() })
    }

    #[test]
    fn the_state_sends_the_descriptions_only_to_a_page_without_them_and_merges_back_whole() {
        let snapshot = latchkey_core::view::Snapshot {
            providers: vec![provider("demo", None, "local"), provider("github", Some("denied"), "docs")],
        };
        let whole = serde_json::to_value(&snapshot).unwrap();
        let first: Value = serde_json::from_str(&state(&snapshot, None).unwrap()).unwrap();
        let described = first["described"].clone();
        assert_eq!(described.as_array().map(Vec::len), Some(2));
        assert_eq!(merged(&first, &described), whole);
        assert_eq!(
            first["providers"][1],
            serde_json::json!({"id": "github", "flows": [], "codes": [], "connections": [], "refreshing": [], "error": "denied"})
        );

        // The page that has them gets the changing part only; a change to it is still sent.
        let tag = first["catalog"].as_str().unwrap();
        let again = latchkey_core::view::Snapshot {
            providers: vec![provider("demo", Some("failed"), "local"), provider("github", None, "docs")],
        };
        let second: Value = serde_json::from_str(&state(&again, Some(tag)).unwrap()).unwrap();
        assert!(second.get("described").is_none(), "{second}");
        assert_eq!(second["catalog"], first["catalog"]);
        assert_eq!(merged(&second, &described), serde_json::to_value(&again).unwrap());

        // A changed description (another note, another tag) is sent again.
        let changed = latchkey_core::view::Snapshot {
            providers: vec![provider("demo", None, "local"), provider("github", None, "checked again")],
        };
        let third: Value = serde_json::from_str(&state(&changed, Some(tag)).unwrap()).unwrap();
        assert_ne!(third["catalog"], first["catalog"]);
        assert_eq!(merged(&third, &third["described"]), serde_json::to_value(&changed).unwrap());
    }
}
