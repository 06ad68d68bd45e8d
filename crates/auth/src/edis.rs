//! The EDIS session: the credentials that open it, the session that every later EDIS call
//! carries, and the check that it is still fresh.
//!
//! EDIS authenticates in two steps. `POST https://session.edisglobal.com/kvm/v2/get/auth` with
//! the account's `email` and `pw` (and optionally a `kvm_id`) answers with one session per KVM:
//! an `api_host`, the `kvm_id`, a `signature` and a `valid_until` Unix time. Every later call
//! goes to `https://{api_host}/kvm/v2/...` and sends `signature`, `kvm_id` and `valid_until`
//! back, the last one verbatim.
//!
//! - [`EdisCredentials`]: the account's email and password.
//! - [`EdisSession`]: one session, built from the parts of the auth answer. Reading that answer
//!   (`decode_sessions`, `EdisSessions`, and `decode_success`, the envelope of every EDIS answer)
//!   is `reimage-wire`'s, in its `edis` module.
//! - [`EdisSession::ensure_fresh`]: refuses a session that expires within a margin of `now`, and
//!   returns the [`FreshSession`] guard that the EDIS operations of `reimage-wire` take, so a
//!   session that was never checked cannot be encoded.
//!
//! ```
//! use reimage_auth::edis::{DEFAULT_FRESHNESS_MARGIN, EdisSession};
//! use reimage_core::{KvmId, Timestamp};
//!
//! // The parts of one session of the auth answer.
//! let session = EdisSession::new(
//!     "12345.edisglobal.com",
//!     KvmId::new("kvm_12345_67890")?,
//!     "session_signature_12345",
//!     "1737476000",
//! )?;
//! assert_eq!(session.valid_until_text(), "1737476000");
//!
//! // One hour before it expires: fresh.
//! let now = Timestamp::from_unix_seconds(1_737_472_400).ok_or("out of range")?;
//! let fresh = session.ensure_fresh(now, DEFAULT_FRESHNESS_MARGIN)?;
//! assert_eq!(fresh.session().api_host(), "12345.edisglobal.com");
//!
//! // Thirty seconds before: refused, with what to do.
//! let late = Timestamp::from_unix_seconds(1_737_475_970).ok_or("out of range")?;
//! let err = session.ensure_fresh(late, DEFAULT_FRESHNESS_MARGIN).unwrap_err();
//! assert!(err.to_string().contains("create a new session"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use reimage_core::{KvmId, Timestamp, ValidationError};
use secrecy::{ExposeSecret, SecretString};

/// The margin that [`EdisSession::ensure_fresh`] is usually given: a session that expires within
/// a minute is not used, since the call might arrive after it expired.
pub const DEFAULT_FRESHNESS_MARGIN: Duration = Duration::from_secs(60);

/// The EDIS account's credentials: the email and password of the EDIS client area.
///
/// `Debug` shows the email and never the password.
///
/// ```
/// use reimage_auth::EdisCredentials;
///
/// let creds = EdisCredentials::new("ops@example.com", "s3cr3t pass")?;
/// assert_eq!(creds.email(), "ops@example.com");
/// assert_eq!(format!("{creds:?}"), r#"EdisCredentials { email: "ops@example.com", pw: [REDACTED] }"#);
/// assert_eq!(EdisCredentials::new("ops", "x").unwrap_err().field(), "email");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct EdisCredentials {
    email: String,
    pw: SecretString,
}

impl EdisCredentials {
    /// Checks the email (not empty, with an `@`, no spaces or control characters) and the
    /// password (not empty), and keeps the password secret.
    pub fn new(
        email: impl Into<String>,
        pw: impl Into<SecretString>,
    ) -> Result<Self, ValidationError> {
        let email = email.into();
        let pw = pw.into();
        if email.is_empty() {
            return Err(ValidationError::new(
                "email",
                "is empty",
                "give the email you sign in to the EDIS client area with",
            ));
        }
        if !email.contains('@') || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new(
                "email",
                "is not an email address (it needs an '@' and no spaces)",
                "give the email you sign in to the EDIS client area with, e.g. ops@example.com",
            ));
        }
        if pw.expose_secret().is_empty() {
            return Err(ValidationError::new(
                "pw",
                "is empty",
                "give the password of the EDIS client area",
            ));
        }
        Ok(Self { email, pw })
    }

    /// The account's email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The account's password, for the encoder that puts it on the wire.
    pub fn pw(&self) -> &SecretString {
        &self.pw
    }
}

