//! reimage's wire layer: every EDIS and ECS operation as an [`http::Request<Bytes>`], and every
//! answer as a typed result or a typed error.
//!
//! **This crate does no IO.** An operation is a value that implements [`Operation`]: it encodes
//! itself against an [`Endpoint`] and decodes the [`http::Response<Bytes>`] that a transport (such
//! as `reimage-client`) brought back. The same definitions serve the client that encodes a request
//! and the emulator that decodes it.
//!
//! - [`edis`]: EDIS Global KVM: the auth session, images, reinstall, power and details. Bodies are
//!   form-urlencoded and carry the session (`signature`, `kvm_id`, `valid_until`).
//! - [`ecs`]: ECS: reinstallos, changeos, the job query, server details, batch stop and start.
//!   Bodies are JSON; auth headers are added afterwards by the client (token or AK/SK signing).
//! - [`iam`]: the IAM token that ECS calls can carry as `X-Auth-Token`: the `/v3/auth/tokens`
//!   request body and the reading of IAM's answer into a [`Token`](reimage_auth::Token).
//! - [`decode`]: the providers' error bodies, in every documented form, the request id, and JSON
//!   failures described without quoting the body.
//!
//! **This crate owns all encoding**: every request body, every answer and every error body is
//! written or read here. `reimage-auth` holds only what they carry or become (credentials, the
//! EDIS session and its freshness, the token) and the pure AK/SK signer.
//!
//! Errors keep what happened apart: [`EncodeError`] is what the caller got wrong before anything
//! was sent, and [`ResponseError`] is what the provider said ([`ProviderError`], with its code,
//! message and request id) or an answer that could not be read ([`DecodeError`]).

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};

use reimage_core::ValidationError;
pub use reimage_core::error::{DecodeError, Provider, ProviderError, ResponseError};

pub mod decode;
pub mod ecs;
pub mod edis;
pub mod iam;

/// The `Content-Type` of every JSON body reimage sends, as the official SDKs send it.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// The `Content-Type` of every EDIS body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Which credentials an operation needs, and where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// None: the operation carries the user's credentials itself (the EDIS session and IAM token
    /// calls).
    Credentials,
    /// The EDIS session, carried in the form body (`signature`, `kvm_id`, `valid_until`). The
    /// operation holds it; it was checked fresh when the operation was built.
    EdisSession,
    /// An ECS project call: the client adds `X-Auth-Token`, or signs with AK/SK, after encoding.
    EcsProject,
}

/// What [`Operation::to_redacted_request`] writes where a secret was.
pub const REDACTED: &str = "[REDACTED]";

/// One call to a provider: how to encode it and how to decode its answer.
///
/// Implementations are plain values; encoding and decoding are pure functions of them.
///
/// ```
/// use reimage_core::{JobId, ProjectId};
/// use reimage_wire::{Endpoint, Operation, ecs::ShowJob};
///
/// let op = ShowJob::new(
///     ProjectId::new("0123456789abcdef0123456789abcdef")?,
///     JobId::new("ff80808288d41e1b018990260955686a")?,
/// );
/// let endpoint = Endpoint::parse("https://ecs.example.com")?;
/// let request = op.to_request(&endpoint)?;
/// assert_eq!(request.method(), http::Method::GET);
/// assert_eq!(
///     request.uri(),
///     "https://ecs.example.com/v1/0123456789abcdef0123456789abcdef/jobs/ff80808288d41e1b018990260955686a"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Operation {
    /// What a successful answer becomes.
    type Output;

    /// A stable name for logs and errors, such as `ecs.reinstallos`.
    const NAME: &'static str;

    /// The credentials the operation needs.
    const AUTH: AuthScheme;

    /// Whether sending it twice is harmless, so that a transport may retry it after an ambiguous
    /// failure. A reinstall is not: it is never re-sent blindly.
    const IDEMPOTENT: bool;

    /// Encodes the request against `endpoint`.
    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError>;

    /// Encodes the same request with every secret of its body (a password, an EDIS session's
    /// signature, and user data, which often holds passwords) written as [`REDACTED`], for a dry
    /// run or a log to show. Everything else is
    /// byte for byte what [`to_request`](Self::to_request) gives. It is a required method, so
    /// that an operation cannot forget its secrets: one without any returns `to_request`.
    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError>;

    /// Decodes the answer: a typed result, or what the provider said, or why it was unreadable.
    fn decode_response(&self, response: Response<Bytes>) -> Result<Self::Output, ResponseError>;
}

