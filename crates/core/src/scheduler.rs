//! The background refresher: refreshes every connection ahead of its expiry, retries transient
//! failures with capped exponential backoff (honouring `Retry-After`), and sleeps until the next
//! deadline by the wall clock, so that after a suspend or a clock jump whatever is overdue is
//! refreshed at once, most overdue first.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use super::clock::Clock;
use super::refresh::Want;
use super::{AuthError, ConnectionId, ConnectionManager, ProviderId};

/// Longest wait between two attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_secs(5);

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

/// `now` plus `wait`, or the latest date there is when that overflows.
fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(wait).ok().and_then(|w| now.checked_add_signed(w)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn backoff_within(first: Duration, max: Duration, attempts: u32, error: &AuthError) -> Duration {
    let exp = first.saturating_mul(1 << attempts.saturating_sub(1).min(10));
    let wait = exp.min(max);
    match error {
        AuthError::RateLimited { retry_after: Some(s) } => {
            wait.max(Duration::from_secs((*s).min(crate::http::MAX_RETRY_AFTER_SECS)))
        }
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

    /// Runs until the task is dropped. The queue of deadlines is rebuilt when connections come,
    /// go or change status, and updated one connection at a time after each refresh.
    pub async fn run(self) {
        let mut roster = self.manager.connections().signals().roster();
        let mut retries: HashMap<ConnectionId, Retry> = HashMap::new();
        let mut running: HashSet<ConnectionId> = HashSet::new();
        let mut tasks: JoinSet<Result<(), AuthError>> = JoinSet::new();
        // Which connection each task refreshes, so that even a task that panicked is booked.
        let mut of_task: HashMap<tokio::task::Id, ConnectionId> = HashMap::new();
        let mut queue = Queue::default();
        queue.rebuild(self.manager.connections().due_times());
        // Providers that could not be reached, with the connection that probes them.
        let mut offline: HashMap<ProviderId, ConnectionId> = HashMap::new();
        let far = Duration::from_secs(3650 * 86_400);
        loop {
            let now = self.clock.now();
            // Most overdue first (at start-up, the expired and nearly expired).
            let slots = self.concurrency.saturating_sub(running.len());
            let due = queue.pop_due(now, slots);
            for id in due {
                running.insert(id.clone());
                let manager = self.manager.clone();
                let refreshed = id.clone();
                let task =
                    tasks.spawn(async move { manager.access_token(&refreshed, Want::DueAt(now)).await.map(|_| ()) });
                of_task.insert(task.id(), id);
            }
            let next = if queue.has_due(now) { now } else { queue.next().unwrap_or(later(now, far)) };

            tokio::select! {
                _ = self.clock.sleep_until(next), if next > now => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    if !queue.has_due(self.clock.now()) {
                        self.stats.idle_wakeups.fetch_add(1, Ordering::Relaxed);
                    }
                }
                changed = roster.changed() => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    if changed.is_err() {
                        return; // the manager is gone
                    }
                    queue.rebuild(self.manager.connections().due_times().into_iter().filter(|(_, id)| !running.contains(id)).collect());
                    for (id, r) in &retries {
                        queue.delay(id, r.not_before);
                    }
                    self.park(&mut queue, &offline);
                }
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    self.stats.wakeups.fetch_add(1, Ordering::Relaxed);
                    let booked = match done {
                        Ok((task, result)) => of_task.remove(&task).map(|id| (id, result)),
                        Err(e) => {
                            // A refresh that panicked is a failure of that connection alone: it is
                            // retried with backoff like any other, and the loop goes on.
                            error!(error = %e, "a refresh stopped unexpectedly; it will be retried");
                            let failed = AuthError::Storage("the refresh stopped unexpectedly".into());
                            of_task.remove(&e.id()).map(|id| (id, Err(failed)))
                        }
                    };
                    match booked {
                        Some((id, result)) => {
                            running.remove(&id);
                            let succeeded = result.is_ok();
                            let unreachable = self.finished(&mut retries, &id, result);
                            if let Some(at) = self.manager.connections().due_time(&id) {
                                let at = retries.get(&id).map_or(at, |r| at.max(r.not_before));
                                queue.insert(id.clone(), at);
                            }
                            let provider = self.manager.connection(&id).map(|c| c.provider);
                            match provider {
                                Some(p) if unreachable => {
                                    if offline.insert(p.clone(), id.clone()).is_none() {
                                        debug!(provider = %p, "provider unreachable: waiting for it with one probe");
                                    }
                                    self.park(&mut queue, &offline);
                                }
                                Some(p) if succeeded && offline.remove(&p).is_some() => {
                                    debug!(provider = %p, "provider reachable again");
                                    queue.rebuild(self.manager.connections().due_times().into_iter().filter(|(_, id)| !running.contains(id)).collect());
                                    for (id, r) in &retries {
                                        queue.delay(id, r.not_before);
                                    }
                                    self.park(&mut queue, &offline);
                                }
                                _ => {}
                            }
                        }
                        None => warn!("a refresh finished that the scheduler did not start"),
                    }
                }
            }
        }
    }

    /// Books the result of one refresh; true when it failed to reach its provider at all.
    fn finished(
        &self,
        retries: &mut HashMap<ConnectionId, Retry>,
        id: &ConnectionId,
        result: Result<(), AuthError>,
    ) -> bool {
        match result {
            Ok(()) => {
                self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
                retries.remove(id);
                false
            }
            Err(AuthError::NeedsReconnect { .. }) | Err(AuthError::UnknownConnection(_)) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                retries.remove(id);
                false
            }
            Err(e) => {
                let unreachable = matches!(e, AuthError::Network(_));
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let attempts = retries.get(id).map_or(1, |r| r.attempts + 1);
                let wait = backoff_within(self.backoff.0, self.backoff.1, attempts, &e);
                debug!(connection = %id, attempts, wait_s = wait.as_secs(), error = %e, "refresh will be retried");
                let not_before = later(self.clock.now(), wait);
                retries.insert(id.clone(), Retry { attempts, not_before });
                unreachable
            }
        }
    }

    /// While a provider cannot be reached (the network is down, or it is), its other
    /// connections wait and one of them probes at the backoff's pace, instead of every
    /// connection burning its own retries.
    fn park(&self, queue: &mut Queue, offline: &HashMap<ProviderId, ConnectionId>) {
        for (provider, probe) in offline {
            for id in self.manager.connections().ids_of(provider) {
                if &id != probe {
                    queue.delay(&id, later(self.clock.now(), Duration::from_secs(86_400)));
                }
            }
        }
    }
}

