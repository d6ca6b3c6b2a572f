//! `latchkey-resident`: Latchkey with no window. Started at login (`latchkey --hidden`) or by the
//! app when its window closes; it refreshes, notifies and answers on the session bus until it
//! is asked to quit (by `latchkey quit`, or by the app taking over when its window opens).

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::latchkey::Options;
use latchkey_core::{Browser, Latchkey};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::{dbus, logging, notify};

/// How long quitting waits for refreshes in flight to save their tokens.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// Without a window there is nothing to sign in with: the app does that.
struct NoBrowser;
impl Browser for NoBrowser {
    fn open(&self, _url: &url::Url) -> Result<(), String> {
        Err("Latchkey signs in from its window".into())
    }
}

/// Runs until asked to quit; the process's exit code.
pub fn main() -> i32 {
    let log = logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("latchkey-resident: cannot start: {e}");
            return 1;
        }
    };
    runtime.block_on(run(log))
}

async fn run(log: logging::LogFile) -> i32 {
    let options = match Options::for_user(Arc::new(NoBrowser)) {
        Ok(o) => o,
        Err(e) => {
            error!(error = %e, "Latchkey could not start");
            return 1;
        }
    };
    logging::open_file(&log, &options.data_dir.join("logs"));
    // Started by the app as its window closed (`--take-over`): the name it held may take a
    // moment to be free; otherwise a Latchkey already answering means there is nothing to do.
    let taking_over = std::env::args().skip(1).any(|a| a == "--take-over");
    if !taking_over && dbus::is_running().await {
        info!("Latchkey is already running");
        return 0;
    }
    info!(version = env!("CARGO_PKG_VERSION"), hidden = true, resident = true, data = %options.data_dir.display(), "Latchkey starting");
    let core = match Latchkey::open(options) {
        Ok(core) => core,
        Err(e) => {
            error!(error = %e, "Latchkey could not start");
            return 1;
        }
    };
    core.start().await;
    let quit = Arc::new(Notify::new());
    let asked = quit.clone();
    let patience = if taking_over { Duration::from_secs(10) } else { Duration::ZERO };
    let bus = match dbus::serve(core.clone(), Arc::new(move || asked.notify_one()), patience).await {
        Ok(bus) => bus,
        Err(zbus::Error::NameTaken) => {
            info!("Latchkey is already running");
            return 0;
        }
        Err(e) => {
            // Without the bus nothing could ask it to quit or for a token; the app or the
            // command line do the work themselves.
            error!(error = %e, "the D-Bus service could not start; not staying in the background");
            return 1;
        }
    };
    tokio::spawn(core.scheduler().run());
    notify::reconnects(core.clone());
    #[cfg(target_os = "linux")]
    crate::autostart::follow(core.clone());
    tokio::spawn(dbus::announce_changes(bus.clone(), core.clone()));
    #[cfg(target_os = "linux")]
    let _tray = {
        let asked = quit.clone();
        crate::tray::show(Arc::new(open_window), Arc::new(move || asked.notify_one())).await
    };

    quit.notified().await;
    info!("quitting");
    let stopped = core.stop(QUIT_WAIT).await;
    if !stopped.finished {
        warn!("work on tokens still running was abandoned");
    }
    info!(finished = stopped.finished, "work on tokens stopped; exiting");
    // The name goes with the connection; whoever asked is told once it is free.
    drop(bus);
    0
}

/// The tray's Open: starts the app beside this program, which takes over from this one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn open_window() {
    let app = std::env::current_exe().map(|exe| exe.with_file_name(crate::APP));
    let started = app.and_then(|app| {
        std::process::Command::new(app)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    });
    match started {
        // Reaped when it ends, should it end before this process does.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => warn!(error = %e, "could not open the window"),
    }
}
