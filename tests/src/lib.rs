//! Test harness: providers faked on 127.0.0.1 with wiremock, the real Secret Service read back
//! through `secret-tool`, a recording browser, and a log capture to search for secrets.

use std::io::Write;
#[cfg(unix)]
use std::process::Command;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use latchkey_core::description::{Nickname, OAuth2Config, ProviderSpec};
use latchkey_core::http::HttpClient;
use latchkey_core::manager::{ManagerOptions, DEFAULT_FLOW_TTL};
use latchkey_core::oauth2_generic::GenericOAuth2Provider;
use latchkey_core::vault::Vault;
use latchkey_core::{AuthProvider, Browser, ConnectionManager, ProviderId};
use url::Url;
use wiremock::MockServer;

pub use wiremock;

/// A browser that records the URLs it is asked to open.
#[derive(Default)]
pub struct Recorder {
    opened: Mutex<Vec<Url>>,
}

impl Recorder {
    pub fn opened(&self) -> Vec<Url> {
        self.opened.lock().unwrap().clone()
    }
    pub fn last(&self) -> Url {
        self.opened().last().cloned().expect("the browser was never opened")
    }
}

impl Browser for Recorder {
    fn open(&self, url: &Url) -> Result<(), String> {
        self.opened.lock().unwrap().push(url.clone());
        Ok(())
    }
}

/// A random string, so that each test's secrets are its own.
pub fn unique(prefix: &str) -> String {
    let n: u64 = rand_u64();
    format!("{prefix}-{n:016x}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// An OAuth provider faked on loopback: `/authorize`, `/token`, `/revoke`, `/userinfo`.
pub struct FakeProvider {
    pub server: MockServer,
    pub name: ProviderId,
    pub client_id: String,
    pub client_secret: String,
}

impl FakeProvider {
    pub async fn start(name: &str) -> Self {
        Self {
            server: MockServer::start().await,
            name: ProviderId::new(name).unwrap(),
            client_id: unique("client"),
            client_secret: unique("client-secret"),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.server.uri())).unwrap()
    }

    pub fn config(&self) -> OAuth2Config {
        fake_config(self.name.as_str(), &self.server.uri(), &self.client_id, Some(&self.client_secret))
    }

    pub fn provider(&self) -> Arc<dyn AuthProvider> {
        Arc::new(GenericOAuth2Provider::new(self.config(), http()).unwrap())
    }
}

/// The description of a provider faked at `base`: `/authorize`, `/token`, `/revoke`, `/userinfo`.
pub fn fake_config(name: &str, base: &str, client_id: &str, client_secret: Option<&str>) -> OAuth2Config {
    let url = |path: &str| Url::parse(&format!("{base}{path}")).unwrap();
    let nickname = Nickname::get(url("/userinfo"), &["/email", "/login"]);
    let mut spec = ProviderSpec::new(
        ProviderId::new(name).unwrap(),
        format!("Fake {name}"),
        url("/authorize"),
        url("/token"),
        nickname,
    );
    spec.revoke_url = Some(url("/revoke"));
    spec.scopes = vec!["read".into(), "profile".into()];
    let mut config = spec.config(Some(client_id.to_owned()), client_secret.map(str::to_owned));
    config.setup_hint = "set FAKE_CLIENT_ID".into();
    config
}

/// The HTTP client tests use: short timeout so that "slower than the timeout" is quick.
pub fn http() -> HttpClient {
    HttpClient::new(Duration::from_millis(1500)).unwrap()
}

/// A manager with its own keychain service name and data directory.
pub struct Harness {
    pub manager: Arc<ConnectionManager>,
    pub browser: Arc<Recorder>,
    pub service: String,
    pub data_dir: tempfile::TempDir,
}

impl Harness {
    pub fn new(providers: Vec<Arc<dyn AuthProvider>>) -> Self {
        Self::with_ttl(providers, DEFAULT_FLOW_TTL)
    }

    /// A harness whose manager runs on `clock` (the system clock when `None`).
    pub fn with_clock(
        providers: Vec<Arc<dyn AuthProvider>>,
        clock: Option<Arc<dyn latchkey_core::clock::Clock>>,
    ) -> Self {
        Self::build(providers, DEFAULT_FLOW_TTL, clock)
    }

    pub fn with_ttl(providers: Vec<Arc<dyn AuthProvider>>, ttl: Duration) -> Self {
        Self::build(providers, ttl, None)
    }

    fn build(
        providers: Vec<Arc<dyn AuthProvider>>,
        ttl: Duration,
        clock: Option<Arc<dyn latchkey_core::clock::Clock>>,
    ) -> Self {
        init_logs();
        require_session_bus();
        let data_dir = tempfile::tempdir().unwrap();
        let service = unique("dev.latchkey.test");
        let mut options = ManagerOptions::new(data_dir.path());
        options.keychain_service = service.clone();
        options.flow_ttl = ttl;
        if let Some(clock) = clock {
            options.clock = clock;
        }
        let browser = Arc::new(Recorder::default());
        let manager = ConnectionManager::with_vault(options, Vault::new(service.clone()), browser.clone()).unwrap();
        for p in providers {
            manager.add_provider(p);
        }
        Self { manager: Arc::new(manager), browser, service, data_dir }
    }

    /// The secret the real keychain holds for `user`, read with `secret-tool` (not through us).
    pub fn keychain(&self, user: &str) -> Option<String> {
        secret_tool_lookup(&self.service, user)
    }

    /// How many connections' tokens this test's keychain service holds (the entry that keeps
    /// pending sign-ins is not counted), as `secret-tool search` lists them.
    pub fn keychain_entries(&self) -> usize {
        keychain_users(&self.service).iter().filter(|u| *u != "pending-sign-ins").count()
    }

    pub fn metadata_file(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("connections.json")).unwrap_or_default()
    }
}

