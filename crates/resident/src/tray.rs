//! The tray icon, where the desktop shows them (KDE, Xfce, most others; GNOME only with an
//! extension, hence the window's own Quit button): a StatusNotifierItem on the session bus with
//! Open and Quit. It registers whenever a tray host is or becomes available.

use std::sync::Arc;

use ksni::menu::{MenuItem, StandardItem};
use ksni::TrayMethods;
use tracing::{info, warn};

/// What the tray's items do in this process.
pub type Action = Arc<dyn Fn() + Send + Sync>;

struct Tray {
    open: Action,
    quit: Action,
}

impl ksni::Tray for Tray {
    fn id(&self) -> String {
        latchkey_core::redirect::APP_IDENTIFIER.into()
    }

    fn title(&self) -> String {
        "Latchkey".into()
    }

    fn icon_name(&self) -> String {
        latchkey_core::redirect::APP_IDENTIFIER.into()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "Latchkey".into(),
            description: "Keeping your accounts connected".into(),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        (self.open)();
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        vec![
            StandardItem {
                label: "Open Latchkey".into(),
                activate: Box::new(|t: &mut Self| (t.open)()),
                ..Default::default()
            }
            .into(),
            MenuItem::Separator,
            StandardItem {
                label: "Quit Latchkey".into(),
                activate: Box::new(|t: &mut Self| (t.quit)()),
                ..Default::default()
            }
            .into(),
        ]
    }

    fn watcher_online(&self) {
        info!("tray icon shown");
    }

    fn watcher_offline(&self, _reason: ksni::OfflineReason) -> bool {
        // Keep the item: it registers again when a tray host comes (back).
        true
    }
}

/// Shows the tray icon for as long as the process runs (or until the returned handle shuts it).
pub async fn show(open: Action, quit: Action) -> Option<ksni::Handle<impl ksni::Tray>> {
    match (Tray { open, quit }).assume_sni_available(true).spawn().await {
        Ok(handle) => Some(handle),
        Err(e) => {
            warn!(error = %e, "no tray icon");
            None
        }
    }
}
