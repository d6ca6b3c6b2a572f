//! The front door: one `Latchkey` that owns the settings, the catalog, the Demo authority, the
//! connection manager and the scheduler, with a method for every action a person or a program
//! takes. The window's commands, the command line and any new interface only forward here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oauth2::AccessToken;
use tokio::sync::{broadcast, watch, Mutex as AsyncMutex};
use tracing::{error, info, warn};
use url::Url;

use crate::demo::{self, DemoAuthority, DemoOptions};

use crate::description::ProviderSpec;
use crate::http::HttpClient;
use crate::manager::{Browser, ConnectionManager, ManagerOptions, PendingConnect};
use crate::provider::RedirectKind;
use crate::redirect::APP_IDENTIFIER;
use crate::refresh::Want;
use crate::scheduler::Scheduler;
use crate::settings::{self, ClientSettings, Settings, SettingsStore};
use crate::signals::CoreEvent;
use crate::view::Snapshot;
use crate::{catalog, discovery, AuthError, Connection, ConnectionId, ConnectionStatus, FlowId, ProviderId};

mod providers;

/// Where Latchkey keeps things and how it opens the browser.
pub struct Options {
    /// Non-secret data: `connections.json`, lock files, the Demo's grant book.
    pub data_dir: PathBuf,
    /// The person's settings: `settings.json`.
    pub config_dir: PathBuf,
    /// The keychain service all entries are filed under.
    pub keychain_service: String,
    pub browser: Arc<dyn Browser>,
}

impl Options {
    /// The person's own directories (as Tauri's `app_data_dir` and `app_config_dir` place them)
    /// and keychain.
    pub fn for_user(browser: Arc<dyn Browser>) -> Result<Self, AuthError> {
        let missing = || AuthError::Storage("no home directory to keep Latchkey's data in (HOME unset?)".into());
        Ok(Self {
            data_dir: dirs::data_dir().ok_or_else(missing)?.join(APP_IDENTIFIER),
            config_dir: dirs::config_dir().ok_or_else(missing)?.join(APP_IDENTIFIER),
            keychain_service: APP_IDENTIFIER.to_owned(),
            browser,
        })
    }
}

/// What `status` reports.
pub struct Status {
    /// `Err` with the reason when the keychain cannot be read.
    pub keychain: Result<(), AuthError>,
    pub data_dir: PathBuf,
    pub connections: usize,
    pub needs_reconnect: usize,
}

/// What [`Latchkey::stop`] holds until the process exits.
pub struct Stopped {
    _held: Vec<crate::locks::ConnectionGuard>,
    /// Whether everything in flight finished (rather than being abandoned at the deadline).
    pub finished: bool,
}

/// A provider given by its endpoints, as a person types them.
pub struct Endpoints<'a> {
    pub authorize_url: &'a str,
    pub token_url: &'a str,
    pub userinfo_url: &'a str,
    pub revoke_url: Option<&'a str>,
    pub scopes: &'a str,
}

pub struct Latchkey {
    manager: Arc<ConnectionManager>,
    settings: SettingsStore,
    http: HttpClient,
    demo: AsyncMutex<Option<DemoAuthority>>,
    /// True once pending sign-ins are restored and providers registered: callbacks wait for it.
    ready: watch::Sender<bool>,
}

impl Latchkey {
    pub fn open(options: Options) -> Result<Arc<Self>, AuthError> {
        // What earlier versions (or the default umask) left readable by others.
        crate::files::make_private(&options.data_dir);
        crate::files::make_private(&options.config_dir);
        let manager_options =
            ManagerOptions { keychain_service: options.keychain_service, ..ManagerOptions::new(&options.data_dir) };
        Ok(Arc::new(Self {
            manager: Arc::new(ConnectionManager::new(manager_options, options.browser)?),
            settings: SettingsStore::open(&options.config_dir),
            http: HttpClient::new(Duration::from_secs(30))?,
            demo: AsyncMutex::new(None),
            ready: watch::channel(false).0,
        }))
    }

