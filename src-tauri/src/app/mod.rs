//! The desktop shell: Tauri at the edge. It wires the window to the backend (the `call` command,
//! and `next_news`, which answers when something changed), the system browser, the deep link and
//! the log; it makes no decisions.
//! On Linux the backend is `latchkey-resident` over the session bus (`backend.rs`); elsewhere the
//! core runs in this process.

/// The page's commands and the window's own, from the one list
/// (`crates/resident/src/window_requests.rs`).
macro_rules! invoke_handler {
    (
        page { $($page:ident : $Variant:ident { $($arguments:tt)* }),* $(,)? }
        window { $($own:tt)* }
        commands { $($command:ident),* $(,)? }
    ) => {
        tauri::generate_handler![$(commands::$page,)* $(commands::$command,)*]
    };
}

mod backend;
mod commands;
mod deep_link;
mod environment;
mod window;

#[cfg(target_os = "linux")]
mod web_memory;
#[cfg(target_os = "linux")]
mod xdg;

use latchkey_resident::logging;

use tauri::Manager;
use tracing::{error, info, warn};

#[cfg(target_os = "linux")]
use backend::Backend;

/// Starts Latchkey from `main`, before any other thread exists: with its window, or `hidden` (at
/// login, and only where the window's process holds the core) without it.
pub fn start(hidden: bool) {
    // First: what WebKit reads from the environment.
    environment::prepare();
    run(hidden)
}

