//! `reimage-client`: a thin async client for EDIS Global KVM and ECS on hyper and rustls.
//!
//! It sends the operations of [`reimage_wire`] and makes them safe to use against a real
//! provider:
//!
//! - **Transport** ([`Transport`]): pooled HTTP/1.1 and HTTP/2, TLS by rustls with the ring
//!   provider (compiled-in Mozilla roots, the platform's store, or a private CA file), HTTPS by
//!   default and plain HTTP to loopback only unless opted in, `HTTPS_PROXY` and `NO_PROXY`
//!   honoured, connect and request timeouts, and a cap on the size of an answer.
//! - **Retries only where safe**: GETs and auth calls retry on connection failures, 429 and
//!   502/503/504 with jittered backoff and `Retry-After`. A reinstall or change of OS is never
//!   re-sent blindly: after an ambiguous failure the client looks for evidence in the server's
//!   state and either follows the operation or says [`Error::OutcomeUnknown`].
//! - **Sessions and tokens**: [`EdisClient`] keeps one EDIS session per KVM and renews it
//!   before `valid_until`; [`EcsClient`] caches an IAM token and refreshes it before it expires,
//!   or signs every request with AK/SK.
//! - **Waits**: [`EcsClient::wait_job`] and [`EdisClient::wait_reinstalled`] poll with a
//!   growing interval and a deadline, and report [`ProgressEvent`]s a UI can render.
//! - **After the job** ([`after`]): the stages shared by the command line and the fleet: the
//!   host keys on an ECS server's console, the keys its SSH server presents (`ssh-keyscan`),
//!   cloud-init's final message.
//! - **Tracing**: one `http` span per call with the operation, method, URL (never a query),
//!   status, the provider's request id and the duration. Secrets never reach a log.
//!
//! Everything is tested against `reimage-emulator` as a real HTTP server, and TLS against a local
//! TLS listener with a test CA.

use std::fmt;
use std::time::Duration;

use reimage_core::{JobId, JobStatus, KvmId, ServerId};

/// `reimage-auth`, re-exported: the credentials the clients take ([`auth::AkSk`],
/// [`auth::EdisCredentials`], [`auth::iam::PasswordCredentials`]), so a program that uses the
/// client needs no dependency of its own to build them.
pub use reimage_auth as auth;
/// `reimage-wire`, re-exported: the endpoints and answer models the clients take and return
/// ([`wire::Endpoint`], [`wire::ecs::ServerDetails`], [`wire::edis::PowerState`]).
pub use reimage_wire as wire;

pub mod after;
mod clock;
pub mod ecs;
pub mod edis;
mod error;
pub mod evidence;
mod poll;
pub mod retry;
pub mod transport;

pub use clock::{Clock, FixedClock, SystemClock};
pub use ecs::{EcsAuth, EcsClient, EcsOperation, Started};
pub use edis::{EdisClient, EdisStarted};
pub use error::{Error, ErrorKind, is_auth_error};
pub use evidence::Evidence;
pub use poll::{Step, poll_until};
pub use retry::{PollSchedule, RetryPolicy};
pub use transport::{
    DryRun, PlainHttp, Proxy, RequestAuth, Roots, ShownRequest, Transport, TransportConfig,
};

/// What a wait has seen, for a UI to render.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// An ECS job's state.
    Job {
        /// The job.
        job_id: JobId,
        /// Its status.
        status: JobStatus,
        /// Sub-jobs done.
        done: usize,
        /// Sub-jobs in all.
        total: usize,
    },
    /// An ECS server's state.
    Server {
        /// The server.
        server_id: ServerId,
        /// Its status (`REBUILD`, `ACTIVE`, …).
        status: Option<reimage_wire::ecs::ServerStatus>,
        /// Its task state (`rebuilding`, …), if any.
        task_state: Option<String>,
    },
    /// An EDIS KVM's power state.
    Power {
        /// The KVM.
        kvm_id: KvmId,
        /// Its power state, in words.
        state: String,
    },
    /// A poll failed for a passing reason; the wait goes on.
    Trouble {
        /// What went wrong.
        problem: String,
    },
}

/// A [`Progress`] and the time since the wait began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    /// Time since the wait began.
    pub elapsed: Duration,
    /// What was seen.
    pub progress: Progress,
}

impl ProgressEvent {
    /// An event at `elapsed`.
    pub fn new(elapsed: Duration, progress: Progress) -> Self {
        Self { elapsed, progress }
    }
}

impl fmt::Display for ProgressEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", show_duration(self.elapsed))?;
        match &self.progress {
            Progress::Job {
                job_id,
                status,
                done,
                total,
            } => {
                write!(f, "job {job_id}: {status}")?;
                if *total > 0 {
                    write!(f, " ({done}/{total} sub-jobs)")?;
                }
                Ok(())
            }
            Progress::Server {
                server_id,
                status,
                task_state,
            } => {
                write!(
                    f,
                    "server {server_id}: {}",
                    status.as_ref().map_or("?", |s| s.as_str())
                )?;
                if let Some(task) = task_state {
                    write!(f, " ({task})")?;
                }
                Ok(())
            }
            Progress::Power { kvm_id, state } => write!(f, "KVM {kvm_id}: {state}"),
            Progress::Trouble { problem } => write!(f, "still waiting: {problem}"),
        }
    }
}

/// A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Whether an error while polling is worth polling through: a timeout, a broken connection, a
/// throttle or gateway error, an unreadable answer.
pub(crate) fn passing(e: &Error) -> bool {
    match e {
        Error::Timeout { .. } | Error::Transport { .. } | Error::Connect { .. } => true,
        Error::Provider(p) => p.status == 429 || (p.status >= 500 && !is_auth_error(p)),
        Error::Decode(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(show_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(show_duration(Duration::from_millis(4200)), "4.2 s");
        assert_eq!(show_duration(Duration::from_secs(185)), "3 min 5 s");
    }

    #[test]
    fn progress_lines_name_what_they_watch() {
        let e = ProgressEvent::new(
            Duration::from_millis(1500),
            Progress::Job {
                job_id: JobId::new("ff80808288d41e1b018990260955686a").unwrap(),
                status: JobStatus::Running,
                done: 1,
                total: 2,
            },
        );
        assert_eq!(
            e.to_string(),
            "[1.5 s] job ff80808288d41e1b018990260955686a: RUNNING (1/2 sub-jobs)"
        );
    }
}
