//! The IAM token that ECS calls can carry as `X-Auth-Token`: [`CreateToken`], password
//! authentication scoped to a project.
//!
//! The body and the answer are `reimage-auth`'s ([`token_request_body`],
//! [`decode_token_response`]); this module only makes them an [`Operation`].
//!
//! ```
//! use reimage_auth::iam::{PasswordCredentials, TokenScope};
//! use reimage_core::ProjectId;
//! use reimage_wire::{Endpoint, Operation, iam::CreateToken};
//!
//! let op = CreateToken::new(
//!     PasswordCredentials::new("alice", "example-domain", "correct horse".into())?,
//!     TokenScope::ProjectId(ProjectId::new("0123456789abcdef0123456789abcdef")?),
//! );
//! let request = op.to_request(&Endpoint::parse("https://iam.eu-de.otc.t-systems.com")?)?;
//! assert_eq!(request.uri(), "https://iam.eu-de.otc.t-systems.com/v3/auth/tokens");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;
use http::{Method, Request, Response};
use reimage_auth::Token;
use reimage_auth::iam::{
    CREATE_TOKEN, PasswordCredentials, TOKENS_PATH, TokenScope, decode_token_response,
    token_request_body,
};

use crate::{
    AuthScheme, EncodeError, Endpoint, JSON_CONTENT_TYPE, Operation, ResponseError, build_request,
};

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
