//! The ECS IAM token: the IAM user's [`PasswordCredentials`], the project they ask a token for
//! ([`TokenScope`]), and the [`Token`] that says when it must be refreshed.
//!
//! IAM gives a token for a password (`POST /v3/auth/tokens`), and every ECS call then carries it
//! as `X-Auth-Token` ([`X_AUTH_TOKEN`], [`Token::header_value`]). The request body and the reading
//! of IAM's answer are `reimage-wire`'s (its `iam` module, with the `CreateToken` operation); this
//! module holds the credentials and the token that the answer becomes.
//!
//! Nothing here does IO or reads a clock: [`Token::needs_refresh`] is told the time.
//!
//! ```
//! use reimage_auth::Token;
//! use reimage_auth::iam::{DEFAULT_REFRESH_MARGIN, PasswordCredentials, TokenScope};
//! use reimage_core::{ProjectId, Timestamp};
//! use secrecy::SecretString;
//!
//! let credentials = PasswordCredentials::new(
//!     "alice",
//!     "example-domain",
//!     SecretString::from("correct horse battery staple"),
//! )?;
//! let scope = TokenScope::ProjectId(ProjectId::new("0123456789abcdef0123456789abcdef")?);
//! assert_eq!(credentials.user_name(), "alice");
//! assert!(matches!(scope, TokenScope::ProjectId(_)));
//!
//! // The token an answer gave (the `X-Subject-Token` header and `token.expires_at`).
//! let token = Token::new("MIIexample".into(), Timestamp::parse("2025-01-02T00:00:00Z")?)?;
//! let now = Timestamp::parse("2025-01-01T23:50:00Z")?;
//! assert!(!token.needs_refresh(now, DEFAULT_REFRESH_MARGIN));
//! assert!(token.header_value().is_sensitive());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use http::HeaderValue;
use reimage_core::{ProjectId, Timestamp, ValidationError};
use secrecy::{ExposeSecret, SecretString};

/// The request header that carries the token on every ECS call.
pub const X_AUTH_TOKEN: &str = "x-auth-token";

/// How long before its expiry a token is refreshed, unless the caller says otherwise: 5 minutes.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The longest user, domain or project name IAM accepts.
const MAX_NAME: usize = 64;

/// An IAM user's name and password, and the name of the account (domain) it belongs to.
///
/// `Debug` shows the names and never the password:
///
/// ```
/// use reimage_auth::iam::PasswordCredentials;
///
/// let c = PasswordCredentials::new("alice", "example-domain", "hunter2!".into())?;
/// assert_eq!(
///     format!("{c:?}"),
///     r#"PasswordCredentials { user_name: "alice", domain_name: "example-domain", password: [REDACTED] }"#
/// );
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct PasswordCredentials {
    user_name: String,
    domain_name: String,
    password: SecretString,
}

impl PasswordCredentials {
    /// Checks the names (1 to 64 characters, no control characters) and that the password is not
    /// empty. An error names the field and never shows the password.
    pub fn new(
        user_name: impl Into<String>,
        domain_name: impl Into<String>,
        password: SecretString,
    ) -> Result<Self, ValidationError> {
        let user_name = checked_name("user_name", user_name.into(), "the IAM user name")?;
        let domain_name = checked_name(
            "domain_name",
            domain_name.into(),
            "the account (domain) name the IAM user belongs to",
        )?;
        if password.expose_secret().is_empty() {
            return Err(ValidationError::new(
                "password",
                "is empty",
                "give the IAM user's password",
            ));
        }
        Ok(Self {
            user_name,
            domain_name,
            password,
        })
    }

    /// The IAM user name.
    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    /// The account (domain) name.
    pub fn domain_name(&self) -> &str {
        &self.domain_name
    }

    /// The password, for the encoder that puts it on the wire.
    pub fn password(&self) -> &SecretString {
        &self.password
    }
}

impl fmt::Debug for PasswordCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredentials")
            .field("user_name", &self.user_name)
            .field("domain_name", &self.domain_name)
            .field("password", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// An IAM project name, such as `eu-de` or `cn-north-4_sub`: 1 to 64 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProjectName(Box<str>);

impl ProjectName {
    /// Checks the name and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name = checked_name(
            "project_name",
            name.into(),
            "the project name, usually the region (e.g. eu-de)",
        )?;
        Ok(Self(name.into_boxed_str()))
    }

    /// The name as it is sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The project a token is scoped to: by id, or by name.