/// What was wrong before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value the caller gave is not acceptable (user data over the limit, say).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The request could not be built from the endpoint and the path.
    #[error("could not build the request for {operation}: {problem}")]
    Build {
        /// The operation being encoded.
        operation: &'static str,
        /// What went wrong.
        problem: String,
    },
}

/// Where requests go: a scheme, a host (with an optional port) and an optional path prefix.
///
/// ```
/// use reimage_wire::Endpoint;
///
/// let e = Endpoint::parse("https://ecs.eu-de.otc.t-systems.com/")?;
/// assert_eq!(e.to_string(), "https://ecs.eu-de.otc.t-systems.com");
/// assert!(Endpoint::parse("ecs.eu-de.otc.t-systems.com").is_err());
/// assert!(Endpoint::parse("ftp://example.com").is_err());
/// let err = Endpoint::parse("https://user:hunter2@example.com").unwrap_err();
/// assert!(!err.to_string().contains("hunter2"), "{err}");
/// let err = Endpoint::parse("https://example.com/?token=hunter2").unwrap_err();
/// assert!(!err.to_string().contains("hunter2"), "{err}");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    prefix: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`. A query, a fragment or user info is refused.
    pub fn parse(url: &str) -> Result<Self, ValidationError> {
        // A URL may carry a password (`https://user:pass@host`) or a token in its query: never
        // show those parts.
        let without_query = match url.split_once(['?', '#']) {
            Some((before, _)) => format!("{before}?…"),
            None => url.to_owned(),
        };
        let shown = match without_query.split_once("://") {
            Some((scheme, rest)) if rest.contains('@') => {
                format!(
                    "{scheme}://…@{}",
                    rest.rsplit_once('@').map_or("", |(_, host)| host)
                )
            }
            _ => without_query.clone(),
        };
        let bad = |problem: &str| {
            ValidationError::new(
                "endpoint",
                format!("{shown:?} {problem}"),
                "expected an http(s) URL such as https://ecs.eu-de.otc.t-systems.com",
            )
        };
        let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("has no scheme"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad("is neither http nor https"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("has user info, which reimage never sends"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(bad("has a query or fragment"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            scheme,
            authority,
            prefix,
        })
    }

    /// An endpoint at `host` (`12345.edisglobal.com`, `127.0.0.1:8080`) with the given scheme.
    pub fn from_host(https: bool, host: &str) -> Result<Self, ValidationError> {
        let scheme = if https { "https" } else { "http" };
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err(ValidationError::new(
                "api_host",
                format!("{host:?} is not a host name"),
                "expected a host such as 12345.edisglobal.com, as the auth session returned it",
            ));
        }
        Self::parse(&format!("{scheme}://{host}"))
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.scheme == http::uri::Scheme::HTTPS
    }

    /// The host and port, as the `Host` header carries them.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The full URI of `path_and_query` (which starts with `/`) under this endpoint.
    pub fn uri(&self, operation: &'static str, path_and_query: &str) -> Result<Uri, EncodeError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path_and_query))
            .build()
            .map_err(|e| EncodeError::Build {
                operation,
                problem: e.to_string(),
            })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

pub use decode::request_id;

/// Builds a request with `body` and its content type; used by every encoder.
pub(crate) fn build_request(
    operation: &'static str,
    method: http::Method,
    uri: Uri,
    content_type: Option<&'static str>,
    body: Bytes,
) -> Result<Request<Bytes>, EncodeError> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    builder.body(body).map_err(|e| EncodeError::Build {
        operation,
        problem: e.to_string(),
    })
}
