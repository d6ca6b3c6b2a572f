//! The view model for the window: every provider with its set-up state, sign-ins in progress,
//! connections and last error, and nothing secret.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use super::provider::RedirectKind;
use super::redirect;
use super::sync::lock;
use super::{AuthError, AuthProvider, Connection, ConnectionId, FlowId, ProviderId};

/// Everything the window shows, and nothing secret.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub providers: Vec<ProviderState>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderState {
    pub id: ProviderId,
    pub name: String,
    /// `None` when configured; otherwise what to set.
    pub setup_hint: Option<String>,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// The redirect kinds the person can choose among, the one in use first, each with the URI
    /// to register for it.
    pub redirect_choices: Vec<RedirectChoice>,
    /// The scopes a sign-in asks for.
    pub scopes: Vec<String>,
    /// Where a person removes Latchkey's access at the provider, when known.
    pub access_page: Option<String>,
    /// Where an app is registered at the provider, and its documentation, when known.
    pub console: Option<String>,
    pub docs: Option<String>,
    /// Whether sign-ins send PKCE (S256).
    pub pkce: bool,
    /// Where the provider's facts were checked, and how sure they are (shown in its set-up).
    pub checked: Option<String>,
    /// Reached over plain http on this computer (127.0.0.1), which the window says.
    pub plain_http: bool,
    /// Sign-ins waiting for the browser.
    pub flows: Vec<FlowState>,
    /// Whether the provider offers sign-in with a code (RFC 8628).
    pub offers_code: bool,
    /// Whether sign-in with a code is the only way (a client registered for the device grant
    /// alone): no Connect, no redirect URI to register.
    pub code_only: bool,
    /// Sign-ins with a code in progress: the code to enter, and where.
    pub codes: Vec<CodeState>,
    pub connections: Vec<Connection>,
    /// Connections whose refresh is in flight.
    pub refreshing: Vec<ConnectionId>,
    /// The last sign-in's failure, in words, until the next attempt.
    pub error: Option<String>,
}

/// What the page keeps of a provider until the catalog changes: its description.
#[derive(Debug, Serialize)]
pub struct Described<'a> {
    pub id: &'a ProviderId,
    pub name: &'a str,
    pub setup_hint: &'a Option<String>,
    pub redirect_uri: &'a str,
    pub redirect_choices: &'a [RedirectChoice],
    pub scopes: &'a [String],
    pub access_page: &'a Option<String>,
    pub console: &'a Option<String>,
    pub docs: &'a Option<String>,
    pub pkce: bool,
    pub checked: &'a Option<String>,
    pub plain_http: bool,
    pub offers_code: bool,
    pub code_only: bool,
}

/// What of a provider changes as the person signs in and the accounts refresh.
#[derive(Debug, Serialize)]
pub struct Changing<'a> {
    pub id: &'a ProviderId,
    pub flows: &'a [FlowState],
    pub codes: &'a [CodeState],
    pub connections: &'a [Connection],
    pub refreshing: &'a [ConnectionId],
    pub error: &'a Option<String>,
}

