//! The ECS IAM token: the password-auth request for `POST /v3/auth/tokens`, the answer, and a
//! [`Token`] that says when it must be refreshed.
//!
//! IAM answers `201 Created` with the token in the `X-Subject-Token` header and its lifetime in
//! the body (`token.expires_at`, 24 hours after `token.issued_at`). Every ECS call then carries it
//! as `X-Auth-Token`.
//!
//! Nothing here does IO or reads a clock: [`token_request_body`] builds the bytes to send,
//! [`decode_token_response`] reads the answer, and [`Token::needs_refresh`] is told the time.
//!
//! ```
//! use reimage_auth::iam::{PasswordCredentials, TokenScope, decode_token_response, token_request_body};
//! use reimage_core::{ProjectId, Timestamp};
//! use secrecy::SecretString;
//!
//! let credentials = PasswordCredentials::new(
//!     "alice",
//!     "example-domain",
//!     SecretString::from("correct horse battery staple"),
//! )?;
//! let scope = TokenScope::ProjectId(ProjectId::new("0123456789abcdef0123456789abcdef")?);
//! let body = token_request_body(&credentials, &scope)?;
//! assert!(body.starts_with(br#"{"auth":{"identity":{"methods":["password"]"#));
//!
//! // What IAM answers, as a transport hands it over.
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-subject-token", http::HeaderValue::from_static("MIIexample"));
//! let answer = br#"{"token":{"expires_at":"2025-01-02T00:00:00.000000Z"}}"#;
//! let token = decode_token_response(http::StatusCode::CREATED, &headers, answer)?;
//!
//! let now = Timestamp::parse("2025-01-01T23:50:00Z")?;
//! assert!(!token.needs_refresh(now, reimage_auth::iam::DEFAULT_REFRESH_MARGIN));
//! assert!(token.header_value().is_sensitive());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use reimage_core::error::{DecodeError, Provider, ResponseError};
use reimage_core::{ProjectId, Timestamp, ValidationError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::decode::{huawei_error, json_problem, request_id};

/// The path of the token call, under the IAM endpoint.
pub const TOKENS_PATH: &str = "/v3/auth/tokens";

/// The operation name used in errors about the token call.
pub const CREATE_TOKEN: &str = "iam.create_token";

/// The answer header that carries a new token.
pub const X_SUBJECT_TOKEN: &str = "x-subject-token";

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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

#[derive(Serialize)]
struct AuthRequest<'a> {
    auth: Auth<'a>,
}

#[derive(Serialize)]
struct Auth<'a> {
    identity: Identity<'a>,
    scope: Scope<'a>,
}

#[derive(Serialize)]
struct Identity<'a> {
    methods: [&'static str; 1],
    password: PasswordMethod<'a>,
}

#[derive(Serialize)]
struct PasswordMethod<'a> {
    user: User<'a>,
}

