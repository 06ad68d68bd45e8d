//! What Python does with the values cloud-init validates: `str()` of a mapping key (for paths),
//! `==` and `<` as python-jsonschema's `enum` and `uniqueItems` use them, `repr()` of a float,
//! PyYAML's timestamps, and the C `datetime.date.fromisoformat` of Python 3.11 that the `date`
//! format runs.

use std::cmp::Ordering;

use crate::yaml::{Node, Value};

/// A literal from the schema (`enum` members, `minimum`): JSON scalars as Python sees them.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    /// `null`: `None`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A JSON integer: a Python `int`.
    Int(i128),
    /// A JSON number with a fraction or exponent: a Python `float`.
    Float(f64),
    /// A string.
    Str(std::borrow::Cow<'static, str>),
}

/// A number, for Python's exact comparisons between `int` and `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    /// Python's `<`, `==`, `>` between numbers; `None` when a NaN is involved.
    pub(super) fn partial_cmp(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b),
            (Number::Int(a), Number::Float(b)) => int_float_cmp(a, b),
            (Number::Float(a), Number::Int(b)) => int_float_cmp(b, a).map(Ordering::reverse),
        }
    }
}

/// Compares an integer with a float exactly, as Python does (no rounding of the integer).
fn int_float_cmp(int: i128, float: f64) -> Option<Ordering> {
    if float.is_nan() {
        return None;
    }
    if float == f64::INFINITY {
        return Some(Ordering::Less);
    }
    if float == f64::NEG_INFINITY {
        return Some(Ordering::Greater);
    }
    // |float| < 2^127 here is not guaranteed; compare against the float's integer part, which
    // fits an i128 when the float is within range, and decide by sign otherwise.
    const LIMIT: f64 = 1.7014118346046923e38; // 2^127
    if float >= LIMIT {
        return Some(Ordering::Less);
    }
    if float < -LIMIT {
        return Some(Ordering::Greater);
    }
    let floor = float.floor();
    // `floor` is integral and within i128's range, so the cast is exact.
    let whole = floor as i128;
    match int.cmp(&whole) {
        Ordering::Equal if float > floor => Some(Ordering::Less),
        other => Some(other),
    }
}

/// The value as a number, if Python would treat it as one (`bool` is an `int` to `==` and `<`).
pub(super) fn number(value: &Value) -> Option<Number> {
    match value {
        Value::Int(i) => Some(Number::Int(*i)),
        Value::Float(f) => Some(Number::Float(*f)),
        Value::Bool(b) => Some(Number::Int(i128::from(*b))),
        _ => None,
    }
}

/// The literal as a number, if it is one (`bool` included, as in Python).
fn literal_number(literal: &Literal) -> Option<Number> {
    match literal {
        Literal::Int(i) => Some(Number::Int(*i)),
        Literal::Float(f) => Some(Number::Float(*f)),
        Literal::Bool(b) => Some(Number::Int(i128::from(*b))),
        _ => None,
    }
}

/// python-jsonschema's `enum`: `0`/`1`/`True`/`False` are told apart from each other (its
/// `unbool`), anything else compares with Python's `==`.
pub(super) fn enum_contains(members: &[Literal], value: &Value) -> bool {
    let zero_or_one = number(value).is_some_and(|n| {
        n.partial_cmp(Number::Int(0)) == Some(Ordering::Equal)
            || n.partial_cmp(Number::Int(1)) == Some(Ordering::Equal)
    });
    members.iter().any(|member| {
        if zero_or_one {
            match (value, member) {
                (Value::Bool(a), Literal::Bool(b)) => a == b,
                (Value::Bool(_), _) | (_, Literal::Bool(_)) => false,
                _ => literal_eq(value, member),
            }
        } else {
            literal_eq(value, member)
        }
    })
}

/// Python's `value == literal`.
fn literal_eq(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::Null, Literal::Null) => true,
        (Value::Str(a), Literal::Str(b)) => a.as_str() == &**b,
        _ => match (number(value), literal_number(literal)) {
            (Some(a), Some(b)) => a.partial_cmp(b) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

/// What `str()` gives for a mapping key or a list index, as cloud-init joins its paths.
pub(super) fn key_str(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_repr(*f),
        Value::Str(s) => s.clone(),
        Value::Binary(bytes) => bytes_repr(bytes),
        Value::Timestamp(text) => match Timestamp::parse(text) {
            Some(ts) => ts.to_python_str(),
            None => text.clone(),
        },
        // Lists and mappings cannot be keys (Python cannot hash them); PyYAML refuses them.
        Value::Seq(_) => "[...]".into(),
        Value::Map(_) => "{...}".into(),
    }
}

