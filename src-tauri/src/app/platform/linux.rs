//! On Linux the window is a view of `latchkey-resident`, which holds the accounts: the window
//! starts it when none runs (and again when it ends without quitting), sends it every request
//! over the session bus, and its process ends when the window closes
//! (docs/decisions/0001-the-resident-holds-the-accounts.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use latchkey_resident::client::{Failure, News, Resident};
use latchkey_resident::window_api::{Refusal, Request};
use tauri::{AppHandle, Manager, Wry};
use tracing::{error, info, warn};

use super::super::{backend::Backend, deep_link, environment, window, xdg};

/// How long quitting waits for latchkey-resident to finish the work on tokens in flight.
const QUIT_WAIT: Duration = Duration::from_secs(15);

/// The running `latchkey-resident`, reached (or started) at the first request.
pub struct Holder {
    resident: tokio::sync::Mutex<Option<Resident>>,
    /// Set by Quit: a latchkey-resident that ends from then on is not started again.
    quitting: AtomicBool,
}

impl Holder {
    fn new() -> Self {
        Holder { resident: tokio::sync::Mutex::new(None), quitting: AtomicBool::new(false) }
    }

    /// The running `latchkey-resident`, started first when none runs.
    async fn resident(&self) -> Result<Resident, String> {
        let mut held = self.resident.lock().await;
        if let Some(resident) = held.as_ref() {
            return Ok(resident.clone());
        }
        if self.quitting() {
            return Err("Latchkey is quitting".to_owned());
        }
        let program = std::env::current_exe().ok().and_then(|me| latchkey_resident::program_beside(&me));
        let resident = Resident::reach(program.as_deref(), environment::set_here(), Duration::from_secs(15)).await?;
        *held = Some(resident.clone());
        Ok(resident)
    }

    fn quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// Forgets the latchkey-resident that ended: the next request starts another.
    async fn forget_resident(&self) {
        *self.resident.lock().await = None;
    }

    /// One request, relayed to latchkey-resident; when it cannot be reached (it crashed, or
    /// `latchkey quit` ran in a terminal), started again once.
    pub async fn request(&self, request: Request) -> Result<String, Refusal> {
        let resident = self.resident().await?;
        match resident.request(&request).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Said(refusal)) => Err(refusal),
            Err(Failure::Unreachable(e)) => {
                warn!(error = %e, "latchkey-resident could not be reached; starting it again");
                self.forget_resident().await;
                match self.resident().await?.request(&request).await {
                    Ok(answer) => Ok(answer),
                    Err(Failure::Said(refusal)) => Err(refusal),
                    Err(unreachable) => Err(unreachable.to_string().into()),
                }
            }
        }
    }

    /// Hands a sign-in callback to latchkey-resident, which completes it.
    pub async fn deliver(&self, url: String) {
        match self.resident().await {
            Ok(resident) => {
                if let Err(e) = resident.deliver(&url).await {
                    warn!(error = %e, "latchkey-resident did not take the sign-in");
                }
            }
            Err(e) => warn!(error = %e, "no Latchkey to take the sign-in"),
        }
    }

    /// Asks latchkey-resident to end once its work on tokens is done, and starts none after it.
    pub async fn quit(&self) {
        self.quitting.store(true, Ordering::SeqCst);
        latchkey_resident::dbus::quit_running(QUIT_WAIT).await;
    }
}

/// Before set-up: the backend, so that a second launch's callback can be handed over before it.
pub fn prepare(builder: tauri::Builder<Wry>) -> tauri::Builder<Wry> {
    builder.manage(Backend::new(Holder::new()))
}

/// Shows the window and reaches latchkey-resident; the scheme's handler is registered soon.
pub fn setup(app: &mut tauri::App, _hidden: bool) -> Result<(), Box<dyn std::error::Error>> {
    info!(version = env!("CARGO_PKG_VERSION"), "the window starting");
    window::show(app.handle());
    tauri::async_runtime::spawn(reach_the_resident(app.handle().clone()));
    xdg::register_soon();
    Ok(())
}