/// Deadlines in order, with an index to move one.
#[derive(Default)]
struct Queue {
    by_time: std::collections::BTreeSet<(DateTime<Utc>, ConnectionId)>,
    by_id: HashMap<ConnectionId, DateTime<Utc>>,
}

impl Queue {
    fn rebuild(&mut self, entries: Vec<(DateTime<Utc>, ConnectionId)>) {
        self.by_id = entries.iter().map(|(at, id)| (id.clone(), *at)).collect();
        self.by_time = entries.into_iter().collect();
    }

    fn insert(&mut self, id: ConnectionId, at: DateTime<Utc>) {
        if let Some(old) = self.by_id.insert(id.clone(), at) {
            self.by_time.remove(&(old, id.clone()));
        }
        self.by_time.insert((at, id));
    }

    /// Moves a deadline later, never earlier.
    fn delay(&mut self, id: &ConnectionId, not_before: DateTime<Utc>) {
        if let Some(at) = self.by_id.get(id).copied() {
            if at < not_before {
                self.insert(id.clone(), not_before);
            }
        }
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(at, _)| *at)
    }

    fn has_due(&self, now: DateTime<Utc>) -> bool {
        self.next().is_some_and(|at| at <= now)
    }

    /// Takes out up to `n` entries due by `now`, most overdue first.
    fn pop_due(&mut self, now: DateTime<Utc>, n: usize) -> Vec<ConnectionId> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.by_time.first() {
                Some((at, _)) if *at <= now => {
                    if let Some((_, id)) = self.by_time.pop_first() {
                        self.by_id.remove(&id);
                        out.push(id);
                    }
                }
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ConnectionId {
        ConnectionId::parse(&format!("acme-{n}")).unwrap()
    }

    #[test]
    fn the_most_overdue_come_first_and_the_future_waits() {
        let now = Utc::now();
        let mut q = Queue::default();
        q.rebuild(vec![
            (now - chrono::Duration::seconds(5), id(1)),
            (now + chrono::Duration::seconds(60), id(2)),
            (now - chrono::Duration::hours(3), id(3)),
            (now - chrono::Duration::seconds(1), id(4)),
        ]);
        assert_eq!(q.pop_due(now, 2), vec![id(3), id(1)]);
        assert_eq!(q.pop_due(now, 10), vec![id(4)]);
        assert!(!q.has_due(now));
        assert_eq!(q.next(), Some(now + chrono::Duration::seconds(60)));
        q.delay(&id(2), now + chrono::Duration::seconds(90));
        q.delay(&id(2), now + chrono::Duration::seconds(10));
        assert_eq!(q.next(), Some(now + chrono::Duration::seconds(90)), "delay never moves earlier");
    }

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
