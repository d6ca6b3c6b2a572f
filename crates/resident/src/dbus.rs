//! Latchkey on the session bus, `dev.latchkey.Latchkey1`: the running Latchkey (on Linux
//! `latchkey-resident`, whether or not the window is open) answers other programs with its accounts and
//! fresh tokens (the same single-flight refresh as the window and the command line), and the
//! command line asks it first. The interface is described, with examples, in docs/dbus.md.
//!
//! Like GNOME Online Accounts, the service answers any program of the same user on the session
//! bus: the same programs that can read the unlocked keychain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::{AuthError, Connection, ConnectionStatus, ErrorKind, Latchkey};
use tracing::{debug, info, warn};
use zbus::object_server::SignalEmitter;

/// The well-known name and the interface.
pub const NAME: &str = "dev.latchkey.Latchkey1";
pub const PATH: &str = "/dev/latchkey/Latchkey1";
/// The prefix of the errors' names.
pub const ERROR_PREFIX: &str = "dev.latchkey.Error";
/// The window's own interface, on the same name: not for other programs (it may change with
/// any release). See [`crate::window_api`].
pub const WINDOW_PATH: &str = "/dev/latchkey/Window1";
pub const WINDOW_INTERFACE: &str = "dev.latchkey.Window1";

/// The public interface as its clients call it: `latchkey token`, `latchkey quit`, the tests.
/// The service side is `Service`; `crates/resident/dbus/dev.latchkey.Latchkey1.xml` is the
/// contract both follow, compared with the live service's introspection by the D-Bus end-to-end
/// test.
#[zbus::proxy(
    interface = "dev.latchkey.Latchkey1",
    default_service = "dev.latchkey.Latchkey1",
    default_path = "/dev/latchkey/Latchkey1",
    gen_blocking = false
)]
pub trait Latchkey1 {
    /// Every account, without secrets.
    fn list_accounts(&self) -> zbus::Result<Vec<Account>>;
    /// A fresh access token of an account and the seconds it has left.
    fn get_access_token(&self, account: &str) -> zbus::Result<(String, i32)>;
    /// As `GetAccessToken`, with the account it came from.
    fn get_access_token_and_account(&self, account: &str) -> zbus::Result<(String, i32, Account)>;
    /// Read the connections again.
    fn reload(&self) -> zbus::Result<()>;
    /// End once the work on tokens in flight has finished.
    fn quit(&self) -> zbus::Result<()>;
    /// The accounts changed.
    #[zbus(signal)]
    fn accounts_changed(&self) -> zbus::Result<()>;
}

/// The window's private interface as the window (and a launch handing over a callback) calls
/// it. The service side is `WindowService`.
#[zbus::proxy(
    interface = "dev.latchkey.Window1",
    default_service = "dev.latchkey.Latchkey1",
    default_path = "/dev/latchkey/Window1"
)]
pub trait Window1 {
    /// One of the window's requests: a command and its arguments as JSON; the answer as JSON.
    fn call(&self, command: &str, arguments: &str) -> zbus::Result<String>;
    /// A sign-in callback, exactly as the OS passed it.
    fn callback(&self, url: &str) -> zbus::Result<()>;
}

/// A proxy of `P` on `bus` that keeps no cache of properties (these interfaces have none, and
/// building one costs a round trip).
pub(crate) async fn proxy<P>(bus: &zbus::Connection) -> zbus::Result<P>
where
    P: zbus::proxy::Defaults + From<zbus::Proxy<'static>>,
{
    zbus::proxy::Builder::<P>::new(bus).cache_properties(zbus::proxy::CacheProperties::No).build().await
}

/// An account as `ListAccounts` gives it, `(sssssxas)`: id, provider, provider's name, nickname,
/// status (`connected` or `needs_reconnect`), when the access token expires (Unix seconds, 0
/// when the provider did not say) and the scopes granted.
pub type Account = (String, String, String, String, String, i64, Vec<String>);

fn account(core: &Latchkey, c: &Connection) -> Account {
    let status = match c.status {
        ConnectionStatus::Connected => "connected",
        ConnectionStatus::NeedsReconnect => "needs_reconnect",
    };
    (
        c.id.to_string(),
        c.provider.to_string(),
        core.provider_name(&c.provider),
        c.nickname.clone(),
        status.to_owned(),
        c.expires_at.map_or(0, |t| t.timestamp()),
        c.scopes.clone(),
    )
}

