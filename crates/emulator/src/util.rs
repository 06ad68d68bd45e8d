//! Small helpers: the id generator, and the time formats each provider writes.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

/// A SplitMix64 generator for ids, tokens and signatures: seeded for repeatable runs, or from
/// the process's hash keys otherwise. Not cryptographic, and it need not be: the emulator's
/// credentials guard nothing.
#[derive(Debug, Clone)]
pub(crate) struct IdGen(u64);

impl IdGen {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Self(seed.unwrap_or_else(|| RandomState::new().build_hasher().finish()))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 32 lower-case hex digits, the shape of ECS job ids and request ids.
    pub(crate) fn hex32(&mut self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for word in [self.next_u64(), self.next_u64()] {
            for shift in (0..16).rev() {
                out.push(char::from(DIGITS[((word >> (shift * 4)) & 0xf) as usize]));
            }
        }
        out
    }
}

/// `t + d`, saturating at the end of the time range.
pub(crate) fn after(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
}

fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(UtcOffset::UTC)
}

fn date_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Jobs: `2016-04-25T20:04:47.591Z`. Written in one go: the job query, the emulator's hottest
/// call, writes three of them.
pub(crate) fn job_time(t: OffsetDateTime) -> String {
    use std::fmt::Write as _;
    let t = utc(t);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    );
    out
}

/// Server `created` and `updated`: `2018-09-13T07:06:51Z`.
pub(crate) fn second_time(t: OffsetDateTime) -> String {
    format!("{}Z", date_time(utc(t)))
}

/// `OS-SRV-USG:launched_at`: `2018-09-13T07:04:09.197749`, no zone (UTC).
pub(crate) fn launch_time(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!("{}.{:06}", date_time(t), t.microsecond())
}

/// IAM `expires_at` and `issued_at`: `2019-07-24T07:57:50.614000Z`.
pub(crate) fn iam_time(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!("{}.{:06}Z", date_time(t), t.microsecond())
}

/// The `X-Sdk-Date` form, `20230527T000431Z`, for the gateway's messages.
pub(crate) fn sdk_time(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Reads a text straight into a [`SecretString`], for `#[serde(deserialize_with)]`.
pub(crate) fn secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<secrecy::SecretString, D::Error> {
    <String as serde::Deserialize>::deserialize(deserializer).map(secrecy::SecretString::from)
}

/// Compares in time that depends only on the lengths.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_461_614_687_591_123_456).unwrap();
        assert_eq!(job_time(t), "2016-04-25T20:04:47.591Z");
        assert_eq!(second_time(t), "2016-04-25T20:04:47Z");
        assert_eq!(launch_time(t), "2016-04-25T20:04:47.591123");
        assert_eq!(iam_time(t), "2016-04-25T20:04:47.591123Z");
        assert_eq!(sdk_time(t), "20160425T200447Z");
    }

    #[test]
    fn seeded_ids_repeat() {
        let (mut a, mut b) = (IdGen::new(Some(7)), IdGen::new(Some(7)));
        assert_eq!(a.hex32(), b.hex32());
        assert_eq!(a.hex32().len(), 32);
        assert!(same_secret(b"abc", b"abc") && !same_secret(b"abc", b"abd"));
    }
}