impl fmt::Debug for EdisCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdisCredentials")
            .field("email", &self.email)
            .field("pw", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// One EDIS session: where to send the calls for one KVM, and the signature that authorises
/// them until `valid_until`.
///
/// `valid_until` is kept twice: as the text the auth answer gave (sent back verbatim) and as the
/// time it means. `Debug` never shows the signature.
///
/// ```
/// use reimage_auth::EdisSession;
/// use reimage_core::KvmId;
///
/// let session = EdisSession::new(
///     "12345.edisglobal.com",
///     KvmId::new("kvm_12345_67890")?,
///     "session_signature_12345",
///     "1737476000",
/// )?;
/// assert_eq!(session.valid_until().unix_seconds(), 1_737_476_000);
/// assert!(!format!("{session:?}").contains("session_signature_12345"));
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct EdisSession {
    api_host: String,
    kvm_id: KvmId,
    signature: SecretString,
    valid_until_text: String,
    valid_until: Timestamp,
}

impl EdisSession {
    /// A session from its parts, as the auth answer gives them. `api_host` is a host name with an
    /// optional port; `valid_until` is the Unix time in seconds, as digits.
    pub fn new(
        api_host: impl Into<String>,
        kvm_id: KvmId,
        signature: impl Into<SecretString>,
        valid_until: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        let api_host = api_host.into();
        let signature = signature.into();
        let valid_until_text = valid_until.into();
        let host_ok = !api_host.is_empty()
            && api_host.len() <= 261
            && api_host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !host_ok {
            return Err(ValidationError::new(
                "api_host",
                "is not a host name",
                "expected a host such as 12345.edisglobal.com (with an optional :port), as the \
                 auth answer gives it",
            ));
        }
        if signature.expose_secret().is_empty() {
            return Err(ValidationError::new(
                "signature",
                "is empty",
                "use the signature of the auth answer; create a new session if it has none",
            ));
        }
        let valid_until = parse_valid_until(&valid_until_text)?;
        Ok(Self {
            api_host,
            kvm_id,
            signature,
            valid_until_text,
            valid_until,
        })
    }

    /// The host that serves this KVM's calls (`12345.edisglobal.com`). It may change when the
    /// VPS moves, so take it from a new session rather than remembering it.
    pub fn api_host(&self) -> &str {
        &self.api_host
    }

    /// The KVM this session is for.
    pub fn kvm_id(&self) -> &KvmId {
        &self.kvm_id
    }

    /// The session signature, for the encoder that puts it on the wire.
    pub fn signature(&self) -> &SecretString {
        &self.signature
    }

    /// `valid_until` exactly as the auth answer gave it, to send back verbatim.
    pub fn valid_until_text(&self) -> &str {
        &self.valid_until_text
    }

    /// When the session expires.
    pub fn valid_until(&self) -> Timestamp {
        self.valid_until
    }

    /// Checks that the session does not expire within `margin` of `now`, and returns the guard
    /// that the EDIS operations take.
    ///
    /// The session is fresh when more than `margin` is left: one that expires exactly at
    /// `now + margin` is refused. [`DEFAULT_FRESHNESS_MARGIN`] is a minute.
    pub fn ensure_fresh(
        &self,
        now: Timestamp,
        margin: Duration,
    ) -> Result<FreshSession<'_>, SessionExpired> {
        let left = self
            .valid_until
            .to_offset_date_time()
            .unix_timestamp_nanos()
            - now.to_offset_date_time().unix_timestamp_nanos();
        let margin_nanos = i128::try_from(margin.as_nanos()).unwrap_or(i128::MAX);
        if left > margin_nanos {
            Ok(FreshSession { session: self })
        } else {
            Err(SessionExpired {
                kvm_id: self.kvm_id.clone(),
                valid_until: self.valid_until,
                now,
                margin,
            })
        }
    }
}

impl fmt::Debug for EdisSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdisSession")
            .field("api_host", &self.api_host)
            .field("kvm_id", &self.kvm_id)
            .field("signature", &format_args!("[REDACTED]"))
            .field("valid_until", &self.valid_until_text)
            .finish()
    }
}