/// The page has loaded: the scheme's handler is registered now, if not yet.
pub fn page_loaded() {
    xdg::now();
}

/// The window closed: its process has nothing else to do; latchkey-resident goes on.
pub fn window_destroyed(app: &AppHandle) {
    app.exit(0);
}

/// This process ends with its window.
pub const KEEPS_RUNNING: bool = false;

/// The single-instance plugin found the name taken and could not hand this launch over: the
/// window that held it ended meanwhile (it left the bus without answering), between `main`'s own
/// hand-over and the plugin's. Hands over to a window that holds it now, or starts this launch
/// again, which then takes the name. Any other failure ends the launch.
pub fn cannot_build(e: tauri::Error) -> ! {
    match e {
        tauri::Error::PluginInitialization(plugin, e) if plugin == "single-instance" => start_again_or_hand_over(&e),
        e => super::super::could_not_start(&e),
    }
}

fn start_again_or_hand_over(plugin_error: &str) -> ! {
    use latchkey_resident::handover::{hand_over_to_running, HandOver};
    use std::os::unix::process::CommandExt;
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    match hand_over_to_running(&args) {
        HandOver::Taken => std::process::exit(0),
        HandOver::NoneRunning => {
            warn!(error = plugin_error, "the running window ended as this launch handed over; starting again");
            let error = match std::env::current_exe() {
                Ok(me) => {
                    let mut again = latchkey_resident::handover::window_command(&me);
                    again.args(std::env::args_os().skip(1));
                    // As the person started it: what this process set for WebKit, it sets again.
                    for name in environment::set_here() {
                        again.env_remove(name);
                    }
                    again.exec()
                }
                Err(e) => e,
            };
            error!(error = %error, "Latchkey could not start again");
            eprintln!("Latchkey could not start again: {error}");
        }
        HandOver::Failed(e) => {
            error!(error = %e, "Latchkey could not start: the running window did not answer");
            eprintln!("Latchkey could not start: the running window did not answer: {e}");
        }
    }
    std::process::exit(1)
}

/// Reaches latchkey-resident (starting it when none runs), hands it the sign-in this launch
/// carried, if any, then tells the window of every change it reports; closes the window when it
/// quits.
async fn reach_the_resident(app: AppHandle) {
    let backend = app.state::<Backend>();
    let holder = backend.holder();
    // Subscribed first: a change (the sign-in below, say) is never missed.
    let news = match holder.resident().await {
        Ok(resident) => resident.news().await,
        Err(e) => Err(e),
    };
    let mut news = match news {
        Ok(news) => news,
        Err(e) => return error!(error = %e, "Latchkey's background part could not be reached"),
    };
    learn_notice_seen(&backend).await;
    deep_link::install(&app);
    while let Some(news) = news.next().await {
        match news {
            News::Changed(_) => {
                backend.changed();
            }
            News::Quitting => {
                holder.quitting.store(true, Ordering::SeqCst);
                info!("Latchkey is quitting; the window closes");
                return app.exit(0);
            }
            // Ended as this window's Quit asked, its notice of quitting not read (lost with the
            // bus, say): the window ends with it.
            News::Ended if holder.quitting() => {
                info!("latchkey-resident ended as Latchkey quits");
                return;
            }
            // Not quitting: it crashed or was killed. Another one is started at once, so that
            // refreshes go on, and the window shows what it holds.
            News::Ended => {
                warn!("latchkey-resident ended unexpectedly; starting it again");
                holder.forget_resident().await;
                match holder.resident().await {
                    Ok(_) => backend.changed(),
                    Err(e) => error!(error = %e, "Latchkey's background part could not be started again"),
                }
            }
        }
    }
}

/// Reads whether the closing notice was read, once latchkey-resident answers.
async fn learn_notice_seen(backend: &Backend) {
    if let Ok(settings) = backend.request(Request::GetSettings {}).await {
        let seen = serde_json::from_str::<serde_json::Value>(&settings)
            .ok()
            .and_then(|s| s.get("background_notice_seen").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
        backend.note_notice_seen(seen);
    }
}
