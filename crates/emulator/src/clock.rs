//! Where the emulator reads the time: the system clock, or a clock a test moves by hand.
//!
//! The emulator derives every state from timestamps when it is asked (a job started at `t0` with
//! duration `d` is done at `t0 + d`), so a [`ManualClock`] makes a whole scenario deterministic:
//! advance it by 90 s and the reinstall is over, without sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reimage_core::Timestamp;

/// A source of the current time.
///
/// The emulator calls it on every request, for job progress, token and session expiry and the
/// AK/SK date check.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from(SystemTime::now())
    }
}

/// A clock that stands still until it is moved. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use reimage_core::Timestamp;
/// use reimage_emulator::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Timestamp::parse("2025-01-01T00:00:00Z")?);
/// let shared = clock.clone();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(shared.now().to_string(), "2025-01-01T00:01:30Z");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock that shows `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward by `by` (saturating at the end of the time range).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        let step = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        *now = Timestamp::from(now.to_offset_date_time().saturating_add(step));
    }

    /// Sets the clock to `to`, forward or back.
    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