/// Python's `repr(float)`: the shortest digits that read back, in fixed notation for exponents
/// from -4 to 15 and in scientific notation (`1e+16`, `1.5e-05`) otherwise.
pub(super) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if digits.len() <= point {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{body}")
    } else {
        let body = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let esign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{body}e{esign}{:02}", exponent.unsigned_abs())
    }
}

/// Python's `repr(str)`: quoted as Python quotes it (single quotes, unless the text has one and
/// no double quote), with `\\`, `\t`, `\n`, `\r` and the quote escaped, and the characters
/// Python does not print (ASCII and C1 controls, the line and paragraph separators, the
/// no-break and zero-width spaces, the byte-order mark) as `\xNN` or `\uNNNN`. Other
/// non-printable code points (unassigned ones, private use) are not known here and are kept.
pub(super) fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(quote);
            }
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{a0}' | '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{206f}'
            | '\u{3000}'
            | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            _ => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(bytes)`: `b'...'` with escapes.
pub(super) fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from("b");
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// A PyYAML timestamp as Python holds it: a `date`, or a naive or aware `datetime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timestamp {
    /// `datetime.date`.
    Date { year: i32, month: u32, day: u32 },
    /// `datetime.datetime`; `offset` in minutes east of UTC when it has a time zone.
    DateTime {
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micro: u32,
        offset: Option<i32>,
    },
}

impl Timestamp {
    /// Reads a timestamp as PyYAML's `construct_yaml_timestamp` does; `None` if it is not one.
    pub(super) fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let mut p = Scanner { b, i: 0 };
        let year = p.digits(4, 4)?;
        p.eat(b'-')?;
        let month = p.digits(1, 2)?;
        p.eat(b'-')?;
        let day = p.digits(1, 2)?;
        if p.done() {
            return Some(Timestamp::Date {
                year: year as i32,
                month,
                day,
            });
        }
        let separator = p.eat(b'T').is_some() || p.eat(b't').is_some() || p.spaces() > 0;
        if !separator {
            return None;
        }
        let hour = p.digits(1, 2)?;
        p.eat(b':')?;
        let minute = p.digits(2, 2)?;
        p.eat(b':')?;
        let second = p.digits(2, 2)?;
        let mut micro = 0;
        if p.eat(b'.').is_some() {
            let start = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            let fraction = &b[start..p.i];
            let mut padded = [b'0'; 6];
            for (slot, digit) in padded.iter_mut().zip(fraction) {
                *slot = *digit;
            }
            micro = padded
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        }
        p.spaces();
        let offset = if p.done() {
            None
        } else if p.eat(b'Z').is_some() {
            Some(0)
        } else {
            let negative = match p.peek() {
                Some(b'+') => false,
                Some(b'-') => true,
                _ => return None,
            };
            p.i += 1;
            let hours = p.digits(1, 2)? as i32;
            let minutes = if p.eat(b':').is_some() {
                p.digits(2, 2)? as i32
            } else {
                0
            };
            let total = hours * 60 + minutes;
            Some(if negative { -total } else { total })
        };
        if !p.done() {
            return None;
        }
        Some(Timestamp::DateTime {
            year: year as i32,
            month,
            day,
            hour,
            minute,
            second,
            micro,
            offset,
        })
    }

    /// Python's `str()`: `2001-12-14` or `2001-12-14 21:59:43.100000-05:00`.
    pub(super) fn to_python_str(self) -> String {
        match self {
            Timestamp::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
            Timestamp::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micro,
                offset,
            } => {
                let mut out =
                    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
                if micro != 0 {
                    out.push_str(&format!(".{micro:06}"));
                }
                if let Some(offset) = offset {
                    let sign = if offset < 0 { '-' } else { '+' };
                    let abs = offset.unsigned_abs();
                    out.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60));
                }
                out
            }
        }
    }

    /// The instant as comparable numbers: days and microseconds, shifted to UTC when aware.
    fn key(self) -> (i64, i64) {
        match self {
            Timestamp::Date { year, month, day } => (days_from_civil(year, month, day), 0),
            Timestamp::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micro,
                offset,
            } => {
                let days = days_from_civil(year, month, day);
                let micros = (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
                    * 1_000_000
                    + i64::from(micro)
                    - i64::from(offset.unwrap_or(0)) * 60_000_000;
                let day_micros = 86_400_000_000;
                (
                    days + micros.div_euclid(day_micros),
                    micros.rem_euclid(day_micros),
                )
            }
        }
    }

    /// Python's `==`: a `date` never equals a `datetime`, nor a naive datetime an aware one.
    fn py_eq(self, other: Timestamp) -> bool {
        self.kind() == other.kind() && self.key() == other.key()
    }

    /// Python's `<`: `Err` where Python raises `TypeError`.
    fn py_cmp(self, other: Timestamp) -> Result<Ordering, TypeError> {
        if self.kind() == other.kind() {
            Ok(self.key().cmp(&other.key()))
        } else {
            Err(TypeError)
        }
    }

    /// 0 for a date, 1 for a naive datetime, 2 for an aware one.
    fn kind(self) -> u8 {
        match self {
            Timestamp::Date { .. } => 0,
            Timestamp::DateTime { offset: None, .. } => 1,
            Timestamp::DateTime { .. } => 2,
        }
    }
}

