//! [`EcsClient`]: reinstall and change the OS of ECS servers, follow their jobs, read, stop and
//! start them, with an IAM token or AK/SK signing.
//!
//! A reinstall or change of OS is never sent twice blindly. Before sending, the client reads the
//! server (that is also what a person sees before confirming). If the answer is then lost, it
//! reads the server again and looks for evidence that the operation took effect (the rules of
//! [`evidence::ecs`]): status `REBUILD`, a `rebuild*` task state, a new
//! system disk, `updated`/`OS-SRV-USG:launched_at` later than before, or a running server now
//! powering off. With evidence it follows the server to the end (a new system disk or a later
//! launch, out of `REBUILD` with no task under way); without, it returns
//! [`Error::OutcomeUnknown`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;
use reimage_auth::aksk::AkSk;
use reimage_auth::iam::{DEFAULT_REFRESH_MARGIN, PasswordCredentials, Token, TokenScope};
use reimage_core::{
    EcsChangeOs, EcsReinstall, ImageId, Job, JobId, JobStatus, ProjectId, ServerId,
};
use reimage_wire::ecs::{
    BatchStart, BatchStop, ChangeOs, ChangeOsWithoutCloudInit, ConsoleLength, ImageDetails,
    ListServers, ReinstallOs, ReinstallOsWithoutCloudInit, ServerDetails, ServerStatus,
    ShowConsoleOutput, ShowImage, ShowJob, ShowServer, StopType, ims_endpoint,
};
use reimage_wire::iam::CreateToken;
use reimage_wire::{Endpoint, Operation, Provider};
use tokio::sync::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::evidence::{self, Destructive, Evidence, Sent, later, safe_send};
use crate::poll::{Step, poll_until};
use crate::retry::PollSchedule;
use crate::transport::{DryRun, RequestAuth, Transport};
use crate::{Error, Progress, ProgressEvent};

/// ECS's answer to a job it does not have (any more): `Common.0011`.
const JOB_GONE: &str = "Common.0011";

/// How an [`EcsClient`] proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EcsAuth {
    /// An IAM token from user name and password, cached and refreshed before it expires. The
    /// token request goes to the IAM endpoint.
    Password {
        /// The user, domain and password.
        credentials: PasswordCredentials,
        /// The project the token is scoped to.
        scope: TokenScope,
        /// The IAM endpoint (its base, without `/v3`).
        iam_endpoint: Endpoint,
    },
    /// AK/SK signing (`SDK-HMAC-SHA256`), as the official SDKs do it.
    AkSk(AkSk),
}

/// A client for one ECS project.
///
/// ```no_run
/// use reimage_client::{EcsAuth, EcsClient, Transport, TransportConfig};
/// use reimage_core::{EcsReinstall, EcsOsSpec, ProjectId, ServerId};
/// use reimage_wire::Endpoint;
///
/// # async fn run(aksk: reimage_auth::AkSk) -> Result<(), Box<dyn std::error::Error>> {
/// let client = EcsClient::new(
///     Transport::new(TransportConfig::default())?,
///     Endpoint::parse("https://ecs.eu-de.otc.t-systems.com")?,
///     ProjectId::new("0123456789abcdef0123456789abcdef")?,
///     EcsAuth::AkSk(aksk),
/// )?;
/// let server = ServerId::new("11111111-2222-3333-4444-555555555555")?;
/// let spec = EcsOsSpec::builder().adminpass(reimage_core::AdminPassword::new("Sup3r-secret")?).build()?;
/// let started = client.reinstall(&server, EcsReinstall::new(spec)).await?;
/// let job = client.follow(&started, &Default::default(), &mut |event| println!("{event}")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EcsClient {
    transport: Transport,
    endpoint: Endpoint,
    ims_endpoint: Endpoint,
    project_id: ProjectId,
    auth: EcsAuth,
    token: Mutex<Option<Token>>,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
}

