//! Providers given by an issuer URL: their endpoints, PKCE methods, revocation endpoint and
//! `authorization_response_iss_parameter_supported` read from OpenID Connect Discovery, or
//! RFC 8414 server metadata when there is no OpenID configuration. Checklist line 26.

use reqwest::header::ACCEPT;
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::http::{check_url, HttpClient};
use super::oauth2_generic::{ClientAuth, NicknameSource, OAuth2Config, RevokeStyle};
use super::provider::RedirectKind;
use super::{AuthError, ProviderId};

#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    #[serde(default)]
    revocation_endpoint: Option<Url>,
    #[serde(default)]
    userinfo_endpoint: Option<Url>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    response_types_supported: Option<Vec<String>>,
}

/// Where the metadata documents of `issuer` are: OpenID Connect's, then RFC 8414's (with the
/// issuer's path after the well-known segment).
fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let base = issuer.as_str().trim_end_matches('/');
    let mut urls = Vec::new();
    if let Ok(u) = Url::parse(&format!("{base}/.well-known/openid-configuration")) {
        urls.push(u);
    }
    let mut rfc = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_owned();
    rfc.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    urls.push(rfc);
    urls
}

/// Reads `issuer`'s metadata and describes it as a provider named `id`.
pub async fn discover(http: &HttpClient, id: ProviderId, name: &str, issuer: &Url) -> Result<OAuth2Config, AuthError> {
    check_url(issuer)?;
    let mut last_error = AuthError::InvalidConfig(format!("{issuer} publishes no metadata"));
    for url in metadata_urls(issuer) {
        let request = http
            .inner()
            .request(Method::GET, url.clone())
            .header(ACCEPT, "application/json")
            .build()
            .map_err(|e| AuthError::InvalidConfig(e.to_string()))?;
        let response = match http.execute(request).await {
            Ok(r) => r,
            Err(e) => {
                last_error = e;
                continue;
            }
        };
        if !response.status.is_success() {
            last_error = AuthError::InvalidConfig(format!(
                "{issuer} has no metadata at {} (HTTP {})",
                url.path(),
                response.status.as_u16()
            ));
            continue;
        }
        let metadata: Metadata = serde_json::from_slice(response.bytes())
            .map_err(|e| AuthError::InvalidConfig(format!("the metadata of {issuer} is broken: {e}")))?;
        return config_from(metadata, id, name, issuer);
    }
    Err(last_error)
}

fn config_from(m: Metadata, id: ProviderId, name: &str, issuer: &Url) -> Result<OAuth2Config, AuthError> {
    // The metadata must be the issuer's own (RFC 8414 §3.3, OpenID Discovery §4.3).
    if m.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        return Err(AuthError::InvalidConfig(format!(
            "the metadata names another issuer ({}) than {issuer}",
            super::error::printable(&m.issuer, 100)
        )));
    }
    if m.response_types_supported.as_ref().is_some_and(|t| !t.iter().any(|t| t == "code")) {
        return Err(AuthError::InvalidConfig(format!("{issuer} does not offer the authorization code flow")));
    }
    let mut urls = vec![&m.authorization_endpoint, &m.token_endpoint];
    urls.extend(m.revocation_endpoint.iter());
    urls.extend(m.userinfo_endpoint.iter());
    urls.into_iter().try_for_each(check_url)?;
    let userinfo = m.userinfo_endpoint.clone().ok_or_else(|| {
        AuthError::InvalidConfig(format!("{issuer} has no userinfo endpoint to name the account with"))
    })?;
    let supported = |s: &str| m.scopes_supported.as_ref().is_none_or(|all| all.iter().any(|x| x == s));
    let scopes: Vec<String> = ["openid", "email", "profile", "offline_access"]
        .into_iter()
        .filter(|s| supported(s))
        .map(str::to_owned)
        .collect();
    Ok(added_provider(AddedProvider {
        id,
        name: name.to_owned(),
        authorize_url: m.authorization_endpoint,
        token_url: m.token_endpoint,
        revoke_url: m.revocation_endpoint,
        userinfo_url: userinfo,
        scopes,
        // Absent methods mean no PKCE (RFC 8414 §2); S256 only, never plain.
        pkce: m.code_challenge_methods_supported.as_ref().is_some_and(|all| all.iter().any(|x| x == "S256")),
        issuer: Some(m.issuer),
        requires_iss: m.authorization_response_iss_parameter_supported,
    }))
}

/// What describes a provider the person added (by issuer or by endpoints).
pub struct AddedProvider {
    pub id: ProviderId,
    pub name: String,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Option<Url>,
    pub userinfo_url: Url,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub issuer: Option<String>,
    pub requires_iss: bool,
}

/// The generic provider's description of an added provider: body client authentication, the
/// nickname from its userinfo endpoint, loopback redirects (any port, nothing to register).
pub fn added_provider(p: AddedProvider) -> OAuth2Config {
    OAuth2Config {
        name: p.id,
        display_name: p.name,
        authorize_url: p.authorize_url,
        token_url: p.token_url,
        refresh_url: None,
        revoke_url: p.revoke_url,
        revoke_style: RevokeStyle::Rfc7009,
        scopes: p.scopes,
        scope_separator: " ".into(),
        extra_auth_params: vec![],
        extra_token_params: vec![],
        pkce: p.pkce,
        client_auth: ClientAuth::RequestBody,
        client_id: None,
        client_secret: None,
        nickname: NicknameSource {
            url: p.userinfo_url,
            method: Method::GET,
            body: None,
            pointers: vec!["/email".into(), "/preferred_username".into(), "/name".into(), "/sub".into()],
        },
        issuer: p.issuer,
        requires_iss: p.requires_iss,
        redirect: RedirectKind::Loopback,
        redirect_alternatives: vec![],
        setup_hint: "enter its client ID".into(),
        quirks: Default::default(),
    }
}
