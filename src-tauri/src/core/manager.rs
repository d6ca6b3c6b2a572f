//! The connection manager: starts flows, completes them from the callback, disconnects, and
//! lists connections without their secrets.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, instrument, warn, Span};
use url::Url;

use super::metadata::MetadataStore;
use super::provider::RedirectKind;
use super::redirect::{self, redact_for_log, Outcome};
use super::scheduler::{Clock, SystemClock};
use super::vault::{Secrets, Vault};
use super::{AuthError, AuthProvider, CallbackError, ConnectionId, ProviderId, TokenResponse};

/// How long a sign-in may take before its state is refused.
pub const DEFAULT_FLOW_TTL: Duration = Duration::from_secs(10 * 60);

/// The seam through which the authorization URL reaches a browser: the app passes the system
/// browser, tests pass a recorder.
pub trait Browser: Send + Sync {
    fn open(&self, url: &Url) -> Result<(), String>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    /// The provider refused the grant; the person must connect again. Tokens are kept.
    NeedsReconnect,
}

/// A connected account, without its secrets: this is what the window and the log may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub provider: ProviderId,
    pub nickname: String,
    pub connected_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub status: ConnectionStatus,
    /// When the tokens were last refreshed, if ever.
    #[serde(default)]
    pub last_refreshed: Option<DateTime<Utc>>,
    /// The access token's lifetime as the provider gave it, which sets the refresh margin.
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
}

/// A sign-in that was started: the URL opened in the browser (also shown so a person can copy
/// it) and the id that cancels it.
#[derive(Clone, Debug, Serialize)]
pub struct PendingConnect {
    pub flow_id: String,
    pub provider: ProviderId,
    pub url: Url,
    pub expires_at: DateTime<Utc>,
}

/// What is remembered of a sign-in until its callback. Not `Clone`: it is taken out once.
struct PendingFlow {
    flow_id: String,
    provider: ProviderId,
    verifier: Option<PkceCodeVerifier>,
    redirect_uri: String,
    url: Url,
    expires: DateTime<Utc>,
    /// The one-shot listener of a loopback redirect; dropping it closes the port.
    loopback: Option<super::loopback::Guard>,
}

/// A pending flow as kept in the keychain, so that a callback that starts the app (after it
/// was closed mid-sign-in) can still complete. The verifier is a secret: keychain only.
#[derive(Serialize, Deserialize)]
struct StoredFlow {
    state: String,
    flow_id: String,
    provider: ProviderId,
    verifier: Option<String>,
    redirect_uri: String,
    url: Url,
    expires: DateTime<Utc>,
}

/// The keychain entry (user name) under which pending flows are kept.
const PENDING_ENTRY: &str = "pending-sign-ins";

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
    /// Sign-ins waiting for the browser.
    pub flows: Vec<FlowState>,
    pub connections: Vec<Connection>,
    /// Connections whose refresh is in flight.
    pub refreshing: Vec<ConnectionId>,
    /// The last sign-in's failure, in words, until the next attempt.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RedirectChoice {
    pub kind: RedirectKind,
    pub uri: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowState {
    pub flow_id: String,
    /// The authorization URL, for a person to copy if the browser did not open.
    pub url: Url,
    pub expires_at: DateTime<Utc>,
}

/// Where the manager keeps things.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// The keychain service name all entries are filed under.
    pub keychain_service: String,
    /// The directory of the metadata file.
    pub data_dir: PathBuf,
    pub flow_ttl: Duration,
    /// The wall clock for expiries and refresh deadlines (a manual one in tests).
    pub clock: Arc<dyn Clock>,
}

impl ManagerOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            keychain_service: redirect::APP_IDENTIFIER.to_owned(),
            data_dir: data_dir.into(),
            flow_ttl: DEFAULT_FLOW_TTL,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

