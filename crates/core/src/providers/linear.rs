//! Linear: the contract's worked example done right (encoded parameters, PKCE, refresh,
//! revocation: all data, in the catalog), plus what data cannot say: GraphQL answers 200 with
//! an `errors` list when it fails, which this hook reads before the nickname.

use crate::error::printable;
use crate::http::HttpClient;
use crate::oauth2_generic::{GenericOAuth2Provider, OAuth2Config, ProviderHooks};
use crate::AuthError;

/// Linear's hooks on the generic provider.
pub struct LinearHooks;

impl ProviderHooks for LinearHooks {
    /// GraphQL answers 200 even when it fails, with an `errors` list: read that first.
    fn check_account_document(&self, doc: &serde_json::Value) -> Result<(), AuthError> {
        match doc.pointer("/errors/0/message").and_then(|m| m.as_str()) {
            Some(message) => Err(AuthError::ProviderRefused {
                error: "graphql_error".into(),
                description: Some(printable(message, 200)),
            }),
            None => Ok(()),
        }
    }

    fn no_account_name(&self) -> &'static str {
        "Linear's viewer has neither an email nor a name"
    }
}

/// The Linear provider: the generic provider with [`LinearHooks`].
pub fn provider(config: OAuth2Config, http: HttpClient) -> Result<GenericOAuth2Provider, AuthError> {
    GenericOAuth2Provider::with_hooks(config, http, std::sync::Arc::new(LinearHooks))
}