    /// Start-up of the app: providers, the orphan sweep, pending sign-ins restored (so that a
    /// callback that cold-started the app completes), the Demo provider; then callbacks pass.
    pub async fn start(&self) {
        if let Err(e) = self.load_providers().await {
            error!(error = %e, "the providers could not be loaded");
        }
        match self.manager.sweep_orphans().await {
            Ok(0) => {}
            Ok(n) => info!(count = n, "orphaned tokens removed from the keychain"),
            Err(e) => warn!(error = %e, "the keychain could not be checked for orphaned tokens"),
        }
        match self.manager.restore_pending().await {
            Ok(0) => {}
            Ok(n) => info!(count = n, "pending sign-ins restored"),
            Err(e) => warn!(error = %e, "pending sign-ins could not be restored"),
        }
        if let Err(e) = self.apply_demo(self.demo_wanted()).await {
            warn!(error = %e, "the Demo provider could not start");
        }
        self.ready.send_replace(true);
    }

    /// Start-up of a command that hands out tokens: the providers, and the Demo authority only
    /// when a Demo account is connected (so that its tokens refresh with or without the app).
    pub async fn start_for_tokens(&self) -> Result<(), AuthError> {
        self.load_providers().await?;
        let has_demo = self.manager.list().iter().any(|c| c.provider.as_str() == demo::NAME);
        self.apply_demo(has_demo && self.demo_wanted()).await?;
        self.ready.send_replace(true);
        Ok(())
    }

