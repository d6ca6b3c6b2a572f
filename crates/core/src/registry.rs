//! The provider registry: the providers Latchkey can sign in to now, by id.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::sync::{read, write};
use super::{AuthProvider, ProviderId};

#[derive(Default)]
pub struct ProviderRegistry {
    providers: RwLock<BTreeMap<ProviderId, Arc<dyn AuthProvider>>>,
}

impl ProviderRegistry {
    /// Adds a provider, replacing one with the same id.
    pub fn insert(&self, provider: Arc<dyn AuthProvider>) {
        write(&self.providers).insert(provider.name().clone(), provider);
    }

    /// Removes a provider; its connections stay (and show again when it returns).
    pub fn remove(&self, id: &ProviderId) {
        write(&self.providers).remove(id);
    }

    pub fn get(&self, id: &ProviderId) -> Option<Arc<dyn AuthProvider>> {
        read(&self.providers).get(id).cloned()
    }

    /// Every provider, in id order.
    pub fn all(&self) -> Vec<Arc<dyn AuthProvider>> {
        read(&self.providers).values().cloned().collect()
    }
}
