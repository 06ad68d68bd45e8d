//! The YAML 1.1 typing pass: PyYAML's implicit resolver for plain scalars, and the scalar
//! constructors of its `SafeConstructor` for both implicit and explicit (`!!int`, …) tags.
//!
//! The implicit resolver's regular expressions are PyYAML's (`yaml/resolver.py`), kept in the
//! tests, written without its verbose-mode whitespace; the resolver itself matches each of them by
//! hand ([`is_bool`], [`is_int`], …), which a process does without compiling a regular expression
//! first (compiling the two that `nginx` is tried against was 8% of a small file's `reimage
//! validate`). The unit tests compare every matcher with its pattern, exhaustively over short
//! strings and on generated ones. Python's `$` also matches before a final line break; the
//! patterns end in `\n?$` to keep that (it matters only for non-specific `!` tags on quoted
//! scalars), and the matchers take one final `\n` off first.
//!
//! The constructors follow `yaml/constructor.py` and the Python built-ins they call (`int()`,
//! `float()`, `base64.decodebytes`, `datetime`). Where PyYAML fails with a Python exception that
//! is not a `YAMLError` (`!!int 0b_`, `2001-02-30`), cloud-init fails too; here it is an error.

use std::sync::LazyLock;

use regex_lite::Regex;

/// The tag PyYAML's implicit resolver gives a plain scalar (or one with the `!` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implicit {
    /// `tag:yaml.org,2002:null`
    Null,
    /// `tag:yaml.org,2002:bool`
    Bool,
    /// `tag:yaml.org,2002:int`
    Int,
    /// `tag:yaml.org,2002:float`
    Float,
    /// `tag:yaml.org,2002:timestamp`
    Timestamp,
    /// `tag:yaml.org,2002:merge` (`<<`)
    Merge,
    /// `tag:yaml.org,2002:value` (`=`)
    Value,
    /// `tag:yaml.org,2002:str`
    Str,
}

/// Compiles one of the constant patterns below. A pattern that did not compile matches nothing;
/// a unit test compiles every one of them.
fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// The constructor's own, laxer, timestamp pattern (`SafeConstructor.timestamp_regexp`).
static TIMESTAMP_PARTS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(concat!(
        r"^(?P<year>[0-9][0-9][0-9][0-9])",
        r"-(?P<month>[0-9][0-9]?)",
        r"-(?P<day>[0-9][0-9]?)",
        r"(?:(?:[Tt]|[ \t]+)",
        r"(?P<hour>[0-9][0-9]?)",
        r":(?P<minute>[0-9][0-9])",
        r":(?P<second>[0-9][0-9])",
        r"(?:\.(?P<fraction>[0-9]*))?",
        r"(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)",
        r"(?::(?P<tz_minute>[0-9][0-9]))?))?)?\n?$",
    ))
});

/// The implicit tag of a plain scalar, as `Resolver.resolve` finds it: the resolvers registered
/// for the first character are tried in registration order (bool, float, int, merge, null,
/// timestamp, value); the first that matches wins; otherwise it is a string.
pub(crate) fn implicit(value: &str) -> Implicit {
    let candidates: &[Implicit] = match value.chars().next() {
        None => &[Implicit::Null],
        Some('y' | 'Y' | 't' | 'T' | 'f' | 'F' | 'o' | 'O') => &[Implicit::Bool],
        Some('n' | 'N') => &[Implicit::Bool, Implicit::Null],
        Some('-' | '+') => &[Implicit::Float, Implicit::Int],
        Some('0'..='9') => &[Implicit::Float, Implicit::Int, Implicit::Timestamp],
        Some('.') => &[Implicit::Float],
        Some('<') => &[Implicit::Merge],
        Some('~') => &[Implicit::Null],
        Some('=') => &[Implicit::Value],
        Some(_) => &[],
    };
    // `\n?$`: one final line break does not count.
    let body = value.strip_suffix('\n').unwrap_or(value).as_bytes();
    candidates
        .iter()
        .copied()
        .find(|tag| match tag {
            Implicit::Null => is_null(body),
            Implicit::Bool => is_bool(body),
            Implicit::Int => is_int(body),
            Implicit::Float => is_float(body),
            Implicit::Timestamp => is_timestamp(body),
            Implicit::Merge => body == b"<<",
            Implicit::Value => body == b"=",
            Implicit::Str => false,
        })
        .unwrap_or(Implicit::Str)
}

/// `^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`
fn is_bool(s: &[u8]) -> bool {
    matches!(
        s,
        b"yes"
            | b"Yes"
            | b"YES"
            | b"no"
            | b"No"
            | b"NO"
            | b"true"
            | b"True"
            | b"TRUE"
            | b"false"
            | b"False"
            | b"FALSE"
            | b"on"
            | b"On"
            | b"ON"
            | b"off"
            | b"Off"
            | b"OFF"
    )
}

/// `^(?:~|null|Null|NULL|)$`
fn is_null(s: &[u8]) -> bool {
    matches!(s, b"" | b"~" | b"null" | b"Null" | b"NULL")
}

/// `s` without one leading `-` or `+`: `[-+]?`.
fn unsigned(s: &[u8]) -> &[u8] {
    match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    }
}

/// Whether `s` is one or more bytes that `class` takes: `[…]+`.
fn all1(s: &[u8], class: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.iter().all(|&c| class(c))
}

fn digit_(c: u8) -> bool {
    c.is_ascii_digit() || c == b'_'
}