#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    password: &'a str,
    domain: Named<'a>,
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Scope<'a> {
    project: ProjectRef<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ProjectRef<'a> {
    Id { id: &'a str },
    Name { name: &'a str },
}

/// The JSON body of `POST /v3/auth/tokens` for password authentication, scoped to a project:
///
/// `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name","password",
/// "domain":{"name"}}}},"scope":{"project":{"id"}}}}` (or `"project":{"name"}`).
///
/// This is the one place where the password is exposed. Serialising these plain strings does not
/// fail in practice; the `Result` only passes on what `serde_json` reports, which never quotes the
/// password.
pub fn token_request_body(
    credentials: &PasswordCredentials,
    scope: &TokenScope,
) -> Result<Bytes, serde_json::Error> {
    let project = match scope {
        TokenScope::ProjectId(id) => ProjectRef::Id { id: id.as_str() },
        TokenScope::ProjectName(name) => ProjectRef::Name {
            name: name.as_str(),
        },
    };
    let request = AuthRequest {
        auth: Auth {
            identity: Identity {
                methods: ["password"],
                password: PasswordMethod {
                    user: User {
                        name: &credentials.user_name,
                        password: credentials.password.expose_secret(),
                        domain: Named {
                            name: &credentials.domain_name,
                        },
                    },
                },
            },
            scope: Scope { project },
        },
    };
    // Sized for the worst case (JSON writes a control character as six bytes), so that the
    // buffer holding the password is never reallocated, which would leave a copy behind.
    let capacity = 160
        + 6 * (credentials.user_name.len()
            + credentials.domain_name.len()
            + credentials.password.expose_secret().len()
            + 64);
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, &request)?;
    Ok(Bytes::from(out))
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

#[derive(Deserialize)]
struct TokenAnswer {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    expires_at: String,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    project: Option<TokenProject>,
}

#[derive(Deserialize)]
struct TokenProject {
    #[serde(default)]
    id: Option<String>,
}

/// Reads IAM's answer to `POST /v3/auth/tokens`.
///
/// A 2xx answer (IAM sends 201) gives the [`Token`] from the `X-Subject-Token` header and
/// `token.expires_at` (and `token.issued_at`, if present) from the body; other fields are ignored.
/// Any other status is what IAM said, as [`ResponseError::Provider`]. A success without the header
/// or with an unreadable body is a [`ResponseError::Decode`], whose text never quotes the token.
pub fn decode_token_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Token, ResponseError> {
    if !status.is_success() {
        return Err(huawei_error(Provider::Iam, status.as_u16(), headers, body).into());
    }
    let fail = |problem: String| -> ResponseError {
        DecodeError::new(CREATE_TOKEN, Provider::Iam, status.as_u16(), problem)
            .with_request_id(request_id(headers))
            .into()
    };
    let mut values = headers.get_all(X_SUBJECT_TOKEN).iter();
    let header = match (values.next(), values.next()) {
        (Some(value), None) => value,
        (None, _) => {
            return Err(fail(
                "the X-Subject-Token header, which carries the token, is missing".to_owned(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                "the X-Subject-Token header appears more than once".to_owned(),
            ));
        }
    };
    let secret = match header.to_str() {
        Ok(text) => SecretString::from(text),
        Err(_) => {
            return Err(fail(format!(
                "the X-Subject-Token header is not visible ASCII ({} bytes)",
                header.len()
            )));
        }
    };
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|e| fail(json_problem(&e)))?;
    // The values are not quoted: a malformed answer could hold anything, the token included.
    let time = |field: &str, text: &str| {
        Timestamp::parse(text).map_err(|_| {
            fail(format!(
                "{field} is not a date and time ({} characters); expected RFC 3339, e.g. \
                 2025-01-02T00:00:00.000000Z",
                text.chars().count()
            ))
        })
    };
    let expires_at = time("token.expires_at", &answer.token.expires_at)?;
    let issued_at = match answer.token.issued_at.as_deref() {
        None | Some("") => None,
        Some(text) => Some(time("token.issued_at", text)?),
    };
    let token = Token::new(secret, expires_at)
        .map_err(|e| fail(format!("the X-Subject-Token header {}", e.problem())))?;
    // A project id that is not one is left out rather than failing a usable token.
    let project_id = answer
        .token
        .project
        .and_then(|p| p.id)
        .and_then(|id| ProjectId::new(id).ok());
    Ok(token.with_issued_at(issued_at).with_project_id(project_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PASSWORD: &str = "Sentinel-Pw-42";
    const TOKEN: &str = "MIIsentineltoken";

    fn credentials() -> PasswordCredentials {
        PasswordCredentials::new("alice", "example-domain", PASSWORD.into()).unwrap()
    }

    fn project_id() -> ProjectId {
        ProjectId::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn headers(token: Option<&str>, request_id: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(X_SUBJECT_TOKEN, HeaderValue::from_str(t).unwrap());
        }
        if let Some(id) = request_id {
            h.insert("x-request-id", HeaderValue::from_str(id).unwrap());
        }
        h
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn iam_body_by_project_id() {
        let body =
            token_request_body(&credentials(), &TokenScope::ProjectId(project_id())).unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alice","password":"Sentinel-Pw-42","domain":{"name":"example-domain"}}}},"scope":{"project":{"id":"0123456789abcdef0123456789abcdef"}}}}"#
        );
    }

    #[test]
    fn iam_body_by_project_name_escapes_json() {
        let c = PasswordCredentials::new("bob \"the\" user", "dom", "p\"w\\".into()).unwrap();
        let scope = TokenScope::ProjectName(ProjectName::new("eu-de_sub").unwrap());
        let body = token_request_body(&c, &scope).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value["auth"]["identity"]["password"]["user"]["name"],
            "bob \"the\" user"
        );
        assert_eq!(
            value["auth"]["identity"]["password"]["user"]["password"],
            "p\"w\\"
        );
        assert_eq!(
            value["auth"]["scope"]["project"],
            serde_json::json!({"name": "eu-de_sub"})
        );
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

    #[test]
    fn iam_decode_created() {
        let body = br#"{"token":{"expires_at":"2025-01-02T00:00:00.000000Z","issued_at":"2025-01-01T00:00:00.000000Z","methods":["password"],"catalog":[],"user":{"name":"alice"}}}"#;
        let token =
            decode_token_response(StatusCode::CREATED, &headers(Some(TOKEN), None), body).unwrap();
        assert_eq!(token.secret().expose_secret(), TOKEN);
        assert_eq!(token.expires_at(), at("2025-01-02T00:00:00Z"));
        assert_eq!(token.issued_at(), Some(at("2025-01-01T00:00:00Z")));
        assert_eq!(token.project_id(), None);
        let body = br#"{"token":{"expires_at":"2025-01-02T00:00:00Z","issued_at":null}}"#;
        let token =
            decode_token_response(StatusCode::OK, &headers(Some(TOKEN), None), body).unwrap();
        assert_eq!(token.issued_at(), None);
        // A token scoped by project name says which project id that is.
        let body = br#"{"token":{"expires_at":"2025-01-02T00:00:00Z","project":{"name":"eu-de","id":"0123456789abcdef0123456789abcdef"}}}"#;
        let token =
            decode_token_response(StatusCode::CREATED, &headers(Some(TOKEN), None), body).unwrap();
        assert_eq!(
            token.project_id().map(ProjectId::as_str),
            Some("0123456789abcdef0123456789abcdef")
        );
        let body =
            br#"{"token":{"expires_at":"2025-01-02T00:00:00Z","project":{"id":"not an id"}}}"#;
        let token =
            decode_token_response(StatusCode::CREATED, &headers(Some(TOKEN), None), body).unwrap();
        assert_eq!(token.project_id(), None);
    }

    #[test]
    fn iam_decode_errors_never_quote_the_token() {
        let good = br#"{"token":{"expires_at":"2025-01-02T00:00:00Z"}}"#.as_slice();
        let cases: &[(Option<&str>, &[u8], &str)] = &[
            (
                None,
                good,
                "the X-Subject-Token header, which carries the token, is missing",
            ),
            (
                Some(TOKEN),
                b"",
                "JSON that ends too early at line 1 column 0",
            ),
            (
                Some(TOKEN),
                br#"{"token":{}}"#,
                "missing field `expires_at`",
            ),
            (
                Some(TOKEN),
                br#"{"token":{"expires_at":"soon"}}"#,
                "token.expires_at",
            ),
            (
                Some(TOKEN),
                br#"{"token":{"expires_at":"MIIsentineltoken"}}"#,
                "token.expires_at",
            ),
            (Some(TOKEN), b"<html>", "invalid JSON"),
        ];
        for (token, body, expected) in cases {
            let err =
                decode_token_response(StatusCode::CREATED, &headers(*token, Some("req-1")), body)
                    .unwrap_err();
            let ResponseError::Decode(decode) = &err else {
                panic!("expected a decode error, got {err:?}");
            };
            assert_eq!(decode.operation, CREATE_TOKEN);
            assert_eq!(decode.provider, Provider::Iam);
            assert_eq!(decode.request_id.as_deref(), Some("req-1"));
            let text = err.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains(TOKEN), "{text}");
            assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
        }
        let mut twice = headers(Some(TOKEN), None);
        twice.append(X_SUBJECT_TOKEN, HeaderValue::from_static("other"));
        let err = decode_token_response(StatusCode::CREATED, &twice, good).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        let mut opaque = HeaderMap::new();
        opaque.insert(
            X_SUBJECT_TOKEN,
            HeaderValue::from_bytes(b"tok\xffen").unwrap(),
        );
        let err = decode_token_response(StatusCode::CREATED, &opaque, good).unwrap_err();
        assert!(
            err.to_string().contains("not visible ASCII (6 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn iam_decode_refusal() {
        let body = br#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#;
        let err = decode_token_response(
            StatusCode::UNAUTHORIZED,
            &headers(None, Some("req-9")),
            body,
        )
        .unwrap_err();
        let provider = err.provider_error().unwrap();
        assert_eq!(provider.provider, Provider::Iam);
        assert_eq!(provider.status, 401);
        assert_eq!(provider.code.as_deref(), Some("401"));
        assert_eq!(provider.message, "The username or password is wrong.");
        assert_eq!(provider.request_id.as_deref(), Some("req-9"));
        let gateway = br#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information","request_id":"gw-1"}"#;
        let err = decode_token_response(StatusCode::UNAUTHORIZED, &HeaderMap::new(), gateway)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "IAM answered 401 APIGW.0301: Incorrect IAM authentication information (request id gw-1)"
        );
    }

    proptest! {
        #[test]
        fn iam_decode_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            status in 100u16..600,
            token in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        ) {
            let mut h = HeaderMap::new();
            if let Some(Ok(value)) = token.as_deref().map(HeaderValue::from_bytes) {
                h.insert(X_SUBJECT_TOKEN, value);
            }
            if let Ok(status) = StatusCode::from_u16(status) {
                let _ = decode_token_response(status, &h, &body);
            }
        }

        #[test]
        fn iam_body_is_json_with_the_given_values(
            user in "[^\\p{Cc}]{1,64}",
            domain in "[^\\p{Cc}]{1,64}",
            password in "\\PC{1,40}",
        ) {
            let c = PasswordCredentials::new(user.clone(), domain.clone(), password.clone().into()).unwrap();
            let body = token_request_body(&c, &TokenScope::ProjectId(project_id())).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(&v["auth"]["identity"]["password"]["user"]["name"], &serde_json::Value::from(user));
            prop_assert_eq!(&v["auth"]["identity"]["password"]["user"]["domain"]["name"], &serde_json::Value::from(domain));
            prop_assert_eq!(&v["auth"]["identity"]["password"]["user"]["password"], &serde_json::Value::from(password));
        }
    }
}
