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

    pub async fn set_demo_enabled(&self, enabled: bool) -> Result<Settings, AuthError> {
        let settings = self.settings.update(|s| s.demo_provider = enabled)?;
        self.apply_demo(self.demo_wanted()).await?;
        Ok(settings)
    }

    /// Saves a client registration typed by a person: the id in the settings file, the secret
    /// (if any) in the keychain only.
    pub async fn save_client(&self, provider: &str, client_id: &str, secret: Option<&str>) -> Result<(), AuthError> {
        let provider = provider_id(provider)?;
        let (client_id, secret) = settings::parse_client(client_id, secret)?;
        let entry = settings::secret_entry(&provider);
        match secret {
            Some(secret) => self.manager.vault().store_raw(&entry, secret.into_bytes()).await?,
            // Saved without a secret: a public client. One saved before must not go out again.
            None => self.manager.vault().delete_raw(&entry).await?,
        }
        self.settings.update(|s| {
            s.clients.insert(provider.clone(), ClientSettings { client_id, scopes: None });
        })?;
        self.load_providers().await?;
        info!(provider = %provider, "client registration saved");
        Ok(())
    }

    /// Forgets a client registration typed by a person (settings and keychain).
    pub async fn forget_client(&self, provider: &str) -> Result<(), AuthError> {
        let provider = provider_id(provider)?;
        self.manager.vault().delete_raw(&settings::secret_entry(&provider)).await?;
        self.settings.update(|s| {
            s.clients.remove(&provider);
        })?;
        self.load_providers().await
    }

    /// Sets the scopes sign-ins to `provider` ask for; an empty text goes back to the
    /// provider's own. Takes effect at the next sign-in.
    pub async fn set_scopes(&self, provider: &str, scopes: &str) -> Result<(), AuthError> {
        let provider = provider_id(provider)?;
        let scopes = settings::parse_scopes(scopes).map_err(AuthError::Invalid)?;
        self.settings.update(|s| {
            if scopes.is_empty() {
                s.scopes.remove(&provider);
            } else {
                s.scopes.insert(provider.clone(), scopes);
            }
        })?;
        self.load_providers().await?;
        info!(provider = %provider, "scopes changed");
        Ok(())
    }

    /// Turns PKCE on or off for a provider the person added (a server that refuses the
    /// `code_challenge` parameter); the catalog's providers keep theirs. From the next sign-in.
    pub async fn set_pkce(&self, provider: &str, enabled: bool) -> Result<(), AuthError> {
        let provider = provider_id(provider)?;
        let mut found = false;
        self.settings.update(|s| {
            if let Some(spec) = s.custom.get_mut(&provider) {
                spec.pkce = if enabled { crate::description::Pkce::S256 } else { crate::description::Pkce::None };
                found = true;
            }
        })?;
        if !found {
            return Err(AuthError::Invalid(format!("only providers you added can have PKCE turned off ({provider})")));
        }
        self.load_providers().await?;
        info!(provider = %provider, enabled, "PKCE changed");
        Ok(())
    }

    /// Chooses the redirect kind of a provider that accepts several. Takes effect at the next
    /// sign-in.
    pub async fn set_redirect(&self, provider: &str, kind: RedirectKind) -> Result<(), AuthError> {
        let id = provider_id(provider)?;
        if !self.manager.provider(&id).is_some_and(|p| p.redirect_choices().contains(&kind)) {
            return Err(AuthError::Invalid(format!("{provider} does not accept that kind of redirect")));
        }
        self.settings.update(|s| {
            s.redirects.insert(id.clone(), kind);
        })?;
        self.load_providers().await?;
        info!(provider = %id, ?kind, "redirect kind chosen");
        Ok(())
    }

    /// Adds a provider by its issuer URL, read through OpenID Connect Discovery (or RFC 8414).
    pub async fn add_provider_by_issuer(&self, name: &str, issuer: &str) -> Result<ProviderId, AuthError> {
        let name = name.trim();
        let id = self.new_provider_id(name)?;
        let issuer = Url::parse(issuer.trim())
            .map_err(|_| AuthError::Invalid("the issuer must be a URL, like https://id.example.com".into()))?;
        let spec = discovery::discover(&self.http, id, name, &issuer).await?;
        self.keep_added(spec).await
    }

    /// Adds a plain OAuth 2 provider by its endpoints.
    pub async fn add_provider_by_endpoints(&self, name: &str, at: Endpoints<'_>) -> Result<ProviderId, AuthError> {
        let name = name.trim();
        let id = self.new_provider_id(name)?;
        let spec = discovery::from_endpoints(
            id,
            name,
            at.authorize_url,
            at.token_url,
            at.userinfo_url,
            at.revoke_url,
            at.scopes,
        )?;
        self.keep_added(spec).await
    }

    /// Removes a provider the person added, once it has no connections.
    pub async fn remove_provider(&self, provider: &str) -> Result<(), AuthError> {
        let provider = provider_id(provider)?;
        if !self.settings.get().custom.contains_key(&provider) {
            return Err(AuthError::Invalid("only providers you added can be removed".into()));
        }
        if self.manager.list().iter().any(|c| c.provider == provider) {
            return Err(AuthError::Invalid("disconnect its accounts first".into()));
        }
        self.manager.vault().delete_raw(&settings::secret_entry(&provider)).await?;
        self.settings.update(|s| {
            s.custom.remove(&provider);
            s.clients.remove(&provider);
        })?;
        self.manager.remove_provider(&provider);
        Ok(())
    }

    /// The catalog's marks (letter and colour) by provider, for the window.
    pub fn marks(&self) -> BTreeMap<String, (String, String)> {
        catalog::marks()
    }

    /// An id for a provider the person adds: never one of the catalog's or the Demo's, whether or
    /// not they are loaded now, nor one already added.
    fn new_provider_id(&self, name: &str) -> Result<ProviderId, AuthError> {
        let mut taken: Vec<ProviderId> = catalog::parse(catalog::BUILTIN)?.into_iter().map(|s| s.id).collect();
        taken.push(demo::id());
        taken.extend(self.settings.get().custom.into_keys());
        taken.extend(self.manager.providers().iter().map(|p| p.name().clone()));
        settings::new_provider_id(name, &taken)
    }

    async fn keep_added(&self, spec: ProviderSpec) -> Result<ProviderId, AuthError> {
        let id = spec.id.clone();
        self.settings.update(|s| {
            s.custom.insert(id.clone(), spec);
        })?;
        self.load_providers().await?;
        info!(provider = %id, "provider added");
        Ok(id)
    }

    /// (Re)builds the providers from the catalog, the settings, the environment and the keychain.
    async fn load_providers(&self) -> Result<(), AuthError> {
        let settings = self.settings.get();
        for provider in catalog::build(&self.http, &settings, self.manager.vault()).await? {
            self.manager.add_provider(provider);
        }
        if let Some(authority) = self.demo.lock().await.as_ref() {
            self.add_demo_provider(authority)?;
        }
        Ok(())
    }

    fn demo_wanted(&self) -> bool {
        !demo::disabled_by_env() && self.settings.get().demo_provider
    }

    /// The Demo provider served by `authority`, with the scopes the person chose.
    fn add_demo_provider(&self, authority: &DemoAuthority) -> Result<(), AuthError> {
        let mut config = demo::config(&authority.base_url());
        if let Some(scopes) = self.settings.get().scopes.get(&config.spec.id) {
            config.spec.scopes = scopes.clone();
        }
        let provider = crate::oauth2_generic::GenericOAuth2Provider::new(config, self.http.clone())?;
        self.manager.add_provider(Arc::new(provider));
        Ok(())
    }

    /// Starts or stops the Demo authority and its provider to match `enabled`.
    async fn apply_demo(&self, enabled: bool) -> Result<(), AuthError> {
        let mut demo = self.demo.lock().await;
        match (enabled, demo.is_some()) {
            (true, false) => {
                let options = DemoOptions::for_app(self.manager.vault(), self.manager.data_dir()).await?;
                let authority = DemoAuthority::start(options)
                    .await
                    .map_err(|e| AuthError::Network(format!("the Demo provider cannot listen: {e}")))?;
                self.add_demo_provider(&authority)?;
                *demo = Some(authority);
            }
            (false, true) => {
                self.manager.remove_provider(&demo::id());
                *demo = None;
            }
            _ => {}
        }
        Ok(())
    }
}

fn provider_id(text: &str) -> Result<ProviderId, AuthError> {
    ProviderId::new(text).map_err(AuthError::Invalid)
}
