//! The background refresher: refreshes every connection ahead of its expiry, retries transient
//! failures with capped exponential backoff (honouring `Retry-After`), and sleeps until the next
//! deadline by the wall clock, so that after a suspend or a clock jump whatever is overdue is
//! refreshed at once, most overdue first.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::manager::ConnectionStatus;
use super::refresh::{due_at, Want};
use super::{AuthError, ConnectionId, ConnectionManager};

/// Longest wait between two attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// The scheduler's time: a wall clock it can sleep on.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Returns at `deadline` by the wall clock, or earlier when the clock is set (a jump), so
    /// that the caller looks again.
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

/// The system's wall clock. On Linux it sleeps on a `timerfd` with an absolute
/// `CLOCK_REALTIME` deadline that also wakes on clock changes (`TFD_TIMER_CANCEL_ON_SET`); a
/// suspend that outlasts the deadline ends it on resume. Elsewhere it sleeps at most a minute at
/// a time and looks at the clock again.
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        #[cfg(target_os = "linux")]
        if timerfd::sleep_until(deadline).await.is_ok() {
            return;
        }
        let left = (deadline - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

#[cfg(target_os = "linux")]
mod timerfd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use chrono::{DateTime, Utc};
    use tokio::io::unix::AsyncFd;

    /// Sleeps until `deadline` (wall clock) or until the clock is set.
    pub async fn sleep_until(deadline: DateTime<Utc>) -> std::io::Result<()> {
        // SAFETY: plain syscalls on a descriptor we own; the spec struct is fully initialised.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let nanos = deadline.timestamp_subsec_nanos();
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: deadline.timestamp().max(0) as libc::time_t,
                tv_nsec: nanos.max(1) as _,
            },
        };
        let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is an open timerfd owned by the AsyncFd until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        loop {
            let mut guard = fd.readable().await?;
            let mut expirations = 0u64;
            let read = unsafe { libc::read(guard.get_inner().as_raw_fd(), (&mut expirations as *mut u64).cast(), 8) };
            if read == 8 {
                return Ok(());
            }
            let error = std::io::Error::last_os_error();
            match error.raw_os_error() {
                // The clock was set: wake the caller to look again.
                Some(libc::ECANCELED) => return Ok(()),
                Some(libc::EAGAIN) => guard.clear_ready(),
                _ => return Err(error),
            }
        }
    }
}

/// A clock that moves only when told: for tests of suspends and clock jumps.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    moved: Notify,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { now: Mutex::new(now), moved: Notify::new() }
    }

    /// Sets the time, as a resume or a clock change does, and wakes sleepers.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
        self.moved.notify_waiters();
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let moved = self.moved.notified();
        if self.now() >= deadline {
            return;
        }
        moved.await;
    }
}

/// What the scheduler did, for the benchmark and the log.
#[derive(Debug, Default)]
pub struct Stats {
    /// Times the loop woke up.
    pub wakeups: AtomicU64,
    /// Wake-ups that found nothing due, no refresh finished and nothing changed.
    pub idle_wakeups: AtomicU64,
    pub refreshes: AtomicU64,
    pub failures: AtomicU64,
}

#[derive(Clone, Copy)]
struct Retry {
    attempts: u32,
    not_before: DateTime<Utc>,
}

#[cfg(test)]
fn backoff(attempts: u32, error: &AuthError) -> Duration {
    backoff_within(FIRST_BACKOFF, MAX_BACKOFF, attempts, error)
}

fn backoff_within(first: Duration, max: Duration, attempts: u32, error: &AuthError) -> Duration {
    let exp = first.saturating_mul(1 << attempts.saturating_sub(1).min(10));
    let wait = exp.min(max);
    match error {
        AuthError::RateLimited { retry_after: Some(s) } => wait.max(Duration::from_secs(*s)),
        _ => wait,
    }
}

pub struct Scheduler {
    manager: Arc<ConnectionManager>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    backoff: (Duration, Duration),
    stats: Arc<Stats>,
}

impl Scheduler {
    /// A scheduler on the manager's clock.
    pub fn new(manager: Arc<ConnectionManager>) -> Self {
        let clock = manager.clock();
        Self { manager, clock, concurrency: 8, backoff: (FIRST_BACKOFF, MAX_BACKOFF), stats: Arc::default() }
    }

    /// The first and the longest wait between attempts (5 s and 5 min by default).
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }

    /// How many refreshes may be in flight at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        let mut changes = self.manager.subscribe();
        let mut retries: HashMap<ConnectionId, Retry> = HashMap::new();
        let mut running: HashSet<ConnectionId> = HashSet::new();
        let mut tasks: JoinSet<(ConnectionId, Result<(), AuthError>)> = JoinSet::new();
        let far = chrono::Duration::days(3650);
        loop {
            let now = self.clock.now();
            let mut next = now + far;
            let mut due = Vec::new();
            for c in self.manager.list() {
                if c.status != ConnectionStatus::Connected || running.contains(&c.id) {
                    continue;
                }
                let Some(mut at) = due_at(&c) else { continue };
                if let Some(r) = retries.get(&c.id) {
                    at = at.max(r.not_before);
                }
                if at <= now {
                    due.push((at, c.id));
                } else {
                    next = next.min(at);
                }
            }
            // Most overdue first (at start-up, the expired and nearly expired).
            due.sort();
            let started = due.len().min(self.concurrency.saturating_sub(running.len()));
            for (_, id) in due.iter().take(started) {
                running.insert(id.clone());
                let manager = self.manager.clone();
                let id = id.clone();
                tasks.spawn(async move {
                    let result = manager.access_token(&id, Want::DueAt(now)).await.map(|_| ());
                    (id, result)
                });
            }
            if started < due.len() {
                next = now; // more are due: come back as soon as a slot frees up
            }

            let idle = due.is_empty();
            tokio::select! {
                _ = self.clock.sleep_until(next), if next > now => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    if idle && self.clock.now() < next {
                        self.stats.idle_wakeups.fetch_add(1, Ordering::Relaxed);
                    }
                }
                changed = changes.changed() => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    if changed.is_err() {
                        return; // the manager is gone
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    match done {
                        Ok((id, result)) => {
                            running.remove(&id);
                            self.finished(&mut retries, id, result);
                        }
                        Err(e) => warn!(error = %e, "a refresh task failed"),
                    }
                }
            }
        }
    }

    fn finished(&self, retries: &mut HashMap<ConnectionId, Retry>, id: ConnectionId, result: Result<(), AuthError>) {
        match result {
            Ok(()) => {
                self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
                retries.remove(&id);
            }
            Err(AuthError::NeedsReconnect { .. }) | Err(AuthError::UnknownConnection(_)) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                retries.remove(&id);
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let attempts = retries.get(&id).map_or(1, |r| r.attempts + 1);
                let wait = backoff_within(self.backoff.0, self.backoff.1, attempts, &e);
                debug!(connection = %id, attempts, wait_s = wait.as_secs(), error = %e, "refresh will be retried");
                let not_before = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                retries.insert(id, Retry { attempts, not_before });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        let e = AuthError::Timeout;
        assert_eq!(backoff(1, &e), Duration::from_secs(5));
        assert_eq!(backoff(2, &e), Duration::from_secs(10));
        assert_eq!(backoff(4, &e), Duration::from_secs(40));
        assert_eq!(backoff(30, &e), MAX_BACKOFF);
        let limited = AuthError::RateLimited { retry_after: Some(120) };
        assert_eq!(backoff(1, &limited), Duration::from_secs(120));
    }
}
