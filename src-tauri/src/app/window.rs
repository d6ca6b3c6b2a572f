//! The window comes and goes; Latchkey stays. On Linux, closing the window ends its process
//! (`latchkey-resident` holds the accounts and goes on); elsewhere it destroys the window with
//! its web view (no WebKit process while hidden) and the process goes on. Launching Latchkey
//! again builds the window anew from the configuration. The first close explains, in the window,
//! that Latchkey goes on in the background; Quit ends Latchkey once the work on tokens in flight
//! has finished.

use tauri::{AppHandle, Manager, WebviewWindow, WebviewWindowBuilder, WindowEvent};
use tracing::{info, warn};

use super::backend::Backend;

pub const LABEL: &str = "main";

/// Asks for what the page's first render needs as its document starts, before its scripts load.
const EARLY_SCRIPT: &str = include_str!("../../../ui/early.js");

/// Shows the window: brings it forward when it is open, builds it when it is not.
pub fn show(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == LABEL) else {
        return warn!("no window is configured");
    };
    // Before the first window: the web context WebKit makes for it gets Latchkey's memory limit.
    #[cfg(target_os = "linux")]
    if !super::web_memory::limit() {
        warn!("the window's web context could not be given a memory limit; WebKit's own applies");
    }
    // The page's first requests, made as its document starts (ui/early.js).
    let builder = WebviewWindowBuilder::from_config(app, config).map(|b| b.initialization_script(EARLY_SCRIPT));
    match builder.and_then(|b| b.build()) {
        Ok(window) => {
            #[cfg(target_os = "linux")]
            {
                document_viewer(&window);
                desktop_font(&window);
            }
            let _ = window.set_focus();
            info!("window opened");
        }
        Err(e) => warn!(error = %e, "the window could not be opened"),
    }
}

/// WebKitGTK's cache model for a page that is an app, not a browser: no memory cache of
/// resources (the default, "web browser", sizes its caches from the machine's RAM). Part of
/// the work on a window left open that grew for as long as it was open (docs/benchmarks.md,
/// "Soak").
#[cfg(target_os = "linux")]
fn document_viewer(window: &WebviewWindow) {
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
        if let Some(context) = webview.inner().context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    if let Err(e) = applied {
        warn!(error = %e, "could not set the window's cache model");
    }
}

/// The desktop's interface font, by name, for the page (`--desktop-font` in style.css), followed
/// when the person changes it. WebKitGTK resolves `system-ui` to the same font, but pays a lookup
/// for it at every size and weight the page's first layout meets: that layout took 21 ms with
/// `system-ui` against 12 with the font named (docs/decisions/0009-the-page-starts-early.md).
#[cfg(target_os = "linux")]
fn desktop_font(window: &WebviewWindow) {
    let applied = window.with_webview(|webview| {
        use gtk::prelude::GtkSettingsExt;
        use webkit2gtk::{
            UserContentInjectedFrames, UserContentManagerExt, UserStyleLevel, UserStyleSheet, WebViewExt,
        };
        let (Some(manager), Some(settings)) = (webview.inner().user_content_manager(), gtk::Settings::default()) else {
            return;
        };
        let apply = move |settings: &gtk::Settings| {
            manager.remove_all_style_sheets();
            if let Some(rule) = settings.gtk_font_name().as_deref().and_then(font_rule) {
                let sheet =
                    UserStyleSheet::new(&rule, UserContentInjectedFrames::TopFrame, UserStyleLevel::User, &[], &[]);
                manager.add_style_sheet(&sheet);
            }
        };
        apply(&settings);
        settings.connect_gtk_font_name_notify(apply);
    });
    if let Err(e) = applied {
        warn!(error = %e, "could not give the window the desktop's font");
    }
}

/// The rule that names the families of a GTK font setting (`Cantarell 11`, `Noto Sans, Sans Bold
/// 10`) for the page, each as a CSS string; none for a setting without a family.
#[cfg(target_os = "linux")]
fn font_rule(setting: &str) -> Option<String> {
    let families = gtk::pango::FontDescription::from_string(setting).family()?;
    let quoted: Vec<String> = families
        .split(',')
        .map(|family| family.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|family| !family.trim().is_empty())
        .map(|family| format!("\"{}\"", family.trim().replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    (!quoted.is_empty()).then(|| format!(":root {{ --desktop-font: {}; }}", quoted.join(", ")))
}

/// A close of the window (its close button, the window manager, Alt+F4): the first time, the
/// window is kept and asked to explain; after that it closes, and Latchkey goes on.
pub fn on_event(window: &tauri::Window, event: &WindowEvent) {
    match event {
        WindowEvent::CloseRequested { api, .. } if window.label() == LABEL => {
            let Some(backend) = window.try_state::<Backend>() else { return };
            if !backend.notice_seen() {
                api.prevent_close();
                backend.closing_held();
            }
        }
        WindowEvent::Destroyed if window.label() == LABEL => {
            info!("window closed; Latchkey goes on in the background");
            super::platform::window_destroyed(window.app_handle());
        }
        _ => {}
    }
}

/// Closes the window after its explanation was read.
pub fn close(window: &WebviewWindow) {
    if let Err(e) = window.destroy() {
        warn!(error = %e, "the window could not be closed");
    }
}

/// Quits: Latchkey waits (briefly) for the work on tokens in flight, then ends; so does the window.
pub async fn quit(app: AppHandle, backend: &Backend) {
    info!("quitting");
    backend.holder().quit().await;
    app.exit(0);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::font_rule;

    #[test]
    fn the_desktop_font_is_named_for_the_page_by_its_families_only() {
        assert_eq!(font_rule("Cantarell 11").as_deref(), Some(r#":root { --desktop-font: "Cantarell"; }"#));
        // Style, weight and size are the page's own.
        assert_eq!(font_rule("Noto Sans Bold Italic 10").as_deref(), Some(r#":root { --desktop-font: "Noto Sans"; }"#));
        assert_eq!(font_rule("Ubuntu, Sans 11").as_deref(), Some(r#":root { --desktop-font: "Ubuntu", "Sans"; }"#));
        // A name cannot end the string or the rule early.
        assert_eq!(
            font_rule(r#"Odd"} body {x\ 9"#).as_deref(),
            Some(r#":root { --desktop-font: "Odd\"} body {x\\"; }"#)
        );
        assert_eq!(font_rule("12"), None);
        assert_eq!(font_rule(""), None);
    }
}