/// A byte cursor for [`Timestamp::parse`].
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i - start
    }

    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        Some(
            self.b[start..self.i]
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Python would raise `TypeError` comparing these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TypeError;

/// Python's `a == b` (what `in`, list `==` and dict lookups use): `True == 1 == 1.0`,
/// `b"a" != "a"`, lists and dicts element by element.
pub(super) fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Binary(x), Value::Binary(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => timestamps_eq(x, y),
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(i, j)| py_eq(&i.value, &j.value))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    map_get(y, &k.value).is_some_and(|other| py_eq(&v.value, &other.value))
                })
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(y) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

/// `key in mapping` and `mapping[key]` with Python's key equality.
pub(super) fn map_get<'n>(entries: &'n [(Node, Node)], key: &Value) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| py_eq(&k.value, key))
        .map(|(_, v)| v)
}

fn timestamps_eq(a: &str, b: &str) -> bool {
    match (Timestamp::parse(a), Timestamp::parse(b)) {
        (Some(x), Some(y)) => x.py_eq(y),
        _ => a == b,
    }
}

/// python-jsonschema's `equal`: like `==`, but a `bool` never equals a number, at any depth, and
/// `bytes` compare as sequences of integers.
pub(super) fn schema_equal(a: &Value, b: &Value) -> bool {
    if matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)) {
        return py_eq(a, b);
    }
    if let (Some(x), Some(y)) = (as_sequence(a), as_sequence(b)) {
        return x.len() == y.len() && x.iter().zip(&y).all(|(i, j)| schema_equal(i, j));
    }
    if let (Value::Map(x), Value::Map(y)) = (a, b) {
        return x.len() == y.len()
            && x.iter().all(|(k, v)| {
                map_get(y, &k.value).is_some_and(|other| schema_equal(&v.value, &other.value))
            });
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bool(_), _) | (_, Value::Bool(_)) => false,
        _ => py_eq(a, b),
    }
}

/// A list, or `bytes` as the sequence of its integers (both are Python `Sequence`s).
fn as_sequence(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::Seq(items) => Some(items.iter().map(|n| n.value.clone()).collect()),
        Value::Binary(bytes) => Some(bytes.iter().map(|b| Value::Int(i128::from(*b))).collect()),
        _ => None,
    }
}

