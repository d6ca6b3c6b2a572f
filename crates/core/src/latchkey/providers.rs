//! The providers as a person shapes them: the Demo shown or hidden, a client registration saved
//! or forgotten, scopes, PKCE and the redirect kind changed, providers added by their address and
//! removed; and how the catalog, the additions and the Demo are loaded at start.

use super::*;

impl Latchkey {
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
    pub(super) fn new_provider_id(&self, name: &str) -> Result<ProviderId, AuthError> {
        let mut taken: Vec<ProviderId> = catalog::parse(catalog::BUILTIN)?.into_iter().map(|s| s.id).collect();
        taken.push(demo::id());
        taken.extend(self.settings.get().custom.into_keys());
        taken.extend(self.manager.providers().iter().map(|p| p.name().clone()));
        settings::new_provider_id(name, &taken)
    }

    pub(super) async fn keep_added(&self, spec: ProviderSpec) -> Result<ProviderId, AuthError> {
        let id = spec.id.clone();
        self.settings.update(|s| {
            s.custom.insert(id.clone(), spec);
        })?;
        self.load_providers().await?;
        info!(provider = %id, "provider added");
        Ok(id)
    }

    /// (Re)builds the providers from the catalog, the settings, the environment and the keychain.
    pub(super) async fn load_providers(&self) -> Result<(), AuthError> {
        let settings = self.settings.get();
        for provider in catalog::build(&self.http, &settings, self.manager.vault()).await? {
            self.manager.add_provider(provider);
        }
        if let Some(authority) = self.demo.lock().await.as_ref() {
            self.add_demo_provider(authority)?;
        }
        Ok(())
    }

    pub(super) fn demo_wanted(&self) -> bool {
        !demo::disabled_by_env() && self.settings.get().demo_provider
    }

    /// The Demo provider served by `authority`, with the scopes the person chose.
    pub(super) fn add_demo_provider(&self, authority: &DemoAuthority) -> Result<(), AuthError> {
        let mut config = demo::config(&authority.base_url());
        if let Some(scopes) = self.settings.get().scopes.get(&config.spec.id) {
            config.spec.scopes = scopes.clone();
        }
        let provider = crate::oauth2_generic::GenericOAuth2Provider::new(config, self.http.clone())?;
        self.manager.add_provider(Arc::new(provider));
        Ok(())
    }

    /// Starts or stops the Demo authority and its provider to match `enabled`.
    pub(super) async fn apply_demo(&self, enabled: bool) -> Result<(), AuthError> {
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
