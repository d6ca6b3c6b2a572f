//! What the core tells whoever listens: "the view changed", "the roster changed" (connections
//! came, went or changed status) and events a person should hear about.

use tokio::sync::{broadcast, watch};

use super::Connection;

/// What the core tells the app beyond "something changed".
#[derive(Clone, Debug)]
pub enum CoreEvent {
    /// The provider no longer accepts this connection's grant: tell the person.
    NeedsReconnect(Connection),
}

pub struct Signals {
    changes: watch::Sender<u64>,
    /// Bumped when connections come, go or change status (not when one is refreshed): the
    /// scheduler rebuilds its queue then.
    roster: watch::Sender<u64>,
    events: broadcast::Sender<CoreEvent>,
}

impl Default for Signals {
    fn default() -> Self {
        Self { changes: watch::channel(0).0, roster: watch::channel(0).0, events: broadcast::channel(64).0 }
    }
}

impl Signals {
    /// Something the window shows has changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Connections came, went or changed status (and so the view changed too).
    pub fn roster_changed(&self) {
        self.roster.send_modify(|n| *n = n.wrapping_add(1));
        self.changed();
    }

    pub fn tell(&self, event: CoreEvent) {
        // Nobody listening is fine: the state is in the view as well.
        let _ = self.events.send(event);
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn roster(&self) -> watch::Receiver<u64> {
        self.roster.subscribe()
    }

    pub fn events(&self) -> broadcast::Receiver<CoreEvent> {
        self.events.subscribe()
    }
}
