//! The other side of `dev.latchkey.Window1` ([`crate::dbus`]): the window's process, and a
//! launch that carries a sign-in callback. Nothing here touches the core, so the window's
//! binary links none of it (no keychain, HTTP or TLS).

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tracing::info;

use crate::dbus::{
    has_owner, proxy, read_error, Window1Proxy, Window1ProxyBlocking, NAME, WINDOW_INTERFACE, WINDOW_PATH,
};
use crate::window_api::{Refusal, Request};

/// This version, as `get_version` answers it (JSON).
const VERSION: &str = concat!("\"", env!("CARGO_PKG_VERSION"), "\"");

/// The Latchkey that holds the accounts, reached on the session bus.
#[derive(Clone)]
pub struct Resident {
    bus: zbus::Connection,
}

impl Resident {
    /// Reaches the running Latchkey, or starts `program` (`latchkey-resident`) and waits up to
    /// `within` for it to answer. `leave_out` names variables of this process's environment the
    /// program must not inherit (what the window set for WebKit; the program opens the browser).
    ///
    /// One of another version (still running from before an upgrade) is asked to quit first:
    /// the window's interface is private, and may differ between versions.
    pub async fn reach(program: Option<&Path>, leave_out: &[&str], within: Duration) -> Result<Self, String> {
        let bus = zbus::Connection::session().await.map_err(|e| format!("no session bus: {e}"))?;
        if has_owner(&bus).await {
            let resident = Resident { bus: bus.clone() };
            match resident.request(&Request::GetVersion {}).await {
                Ok(version) if version == VERSION => return Ok(resident),
                Ok(_) | Err(Failure::Said(_)) => info!("the running Latchkey is another version; replacing it"),
                // It went meanwhile, or answers nothing of the window's (an older version).
                Err(Failure::Unreachable(e)) => info!(error = %e, "the running Latchkey does not answer the window"),
            }
            crate::dbus::quit_running(within).await;
        }
        let program = program.ok_or("latchkey-resident is not installed beside latchkey")?;
        let mut command = std::process::Command::new(program);
        // Its log lines go where this process's go (and to the log file). It may outlive this
        // process: it keeps no folder of the window's busy.
        command.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).current_dir("/");
        for name in leave_out {
            command.env_remove(name);
        }
        let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        info!(pid = child.id(), "started latchkey-resident");
        let deadline = Instant::now() + within;
        loop {
            if has_owner(&bus).await {
                // Reaped when it ends (it outlives this process when the window closes first).
                std::thread::spawn(move || child.wait());
                return Ok(Resident { bus });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Another launch's program may have won the name meanwhile.
                if has_owner(&bus).await {
                    return Ok(Resident { bus });
                }
                return Err(format!("latchkey-resident ended at start ({status}); see the log"));
            }
            if Instant::now() > deadline {
                return Err("latchkey-resident did not answer in time; see the log".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One of the window's requests: the answer as JSON, or why there is none.
    pub async fn request(&self, request: &Request) -> Result<String, Failure> {
        let arguments = request.arguments().map_err(Failure::Said)?;
        let reply = match proxy::<Window1Proxy>(&self.bus).await {
            Ok(window) => window.call(request.command(), &arguments).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(answer) => Ok(answer),
            Err(zbus::Error::MethodError(name, text, _)) => {
                // Not Latchkey's answer (`ServiceUnknown`, `NoReply`): it is not there to ask.
                let unreachable = format!("{name}: {}", text.as_deref().unwrap_or_default());
                match read_error(name.as_str(), text) {
                    Some((kind, message)) => Err(Failure::Said(Refusal { kind, message })),
                    None => Err(Failure::Unreachable(unreachable)),
                }
            }
            Err(e) => Err(Failure::Unreachable(e.to_string())),
        }
    }

    /// Hands a sign-in callback over, exactly as the OS passed it.
    pub async fn deliver(&self, url: &str) -> Result<(), String> {
        let window = proxy::<Window1Proxy>(&self.bus).await.map_err(|e| e.to_string())?;
        window.callback(url).await.map_err(|e| e.to_string())
    }

    /// What Latchkey reports from now on (subscribed before this returns), and its end.
    pub async fn news(&self) -> Result<NewsStream, String> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(WINDOW_INTERFACE)
            .and_then(|r| r.path(WINDOW_PATH))
            .map(|r| r.build())
            .map_err(|e| e.to_string())?;
        let signals = zbus::MessageStream::for_match_rule(rule, &self.bus, None).await.map_err(|e| e.to_string())?;
        let signals = signals.filter_map(|message| std::future::ready(message.ok().and_then(|m| news_of(&m))));
        let bus = zbus::fdo::DBusProxy::new(&self.bus).await.map_err(|e| e.to_string())?;
        let owners = bus.receive_name_owner_changed_with_args(&[(0, NAME)]).await.map_err(|e| e.to_string())?;
        let ended = owners.filter_map(|change| {
            let gone = change.args().is_ok_and(|args| args.new_owner().is_none());
            std::future::ready(gone.then_some(News::Ended))
        });
        // Latchkey's signals first whenever both have something: the bus delivers its Quitting
        // before the name's release, but the two streams fill side by side, and read in turns the
        // release could come first and a quit read as a crash.
        let signals_first = |_: &mut ()| futures_util::stream::PollNext::Left;
        Ok(NewsStream(Box::pin(futures_util::stream::select_with_strategy(signals, ended, signals_first))))
    }
}

fn news_of(message: &zbus::Message) -> Option<News> {
    match message.header().member()?.as_str() {
        "Changed" => message.body().deserialize::<u64>().ok().map(News::Changed),
        "Quitting" => Some(News::Quitting),
        _ => None,
    }
}

/// Latchkey's reports to the window, in order.
pub struct NewsStream(std::pin::Pin<Box<dyn futures_util::Stream<Item = News> + Send>>);

impl NewsStream {
    /// The next report; `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<News> {
        self.0.next().await
    }
}

/// What Latchkey tells the window.
pub enum News {
    /// Something the window shows changed (the change's number).
    Changed(u64),
    /// Latchkey is quitting.
    Quitting,
    /// latchkey-resident ended without saying it quits (it crashed, or was killed).
    Ended,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    /// Latchkey refused the request: its kind and message, read from the D-Bus error's name.
    Said(Refusal),
    /// Latchkey could not be reached (it ended, or the bus went).
    Unreachable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Said(refusal) => f.write_str(&refusal.message),
            Failure::Unreachable(e) => write!(f, "Latchkey's background part cannot be reached: {e}"),
        }
    }
}

/// A launch's sign-in callback, handed to the running Latchkey: whether one took it (none runs,
/// or there is no session bus: `false`).
pub fn deliver_to_running(url: &str) -> bool {
    let Ok(bus) = zbus::blocking::Connection::session() else { return false };
    let Ok(window) = Window1ProxyBlocking::builder(&bus).cache_properties(zbus::proxy::CacheProperties::No).build()
    else {
        return false;
    };
    window.callback(url).is_ok()
}