pub struct ConnectionManager {
    providers: RwLock<BTreeMap<ProviderId, Arc<dyn AuthProvider>>>,
    pending: Mutex<HashMap<String, PendingFlow>>,
    /// Serialises writes of the pending flows to the keychain, so the last write wins.
    pending_writes: tokio::sync::Mutex<()>,
    errors: Mutex<HashMap<ProviderId, String>>,
    pub(super) vault: Vault,
    pub(super) metadata: Mutex<MetadataStore>,
    pub(super) data_dir: PathBuf,
    browser: Arc<dyn Browser>,
    flow_ttl: Duration,
    changes: watch::Sender<u64>,
    pub(super) events: tokio::sync::broadcast::Sender<CoreEvent>,
    pub(super) clock: Arc<dyn Clock>,
    /// Bumped when connections come, go or change status (not when one is refreshed): the
    /// scheduler rebuilds its queue then.
    pub(super) roster: watch::Sender<u64>,
    /// Connections whose refresh is in flight in this process, and their single-flight gates.
    pub(super) refreshing: Mutex<HashMap<ConnectionId, usize>>,
    pub(super) gates: Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the core tells the app beyond "something changed".
#[derive(Clone, Debug)]
pub enum CoreEvent {
    /// The provider no longer accepts this connection's grant: tell the person.
    NeedsReconnect(Connection),
}

impl ConnectionManager {
    pub fn new(options: ManagerOptions, browser: Arc<dyn Browser>) -> Result<Self, AuthError> {
        Self::with_vault(options.clone(), Vault::new(options.keychain_service), browser)
    }

    pub fn with_vault(options: ManagerOptions, vault: Vault, browser: Arc<dyn Browser>) -> Result<Self, AuthError> {
        let metadata = MetadataStore::open(&options.data_dir)?;
        Ok(Self::assemble(options, vault, metadata, browser))
    }

    /// A manager that keeps everything in memory: secrets and metadata (benchmarks only; the
    /// app always uses the keychain and the file).
    pub fn in_memory(options: ManagerOptions, browser: Arc<dyn Browser>) -> Self {
        Self::assemble(options, Vault::in_memory(), MetadataStore::in_memory(), browser)
    }

    fn assemble(options: ManagerOptions, vault: Vault, metadata: MetadataStore, browser: Arc<dyn Browser>) -> Self {
        Self {
            providers: RwLock::new(BTreeMap::new()),
            pending: Mutex::new(HashMap::new()),
            pending_writes: tokio::sync::Mutex::new(()),
            errors: Mutex::new(HashMap::new()),
            vault,
            metadata: Mutex::new(metadata),
            data_dir: options.data_dir,
            browser,
            flow_ttl: options.flow_ttl,
            changes: watch::channel(0).0,
            events: tokio::sync::broadcast::channel(64).0,
            clock: options.clock,
            roster: watch::channel(0).0,
            refreshing: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// How long a sign-in may take, as a wall-clock duration.
    fn flow_lifetime(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.flow_ttl).unwrap_or(chrono::Duration::minutes(10))
    }

    /// The manager's wall clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Events the person should hear about (notifications).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<CoreEvent> {
        self.events.subscribe()
    }

    /// A receiver that wakes whenever what [`ConnectionManager::snapshot`] shows has changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A receiver that wakes when connections come, go or change status.
    pub fn roster(&self) -> watch::Receiver<u64> {
        self.roster.subscribe()
    }

    pub(super) fn roster_changed(&self) {
        self.roster.send_modify(|n| *n = n.wrapping_add(1));
        self.changed();
    }

    pub(super) fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Adds a provider, replacing one of the same name.
    pub fn add_provider(&self, provider: Arc<dyn AuthProvider>) {
        {
            let mut providers = self.providers.write().unwrap_or_else(|p| p.into_inner());
            providers.insert(provider.name().clone(), provider);
        }
        self.changed();
    }

    /// Removes a provider from the list; its connections stay (and show again when it returns).
    pub fn remove_provider(&self, id: &ProviderId) {
        {
            let mut providers = self.providers.write().unwrap_or_else(|p| p.into_inner());
            providers.remove(id);
        }
        self.changed();
    }

    /// What the window shows: every provider with its state, flows and connections.
    pub fn snapshot(&self) -> Snapshot {
        let connections = self.list();
        let now = Utc::now();
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let refreshing = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let providers = self
            .providers()
            .into_iter()
            .map(|p| {
                let id = p.name().clone();
                let mut flows: Vec<FlowState> = pending
                    .values()
                    .filter(|f| f.provider == id && f.expires > now)
                    .map(|f| FlowState { flow_id: f.flow_id.clone(), url: f.url.clone(), expires_at: f.expires })
                    .collect();
                flows.sort_by_key(|f| f.expires_at);
                ProviderState {
                    name: p.display_name().to_owned(),
                    setup_hint: p.check_configured().err().map(|e| match e {
                        AuthError::NotConfigured { hint, .. } => hint,
                        other => other.to_string(),
                    }),
                    // What to register at the provider: loopback providers take any port.
                    redirect_uri: registration(p.redirect_kind(), &id),
                    redirect_choices: p
                        .redirect_choices()
                        .into_iter()
                        .map(|kind| RedirectChoice { kind, uri: registration(kind, &id) })
                        .collect(),
                    scopes: p.scopes(),
                    flows,
                    connections: connections.iter().filter(|c| c.provider == id).cloned().collect(),
                    refreshing: connections
                        .iter()
                        .filter(|c| c.provider == id && refreshing.contains_key(&c.id))
                        .map(|c| c.id.clone())
                        .collect(),
                    error: errors.get(&id).cloned(),
                    id,
                }
            })
            .collect();
        Snapshot { providers }
    }

