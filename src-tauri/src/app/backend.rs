//! Where the window's requests go: to the Latchkey that holds the accounts, through this
//! platform's `Holder` (`platform/`: `latchkey-resident` over the session bus on Linux, the core
//! in this process elsewhere; either way `latchkey_resident::window_api` answers). Also what the
//! page is waiting to hear of (`next_news`), whatever the platform.

use std::sync::atomic::{AtomicBool, Ordering};

use latchkey_resident::window_api::{Refusal, Request};

use super::platform::Holder;

pub struct Backend {
    holder: Holder,
    /// Whether the person has read the first close's notice (asked when the window opens).
    notice_seen: AtomicBool,
    /// What the page has to hear of, counted since the window started; it waits on it
    /// (`next_news`).
    news: tokio::sync::watch::Sender<Heard>,
}

/// How many times each thing the page hears of has happened since the window started.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Heard {
    /// Changes to what the window shows: the page then asks for the state.
    pub changes: u64,
    /// Closes of the window held back to explain first that Latchkey goes on without it.
    pub closings: u64,
}

impl Heard {
    /// Whether something happened that `known` has not counted.
    fn beyond(&self, known: &Heard) -> bool {
        self.changes > known.changes || self.closings > known.closings
    }
}

impl Backend {
    /// The backend of `holder`; the closing notice taken as unread until the settings say.
    pub fn new(holder: Holder) -> Self {
        Backend { holder, notice_seen: AtomicBool::new(false), news: tokio::sync::watch::Sender::new(Heard::default()) }
    }

    /// This platform's holder of the accounts.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// One request of the page or the window: the answer as JSON, or why it was refused.
    pub async fn request(&self, request: Request) -> Result<String, Refusal> {
        self.holder.request(request).await
    }

    /// Hands a sign-in callback (as the OS passed it) to whoever completes it.
    pub async fn deliver(&self, url: String) {
        self.holder.deliver(url).await;
    }

    /// Something the window shows has changed.
    pub fn changed(&self) {
        self.news.send_modify(|heard| heard.changes += 1);
    }

    /// The window's close was held back: the page explains that Latchkey goes on without it.
    pub fn closing_held(&self) {
        self.news.send_modify(|heard| heard.closings += 1);
    }

    /// Waits until something has happened that `known` has not counted, and answers with the
    /// counts. A change is counted before the page asks for the state it then shows, so none is
    /// missed: at worst the page asks twice.
    pub async fn next_news(&self, known: Heard) -> Heard {
        let mut news = self.news.subscribe();
        let heard = news.wait_for(|heard| heard.beyond(&known)).await.map(|heard| *heard);
        match heard {
            Ok(heard) => heard,
            // Only when the backend is gone, which every request outlives.
            Err(_) => std::future::pending().await,
        }
    }

    pub fn notice_seen(&self) -> bool {
        self.notice_seen.load(Ordering::SeqCst)
    }

    /// What Latchkey's settings say of the closing notice, once they are read.
    pub fn note_notice_seen(&self, seen: bool) {
        self.notice_seen.store(seen, Ordering::SeqCst);
    }

    /// Records that the closing notice was read.
    pub async fn set_notice_seen(&self) -> Result<(), Refusal> {
        self.request(Request::BackgroundNoticeSeen {}).await?;
        self.notice_seen.store(true, Ordering::SeqCst);
        Ok(())
    }
}
