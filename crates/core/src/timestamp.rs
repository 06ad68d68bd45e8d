//! Provider timestamps, parsed leniently into UTC.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{ValidationError, shown};

/// A point in time, in UTC, to the nanosecond.
///
/// Providers write times in several shapes: jobs as `2016-04-25T20:04:47.591Z`, server details'
/// `updated` as `2018-09-19T11:42:08Z`, and `OS-SRV-USG:launched_at` without any zone
/// (`2018-09-19T11:42:08.000000`), which is UTC. [`Timestamp::parse`] takes all of them.
///
/// ```
/// use reimage_core::Timestamp;
///
/// let a = Timestamp::parse("2016-04-25T20:04:47.591Z")?;
/// let b = Timestamp::parse("2016-04-25T20:04:47.591000")?;
/// let c = Timestamp::parse("2016-04-25T22:04:47.591+02:00")?;
/// assert_eq!(a, b);
/// assert_eq!(a, c);
/// assert_eq!(a.unix_seconds(), 1461614687);
/// assert_eq!(a.to_string(), "2016-04-25T20:04:47.591Z");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// Parses RFC 3339 (`Z` or an offset), or a date and time with no zone, taken as UTC. A space
    /// may stand for the `T`.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let normalized;
        let mut text = s.trim();
        if text.len() > 10 && text.as_bytes()[10] == b' ' {
            normalized = format!("{}T{}", &text[..10], &text[11..]);
            text = &normalized;
        }
        let parsed = OffsetDateTime::parse(text, &Rfc3339).or_else(|_| {
            let with_zone = format!("{text}Z");
            OffsetDateTime::parse(&with_zone, &Rfc3339)
        });
        match parsed {
            Ok(t) => Ok(Self(t.to_offset(UtcOffset::UTC))),
            Err(_) => Err(ValidationError::new(
                "timestamp",
                format!("{} is not a date and time", shown(s)),
                "expected RFC 3339, e.g. 2016-04-25T20:04:47.591Z",
            )),
        }
    }

    /// The time `seconds` after the Unix epoch, or `None` out of range.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self)
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The time as a `time` value, in UTC.
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        self.0
    }

    /// The time `seconds` later (earlier when negative), saturating at the ends of the range.
    #[must_use]
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(time::Duration::seconds(seconds)))
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(t.to_offset(UtcOffset::UTC))
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Self {
        Self(OffsetDateTime::from(t))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "@{}", self.0.unix_timestamp()),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_table() {
        let cases = [
            ("2016-04-25T20:04:47.591Z", Some(1_461_614_687)),
            ("2018-09-19T11:42:08Z", Some(1_537_357_328)),
            ("2018-09-19T11:42:08.000000", Some(1_537_357_328)),
            ("2018-09-19 11:42:08", Some(1_537_357_328)),
            ("2018-09-19T13:42:08+02:00", Some(1_537_357_328)),
            ("2018-09-19", None),
            ("yesterday", None),
            ("", None),
            ("2018-13-19T11:42:08Z", None),
        ];
        for (text, want) in cases {
            let got = Timestamp::parse(text).ok().map(|t| t.unix_seconds());
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn non_ascii_never_panics() {
        assert!(Timestamp::parse("2018-09-1é 11:42:08").is_err());
        assert!(Timestamp::parse("ééééééééééééé").is_err());
    }
}