/// A token endpoint that issues `at-N`/`rt-N` (N counting from 1) for any grant, 1-hour
/// lifetimes; the count is shared so a test can read how many it issued.
pub struct NumberedTokens(pub Arc<std::sync::atomic::AtomicU32>);

impl wiremock::Respond for NumberedTokens {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("at-{n}"), "refresh_token": format!("rt-{n}"),
            "token_type": "Bearer", "expires_in": 3600,
        }))
    }
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The user names of every entry under `service`, listed by `secret-tool search --all`.
#[cfg(unix)]
pub fn keychain_users(service: &str) -> Vec<String> {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", service])
        .output()
        .expect("secret-tool must be installed (libsecret-tools)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().filter_map(|l| l.strip_prefix("attribute.username = ")).map(|u| u.trim().to_owned()).collect()
}

/// The value of `user`'s entry under `service`, as `secret-tool lookup` reads it.
#[cfg(unix)]
pub fn secret_tool_lookup(service: &str, user: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", service, "username", user])
        .output()
        .expect("secret-tool must be installed (libsecret-tools)");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Windows (the core's tests under Wine, scripts/windows-tests.sh): the same two readings of
/// the keychain, from the Credential Manager, independently of Latchkey's vault.
#[cfg(windows)]
mod credential_manager {
    use std::collections::HashMap;

    use keyring_core::Entry;

    fn store() -> std::sync::Arc<keyring_core::CredentialStore> {
        windows_native_keyring_store::Store::new().expect("the Credential Manager must answer")
    }

    /// The user names of every entry under `service`: targets named `<user>.<service>`.
    pub fn keychain_users(service: &str) -> Vec<String> {
        let escaped: String = service
            .chars()
            .flat_map(|c| if "\\.+*?()|[]{}^$#&-~".contains(c) { vec!['\\', c] } else { vec![c] })
            .collect();
        let pattern = format!("^.*\\.{escaped}$");
        let spec = HashMap::from([("pattern", pattern.as_str())]);
        Entry::search_in_store(&store(), &spec)
            .expect("the Credential Manager lists its entries")
            .iter()
            .filter_map(|entry| entry.get_attributes().ok()?.get("username").cloned())
            .collect()
    }

    pub fn secret_tool_lookup(service: &str, user: &str) -> Option<String> {
        Entry::new_in_store(&store(), service, user).ok()?.get_password().ok()
    }
}
#[cfg(windows)]
pub use credential_manager::{keychain_users, secret_tool_lookup};

/// The keychain tests need a session bus with a Secret Service on it. Without one they fail,
/// never skip: the test command (scripts/test.sh) starts both. (Windows has no bus to need.)
pub fn require_session_bus() {
    #[cfg(unix)]
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the tests through scripts/test.sh, which starts D-Bus and gnome-keyring"
    );
}

/// The authorization URL's query as pairs.
pub fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The callback a provider would send for the flow whose authorization URL is `auth_url`.
pub fn callback(auth_url: &Url, extra: &str) -> String {
    let redirect = query(auth_url, "redirect_uri").expect("redirect_uri");
    let state = query(auth_url, "state").expect("state");
    let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    format!("{redirect}?state={state}{extra}")
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOGS_INIT: Once = Once::new();

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of the process at TRACE level (ours, and dependencies' through
/// the `log` bridge), so a test can search them for secrets.
pub fn init_logs() {
    LOGS_INIT.call_once(|| {
        // Everything but the fake providers' own request dumps (wiremock logs the bodies of
        // requests it did not expect: that is the test's provider talking, not Latchkey).
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::TRACE)
            .with_target("wiremock", tracing::Level::WARN);
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(|| LogWriter))
            .with(filter)
            .try_init();
    });
}

pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Fails if any of `secrets` appears in the captured logs.
pub fn assert_not_logged(secrets: &[&str]) {
    let logs = logs();
    assert!(!logs.is_empty(), "no logs were captured: the check would prove nothing");
    for s in secrets {
        if let Some(at) = logs.find(s) {
            let before: String = logs[..at].chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("a secret reached the log: {s}, after: {before}");
        }
    }
}

/// What a person does on the Demo consent page, done over HTTP: loads the page, then sends the
/// decision. Returns where the Demo authority redirects the browser (the callback deep link).
pub async fn demo_consent(auth_url: &Url, user: &str, approve: bool) -> String {
    let client = http();
    let page = client.inner().get(auth_url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the consent page loads");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow") && html.contains("Deny"), "{html}");
    let mut form: Vec<(String, String)> = auth_url.query_pairs().into_owned().collect();
    form.push(("user".into(), user.into()));
    form.push(("decision".into(), if approve { "approve" } else { "deny" }.into()));
    let post = auth_url.join("/authorize").unwrap();
    let answer = client.inner().post(post).form(&form).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// An OpenID Connect account at `server`: its token endpoint answers with these tokens (an
/// hour's access token) and its userinfo endpoint names `ada@sso.example` (`sub` `u-1`). Mock
/// other token answers first to have them given before these.
pub async fn mount_sso_account(server: &wiremock::MockServer, access: &str, refresh: &str) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 3600,
        })))
        .mount(server)
        .await;
    Mock::given(path("/userinfo"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"sub": "u-1", "email": "ada@sso.example"})),
        )
        .mount(server)
        .await;
}

/// OpenID Connect Discovery at `server`: its metadata names its own authorize, token and
/// userinfo endpoints (and `/revoke` when `revocation`), S256 PKCE and the code flow.
pub async fn mount_discovery(server: &wiremock::MockServer, revocation: bool) {
    use wiremock::matchers::path;
    use wiremock::{Mock, ResponseTemplate};
    let base = server.uri();
    let mut metadata = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
    });
    if revocation {
        metadata["revocation_endpoint"] = format!("{base}/revoke").into();
    }
    Mock::given(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
        .mount(server)
        .await;
}
