//! Where the window's requests go: to the Latchkey that holds the accounts. On Linux that is
//! `latchkey-resident`, over the session bus (started by the window when it does not run yet),
//! so the window's process holds no keychain, HTTP or token and closes for good with its window.
//! Elsewhere the window's process holds the core itself. Either way the requests are answered
//! by `latchkey_resident::window_api`.

use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(target_os = "linux"))]
use std::sync::Arc;

#[cfg(not(target_os = "linux"))]
use latchkey_core::Latchkey;
#[cfg(target_os = "linux")]
use latchkey_resident::client::{Failure, Resident};
use latchkey_resident::window_api::{Refusal, Request};

pub struct Backend {
    #[cfg(target_os = "linux")]
    resident: tokio::sync::Mutex<Option<Resident>>,
    #[cfg(not(target_os = "linux"))]
    core: Arc<Latchkey>,
    /// Whether the person has read the first close's notice (asked when the window opens).
    notice_seen: AtomicBool,
    /// Set by Quit: a latchkey-resident that ends from then on is not started again.
    #[cfg(target_os = "linux")]
    quitting: AtomicBool,
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
    #[cfg(target_os = "linux")]
    pub fn new() -> Self {
        Backend {
            resident: tokio::sync::Mutex::new(None),
            notice_seen: AtomicBool::new(false),
            quitting: AtomicBool::new(false),
            news: tokio::sync::watch::Sender::new(Heard::default()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new(core: Arc<Latchkey>) -> Self {
        let notice_seen = AtomicBool::new(core.settings().background_notice_seen);
        Backend { core, notice_seen, news: tokio::sync::watch::Sender::new(Heard::default()) }
    }

    /// The running `latchkey-resident`, started first when none runs.
    #[cfg(target_os = "linux")]
    pub async fn resident(&self) -> Result<Resident, String> {
        let mut held = self.resident.lock().await;
        if let Some(resident) = held.as_ref() {
            return Ok(resident.clone());
        }
        if self.quitting() {
            return Err("Latchkey is quitting".to_owned());
        }
        let program = std::env::current_exe().ok().and_then(|me| latchkey_resident::program_beside(&me));
        let resident =
            Resident::reach(program.as_deref(), super::environment::set_here(), std::time::Duration::from_secs(15))
                .await?;
        *held = Some(resident.clone());
        Ok(resident)
    }

    /// Quit has begun: latchkey-resident is asked to end, and none is started after it.
    #[cfg(target_os = "linux")]
    pub fn begin_quitting(&self) {
        self.quitting.store(true, Ordering::SeqCst);
    }

    #[cfg(target_os = "linux")]
    pub fn quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// Forgets the latchkey-resident that ended: the next request starts another.
    #[cfg(target_os = "linux")]
    pub async fn forget_resident(&self) {
        *self.resident.lock().await = None;
    }

    /// One request of the page or the window: the answer as JSON, or why it was refused.
    pub async fn request(&self, request: Request) -> Result<String, Refusal> {
        #[cfg(target_os = "linux")]
        {
            let resident = self.resident().await?;
            match resident.request(&request).await {
                Ok(answer) => Ok(answer),
                Err(Failure::Said(refusal)) => Err(refusal),
                // It ended (a crash, `latchkey quit` from a terminal): start it again, once.
                Err(Failure::Unreachable(e)) => {
                    tracing::warn!(error = %e, "latchkey-resident could not be reached; starting it again");
                    self.forget_resident().await;
                    match self.resident().await?.request(&request).await {
                        Ok(answer) => Ok(answer),
                        Err(Failure::Said(refusal)) => Err(refusal),
                        Err(unreachable) => Err(unreachable.to_string().into()),
                    }
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        latchkey_resident::window_api::answer(&self.core, request).await
    }

    #[cfg(not(target_os = "linux"))]
    pub fn core(&self) -> &Arc<Latchkey> {
        &self.core
    }

    /// Hands a sign-in callback (as the OS passed it) to whoever completes it.
    pub async fn deliver(&self, url: String) {
        #[cfg(target_os = "linux")]
        match self.resident().await {
            Ok(resident) => {
                if let Err(e) = resident.deliver(&url).await {
                    tracing::warn!(error = %e, "latchkey-resident did not take the sign-in");
                }
            }
            Err(e) => tracing::warn!(error = %e, "no Latchkey to take the sign-in"),
        }
        #[cfg(not(target_os = "linux"))]
        latchkey_resident::window_api::complete_callback(&self.core, &url).await;
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

    /// Reads whether the closing notice was read (once the backend answers).
    #[cfg(target_os = "linux")]
    pub async fn learn_notice_seen(&self) {
        if let Ok(settings) = self.request(Request::GetSettings {}).await {
            let seen = serde_json::from_str::<serde_json::Value>(&settings)
                .ok()
                .and_then(|s| s.get("background_notice_seen").and_then(serde_json::Value::as_bool))
                .unwrap_or(false);
            self.notice_seen.store(seen, Ordering::SeqCst);
        }
    }

    /// Records that the closing notice was read.
    pub async fn set_notice_seen(&self) -> Result<(), Refusal> {
        self.request(Request::BackgroundNoticeSeen {}).await?;
        self.notice_seen.store(true, Ordering::SeqCst);
        Ok(())
    }
}
