//! A launch that carries a sign-in callback (the OS delivering the deep link) hands the callback
//! to `latchkey-resident` ([`crate::client::deliver_to_running`]) and then brings the running
//! window forward with this ([`deliver_and_show`]): it calls the single-instance plugin's own
//! method on its D-Bus name, as the plugin itself would after GTK's start-up. Neither
//! `latchkey-resident <callback>` nor `latchkey` (`<callback>`, or plain) links anything of the
//! window: they hand over in a few milliseconds, and only a launch that is to be the window
//! starts `latchkey-window`, where the plugin's own hand-over would exit from inside Tauri's
//! start-up.
//!
//! Unlike the plugin's, this hand-over survives a window that is ending: one that still held the
//! name when it was called, and left the bus without answering. It waits for the name to be
//! given up and then says none runs, so that the launch opens the window itself (the plugin
//! would find the name taken, fail the call, and end the launch with an error).

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use zbus::blocking::fdo::DBusProxy;
use zbus::names::{BusName, OwnedUniqueName};

/// The single-instance plugin's name for the app `dev.latchkey.desktop`, its object and
/// interface (tauri-plugin-single-instance 2, Linux).
const NAME: &str = "dev.latchkey.desktop.SingleInstance";
const PATH: &str = "/dev/latchkey/desktop/SingleInstance";
const INTERFACE: &str = "org.SingleInstance.DBus";

/// How long a window that left the bus without answering may take to give up the name (the bus
/// takes it back as the connection closes, so this is a bound, not a wait).
const NAME_GIVEN_UP: Duration = Duration::from_secs(5);

/// What became of a hand-over to the running window.
#[derive(Debug, PartialEq, Eq)]
pub enum HandOver {
    /// The running window took the arguments.
    Taken,
    /// No window runs (or there is no session bus): this launch is the window. Also said when
    /// the window that held the name ended while it was called.
    NoneRunning,
    /// The running window refused the call or did not answer in time: what the bus said.
    Failed(String),
}

/// Hands `argv` (a launch's arguments: the program alone, to bring the window forward) to the
/// running window: `true` when it took them. `false` when none runs (or there is no session
/// bus), and when the one running refused or failed the call (said on stderr, as `me`): then
/// this launch must open the window itself.
pub fn hand_over(me: &str, argv: &[String]) -> bool {
    match hand_over_to_running(argv) {
        HandOver::Taken => true,
        HandOver::NoneRunning => false,
        HandOver::Failed(e) => {
            eprintln!("{me}: the running window did not answer: {e}");
            false
        }
    }
}

/// The command that starts the window's program `window`, under the app's name: GTK takes
/// `argv[0]` for the window's class, which the desktop entry's `StartupWMClass` names.
pub fn window_command(window: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(window);
    command.arg0(crate::APP);
    command
}

/// A launch that carries a sign-in callback (`latchkey <callback>`, or the scheme handler's
/// `latchkey-resident <callback>`): hands it to the running Latchkey, which completes it at once,
/// and brings the window forward, or starts `window` (a process of its own, so that whoever
/// started this launch is not kept waiting) when none is open. `false` when no Latchkey runs to
/// take it: the caller then starts the window with the callback, as the OS would have.
pub fn deliver_and_show(url: &str, me: &str, window: &std::path::Path) -> bool {
    if !crate::client::deliver_to_running(url) {
        return false;
    }
    if !hand_over(me, &[window.display().to_string()]) {
        let opened = window_command(window)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = opened {
            eprintln!("{me}: cannot open the window: {e}");
        }
    }
    true
}

/// Hands `argv` to the window that holds the single-instance name, calling that one connection
/// (its unique name), so that a window which ends meanwhile is told apart from a new one. When
/// the one called leaves the bus without answering, waits for the name to be free again and
/// hands over to whichever window holds it by then, if any.
pub fn hand_over_to_running(argv: &[String]) -> HandOver {
    let Ok(bus) = zbus::blocking::Connection::session() else { return HandOver::NoneRunning };
    let Ok(names) = DBusProxy::new(&bus) else { return HandOver::NoneRunning };
    let cwd = std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let mut gone: Option<OwnedUniqueName> = None;
    let start = Instant::now();
    loop {
        let Some(owner) = owner(&names) else { return HandOver::NoneRunning };
        if gone.as_ref() == Some(&owner) {
            // The bus has not yet taken the name back from the window that left.
            if start.elapsed() > NAME_GIVEN_UP {
                return HandOver::Failed(format!("the window that ended still holds {NAME}"));
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let to = BusName::from(owner.as_ref());
        match bus.call_method(Some(to), PATH, Some(INTERFACE), "ExecuteCallback", &(argv, cwd.as_str())) {
            Ok(_) => return HandOver::Taken,
            // It left the bus during the call (NoReply), or before it (ServiceUnknown: its
            // unique name is gone): it was ending. Whoever holds the name now, if any, is asked.
            Err(zbus::Error::MethodError(error, _, _))
                if error.as_str() == "org.freedesktop.DBus.Error.NoReply"
                    || error.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" =>
            {
                gone = Some(owner);
            }
            Err(e) => return HandOver::Failed(e.to_string()),
        }
    }
}

/// The connection that holds the single-instance name now, if any.
fn owner(names: &DBusProxy<'_>) -> Option<OwnedUniqueName> {
    let name = zbus::names::WellKnownName::from_static_str(NAME).ok()?;
    names.get_name_owner(name.into()).ok()
}
