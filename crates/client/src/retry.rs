//! Backoff with jitter, `Retry-After`, and the schedule of polls while waiting.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;

/// How often and how long the transport retries what is safe to retry.
///
/// The wait before attempt `n + 1` is a random duration between half and all of
/// `base × 2^(n-1)`, capped at `cap` ("equal jitter"), unless the answer said `Retry-After`.
/// A throttled call (429) may take more attempts ([`max_throttled_attempts`](Self::max_throttled_attempts)):
/// real limits run over minutes and say no `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    cap: Duration,
    max_retry_after: Duration,
    max_throttled_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            max_throttled_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// A policy of at most `max_attempts` attempts in all (1: no retry).
    pub fn new(max_attempts: u32, base: Duration, cap: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base,
            cap,
            max_retry_after: Duration::from_secs(60),
            max_throttled_attempts: max_attempts.max(1),
        }
    }

    /// No retries at all.
    pub fn none() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// The longest `Retry-After` honoured; longer ones are cut to it (default 60 s).
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The number of attempts in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// At most `max` attempts in all for a call that is throttled (429), which is refused before
    /// anything runs, so that it can wait out a limit over minutes (default 8; [`new`](Self::new)
    /// sets it to its `max_attempts`).
    #[must_use]
    pub fn with_max_throttled_attempts(mut self, max: u32) -> Self {
        self.max_throttled_attempts = max.max(1);
        self
    }

    /// The number of attempts in all for a throttled call.
    pub fn max_throttled_attempts(&self) -> u32 {
        self.max_throttled_attempts
    }

    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The wait after failed attempt `attempt` (from 1), with jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let full = exp.min(self.cap);
        let half = full / 2;
        half + jitter(full - half)
    }
}

/// The wait an answer asks for in `Retry-After`: whole seconds (HTTP dates are not used by
/// either provider and are ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// A random duration in `[0, max]`.
pub(crate) fn jitter(max: Duration) -> Duration {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let r = hasher.finish();
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(r % nanos.saturating_add(1))
}

/// How a wait polls: the first interval, growth, the cap, and the deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct PollSchedule {
    /// The first interval between polls.
    pub initial: Duration,
    /// The cap on the interval.
    pub max: Duration,
    /// How much the interval grows after each poll (1.5 by default).
    pub factor: f64,
    /// How long the whole wait may take before it gives up.
    pub deadline: Duration,
    /// How long an ECS job may wait in `PENDING_PAYMENT` (a yearly/monthly server's order, not
    /// paid yet) before the wait gives up; [`deadline`](Self::deadline) counts from the payment.
    pub payment_deadline: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(15),
            factor: 1.5,
            deadline: Duration::from_secs(30 * 60),
            payment_deadline: Duration::from_secs(30 * 60),
        }
    }
}

impl PollSchedule {
    /// A schedule for a fast server (the emulator at a small time scale): 50 ms growing to
    /// 500 ms, with `deadline`.
    pub fn fast(deadline: Duration) -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            factor: 1.5,
            deadline,
            payment_deadline: deadline,
        }
    }

    /// How long to sleep before the next poll of a wait that began at `started`: `interval`, cut
    /// so that the last poll falls on the deadline; `None` once the deadline has passed.
    pub fn pause(&self, started: std::time::Instant, interval: Duration) -> Option<Duration> {
        let left = self.deadline.checked_sub(started.elapsed())?;
        (!left.is_zero()).then(|| interval.min(left))
    }

    /// The interval after `current`.
    pub fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor.max(1.0)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stays_under_the_cap() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..=10 {
            let full =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                let d = p.backoff(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        // The jitter is not a constant.
        let waits: std::collections::BTreeSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_last_poll_falls_on_the_deadline() {
        let s = PollSchedule::fast(Duration::from_secs(10));
        let now = std::time::Instant::now();
        assert_eq!(
            s.pause(now, Duration::from_millis(50)),
            Some(Duration::from_millis(50))
        );
        let long = s.pause(now, Duration::from_secs(60)).unwrap();
        assert!(long <= Duration::from_secs(10) && long > Duration::from_secs(9));
        let past = now.checked_sub(Duration::from_secs(11)).unwrap();
        assert_eq!(s.pause(past, Duration::from_millis(50)), None);
    }

    #[test]
    fn polls_grow_to_the_cap() {
        let s = PollSchedule::fast(Duration::from_secs(1));
        let mut d = s.initial;
        for _ in 0..20 {
            d = s.next(d);
        }
        assert_eq!(d, s.max);
    }
}