    /// The background refresher of every connection; run it on the async runtime.
    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.manager.clone())
    }

    /// Wakes whenever what [`Latchkey::snapshot`] shows has changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.manager.subscribe()
    }

    /// Events a person should hear about (notifications).
    pub fn events(&self) -> broadcast::Receiver<CoreEvent> {
        self.manager.events()
    }

    pub fn data_dir(&self) -> &Path {
        self.manager.data_dir()
    }

    /// The name a person reads for a provider ("GitHub"), or its id when it is unknown.
    pub fn provider_name(&self, id: &ProviderId) -> String {
        self.manager.provider(id).map_or_else(|| id.to_string(), |p| p.display_name().to_owned())
    }

    pub fn snapshot(&self) -> Snapshot {
        self.manager.snapshot()
    }

    pub fn list(&self) -> Vec<Connection> {
        self.manager.list()
    }

    pub async fn connect(&self, provider: &str) -> Result<PendingConnect, AuthError> {
        self.manager.connect(&provider_id(provider)?).await
    }

    /// Completes a sign-in from its callback (a deep link), once start-up has finished.
    pub async fn complete(&self, callback: &str) -> Result<Connection, AuthError> {
        let mut ready = self.ready.subscribe();
        if ready.wait_for(|r| *r).await.is_err() {
            return Err(AuthError::Stopping);
        }
        self.manager.complete(callback).await
    }

    /// Starts a sign-in with a code from the window: the snapshot shows the code until the
    /// person has entered it (or cancels, or it expires); the connection then appears.
    pub async fn connect_with_code(&self, provider: &str) -> Result<FlowId, AuthError> {
        self.manager.connect_with_code(&provider_id(provider)?).await
    }

    /// Starts a sign-in with a code (RFC 8628) at a provider that offers it.
    pub async fn start_sign_in_with_code(&self, provider: &str) -> Result<crate::device::DeviceCode, AuthError> {
        if provider == demo::NAME {
            // The command line runs the Demo authority only for a connected Demo account.
            self.apply_demo(self.demo_wanted()).await?;
        }
        self.manager.start_device(&provider_id(provider)?).await
    }

    /// Waits for the person to enter the code, then keeps the connection.
    pub async fn finish_sign_in_with_code(
        &self,
        provider: &str,
        code: &crate::device::DeviceCode,
        cancelled: impl Fn() -> bool,
    ) -> Result<Connection, AuthError> {
        self.manager.finish_device(&provider_id(provider)?, code, cancelled).await
    }

    /// Takes in what another process (the command line) changed in the connections.
    pub fn reload(&self) -> Result<(), AuthError> {
        self.manager.reload()
    }

    pub async fn cancel(&self, flow_id: &str) -> Result<bool, AuthError> {
        Ok(self.manager.cancel(&FlowId::parse(flow_id).map_err(AuthError::Invalid)?).await)
    }

    /// Opens a sign-in's page in the browser again.
    pub fn reopen(&self, flow_id: &str) -> Result<(), AuthError> {
        self.manager.reopen(&FlowId::parse(flow_id).map_err(AuthError::Invalid)?)
    }

    /// What the provider said of the grant; the connection is gone either way.
    pub async fn disconnect(&self, connection_id: &str) -> Result<crate::provider::Revocation, AuthError> {
        self.manager.disconnect(&ConnectionId::parse(connection_id).map_err(AuthError::Invalid)?).await
    }

    pub fn dismiss_error(&self, provider: &str) -> Result<(), AuthError> {
        self.manager.dismiss_error(&provider_id(provider)?);
        Ok(())
    }

    /// The connection a name stands for: a connection id, or a provider with one connection.
    pub fn find(&self, name: &str) -> Result<Connection, AuthError> {
        crate::connection::named(self.manager.list(), name)
    }

    /// A fresh access token for the connection `name` stands for (see [`Latchkey::find`]),
    /// refreshed first when it is near expiry: single-flight with every other caller.
    pub async fn fresh_token(&self, name: &str) -> Result<(Connection, AccessToken), AuthError> {
        let connection = self.find(name)?;
        let token = self.manager.access_token(&connection.id, Want::Fresh).await?;
        // As it is now: a refresh just now changed its expiry.
        let connection = self.manager.connection(&connection.id).unwrap_or(connection);
        Ok((connection, token))
    }

    /// The git user name and a fresh token for HTTPS at `host` (`host[:port]`, as git names
    /// it): from the connection whose provider signs in at that host (github.com, gitlab.com, a
    /// self-hosted GitLab added by its address). `username`, when git gives one, picks among
    /// several. `None` when no connection serves that host.
    pub async fn git_credential(
        &self,
        host: &str,
        username: Option<&str>,
    ) -> Result<Option<(String, AccessToken)>, AuthError> {
        let mut specs = catalog::parse(catalog::BUILTIN)?;
        specs.extend(self.settings.get().custom.into_values());
        let Some((user, connection)) = crate::git::account_for(&specs, self.manager.list(), host, username)? else {
            return Ok(None);
        };
        let token = self.manager.access_token(&connection.id, Want::Fresh).await?;
        Ok(Some((user, token)))
    }

    pub async fn status(&self) -> Status {
        let connections = self.manager.list();
        Status {
            keychain: self.manager.vault().probe().await,
            data_dir: self.manager.data_dir().to_owned(),
            needs_reconnect: connections.iter().filter(|c| c.status == ConnectionStatus::NeedsReconnect).count(),
            connections: connections.len(),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// Whether Latchkey should start at login: the person's choice, or, until they choose, on
    /// once an account is connected.
    pub fn starts_at_login(&self) -> bool {
        self.settings.get().starts_at_login(!self.manager.list().is_empty())
    }

    pub fn set_start_at_login(&self, enabled: bool) -> Result<Settings, AuthError> {
        self.settings.update(|s| s.start_at_login = Some(enabled))
    }

    /// Records that the person was told that closing the window leaves Latchkey running.
    pub fn background_notice_seen(&self) -> Result<(), AuthError> {
        self.settings.update(|s| s.background_notice_seen = true).map(drop)
    }

    /// Gets ready for the process to end: waits (up to `within`) for every refresh, sign-in
    /// and disconnect in flight to finish writing its tokens, then holds every connection so
    /// that none begins. Keep the answer until the process exits. What has not finished within
    /// the time is abandoned before it wrote anything, so no kept token is lost.
    pub async fn stop(&self, within: Duration) -> Stopped {
        let ids: Vec<ConnectionId> = self.manager.list().into_iter().map(|c| c.id).collect();
        let store = self.manager.connections();
        let hold = async {
            let mut held = Vec::with_capacity(ids.len());
            for id in &ids {
                match store.lock(id).await {
                    Ok(guard) => held.push(guard),
                    Err(e) => warn!(connection = %id, error = %e, "could not wait for the connection at exit"),
                }
            }
            held
        };
        match tokio::time::timeout(within, hold).await {
            Ok(held) => Stopped { _held: held, finished: true },
            Err(_) => {
                warn!(seconds = within.as_secs(), "work on tokens still running at exit was abandoned");
                Stopped { _held: Vec::new(), finished: false }
            }
        }
    }
}

fn provider_id(text: &str) -> Result<ProviderId, AuthError> {
    ProviderId::new(text).map_err(AuthError::Invalid)
}