/// Seconds the token has left, as `GetAccessToken` answers it (0 when unknown or past).
fn expires_in(c: &Connection) -> i32 {
    c.expires_at.map_or(0, |t| {
        let left = (t - chrono::Utc::now()).num_seconds().clamp(0, i64::from(i32::MAX));
        i32::try_from(left).unwrap_or(i32::MAX)
    })
}

/// The service's failures, each a named D-Bus error (`dev.latchkey.Error.NeedsReconnect`, …)
/// whose message says what happened, never with a secret in it. One variant per [`ErrorKind`],
/// named by [`ErrorKind::dbus_name`] (a test holds the two together).
#[derive(zbus::DBusError, Debug)]
#[zbus(prefix = "dev.latchkey.Error")]
pub enum Error {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The provider no longer accepts the account's grant: reconnect it in the window.
    NeedsReconnect(String),
    /// No account has that id and no provider of that id has an account.
    NoSuchAccount(String),
    /// The provider has more than one account: name one by its id.
    Ambiguous(String),
    /// The keychain is locked or cannot be reached.
    KeychainUnavailable(String),
    /// The provider cannot be reached or answers with failures for now: try again later.
    ProviderUnavailable(String),
    /// Latchkey is stopping: ask again once the next one runs.
    Stopping(String),
    /// Anything else.
    Failed(String),
}

impl Error {
    /// The named error for `kind`, with `message`.
    pub fn new(kind: ErrorKind, message: String) -> Self {
        match kind {
            ErrorKind::NeedsReconnect => Error::NeedsReconnect(message),
            ErrorKind::NotFound => Error::NoSuchAccount(message),
            ErrorKind::Ambiguous => Error::Ambiguous(message),
            ErrorKind::KeychainUnavailable => Error::KeychainUnavailable(message),
            ErrorKind::ProviderUnavailable => Error::ProviderUnavailable(message),
            ErrorKind::Stopping => Error::Stopping(message),
            ErrorKind::Failed => Error::Failed(message),
        }
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::new(e.kind(), e.to_string())
    }
}

/// A named error read back from the bus: its kind and message. A name Latchkey does not give
/// (a newer version's) reads as [`ErrorKind::Failed`]; one not under [`ERROR_PREFIX`] is not
/// Latchkey's answer at all (`None`: the bus's own, such as `ServiceUnknown`).
pub fn read_error(name: &str, message: Option<String>) -> Option<(ErrorKind, String)> {
    let ours = name.strip_prefix(ERROR_PREFIX)?.strip_prefix('.')?;
    Some((ErrorKind::from_dbus_name(ours).unwrap_or(ErrorKind::Failed), message.unwrap_or_default()))
}

/// What `Quit` does in this process.
pub type OnQuit = Arc<dyn Fn() + Send + Sync>;

/// The object at [`PATH`].
struct Service {
    core: Arc<Latchkey>,
    on_quit: OnQuit,
    /// The core works on tokio (HTTP, files); zbus runs the methods on its own executor.
    runtime: tokio::runtime::Handle,
}

impl Service {
    async fn token(&self, name: String) -> Result<(String, i32, Account), Error> {
        let core = self.core.clone();
        let answer = self.runtime.spawn(async move {
            let (connection, token) = core.fresh_token(&name).await?;
            Ok::<_, AuthError>((token.secret().clone(), expires_in(&connection), account(&core, &connection)))
        });
        match answer.await {
            Ok(answer) => Ok(answer?),
            Err(e) => Err(Error::Failed(format!("the token request stopped: {e}"))),
        }
    }
}

#[zbus::interface(name = "dev.latchkey.Latchkey1")]
impl Service {
    /// Every account, without secrets.
    async fn list_accounts(&self) -> Vec<Account> {
        self.core.list().iter().map(|c| account(&self.core, c)).collect()
    }

    /// A fresh access token of an account (its id, or a provider with one account) and the
    /// seconds it has left; refreshed first when near expiry.
    async fn get_access_token(&self, account: String) -> Result<(String, i32), Error> {
        debug!("a token was asked for over D-Bus");
        self.token(account).await.map(|(token, expires_in, _)| (token, expires_in))
    }

    /// As `GetAccessToken`, with the account it came from (as `ListAccounts` gives it).
    async fn get_access_token_and_account(&self, account: String) -> Result<(String, i32, Account), Error> {
        debug!("a token and its account were asked for over D-Bus");
        self.token(account).await
    }

