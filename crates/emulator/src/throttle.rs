//! Throttling as the API gateway in front of ECS does it: at most `limit` calls per user in a
//! window (real ones read "…over ratelimit, limit:200, time:5 minute"), then 429 `APIGW.0308`
//! until the window ends, with or without `Retry-After` (real answers have not been seen to
//! carry one).
//!
//! The windows are fixed, starting at a user's first call after the last one ended, and scaled
//! by the time scale like every duration: the emulator's own choice (the gateway does not say
//! how it counts). A refused call does not count. The user is who the credentials say: the AK
//! of an AK/SK signature, or the token; a call with neither counts as one anonymous user.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use time::OffsetDateTime;

/// A throttle rule: at most [`limit`](Self::limit) calls per user in each
/// [`window`](Self::window) (before the time scale).
///
/// ```
/// use std::time::Duration;
/// use reimage_emulator::RateLimit;
///
/// let rule = RateLimit::parse("200/5m")?;
/// assert_eq!(rule.limit(), 200);
/// assert_eq!(rule.window(), Duration::from_secs(300));
/// assert!(!rule.retry_after());
/// assert!(RateLimit::parse("200").is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: u32,
    window: Duration,
    retry_after: bool,
}

impl RateLimit {
    /// At most `limit` calls per user in each `window`, answered without `Retry-After`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window: window.max(Duration::from_millis(1)),
            retry_after: false,
        }
    }

    /// Reads `COUNT/WINDOW`: `200/5m`, `20/10s`, `1000/1h` (the window in `s`, `m` or `h`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("{text:?} is not a rate limit; write COUNT/WINDOW, such as 200/5m or 20/10s")
        };
        let (count, window) = text.split_once('/').ok_or_else(bad)?;
        let limit: u32 = count.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let (number, unit) = window.split_at(window.len().saturating_sub(1));
        let n: u64 = number.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => n,
            "m" => n.saturating_mul(60),
            "h" => n.saturating_mul(3600),
            _ => return Err(bad()),
        };
        if limit == 0 || secs == 0 {
            return Err(format!(
                "{text:?}: the count and the window must be above 0"
            ));
        }
        Ok(Self::new(limit, Duration::from_secs(secs)))
    }

    /// Answers a refused call with `Retry-After` (the seconds left in the window, scaled).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: bool) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The calls a user may make in a window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window, before the time scale.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether a refusal carries `Retry-After`.
    pub fn retry_after(&self) -> bool {
        self.retry_after
    }

    /// The refusal's message, as the gateway words it.
    pub(crate) fn message(&self) -> String {
        let secs = self.window.as_secs();
        let time = if secs.is_multiple_of(60) && secs > 0 {
            format!("{} minute", secs / 60)
        } else {
            format!("{secs} second")
        };
        format!(
            "The throttling threshold has been reached: policy user over ratelimit, limit:{}, \
             time:{time}",
            self.limit
        )
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.limit, self.window.as_secs())
    }
}

/// Each user's window: when it began and how many calls it let through; and how many calls the
/// rule refused in all (the admin state's `ecs.throttled_calls`).
#[derive(Debug, Default)]
pub(crate) struct Windows(BTreeMap<String, (OffsetDateTime, u32)>, u64);

impl Windows {
    /// Counts a call of `user` at `now` against `rule` with its `window` (scaled): `Ok` when it
    /// may go on, else how long its window still runs.
    pub(crate) fn admit(
        &mut self,
        rule: &RateLimit,
        window: Duration,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<(), Duration> {
        let entry = self.0.entry(user.to_owned()).or_insert((now, 0));
        let ends = entry.0 + window;
        if now >= ends {
            *entry = (now, 0);
        }
        if entry.1 >= rule.limit {
            let left = (entry.0 + window) - now;
            self.1 += 1;
            return Err(Duration::try_from(left).unwrap_or(Duration::ZERO));
        }
        entry.1 += 1;
        Ok(())
    }

    /// How many calls the rule refused since the start (or the last reset).
    pub(crate) fn refused(&self) -> u64 {
        self.1
    }
}

/// Who a call is, for counting: the AK of its AK/SK signature, or a digest of its token (never
/// the token itself, since the key is kept), or `anonymous`.
pub(crate) fn caller(headers: &HeaderMap) -> String {
    if let Some(access) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Access=").nth(1))
        .and_then(|rest| rest.split([',', ' ']).next())
    {
        return format!("ak:{access}");
    }
    if let Some(token) = headers.get(reimage_auth::iam::X_AUTH_TOKEN) {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        token.as_bytes().hash(&mut hasher);
        return format!("token:{:016x}", hasher.finish());
    }
    "anonymous".to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_window_lets_limit_calls_through_then_refuses_until_it_ends() {
        let rule = RateLimit::new(3, Duration::from_secs(10));
        let mut windows = Windows::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let at = |s: i64| t0 + time::Duration::seconds(s);
        for s in 0..3 {
            assert_eq!(windows.admit(&rule, rule.window(), "a", at(s)), Ok(()));
        }
        assert_eq!(
            windows.admit(&rule, rule.window(), "a", at(4)),
            Err(Duration::from_secs(6))
        );
        // Another user has a window of its own.
        assert_eq!(windows.admit(&rule, rule.window(), "b", at(4)), Ok(()));
        // A refused call does not count; the next window lets calls through again.
        assert_eq!(windows.admit(&rule, rule.window(), "a", at(10)), Ok(()));
        assert_eq!(windows.refused(), 1);
    }

    #[test]
    fn the_caller_is_the_access_key_or_the_token_never_quoted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host, Signature=abc"
                .parse()
                .unwrap(),
        );
        assert_eq!(caller(&headers), "ak:AKEXAMPLE");
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-token", "secret-token-value".parse().unwrap());
        let key = caller(&headers);
        assert!(
            key.starts_with("token:") && !key.contains("secret"),
            "{key}"
        );
        assert_eq!(caller(&HeaderMap::new()), "anonymous");
    }

    #[test]
    fn the_message_says_the_limit_as_the_gateway_does() {
        let rule = RateLimit::parse("200/5m").unwrap();
        assert!(
            rule.message()
                .ends_with("over ratelimit, limit:200, time:5 minute"),
            "{}",
            rule.message()
        );
    }
}
