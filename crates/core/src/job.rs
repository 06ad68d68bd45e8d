//! ECS asynchronous jobs: what `reinstallos` and `changeos` start, and what the job query shows.

use std::fmt;

use crate::id::JobId;
use crate::timestamp::Timestamp;

/// The status of a job or sub-job.
///
/// A status this version does not know is kept as [`JobStatus::Unknown`], so a new status never
/// breaks decoding.
///
/// ```
/// use reimage_core::JobStatus;
///
/// assert_eq!(JobStatus::from_wire("SUCCESS"), JobStatus::Success);
/// assert_eq!(JobStatus::from_wire("PENDING_PAYMENT"), JobStatus::PendingPayment);
/// assert_eq!(JobStatus::from_wire("QUEUED"), JobStatus::Unknown("QUEUED".into()));
/// assert!(JobStatus::Fail.is_terminal());
/// assert!(!JobStatus::Running.is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `INIT`: the job is being initialised.
    Init,
    /// `RUNNING`: the job is running.
    Running,
    /// `SUCCESS`: the job is done.
    Success,
    /// `FAIL`: the job failed; see the fail reason and error code.
    Fail,
    /// `PENDING_PAYMENT`: a yearly/monthly server's job waits for its order to be paid (Huawei
    /// Cloud's job query page defines it; such a job is deleted after 14 days).
    PendingPayment,
    /// A status this version of reimage does not know, as the provider wrote it.
    Unknown(String),
}

impl JobStatus {
    /// The status as the provider writes it.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "INIT" => Self::Init,
            "RUNNING" => Self::Running,
            "SUCCESS" => Self::Success,
            "FAIL" => Self::Fail,
            "PENDING_PAYMENT" => Self::PendingPayment,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The status as the provider writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Init => "INIT",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Unknown(s) => s,
        }
    }

    /// Whether the job has ended, well or badly. An unknown status is not terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ECS job, as `GET /v1/{project_id}/jobs/{job_id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Job {
    /// `job_id`.
    pub id: JobId,
    /// `job_type`, such as `reinstallOS` or `changeOS`.
    pub job_type: Option<String>,
    /// `status`.
    pub status: JobStatus,
    /// `begin_time`.
    pub begin_time: Option<Timestamp>,
    /// `end_time`.
    pub end_time: Option<Timestamp>,
    /// `error_code`, on failure.
    pub error_code: Option<String>,
    /// `fail_reason`, on failure.
    pub fail_reason: Option<String>,
    /// `entities.server_id`: the server the job works on.
    pub server_id: Option<String>,
    /// `entities.sub_jobs_total`.
    pub sub_jobs_total: Option<u64>,
    /// `entities.sub_jobs`.
    pub sub_jobs: Vec<SubJob>,
}

impl Job {
    /// A job with only an id and a status; the rest is empty.
    pub fn new(id: JobId, status: JobStatus) -> Self {
        Self {
            id,
            job_type: None,
            status,
            begin_time: None,
            end_time: None,
            error_code: None,
            fail_reason: None,
            server_id: None,
            sub_jobs_total: None,
            sub_jobs: Vec::new(),
        }
    }

    /// How many sub-jobs have succeeded, out of how many (the total, or the sub-jobs listed).
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .sub_jobs
            .iter()
            .filter(|j| j.status == JobStatus::Success)
            .count();
        let total = self
            .sub_jobs_total
            .and_then(|t| usize::try_from(t).ok())
            .unwrap_or(self.sub_jobs.len())
            .max(self.sub_jobs.len());
        (done, total)
    }
}

/// A sub-job of an ECS job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubJob {
    /// `job_id`.
    pub id: Option<JobId>,
    /// `job_type`.
    pub job_type: Option<String>,
    /// `status`.
    pub status: JobStatus,
    /// `begin_time`.
    pub begin_time: Option<Timestamp>,
    /// `end_time`.
    pub end_time: Option<Timestamp>,
    /// `error_code`, on failure.
    pub error_code: Option<String>,
    /// `fail_reason`, on failure.
    pub fail_reason: Option<String>,
    /// `entities.server_id`.
    pub server_id: Option<String>,
    /// `entities.errorcode_message`: why the sub-job failed.
    pub errorcode_message: Option<String>,
}

impl SubJob {
    /// A sub-job with only a status; the rest is empty.
    pub fn new(status: JobStatus) -> Self {
        Self {
            id: None,
            job_type: None,
            status,
            begin_time: None,
            end_time: None,
            error_code: None,
            fail_reason: None,
            server_id: None,
            errorcode_message: None,
        }
    }
}