    /// Forgets the last error shown for a provider.
    pub fn dismiss_error(&self, provider: &ProviderId) {
        let removed = self.errors.lock().unwrap_or_else(|p| p.into_inner()).remove(provider).is_some();
        if removed {
            self.changed();
        }
    }

    fn set_error(&self, provider: &ProviderId, error: Option<&AuthError>) {
        {
            let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
            match error {
                Some(e) => errors.insert(provider.clone(), e.to_string()),
                None => errors.remove(provider),
            };
        }
        self.changed();
    }

    /// Deletes tokens the keychain holds for connections that do not exist: what is left when
    /// Latchkey was stopped between writing a new connection's tokens and saving the connection.
    /// Run at start, before any sign-in can complete. Skipped when the connections file cannot be
    /// read or was set aside as unreadable (then nothing can be told apart). Returns how many
    /// were removed.
    pub async fn sweep_orphans(&self) -> Result<usize, AuthError> {
        // A connections file set aside as unreadable still names tokens: leave them all.
        let set_aside = std::fs::read_dir(&self.data_dir)
            .map(|dir| dir.flatten().any(|f| f.file_name().to_string_lossy().contains(".unreadable-")))
            .unwrap_or(true);
        if set_aside {
            warn!("a connections file was set aside as unreadable; keychain entries are left as they are");
            return Ok(0);
        }
        let known: Vec<ConnectionId> = {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.reload()?;
            metadata.list().into_iter().map(|c| c.id).collect()
        };
        let mut removed = 0;
        for name in self.vault.names().await? {
            if !ConnectionId::is_generated(&name) || known.iter().any(|id| id.as_str() == name) {
                continue;
            }
            let Ok(id) = ConnectionId::parse(&name) else { continue };
            // A connection saved meanwhile by another process is not an orphan.
            let _across_processes = self.lock_file(&id).await?;
            let saved = {
                let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
                metadata.reload()?;
                metadata.get(&id).is_some()
            };
            if !saved {
                self.vault.delete(&id).await?;
                warn!(connection = %id, "removed tokens of a connection that was never saved");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Brings back the sign-ins that were pending when the app last stopped (so that a
    /// callback arriving with a cold start completes). Expired ones are dropped.
    pub async fn restore_pending(&self) -> Result<usize, AuthError> {
        let Some(bytes) = self.vault.load_raw(PENDING_ENTRY).await? else {
            return Ok(0);
        };
        let stored: Vec<StoredFlow> = match serde_json::from_slice(&bytes) {
            Ok(stored) => stored,
            Err(e) => {
                warn!(error = %e, "the saved sign-ins are unreadable; dropping them");
                Vec::new()
            }
        };
        let now = Utc::now();
        let restored = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let mut n = 0;
            for f in stored.into_iter().filter(|f| f.expires > now) {
                pending.entry(f.state).or_insert_with(|| {
                    n += 1;
                    PendingFlow {
                        flow_id: f.flow_id,
                        provider: f.provider,
                        verifier: f.verifier.map(PkceCodeVerifier::new),
                        redirect_uri: f.redirect_uri,
                        url: f.url,
                        expires: f.expires,
                        loopback: None,
                    }
                });
            }
            n
        };
        self.persist_pending().await;
        self.changed();
        Ok(restored)
    }

    /// Writes the pending flows to the keychain (or removes the entry when there are none).
    /// A failure is logged: the flows still work in this process.
    async fn persist_pending(&self) {
        let _order = self.pending_writes.lock().await;
        let stored: Vec<StoredFlow> = {
            let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            // A loopback flow cannot outlive its listener, which ends with the process.
            pending
                .iter()
                .filter(|(_, f)| f.loopback.is_none())
                .map(|(state, f)| StoredFlow {
                    state: state.clone(),
                    flow_id: f.flow_id.clone(),
                    provider: f.provider.clone(),
                    verifier: f.verifier.as_ref().map(|v| v.secret().clone()),
                    redirect_uri: f.redirect_uri.clone(),
                    url: f.url.clone(),
                    expires: f.expires,
                })
                .collect()
        };
        let result = if stored.is_empty() {
            self.vault.delete_raw(PENDING_ENTRY).await
        } else {
            match serde_json::to_vec(&stored) {
                Ok(bytes) => self.vault.store_raw(PENDING_ENTRY, bytes).await,
                Err(e) => Err(AuthError::Keychain(e.to_string())),
            }
        };
        if let Err(e) = result {
            warn!(error = %e, "could not keep the pending sign-ins in the keychain; a callback after a restart would be refused");
        }
    }

    pub fn providers(&self) -> Vec<Arc<dyn AuthProvider>> {
        let providers = self.providers.read().unwrap_or_else(|p| p.into_inner());
        providers.values().cloned().collect()
    }

    pub fn provider(&self, id: &ProviderId) -> Option<Arc<dyn AuthProvider>> {
        let providers = self.providers.read().unwrap_or_else(|p| p.into_inner());
        providers.get(id).cloned()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The directory of the app's non-secret data.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Starts a sign-in: a fresh state (256 random bits) and PKCE verifier, remembered with the
    /// provider and the exact redirect URI for the flow's lifetime; then opens the browser.
    #[instrument(skip_all, fields(provider = %provider))]
    pub async fn connect(self: &Arc<Self>, provider: &ProviderId) -> Result<PendingConnect, AuthError> {
        let result = self.start_flow(provider).await;
        match &result {
            Ok(_) => {
                self.set_error(provider, None);
                self.persist_pending().await;
            }
            Err(e @ AuthError::UnknownProvider(_)) => warn!(error = %e, "cannot connect"),
            Err(e) => self.set_error(provider, Some(e)),
        }
        result
    }

    async fn start_flow(self: &Arc<Self>, provider: &ProviderId) -> Result<PendingConnect, AuthError> {
        let p = self.provider(provider).ok_or_else(|| AuthError::UnknownProvider(provider.to_string()))?;
        p.check_configured()?;

        let state = CsrfToken::new_random_len(32);
        let (challenge, verifier) = if p.uses_pkce() {
            let (c, v) = PkceCodeChallenge::new_random_sha256();
            (Some(c), Some(v))
        } else {
            (None, None)
        };
        let (redirect_uri, listener) = match p.redirect_kind() {
            RedirectKind::PrivateUse => (redirect::redirect_uri(provider), None),
            RedirectKind::Loopback => {
                let listener = super::loopback::bind()
                    .await
                    .map_err(|e| AuthError::Network(format!("cannot listen on 127.0.0.1 for the sign-in: {e}")))?;
                let port = listener.local_addr().map_err(|e| AuthError::Network(e.to_string()))?.port();
                (redirect::loopback_uri(port, provider), Some(listener))
            }
        };
        let url = p.get_url(&redirect_uri, state.secret(), challenge.as_ref())?;
        let loopback = listener.map(|l| {
            let path = format!("{}{provider}", redirect::CALLBACK_PATH);
            super::loopback::serve(l, path, self.flow_ttl, Arc::downgrade(self))
        });
        let flow_id = format!("{:016x}", rand::random::<u64>());
        let expires_at = Utc::now() + self.flow_lifetime();
        let flow = PendingFlow {
            flow_id: flow_id.clone(),
            provider: provider.clone(),
            verifier,
            redirect_uri,
            url: url.clone(),
            expires: expires_at,
            loopback,
        };
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            self.forget_stale(&mut pending);
            pending.insert(state.secret().clone(), flow);
        }
        info!(flow = %flow_id, "sign-in started");
        if let Err(e) = self.browser.open(&url) {
            // The flow stays: the window offers the link to copy.
            warn!(flow = %flow_id, error = %e, "the browser did not open");
        }
        Ok(PendingConnect { flow_id, provider: provider.clone(), url, expires_at })
    }

    /// Cancels a sign-in in progress; its callback will be refused. False if there was none.
    pub async fn cancel(&self, flow_id: &str) -> bool {
        let cancelled = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let before = pending.len();
            pending.retain(|_, flow| flow.flow_id != flow_id);
            pending.len() != before
        };
        if cancelled {
            info!(flow = %flow_id, "sign-in cancelled");
            self.persist_pending().await;
            self.changed();
        }
        cancelled
    }

    /// The authorization URL of a pending flow, to open again.
    pub fn flow_url(&self, flow_id: &str) -> Option<Url> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.values().find(|f| f.flow_id == flow_id).map(|f| f.url.clone())
    }

    /// Opens a pending flow's authorization URL in the browser again.
    pub fn reopen(&self, flow_id: &str) -> Result<(), AuthError> {
        let url = self.flow_url(flow_id).ok_or(CallbackError::UnknownState)?;
        self.browser.open(&url).map_err(|e| AuthError::Network(format!("the browser did not open: {e}")))
    }

    /// The sign-ins in progress, as (flow id, provider).
    pub fn pending_flows(&self) -> Vec<(String, ProviderId)> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.values().filter(|f| f.expires > Utc::now()).map(|f| (f.flow_id.clone(), f.provider.clone())).collect()
    }

