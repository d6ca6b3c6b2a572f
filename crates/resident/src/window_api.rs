//! What the window asks of the Latchkey that holds the accounts. The window is a view: each of
//! its requests is a command name and its arguments as JSON (as the page sent them), answered
//! here from the core's front door with JSON, or refused with an error's kind and message. On
//! Linux the requests come over the session bus (`dev.latchkey.Window1`, [`crate::dbus`]) from
//! the window's process; elsewhere the window's process holds the core and answers them itself.

use std::sync::Arc;

use latchkey_core::latchkey::Endpoints;
use latchkey_core::provider::RedirectKind;
use latchkey_core::{AuthError, ErrorKind, Latchkey};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

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

/// Answers one request: `arguments` is a JSON object with the page's argument names
/// (`providerId`, …). The answer is JSON, or a [`Refusal`].
pub async fn answer(core: &Arc<Latchkey>, command: &str, arguments: &str) -> Result<String, Refusal> {
    let arguments: Map<String, Value> = match serde_json::from_str(arguments) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) => return Err(format!("the arguments of {command} are not a JSON object").into()),
    };
    let args = Arguments { command, map: &arguments };
    let answer = match command {
        "get_state" => {
            let snapshot = core.snapshot();
            let connections: usize = snapshot.providers.iter().map(|p| p.connections.len()).sum();
            tracing::debug!(providers = snapshot.providers.len(), connections, "state sent to the window");
            Ok(state(&snapshot, args.optional::<String>("catalog")?.as_deref())?)
        }
        // The window of another version asks another latchkey-resident to replace this one.
        "get_version" => json(env!("CARGO_PKG_VERSION")),
        "get_settings" => json(&core.settings()),
        "get_marks" => json(&core.marks()),
        "get_start_at_login" => json(&core.starts_at_login()),
        "get_status" => {
            let status = core.status().await;
            json(&Status {
                keychain_ok: status.keychain.is_ok(),
                keychain: status.keychain.as_ref().map_or_else(|e| e.to_string(), |_| "reachable".to_owned()),
                start_at_login: core.starts_at_login(),
                connections: status.connections,
                needs_reconnect: status.needs_reconnect,
            })
        }
        "connect" => unit(core.connect(&args.text("providerId")?).await.map(drop)),
        // A sign-in with a code (RFC 8628): the window shows the code from the next state.
        "connect_with_code" => {
            json(&core.connect_with_code(&args.text("providerId")?).await.map_err(message)?.to_string())
        }
        "cancel" => json(&core.cancel(&args.text("flowId")?).await.map_err(message)?),
        "reopen" => unit(core.reopen(&args.text("flowId")?)),
        // "revoked", "not_confirmed" or "not_supported"; the connection is gone either way.
        "disconnect" => json(&core.disconnect(&args.text("connectionId")?).await.map_err(message)?),
        "dismiss_error" => unit(core.dismiss_error(&args.text("providerId")?)),
        "set_demo_enabled" => json(&core.set_demo_enabled(args.get("enabled")?).await.map_err(message)?),
        // The secret goes to the keychain and is never sent back to the window.
        "save_client" => {
            let secret: Option<String> = args.optional("clientSecret")?;
            unit(core.save_client(&args.text("providerId")?, &args.text("clientId")?, secret.as_deref()).await)
        }
        "forget_client" => unit(core.forget_client(&args.text("providerId")?).await),
        "set_scopes" => unit(core.set_scopes(&args.text("providerId")?, &args.text("scopes")?).await),
        "set_redirect" => {
            let kind: RedirectKind = args.get("kind")?;
            unit(core.set_redirect(&args.text("providerId")?, kind).await)
        }
        "set_pkce" => unit(core.set_pkce(&args.text("providerId")?, args.get("enabled")?).await),
        "add_provider" => {
            let id = core.add_provider_by_issuer(&args.text("name")?, &args.text("issuer")?).await.map_err(message)?;
            json(&id.to_string())
        }
        "add_oauth2_provider" => {
            let (authorize_url, token_url, userinfo_url) =
                (args.text("authorizeUrl")?, args.text("tokenUrl")?, args.text("userinfoUrl")?);
            let (revoke_url, scopes): (Option<String>, String) = (args.optional("revokeUrl")?, args.text("scopes")?);
            let at = Endpoints {
                authorize_url: &authorize_url,
                token_url: &token_url,
                userinfo_url: &userinfo_url,
                revoke_url: revoke_url.as_deref(),
                scopes: &scopes,
            };
            json(&core.add_provider_by_endpoints(&args.text("name")?, at).await.map_err(message)?.to_string())
        }
        "remove_provider" => unit(core.remove_provider(&args.text("providerId")?).await),
        // Whether Latchkey starts (hidden) at login.
        "set_start_at_login" => {
            let enabled: bool = args.get("enabled")?;
            core.set_start_at_login(enabled).map_err(message)?;
            #[cfg(target_os = "linux")]
            crate::autostart::apply(enabled)?;
            json(&core.starts_at_login())
        }
        // The first close's notice was read: it is not shown again.
        "background_notice_seen" => unit(core.background_notice_seen()),
        // The address of one of a provider's pages, from the catalog (not from the window): where
        // a person removes Latchkey's access (`access`), where an app is registered (`console`),
        // its documentation (`docs`). The window opens it.
        "provider_page" => json(&provider_page(core, &args.text("providerId")?, &args.text("page")?)?),
        _ => Err(format!("Latchkey has no command {command:?}").into()),
    }?;
    Ok(answer)
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

