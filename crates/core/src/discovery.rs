//! Providers a person adds: by an issuer URL, their endpoints, PKCE methods, revocation endpoint
//! and `authorization_response_iss_parameter_supported` read from OpenID Connect Discovery, or
//! RFC 8414 server metadata when there is no OpenID configuration (checklist line 26); or by
//! their endpoints, typed.

use reqwest::header::ACCEPT;
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::description::{Nickname, Pkce, ProviderSpec};
use super::http::{check_url, HttpClient};
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
    device_authorization_endpoint: Option<Url>,
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
    #[serde(default)]
    prompt_values_supported: Option<Vec<String>>,
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
pub async fn discover(http: &HttpClient, id: ProviderId, name: &str, issuer: &Url) -> Result<ProviderSpec, AuthError> {
    check_url(issuer)?;
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err(AuthError::Invalid(
            "an issuer has no query or fragment (no ? or #): enter its address alone, like https://id.example.com"
                .into(),
        ));
    }
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
        // serde's message can quote the document: say where it broke, not what it said.
        let metadata: Metadata = serde_json::from_slice(response.bytes()).map_err(|e| {
            AuthError::InvalidConfig(format!(
                "the metadata of {issuer} is broken: not valid OAuth metadata at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        return config_from(metadata, id, name, issuer);
    }
    Err(last_error)
}

fn config_from(m: Metadata, id: ProviderId, name: &str, issuer: &Url) -> Result<ProviderSpec, AuthError> {
    // The metadata must be the issuer's own (RFC 8414 §3.3, OpenID Discovery §4.3).
    if m.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        return Err(AuthError::InvalidConfig(format!("the metadata of {issuer} names another issuer")));
    }
    if m.response_types_supported.as_ref().is_some_and(|t| !t.iter().any(|t| t == "code")) {
        return Err(AuthError::InvalidConfig(format!("{issuer} does not offer the authorization code flow")));
    }
    let mut urls = vec![&m.authorization_endpoint, &m.token_endpoint];
    urls.extend(m.revocation_endpoint.iter());
    urls.extend(m.device_authorization_endpoint.iter());
    urls.extend(m.userinfo_endpoint.iter());
    // Plain http on loopback only for an issuer the person typed that way (a local server);
    // metadata fetched over https names https endpoints.
    for url in urls {
        check_url(url)?;
        if issuer.scheme() == "https" && url.scheme() != "https" {
            return Err(AuthError::InvalidConfig(format!(
                "the metadata of {issuer} names an endpoint without https; endpoints must use https"
            )));
        }
    }
    let userinfo = m.userinfo_endpoint.clone().ok_or_else(|| {
        AuthError::InvalidConfig(format!("{issuer} has no userinfo endpoint to name the account with"))
    })?;
    let supported = |s: &str| m.scopes_supported.as_ref().is_none_or(|all| all.iter().any(|x| x == s));
    let scopes: Vec<String> = ["openid", "email", "profile", "offline_access"]
        .into_iter()
        .filter(|s| supported(s))
        .map(str::to_owned)
        .collect();
    let mut spec = added(id, name, m.authorization_endpoint, m.token_endpoint, userinfo);
    spec.revoke_url = m.revocation_endpoint;
    spec.device_url = m.device_authorization_endpoint;
    spec.scopes = scopes;
    // S256 (never plain) unless the metadata lists methods without it: RFC 8414 §2 reads an
    // absent list as "not supported", but most servers that omit it take S256, and one that does
    // not support it ignores the parameters.
    let s256 = m.code_challenge_methods_supported.as_ref().is_none_or(|all| all.iter().any(|x| x == "S256"));
    spec.pkce = if s256 { Pkce::S256 } else { Pkce::None };
    // OpenID Connect Core §11: offline_access is honoured only with prompt=consent; a server
    // that lists its prompts and not consent would refuse the request, so it gets none. One that
    // lists no prompts but offers offline_access follows the spec and takes it.
    let consent = match &m.prompt_values_supported {
        Some(prompts) => prompts.iter().any(|p| p == "consent"),
        None => m.scopes_supported.as_ref().is_some_and(|all| all.iter().any(|s| s == "offline_access")),
    };
    if consent && spec.scopes.iter().any(|s| s == "offline_access") {
        spec.auth_params.insert("prompt".into(), "consent".into());
    }
    spec.issuer = Some(m.issuer);
    spec.requires_iss = m.authorization_response_iss_parameter_supported;
    Ok(spec)
}

/// A provider a person added: the nickname from its userinfo endpoint, loopback redirects (any
/// port, nothing to register), the rest as RFC 6749 gives it.
fn added(id: ProviderId, name: &str, authorize_url: Url, token_url: Url, userinfo_url: Url) -> ProviderSpec {
    let nickname = Nickname::get(userinfo_url, &["/email", "/preferred_username", "/name", "/sub"]);
    let mut spec = ProviderSpec::new(id, name.trim(), authorize_url, token_url, nickname);
    spec.redirect = vec![RedirectKind::Loopback];
    // A server that issues a new grant per sign-in (the OpenID Connect servers tried) keeps
    // the replaced one alive unless it is revoked.
    spec.revoke_replaced_grant = true;
    spec
}

/// A plain OAuth 2 provider given by its endpoints. Every URL must be https; the nickname
/// comes from `userinfo_url` (email, preferred_username, name or sub). PKCE S256 is sent.
pub fn from_endpoints(
    id: ProviderId,
    name: &str,
    authorize_url: &str,
    token_url: &str,
    userinfo_url: &str,
    revoke_url: Option<&str>,
    scopes: &str,
) -> Result<ProviderSpec, AuthError> {
    let parse = |what: &str, text: &str| {
        let url =
            Url::parse(text.trim()).map_err(|_| AuthError::InvalidConfig(format!("the {what} URL is not a URL")))?;
        check_url(&url)?;
        Ok::<_, AuthError>(url)
    };
    let mut spec = added(
        id,
        name,
        parse("authorization", authorize_url)?,
        parse("token", token_url)?,
        parse("account details", userinfo_url)?,
    );
    spec.revoke_url = revoke_url.filter(|u| !u.trim().is_empty()).map(|u| parse("revocation", u)).transpose()?;
    spec.scopes = scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(issuer: &str, token_endpoint: &str) -> Metadata {
        serde_json::from_value(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": token_endpoint,
            "userinfo_endpoint": format!("{issuer}/userinfo"),
        }))
        .unwrap()
    }

    fn id() -> ProviderId {
        ProviderId::new("sso").unwrap()
    }

    /// Issue 13: metadata fetched over https could send tokens to plain http on loopback.
    #[test]
    fn metadata_of_an_https_issuer_may_not_name_plain_http_endpoints() {
        let issuer = Url::parse("https://id.example").unwrap();
        let m = metadata("https://id.example", "http://127.0.0.1:8080/token");
        let err = config_from(m, id(), "SSO", &issuer).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
        // An issuer the person typed as http://127.0.0.1 keeps its loopback endpoints.
        let local = Url::parse("http://127.0.0.1:9000").unwrap();
        let m = metadata("http://127.0.0.1:9000", "http://127.0.0.1:9000/token");
        assert!(config_from(m, id(), "Local", &local).is_ok());
    }

    /// Issue 13: what a server answers stays out of the messages shown to the person.
    #[test]
    fn the_metadata_s_own_text_stays_out_of_the_errors() {
        let issuer = Url::parse("https://id.example").unwrap();
        let m = metadata("https://elsewhere.example/<script>", "https://id.example/token");
        let err = config_from(m, id(), "SSO", &issuer).unwrap_err().to_string();
        assert!(!err.contains("elsewhere") && !err.contains("<script>"), "{err}");
    }
}
