//! The error of a value the user got wrong.

use std::borrow::Cow;

/// A value that was refused before anything was sent.
///
/// It names the field, says what is wrong with the value and how to fix it. For a secret field
/// it never shows the value.
///
/// ```
/// let err = reimage_core::KvmId::new("kvm-12").unwrap_err();
/// assert_eq!(err.field(), "kvm_id");
/// assert_eq!(
///     err.to_string(),
///     "kvm_id: \"kvm-12\" is not a KVM id; expected kvm_<digits>_<digits>, e.g. kvm_12345_67890"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {fix}")]
pub struct ValidationError {
    field: Cow<'static, str>,
    problem: String,
    fix: Cow<'static, str>,
}

impl ValidationError {
    /// A new error for `field`: `problem` says what is wrong, `fix` what to do instead.
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        problem: impl Into<String>,
        fix: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The field the value was given for, as the provider names it (`adminpass`, `kvm_id`, …).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with the value.
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// What to do instead.
    pub fn fix(&self) -> &str {
        &self.fix
    }
}

/// Shows a user-given, non-secret value in an error: quoted, escaped, and cut at 64 characters.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// The provider that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// EDIS Global KVM (session and API hosts).
    Edis,
    /// Elastic Cloud Server (Huawei Cloud, Open Telekom Cloud), including its API gateway.
    Ecs,
    /// Identity and Access Management, which issues ECS tokens.
    Iam,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Edis => "EDIS",
            Self::Ecs => "ECS",
            Self::Iam => "IAM",
        })
    }
}

/// What the provider said when it refused a request.
///
/// It keeps the HTTP status, the provider's code (`Ecs.0011`, `APIGW.0301`, an EDIS number), its
/// message and the request id, so a person can quote them to support.
///
/// ```
/// use reimage_core::error::{Provider, ProviderError};
///
/// let err = ProviderError::new(Provider::Ecs, 400, Some("Ecs.0011".into()), "Invalid password.")
///     .with_request_id(Some("req-42".into()));
/// assert_eq!(err.to_string(), "ECS answered 400 Ecs.0011: Invalid password. (request id req-42)");
///
/// // EDIS gives the status as its code; it is said once.
/// let edis = ProviderError::new(Provider::Edis, 401, Some("401".into()), "Unauthorized.");
/// assert_eq!(edis.to_string(), "EDIS answered 401: Unauthorized.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderError {
    /// Who answered.
    pub provider: Provider,
    /// The HTTP status.
    pub status: u16,
    /// The provider's error code, when it gave one.
    pub code: Option<String>,
    /// The provider's message (or, for a body that is not a known error form, a description).
    pub message: String,
    /// The request id, from the `X-Request-Id` header or the body.
    pub request_id: Option<String>,
}

impl ProviderError {
    /// A provider error without a request id.
    pub fn new(
        provider: Provider,
        status: u16,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            provider,
            status,
            code,
            message: message.into(),
            request_id: None,
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}", self.provider, self.status)?;
        // EDIS repeats the status as its code: say it once.
        if let Some(code) = self
            .code
            .as_ref()
            .filter(|c| **c != self.status.to_string())
        {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

/// An answer that claimed success but could not be read.
///
/// The problem never quotes the body: an answer may carry a session signature or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: the {provider} answer (HTTP {status}) could not be read: {problem}{}", request_id_suffix(.request_id))]
#[non_exhaustive]
pub struct DecodeError {
    /// The operation whose answer it was.
    pub operation: &'static str,
    /// Who answered.
    pub provider: Provider,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, without the body's content.
    pub problem: String,
    /// The request id, when the answer had one.
    pub request_id: Option<String>,
}

impl DecodeError {
    /// A new decode error.
    pub fn new(
        operation: &'static str,
        provider: Provider,
        status: u16,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            provider,
            status,
            problem: problem.into(),
            request_id: None,
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

fn request_id_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

/// Why an answer did not become a result: the provider refused, or the answer was unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The provider refused the request.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The answer could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl ResponseError {
    /// The provider's error, if that is what this is.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Provider(e) => Some(e),
            Self::Decode(_) => None,
        }
    }
}
