//! The end of every sign-in, a callback's code exchanged or a device code approved: the account
//! named, the connection's lock taken, the tokens in the keychain and its facts saved, a replaced
//! grant revoked where that is safe; tokens that cannot be kept revoked.

use super::*;

impl ConnectionManager {
    /// The end of every sign-in (a callback's code exchanged, or a device code approved): the
    /// account named, the connection's lock taken, the tokens in the keychain and its facts saved;
    /// a replaced grant revoked where that is safe. Tokens that cannot be kept are revoked.
    pub(super) async fn keep_sign_in(
        &self,
        provider: Arc<dyn AuthProvider>,
        provider_id: &ProviderId,
        tokens: TokenResponse,
    ) -> Result<Connection, AuthError> {
        let named = match tokens.account.clone() {
            Some(name) => Ok((name, None)),
            None => provider.get_account(&tokens.access_token).await,
        };
        let (nickname, account_id) = match named {
            Ok(named) => named,
            Err(e) => {
                self.abandon(&*provider, &tokens).await;
                return Err(e);
            }
        };

        // The same account connected again (a reconnect) keeps its connection and its id.
        let id = self
            .store
            .find_account(provider_id, account_id.as_deref(), &nickname)
            .unwrap_or_else(|| ConnectionId::generate(provider_id));
        // A reconnect replaces the tokens of a connection that a refresh (here or in another
        // process) may be about to write back: wait for it, as disconnect does.
        let _held = match self.store.lock(&id).await {
            Ok(held) => held,
            Err(e) => {
                self.abandon(&*provider, &tokens).await;
                return Err(e);
            }
        };
        let first_write = self.store.get(&id).is_none();
        // The tokens a reconnect replaces: put back if the new ones cannot be saved, revoked
        // once they are (where that leaves the new grant alone).
        let replaced = if first_write { None } else { self.store.vault().load(&id).await.ok().flatten() };
        let mut secrets =
            Secrets { access_token: tokens.access_token.clone(), refresh_token: tokens.refresh_token.clone() };
        // A provider that gives a refresh token only at the first consent (Google) answers a
        // reconnect without one; where grants are not separate the earlier one still serves.
        if secrets.refresh_token.is_none() && !provider.revokes_replaced_grant() {
            secrets.refresh_token = replaced.as_ref().and_then(|r| r.refresh_token.clone());
        }
        let connection = Connection {
            id: id.clone(),
            provider: provider_id.clone(),
            nickname,
            connected_at: self.store.clock().now(),
            expires_at: expires_at(self.store.clock().now(), &tokens),
            scopes: tokens.scope_list(),
            status: ConnectionStatus::Connected,
            last_refreshed: None,
            lifetime_secs: tokens.expires_in,
            renewable: secrets.refresh_token.is_some(),
            authority: provider.grant_authority(),
            account_id,
        };
        if !connection.renewable {
            warn!(provider = %provider_id, "the sign-in brought no refresh token: the connection ends with its access token");
        }
        if first_write {
            if let Err(e) = self.store.note_first_write(&id) {
                self.abandon(&*provider, &tokens).await;
                return Err(e);
            }
        }
        if let Err(e) = self.store.vault().store(&id, &secrets).await {
            if first_write {
                self.store.first_write_done(&id);
            }
            self.abandon(&*provider, &tokens).await;
            return Err(e);
        }
        crate::failpoint("connect-after-keychain-write");
        if let Err(e) = self.store.upsert(connection.clone()) {
            let cleanup = match &replaced {
                // A reconnect that could not be saved: the connection keeps its earlier tokens.
                Some(earlier) => self.store.vault().store(&id, earlier).await,
                None => self.store.vault().delete(&id).await,
            };
            match cleanup {
                // Gone: nothing for the next start's sweep to do.
                Ok(()) if first_write => self.store.first_write_done(&id),
                Ok(()) => {}
                // Still in the keychain: the journal keeps it for the next start's sweep.
                Err(cleanup) => {
                    warn!(error = %cleanup, "could not undo the tokens of a connection that was not saved")
                }
            }
            self.abandon(&*provider, &tokens).await;
            return Err(e);
        }
        info!(connection = %id, "connected");
        // The window is told first: the journal's entry only matters to a restart's sweep.
        self.store.signals().roster_changed();
        if first_write {
            self.store.first_write_done(&id);
        }
        let secret_of = |t: Option<&oauth2::RefreshToken>| t.map(|t| t.secret().clone());
        let separate = |e: &Secrets| {
            e.access_token.secret() != secrets.access_token.secret()
                && secret_of(e.refresh_token.as_ref()) != secret_of(secrets.refresh_token.as_ref())
        };
        if let Some(earlier) = replaced.filter(separate) {
            if provider.revokes_replaced_grant() {
                let revocation = provider.revoke_grant(&earlier.access_token, earlier.refresh_token.as_ref()).await;
                info!(?revocation, "the grant this sign-in replaced was revoked");
            }
        }
        Ok(connection)
    }

    /// Tokens obtained for a connection that could not be completed are revoked, so that no
    /// grant is left that nobody holds.
    pub(super) async fn abandon(&self, provider: &dyn AuthProvider, tokens: &TokenResponse) {
        match provider.revoke(&tokens.access_token).await {
            Ok(_) => info!("tokens of the unfinished connection revoked"),
            Err(e) => warn!(error = %e, "could not revoke the tokens of the unfinished connection"),
        }
    }
}

fn expires_at(now: DateTime<Utc>, tokens: &TokenResponse) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(tokens.expires_in?).ok()?;
    now.checked_add_signed(chrono::Duration::seconds(secs))
}
