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
        self.hex32_inline().as_str().to_owned()
    }

    /// [`hex32`](Self::hex32) without an allocation: the same digits from the same draws.
    pub(crate) fn hex32_inline(&mut self) -> Hex32 {
        let mut out = [0u8; 32];
        let (first, second) = (self.next_u64(), self.next_u64());
        for (at, half) in [first >> 32, first, second >> 32, second]
            .into_iter()
            .enumerate()
        {
            // Truncation meant: the low 32 bits, whose eight digits go here.
            out[at * 8..at * 8 + 8].copy_from_slice(&hex8(half as u32));
        }
        Hex32(out)
    }
}

/// The eight lower-case hex digits of `v`, most significant first, as `{:08x}` writes them:
/// each nibble spread to a byte of its own, then all eight made digits at once (every call
/// draws a request id).
fn hex8(v: u32) -> [u8; 8] {
    const fn ones(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    let mut x = u64::from(v);
    x = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    // 1 in each byte whose nibble is 10 or more: those go on from 'a', the others from '0'.
    let letters = ((x + ones(6)) >> 4) & ones(1);
    (x + ones(b'0') + letters * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// 32 lower-case hex digits held inline: a request id, which every call draws and the request
/// log keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hex32([u8; 32]);

impl Hex32 {
    pub(crate) fn as_str(&self) -> &str {
        // Only ever hex digits (ASCII), so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `t + d`, saturating at the end of the time range.
pub(crate) fn after(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX))
}

fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(UtcOffset::UTC)
}

/// `YYYY-MM-DDTHH:MM:SS` of `t` as it is (callers pass UTC), digit by digit: the answers write
/// times on every call. A year outside 0–9999 is written as `{:04}` writes it.
fn push_date_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    let year = match u32::try_from(t.year()) {
        Ok(year) if year <= 9999 => year,
        _ => {
            use std::io::Write as _;
            let _ = write!(out, "{:04}", t.year());
            return push_rest_of_date_time(out, t);
        }
    };
    push_digits(out, year, 4);
    push_rest_of_date_time(out, t);
}

fn push_rest_of_date_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    out.push(b'-');
    push_digits(out, u32::from(u8::from(t.month())), 2);
    out.push(b'-');
    push_digits(out, u32::from(t.day()), 2);
    out.push(b'T');
    push_digits(out, u32::from(t.hour()), 2);
    out.push(b':');
    push_digits(out, u32::from(t.minute()), 2);
    out.push(b':');
    push_digits(out, u32::from(t.second()), 2);
}

/// The last `width` decimal digits of `n`, with leading zeros.
fn push_digits(out: &mut Vec<u8>, n: u32, width: u32) {
    for place in (0..width).rev() {
        // A digit: always below 10.
        out.push(b'0' + ((n / 10u32.pow(place)) % 10) as u8);
    }
}

/// Bytes this module wrote (ASCII only) as a `String`.
fn text(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_default()
}

/// Jobs: `2016-04-25T20:04:47.591Z`.
pub(crate) fn job_time(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(24);
    push_job_time(&mut out, t);
    text(out)
}

/// Appends [`job_time`] of `t`. The job query, the emulator's hottest call, writes three of
/// them, so the digits are written by hand.
pub(crate) fn push_job_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    let t = utc(t);
    let (year, month, day) = t.to_calendar_date();
    let Some(year) = u32::try_from(year).ok().filter(|y| *y <= 9999) else {
        push_date_time(out, t);
        out.push(b'.');
        push_digits(out, u32::from(t.millisecond()), 3);
        out.push(b'Z');
        return;
    };
    // The date read from the calendar once, the digits written to the stack, then copied.
    let (hour, minute, second, milli) = t.to_hms_milli();
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, n: u32, width: usize| {
        let mut n = n;
        for place in (at..at + width).rev() {
            // A digit: always below 10.
            text[place] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, year, 4);
    put(5, u32::from(u8::from(month)), 2);
    put(8, u32::from(day), 2);
    put(11, u32::from(hour), 2);
    put(14, u32::from(minute), 2);
    put(17, u32::from(second), 2);
    put(20, u32::from(milli), 3);
    out.extend_from_slice(&text);
}

/// Appends `s` as a JSON string, byte for byte as `serde_json` writes it.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if needs_no_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing to a Vec does not fail.
        out.extend_from_slice(b"null");
    }
}

/// Whether `bytes` go into a JSON string as they are: no control character, `"` or `\`. Eight
/// bytes at a time, every word read and the verdict taken once at the end (the answers' ids
/// and names are plain, so the whole text is read anyway, and this runs for each of them); a
/// tail shorter than a word is read as the last eight bytes, overlapping the word before.
pub(crate) fn needs_no_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether some byte of `w` is below `n` (n at most 0x80): exact for "some", as a whole.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let special = |w: u64| {
        below(w, 0x20)
            | below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
    };
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_ne_bytes(word)
    };
    if bytes.len() < 8 {
        // Short texts (most keys and names) byte by byte, still without a branch per byte.
        return bytes.iter().fold(true, |plain, &b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        });
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        found |= special(word(chunk));
    }
    if !chunks.remainder().is_empty() {
        found |= special(word(&bytes[bytes.len() - 8..]));
    }
    found == 0
}