/// Python's `a < b` ordering, as `sorted()` uses it: `Err` where Python raises `TypeError`.
pub(super) fn py_cmp(a: &Value, b: &Value) -> Result<Ordering, TypeError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.as_str().cmp(y.as_str())),
        (Value::Binary(x), Value::Binary(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => {
            match (Timestamp::parse(x), Timestamp::parse(y)) {
                (Some(p), Some(q)) => p.py_cmp(q),
                _ => Ok(x.cmp(y)),
            }
        }
        (Value::Seq(x), Value::Seq(y)) => {
            // The first pair that is not `==` decides with `<`; else the shorter list is less.
            for (i, j) in x.iter().zip(y) {
                if !py_eq(&i.value, &j.value) {
                    return py_cmp(&i.value, &j.value);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => match (number(a), number(b)) {
            // NaN is neither less nor greater: sorting treats it as equal to its neighbours.
            (Some(x), Some(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Equal)),
            _ => Err(TypeError),
        },
    }
}

/// python-jsonschema 4.10's `uniq`: sorts (as `sorted()` does) and compares neighbours with
/// [`schema_equal`]; where Python cannot sort the items (a `bool` among several, mixed types,
/// mappings), it compares every pair instead.
pub(super) fn all_unique(items: &[Node]) -> bool {
    let values: Vec<&Value> = items.iter().map(|n| &n.value).collect();
    // `unbool` turns each top-level bool into an object that cannot be ordered at all.
    let sortable = values.len() < 2 || !values.iter().any(|v| matches!(v, Value::Bool(_)));
    if sortable
        && let Ok(sorted) = python_sorted(&values, |a, b| py_cmp(a, b).map(|o| o == Ordering::Less))
    {
        return !sorted.windows(2).any(|w| schema_equal(w[0], w[1]));
    }
    for (i, a) in values.iter().enumerate() {
        for b in &values[..i] {
            if schema_equal(a, b) {
                return false;
            }
        }
    }
    true
}

/// `sorted()` as CPython runs it on a short list (a natural run, then binary insertion), so the
/// same pairs are compared and a `TypeError` arises where Python's does. (Lists of 64 items or
/// more are merged in runs by CPython; this sorts them the same way, which gives the same order
/// but may compare other pairs.)
pub(super) fn python_sorted<T: Copy>(
    items: &[T],
    lt: impl Fn(T, T) -> Result<bool, TypeError>,
) -> Result<Vec<T>, TypeError> {
    let mut out: Vec<T> = items.to_vec();
    let n = out.len();
    if n < 2 {
        return Ok(out);
    }
    // count_run: the longest ascending (a[i] >= a[i-1]) or strictly descending prefix.
    let mut run = 2;
    if lt(out[1], out[0])? {
        while run < n && lt(out[run], out[run - 1])? {
            run += 1;
        }
        out[..run].reverse();
    } else {
        while run < n && !lt(out[run], out[run - 1])? {
            run += 1;
        }
    }
    // binarysort: insert each remaining item after every item that is not greater than it.
    for start in run..n {
        let pivot = out[start];
        let (mut lo, mut hi) = (0, start);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if lt(pivot, out[mid])? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        out[lo..=start].rotate_right(1);
    }
    Ok(out)
}

/// Python 3.11's C `datetime.date.fromisoformat`, as the `date` format runs it on ASCII strings:
/// `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www`, `YYYYWww`, `YYYY-Www-D`, `YYYYWwwD`, checked for
/// length (7, 8 or 10) and range; like the C code it reads a valid prefix of a 10-character
/// string and ignores the rest (`20010101xx`).
pub(super) fn is_iso_date(text: &str) -> bool {
    if !text.is_ascii() || !matches!(text.len(), 7 | 8 | 10) {
        return false;
    }
    let b = text.as_bytes();
    let len = b.len();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let digits = |from: usize, count: usize| -> Option<u32> {
        (from..from + count).try_fold(0u32, |acc, i| {
            let c = at(i);
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let Some(year) = digits(0, 4) else {
        return false;
    };
    let mut p = 4;
    let separator = at(p) == b'-';
    if separator {
        p += 1;
    }
    if at(p) == b'W' {
        p += 1;
        let Some(week) = digits(p, 2) else {
            return false;
        };
        p += 2;
        let day = if p < len {
            if separator {
                if at(p) != b'-' {
                    return false;
                }
                p += 1;
            }
            match digits(p, 1) {
                Some(day) => day,
                None => return false,
            }
        } else {
            1
        };
        return iso_week_date_valid(year, week, day);
    }
    let Some(month) = digits(p, 2) else {
        return false;
    };
    p += 2;
    if separator {
        if at(p) != b'-' {
            return false;
        }
        p += 1;
    }
    let Some(day) = digits(p, 2) else {
        return false;
    };
    (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in(year, month)
}

/// Whether an ISO week date gives a date in years 1 to 9999, as `iso_to_ymd` and the date
/// constructor check it.
fn iso_week_date_valid(year: u32, week: u32, day: u32) -> bool {
    if !(1..=9999).contains(&year) || !(1..=7).contains(&day) {
        return false;
    }
    if week == 0 || week > 53 {
        return false;
    }
    if week == 53 {
        // Years with 53 weeks start on a Thursday, or are leap years starting on a Wednesday.
        let first = weekday(year as i32, 1, 1); // 0 = Monday
        if !(first == 3 || (first == 2 && is_leap(year))) {
            return false;
        }
    }
    // Monday of week 1, then the offset; the result must stay within years 1 to 9999.
    let jan4 = days_from_civil(year as i32, 1, 4);
    let monday = jan4 - i64::from(weekday(year as i32, 1, 4));
    let ordinal = monday + i64::from((week - 1) * 7 + (day - 1));
    ordinal >= days_from_civil(1, 1, 1) && ordinal <= days_from_civil(9999, 12, 31)
}

/// 0 for Monday … 6 for Sunday.
fn weekday(year: i32, month: u32, day: u32) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (days_from_civil(year, month, day) + 3).rem_euclid(7) as u32
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
