//! The desktop shell: Tauri at the edge. It wires the window to the backend (a command per
//! request, and `next_news`, which answers when something changed), the system browser, the deep
//! link and the log; it makes no decisions. What differs by platform (on Linux the accounts are
//! `latchkey-resident`'s, elsewhere this process holds the core) is in `platform/`, one file each.

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
mod platform;
mod window;

#[cfg(target_os = "linux")]
mod web_memory;
// The scheme's registration per user: where the window is latchkey-resident's client.
#[cfg(all(target_os = "linux", not(feature = "in-process")))]
mod xdg;

use latchkey_resident::logging;

use tauri::Manager;
use tracing::{error, info, warn};

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
    let builder = platform::prepare(builder);
    let app = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                info!(window = webview.label(), "window loaded");
                platform::page_loaded();
            }
        })
        .on_window_event(window::on_event)
        .invoke_handler(latchkey_resident::window_requests!(invoke_handler))
        .setup(move |app| {
            if let Ok(dir) = app.path().app_log_dir() {
                logging::open_file(&log_file, &dir);
            }
            platform::setup(app, hidden)?;
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = app.unwrap_or_else(|e| platform::cannot_build(e));
    app.run(|_, event| {
        // The window closed: where this process holds the core, Latchkey stays (only Quit, or
        // the session ending, stops it). On Linux latchkey-resident stays, and this process ends.
        if let tauri::RunEvent::ExitRequested { code: None, api, .. } = event {
            if platform::KEEPS_RUNNING {
                api.prevent_exit();
            }
        }
    });
}

/// Ends a launch that could not start, saying why.
fn could_not_start(e: &tauri::Error) -> ! {
    error!(error = %e, "Latchkey could not start");
    eprintln!("Latchkey could not start: {e}");
    std::process::exit(1);
}