    /// Expired flows are kept for one more lifetime, so that a late callback hears "expired"
    /// rather than "unknown"; then they are forgotten.
    fn forget_stale(&self, pending: &mut HashMap<String, PendingFlow>) {
        let now = Utc::now();
        let ttl = self.flow_lifetime();
        pending.retain(|_, flow| flow.expires + ttl > now);
    }

    /// Completes a sign-in from the callback URL the browser was redirected to. The callback
    /// is checked before any request is made: the pending flow is taken out once, the code is
    /// exchanged only at the flow's provider with its verifier and exact redirect URI, then
    /// the nickname is asked for and the tokens go to the keychain.
    #[instrument(skip_all, fields(provider, flow))]
    pub async fn complete(&self, callback_url: &str) -> Result<Connection, AuthError> {
        let mut flow_provider = None;
        let result = self.complete_inner(callback_url, &mut flow_provider).await;
        if let Some(provider) = &flow_provider {
            // A real flow ended, well or badly: the window shows which.
            self.set_error(provider, result.as_ref().err());
        }
        if let Err(e) = &result {
            warn!(url = %redact_for_log(callback_url), error = %e, "callback refused");
        }
        result
    }

    async fn complete_inner(
        &self,
        callback_url: &str,
        flow_provider: &mut Option<ProviderId>,
    ) -> Result<Connection, AuthError> {
        let callback = redirect::parse_callback(callback_url)?;
        Span::current().record("provider", callback.provider.as_str());
        let provider = self.provider(&callback.provider).ok_or(CallbackError::UnknownProvider)?;

        let flow = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.remove(&callback.state).ok_or(CallbackError::UnknownState)?
        };
        Span::current().record("flow", flow.flow_id.as_str());
        *flow_provider = Some(flow.provider.clone());
        // Used once, even if the app stops before the exchange ends.
        self.persist_pending().await;
        if Utc::now() >= flow.expires {
            return Err(CallbackError::Expired.into());
        }
        if flow.provider != callback.provider
            || redirect::redirect_base(&flow.redirect_uri).as_deref() != Some(callback.redirect.as_str())
        {
            return Err(CallbackError::ProviderMismatch.into());
        }
        match (&callback.iss, provider.issuer()) {
            (Some(iss), Some(expected)) if iss != expected => return Err(CallbackError::IssuerMismatch.into()),
            (None, Some(_)) if provider.requires_iss() => return Err(CallbackError::MissingIssuer.into()),
            _ => {}
        }
        let code = match callback.outcome {
            Outcome::Code(code) => code,
            Outcome::Error { error, description } => {
                return Err(AuthError::ProviderRefused { error, description });
            }
        };

