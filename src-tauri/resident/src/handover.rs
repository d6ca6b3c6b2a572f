//! A launch that carries a sign-in callback (the OS delivering the deep link) hands the callback
//! to `latchkey-resident` ([`crate::client::deliver_to_running`]) and then brings the running
//! window forward with this, before anything of GTK or WebKit starts: it calls the
//! single-instance plugin's own method on its D-Bus name, as the plugin itself would after
//! GTK's start-up. `latchkey-resident <callback>` does it with nothing of the window linked;
//! `latchkey <callback>` does it first thing in `main`, and so ends without starting GTK, where
//! the plugin's own hand-over exits from inside Tauri's start-up.

/// The single-instance plugin's name for the app `dev.latchkey.desktop`, its object and
/// interface (tauri-plugin-single-instance 2, Linux).
const NAME: &str = "dev.latchkey.desktop.SingleInstance";
const PATH: &str = "/dev/latchkey/desktop/SingleInstance";
const INTERFACE: &str = "org.SingleInstance.DBus";

/// Hands `argv` (a launch's arguments: the program alone, to bring the window forward) to the
/// running window: `true` when it took them. `false` when none runs (or there is no session
/// bus), and when the one running refused or failed the call (said on stderr, as `me`): then
/// this launch must open the window itself.
pub fn hand_over(me: &str, argv: &[String]) -> bool {
    let Ok(bus) = zbus::blocking::Connection::session() else { return false };
    let cwd = std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    match bus.call_method(Some(NAME), PATH, Some(INTERFACE), "ExecuteCallback", &(argv, cwd.as_str())) {
        Ok(_) => true,
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
        {
            false
        }
        Err(e) => {
            eprintln!("{me}: the running window did not answer: {e}");
            false
        }
    }
}
