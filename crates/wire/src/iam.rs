//! The IAM token that ECS calls can carry as `X-Auth-Token`: [`CreateToken`], password
//! authentication scoped to a project, with its request body ([`token_request_body`]) and the
//! reading of its answer ([`decode_token_response`]).
//!
//! IAM answers `201 Created` with the token in the `X-Subject-Token` header and its lifetime in
//! the body (`token.expires_at`, 24 hours after `token.issued_at`). The credentials and the
//! [`Token`] itself, which says when it must be refreshed, are `reimage-auth`'s.
//!
//! Nothing here does IO or reads a clock: [`token_request_body`] builds the bytes to send,
//! [`decode_token_response`] reads the answer, and [`Token::needs_refresh`] is told the time.
//!
//! ```
//! use reimage_auth::iam::{DEFAULT_REFRESH_MARGIN, PasswordCredentials, TokenScope};
//! use reimage_core::{ProjectId, Timestamp};
//! use reimage_wire::iam::{CreateToken, decode_token_response, token_request_body};
//! use reimage_wire::{Endpoint, Operation};
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
//! let op = CreateToken::new(credentials, scope);
//! let request = op.to_request(&Endpoint::parse("https://iam.eu-de.otc.t-systems.com")?)?;
//! assert_eq!(request.uri(), "https://iam.eu-de.otc.t-systems.com/v3/auth/tokens");
//! assert_eq!(request.body(), &body);
//!
//! // What IAM answers, as a transport hands it over.
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-subject-token", http::HeaderValue::from_static("MIIexample"));
//! let answer = br#"{"token":{"expires_at":"2025-01-02T00:00:00.000000Z"}}"#;
//! let token = decode_token_response(http::StatusCode::CREATED, &headers, answer)?;
//!
//! let now = Timestamp::parse("2025-01-01T23:50:00Z")?;
//! assert!(!token.needs_refresh(now, DEFAULT_REFRESH_MARGIN));
//! assert!(token.header_value().is_sensitive());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use reimage_auth::Token;
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_core::{ProjectId, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::decode::{huawei_error, json_problem, request_id};
use crate::{
    AuthScheme, DecodeError, EncodeError, Endpoint, JSON_CONTENT_TYPE, Operation, Provider,
    ResponseError, build_request,
};

/// The path of the token call, under the IAM endpoint.
pub const TOKENS_PATH: &str = "/v3/auth/tokens";

/// The operation name used in errors about the token call.
pub const CREATE_TOKEN: &str = "iam.create_token";

/// The answer header that carries a new token.
pub const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// `POST {endpoint}/v3/auth/tokens`: a project-scoped token for an IAM user's password.
///
/// Idempotent: asking twice only issues two tokens, and the second is as good as the first.
/// `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct CreateToken {
    credentials: PasswordCredentials,
    scope: TokenScope,
}

impl CreateToken {
    /// A token request for `credentials`, scoped to `scope`.
    pub fn new(credentials: PasswordCredentials, scope: TokenScope) -> Self {
        Self { credentials, scope }
    }

    /// The credentials.
    pub fn credentials(&self) -> &PasswordCredentials {
        &self.credentials
    }

    /// The project scope.
    pub fn scope(&self) -> &TokenScope {
        &self.scope
    }
}

impl Operation for CreateToken {
    type Output = Token;

    const NAME: &'static str = CREATE_TOKEN;
    const AUTH: AuthScheme = AuthScheme::Credentials;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        encode(&self.credentials, &self.scope, endpoint)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let shown = PasswordCredentials::new(
            self.credentials.user_name(),
            self.credentials.domain_name(),
            crate::REDACTED.into(),
        )?;
        encode(&shown, &self.scope, endpoint)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<Token, ResponseError> {
        let (parts, body) = response.into_parts();
        decode_token_response(parts.status, &parts.headers, &body)
    }
}

/// The token request of `credentials` for `scope`.
fn encode(
    credentials: &PasswordCredentials,
    scope: &TokenScope,
    endpoint: &Endpoint,
) -> Result<Request<Bytes>, EncodeError> {
    let body = token_request_body(credentials, scope).map_err(|e| EncodeError::Build {
        operation: CreateToken::NAME,
        problem: format!("the token request body could not be written: {e}"),
    })?;
    build_request(
        CreateToken::NAME,
        Method::POST,
        endpoint.uri(CreateToken::NAME, TOKENS_PATH)?,
        Some(JSON_CONTENT_TYPE),
        body,
    )
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
                        name: credentials.user_name(),
                        password: credentials.password().expose_secret(),
                        domain: Named {
                            name: credentials.domain_name(),
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
        + 6 * (credentials.user_name().len()
            + credentials.domain_name().len()
            + credentials.password().expose_secret().len()
            + 64);
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, &request)?;
    Ok(Bytes::from(out))
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
    use http::HeaderValue;
    use proptest::prelude::*;
    use reimage_auth::iam::ProjectName;

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