fn run(hidden: bool) {
    let log_file = logging::init();

    let mut builder = tauri::Builder::default();
    #[cfg(any(target_os = "macos", windows, target_os = "linux"))]
    {
        // First, so that a second launch (the OS delivering a deep link, the desktop entry, the
        // command) is forwarded here with its arguments and exits. Every launch but a hidden
        // one shows the window.
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // Not the arguments themselves: a deep link among them carries a code and a state.
            let hidden = argv.iter().skip(1).any(|a| a == "--hidden");
            info!(arguments = argv.len().saturating_sub(1), hidden, "a second launch was handed over");
            #[cfg(not(target_os = "macos"))]
            deep_link::from_arguments(app, &argv);
            if !hidden {
                // On the main thread: this runs on the plugin's D-Bus thread, possibly before
                // setup, and WebKit takes the thread that first touches it for its main thread
                // (a window built from here aborted the process at start).
                let handle = app.clone();
                if let Err(e) = app.run_on_main_thread(move || window::show(&handle)) {
                    warn!(error = %e, "could not show the window");
                }
            }
        }));
    }
    // Notifications: on Linux latchkey-resident sends them; Tauri's plugin elsewhere. (The
    // plugin also puts a script in the page, which the window does not use.)
    #[cfg(not(target_os = "linux"))]
    {
        builder = builder.plugin(tauri_plugin_notification::init());
    }
    // Before set-up: a second launch's callback can be handed over before it.
    #[cfg(target_os = "linux")]
    {
        builder = builder.manage(Backend::new());
    }
    let app = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                info!(window = webview.label(), "window loaded");
                #[cfg(target_os = "linux")]
                xdg::now();
            }
        })
        .on_window_event(window::on_event)
        .invoke_handler(latchkey_resident::window_requests!(invoke_handler))
        .setup(move |app| {
            if let Ok(dir) = app.path().app_log_dir() {
                logging::open_file(&log_file, &dir);
            }
            #[cfg(target_os = "linux")]
            {
                let _ = hidden;
                info!(version = env!("CARGO_PKG_VERSION"), "the window starting");
                window::show(app.handle());
                tauri::async_runtime::spawn(reach_the_resident(app.handle().clone()));
                xdg::register_soon();
            }
            #[cfg(not(target_os = "linux"))]
            in_process::start(app, hidden)?;
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        #[cfg(target_os = "linux")]
        Err(tauri::Error::PluginInitialization(plugin, e)) if plugin == "single-instance" => {
            start_again_or_hand_over(&e)
        }
        Err(e) => {
            error!(error = %e, "Latchkey could not start");
            eprintln!("Latchkey could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, event| {
        // The window closed: where this process holds the core, Latchkey stays (only Quit, or
        // the session ending, stops it). On Linux latchkey-resident stays, and this process ends.
        #[cfg(not(target_os = "linux"))]
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = event {
            api.prevent_exit();
        }
        #[cfg(target_os = "linux")]
        let _ = event;
    });
}

/// The single-instance plugin found the name taken and could not hand this launch over: the
/// window that held it ended meanwhile (it left the bus without answering), between `main`'s own
/// hand-over and the plugin's. Hands over to a window that holds it now, or starts this launch
/// again, which then takes the name.
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
async fn reach_the_resident(app: tauri::AppHandle) {
    use latchkey_resident::client::News;
    let backend = app.state::<Backend>();
    // Subscribed first: a change (the sign-in below, say) is never missed.
    let news = match backend.resident().await {
        Ok(resident) => resident.news().await,
        Err(e) => Err(e),
    };
    let mut news = match news {
        Ok(news) => news,
        Err(e) => return error!(error = %e, "Latchkey's background part could not be reached"),
    };
    backend.learn_notice_seen().await;
    deep_link::install(&app);
    while let Some(news) = news.next().await {
        match news {
            News::Changed(_) => {
                backend.changed();
            }
            News::Quitting => {
                backend.begin_quitting();
                info!("Latchkey is quitting; the window closes");
                return app.exit(0);
            }
            // Not quitting: it crashed or was killed. Another one is started at once, so that
            // refreshes go on, and the window shows what it holds.
            // Ended as this window's Quit asked, its notice of quitting not read (lost with the
            // bus, say): the window ends with it.
            News::Ended if backend.quitting() => {
                info!("latchkey-resident ended as Latchkey quits");
                return;
            }
            News::Ended => {
                warn!("latchkey-resident ended unexpectedly; starting it again");
                backend.forget_resident().await;
                match backend.resident().await {
                    Ok(_) => backend.changed(),
                    Err(e) => error!(error = %e, "Latchkey's background part could not be started again"),
                }
            }
        }
    }
}

/// Where the window's process holds the core: it starts it and runs everything the resident
/// program runs on Linux (refreshes, notifications, the D-Bus service) beside the window.
#[cfg(not(target_os = "linux"))]
mod in_process {
    use std::sync::Arc;
    use std::time::Duration;

    use latchkey_core::latchkey::Options;
    use latchkey_core::redirect::APP_IDENTIFIER;
    use latchkey_core::{Browser, CoreEvent, Latchkey};
    use latchkey_resident::dbus;
    use tauri::Manager;
    use tracing::{info, warn};

    use super::{backend::Backend, deep_link, window};

    /// Opens URLs in the person's default browser, never in a webview (checklist line 1).
    struct SystemBrowser;

    impl Browser for SystemBrowser {
        fn open(&self, url: &url::Url) -> Result<(), String> {
            tauri_plugin_opener::open_url(url.as_str(), None::<&str>).map_err(|e| e.to_string())
        }
    }

    pub fn start(app: &mut tauri::App, hidden: bool) -> Result<(), Box<dyn std::error::Error>> {
        let paths = app.path();
        let data_dir = paths.app_data_dir()?;
        let config_dir = paths.app_config_dir()?;
        info!(version = env!("CARGO_PKG_VERSION"), hidden, data = %data_dir.display(), "Latchkey starting");
        let core = Latchkey::open(Options {
            data_dir,
            config_dir,
            keychain_service: APP_IDENTIFIER.to_owned(),
            browser: Arc::new(SystemBrowser),
        })?;
        app.manage(Backend::new(core.clone()));
        deep_link::install(app.handle());
        forward_state(app.handle().clone(), core.clone());
        if !hidden {
            window::show(app.handle());
        }
        let handle = app.handle().clone();
        tauri::async_runtime::spawn(async move {
            core.start().await;
            // Refresh in the background, most overdue first; tell the person when one needs them.
            tauri::async_runtime::spawn(core.scheduler().run());
            notify_reconnects(handle.clone(), core.clone());
            serve_on_the_bus(handle, core);
        });
        Ok(())
    }

    /// The D-Bus service while the app runs; its `Quit` quits the app as the window's Quit does.
    fn serve_on_the_bus(app: tauri::AppHandle, core: Arc<Latchkey>) {
        let on_quit: dbus::OnQuit = Arc::new(move || {
            let app = app.clone();
            tauri::async_runtime::spawn(async move { window::quit(app.clone(), &app.state::<Backend>()).await });
        });
        tauri::async_runtime::spawn(async move {
            match dbus::serve(core.clone(), on_quit, Duration::from_secs(10)).await {
                Ok(bus) => dbus::announce_changes(bus, core).await,
                Err(e) => {
                    warn!(error = %e, "the D-Bus service could not start; other programs can use `latchkey token`")
                }
            }
        });
    }

    /// A desktop notification, and the window asking for attention, when a connection needs the
    /// person to reconnect it.
    fn notify_reconnects(app: tauri::AppHandle, core: Arc<Latchkey>) {
        let mut events = core.events();
        tauri::async_runtime::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(CoreEvent::NeedsReconnect(connection)) => {
                        use tauri_plugin_notification::NotificationExt;
                        let provider = core.provider_name(&connection.provider);
                        let shown = app
                            .notification()
                            .builder()
                            .title(format!("Reconnect {} to {provider}", connection.nickname))
                            .body(format!(
                                "{provider} no longer accepts Latchkey's access. Open Latchkey and click Reconnect."
                            ))
                            .show();
                        if let Err(e) = shown {
                            warn!(error = %e, "could not show a notification");
                        }
                        if let Some(window) = app.get_webview_window("main") {
                            let _ = window.request_user_attention(Some(tauri::UserAttentionType::Informational));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        });
    }

    /// Counts the core's changes for the page waiting in `next_news`, which then asks for the
    /// snapshot (`get_state`).
    fn forward_state(app: tauri::AppHandle, core: Arc<Latchkey>) {
        let mut changes = core.subscribe();
        tauri::async_runtime::spawn(async move {
            while changes.changed().await.is_ok() {
                changes.borrow_and_update();
                app.state::<Backend>().changed();
            }
        });
    }
}