        let tokens = provider.exchange(&code, &flow.redirect_uri, flow.verifier).await?;
        super::failpoint("connect-after-exchange");
        let named = match tokens.account.clone() {
            Some(name) => Ok(name),
            None => provider.get_nickname(&tokens.access_token).await,
        };
        let nickname = match named {
            Ok(nickname) => nickname,
            Err(e) => {
                self.abandon(&*provider, &tokens).await;
                return Err(e);
            }
        };

        // The same account connected again (a reconnect) keeps its connection and its id.
        let id = {
            let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.find(|c| c.provider == callback.provider && c.nickname == nickname)
        }
        .unwrap_or_else(|| ConnectionId::generate(&callback.provider));
        // A reconnect replaces the tokens of a connection that a refresh (here or in another
        // process) may be about to write back: wait for it, as disconnect does.
        let gate = self.gate(&id);
        let _in_process = gate.lock().await;
        let _across_processes = match self.lock_file(&id).await {
            Ok(lock) => lock,
            Err(e) => {
                self.abandon(&*provider, &tokens).await;
                return Err(e);
            }
        };
        let connection = Connection {
            id: id.clone(),
            provider: callback.provider.clone(),
            nickname,
            connected_at: self.clock.now(),
            expires_at: expires_at(self.clock.now(), &tokens),
            scopes: tokens.scope_list(),
            status: ConnectionStatus::Connected,
            last_refreshed: None,
            lifetime_secs: tokens.expires_in,
        };
        let secrets =
            Secrets { access_token: tokens.access_token.clone(), refresh_token: tokens.refresh_token.clone() };
        if let Err(e) = self.vault.store(&id, &secrets).await {
            self.abandon(&*provider, &tokens).await;
            return Err(e);
        }
        super::failpoint("connect-after-keychain-write");
        let saved = {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.upsert(connection.clone())
        };
        if let Err(e) = saved {
            if let Err(cleanup) = self.vault.delete(&id).await {
                warn!(error = %cleanup, "could not remove the tokens of a connection that was not saved");
            }
            self.abandon(&*provider, &tokens).await;
            return Err(e);
        }
        info!(connection = %id, "connected");
        self.roster_changed();
        Ok(connection)
    }