    /// Reads the connections again: another process (`latchkey connect`) added or changed one.
    async fn reload(&self) -> Result<(), Error> {
        self.core.reload().map_err(Error::from)
    }

    /// Ends this Latchkey once the work on tokens in flight has finished (the name is released
    /// when it has): `latchkey quit`, or the app taking over when its window opens.
    async fn quit(&self) {
        info!("asked over D-Bus to quit");
        (self.on_quit)();
    }

    /// The accounts changed: one was added or removed, or its status, expiry or scopes changed.
    #[zbus(signal)]
    async fn accounts_changed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// The object at [`WINDOW_PATH`]: the window's requests, and the sign-in callbacks that a
/// launch of `latchkey` or `latchkey-resident` hands over.
struct WindowService {
    core: Arc<Latchkey>,
    runtime: tokio::runtime::Handle,
}

#[zbus::interface(name = "dev.latchkey.Window1")]
impl WindowService {
    /// One of the window's requests: a command and its arguments as JSON; the answer as JSON.
    async fn call(&self, command: String, arguments: String) -> Result<String, Error> {
        let core = self.core.clone();
        let answer = self.runtime.spawn(async move {
            let request = crate::window_api::Request::read(&command, &arguments)?;
            crate::window_api::answer(&core, request).await
        });
        match answer.await {
            Ok(answer) => answer.map_err(|refusal| Error::new(refusal.kind, refusal.message)),
            Err(e) => Err(Error::Failed(format!("the request stopped: {e}"))),
        }
    }

    /// A sign-in callback, exactly as the OS passed it: completed in the background (errors
    /// are logged without the query and shown on the provider's row; junk changes nothing).
    async fn callback(&self, url: String) {
        let core = self.core.clone();
        self.runtime.spawn(async move { crate::window_api::complete_callback(&core, &url).await });
    }

