//! The clock the clients read: for AK/SK signatures, token and session freshness, and the dry
//! run's request. It is a parameter ([`crate::EcsClient::with_clock`],
//! [`crate::EdisClient::with_clock`]), so a test or a reproducible dry run can fix the time.

use std::fmt;

use reimage_core::Timestamp;

/// Tells the time.
pub trait Clock: fmt::Debug + Send + Sync {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The system's clock: the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::now_utc())
    }
}

/// A clock that always says the same time: two requests prepared with it are byte for byte the
/// same.
///
/// ```
/// use reimage_client::{Clock, FixedClock};
/// use reimage_core::Timestamp;
///
/// let at = Timestamp::parse("2026-01-01T00:00:00Z")?;
/// assert_eq!(FixedClock(at).now(), at);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}