impl ProviderState {
    /// The provider's description and its changing part, which the window sends apart (the
    /// descriptions only to a page that lacks them). Every field is in one of the two: the
    /// destructuring names them all, so a new field does not compile until it is placed.
    pub fn parts(&self) -> (Described<'_>, Changing<'_>) {
        let ProviderState {
            id,
            name,
            setup_hint,
            redirect_uri,
            redirect_choices,
            scopes,
            access_page,
            console,
            docs,
            pkce,
            checked,
            plain_http,
            flows,
            offers_code,
            code_only,
            codes,
            connections,
            refreshing,
            error,
        } = self;
        let described = Described {
            id,
            name,
            setup_hint,
            redirect_uri,
            redirect_choices,
            scopes,
            access_page,
            console,
            docs,
            pkce: *pkce,
            checked,
            plain_http: *plain_http,
            offers_code: *offers_code,
            code_only: *code_only,
        };
        (described, Changing { id, flows, codes, connections, refreshing, error })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RedirectChoice {
    pub kind: RedirectKind,
    pub uri: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowState {
    pub flow_id: FlowId,
    /// The authorization URL, for a person to copy if the browser did not open.
    pub url: Url,
    pub expires_at: DateTime<Utc>,
}

/// A sign-in with a code in progress, as the window shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CodeState {
    pub flow_id: FlowId,
    #[serde(skip)]
    pub provider: ProviderId,
    /// What the person types at the address.
    pub user_code: String,
    pub verification_uri: String,
    pub expires_at: DateTime<Utc>,
}

/// What goes into a snapshot.
pub struct ViewInput {
    pub providers: Vec<std::sync::Arc<dyn AuthProvider>>,
    pub flows: Vec<(FlowId, ProviderId, Url, DateTime<Utc>)>,
    pub codes: Vec<CodeState>,
    pub connections: Vec<Connection>,
    pub refreshing: HashSet<ConnectionId>,
}

/// The per-provider error lines, the only state of its own the view keeps.
#[derive(Default)]
pub struct View {
    errors: Mutex<HashMap<ProviderId, String>>,
}

impl View {
    /// Shows (or, with `None`, clears) a provider's last sign-in error.
    pub fn set_error(&self, provider: &ProviderId, error: Option<&AuthError>) {
        let mut errors = lock(&self.errors);
        match error {
            Some(e) => errors.insert(provider.clone(), e.to_string()),
            None => errors.remove(provider),
        };
    }

    /// Forgets a provider's error; true if there was one.
    pub fn dismiss(&self, provider: &ProviderId) -> bool {
        lock(&self.errors).remove(provider).is_some()
    }

    pub fn snapshot(&self, input: ViewInput) -> Snapshot {
        let errors = lock(&self.errors);
        let providers = input
            .providers
            .into_iter()
            .map(|p| {
                let id = p.name().clone();
                let mut flows: Vec<FlowState> = input
                    .flows
                    .iter()
                    .filter(|(_, provider, _, _)| *provider == id)
                    .map(|(flow_id, _, url, expires_at)| FlowState {
                        flow_id: flow_id.clone(),
                        url: url.clone(),
                        expires_at: *expires_at,
                    })
                    .collect();
                flows.sort_by_key(|f| f.expires_at);
                let connections: Vec<Connection> =
                    input.connections.iter().filter(|c| c.provider == id).cloned().collect();
                let pages = p.setup_pages();
                ProviderState {
                    name: p.display_name().to_owned(),
                    setup_hint: p.check_configured().err().map(|e| match e {
                        AuthError::NotConfigured { hint, .. } => hint,
                        other => other.to_string(),
                    }),
                    // What to register at the provider: loopback providers take any port.
                    redirect_uri: registration(p.redirect_kind(), &id, p.redirect_shape()),
                    redirect_choices: p
                        .redirect_choices()
                        .into_iter()
                        .map(|kind| RedirectChoice { kind, uri: registration(kind, &id, p.redirect_shape()) })
                        .collect(),
                    scopes: p.scopes(),
                    access_page: p.access_page().map(|u| u.to_string()),
                    console: pages.console.map(|u| u.to_string()),
                    docs: pages.docs.map(|u| u.to_string()),
                    pkce: p.uses_pkce(),
                    checked: p.checked_note().map(str::to_owned),
                    plain_http: p.plain_http(),
                    flows,
                    offers_code: p.offers_device_grant(),
                    code_only: p.code_only(),
                    codes: input.codes.iter().filter(|c| c.provider == id).cloned().collect(),
                    refreshing: connections
                        .iter()
                        .filter(|c| input.refreshing.contains(&c.id))
                        .map(|c| c.id.clone())
                        .collect(),
                    connections,
                    error: errors.get(&id).cloned(),
                    id,
                }
            })
            .collect();
        Snapshot { providers }
    }
}

/// The redirect URI a person registers at the provider for `kind`, in the form it takes.
fn registration(kind: RedirectKind, provider: &ProviderId, shape: redirect::RedirectShape) -> String {
    match kind {
        RedirectKind::PrivateUse => redirect::private_use_uri(provider, shape),
        RedirectKind::Loopback => redirect::loopback_registration_shaped(provider, shape),
    }
}