/// Which destructive ECS call it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EcsOperation {
    /// Reinstall the OS (`ecs.reinstallos`).
    Reinstall,
    /// Change the OS to another image (`ecs.changeos`).
    ChangeOs,
    /// Reinstall the OS of a server whose image has no cloud-init
    /// (`ecs.reinstallos_without_cloud_init`).
    ReinstallWithoutCloudInit,
    /// Change the OS to an image without cloud-init (`ecs.changeos_without_cloud_init`).
    ChangeOsWithoutCloudInit,
}

impl EcsOperation {
    /// The operation's name, as `reimage-wire` names it: `ecs.reinstallos`, `ecs.changeos`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reinstall => ReinstallOs::NAME,
            Self::ChangeOs => ChangeOs::NAME,
            Self::ReinstallWithoutCloudInit => ReinstallOsWithoutCloudInit::NAME,
            Self::ChangeOsWithoutCloudInit => ChangeOsWithoutCloudInit::NAME,
        }
    }
}

impl std::fmt::Display for EcsOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A reinstall or change of OS that was accepted, or whose effect was seen.
#[derive(Debug, Clone)]
pub struct Started {
    /// The operation.
    pub operation: EcsOperation,
    /// The server.
    pub server_id: ServerId,
    /// The job id, when the answer arrived.
    pub job_id: Option<JobId>,
    /// The server as it was just before the request.
    pub before: ServerDetails,
    /// When the answer was lost: the evidence that the operation took effect anyway.
    pub evidence: Option<Evidence>,
}