/// A request's arguments, read by the names the page gives them.
struct Arguments<'a> {
    command: &'a str,
    map: &'a Map<String, Value>,
}

impl Arguments<'_> {
    /// The error names the argument, never its value (`clientSecret` is one of them).
    fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, String> {
        let value = self.map.get(name).cloned().unwrap_or(Value::Null);
        let missing = value.is_null();
        serde_json::from_value(value).map_err(|_| match missing {
            true => format!("{} needs {name}", self.command),
            false => format!("{} needs {name} of another kind", self.command),
        })
    }

    fn text(&self, name: &str) -> Result<String, String> {
        self.get(name)
    }

    /// Absent and `null` are both `None`.
    fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
    }
}

/// What of a provider's state changes as the person signs in and the accounts refresh; the rest
/// (name, set-up text, redirect URIs, scopes) is its description.
const CHANGING: [&str; 5] = ["flows", "codes", "connections", "refreshing", "error"];

/// The window's state: each provider's changing part, and the providers' descriptions only when
/// they differ from those the page has (`known`, the `catalog` tag of an earlier answer). The
/// descriptions are most of the state (about 21 of 23 KB with the catalog), and the page asks for
/// the state at every change, so a refresh sends what changed: `{catalog, providers}`, with
/// `described` (the descriptions, each with its `id`) when the page lacks them.
fn state(snapshot: &latchkey_core::view::Snapshot, known: Option<&str>) -> Result<String, String> {
    let Value::Object(mut whole) =
        serde_json::to_value(snapshot).map_err(|e| format!("the answer could not be written: {e}"))?
    else {
        return Err("the state is not an object".into());
    };
    let providers = match whole.remove("providers") {
        Some(Value::Array(providers)) => providers,
        _ => Vec::new(),
    };
    let (mut described, mut changing) = (Vec::new(), Vec::new());
    for provider in providers {
        let Value::Object(mut description) = provider else { continue };
        let mut part = Map::new();
        if let Some(id) = description.get("id") {
            part.insert("id".into(), id.clone());
        }
        for key in CHANGING {
            if let Some(value) = description.remove(key) {
                part.insert(key.into(), value);
            }
        }
        described.push(Value::Object(description));
        changing.push(Value::Object(part));
    }
    let described = Value::Array(described);
    let catalog = catalog_tag(&described);
    let mut answer = Map::new();
    if known != Some(catalog.as_str()) {
        answer.insert("described".into(), described);
    }
    answer.insert("catalog".into(), Value::String(catalog));
    answer.insert("providers".into(), Value::Array(changing));
    serde_json::to_string(&answer).map_err(|e| format!("the answer could not be written: {e}"))
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
    use super::*;

    #[test]
    fn arguments_are_read_by_the_pages_names_and_a_missing_one_is_named() {
        let map: Map<String, Value> =
            serde_json::from_str(r#"{"providerId":"demo","enabled":true,"clientSecret":null}"#).unwrap();
        let args = Arguments { command: "set_pkce", map: &map };
        assert_eq!(args.text("providerId").unwrap(), "demo");
        assert!(args.get::<bool>("enabled").unwrap());
        assert_eq!(args.optional::<String>("clientSecret").unwrap(), None);
        assert_eq!(args.optional::<String>("revokeUrl").unwrap(), None);
        let missing = args.text("flowId").unwrap_err();
        assert!(missing.starts_with("set_pkce needs flowId"), "{missing}");
        let wrong = args.text("enabled").unwrap_err();
        assert!(wrong.starts_with("set_pkce needs enabled"), "{wrong}");
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