/// Parses a `valid_until` as EDIS writes it: the Unix time in seconds, as ASCII digits.
///
/// ```
/// use reimage_auth::edis::parse_valid_until;
///
/// assert_eq!(parse_valid_until("1737476000")?.unix_seconds(), 1_737_476_000);
/// assert!(parse_valid_until("2025-01-21").is_err());
/// assert!(parse_valid_until("").is_err());
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
pub fn parse_valid_until(text: &str) -> Result<Timestamp, ValidationError> {
    const FIX: &str = "expected the Unix time in seconds as digits, e.g. 1737476000, as the auth \
                       answer gives it";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::new(
            "valid_until",
            "is not a Unix time in digits",
            FIX,
        ));
    }
    text.parse::<i64>()
        .ok()
        .and_then(Timestamp::from_unix_seconds)
        .ok_or_else(|| ValidationError::new("valid_until", "is out of the range of dates", FIX))
}

/// Proof that an [`EdisSession`] was fresh when it was checked: only
/// [`EdisSession::ensure_fresh`] makes one, and the EDIS operations take it instead of the
/// session.
#[derive(Debug, Clone, Copy)]
pub struct FreshSession<'a> {
    session: &'a EdisSession,
}

impl<'a> FreshSession<'a> {
    /// The session that was checked.
    pub fn session(&self) -> &'a EdisSession {
        self.session
    }
}

/// A session that has expired, or expires within the margin: create a new one.
///
/// ```
/// use std::time::Duration;
/// use reimage_auth::EdisSession;
/// use reimage_core::{KvmId, Timestamp};
///
/// let session = EdisSession::new("h.example", KvmId::new("kvm_1_2")?, "sig", "1000")?;
/// let now = Timestamp::from_unix_seconds(1030).unwrap();
/// let err = session.ensure_fresh(now, Duration::from_secs(60)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "the EDIS session for kvm_1_2 expired at 1970-01-01T00:16:40Z, 30 s before now \
///      (1970-01-01T00:17:10Z); create a new session with the auth call (email and password) \
///      and use its signature and valid_until"
/// );
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionExpired {
    /// The KVM the session is for.
    pub kvm_id: KvmId,
    /// When the session expires, or expired.
    pub valid_until: Timestamp,
    /// The time it was checked at.
    pub now: Timestamp,
    /// The margin it was checked with.
    pub margin: Duration,
}

impl SessionExpired {
    /// Whether the session has already expired (rather than expiring within the margin).
    pub fn has_expired(&self) -> bool {
        self.valid_until <= self.now
    }
}

impl fmt::Display for SessionExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = self
            .valid_until
            .unix_seconds()
            .saturating_sub(self.now.unix_seconds());
        if self.has_expired() {
            write!(
                f,
                "the EDIS session for {} expired at {}, {} s before now ({})",
                self.kvm_id,
                self.valid_until,
                left.unsigned_abs(),
                self.now
            )?;
        } else {
            write!(
                f,
                "the EDIS session for {} expires at {}, in {} s, within the safety margin of {} s",
                self.kvm_id,
                self.valid_until,
                left,
                self.margin.as_secs()
            )?;
        }
        f.write_str(
            "; create a new session with the auth call (email and password) and use its \
             signature and valid_until",
        )
    }
}

