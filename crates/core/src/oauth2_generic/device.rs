//! The device authorization grant (RFC 8628) of the generic provider: the code requested, the
//! token endpoint polled, the provider's answers read as OAuth errors without echoing what was
//! sent.

use super::*;

impl GenericOAuth2Provider {
    /// A form POST of the device grant, the client authenticated as at the token endpoint.
    async fn device_request(&self, url: &Url, form: Form<'_>) -> Result<crate::http::Response, AuthError> {
        let (request, form) = self.client_post(url, form)?;
        let request = request
            .form(&form)
            .build()
            .map_err(|e| AuthError::InvalidConfig(format!("device sign-in request: {e}")))?;
        self.http.execute(request).await
    }

    /// A device-grant failure as an OAuth error (`access_denied`, `expired_token`, ...), its
    /// description kept printable and left out when it repeats something the request carried
    /// (`sent`, the client secret); anything else a bad answer.
    fn device_error(&self, status: u16, body: &[u8], sent: &[&str]) -> AuthError {
        let doc = serde_json::from_slice::<serde_json::Value>(body).ok();
        let secret = self.config.client_secret.as_ref().map(|s| s.secret().as_str());
        let echoes = |text: &str| sent.iter().copied().chain(secret).any(|s| !s.is_empty() && text.contains(s));
        match doc.as_ref().and_then(|d| d.get("error")?.as_str()) {
            Some(error) if !echoes(error) => AuthError::ProviderRefused {
                error: OAuthErrorCode::parse(error),
                description: doc
                    .as_ref()
                    .and_then(|d| d.get("error_description")?.as_str())
                    .filter(|d| !echoes(d))
                    .map(|d| crate::error::printable(d, 200)),
            },
            _ => AuthError::BadResponse {
                what: "the answer to a sign-in with a code".into(),
                status: Some(status),
                body: crate::RawBody::new(body.to_vec()),
            },
        }
    }

    /// Starts a device sign-in (RFC 8628, or Salesforce's older form): the code and where to enter it.
    pub(super) async fn start_device_grant(&self) -> Result<crate::device::DeviceCode, AuthError> {
        let Some(url) = &self.config.spec.device_url else {
            return Err(AuthError::Invalid(format!("{} offers no sign-in with a code", self.config.spec.name)));
        };
        let scope = self.config.spec.scopes.join(&self.config.spec.scope_separator);
        let mut form = vec![];
        if self.config.spec.device_style == DeviceStyle::Salesforce {
            form.push(("response_type", "device_code"));
        }
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        let response = self.device_request(url, form).await?;
        if !response.status.is_success() {
            return Err(self.device_error(response.status.as_u16(), response.bytes(), &[]));
        }
        crate::device::DeviceCode::parse(response.bytes())
    }

    /// Asks once whether the person has entered the code.
    pub(super) async fn poll_device_grant(
        &self,
        code: &crate::device::DeviceCode,
    ) -> Result<crate::device::Poll, AuthError> {
        use crate::device::Poll;
        let form = match self.config.spec.device_style {
            DeviceStyle::Rfc8628 => {
                vec![
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", code.device_code()),
                ]
            }
            DeviceStyle::Salesforce => vec![("grant_type", "device"), ("code", code.device_code())],
        };
        let token_url = self.config.spec.token_url.clone();
        let response = self.device_request(&token_url, form).await?;
        // GitHub answers the pending states with 200 and an `error` field.
        let error = serde_json::from_slice::<serde_json::Value>(response.bytes())
            .ok()
            .and_then(|doc| doc.get("error")?.as_str().map(str::to_owned));
        match error.as_deref() {
            Some("authorization_pending") => Ok(Poll::Pending),
            Some("slow_down") => Ok(Poll::SlowDown),
            Some(_) => Err(self.device_error(response.status.as_u16(), response.bytes(), &[code.device_code()])),
            None if response.status.is_success() => {
                let tokens: TokenResponse =
                    serde_json::from_slice(response.bytes()).map_err(|_| AuthError::BadResponse {
                        what: "the token answer of a sign-in with a code".into(),
                        status: Some(response.status.as_u16()),
                        body: crate::RawBody::new(response.bytes().to_vec()),
                    })?;
                Ok(Poll::Tokens(self.checked(tokens)?))
            }
            None => Err(self.device_error(response.status.as_u16(), response.bytes(), &[code.device_code()])),
        }
    }
}