/// How many bytes from the start of `s` `class` takes: `[…]*`.
fn run(s: &[u8], class: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&c| !class(c)).unwrap_or(s.len())
}

/// `(?::[0-5]?[0-9])+` then the end of `s`, or the first `.` after them (its index returned).
/// Each `:` is followed by one digit or two with the first in 0 to 5.
fn sexagesimal(s: &[u8], then_dot: bool) -> Option<usize> {
    let mut i = 0;
    let mut groups = 0;
    while s.get(i) == Some(&b':') {
        let digits = run(&s[i + 1..], |c| c.is_ascii_digit());
        let ok = match digits {
            1 => true,
            2 => (b'0'..=b'5').contains(&s[i + 1]),
            _ => false,
        };
        if !ok {
            return None;
        }
        i += 1 + digits;
        groups += 1;
    }
    if groups == 0 {
        return None;
    }
    match (s.get(i), then_dot) {
        (None, false) => Some(i),
        (Some(b'.'), true) => Some(i),
        _ => None,
    }
}

/// PyYAML's int: `^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+
/// |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`
fn is_int(s: &[u8]) -> bool {
    let s = unsigned(s);
    match s {
        [b'0'] => true,
        [b'0', b'b', rest @ ..] if all1(rest, |c| matches!(c, b'0' | b'1' | b'_')) => true,
        [b'0', b'x', rest @ ..] if all1(rest, |c| c.is_ascii_hexdigit() || c == b'_') => true,
        [b'0', rest @ ..] => all1(rest, |c| matches!(c, b'0'..=b'7' | b'_')),
        [b'1'..=b'9', rest @ ..] => {
            let n = run(rest, digit_);
            n == rest.len() || sexagesimal(&rest[n..], false).is_some()
        }
        _ => false,
    }
}

/// `(?:[eE][-+][0-9]+)?$`
fn exponent_then_end(s: &[u8]) -> bool {
    match s {
        [] => true,
        [b'e' | b'E', b'-' | b'+', digits @ ..] => all1(digits, |c| c.is_ascii_digit()),
        _ => false,
    }
}