impl std::error::Error for SessionExpired {}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNATURE: &str = "12345678901234567890123456789012345678901234567890";

    fn kvm(s: &str) -> KvmId {
        KvmId::new(s).unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(seconds).unwrap()
    }

    fn session(valid_until: &str) -> EdisSession {
        EdisSession::new(
            "123456.edisglobal.com",
            kvm("kvm_123456_789012"),
            SIGNATURE,
            valid_until,
        )
        .unwrap()
    }

    #[test]
    fn credentials_debug_is_redacted_exactly() {
        let creds = EdisCredentials::new("ops@example.com", "hunter2 + friends").unwrap();
        assert_eq!(
            format!("{creds:?}"),
            r#"EdisCredentials { email: "ops@example.com", pw: [REDACTED] }"#
        );
        assert_eq!(creds.pw().expose_secret(), "hunter2 + friends");
    }

    #[test]
    fn credentials_rules() {
        let cases = [
            ("ops@example.com", "pw", None),
            ("", "pw", Some("email")),
            ("ops.example.com", "pw", Some("email")),
            ("ops @example.com", "pw", Some("email")),
            ("ops@example.com", "", Some("pw")),
        ];
        for (email, pw, field) in cases {
            let got = EdisCredentials::new(email, pw)
                .err()
                .map(|e| e.field().to_owned());
            assert_eq!(got.as_deref(), field, "{email:?}");
        }
    }

    #[test]
    fn session_debug_is_redacted_exactly() {
        let s = session("1737476000");
        assert_eq!(
            format!("{s:?}"),
            "EdisSession { api_host: \"123456.edisglobal.com\", kvm_id: KvmId(\"kvm_123456_789012\"), \
             signature: [REDACTED], valid_until: \"1737476000\" }"
        );
        let fresh = s.ensure_fresh(at(0), DEFAULT_FRESHNESS_MARGIN).unwrap();
        assert!(!format!("{fresh:?}").contains(SIGNATURE));
    }

    #[test]
    fn session_rules() {
        let k = kvm("kvm_1_2");
        assert!(EdisSession::new("127.0.0.1:8080", k.clone(), "s", "1").is_ok());
        assert!(EdisSession::new("[::1]:8080", k.clone(), "s", "1").is_ok());
        assert_eq!(
            EdisSession::new("", k.clone(), "s", "1")
                .unwrap_err()
                .field(),
            "api_host"
        );
        assert_eq!(
            EdisSession::new("h/x", k.clone(), "s", "1")
                .unwrap_err()
                .field(),
            "api_host"
        );
        assert_eq!(
            EdisSession::new("h", k.clone(), "", "1")
                .unwrap_err()
                .field(),
            "signature"
        );
        assert_eq!(
            EdisSession::new("h", k.clone(), "s", "soon")
                .unwrap_err()
                .field(),
            "valid_until"
        );
        assert_eq!(
            EdisSession::new("h", k, "s", "99999999999999999999")
                .unwrap_err()
                .field(),
            "valid_until"
        );
    }

    /// (seconds before valid_until, margin, fresh?)
    #[test]
    fn ensure_fresh_boundaries() {
        let s = session("1000000");
        let cases = [
            (-3600, 60, false), // expired an hour ago
            (0, 60, false),     // expires now
            (0, 0, false),      // expires now, no margin
            (30, 60, false),    // within the margin
            (60, 60, false),    // exactly at the margin
            (61, 60, true),     // one second more than the margin
            (1, 0, true),       // no margin, one second left
            (3600, 60, true),   // an hour left
        ];
        for (before, margin, fresh) in cases {
            let now = at(1_000_000 - before);
            let got = s.ensure_fresh(now, Duration::from_secs(margin));
            assert_eq!(got.is_ok(), fresh, "{before} s before, margin {margin} s");
            if let Err(err) = got {
                assert_eq!(err.has_expired(), before <= 0, "{err}");
                let text = err.to_string();
                assert!(
                    text.contains("kvm_123456_789012") && text.contains("create a new session"),
                    "{text}"
                );
                assert!(!text.contains(SIGNATURE));
            }
        }
        let nanos_short = at(1_000_000 - 60).to_offset_date_time() + time::Duration::nanoseconds(1);
        assert!(
            s.ensure_fresh(nanos_short.into(), DEFAULT_FRESHNESS_MARGIN)
                .is_err()
        );
        let nanos_over = at(1_000_000 - 60).to_offset_date_time() - time::Duration::nanoseconds(1);
        assert!(
            s.ensure_fresh(nanos_over.into(), DEFAULT_FRESHNESS_MARGIN)
                .is_ok()
        );
        assert!(s.ensure_fresh(at(0), Duration::MAX).is_err());
    }

    #[test]
    fn expiring_soon_says_so() {
        let err = session("1000")
            .ensure_fresh(at(970), DEFAULT_FRESHNESS_MARGIN)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the EDIS session for kvm_123456_789012 expires at 1970-01-01T00:16:40Z, in 30 s, within \
             the safety margin of 60 s; create a new session with the auth call (email and password) \
             and use its signature and valid_until"
        );
    }
}