    /// Tokens obtained for a connection that could not be completed are revoked, so that no
    /// grant is left that nobody holds.
    async fn abandon(&self, provider: &dyn AuthProvider, tokens: &TokenResponse) {
        match provider.revoke(&tokens.access_token).await {
            Ok(_) => info!("tokens of the unfinished connection revoked"),
            Err(e) => warn!(error = %e, "could not revoke the tokens of the unfinished connection"),
        }
    }

    /// Disconnects: revokes at the provider where it can, then always deletes the local secrets
    /// and the connection, even when revocation fails. Returns whether the provider confirmed the
    /// revocation (or there was nothing to revoke), so that the person can be told to revoke
    /// access there when it did not.
    #[instrument(skip_all, fields(connection = %id))]
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<bool, AuthError> {
        // A refresh in flight (here or in another process) finishes first, so that it cannot
        // write tokens back after they are deleted.
        let gate = self.gate(id);
        let _in_process = gate.lock().await;
        let _across_processes = self.lock_file(id).await?;
        {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.reload()?;
        }
        let connection = self.connection(id).ok_or_else(|| AuthError::UnknownConnection(id.to_string()))?;
        let secrets = self.vault.load(id).await?;
        let revoked = match (self.provider(&connection.provider), secrets) {
            (Some(provider), Some(secrets)) => match provider.revoke(&secrets.access_token).await {
                Ok(true) => {
                    info!("revoked at the provider");
                    true
                }
                Ok(false) => {
                    warn!("the provider did not confirm revocation; deleting locally anyway");
                    false
                }
                Err(e) => {
                    warn!(error = %e, "revocation failed; deleting locally anyway");
                    false
                }
            },
            (None, _) => {
                warn!(provider = %connection.provider, "provider unknown; deleting locally only");
                false
            }
            (_, None) => {
                warn!("the keychain held no tokens for this connection");
                true
            }
        };
        self.vault.delete(id).await?;
        {
            let mut metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            metadata.remove(id)?;
        }
        self.gates.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        info!(revoked, "disconnected");
        self.roster_changed();
        Ok(revoked)
    }

    /// Every connection, without secrets.
    pub fn list(&self) -> Vec<Connection> {
        let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        metadata.list()
    }

    pub fn connection(&self, id: &ConnectionId) -> Option<Connection> {
        let metadata = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        metadata.get(id).cloned()
    }
}

/// The redirect URI a person registers at the provider for `kind`.
fn registration(kind: RedirectKind, provider: &ProviderId) -> String {
    match kind {
        RedirectKind::PrivateUse => redirect::redirect_uri(provider),
        RedirectKind::Loopback => redirect::loopback_registration(provider),
    }
}

fn expires_at(now: DateTime<Utc>, tokens: &TokenResponse) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(tokens.expires_in?).ok()?;
    now.checked_add_signed(chrono::Duration::seconds(secs))
}
