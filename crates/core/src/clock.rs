//! Wall-clock time that can be slept on: the system's, and (behind the `test-clock` feature) a
//! manual one for tests of suspends and clock jumps.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Time as the core reads it: expiries, refresh deadlines and sign-in lifetimes.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Returns at `deadline` by the wall clock, or earlier when the clock is set (a jump), so
    /// that the caller looks again.
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
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
        if wall_timer::sleep_until(deadline).await.is_ok() {
            return;
        }
        let left = (deadline - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

#[cfg(target_os = "linux")]
mod wall_timer {
    use chrono::{DateTime, Utc};
    use rustix::io::Errno;
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;

    /// Sleeps until `deadline` (wall clock) or until the clock is set.
    pub async fn sleep_until(deadline: DateTime<Utc>) -> std::io::Result<()> {
        let fd = timerfd_create(TimerfdClockId::Realtime, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)?;
        let at = Timespec {
            tv_sec: deadline.timestamp().max(0),
            // Zero would disarm the timer: a deadline on the second is a nanosecond later.
            tv_nsec: i64::from(deadline.timestamp_subsec_nanos().clamp(1, 999_999_999)) as _,
        };
        let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: at };
        timerfd_settime(&fd, TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET, &spec)?;
        // Tokio deprecates this safe constructor because an arbitrary `AsRawFd` could close or
        // swap its descriptor while registered; an `OwnedFd` moved in cannot, which is exactly
        // the condition its `unsafe` replacement asks the caller to uphold.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        loop {
            let mut guard = fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(guard.get_inner(), &mut expirations) {
                Ok(8) => return Ok(()),
                // The clock was set: wake the caller to look again.
                Err(Errno::CANCELED) => return Ok(()),
                Err(Errno::AGAIN) => guard.clear_ready(),
                Ok(_) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A clock that moves only when told: for tests of suspends and clock jumps.
#[cfg(any(test, feature = "test-clock"))]
pub struct ManualClock {
    now: std::sync::Mutex<DateTime<Utc>>,
    moved: tokio::sync::Notify,
}

#[cfg(any(test, feature = "test-clock"))]
impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { now: std::sync::Mutex::new(now), moved: tokio::sync::Notify::new() }
    }

    /// Sets the time, as a resume or a clock change does, and wakes sleepers.
    pub fn set(&self, now: DateTime<Utc>) {
        *crate::sync::lock(&self.now) = now;
        self.moved.notify_waiters();
    }
}

#[cfg(any(test, feature = "test-clock"))]
#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *crate::sync::lock(&self.now)
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let moved = self.moved.notified();
        if self.now() >= deadline {
            return;
        }
        moved.await;
    }
}
