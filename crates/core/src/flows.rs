//! Pending sign-ins: what is remembered of each between opening the browser and its callback
//! (state, PKCE verifier, exact redirect URI), taken out once, expired by the core's clock and
//! kept in the keychain so that a callback that starts Latchkey after a restart still completes.
//!
//! A flow is used once, across restarts too (checklist line 6): before its code is exchanged its
//! id goes into a small file ([`USED_FILE`]: flow ids and times, nothing secret), which a restart
//! reads before it brings flows back from the keychain. The keychain's copy is rewritten after
//! the exchange, off the sign-in's path (a keychain write takes 5 to 10 ms, the file 1 to 2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::PkceCodeVerifier;
use serde::{Deserialize, Serialize};
use tracing::warn;
use url::Url;

use super::clock::Clock;
use super::files::LockedJson;
use super::redirect::{self, Callback, Outcome};
use super::sync::lock;
use super::vault::Vault;
use super::{AuthError, AuthProvider, CallbackError, FlowId, ProviderId};

/// The keychain entry (user name) under which pending flows are kept.
pub const PENDING_ENTRY: &str = "pending-sign-ins";

/// What is remembered of a sign-in until its callback. Not `Clone`: it is taken out once.
pub struct PendingFlow {
    pub flow_id: FlowId,
    pub provider: ProviderId,
    pub verifier: Option<PkceCodeVerifier>,
    pub redirect_uri: String,
    pub url: Url,
    pub expires: DateTime<Utc>,
    /// The one-shot listener of a loopback redirect; dropping it closes the port.
    pub loopback: Option<super::loopback::Guard>,
}

/// The file, in the data directory, naming the flows taken out for their callback.
pub const USED_FILE: &str = "used-sign-ins.json";

/// A flow taken out, until it would have expired anyway.
#[derive(Serialize, Deserialize)]
struct UsedFlow {
    flow_id: FlowId,
    expires: DateTime<Utc>,
}

/// A pending flow as kept in the keychain. The verifier is a secret: keychain only.
#[derive(Serialize, Deserialize)]
struct StoredFlow {
    state: String,
    flow_id: FlowId,
    provider: ProviderId,
    verifier: Option<String>,
    redirect_uri: String,
    url: Url,
    expires: DateTime<Utc>,
}

