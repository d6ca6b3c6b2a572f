//! Desktop notifications from the resident Latchkey, through the notification service on the
//! session bus (`org.freedesktop.Notifications`), when a connection needs the person.

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_core::{CoreEvent, Latchkey};
use tracing::warn;
use zbus::zvariant::Value;

/// Tells the person, as long as the process runs, when a connection needs reconnecting.
pub fn reconnects(core: Arc<Latchkey>) {
    let mut events = core.events();
    tokio::spawn(async move {
        let bus = match zbus::Connection::session().await {
            Ok(bus) => bus,
            Err(e) => return warn!(error = %e, "no session bus: reconnect notices will not be shown"),
        };
        loop {
            match events.recv().await {
                Ok(CoreEvent::NeedsReconnect(connection)) => {
                    let provider = core.provider_name(&connection.provider);
                    let summary = format!("Reconnect {} to {provider}", connection.nickname);
                    let body =
                        format!("{provider} no longer accepts Latchkey's access. Open Latchkey and click Reconnect.");
                    if let Err(e) = show(&bus, &summary, &body).await {
                        warn!(error = %e, "could not show a notification");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
}

async fn show(bus: &zbus::Connection, summary: &str, body: &str) -> zbus::Result<()> {
    let hints: HashMap<&str, Value<'_>> = HashMap::from([("desktop-entry", Value::from("dev.latchkey.desktop"))]);
    let actions: Vec<&str> = Vec::new();
    bus.call_method(
        Some("org.freedesktop.Notifications"),
        "/org/freedesktop/Notifications",
        Some("org.freedesktop.Notifications"),
        "Notify",
        &("Latchkey", 0u32, "dev.latchkey.desktop", summary, body, actions, hints, -1i32),
    )
    .await
    .map(drop)
}
