//! The desktop shell: Tauri at the edge. It wires the core to the window (commands and one
//! `state` event), the system browser, the deep link and the log; it makes no decisions.

mod commands;
mod deep_link;
mod logging;

#[cfg(target_os = "linux")]
mod xdg;

use std::sync::Arc;

use tauri::{Emitter, Manager};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::core::http::HttpClient;
use crate::core::manager::{CoreEvent, ManagerOptions};
use crate::core::scheduler::Scheduler;
use crate::core::{Browser, ConnectionManager};
use crate::demo::{self, DemoAuthority, DemoOptions};

/// The name of the event that carries a fresh [`crate::core::manager::Snapshot`] to the window.
pub const STATE_EVENT: &str = "latchkey://state";

/// Opens URLs in the person's default browser, never in a webview (checklist line 1).
struct SystemBrowser;

impl Browser for SystemBrowser {
    fn open(&self, url: &url::Url) -> Result<(), String> {
        tauri_plugin_opener::open_url(url.as_str(), None::<&str>).map_err(|e| e.to_string())
    }
}

/// What the app keeps in Tauri's managed state.
pub struct Core {
    pub manager: Arc<ConnectionManager>,
    pub settings: crate::settings::SettingsStore,
    http: HttpClient,
    demo: tokio::sync::Mutex<Option<DemoAuthority>>,
    /// True once pending sign-ins are restored and providers registered: deep links wait for it.
    ready: watch::Sender<bool>,
}

impl Core {
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// (Re)builds the catalog's providers from the environment, the settings and the keychain.
    pub async fn load_providers(&self) -> Result<(), String> {
        let settings = self.settings.get();
        let providers = crate::settings::build_providers(&self.http, &settings, self.manager.vault())
            .await
            .map_err(|e| e.to_string())?;
        providers.into_iter().for_each(|p| self.manager.add_provider(p));
        if let Some(authority) = self.demo.lock().await.as_ref() {
            self.manager.add_provider(self.demo_provider(authority)?);
        }
        Ok(())
    }

    /// The Demo provider served by `authority`, with the scopes the person chose.
    fn demo_provider(&self, authority: &DemoAuthority) -> Result<Arc<dyn crate::core::AuthProvider>, String> {
        let mut config = demo::config(&authority.base_url());
        if let Some(scopes) = self.settings.get().scopes.get(&config.name) {
            config.scopes = scopes.clone();
        }
        let provider = crate::core::oauth2_generic::GenericOAuth2Provider::new(config, self.http.clone())
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(provider))
    }

    /// Starts or stops the Demo provider to match `enabled`.
    pub async fn apply_demo(&self, enabled: bool) -> Result<(), String> {
        let mut demo = self.demo.lock().await;
        let id = crate::core::ProviderId::new(demo::NAME).expect("a constant name");
        match (enabled, demo.is_some()) {
            (true, false) => {
                let options = DemoOptions::for_app(self.manager.vault(), self.manager.data_dir())
                    .await
                    .map_err(|e| e.to_string())?;
                let authority = DemoAuthority::start(options).await.map_err(|e| e.to_string())?;
                self.manager.add_provider(self.demo_provider(&authority)?);
                *demo = Some(authority);
            }
            (false, true) => {
                self.manager.remove_provider(&id);
                *demo = None;
            }
            _ => {}
        }
        Ok(())
    }
}

pub fn run() {
    let log_file = logging::init();

    let mut builder = tauri::Builder::default();
    #[cfg(any(target_os = "macos", windows, target_os = "linux"))]
    {
        // First, so that a second launch (the OS delivering a deep link) is forwarded here and
        // exits; with the deep-link feature the URL reaches `on_open_url`.
        builder = builder.plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            // Not the arguments themselves: a deep link among them carries a code and a state.
            info!(arguments = argv.len().saturating_sub(1), "a second launch was handed over; showing the window");
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }));
    }
    let result = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .on_page_load(|webview, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                info!(window = webview.label(), "window loaded");
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::connect,
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
        ])
        .setup(move |app| {
            let paths = app.path();
            let data_dir = paths.app_data_dir()?;
            let config_dir = paths.app_config_dir()?;
            if let Ok(dir) = paths.app_log_dir() {
                logging::open_file(&log_file, &dir);
            }
            info!(version = env!("CARGO_PKG_VERSION"), data = %data_dir.display(), "Latchkey starting");

            let http = HttpClient::new(std::time::Duration::from_secs(30))?;
            let manager = Arc::new(ConnectionManager::new(ManagerOptions::new(&data_dir), Arc::new(SystemBrowser))?);
            let core = Arc::new(Core {
                manager: manager.clone(),
                settings: crate::settings::SettingsStore::open(&config_dir),
                http,
                demo: tokio::sync::Mutex::new(None),
                ready: watch::channel(false).0,
            });
            app.manage(core.clone());

            deep_link::install(app.handle(), core.clone());
            forward_state(app.handle().clone(), manager);

            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                start_core(&handle, &core).await;
            });
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        error!(error = %e, "Latchkey could not start");
        eprintln!("Latchkey could not start: {e}");
        std::process::exit(1);
    }
}

/// What start-up does off the main thread: restore pending sign-ins (so a callback that
/// cold-started the app completes), start the Demo provider, then let deep links through.
async fn start_core(app: &tauri::AppHandle, core: &Core) {
    if let Err(e) = core.load_providers().await {
        error!(error = %e, "the providers could not be loaded");
    }
    match core.manager.sweep_orphans().await {
        Ok(0) => {}
        Ok(n) => info!(count = n, "orphaned tokens removed from the keychain"),
        Err(e) => warn!(error = %e, "the keychain could not be checked for orphaned tokens"),
    }
    match core.manager.restore_pending().await {
        Ok(0) => {}
        Ok(n) => info!(count = n, "pending sign-ins restored"),
        Err(e) => warn!(error = %e, "pending sign-ins could not be restored"),
    }
    let demo_on = !demo::disabled_by_env() && core.settings.get().demo_provider;
    if let Err(e) = core.apply_demo(demo_on).await {
        warn!(error = %e, "the Demo provider could not start");
    }
    core.ready.send_replace(true);
    // Refresh in the background, most overdue first; tell the person when one needs them.
    tauri::async_runtime::spawn(Scheduler::new(core.manager.clone()).run());
    notify_reconnects(app.clone(), core.manager.clone());
    #[cfg(target_os = "linux")]
    xdg::register_in_background();
}

/// A desktop notification, and the window asking for attention, when a connection needs the
/// person to reconnect it.
fn notify_reconnects(app: tauri::AppHandle, manager: Arc<ConnectionManager>) {
    use tauri_plugin_notification::NotificationExt;
    let mut events = manager.events();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CoreEvent::NeedsReconnect(connection)) => {
                    let provider = manager
                        .provider(&connection.provider)
                        .map(|p| p.display_name().to_owned())
                        .unwrap_or_else(|| connection.provider.to_string());
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

/// Sends the window a fresh snapshot whenever the core reports a change.
fn forward_state(app: tauri::AppHandle, manager: Arc<ConnectionManager>) {
    let mut changes = manager.subscribe();
    tauri::async_runtime::spawn(async move {
        while changes.changed().await.is_ok() {
            if let Err(e) = app.emit(STATE_EVENT, manager.snapshot()) {
                warn!(error = %e, "could not update the window");
            }
        }
    });
}
