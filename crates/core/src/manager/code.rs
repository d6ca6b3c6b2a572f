//! Sign-in with a code (RFC 8628) for the window and the command line: the code shown while
//! Latchkey polls, the connection kept when the person has entered it.

use super::*;

impl ConnectionManager {
    /// Starts a sign-in with a code for the window: the code is shown with its provider (see
    /// [`Snapshot`]) while Latchkey polls in the background; the connection appears when the
    /// person has entered it, and a denial or expiry shows as the provider's error.
    pub async fn connect_with_code(self: &Arc<Self>, provider: &ProviderId) -> Result<FlowId, AuthError> {
        let code = match self.start_device(provider).await {
            Ok(code) => code,
            Err(e) => {
                self.set_error(provider, Some(&e));
                return Err(e);
            }
        };
        self.set_error(provider, None);
        let flow_id = FlowId::generate();
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let expires_at = self.store.clock().now()
            + chrono::Duration::from_std(code.expires_in).unwrap_or_else(|_| chrono::Duration::minutes(10));
        let shown = CodeSignIn {
            provider: provider.clone(),
            user_code: code.user_code.clone(),
            verification_uri: code.verification_uri.clone(),
            complete: code.verification_uri_complete.clone(),
            expires_at,
            cancelled: cancelled.clone(),
        };
        crate::sync::lock(&self.codes).insert(flow_id.clone(), shown);
        self.store.signals().changed();
        let this = self.clone();
        let (id, provider) = (flow_id.clone(), provider.clone());
        tokio::spawn(async move {
            let result =
                this.finish_device(&provider, &code, || cancelled.load(std::sync::atomic::Ordering::SeqCst)).await;
            crate::sync::lock(&this.codes).remove(&id);
            match result {
                Ok(connection) => info!(connection = %connection.id, "signed in with a code"),
                Err(AuthError::Cancelled) => info!("sign-in with a code cancelled"),
                Err(e) => {
                    warn!(error = %e, "sign-in with a code failed");
                    this.view.set_error(&provider, Some(&e));
                }
            }
            this.store.signals().changed();
        });
        Ok(flow_id)
    }

    /// Starts a sign-in with a code (RFC 8628): the code the person enters, and where.
    pub async fn start_device(&self, provider: &ProviderId) -> Result<crate::device::DeviceCode, AuthError> {
        let p = self.providers.get(provider).ok_or_else(|| AuthError::UnknownProvider(provider.to_string()))?;
        p.check_configured()?;
        let code = p.start_device().await?;
        info!(provider = %provider, "sign-in with a code started");
        Ok(code)
    }

    /// Waits until the person has entered `code` (polling as checklist line 25 asks), then keeps
    /// the connection as any sign-in does. `cancelled` is asked before every poll.
    pub async fn finish_device(
        &self,
        provider: &ProviderId,
        code: &crate::device::DeviceCode,
        cancelled: impl Fn() -> bool,
    ) -> Result<Connection, AuthError> {
        let p = self.providers.get(provider).ok_or_else(|| AuthError::UnknownProvider(provider.to_string()))?;
        let tokens = crate::device::wait_for_tokens(&*p, code, tokio::time::sleep, cancelled).await?;
        self.keep_sign_in(p, provider, tokens).await
    }
}