///
/// Not `#[non_exhaustive]`: the token request body is written in another crate
/// (`reimage-wire`), and a new scope is one that encoder must write, so adding one should fail to
/// compile there rather than at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// `scope.project.id`.
    ProjectId(ProjectId),
    /// `scope.project.name`.
    ProjectName(ProjectName),
}

fn checked_name(
    field: &'static str,
    value: String,
    what: &'static str,
) -> Result<String, ValidationError> {
    let len = value.chars().count();
    if len == 0 {
        return Err(ValidationError::new(
            field,
            "is empty",
            format!("give {what}"),
        ));
    }
    if len > MAX_NAME {
        return Err(ValidationError::new(
            field,
            format!("is {len} characters long"),
            format!("give {what}: at most {MAX_NAME} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "contains a control character (a newline or tab, perhaps pasted)",
            "remove the control characters",
        ));
    }
    Ok(value)
}

/// An IAM token: the secret that ECS calls carry as `X-Auth-Token`, and when it expires.
///
/// `Debug` shows the times and never the token:
///
/// ```
/// use reimage_auth::Token;
/// use reimage_core::Timestamp;
///
/// let token = Token::new("MIIexample".into(), Timestamp::parse("2025-01-02T00:00:00Z")?)?;
/// assert_eq!(
///     format!("{token:?}"),
///     "Token { token: [REDACTED], expires_at: Timestamp(2025-01-02T00:00:00Z), issued_at: None }"
/// );
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct Token {
    secret: SecretString,
    /// The same secret as a sensitive header value, made once when the token was checked.
    header: HeaderValue,
    expires_at: Timestamp,
    issued_at: Option<Timestamp>,
    project_id: Option<ProjectId>,
}

impl Token {
    /// A token with its expiry. The token must be 1 or more visible ASCII characters, as a header
    /// value can carry them; the error never shows it.
    pub fn new(secret: SecretString, expires_at: Timestamp) -> Result<Self, ValidationError> {
        let text = secret.expose_secret();
        let visible = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        let header = match HeaderValue::from_str(text) {
            Ok(mut header) if visible => {
                header.set_sensitive(true);
                header
            }
            _ => {
                return Err(ValidationError::new(
                    "token",
                    format!(
                        "is not 1 or more visible ASCII characters ({} bytes)",
                        text.len()
                    ),
                    "use the X-Subject-Token header of the IAM answer, unchanged",
                ));
            }
        };
        Ok(Self {
            secret,
            header,
            expires_at,
            issued_at: None,
            project_id: None,
        })
    }

    /// Sets when the token was issued.
    #[must_use]
    pub fn with_issued_at(mut self, issued_at: Option<Timestamp>) -> Self {
        self.issued_at = issued_at;
        self
    }

    /// Sets the project the token is scoped to.
    #[must_use]
    pub fn with_project_id(mut self, project_id: Option<ProjectId>) -> Self {
        self.project_id = project_id;
        self
    }

    /// The project the token is scoped to (`token.project.id`), if IAM said: how a token scoped
    /// by project name learns the project id that ECS paths need.
    pub fn project_id(&self) -> Option<&ProjectId> {
        self.project_id.as_ref()
    }

    /// The token, for the code that sends it.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When IAM stops accepting the token (`token.expires_at`).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// When IAM issued the token (`token.issued_at`), if it said.
    pub fn issued_at(&self) -> Option<Timestamp> {
        self.issued_at
    }

    /// The moment from which the token should be replaced: `margin` before it expires.
    ///
    /// ```
    /// use reimage_auth::Token;
    /// use reimage_auth::iam::DEFAULT_REFRESH_MARGIN;
    /// use reimage_core::Timestamp;
    ///
    /// let token = Token::new("t".into(), Timestamp::parse("2025-01-02T00:00:00Z")?)?;
    /// assert_eq!(token.refresh_at(DEFAULT_REFRESH_MARGIN).to_string(), "2025-01-01T23:55:00Z");
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn refresh_at(&self, margin: Duration) -> Timestamp {
        let seconds = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        self.expires_at.plus_seconds(seconds.saturating_neg())
    }

    /// Whether the token must be replaced at `now`: true from `margin` before its expiry on.
    /// [`DEFAULT_REFRESH_MARGIN`] (5 minutes) is a good margin.
    pub fn needs_refresh(&self, now: Timestamp, margin: Duration) -> bool {
        now >= self.refresh_at(margin)
    }

    /// The `X-Auth-Token` header value, marked sensitive so that HTTP stacks do not log it.
    pub fn header_value(&self) -> HeaderValue {
        self.header.clone()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &format_args!("[REDACTED]"))
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "Sentinel-Pw-42";
    const TOKEN: &str = "MIIsentineltoken";

    fn credentials() -> PasswordCredentials {
        PasswordCredentials::new("alice", "example-domain", PASSWORD.into()).unwrap()
    }

    fn project_id() -> ProjectId {
        ProjectId::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn iam_credentials_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", credentials()),
            "PasswordCredentials { user_name: \"alice\", domain_name: \"example-domain\", \
             password: [REDACTED] }"
        );
        assert_eq!(
            format!("{:#?}", credentials()),
            "PasswordCredentials {\n    user_name: \"alice\",\n    domain_name: \"example-domain\",\n    \
             password: [REDACTED],\n}"
        );
    }

    #[test]
    fn iam_token_debug_is_redacted() {
        let token = Token::new(TOKEN.into(), at("2025-01-02T00:00:00.123Z"))
            .unwrap()
            .with_issued_at(Some(at("2025-01-01T00:00:00.123Z")));
        assert_eq!(
            format!("{token:?}"),
            "Token { token: [REDACTED], expires_at: Timestamp(2025-01-02T00:00:00.123Z), \
             issued_at: Some(Timestamp(2025-01-01T00:00:00.123Z)) }"
        );
        assert_eq!(format!("{:?}", token.header_value()), "Sensitive");
    }

    #[test]
    fn iam_scope_and_name_debug() {
        let scope = TokenScope::ProjectName(ProjectName::new("eu-de").unwrap());
        assert_eq!(format!("{scope:?}"), "ProjectName(ProjectName(\"eu-de\"))");
        let scope = TokenScope::ProjectId(project_id());
        assert_eq!(
            format!("{scope:?}"),
            "ProjectId(ProjectId(\"0123456789abcdef0123456789abcdef\"))"
        );
    }

    #[test]
    fn iam_credentials_validation_names_the_field() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", "d", "p", "user_name"),
            ("u", "", "p", "domain_name"),
            ("u", "d", "", "password"),
            ("u\n", "d", "p", "user_name"),
            ("u", &"d".repeat(65), "p", "domain_name"),
        ];
        for (user, domain, password, field) in cases {
            let err = PasswordCredentials::new(*user, *domain, (*password).into()).unwrap_err();
            assert_eq!(err.field(), *field, "{err}");
        }
        assert!(ProjectName::new("").is_err());
        assert!(ProjectName::new("eu-de").is_ok());
    }

    #[test]
    fn iam_refresh_margin() {
        let token = Token::new(TOKEN.into(), at("2025-01-02T00:00:00Z")).unwrap();
        assert_eq!(DEFAULT_REFRESH_MARGIN, Duration::from_secs(300));
        let m = DEFAULT_REFRESH_MARGIN;
        assert_eq!(token.refresh_at(m), at("2025-01-01T23:55:00Z"));
        assert!(!token.needs_refresh(at("2025-01-01T23:54:59Z"), m));
        assert!(token.needs_refresh(at("2025-01-01T23:55:00Z"), m));
        assert!(token.needs_refresh(at("2025-01-02T01:00:00Z"), m));
        assert!(!token.needs_refresh(at("2025-01-01T23:59:59Z"), Duration::ZERO));
        assert!(token.needs_refresh(at("2025-01-02T00:00:00Z"), Duration::ZERO));
        // A huge margin saturates instead of overflowing.
        assert!(token.needs_refresh(Timestamp::UNIX_EPOCH, Duration::MAX));
    }

    #[test]
    fn iam_header_value_is_sensitive() {
        let token = Token::new(TOKEN.into(), at("2025-01-02T00:00:00Z")).unwrap();
        let value = token.header_value();
        assert!(value.is_sensitive());
        assert_eq!(value.as_bytes(), TOKEN.as_bytes());
    }

    #[test]
    fn iam_token_refuses_what_a_header_cannot_carry() {
        for bad in ["", "a b", "tok\n", "tøken"] {
            let err = Token::new(bad.into(), Timestamp::UNIX_EPOCH).unwrap_err();
            assert_eq!(err.field(), "token");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }
}