/// PyYAML's float: `^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
/// |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
/// |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`
fn is_float(s: &[u8]) -> bool {
    // The two forms without a sign.
    if let [b'.', rest @ ..] = s {
        if matches!(rest, b"nan" | b"NaN" | b"NAN") {
            return true;
        }
        if let [b'0'..=b'9', tail @ ..] = rest {
            let n = run(tail, digit_);
            if exponent_then_end(&tail[n..]) {
                return true;
            }
        }
    }
    let u = unsigned(s);
    match u {
        [b'.', rest @ ..] => matches!(rest, b"inf" | b"Inf" | b"INF"),
        [b'0'..=b'9', rest @ ..] => {
            let n = run(rest, digit_);
            let after = &rest[n..];
            match after {
                [b'.', fraction @ ..] => {
                    let f = run(fraction, digit_);
                    exponent_then_end(&fraction[f..])
                }
                [b':', ..] => sexagesimal(after, true).is_some_and(|dot| {
                    let fraction = &after[dot + 1..];
                    run(fraction, digit_) == fraction.len()
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Exactly `n` ASCII digits at the start of `s`, then what follows them.
fn digits_exactly(s: &[u8], n: usize) -> Option<&[u8]> {
    (s.len() >= n && s[..n].iter().all(u8::is_ascii_digit)).then(|| &s[n..])
}

/// One or two ASCII digits (`[0-9][0-9]?`), then what follows them.
fn one_or_two_digits(s: &[u8]) -> Option<&[u8]> {
    match run(s, |c| c.is_ascii_digit()) {
        n @ (1 | 2) => Some(&s[n..]),
        _ => None,
    }
}

/// PyYAML's timestamp: `^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
/// |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]
/// (?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`
fn is_timestamp(s: &[u8]) -> bool {
    let time = || -> Option<()> {
        let s = digits_exactly(s, 4)?.strip_prefix(b"-")?;
        let s = one_or_two_digits(s)?.strip_prefix(b"-")?;
        let s = one_or_two_digits(s)?;
        let s = match s.first()? {
            b'T' | b't' => &s[1..],
            b' ' | b'\t' => &s[run(s, |c| c == b' ' || c == b'\t')..],
            _ => return None,
        };
        let s = one_or_two_digits(s)?.strip_prefix(b":")?;
        let s = digits_exactly(s, 2)?.strip_prefix(b":")?;
        let mut s = digits_exactly(s, 2)?;
        if let Some(fraction) = s.strip_prefix(b".") {
            s = &fraction[run(fraction, |c| c.is_ascii_digit())..];
        }
        if s.is_empty() {
            return Some(());
        }
        let s = &s[run(s, |c| c == b' ' || c == b'\t')..];
        match s {
            b"Z" => Some(()),
            [b'-' | b'+', rest @ ..] => {
                let rest = one_or_two_digits(rest)?;
                match rest {
                    [] => Some(()),
                    [b':', minute @ ..] => digits_exactly(minute, 2)?.is_empty().then_some(()),
                    _ => None,
                }
            }
            _ => None,
        }
    };
    let date_only = s.len() == 10
        && digits_exactly(s, 4)
            .and_then(|s| s.strip_prefix(b"-"))
            .and_then(|s| digits_exactly(s, 2))
            .and_then(|s| s.strip_prefix(b"-"))
            .and_then(|s| digits_exactly(s, 2))
            .is_some_and(<[u8]>::is_empty);
    date_only || time().is_some()
}

/// `construct_yaml_bool`: `bool_values[value.lower()]`.
pub(crate) fn construct_bool(value: &str) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean (KeyError)")),
    }
}

/// Python's `str.strip()` with no argument strips Unicode whitespace.
fn py_strip(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

/// Python's `int(s, base)` for bases 2, 8, 10 and 16 on a string without `_` (PyYAML removes
/// them first): surrounding whitespace, a sign, and for base 2, 8 and 16 the matching `0b`,
/// `0o` or `0x` prefix are accepted. Values past `i128` saturate (Python's are unbounded).
fn py_int(s: &str, base: u32) -> Result<i128, String> {
    // The literal is not quoted: it may be a password under a stray `!!int` tag.
    let invalid = || format!("invalid literal for int() with base {base}");
    let body = py_strip(s);
    let (negative, body) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let prefix = match base {
        2 => Some("0b"),
        8 => Some("0o"),
        16 => Some("0x"),
        _ => None,
    };
    let body = match prefix {
        Some(prefix)
            if body.len() > 2
                && body.is_char_boundary(2)
                && body[..2].eq_ignore_ascii_case(prefix) =>
        {
            &body[2..]
        }
        _ => body,
    };
    if body.is_empty() {
        return Err(invalid());
    }
    let mut acc: i128 = 0;
    for c in body.chars() {
        let digit = c.to_digit(base).ok_or_else(invalid)?;
        acc = acc
            .saturating_mul(i128::from(base))
            .saturating_add(i128::from(digit));
    }
    Ok(if negative { acc.saturating_neg() } else { acc })
}

/// Splits PyYAML's leading sign off (`value[0] == '-'`, then `value[0] in '+-'`).
fn split_sign(value: &str) -> Result<(bool, &str), String> {
    match value.as_bytes().first() {
        None => Err("empty value (IndexError: string index out of range)".to_owned()),
        Some(b'-') => Ok((true, &value[1..])),
        Some(b'+') => Ok((false, &value[1..])),
        Some(_) => Ok((false, value)),
    }
}

/// `construct_yaml_int`.
pub(crate) fn construct_int(value: &str) -> Result<i128, String> {
    let cleaned = value.replace('_', "");
    let (negative, digits) = split_sign(&cleaned)?;
    let sign = |n: i128| if negative { n.saturating_neg() } else { n };
    if digits == "0" {
        return Ok(0);
    }
    if let Some(rest) = digits.strip_prefix("0b") {
        return py_int(rest, 2).map(sign);
    }
    if let Some(rest) = digits.strip_prefix("0x") {
        return py_int(rest, 16).map(sign);
    }
    match digits.as_bytes().first() {
        None => Err("empty value (IndexError: string index out of range)".to_owned()),
        Some(b'0') => py_int(digits, 8).map(sign),
        Some(_) if digits.contains(':') => {
            let mut total: i128 = 0;
            let mut base: i128 = 1;
            for part in digits.rsplit(':') {
                let part = py_int(part, 10)?;
                total = total.saturating_add(part.saturating_mul(base));
                base = base.saturating_mul(60);
            }
            Ok(sign(total))
        }
        Some(_) => py_int(digits, 10).map(sign),
    }
}

/// Python's `float(s)` on a string without `_`: surrounding whitespace, a sign, decimals with an
/// optional exponent, `inf`, `infinity` and `nan` in any case.
fn py_float(s: &str) -> Result<f64, String> {
    let body = py_strip(s);
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|word| unsigned.eq_ignore_ascii_case(word));
    let numeric = !unsigned.is_empty()
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if (special || numeric)
        && let Ok(number) = body.parse::<f64>()
    {
        return Ok(number);
    }
    Err(format!("could not convert string to float: {s:?}"))
}

/// `construct_yaml_float`.
pub(crate) fn construct_float(value: &str) -> Result<f64, String> {
    let cleaned = value.replace('_', "").to_lowercase();
    let (negative, rest) = split_sign(&cleaned)?;
    let sign = if negative { -1.0 } else { 1.0 };
    if rest == ".inf" {
        return Ok(sign * f64::INFINITY);
    }
    if rest == ".nan" {
        return Ok(f64::NAN);
    }
    if rest.contains(':') {
        let mut total = 0.0_f64;
        let mut base: u128 = 1;
        let mut huge_base = false;
        for part in rest.rsplit(':') {
            let digit = py_float(part)?;
            // Python multiplies a float by an exact integer, rounding the integer once.
            let factor = if huge_base {
                f64::INFINITY
            } else {
                base as f64
            };
            total += digit * factor;
            match base.checked_mul(60) {
                Some(next) => base = next,
                None => huge_base = true,
            }
        }
        return Ok(sign * total);
    }
    Ok(sign * py_float(rest)?)
}

/// A timestamp as Python compares it: a `date`, a naive `datetime` or an aware one (compared by
/// instant). A `date` never equals a `datetime`, nor a naive one an aware one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TimestampKey {
    /// `datetime.date(year, month, day)`.
    Date(i32, u32, u32),
    /// A naive `datetime`: days since 0001-01-01 and microseconds in the day.
    Naive(i64, i64),
    /// An aware `datetime`: microseconds since 0001-01-01T00:00:00Z.
    Aware(i64),
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days from 0001-01-01 (proleptic Gregorian), as `date.toordinal() - 1`.
fn ordinal(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - 1;
    let mut days = y * 365 + y / 4 - y / 100 + y / 400;
    for m in 1..month {
        days += i64::from(days_in_month(year, m));
    }
    days + i64::from(day) - 1
}

/// `construct_yaml_timestamp`: the value must match the constructor's pattern and be a real
/// date and time (`datetime` raises `ValueError` otherwise).
pub(crate) fn construct_timestamp(value: &str) -> Result<TimestampKey, String> {
    let caps = TIMESTAMP_PARTS
        .as_ref()
        .and_then(|re| re.captures(value))
        .ok_or_else(|| format!("{value:?} is not a timestamp"))?;
    let number = |name: &str| -> i64 {
        caps.name(name)
            .and_then(|m| m.as_str().parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (number("year"), number("month"), number("day"));
    if !(1..=9999).contains(&year) {
        return Err(format!("year {year} is out of range"));
    }
    if !(1..=12).contains(&month) {
        return Err("month must be in 1..12".to_owned());
    }
    // In range after the checks above.
    let (year, month) = (year as i32, month as u32);
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return Err("day is out of range for month".to_owned());
    }
    let day = day as u32;
    if caps.name("hour").is_none_or(|m| m.as_str().is_empty()) {
        return Ok(TimestampKey::Date(year, month, day));
    }
    let (hour, minute, second) = (number("hour"), number("minute"), number("second"));
    if hour > 23 {
        return Err("hour must be in 0..23".to_owned());
    }
    if minute > 59 {
        return Err("minute must be in 0..59".to_owned());
    }
    if second > 59 {
        return Err("second must be in 0..59".to_owned());
    }
    let fraction = caps.name("fraction").map_or("", |m| m.as_str());
    let micros = if fraction.is_empty() {
        0
    } else {
        let mut digits: String = fraction.chars().take(6).collect();
        while digits.len() < 6 {
            digits.push('0');
        }
        digits.parse::<i64>().unwrap_or(0)
    };
    let in_day = ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros;
    let days = ordinal(year, month, day);
    if let Some(sign) = caps.name("tz_sign") {
        let offset_minutes = number("tz_hour") * 60 + number("tz_minute");
        if offset_minutes >= 24 * 60 {
            return Err(
                "offset must be a timedelta strictly between -timedelta(hours=24) and \
                 timedelta(hours=24)"
                    .to_owned(),
            );
        }
        let offset = if sign.as_str() == "-" {
            -offset_minutes
        } else {
            offset_minutes
        };
        let utc = days * 86_400_000_000 + in_day - offset * 60_000_000;
        return Ok(TimestampKey::Aware(utc));
    }
    if caps.name("tz").is_some() {
        return Ok(TimestampKey::Aware(days * 86_400_000_000 + in_day));
    }
    Ok(TimestampKey::Naive(days, in_day))
}

/// `base64.decodebytes` (`binascii.a2b_base64`, not strict): characters outside the alphabet are
/// skipped, and a complete padding ends the data.
pub(crate) fn construct_binary(value: &str) -> Result<Vec<u8>, String> {
    if !value.is_ascii() {
        return Err(
            "failed to convert base64 data into ascii: 'ascii' codec can't encode character"
                .to_owned(),
        );
    }
    let mut out = Vec::with_capacity(value.len() / 4 * 3);
    let mut quad_pos = 0u8;
    let mut pads = 0u8;
    let mut left: u32 = 0;
    let mut data_chars: usize = 0;
    for b in value.bytes() {
        if b == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let sextet = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        pads = 0;
        data_chars += 1;
        left = (left << 6) | u32::from(sextet);
        quad_pos = (quad_pos + 1) % 4;
        match quad_pos {
            2 => out.push((left >> 4) as u8),
            3 => out.push((left >> 2) as u8),
            0 => {
                out.push(left as u8);
                left = 0;
            }
            _ => {}
        }
        left &= 0xff;
    }
    match quad_pos {
        0 => Ok(out),
        1 => Err(format!(
            "failed to decode base64 data: Invalid base64-encoded string: number of data \
             characters ({data_chars}) cannot be 1 more than a multiple of 4"
        )),
        _ => Err("failed to decode base64 data: Incorrect padding".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PyYAML's implicit resolver patterns (`yaml/resolver.py`): the oracle of the matchers.
    static BOOL: LazyLock<Option<Regex>> = LazyLock::new(|| {
        compile(
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)\n?$",
        )
    });

    static FLOAT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        compile(concat!(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
            r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
            r"|[-+]?\.(?:inf|Inf|INF)",
            r"|\.(?:nan|NaN|NAN))\n?$",
        ))
    });

    static INT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        compile(concat!(
            r"^(?:[-+]?0b[0-1_]+",
            r"|[-+]?0[0-7_]+",
            r"|[-+]?(?:0|[1-9][0-9_]*)",
            r"|[-+]?0x[0-9a-fA-F_]+",
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)\n?$",
        ))
    });

    static MERGE: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"^(?:<<)\n?$"));

    static NULL: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"^(?:~|null|Null|NULL|)\n?$"));

    static TIMESTAMP: LazyLock<Option<Regex>> = LazyLock::new(|| {
        compile(concat!(
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
            r"(?:[Tt]|[ \t]+)[0-9][0-9]?",
            r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
            r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)\n?$",
        ))
    });

    static VALUE: LazyLock<Option<Regex>> = LazyLock::new(|| compile(r"^(?:=)\n?$"));

    fn is_match(re: &LazyLock<Option<Regex>>, value: &str) -> bool {
        re.as_ref().is_some_and(|re| re.is_match(value))
    }

    #[test]
    fn every_pattern_compiles() {
        for re in [
            &BOOL,
            &FLOAT,
            &INT,
            &MERGE,
            &NULL,
            &TIMESTAMP,
            &VALUE,
            &TIMESTAMP_PARTS,
        ] {
            assert!(re.is_some());
        }
    }

    /// The tag PyYAML's patterns give `value`: [`implicit`] as it was written with them.
    fn implicit_by_patterns(value: &str) -> Implicit {
        let candidates: &[Implicit] = match value.chars().next() {
            None => &[Implicit::Null],
            Some('y' | 'Y' | 't' | 'T' | 'f' | 'F' | 'o' | 'O') => &[Implicit::Bool],
            Some('n' | 'N') => &[Implicit::Bool, Implicit::Null],
            Some('-' | '+') => &[Implicit::Float, Implicit::Int],
            Some('0'..='9') => &[Implicit::Float, Implicit::Int, Implicit::Timestamp],
            Some('.') => &[Implicit::Float],
            Some('<') => &[Implicit::Merge],
            Some('~') => &[Implicit::Null],
            Some('=') => &[Implicit::Value],
            Some(_) => &[],
        };
        candidates
            .iter()
            .copied()
            .find(|tag| {
                let re = match tag {
                    Implicit::Null => &NULL,
                    Implicit::Bool => &BOOL,
                    Implicit::Int => &INT,
                    Implicit::Float => &FLOAT,
                    Implicit::Timestamp => &TIMESTAMP,
                    Implicit::Merge => &MERGE,
                    Implicit::Value => &VALUE,
                    Implicit::Str => return false,
                };
                is_match(re, value)
            })
            .unwrap_or(Implicit::Str)
    }

    /// Each matcher against its pattern, on `value`, whatever its first character.
    fn check_matchers(value: &str) {
        let body = value.strip_suffix('\n').unwrap_or(value).as_bytes();
        for (name, re, matcher) in [
            ("bool", &BOOL, is_bool as fn(&[u8]) -> bool),
            ("null", &NULL, is_null),
            ("int", &INT, is_int),
            ("float", &FLOAT, is_float),
            ("timestamp", &TIMESTAMP, is_timestamp),
        ] {
            assert_eq!(
                matcher(body),
                is_match(re, value),
                "{name} on {value:?}: the matcher and PyYAML's pattern disagree"
            );
        }
        assert_eq!(implicit(value), implicit_by_patterns(value), "{value:?}");
    }

    /// Every string of up to four characters over the characters the patterns care about.
    #[test]
    fn the_matchers_are_the_patterns_on_every_short_string() {
        const ALPHABET: &[char] = &[
            '0', '1', '2', '5', '6', '7', '9', '_', '.', ':', '-', '+', 'e', 'x', 'b', 'T', ' ',
            '\n', 'Z',
        ];
        let mut value = String::new();
        fn walk(value: &mut String, depth: usize) {
            check_matchers(value);
            if depth == 0 {
                return;
            }
            for &c in ALPHABET {
                value.push(c);
                walk(value, depth - 1);
                value.pop();
            }
        }
        walk(&mut value, 4);
    }

    /// Values generated near the patterns' own shapes, where a matcher that is off by one
    /// character would show: sexagesimal numbers, signed and based ints, floats with exponents,
    /// dates and times with zones, and the words.
    #[test]
    fn the_matchers_are_the_patterns_on_generated_values() {
        use proptest::string::string_regex;
        use proptest::test_runner::{Config, TestRunner};
        let shapes = [
            r"[-+]?[0-9_]{0,4}(:[0-9]{1,3}){0,3}(\.[0-9_]{0,3})?([eE][-+]?[0-9]{0,2})?\n?",
            r"[-+]?(0[bx]?)?[0-9a-fA-F_]{0,5}\n?",
            r"[-+]?\.(inf|Inf|INF|iNf|nan|NaN|NAN|[0-9_]{1,3}([eE][-+][0-9]{1,2})?)\n?",
            r"[0-9]{3,5}-[0-9]{1,3}-[0-9]{1,3}([Tt]|[ \t]{1,2})?[0-9]{0,3}(:[0-9]{1,3}){0,2}(\.[0-9]{0,2})?[ \t]{0,2}(Z|z|[-+][0-9]{1,3}(:[0-9]{1,3})?)?\n?",
            r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]{1,2})[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,2})?[ \t]{0,2}(Z|z|[-+][0-9]{1,3}(:[0-9]{1,3})?)?\n?",
            r"[-+]?[0-9][0-9_]{0,2}(:[0-9]{1,2}){1,3}(\.[0-9_]{0,2})?\n?",
            r"(y|Y|n|N|t|T|f|F|o|O)[a-zA-Z]{0,4}\n?|~|<<|=|[~<=]{1,3}",
        ];
        for shape in shapes {
            let mut runner = TestRunner::new(Config::with_cases(4_000));
            let strategy = string_regex(shape).unwrap();
            let outcome = runner.run(&strategy, |value| {
                check_matchers(&value);
                Ok(())
            });
            assert!(outcome.is_ok(), "{shape}: {outcome:?}");
        }
        for value in [
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2001-12-14 21:59:43.10 ",
            "2001-12-15T02:59:43.1Z",
            "2002-12-14",
            "2002-1-4",
            "190:20:30",
            "190:20:30.15",
            "1_000",
            "0b1010_0111",
            "0x_0A_74_AE",
            "02472256",
            "6.8523015e+5",
            "685.230_15e+03",
            "-.inf",
            ".NaN",
            "1e10",
            "+12",
            "0.",
            "._1",
        ] {
            check_matchers(value);
        }
    }

    /// What PyYAML's `yaml.safe_load` makes of a plain scalar.
    #[derive(Debug, Clone, Copy)]
    enum Want {
        Null,
        Bool(bool),
        Int(i128),
        Float(f64),
        Str,
        Timestamp,
        /// Python raises an exception other than `YAMLError` (`ValueError`, …).
        Crash,
        /// `<<` or `=` outside a mapping key: no constructor for the tag.
        NoConstructor,
    }

    /// Implicit typing, plain scalar by plain scalar. Every row was checked against PyYAML 6.0.1
    /// in the cloud-init 22.4.2 peer (`target/cloud-init-peer/venv`, made by `cargo xtask cloud-init-peer`) with
    /// `yaml.safe_load("v: ! " + json.dumps(text))` (the non-specific tag `!` makes PyYAML type a
    /// quoted scalar exactly as a plain one, so `-`, `1:` and tabs need no YAML context), and
    /// the type and value of the result, or the exception; and again as `"v: " + text` where
    /// that is valid YAML.
    const PLAIN: &[(&str, Want)] = &[
        // null
        ("", Want::Null),
        ("~", Want::Null),
        ("null", Want::Null),
        ("Null", Want::Null),
        ("NULL", Want::Null),
        ("nULL", Want::Str),
        ("nil", Want::Str),
        ("None", Want::Str),
        ("none", Want::Str),
        ("~~", Want::Str),
        // bool: exactly PyYAML's spellings
        ("yes", Want::Bool(true)),
        ("Yes", Want::Bool(true)),
        ("YES", Want::Bool(true)),
        ("yEs", Want::Str),
        ("no", Want::Bool(false)),
        ("No", Want::Bool(false)),
        ("NO", Want::Bool(false)),
        ("nO", Want::Str),
        ("true", Want::Bool(true)),
        ("True", Want::Bool(true)),
        ("TRUE", Want::Bool(true)),
        ("tRUE", Want::Str),
        ("false", Want::Bool(false)),
        ("False", Want::Bool(false)),
        ("FALSE", Want::Bool(false)),
        ("fAlse", Want::Str),
        ("on", Want::Bool(true)),
        ("On", Want::Bool(true)),
        ("ON", Want::Bool(true)),
        ("oN", Want::Str),
        ("off", Want::Bool(false)),
        ("Off", Want::Bool(false)),
        ("OFF", Want::Bool(false)),
        ("oFF", Want::Str),
        ("y", Want::Str),
        ("Y", Want::Str),
        ("n", Want::Str),
        ("N", Want::Str),
        ("t", Want::Str),
        ("f", Want::Str),
        ("yes!", Want::Str),
        ("enabled", Want::Str),
        // int: decimal
        ("0", Want::Int(0)),
        ("-0", Want::Int(0)),
        ("+0", Want::Int(0)),
        ("1", Want::Int(1)),
        ("42", Want::Int(42)),
        ("-42", Want::Int(-42)),
        ("+42", Want::Int(42)),
        ("1_000", Want::Int(1000)),
        ("1__0", Want::Int(10)),
        ("1_", Want::Int(1)),
        ("_1", Want::Str),
        ("685230", Want::Int(685_230)),
        ("+685_230", Want::Int(685_230)),
        (
            "12345678901234567890",
            Want::Int(12_345_678_901_234_567_890),
        ),
        ("1 000", Want::Str),
        ("1,000", Want::Str),
        ("١٢", Want::Str),
        // int: octal without 0o
        ("0644", Want::Int(420)),
        ("0755", Want::Int(493)),
        ("0600", Want::Int(384)),
        ("0777", Want::Int(511)),
        ("-0644", Want::Int(-420)),
        ("+0644", Want::Int(420)),
        ("00", Want::Int(0)),
        ("000", Want::Int(0)),
        ("07", Want::Int(7)),
        ("0_7", Want::Int(7)),
        ("0_", Want::Int(0)),
        ("02472256", Want::Int(685_230)),
        ("08", Want::Str),
        ("09", Want::Str),
        ("0644.", Want::Float(644.0)),
        ("0o644", Want::Str),
        ("0O644", Want::Str),
        // int: hex and binary
        ("0x1A", Want::Int(26)),
        ("0x1a", Want::Int(26)),
        ("0x_1A", Want::Int(26)),
        ("-0x1A", Want::Int(-26)),
        ("+0xff", Want::Int(255)),
        ("0x0A_74_AE", Want::Int(685_230)),
        ("0X1A", Want::Str),
        ("0x", Want::Str),
        ("0xg", Want::Str),
        ("0x_", Want::Crash),
        ("0b1010", Want::Int(10)),
        ("0b1010_0111_0100_1010_1110", Want::Int(685_230)),
        ("-0b11", Want::Int(-3)),
        ("0b", Want::Str),
        ("0b2", Want::Str),
        ("0b_", Want::Crash),
        ("0B11", Want::Str),
        // int: sexagesimal
        ("1:30", Want::Int(90)),
        ("1:00", Want::Int(60)),
        ("190:20:30", Want::Int(685_230)),
        ("-1:30", Want::Int(-90)),
        ("+1:30", Want::Int(90)),
        ("1_0:30", Want::Int(630)),
        ("1:3", Want::Int(63)),
        ("1:59", Want::Int(119)),
        ("1:60", Want::Str),
        ("1:99", Want::Str),
        ("1:5:5", Want::Int(3905)),
        ("0:30", Want::Str),
        ("01:30", Want::Str),
        ("1:", Want::Str),
        (":30", Want::Str),
        ("1::30", Want::Str),
        ("12:30", Want::Int(750)),
        ("22:22", Want::Int(1342)),
        ("1:30:", Want::Str),
        ("1:030", Want::Str),
        // float
        ("1.0", Want::Float(1.0)),
        ("1.5", Want::Float(1.5)),
        ("-1.5", Want::Float(-1.5)),
        ("+1.5", Want::Float(1.5)),
        ("1.", Want::Float(1.0)),
        ("1._", Want::Float(1.0)),
        ("1_000.5", Want::Float(1000.5)),
        (".5", Want::Float(0.5)),
        ("-.5", Want::Str),
        ("+.5", Want::Str),
        ("._5", Want::Str),
        (".", Want::Str),
        ("0.", Want::Float(0.0)),
        ("00.5", Want::Float(0.5)),
        ("09.5", Want::Float(9.5)),
        ("6.8523015e+5", Want::Float(685_230.15)),
        ("685.230_15e+03", Want::Float(685_230.15)),
        ("685_230.15", Want::Float(685_230.15)),
        ("1.0e+5", Want::Float(100_000.0)),
        ("1.0E+5", Want::Float(100_000.0)),
        ("1.0e-5", Want::Float(0.000_01)),
        ("1.0e5", Want::Str),
        ("1e5", Want::Str),
        ("1e+5", Want::Str),
        ("1E5", Want::Str),
        ("1.e+5", Want::Float(100_000.0)),
        (".5e+3", Want::Float(500.0)),
        ("1.0e+", Want::Str),
        ("1.2.3", Want::Str),
        ("1.0.0", Want::Str),
        ("2.5", Want::Float(2.5)),
        ("190:20:30.15", Want::Float(685_230.15)),
        ("1:30.5", Want::Float(90.5)),
        ("-1:30.5", Want::Float(-90.5)),
        ("0:30.5", Want::Float(30.5)),
        ("1:30.", Want::Float(90.0)),
        ("1:60.5", Want::Str),
        (".inf", Want::Float(f64::INFINITY)),
        (".Inf", Want::Float(f64::INFINITY)),
        (".INF", Want::Float(f64::INFINITY)),
        ("-.inf", Want::Float(f64::NEG_INFINITY)),
        ("+.inf", Want::Float(f64::INFINITY)),
        (".iNf", Want::Str),
        ("inf", Want::Str),
        ("infinity", Want::Str),
        (".nan", Want::Float(f64::NAN)),
        (".NaN", Want::Float(f64::NAN)),
        (".NAN", Want::Float(f64::NAN)),
        (".nAn", Want::Str),
        ("-.nan", Want::Str),
        ("nan", Want::Str),
        ("NaN", Want::Str),
        // timestamps
        ("2001-12-14", Want::Timestamp),
        ("2001-12-14t21:59:43.10-05:00", Want::Timestamp),
        ("2001-12-14T21:59:43.10-05:00", Want::Timestamp),
        ("2001-12-14 21:59:43.10 -5", Want::Timestamp),
        ("2001-12-15 2:59:43.10", Want::Timestamp),
        ("2001-12-15T02:59:43.1Z", Want::Timestamp),
        ("2001-12-14 21:59:43", Want::Timestamp),
        ("2001-12-14  21:59:43", Want::Timestamp),
        ("2001-12-14\t21:59:43", Want::Timestamp),
        ("2001-12-14 21:59:43 Z", Want::Timestamp),
        ("2001-12-14 21:59:43+01:30", Want::Timestamp),
        ("2001-12-14 21:59:43.123456789", Want::Timestamp),
        ("2001-1-1 1:00:00", Want::Timestamp),
        ("2002-02-29", Want::Crash),
        ("2000-02-29", Want::Timestamp),
        ("1900-02-29", Want::Crash),
        ("2001-13-01", Want::Crash),
        ("2001-00-01", Want::Crash),
        ("2001-12-32", Want::Crash),
        ("0000-01-01", Want::Crash),
        ("2001-12-14 24:00:00", Want::Crash),
        ("2001-12-14 23:60:00", Want::Crash),
        ("2001-12-14 23:59:60", Want::Crash),
        ("2001-12-14 21:59:43+24", Want::Crash),
        ("2001-12-14 21:59:43-23:59", Want::Timestamp),
        ("2001-1-1", Want::Str),
        ("2001-12-1", Want::Str),
        ("20011214", Want::Int(20_011_214)),
        ("2001-12-14x", Want::Str),
        ("2001-12-14 21:59", Want::Str),
        ("2001/12/14", Want::Str),
        ("12:30:45", Want::Int(45_045)),
        // merge and value
        ("<<", Want::NoConstructor),
        ("<", Want::Str),
        ("<<<", Want::Str),
        ("=", Want::NoConstructor),
        ("==", Want::Str),
        // plain strings
        ("hello", Want::Str),
        ("root", Want::Str),
        ("-", Want::Str),
        ("+", Want::Str),
        ("-1-", Want::Str),
        ("1-2", Want::Str),
        ("0.0.0.0", Want::Str),
        ("10.0.0.1", Want::Str),
        ("::1", Want::Str),
        ("v1.0", Want::Str),
        ("1.0-rc1", Want::Str),
        ("1h", Want::Str),
        ("0x1A2B3C4D5E6F7", Want::Int(0x0001_A2B3_C4D5_E6F7)),
    ];

    fn typed(text: &str) -> Result<Want, String> {
        Ok(match implicit(text) {
            Implicit::Null => Want::Null,
            Implicit::Bool => Want::Bool(construct_bool(text)?),
            Implicit::Int => Want::Int(construct_int(text)?),
            Implicit::Float => Want::Float(construct_float(text)?),
            Implicit::Timestamp => {
                construct_timestamp(text)?;
                Want::Timestamp
            }
            Implicit::Merge | Implicit::Value => Want::NoConstructor,
            Implicit::Str => Want::Str,
        })
    }

    fn same(got: Want, want: Want) -> bool {
        match (got, want) {
            (Want::Float(a), Want::Float(b)) => {
                (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
            }
            (Want::Bool(a), Want::Bool(b)) => a == b,
            (Want::Int(a), Want::Int(b)) => a == b,
            (Want::Null, Want::Null)
            | (Want::Str, Want::Str)
            | (Want::Timestamp, Want::Timestamp)
            | (Want::Crash, Want::Crash)
            | (Want::NoConstructor, Want::NoConstructor) => true,
            _ => false,
        }
    }

    #[test]
    fn plain_scalars_are_typed_as_pyyaml_types_them() {
        let mut failures = Vec::new();
        for &(text, want) in PLAIN {
            let got = typed(text).unwrap_or(Want::Crash);
            if !same(got, want) {
                failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Explicit tags run the constructor on any text. Checked against PyYAML 6.0.1 in the peer:
    /// `yaml.safe_load('v: !!int "..."')` and so on.
    #[test]
    fn explicit_int() {
        let rows: &[(&str, Option<i128>)] = &[
            ("12", Some(12)),
            (" 12 ", Some(12)),
            ("0012", Some(10)),
            ("0o17", Some(15)),
            ("0x0x1f", Some(31)),
            ("0b0b1", Some(1)),
            ("1e5", None),
            ("abc", None),
            ("", None),
            ("-", None),
            ("08", None),
            ("1:2:3", Some(3723)),
            ("1::3", None),
            ("-0b101", Some(-5)),
            ("1_000", Some(1000)),
            ("99999999999999999999999999999999999999999", Some(i128::MAX)),
        ];
        for &(text, want) in rows {
            assert_eq!(construct_int(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn explicit_float() {
        let rows: &[(&str, Option<f64>)] = &[
            ("1e5", Some(100_000.0)),
            ("1", Some(1.0)),
            (" 2.5 ", Some(2.5)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("--1", Some(1.0)),
            ("abc", None),
            ("", None),
            (".", None),
            ("1:30", Some(90.0)),
            ("0x10", None),
        ];
        for &(text, want) in rows {
            assert_eq!(construct_float(text).ok(), want, "{text:?}");
        }
        assert!(construct_float("nan").is_ok_and(f64::is_nan));
        assert!(construct_float("-.nan").is_ok_and(f64::is_nan));
    }

    #[test]
    fn explicit_bool() {
        assert_eq!(construct_bool("yEs"), Ok(true));
        assert_eq!(construct_bool("OFF"), Ok(false));
        assert!(construct_bool("y").is_err());
        assert!(construct_bool("1").is_err());
    }

    #[test]
    fn timestamps_compare_as_python_does() {
        let key = |s: &str| construct_timestamp(s).ok();
        assert_eq!(
            key("2001-12-14 21:59:43.10 -5"),
            key("2001-12-15T02:59:43.1Z")
        );
        assert_ne!(key("2001-12-14"), key("2001-12-14 00:00:00"));
        assert_ne!(key("2001-12-14 00:00:00"), key("2001-12-14 00:00:00Z"));
        assert_eq!(key("2001-1-1"), key("2001-01-01"));
        assert_eq!(
            key("2001-12-14 1:02:03.1234567"),
            key("2001-12-14 01:02:03.123456")
        );
        assert!(key("foo").is_none());
    }

    /// Checked against `binascii.a2b_base64` (Python 3.11) in the peer.
    #[test]
    fn base64_is_decoded_as_decodebytes_does() {
        let rows: &[(&str, Option<&[u8]>)] = &[
            ("aGVsbG8=", Some(b"hello")),
            ("aGVsbG8", None),
            ("aGVsbG", None),
            ("aGVsb", None),
            ("aGV sbG8=", Some(b"hello")),
            ("aG=VsbG8=", Some(b"hello")),
            ("aGVs\nbG8=", Some(b"hello")),
            ("a", None),
            ("ab", None),
            ("ab=", None),
            ("ab==", Some(b"i")),
            ("ab==cd", Some(b"i")),
            ("abc=d", Some(b"i\xb7")),
            ("!!!", Some(b"")),
            ("", Some(b"")),
            ("aGVsbG8=junk", Some(b"hello")),
            ("YQ==YQ==", Some(b"a")),
            ("Y=Q==", Some(b"a")),
            ("ab=cdef=gh==", Some(b"i\xb7\x1dy\xf8!")),
            ("ab=cdef=", None),
            ("a=b", None),
            ("a==", None),
            ("=abc", None),
            ("abc==", Some(b"i\xb7")),
            ("ab=c====", Some(b"i\xb7")),
            ("é", None),
        ];
        for &(text, want) in rows {
            assert_eq!(construct_binary(text).ok().as_deref(), want, "{text:?}");
        }
        assert_eq!(
            construct_binary("abcde").err().as_deref(),
            Some(
                "failed to decode base64 data: Invalid base64-encoded string: number of data \
                 characters (5) cannot be 1 more than a multiple of 4"
            )
        );
    }
}
