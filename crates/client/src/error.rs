//! What can go wrong, and which of five kinds it is.

use std::time::Duration;

use reimage_core::{Job, ValidationError};
use reimage_wire::{DecodeError, EncodeError, ProviderError};

/// An error of `reimage-client`. Its `Display` is one line that says what happened and, where
/// it matters, whether the operation took effect. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input was refused before anything was sent.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A request could not be built.
    #[error(transparent)]
    Encode(EncodeError),
    /// The transport could not be set up (a CA file, the trust store).
    #[error("{0}")]
    Setup(String),
    /// Plain HTTP to a host that is not loopback, without the opt-in.
    #[error(
        "refusing plain HTTP to {endpoint}: credentials would cross the network in clear; use \
         https://, or opt in to plain HTTP for a lab network"
    )]
    PlainHttp {
        /// The endpoint.
        endpoint: String,
    },
    /// No connection could be made; nothing was sent.
    #[error("{operation}: could not connect to {endpoint}: {problem} (nothing was sent)")]
    Connect {
        /// The operation.
        operation: &'static str,
        /// Where it was going.
        endpoint: String,
        /// Why.
        problem: String,
    },
    /// A safe request got no answer in time, after its retries.
    #[error("{operation}: no answer within {} (after retries)", crate::show_duration(*.after))]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// The request timeout.
        after: Duration,
    },
    /// A safe request's connection broke, after its retries.
    #[error("{operation}: {problem} (after retries)")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// What broke.
        problem: String,
    },
    /// A non-idempotent request was sent, and its answer was lost or unreadable. Callers turn
    /// this into a followed operation or [`Error::OutcomeUnknown`]; it is never retried.
    #[error(
        "{operation}: the request was sent but its answer was lost ({problem}); outcome unknown, \
         not retried"
    )]
    Ambiguous {
        /// The operation.
        operation: &'static str,
        /// What happened to the answer.
        problem: String,
    },
    /// The provider refused the request; its code, message and request id are kept.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The provider's answer could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The ECS job ended in `FAIL`.
    #[error("{}", job_failed(.job))]
    JobFailed {
        /// The job as last seen.
        job: Box<Job>,
    },
    /// A reinstall or change of OS did not complete: the server is not running its new system.
    #[error("{operation} of {target}: {problem}")]
    ReinstallFailed {
        /// The operation (`ecs.reinstallos`, `ecs.changeos`, `edis.reinstall`).
        operation: &'static str,
        /// The server or KVM, as `server ID` or `KVM ID`.
        target: String,
        /// What was seen.
        problem: String,
    },
    /// A wait passed its deadline.
    #[error("gave up waiting for {what} after {}: {last}; it may still finish, check again later", crate::show_duration(*.waited))]
    WaitTimeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// The last state seen.
        last: String,
    },
    /// A reinstall or change of OS may or may not have been applied, and there is no evidence
    /// either way. It was not sent again.
    #[error(
        "{operation} on {target}: outcome unknown, not retried: {problem}; {checked}. Check the \
         server before running the command again, or it may be wiped twice"
    )]
    OutcomeUnknown {
        /// The operation.
        operation: &'static str,
        /// The server or KVM.
        target: String,
        /// What happened to the answer.
        problem: String,
        /// What the check found.
        checked: String,
    },
}

fn job_failed(job: &Job) -> String {
    let mut text = format!("ECS job {} ended in FAIL", job.id);
    if let Some(kind) = &job.job_type {
        text.push_str(&format!(" ({kind})"));
    }
    if let Some(code) = &job.error_code {
        text.push_str(&format!(": {code}"));
    }
    if let Some(reason) = &job.fail_reason {
        text.push_str(&format!(": {reason}"));
    }
    text
}

/// The kind of an [`Error`], as the CLI's exit codes tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An input or setting is wrong; nothing was sent.
    Invalid,
    /// The credentials were refused or have expired.
    Auth,
    /// The operation failed (the provider refused it, or it ended in failure).
    Failed,
    /// A wait or a request ran out of time.
    Timeout,
    /// A destructive operation may or may not have run.
    OutcomeUnknown,
    /// The provider could not be reached (no connection, after the retries); nothing was sent.
    Unreachable,
}

impl Error {
    /// Which kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::Encode(_) | Self::Setup(_) | Self::PlainHttp { .. } => {
                ErrorKind::Invalid
            }
            Self::Provider(e) if is_auth_error(e) => ErrorKind::Auth,
            Self::Timeout { .. } | Self::WaitTimeout { .. } => ErrorKind::Timeout,
            Self::Ambiguous { .. } | Self::OutcomeUnknown { .. } => ErrorKind::OutcomeUnknown,
            Self::Connect { .. } => ErrorKind::Unreachable,
            _ => ErrorKind::Failed,
        }
    }

    /// The provider's error, if the provider refused.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Provider(e) => Some(e),
            _ => None,
        }
    }
}

/// Whether the provider refused the credentials: 401, 403, an API gateway auth code
/// (`APIGW.03xx`), or a token scoped to another project (`Ecs.0023`).
pub fn is_auth_error(e: &ProviderError) -> bool {
    e.status == 401
        || e.status == 403
        || e.code
            .as_deref()
            .is_some_and(|c| c.starts_with("APIGW.03") || c == "Ecs.0023")
}

#[cfg(test)]
mod tests {
    use reimage_core::error::Provider;

    use super::*;

    #[test]
    fn kinds_follow_the_exit_code_table() {
        let auth = ProviderError::new(Provider::Ecs, 401, Some("APIGW.0307".into()), "expired");
        assert_eq!(Error::Provider(auth).kind(), ErrorKind::Auth);
        let scope = ProviderError::new(Provider::Ecs, 400, Some("Ecs.0023".into()), "scope");
        assert_eq!(Error::Provider(scope).kind(), ErrorKind::Auth);
        let busy = ProviderError::new(Provider::Ecs, 501, Some("Ecs.0603".into()), "busy");
        assert_eq!(Error::Provider(busy).kind(), ErrorKind::Failed);
        let unknown = Error::OutcomeUnknown {
            operation: "ecs.reinstallos",
            target: "server s".into(),
            problem: "reset".into(),
            checked: "the server shows no sign of it".into(),
        };
        assert_eq!(unknown.kind(), ErrorKind::OutcomeUnknown);
        let text = unknown.to_string();
        assert!(
            text.contains("not retried") && text.contains("wiped twice"),
            "{text}"
        );
    }
}
