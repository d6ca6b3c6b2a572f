//! Sign-in and disconnect: starts flows, completes them from the callback, ends connections;
//! the one type the app, the command line and the tests drive, built from the parts it
//! coordinates (providers, pending flows, kept connections, the view).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::{AccessToken, CsrfToken, PkceCodeChallenge};
use serde::Serialize;
use tracing::{info, instrument, warn, Span};
use url::Url;

use super::clock::{Clock, SystemClock};
use super::connections::Connections;
use super::flows::{PendingFlow, PendingFlows};
use super::loopback::CompletesSignIn;
use super::metadata::MetadataStore;
use super::provider::{RedirectKind, Revocation};
use super::redirect::{self, redact_for_log};
use super::refresh::{self, Want};
use super::registry::ProviderRegistry;
use super::signals::CoreEvent;
use super::vault::{Secrets, Vault};
use super::view::{Snapshot, View, ViewInput};
use super::{AuthError, AuthProvider, CallbackError, ConnectionId, FlowId, ProviderId, TokenResponse};

pub use super::connection::{Connection, ConnectionStatus};

mod code;
mod keep;

/// How long a sign-in may take before its state is refused.
pub const DEFAULT_FLOW_TTL: Duration = Duration::from_secs(10 * 60);

/// The seam through which the authorization URL reaches a browser: the app passes the system
/// browser, tests pass a recorder.
pub trait Browser: Send + Sync {
    fn open(&self, url: &Url) -> Result<(), String>;
}

