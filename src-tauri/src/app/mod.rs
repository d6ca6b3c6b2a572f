//! The desktop shell: Tauri at the edge. It wires the core to the window (commands and one
//! `state` event), the system browser, the deep link and the log; it makes no decisions.

mod commands;
mod deep_link;
pub mod environment;
mod window;

#[cfg(target_os = "linux")]
mod web_memory;
#[cfg(target_os = "linux")]
mod xdg;

use latchkey_resident::{dbus, logging};

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::latchkey::Options;
use latchkey_core::redirect::APP_IDENTIFIER;
use latchkey_core::{Browser, CoreEvent, Latchkey};
use tauri::{Emitter, Manager};
use tracing::{error, info, warn};

/// The name of the event that tells the window to fetch a fresh [`latchkey_core::view::Snapshot`].
pub const STATE_EVENT: &str = "latchkey://state";

/// Opens URLs in the person's default browser, never in a webview (checklist line 1).
struct SystemBrowser;

impl Browser for SystemBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        return environment::open_in_browser(url);
        #[cfg(not(target_os = "linux"))]
        tauri_plugin_opener::open_url(url.as_str(), None::<&str>).map_err(|e| e.to_string())
    }
}

/// Starts Latchkey: with its window, or `hidden` (at login) without it. Either way it runs
/// until Quit, whether or not the window is open.
pub fn run(hidden: bool) {
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
            if let Some(core) = app.try_state::<Arc<Latchkey>>() {
                deep_link::from_arguments(core.inner().clone(), &argv);
            }
            if !hidden {
                window::show(app);
            }
        }));
    }
    // Notifications: on Linux straight to the desktop's notification service over D-Bus (the
    // resident program's code); Tauri's plugin elsewhere. (The plugin also puts a script in the
    // page, which the window does not use.)
    #[cfg(not(target_os = "linux"))]
    {
        builder = builder.plugin(tauri_plugin_notification::init());
    }
    let app = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                info!(window = webview.label(), "window loaded");
            }
        })
        .on_window_event(window::on_event)
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::connect,
            commands::connect_with_code,
            commands::cancel,
            commands::reopen,
            commands::disconnect,
            commands::dismiss_error,
            commands::get_settings,
            commands::set_demo_enabled,
            commands::save_client,
            commands::forget_client,
            commands::set_scopes,
            commands::set_redirect,
            commands::get_marks,
            commands::add_provider,
            commands::add_oauth2_provider,
            commands::remove_provider,
            commands::get_start_at_login,
            commands::set_start_at_login,
            commands::close_window,
            commands::quit,
            commands::open_provider_page,
            commands::get_about,
            commands::open_log_folder,
            commands::set_pkce,
        ])
        .setup(move |app| {
            let paths = app.path();
            let data_dir = paths.app_data_dir()?;
            let config_dir = paths.app_config_dir()?;
            if let Ok(dir) = paths.app_log_dir() {
                logging::open_file(&log_file, &dir);
            }
            info!(version = env!("CARGO_PKG_VERSION"), hidden, data = %data_dir.display(), "Latchkey starting");

            let core = Latchkey::open(Options {
                data_dir,
                config_dir,
                keychain_service: APP_IDENTIFIER.to_owned(),
                browser: Arc::new(SystemBrowser),
            })?;
            app.manage(core.clone());

            deep_link::install(app.handle(), core.clone());
            forward_state(app.handle().clone(), core.clone());
            if !hidden {
                window::show(app.handle());
            }

            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                // The resident Latchkey (its window was closed) hands over: it finishes its work
                // on tokens and lets go of the bus name; then this one does it all.
                if dbus::quit_running(Duration::from_secs(15)).await {
                    info!("took over from Latchkey in the background");
                }
                core.start().await;
                // Refresh in the background, most overdue first; tell the person when one needs them.
                tauri::async_runtime::spawn(core.scheduler().run());
                notify_reconnects(handle.clone(), core.clone());
                serve_on_the_bus(handle.clone(), core.clone());
                #[cfg(target_os = "linux")]
                show_tray(handle, core.clone());
                #[cfg(target_os = "linux")]
                {
                    latchkey_resident::autostart::follow(core);
                    xdg::register_in_background();
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            error!(error = %e, "Latchkey could not start");
            eprintln!("Latchkey could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, event| {
        // The window closed: Latchkey stays (only Quit, or the session ending, stops it).
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = event {
            api.prevent_exit();
        }
    });
}

/// The D-Bus service while the app runs; its `Quit` quits the app as the window's Quit does.
fn serve_on_the_bus(app: tauri::AppHandle, core: Arc<Latchkey>) {
    let on_quit_core = core.clone();
    let on_quit: dbus::OnQuit = Arc::new(move || {
        tauri::async_runtime::spawn(window::quit(app.clone(), on_quit_core.clone()));
    });
    tauri::async_runtime::spawn(async move {
        match dbus::serve(core.clone(), on_quit, Duration::from_secs(10)).await {
            Ok(bus) => dbus::announce_changes(bus, core).await,
            Err(e) => warn!(error = %e, "the D-Bus service could not start; other programs can use `latchkey token`"),
        }
    });
}

/// The tray icon while the app runs: Open shows the window, Quit quits as the window's does.
#[cfg(target_os = "linux")]
fn show_tray(app: tauri::AppHandle, core: Arc<Latchkey>) {
    let opener = app.clone();
    let open: latchkey_resident::tray::Action = Arc::new(move || window::show(&opener));
    let quit: latchkey_resident::tray::Action = Arc::new(move || {
        tauri::async_runtime::spawn(window::quit(app.clone(), core.clone()));
    });
    tauri::async_runtime::spawn(async move {
        let _tray = latchkey_resident::tray::show(open, quit).await;
        // Kept for as long as the app runs.
        std::future::pending::<()>().await;
    });
}

/// A desktop notification, and the window asking for attention, when a connection needs the
/// person to reconnect it.
fn notify_reconnects(app: tauri::AppHandle, core: Arc<Latchkey>) {
    #[cfg(target_os = "linux")]
    latchkey_resident::notify::reconnects(core.clone());
    let mut events = core.events();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CoreEvent::NeedsReconnect(connection)) => {
                    #[cfg(not(target_os = "linux"))]
                    {
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
                    }
                    #[cfg(target_os = "linux")]
                    let _ = connection;
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

/// Tells the window whenever the core reports a change; the window then asks for the snapshot
/// (`get_state`). The event carries only the change's number: an event reaches the page as a
/// script that WebKit compiles and evaluates, a command's answer as data. (The web process's
/// growth while the window stays open came from the page, not from this: docs/benchmarks.md,
/// "Found: the logos' inline masks".)
fn forward_state(app: tauri::AppHandle, core: Arc<Latchkey>) {
    let mut changes = core.subscribe();
    tauri::async_runtime::spawn(async move {
        while changes.changed().await.is_ok() {
            let generation = *changes.borrow_and_update();
            if let Err(e) = app.emit(STATE_EVENT, generation) {
                warn!(error = %e, "could not update the window");
            }
        }
    });
}