impl EcsClient {
    /// A client for `project_id` at `endpoint` (`https://ecs.{region}.myhuaweicloud.com`).
    pub fn new(
        transport: Transport,
        endpoint: Endpoint,
        project_id: ProjectId,
        auth: EcsAuth,
    ) -> Result<Self, Error> {
        transport.check_endpoint(&endpoint)?;
        if let EcsAuth::Password { iam_endpoint, .. } = &auth {
            transport.check_endpoint(iam_endpoint)?;
        }
        Ok(Self {
            transport,
            ims_endpoint: ims_endpoint(&endpoint),
            endpoint,
            project_id,
            auth,
            token: Mutex::new(None),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads the time from `clock` (for signatures and the token's freshness) instead of the
    /// system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts with `token` in the cache: one fetched before the client was made, such as a token
    /// scoped by project name that told the project id ([`fetch_token`](Self::fetch_token)).
    #[must_use]
    pub fn with_token(mut self, token: Token) -> Self {
        *self.token.get_mut() = Some(token);
        self
    }

    /// Gets a token without a client: the way to learn the project id of a project known by
    /// name ([`Token::project_id`]).
    pub async fn fetch_token(
        transport: &Transport,
        credentials: &PasswordCredentials,
        scope: &TokenScope,
        iam_endpoint: &Endpoint,
    ) -> Result<Token, Error> {
        transport.check_endpoint(iam_endpoint)?;
        let op = CreateToken::new(credentials.clone(), scope.clone());
        transport
            .execute(
                &op,
                iam_endpoint,
                Provider::Iam,
                &RequestAuth::None,
                &SystemClock,
            )
            .await
    }

    /// Refreshes the token this long before it expires (default 5 minutes).
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Sends the image service's queries to `endpoint` instead of the one beside the ECS
    /// endpoint ([`ims_endpoint`]).
    pub fn with_ims_endpoint(mut self, endpoint: Endpoint) -> Result<Self, Error> {
        self.transport.check_endpoint(&endpoint)?;
        self.ims_endpoint = endpoint;
        Ok(self)
    }

    /// The image service's endpoint (IMS), where [`image`](Self::image) asks.
    pub fn ims_endpoint(&self) -> &Endpoint {
        &self.ims_endpoint
    }

    /// The project.
    pub fn project_id(&self) -> &ProjectId {
        &self.project_id
    }

    /// The ECS endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// An IAM token: the cached one while it is fresh, else a new one. With AK/SK credentials
    /// there is no token, and this is an error.
    pub async fn token(&self) -> Result<Token, Error> {
        let EcsAuth::Password {
            credentials,
            scope,
            iam_endpoint,
        } = &self.auth
        else {
            return Err(Error::Invalid(reimage_core::ValidationError::new(
                "credentials",
                "are an AK/SK pair, which signs each request and has no token",
                "give an IAM user name, domain and password (OS_USERNAME, OS_USER_DOMAIN_NAME, \
                 OS_PASSWORD) to get a token",
            )));
        };
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && !token.needs_refresh(self.clock.now(), self.refresh_margin)
        {
            return Ok(token.clone());
        }
        let token = Self::fetch_token(&self.transport, credentials, scope, iam_endpoint).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Sends `op` to the ECS endpoint with the credentials; a token refused as expired is
    /// renewed once.
    async fn call<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        self.call_at(op, &self.endpoint).await
    }

    /// [`call`](Self::call) at `endpoint` (ECS's or the image service's).
    async fn call_at<O: Operation>(&self, op: &O, endpoint: &Endpoint) -> Result<O::Output, Error> {
        match &self.auth {
            EcsAuth::AkSk(keys) => {
                let auth = RequestAuth::AkSk {
                    keys,
                    project: &self.project_id,
                };
                self.transport
                    .execute(op, endpoint, Provider::Ecs, &auth, &*self.clock)
                    .await
            }
            EcsAuth::Password { .. } => {
                let mut renewed = false;
                loop {
                    let token = self.token().await?;
                    let header = token.header_value();
                    let auth = RequestAuth::Token(&header);
                    match self
                        .transport
                        .execute(op, endpoint, Provider::Ecs, &auth, &*self.clock)
                        .await
                    {
                        Err(Error::Provider(e)) if !renewed && e.status == 401 => {
                            tracing::info!(operation = O::NAME, "token refused; getting a new one");
                            self.forget_token().await;
                            renewed = true;
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// The request [`reinstall_from`](Self::reinstall_from) would send for `server_id` now, and
    /// the same with its secrets redacted: a dry run. It is made by the function that sends
    /// ([`Transport::prepare`]) with this client's clock, so it is the request that would be
    /// sent at that time. With an IAM password, the cached token is used; without one, nothing
    /// is fetched and the header holds a placeholder (shown redacted either way).
    pub async fn dry_run_reinstall(
        &self,
        server_id: &ServerId,
        input: EcsReinstall,
    ) -> Result<DryRun, Error> {
        let op = ReinstallOs::new(self.project_id.clone(), server_id.clone(), input);
        self.dry_run(&op).await
    }

    /// [`dry_run_reinstall`](Self::dry_run_reinstall) for a reinstall without cloud-init.
    pub async fn dry_run_reinstall_without_cloud_init(
        &self,
        server_id: &ServerId,
        input: EcsReinstall,
    ) -> Result<DryRun, Error> {
        let op =
            ReinstallOsWithoutCloudInit::new(self.project_id.clone(), server_id.clone(), input);
        self.dry_run(&op).await
    }

    /// [`dry_run_reinstall`](Self::dry_run_reinstall) for a change of OS to an image without
    /// cloud-init.
    pub async fn dry_run_change_os_without_cloud_init(
        &self,
        server_id: &ServerId,
        input: EcsChangeOs,
    ) -> Result<DryRun, Error> {
        let op = ChangeOsWithoutCloudInit::new(self.project_id.clone(), server_id.clone(), input);
        self.dry_run(&op).await
    }

    /// [`dry_run_reinstall`](Self::dry_run_reinstall) for a change of OS.
    pub async fn dry_run_change_os(
        &self,
        server_id: &ServerId,
        input: EcsChangeOs,
    ) -> Result<DryRun, Error> {
        let op = ChangeOs::new(self.project_id.clone(), server_id.clone(), input);
        self.dry_run(&op).await
    }

    async fn dry_run<O: Operation>(&self, op: &O) -> Result<DryRun, Error> {
        let now = self.clock.now();
        match &self.auth {
            EcsAuth::AkSk(keys) => {
                let auth = RequestAuth::AkSk {
                    keys,
                    project: &self.project_id,
                };
                self.transport.dry_run(op, &self.endpoint, &auth, now)
            }
            EcsAuth::Password { .. } => {
                let cached = self.token.lock().await.as_ref().map(Token::header_value);
                let header = cached.unwrap_or(HeaderValue::from_static("[token]"));
                let auth = RequestAuth::Token(&header);
                self.transport.dry_run(op, &self.endpoint, &auth, now)
            }
        }
    }

    /// The project's servers with their details; with `name`, those whose name matches it as
    /// ECS matches names (loosely: by part).
    pub async fn servers(&self, name: Option<&str>) -> Result<Vec<ServerDetails>, Error> {
        let mut op = ListServers::new(self.project_id.clone());
        if let Some(name) = name {
            op = op.with_name(name);
        }
        self.call(&op).await
    }

    /// The server that `id_or_name` names: its id, or else its exact name, looked up with
    /// [`servers`](Self::servers). No server of that name, or more than one, is an
    /// [`Error::Invalid`] that lists what was found.
    pub async fn find_server(&self, id_or_name: &str) -> Result<ServerDetails, Error> {
        if let Ok(id) = ServerId::new(id_or_name) {
            return self.server(&id).await;
        }
        let mut found: Vec<ServerDetails> = self
            .servers(Some(id_or_name))
            .await?
            .into_iter()
            .filter(|s| s.name.as_deref() == Some(id_or_name))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Invalid(reimage_core::ValidationError::new(
                "server",
                format!(
                    "{id_or_name:?} is neither a server id nor the name of a server of this project"
                ),
                "give the server's id or its exact name (reimage ecs servers lists them)",
            ))),
            _ => {
                let ids: Vec<&str> = found.iter().map(|s| s.id.as_str()).collect();
                Err(Error::Invalid(reimage_core::ValidationError::new(
                    "server",
                    format!(
                        "{id_or_name:?} is the name of {} servers: {}",
                        found.len(),
                        ids.join(", ")
                    ),
                    "give the id of the one you mean",
                )))
            }
        }
    }

    /// The server's details.
    pub async fn server(&self, server_id: &ServerId) -> Result<ServerDetails, Error> {
        self.call(&ShowServer::new(self.project_id.clone(), server_id.clone()))
            .await
    }

    /// The image, as the image service (IMS) shows it: whether it has cloud-init
    /// ([`ImageDetails::rebuild_api`]) decides which reinstall and change of OS it takes.
    pub async fn image(&self, image_id: &ImageId) -> Result<ImageDetails, Error> {
        self.call_at(&ShowImage::new(image_id.clone()), &self.ims_endpoint)
            .await
    }

    /// The server's console log (`GET …/console-output?length=N`, ECS's
    /// `ShowServerConsoleOutput`): what the guest wrote to its serial console, such as
    /// cloud-init's host key fingerprints and final message, which `reimage_hostkeys::console`
    /// reads. [`ConsoleLength::All`] asks for the whole log, within the transport's cap on an
    /// answer's size.
    pub async fn console_output(
        &self,
        server_id: &ServerId,
        length: ConsoleLength,
    ) -> Result<String, Error> {
        self.call(&ShowConsoleOutput::new(
            self.project_id.clone(),
            server_id.clone(),
            length,
        ))
        .await
    }

    /// The job's state.
    pub async fn job(&self, job_id: &JobId) -> Result<Job, Error> {
        self.call(&ShowJob::new(self.project_id.clone(), job_id.clone()))
            .await
    }

    /// Stops servers; returns the job. A lost answer is not re-sent (ECS would refuse a second
    /// stop while the first runs): it is an [`Error::Ambiguous`]. A gateway's 502/503/504 said the
    /// call was refused, and it is sent again, at most twice.
    pub async fn stop(&self, servers: Vec<ServerId>, stop_type: StopType) -> Result<JobId, Error> {
        let op = BatchStop::new(self.project_id.clone(), servers, stop_type);
        self.call_refused_again(&op).await
    }

    /// Starts servers; returns the job. Sent again like [`stop`](Self::stop).
    pub async fn start(&self, servers: Vec<ServerId>) -> Result<JobId, Error> {
        let op = BatchStart::new(self.project_id.clone(), servers);
        self.call_refused_again(&op).await
    }

    /// Sends `op`, and again (at most twice) after a gateway error, which refused it.
    async fn call_refused_again<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        let mut refused = 0u32;
        loop {
            match self.call(op).await {
                Err(Error::Provider(e)) if matches!(e.status, 502..=504) && refused < 2 => {
                    refused += 1;
                    tokio::time::sleep(crate::retry::jitter(Duration::from_secs(1))).await;
                }
                other => return other,
            }
        }
    }

    /// Reinstalls the server's OS, keeping its image.
    pub async fn reinstall(
        &self,
        server_id: &ServerId,
        input: EcsReinstall,
    ) -> Result<Started, Error> {
        let before = self.server(server_id).await?;
        self.reinstall_from(before, input).await
    }

    /// [`reinstall`](Self::reinstall), with the server already read (the caller showed it to a
    /// person). `before` must be fresh: it is the baseline for the evidence check.
    pub async fn reinstall_from(
        &self,
        before: ServerDetails,
        input: EcsReinstall,
    ) -> Result<Started, Error> {
        let op = ReinstallOs::new(self.project_id.clone(), before.id.clone(), input);
        self.destructive(EcsOperation::Reinstall, &op, before).await
    }

    /// [`reinstall_from`](Self::reinstall_from) for a server whose image has no cloud-init (nor
    /// Cloudbase-Init): `POST /v1/…/reinstallos`, with a password or a key pair and no user data.
    pub async fn reinstall_without_cloud_init_from(
        &self,
        before: ServerDetails,
        input: EcsReinstall,
    ) -> Result<Started, Error> {
        let op =
            ReinstallOsWithoutCloudInit::new(self.project_id.clone(), before.id.clone(), input);
        self.destructive(EcsOperation::ReinstallWithoutCloudInit, &op, before)
            .await
    }

    /// [`change_os_from`](Self::change_os_from) to an image without cloud-init (nor
    /// Cloudbase-Init): `POST /v1/…/changeos`, with a password or a key pair and no user data.
    pub async fn change_os_without_cloud_init_from(
        &self,
        before: ServerDetails,
        input: EcsChangeOs,
    ) -> Result<Started, Error> {
        let op = ChangeOsWithoutCloudInit::new(self.project_id.clone(), before.id.clone(), input);
        self.destructive(EcsOperation::ChangeOsWithoutCloudInit, &op, before)
            .await
    }

    /// Changes the server's OS to another image.
    pub async fn change_os(
        &self,
        server_id: &ServerId,
        input: EcsChangeOs,
    ) -> Result<Started, Error> {
        let before = self.server(server_id).await?;
        self.change_os_from(before, input).await
    }

    /// [`change_os`](Self::change_os), with the server already read.
    pub async fn change_os_from(
        &self,
        before: ServerDetails,
        input: EcsChangeOs,
    ) -> Result<Started, Error> {
        let op = ChangeOs::new(self.project_id.clone(), before.id.clone(), input);
        self.destructive(EcsOperation::ChangeOs, &op, before).await
    }

    /// Sends a reinstall or change of OS through [`evidence::safe_send`]: never twice unless the
    /// provider refused the first and the server shows no sign of it.
    async fn destructive<O: Operation<Output = JobId>>(
        &self,
        operation: EcsOperation,
        op: &O,
        before: ServerDetails,
    ) -> Result<Started, Error> {
        let target = format!("server {}", before.id);
        let call = Destructive {
            target: &target,
            resend_after_refusal: true,
            no_sign: "the server shows no sign of it (not REBUILD, no rebuild or power-off under \
                      way, the same system disk, `updated` and `launched_at` unchanged)",
        };
        let sent = safe_send(&call, || self.call(op), || self.look_for_evidence(&before)).await?;
        let (job_id, evidence) = match sent {
            Sent::Answered(job_id) => (Some(job_id), None),
            Sent::Seen(evidence) => (None, Some(evidence)),
        };
        Ok(Started {
            operation,
            server_id: before.id.clone(),
            job_id,
            before,
            evidence,
        })
    }

    /// Reads the server up to twice, a second apart, for signs that a rebuild began or ended
    /// after `before` was read.
    async fn look_for_evidence(&self, before: &ServerDetails) -> Result<Option<Evidence>, Error> {
        for round in 0..2 {
            if round > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let now = self.server(&before.id).await?;
            if let Some(evidence) = evidence::ecs(before, &now) {
                return Ok(Some(evidence));
            }
        }
        Ok(None)
    }

    /// Follows what [`reinstall`](Self::reinstall) or [`change_os`](Self::change_os) started:
    /// by its job when the id is known, else by the server's state.
    pub async fn follow(
        &self,
        started: &Started,
        schedule: &PollSchedule,
        on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    ) -> Result<ServerDetails, Error> {
        match &started.job_id {
            Some(job_id) => {
                match self
                    .wait_job(job_id, Some(&started.server_id), schedule, on_progress)
                    .await
                {
                    Ok(_) => self.server(&started.server_id).await,
                    // ECS deletes a finished job a day later: followed again after that (a fleet
                    // resumed the next day), the job is gone, and the server tells instead.
                    Err(Error::Provider(e)) if e.code.as_deref() == Some(JOB_GONE) => {
                        tracing::info!(
                            job_id = job_id.as_str(),
                            "the job is gone (ECS deletes finished jobs a day later); following \
                             the server"
                        );
                        self.wait_rebuilt_by(
                            started.operation.name(),
                            &started.before,
                            schedule,
                            on_progress,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                self.wait_rebuilt_by(
                    started.operation.name(),
                    &started.before,
                    schedule,
                    on_progress,
                )
                .await
            }
        }
    }

    /// The job, and the progress it shows.
    async fn job_progress(&self, job_id: &JobId) -> Result<(Job, Progress), Error> {
        let job = self.job(job_id).await?;
        let (done, total) = job.progress();
        let progress = Progress::Job {
            job_id: job.id.clone(),
            status: job.status.clone(),
            done,
            total,
        };
        Ok((job, progress))
    }

    /// Polls the job until `SUCCESS` or `FAIL`, with a growing interval and a deadline. A job
    /// in `PENDING_PAYMENT` (a yearly/monthly server's order, unpaid) is waited for with
    /// [`PollSchedule::payment_deadline`], and the deadline counts again from its payment.
    ///
    /// `SUCCESS` counts only once the server (`server_id`, else the job's own) is out of
    /// `REBUILD`: providers have been seen to report success early. A poll that fails for a
    /// passing reason (a timeout, a gateway error) is reported as progress and the wait goes on.
    pub async fn wait_job(
        &self,
        job_id: &JobId,
        server_id: Option<&ServerId>,
        schedule: &PollSchedule,
        on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    ) -> Result<Job, Error> {
        let mut origin = Instant::now();
        let what = format!("job {job_id}");
        let job = loop {
            let job = poll_until(schedule, origin, &what, on_progress, || async {
                let (job, progress) = self.job_progress(job_id).await?;
                let step = match job.status {
                    // An unpaid order is waited for below, with its own deadline.
                    JobStatus::Success | JobStatus::PendingPayment => Step::Done(job),
                    JobStatus::Fail => return Err(Error::JobFailed { job: Box::new(job) }),
                    _ => Step::Wait(format!("job {}", job.status)),
                };
                Ok((step, Some(progress)))
            })
            .await?;
            if job.status != JobStatus::PendingPayment {
                break job;
            }
            // A yearly/monthly server's order waits to be paid: that may take a person, so it
            // has a deadline of its own, and the work's deadline counts from the payment.
            let paying = PollSchedule {
                deadline: schedule.payment_deadline,
                ..schedule.clone()
            };
            let unpaid = format!(
                "job {job_id} to leave PENDING_PAYMENT (its order is not paid: pay it in the \
                 console, or change the OS with auto-pay)"
            );
            poll_until(&paying, Instant::now(), &unpaid, on_progress, || async {
                let (job, progress) = self.job_progress(job_id).await?;
                let step = if job.status == JobStatus::PendingPayment {
                    Step::Wait("job PENDING_PAYMENT (the order waits to be paid)".to_owned())
                } else {
                    Step::Done(())
                };
                Ok((step, Some(progress)))
            })
            .await?;
            origin = Instant::now();
        };
        let server = server_id
            .cloned()
            .or_else(|| job.server_id.as_deref().and_then(|s| ServerId::new(s).ok()));
        if let Some(server) = server {
            let rest = PollSchedule {
                deadline: schedule.deadline.saturating_sub(origin.elapsed()),
                ..schedule.clone()
            };
            let what = format!("server {server} to leave REBUILD after its job succeeded");
            poll_until(&rest, origin, &what, on_progress, || async {
                let now = self.server(&server).await?;
                let progress = Some(server_progress(&now));
                if now.is_rebuilding() {
                    Ok((Step::Wait(shown_state(&now)), progress))
                } else {
                    Ok((Step::Done(()), progress))
                }
            })
            .await?;
        }
        Ok(job)
    }

    /// Follows a rebuild without its job: waits until the server has left `REBUILD`, has no
    /// task under way, and shows a new system disk or a launch later than `before`. A later
    /// `updated` counts only where the system disk is not known (a stop moves `updated` too).
    pub async fn wait_rebuilt(
        &self,
        before: &ServerDetails,
        schedule: &PollSchedule,
        on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    ) -> Result<ServerDetails, Error> {
        self.wait_rebuilt_by("ecs rebuild", before, schedule, on_progress)
            .await
    }

    /// [`wait_rebuilt`](Self::wait_rebuilt), for `operation` (named in a failure).
    async fn wait_rebuilt_by(
        &self,
        operation: &'static str,
        before: &ServerDetails,
        schedule: &PollSchedule,
        on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    ) -> Result<ServerDetails, Error> {
        let what = format!("server {} to be rebuilt", before.id);
        poll_until(schedule, Instant::now(), &what, on_progress, || async {
            let server = self.server(&before.id).await?;
            let progress = Some(server_progress(&server));
            if server.status == Some(ServerStatus::Error) {
                return Err(Error::ReinstallFailed {
                    operation,
                    target: format!("server {}", before.id),
                    problem: "the server is in ERROR after the rebuild".to_owned(),
                });
            }
            let disk_known = before.system_disk.is_some() && server.system_disk.is_some();
            let moved = later(before.launched_at, server.launched_at)
                || crate::evidence::new_system_disk(before, &server)
                || (!disk_known && later(before.updated, server.updated));
            let busy = server.task_state.as_deref().is_some_and(|t| !t.is_empty());
            if !server.is_rebuilding() && !busy && moved {
                Ok((Step::Done(server), progress))
            } else {
                Ok((Step::Wait(shown_state(&server)), progress))
            }
        })
        .await
    }
}

fn shown_state(server: &ServerDetails) -> String {
    let status = server.status.as_ref().map_or("?", |s| s.as_str());
    match &server.task_state {
        Some(task) if !task.is_empty() => format!("server {status} ({task})"),
        _ => format!("server {status}"),
    }
}

fn server_progress(server: &ServerDetails) -> Progress {
    Progress::Server {
        server_id: server.id.clone(),
        status: server.status.clone(),
        task_state: server.task_state.clone().filter(|t| !t.is_empty()),
    }
}

/// The evidence, in `now` compared with `before`, that a rebuild began or ended in between
/// ([`evidence::ecs`], the rule the fleet's resume uses too).
pub fn rebuild_evidence(before: &ServerDetails, now: &ServerDetails) -> Option<Evidence> {
    evidence::ecs(before, now)
}