/// A sign-in that was started: the URL opened in the browser (also shown so a person can copy
/// it) and the id that cancels it.
#[derive(Clone, Debug, Serialize)]
pub struct PendingConnect {
    pub flow_id: FlowId,
    pub provider: ProviderId,
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

pub struct ConnectionManager {
    providers: ProviderRegistry,
    flows: PendingFlows,
    store: Connections,
    view: View,
    browser: Arc<dyn Browser>,
    /// Sign-ins with a code in progress (the window shows their codes).
    codes: std::sync::Mutex<std::collections::HashMap<FlowId, CodeSignIn>>,
}

/// A sign-in with a code the window shows: the code, where to enter it, until when.
#[derive(Clone)]
struct CodeSignIn {
    provider: ProviderId,
    user_code: String,
    verification_uri: Url,
    complete: Option<Url>,
    expires_at: DateTime<Utc>,
    cancelled: Arc<std::sync::atomic::AtomicBool>,
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
            providers: ProviderRegistry::default(),
            flows: PendingFlows::new(vault.clone(), &options.data_dir, options.flow_ttl, options.clock.clone()),
            store: Connections::new(vault, metadata, options.data_dir, options.clock),
            view: View::default(),
            browser,
            codes: std::sync::Mutex::default(),
        }
    }

    /// The manager's wall clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.store.clock().clone()
    }

    /// Events the person should hear about (notifications).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<CoreEvent> {
        self.store.signals().events()
    }

    /// A receiver that wakes whenever what [`ConnectionManager::snapshot`] shows has changed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.signals().changes()
    }

    /// Adds a provider, replacing one of the same name.
    pub fn add_provider(&self, provider: Arc<dyn AuthProvider>) {
        self.providers.insert(provider);
        self.store.signals().changed();
    }

    /// Removes a provider from the list; its connections stay (and show again when it returns).
    pub fn remove_provider(&self, id: &ProviderId) {
        self.providers.remove(id);
        self.store.signals().changed();
    }

    pub fn providers(&self) -> Vec<Arc<dyn AuthProvider>> {
        self.providers.all()
    }

    pub fn provider(&self, id: &ProviderId) -> Option<Arc<dyn AuthProvider>> {
        self.providers.get(id)
    }

    pub fn vault(&self) -> &Vault {
        self.store.vault()
    }

    /// The directory of the app's non-secret data.
    pub fn data_dir(&self) -> &std::path::Path {
        self.store.data_dir()
    }

    /// What the window shows: every provider with its state, flows and connections.
    pub fn snapshot(&self) -> Snapshot {
        self.view.snapshot(ViewInput {
            providers: self.providers.all(),
            flows: self.flows.active(),
            codes: crate::sync::lock(&self.codes)
                .iter()
                .map(|(id, c)| crate::view::CodeState {
                    flow_id: id.clone(),
                    provider: c.provider.clone(),
                    user_code: c.user_code.clone(),
                    verification_uri: c.verification_uri.to_string(),
                    expires_at: c.expires_at,
                })
                .collect(),
            connections: self.store.list(),
            refreshing: self.store.refreshing(),
        })
    }

    /// Forgets the last error shown for a provider.
    pub fn dismiss_error(&self, provider: &ProviderId) {
        if self.view.dismiss(provider) {
            self.store.signals().changed();
        }
    }

    fn set_error(&self, provider: &ProviderId, error: Option<&AuthError>) {
        self.view.set_error(provider, error);
        self.store.signals().changed();
    }

    /// Removes tokens the keychain holds for connections that were never saved (see
    /// [`Connections::sweep_orphans`]).
    pub async fn sweep_orphans(&self) -> Result<usize, AuthError> {
        self.store.sweep_orphans().await
    }

    /// Brings back the sign-ins pending when the app last stopped.
    pub async fn restore_pending(&self) -> Result<usize, AuthError> {
        let restored = self.flows.restore().await?;
        self.store.signals().changed();
        Ok(restored)
    }

    /// Starts a sign-in: a fresh state (256 random bits) and PKCE verifier, remembered with the
    /// provider and the exact redirect URI for the flow's lifetime; then opens the browser.
    #[instrument(skip_all, fields(provider = %provider))]
    pub async fn connect(self: &Arc<Self>, provider: &ProviderId) -> Result<PendingConnect, AuthError> {
        let result = self.start_flow(provider).await;
        match &result {
            Ok(_) => {
                self.set_error(provider, None);
                self.flows.persist().await;
            }
            Err(e @ AuthError::UnknownProvider(_)) => warn!(error = %e, "cannot connect"),
            Err(e) => self.set_error(provider, Some(e)),
        }
        result
    }

    async fn start_flow(self: &Arc<Self>, provider: &ProviderId) -> Result<PendingConnect, AuthError> {
        let p = self.providers.get(provider).ok_or_else(|| AuthError::UnknownProvider(provider.to_string()))?;
        p.check_configured()?;
        if p.code_only() {
            return Err(AuthError::Invalid(format!(
                "{} signs in with a code only: use \"Sign in with a code\" (latchkey connect {provider} --device)",
                p.display_name()
            )));
        }

        let state = CsrfToken::new_random_len(32);
        let (challenge, verifier) = if p.uses_pkce() {
            let (c, v) = PkceCodeChallenge::new_random_sha256();
            (Some(c), Some(v))
        } else {
            (None, None)
        };
        let shape = p.redirect_shape();
        let (redirect_uri, listener) = match p.redirect_kind() {
            RedirectKind::PrivateUse => (redirect::private_use_uri(provider, shape), None),
            RedirectKind::Loopback => {
                let listener = super::loopback::bind()
                    .await
                    .map_err(|e| AuthError::Network(format!("cannot listen on 127.0.0.1 for the sign-in: {e}")))?;
                let port = listener.local_addr().map_err(|e| AuthError::Network(e.to_string()))?.port();
                (redirect::loopback_uri_shaped(port, provider, shape), Some(listener))
            }
        };
        let url = p.get_url(&redirect_uri, state.secret(), challenge.as_ref())?;
        let loopback = listener.map(|l| {
            let path = format!("{}{provider}", redirect::CALLBACK_PATH);
            let this: Arc<dyn CompletesSignIn> = self.clone();
            super::loopback::serve(
                l,
                shape.loopback_host(),
                path,
                state.secret().clone(),
                self.flows.ttl(),
                Arc::downgrade(&this),
            )
        });
        let (flow_id, expires_at) = self.flows.next();
        let flow = PendingFlow {
            flow_id: flow_id.clone(),
            provider: provider.clone(),
            verifier,
            redirect_uri,
            url: url.clone(),
            expires: expires_at,
            loopback,
        };
        self.flows.insert(state.secret().clone(), flow);
        info!(flow = %flow_id, "sign-in started");
        if self.browser.open(&url).is_err() {
            // The flow stays: the window offers the link to copy. The opener's error is not
            // logged: it carries the whole authorization URL (state, code challenge).
            warn!(flow = %flow_id, "the browser did not open; the window offers the link to copy");
        }
        Ok(PendingConnect { flow_id, provider: provider.clone(), url, expires_at })
    }

    /// Cancels a sign-in in progress; its callback will be refused. False if there was none.
    pub async fn cancel(&self, flow_id: &FlowId) -> bool {
        if let Some(code) = crate::sync::lock(&self.codes).remove(flow_id) {
            // Its poller sees this before its next poll and stops.
            code.cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
            info!(flow = %flow_id, "sign-in with a code cancelled");
            self.store.signals().changed();
            return true;
        }
        let cancelled = self.flows.cancel(flow_id);
        if cancelled {
            info!(flow = %flow_id, "sign-in cancelled");
            self.flows.persist().await;
            self.store.signals().changed();
        }
        cancelled
    }

    /// Opens a pending flow's authorization URL in the browser again.
    pub fn reopen(&self, flow_id: &FlowId) -> Result<(), AuthError> {
        let code_page = crate::sync::lock(&self.codes)
            .get(flow_id)
            .map(|c| c.complete.clone().unwrap_or(c.verification_uri.clone()));
        let url = match code_page {
            Some(page) => page,
            None => self.flows.url(flow_id).ok_or(CallbackError::UnknownState)?,
        };
        self.browser.open(&url).map_err(|e| AuthError::Network(format!("the browser did not open: {e}")))
    }

    /// The sign-ins in progress, as (flow id, provider).
    pub fn pending_flows(&self) -> Vec<(FlowId, ProviderId)> {
        self.flows.active().into_iter().map(|(id, provider, _, _)| (id, provider)).collect()
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
        let provider = self.providers.get(&callback.provider).ok_or(CallbackError::UnknownProvider)?;

        let flow = self.flows.take(&callback.state).ok_or(CallbackError::UnknownState)?;
        Span::current().record("flow", flow.flow_id.as_str());
        *flow_provider = Some(flow.provider.clone());
        // Used once, even if the app stops before the exchange ends: noted before any request;
        // the keychain's copy of the pending flows is rewritten once the sign-in has ended.
        let noted = self.flows.note_used(&flow);
        if !noted {
            self.flows.persist().await;
        }
        let result = async {
            let code = self.flows.check(&flow, callback, &*provider)?;
            let tokens = provider.exchange(&code, &flow.redirect_uri, flow.verifier).await?;
            super::failpoint("connect-after-exchange");
            self.keep_sign_in(provider, &flow.provider, tokens).await
        }
        .await;
        if noted {
            self.flows.persist().await;
        }
        result
    }

    /// Reads the connections file again: another process (the command line) changed it.
    pub fn reload(&self) -> Result<(), AuthError> {
        self.store.reload_all()?;
        self.store.signals().roster_changed();
        Ok(())
    }

    /// Disconnects: revokes at the provider where it can, then always deletes the local secrets
    /// and the connection, even when revocation fails. Returns whether the provider confirmed the
    /// revocation (or there was nothing to revoke), so that the person can be told to revoke
    /// access there when it did not.
    #[instrument(skip_all, fields(connection = %id))]
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<Revocation, AuthError> {
        // A refresh in flight (here or in another process) finishes first, so that it cannot
        // write tokens back after they are deleted.
        let _held = self.store.lock(id).await?;
        let connection = self.store.reload(id)?.ok_or_else(|| AuthError::UnknownConnection(id.to_string()))?;
        let secrets = self.store.vault().load(id).await?;
        let revocation = match (self.providers.get(&connection.provider), secrets) {
            (Some(provider), Some(_)) if !crate::connection::same_authority(&connection, &*provider) => {
                // Its tokens go nowhere but where they came from.
                warn!(provider = %connection.provider, "the provider answers to another authority than at sign-in; not revoking there");
                Revocation::NotConfirmed
            }
            (Some(provider), Some(secrets)) => {
                provider.revoke_grant(&secrets.access_token, secrets.refresh_token.as_ref()).await
            }
            (None, _) => {
                warn!(provider = %connection.provider, "provider unknown; deleting locally only");
                Revocation::NotConfirmed
            }
            (_, None) => {
                warn!("the keychain held no tokens for this connection");
                Revocation::NotConfirmed
            }
        };
        match revocation {
            Revocation::Revoked => info!("revoked at the provider"),
            Revocation::NotConfirmed => warn!("the provider did not confirm revocation; deleting locally anyway"),
            Revocation::NotSupported => info!("the provider has no revocation endpoint; deleting locally"),
        }
        self.store.vault().delete(id).await?;
        self.store.remove(id)?;
        info!(?revocation, "disconnected");
        self.store.signals().roster_changed();
        Ok(revocation)
    }

    /// A usable access token for `id`, refreshed first when it is near expiry (single-flight in
    /// and across processes; see [`refresh::access_token`]).
    pub async fn access_token(&self, id: &ConnectionId, want: Want) -> Result<AccessToken, AuthError> {
        refresh::access_token(&self.store, &self.providers, id, want).await
    }

    /// The kept connections, for the scheduler's deadlines.
    pub fn connections(&self) -> &Connections {
        &self.store
    }

    /// Every connection, without secrets.
    pub fn list(&self) -> Vec<Connection> {
        self.store.list()
    }

    pub fn connection(&self, id: &ConnectionId) -> Option<Connection> {
        self.store.get(id)
    }
}

#[async_trait::async_trait]
impl CompletesSignIn for ConnectionManager {
    async fn complete_sign_in(&self, callback_url: &str) -> Result<Connection, AuthError> {
        self.complete(callback_url).await
    }
}
