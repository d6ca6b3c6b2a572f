//! `latchkey-resident`: Latchkey with no window. Started at login (`latchkey --hidden`) or by the
//! window when none runs; it holds the accounts, signs in, refreshes, notifies and answers on
//! the session bus (other programs, and on Linux the window) until it is asked to quit (by
//! `latchkey quit` or the window's Quit).

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::latchkey::Options;
use latchkey_core::{Browser, Latchkey};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::{dbus, logging, notify};

/// How long quitting waits for refreshes in flight to save their tokens.
const QUIT_WAIT: Duration = Duration::from_secs(10);

/// Sign-ins go to the person's browser (on Linux, where the window asks this program for them);
/// elsewhere the app signs in itself.
struct SystemBrowser;
impl Browser for SystemBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        return crate::browser::open(url, &[]);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = url;
            Err("Latchkey signs in from its window".into())
        }
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
    let options = match Options::for_user(Arc::new(SystemBrowser)) {
        Ok(o) => o,
        Err(e) => {
            error!(error = %e, "Latchkey could not start");
            return 1;
        }
    };
    logging::open_file(&log, &options.data_dir.join("logs"));
    // A Latchkey already answering means there is nothing to do.
    if dbus::is_running().await {
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
    let bus = match keep_working(core.clone(), Arc::new(move || asked.notify_one()), Duration::ZERO).await {
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
    notify::reconnects(core.clone());
    #[cfg(target_os = "linux")]
    crate::autostart::follow(core.clone());
    #[cfg(target_os = "linux")]
    let _tray = {
        let asked = quit.clone();
        crate::tray::show(Arc::new(open_window), Arc::new(move || asked.notify_one())).await
    };

    quit.notified().await;
    info!("quitting");
    dbus::announce_quitting(&bus).await;
    let stopped = core.stop(QUIT_WAIT).await;
    if !stopped.finished {
        warn!("work on tokens still running was abandoned");
    }
    info!(finished = stopped.finished, "work on tokens stopped; exiting");
    // The name goes with the connection; whoever asked is told once it is free.
    drop(bus);
    0
}

/// What holds the accounts does, once `core` has started, wherever it runs (`latchkey-resident`,
/// or a window that holds the core itself): refreshes in the background, most overdue first, and
/// answers on the session bus, announcing every change, until the bus connection is dropped.
/// `on_quit` is what the bus's `Quit` does; `patience`, how long to wait for a Latchkey that is
/// handing the name over. Refreshing goes on whether or not the bus could be served.
pub async fn keep_working(
    core: Arc<Latchkey>,
    on_quit: dbus::OnQuit,
    patience: Duration,
) -> zbus::Result<zbus::Connection> {
    tokio::spawn(core.scheduler().run());
    let bus = dbus::serve(core.clone(), on_quit, patience).await?;
    tokio::spawn(dbus::announce_changes(bus.clone(), core));
    Ok(bus)
}

/// The tray's Open: starts the window beside this program, which asks this one for what it shows.
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