/// Appends a name of the emulator's own (a job type, a status) as a JSON string, unchecked:
/// these are fixed texts that need no escaping (the job query's test holds its answer to the
/// bytes `serde_json` writes, names included).
pub(crate) fn push_json_name(out: &mut Vec<u8>, name: &'static str) {
    debug_assert!(needs_no_escape(name.as_bytes()), "{name:?}");
    out.reserve(name.len() + 2);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// Appends `n` in decimal, as `n.to_string()` writes it, without an allocation.
pub(crate) fn push_number(out: &mut Vec<u8>, n: usize) {
    push_u64(out, n as u64);
}

/// [`push_number`] of a `u64`.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        // A digit: always below 10.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `s` as a JSON string, or `null`.
pub(crate) fn push_json_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Server `created` and `updated`: `2018-09-13T07:06:51Z`.
pub(crate) fn second_time(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(20);
    push_date_time(&mut out, utc(t));
    out.push(b'Z');
    text(out)
}

/// `OS-SRV-USG:launched_at`: `2018-09-13T07:04:09.197749`, no zone (UTC).
pub(crate) fn launch_time(t: OffsetDateTime) -> String {
    let t = utc(t);
    let mut out = Vec::with_capacity(26);
    push_date_time(&mut out, t);
    out.push(b'.');
    push_digits(&mut out, t.microsecond(), 6);
    text(out)
}

/// IAM `expires_at` and `issued_at`: `2019-07-24T07:57:50.614000Z`.
pub(crate) fn iam_time(t: OffsetDateTime) -> String {
    let t = utc(t);
    let mut out = Vec::with_capacity(27);
    push_date_time(&mut out, t);
    out.push(b'.');
    push_digits(&mut out, t.microsecond(), 6);
    out.push(b'Z');
    text(out)
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

/// Compares in time that depends only on the lengths (the signer's own comparison).
pub(crate) use reimage_auth::aksk::constant_time_eq as same_secret;

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
    fn hand_written_forms_match_fmt_and_serde() {
        for nanos in [
            i128::from(i64::MIN / 4) * 1_000_000_000,
            -62_167_219_200_000_000_000,
            -1,
            0,
            1_461_614_687_591_123_456,
            253_402_300_799_999_999_999,
            253_402_300_800_000_000_000,
        ] {
            let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
                continue;
            };
            let u = utc(t);
            let date_time = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                u.year(),
                u8::from(u.month()),
                u.day(),
                u.hour(),
                u.minute(),
                u.second()
            );
            let mut fast = Vec::new();
            push_job_time(&mut fast, t);
            let slow = format!("{date_time}.{:03}Z", u.millisecond());
            assert_eq!(String::from_utf8(fast).unwrap(), slow, "{t}");
            assert_eq!(second_time(t), format!("{date_time}Z"), "{t}");
            let micros = u.microsecond();
            assert_eq!(launch_time(t), format!("{date_time}.{micros:06}"), "{t}");
            assert_eq!(iam_time(t), format!("{date_time}.{micros:06}Z"), "{t}");
        }
        for s in [
            "",
            "abc",
            "a\"b",
            "back\\slash",
            "tab\t",
            "\u{1}",
            "\u{7f}é/",
            "x\ny",
        ] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        // Every byte that needs escaping, at every place of an eight-byte word and of the tail.
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..=19 {
                for at in 0..len {
                    let mut text = vec![b'a'; len];
                    text[at] = special;
                    let text = String::from_utf8(text).unwrap();
                    assert!(!needs_no_escape(text.as_bytes()), "{text:?}");
                    let mut out = Vec::new();
                    push_json_str(&mut out, &text);
                    assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
                }
            }
        }
        for plain in [
            "",
            "0123456789abcdef0123456789abcdef",
            "é ~!#$%&'()*+,-./:;<=>?@[]^_`{|}\u{7f}",
        ] {
            assert!(needs_no_escape(plain.as_bytes()), "{plain:?}");
        }
    }

    /// The job time written from the calendar at once matches `{:04}-{:02}…` across years,
    /// months, days and milliseconds.
    #[test]
    fn job_times_match_fmt_across_the_calendar() {
        let mut nanos: i128 = -62_167_219_200_000_000_000;
        while nanos < 253_402_300_800_000_000_000 {
            let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let u = utc(t);
            let slow = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                u.year(),
                u8::from(u.month()),
                u.day(),
                u.hour(),
                u.minute(),
                u.second(),
                u.millisecond()
            );
            assert_eq!(job_time(t), slow, "{t}");
            nanos += 3_155_760_013_337_123_457;
        }
    }

    #[test]
    fn numbers_are_written_as_to_string_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 1000, 65_535, 1 << 40, usize::MAX] {
            let mut out = b"x".to_vec();
            push_number(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn hex_digits_are_what_fmt_writes() {
        let mut ids = IdGen::new(Some(3));
        for v in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xdead_beef,
            0x0123_4567,
            0x89ab_cdef,
            u32::MAX,
        ]
        .into_iter()
        .chain((0..10_000).map(|_| ids.next_u64() as u32))
        {
            assert_eq!(hex8(v).to_vec(), format!("{v:08x}").into_bytes(), "{v:#x}");
        }
        let mut a = IdGen::new(Some(11));
        let mut b = IdGen::new(Some(11));
        for _ in 0..100 {
            let id = a.hex32_inline();
            assert_eq!(
                id.as_str(),
                format!("{:016x}{:016x}", b.next_u64(), b.next_u64())
            );
        }
    }

    #[test]
    fn seeded_ids_repeat() {
        let (mut a, mut b) = (IdGen::new(Some(7)), IdGen::new(Some(7)));
        assert_eq!(a.hex32(), b.hex32());
        assert_eq!(a.hex32_inline().as_str(), b.hex32());
        assert_eq!(a.hex32().len(), 32);
        assert!(same_secret(b"abc", b"abc") && !same_secret(b"abc", b"abd"));
    }
}