pub struct PendingFlows {
    /// By state.
    flows: Mutex<HashMap<String, PendingFlow>>,
    /// Serialises writes of the pending flows to the keychain, so the last write wins.
    writes: tokio::sync::Mutex<()>,
    vault: Vault,
    /// The flows used (none where the vault is in memory: nothing outlives the process).
    used: Option<LockedJson<Vec<UsedFlow>>>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl PendingFlows {
    pub fn new(vault: Vault, data_dir: &std::path::Path, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let used = (!vault.is_in_memory()).then(|| LockedJson::new(data_dir.join(USED_FILE)));
        Self { flows: Mutex::default(), writes: tokio::sync::Mutex::new(()), vault, used, ttl, clock }
    }

    /// How long a sign-in may take.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::minutes(10))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new flow id, and when a flow started now expires.
    pub fn next(&self) -> (FlowId, DateTime<Utc>) {
        (FlowId::generate(), self.now() + self.lifetime())
    }

    /// Remembers a flow under its state.
    pub fn insert(&self, state: String, flow: PendingFlow) {
        let now = self.now();
        let ttl = self.lifetime();
        let mut flows = lock(&self.flows);
        // Expired flows are kept for one more lifetime, so that a late callback hears
        // "expired" rather than "unknown"; then they are forgotten.
        flows.retain(|_, flow| flow.expires + ttl > now);
        flows.insert(state, flow);
    }

    /// Takes the flow of `state` out, once.
    pub fn take(&self, state: &str) -> Option<PendingFlow> {
        lock(&self.flows).remove(state)
    }

    /// Notes that `flow` was taken out, so that no restart brings it back; expired notes are
    /// dropped. False when the note could not be written: the caller then rewrites the
    /// keychain's copy before it goes on (see [`PendingFlows::persist`]).
    pub fn note_used(&self, flow: &PendingFlow) -> bool {
        let Some(used) = &self.used else { return true };
        let now = self.now();
        let noted = used.update(|list| {
            list.retain(|u| u.expires > now);
            list.push(UsedFlow { flow_id: flow.flow_id.clone(), expires: flow.expires });
        });
        if let Err(e) = &noted {
            warn!(error = %e, "could not note a sign-in as used; the keychain's copy is rewritten first");
        }
        noted.is_ok()
    }

    /// The ids of the flows noted as used (see [`PendingFlows::note_used`]).
    fn used_ids(&self) -> Vec<FlowId> {
        let Some(used) = &self.used else { return Vec::new() };
        match used.read() {
            Ok(list) => list.into_iter().map(|u| u.flow_id).collect(),
            Err(e) => {
                warn!(error = %e, "could not read which sign-ins were used");
                Vec::new()
            }
        }
    }

    /// Checks that a callback belongs to the flow it names, taken out before (see
    /// [`PendingFlows::take`]): not expired, on the path of the provider the flow started with,
    /// from the issuer that provider names. Returns the authorization code, or the provider's
    /// refusal.
    pub fn check(
        &self,
        flow: &PendingFlow,
        callback: Callback,
        provider: &dyn AuthProvider,
    ) -> Result<String, AuthError> {
        if self.now() >= flow.expires {
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
        match callback.outcome {
            Outcome::Code(code) => Ok(code),
            Outcome::Error { error, description } => Err(AuthError::ProviderRefused { error, description }),
        }
    }

    /// Forgets a flow; false if there was none.
    pub fn cancel(&self, flow_id: &FlowId) -> bool {
        let mut flows = lock(&self.flows);
        let before = flows.len();
        flows.retain(|_, flow| &flow.flow_id != flow_id);
        flows.len() != before
    }

    /// The authorization URL of a pending flow, to open again.
    pub fn url(&self, flow_id: &FlowId) -> Option<Url> {
        lock(&self.flows).values().find(|f| &f.flow_id == flow_id).map(|f| f.url.clone())
    }

    /// The sign-ins in progress and not expired: (flow id, provider, URL, expiry).
    pub fn active(&self) -> Vec<(FlowId, ProviderId, Url, DateTime<Utc>)> {
        let now = self.now();
        lock(&self.flows)
            .values()
            .filter(|f| f.expires > now)
            .map(|f| (f.flow_id.clone(), f.provider.clone(), f.url.clone(), f.expires))
            .collect()
    }

    /// Brings back the sign-ins that were pending when the app last stopped (so that a
    /// callback arriving with a cold start completes). Expired ones are dropped.
    pub async fn restore(&self) -> Result<usize, AuthError> {
        let Some(bytes) = self.vault.load_raw(PENDING_ENTRY).await? else {
            return Ok(0);
        };
        let stored: Vec<StoredFlow> = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!(error = %e, "the saved sign-ins are unreadable; dropping them");
            Vec::new()
        });
        let now = self.now();
        // A flow taken out before the app stopped stays used, even if the keychain still has it.
        let used = self.used_ids();
        let restored = {
            let mut flows = lock(&self.flows);
            let mut n = 0;
            for f in stored.into_iter().filter(|f| f.expires > now && !used.contains(&f.flow_id)) {
                flows.entry(f.state).or_insert_with(|| {
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
        self.persist().await;
        Ok(restored)
    }

    /// Writes the pending flows to the keychain (or removes the entry when there are none).
    /// A failure is logged: the flows still work in this process.
    pub async fn persist(&self) {
        let _order = self.writes.lock().await;
        let stored: Vec<StoredFlow> = lock(&self.flows)
            .iter()
            // A loopback flow cannot outlive its listener, which ends with the process.
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
            .collect();
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
}