    /// Anything the window shows changed: the change's number.
    #[zbus(signal)]
    async fn changed(emitter: &SignalEmitter<'_>, generation: u64) -> zbus::Result<()>;

    /// Latchkey is quitting (Quit in the tray, `latchkey quit`): the window closes too.
    #[zbus(signal)]
    async fn quitting(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// Tells the window that Latchkey is quitting.
pub async fn announce_quitting(connection: &zbus::Connection) {
    let sent = match SignalEmitter::new(connection, WINDOW_PATH) {
        Ok(emitter) => WindowService::quitting(&emitter).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        warn!(error = %e, "could not tell the window that Latchkey is quitting");
    }
}

/// Answers at [`PATH`] under the name [`NAME`] on the session bus until the connection is
/// dropped. When another Latchkey still holds the name (it is handing over), tries again for up
/// to `patience`; then fails with `NameTaken`.
pub async fn serve(core: Arc<Latchkey>, on_quit: OnQuit, patience: Duration) -> zbus::Result<zbus::Connection> {
    let runtime = tokio::runtime::Handle::current();
    let deadline = Instant::now() + patience;
    loop {
        let service = Service { core: core.clone(), on_quit: on_quit.clone(), runtime: runtime.clone() };
        let window = WindowService { core: core.clone(), runtime: runtime.clone() };
        let built = zbus::connection::Builder::session()?
            .serve_at(PATH, service)?
            .serve_at(WINDOW_PATH, window)?
            .name(NAME)?
            .build()
            .await;
        match built {
            Err(zbus::Error::NameTaken) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(connection) => {
                info!(name = NAME, "answering on the session bus");
                return Ok(connection);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a Latchkey (the app or the resident program) answers on the session bus.
pub async fn is_running() -> bool {
    let Ok(bus) = zbus::Connection::session().await else { return false };
    has_owner(&bus).await
}

pub(crate) async fn has_owner(bus: &zbus::Connection) -> bool {
    let Ok(dbus) = zbus::fdo::DBusProxy::new(bus).await else { return false };
    let Ok(name) = zbus::names::BusName::try_from(NAME) else { return false };
    dbus.name_has_owner(name).await.unwrap_or(false)
}

/// Asks the Latchkey that answers on the bus to quit, and waits (up to `within`) until it has
/// let go of the name. Whether one was running.
pub async fn quit_running(within: Duration) -> bool {
    let Ok(bus) = zbus::Connection::session().await else { return false };
    if !has_owner(&bus).await {
        return false;
    }
    let asked = match proxy::<Latchkey1Proxy>(&bus).await {
        Ok(latchkey) => latchkey.quit().await,
        Err(e) => Err(e),
    };
    if let Err(e) = asked {
        warn!(error = %e, "the running Latchkey did not take the request to quit");
    }
    let deadline = Instant::now() + within;
    while has_owner(&bus).await {
        if Instant::now() > deadline {
            warn!("the running Latchkey did not quit in time");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Emits `AccountsChanged` whenever what `ListAccounts` answers has changed, and the window's
/// `Changed` at every change.
pub async fn announce_changes(connection: zbus::Connection, core: Arc<Latchkey>) {
    let (emitter, window) = match (SignalEmitter::new(&connection, PATH), SignalEmitter::new(&connection, WINDOW_PATH))
    {
        (Ok(e), Ok(w)) => (e, w),
        (Err(e), _) | (_, Err(e)) => return warn!(error = %e, "cannot announce account changes"),
    };
    let accounts = |core: &Latchkey| core.list().iter().map(|c| account(core, c)).collect::<Vec<_>>();
    let mut changes = core.subscribe();
    let mut last = accounts(&core);
    while changes.changed().await.is_ok() {
        let generation = *changes.borrow_and_update();
        if let Err(e) = WindowService::changed(&window, generation).await {
            warn!(error = %e, "could not tell the window of a change");
        }
        let now = accounts(&core);
        if now != last {
            last = now;
            if let Err(e) = Service::accounts_changed(&emitter).await {
                warn!(error = %e, "could not announce account changes");
            }
        }
    }
}

/// What the command line gets from the running app.
pub enum Asked {
    /// No app is running (or there is no session bus): do the work here.
    NotRunning,
    Token {
        token: String,
        expires_in: i32,
        account: Account,
    },
    /// The app's named error, as its kind and message.
    Failed {
        kind: ErrorKind,
        message: String,
    },
}

/// Asks the running app for a fresh token of `name`.
pub async fn ask_for_token(name: &str) -> Asked {
    let Ok(connection) = zbus::Connection::session().await else { return Asked::NotRunning };
    let Ok(latchkey) = proxy::<Latchkey1Proxy>(&connection).await else { return Asked::NotRunning };
    match latchkey.get_access_token_and_account(name).await {
        Ok((token, expires_in, account)) => Asked::Token { token, expires_in, account },
        Err(zbus::Error::MethodError(error, text, _)) => match read_error(error.as_str(), text) {
            // Latchkey is stopping as it is asked: do it here, as when none runs.
            Some((ErrorKind::Stopping, _)) => Asked::NotRunning,
            Some((kind, message)) => Asked::Failed { kind, message },
            // org.freedesktop.DBus.Error.ServiceUnknown, NameHasNoOwner, UnknownMethod (an
            // older app): do it here.
            None => Asked::NotRunning,
        },
        // No bus, or an answer of another shape (another version): do it here.
        Err(_) => Asked::NotRunning,
    }
}

/// Tells the running Latchkey, if any, to read the connections again.
pub async fn ask_to_reload() {
    let Ok(bus) = zbus::Connection::session().await else { return };
    if has_owner(&bus).await {
        let asked = match proxy::<Latchkey1Proxy>(&bus).await {
            Ok(latchkey) => latchkey.reload().await,
            Err(e) => Err(e),
        };
        if let Err(e) = asked {
            warn!(error = %e, "the running Latchkey did not take the new connection in");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    #[test]
    fn each_kind_is_the_named_error_of_its_dbus_name_and_reads_back_as_itself() {
        for kind in ErrorKind::ALL {
            let error = Error::new(kind, "what happened".into());
            assert_eq!(error.name().as_str(), format!("{ERROR_PREFIX}.{}", kind.dbus_name()));
            assert_eq!(
                read_error(error.name().as_str(), Some("what happened".into())),
                Some((kind, "what happened".into()))
            );
        }
    }

    #[test]
    fn a_name_of_a_newer_latchkey_reads_as_failed_and_the_bus_s_own_as_none() {
        assert_eq!(
            read_error("dev.latchkey.Error.SomethingNew", Some("x".into())),
            Some((ErrorKind::Failed, "x".into()))
        );
        assert_eq!(read_error("org.freedesktop.DBus.Error.ServiceUnknown", Some("x".into())), None);
        assert_eq!(read_error("dev.latchkey.ErrorNot", None), None);
    }
}
