//! Applying a plan (`reimage fleet apply`): every target, with bounded concurrency and one shared
//! rate limit, each step journaled before the provider call that follows it, so that a rerun
//! after a crash resumes and never re-images a server twice.
//!
//! [`run`] takes the plan and its [`Inputs`], the open [`Journal`] and what it held, the
//! [`Clients`] (built by the caller, per profile, on one shared transport), the [`Settings`], and
//! a function that is told every [`Event`]; it returns each target's [`Outcome`].
//!
//! A target moves through the journal as `sending` (written before the reinstall is sent, with
//! the server as it was) → `sent` (the provider's job id, or the evidence that it took effect) →
//! `done`, or `failed` / `unknown`. On a rerun:
//!
//! - `done` is skipped; `failed` and `unknown` are reported, not retried (`--retry-failed` tries
//!   the failed ones again, [`Settings::retry_failed`]; an unknown outcome is never re-sent);
//! - `done`, `sending` or `sent` with a [`Fingerprint`] other than the plan's now is
//!   [`Outcome::Changed`]: the plan was edited since, and nothing is sent (the caller should
//!   stop before the run, with [`fingerprint::changed`]);
//! - `pending` (put back by hand) is sent as if it had never been started;
//! - `sent` is followed to its end (by its job, or by the server's state);
//! - `sending` means the process died around the send: the provider is asked. ECS: a rebuild
//!   under way, or `updated`/`launched_at` later than the journaled baseline, is evidence, and
//!   the target is followed; no sign at all means the request never arrived, and it is sent.
//!   EDIS: a KVM that was on and is off is evidence; one that is on as before is sent while the
//!   send is younger than the shortest install (`--edis-min-install`), since no install could
//!   have begun and finished in that time, and is left `unknown` after; one that was off already
//!   cannot tell, and is left `unknown`.
//!
//! # After the job
//!
//! An ECS target whose plan says `wait = "ssh"` or `"cloud-init"` ([`Wait`]) runs the stages
//! of [`reimage_client::after`] once its job ended well: `job_done` is journaled first (with
//! the record's [`after`](Record::after) at stage `job`), then the host keys on the console are
//! checked against those the SSH server presents, the verified ones go to known_hosts through
//! the run's one [`KnownHostsWriter`] (`job_done` again, at stage `ssh`, when cloud-init's
//! verdict is still to come), and cloud-init's verdict is read; the target ends `done`, or
//! `cloud_init_errors` ([`Outcome::CloudInitErrors`]), or `failed` with its `after`. A rerun
//! resumes a `job_done` target at the stage it reached, and `--retry-failed` a target that
//! failed in a stage: nothing is sent again. Only reads happen after the job, so a stop ends
//! the stages at once; the `job_done` record stays for the rerun.
//!
//! The plan's checks ([`check`](crate::plan::check())) are the caller's to run first: `run`
//! sends what [`Inputs`] builds for each target, and a target whose inputs cannot be built
//! fails without anything sent.
//!
//! # Stopping early
//!
//! [`Stop::stop`] (on a clone of [`Settings::stop`]; `reimage fleet apply` calls it on Ctrl-C)
//! starts no more targets and ends each running one at its next safe point, as
//! [`Outcome::Interrupted`]: before its `sending` record (nothing sent), or once its `sent`
//! record is durable (the wait is dropped; a rerun follows it). Between the two, the request in
//! flight gets its answer and its record: a stop never leaves a send without its `sent` (or
//! `failed`, `unknown`) record. Reads (the server before the send, the evidence after a crash,
//! the polls of a job) are dropped at once; they change nothing.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reimage_client::ecs::rebuild_evidence;
use reimage_client::wire::ecs::{RebuildApi, ServerDetails, ServerStatus};
use reimage_client::wire::edis::PowerState;
use reimage_client::{EcsClient, EdisClient, EdisStarted, Error, PollSchedule, Started};
use reimage_client::{EcsOperation, Evidence};
use reimage_core::{JobId, ServerId, Timestamp};
use tokio::sync::{Mutex, Semaphore, watch};

use reimage_client::after::{self, StageError};
use reimage_hostkeys::verify;

use crate::fingerprint::{self, Fingerprint};
use crate::journal::{AfterJob, Baseline, Journal, Record, State, now_ms};
use crate::plan::{Action, Inputs, Plan, Target, Wait};
use crate::stages::{self, KnownHostsWriter};
use crate::text::one_line;

/// How [`run`] runs. [`Settings::default`] holds the defaults of `reimage fleet apply`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Targets worked on at once.
    pub concurrency: usize,
    /// Stop starting targets after the first failure.
    pub fail_fast: bool,
    /// Try targets whose last attempt failed again.
    pub retry_failed: bool,
    /// How each wait polls.
    pub schedule: PollSchedule,
    /// How long a `sending` record must be old before the provider is asked about it: a request
    /// still in flight when the last run died has arrived (or never will) by then.
    pub settle: Duration,
    /// The shortest time an EDIS install takes. A KVM found on, as it was before a send that the
    /// last run did not see answered, is sent again only while the send is younger than this;
    /// later, "never began" and "began and finished" look the same, and it is left unknown.
    pub edis_min_install: Duration,
    /// Stops the run early when [`Stop::stop`] is called on a clone of it (see the module
    /// documentation); a fresh one by default.
    pub stop: Stop,
}

/// Asks a [`run`] to stop early, from any thread (a Ctrl-C handler): clone it into
/// [`Settings::stop`], keep a clone, and call [`Stop::stop`]. Clones share one state.
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }

    /// Stops the run: no target starts after this, and the running ones end at their next safe
    /// point. Calling it again does nothing more.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once [`stop`](Self::stop) has been called (at once if it has).
    pub async fn stopped(&self) {
        let mut seen = self.0.subscribe();
        // The sender is held by `self`, so this cannot end with an error.
        let _ = seen.wait_for(|stopped| *stopped).await;
    }
}

impl Default for Settings {
    /// 8 targets at once, no fail-fast, failed targets not retried, polls from 2 s growing to
    /// 15 s with a deadline of 30 minutes per target, 5 s of settling, and 2 minutes as the
    /// shortest EDIS install.
    fn default() -> Self {
        let initial = Duration::from_secs(2);
        Self {
            concurrency: 8,
            fail_fast: false,
            retry_failed: false,
            schedule: PollSchedule {
                initial,
                max: initial.mul_f64(7.5),
                factor: 1.5,
                deadline: Duration::from_secs(1800),
                payment_deadline: Duration::from_secs(1800),
            },
            settle: Duration::from_secs(5),
            edis_min_install: Duration::from_secs(120),
            stop: Stop::new(),
        }
    }
}

/// How a target ended in this run. Each variant holds one line: the summary, or the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Re-imaged in this run (or followed to its end after a crash).
    Done(String),
    /// Re-imaged in this run, and the server runs, but cloud-init reported errors on its
    /// console (`wait = "cloud-init"`); the detail lists them.
    CloudInitErrors(String),
    /// Done in an earlier run.
    AlreadyDone(String),
    /// Failed in this run, or earlier.
    Failed(String),
    /// Sent, and neither its answer nor any evidence says whether it took effect.
    Unknown(String),
    /// Not started: `--fail-fast` stopped the run, or an earlier failure is not retried.
    Skipped(String),
    /// Not sent: the plan asks for something other than what the journal says was sent (see
    /// [`fingerprint::changed`]).
    Changed(String),
    /// The run was stopped ([`Stop`]) before this target ended: not started, not sent, or sent
    /// and not followed to its end (a rerun follows it).
    Interrupted(String),
}

impl Outcome {
    /// `done`, `cloud-init errors`, `done before`, `failed`, `unknown`, `skipped`, `changed` or
    /// `interrupted`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Done(_) => "done",
            Self::CloudInitErrors(_) => "cloud-init errors",
            Self::AlreadyDone(_) => "done before",
            Self::Failed(_) => "failed",
            Self::Unknown(_) => "unknown",
            Self::Skipped(_) => "skipped",
            Self::Changed(_) => "changed",
            Self::Interrupted(_) => "interrupted",
        }
    }

    /// The summary or the reason the variant holds.
    pub fn detail(&self) -> &str {
        match self {
            Self::Done(d)
            | Self::CloudInitErrors(d)
            | Self::AlreadyDone(d)
            | Self::Failed(d)
            | Self::Unknown(d)
            | Self::Skipped(d)
            | Self::Changed(d)
            | Self::Interrupted(d) => d,
        }
    }

    fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::Unknown(_) | Self::Changed(_))
    }
}

/// A boxed future that can move between threads, as [`ConnectEcs`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Builds the ECS client of a profile (`None`: the default one), on the caller's transport. The
/// error, one line, becomes the failure of each target of that profile.
pub type ConnectEcs = dyn Fn(Option<&str>) -> BoxFuture<Result<EcsClient, String>> + Send + Sync;

/// Builds the EDIS client of a profile (`None`: the default one), as [`ConnectEcs`] does.
pub type ConnectEdis = dyn Fn(Option<&str>) -> Result<EdisClient, String> + Send + Sync;

/// The clients a run uses, one per profile and provider, built on first use by the caller's
/// [`ConnectEcs`] and [`ConnectEdis`] and kept for the run. Build them all on one shared
/// [`Transport`](reimage_client::Transport), so that every worker shares one pool, one rate limit
/// and one `Retry-After` pause.
pub struct Clients {
    connect_ecs: Box<ConnectEcs>,
    connect_edis: Box<ConnectEdis>,
    ecs: Mutex<HashMap<Option<String>, Arc<EcsClient>>>,
    edis: Mutex<HashMap<Option<String>, Arc<EdisClient>>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl Clients {
    /// Clients that `connect_ecs` and `connect_edis` build, each at most once per profile.
    pub fn new(connect_ecs: Box<ConnectEcs>, connect_edis: Box<ConnectEdis>) -> Self {
        Self {
            connect_ecs,
            connect_edis,
            ecs: Mutex::new(HashMap::new()),
            edis: Mutex::new(HashMap::new()),
        }
    }

    /// The ECS client of `profile`, built on first use.
    pub(crate) async fn ecs(&self, profile: Option<&str>) -> Result<Arc<EcsClient>, String> {
        let mut map = self.ecs.lock().await;
        if let Some(client) = map.get(&profile.map(str::to_owned)) {
            return Ok(client.clone());
        }
        let client = Arc::new((self.connect_ecs)(profile).await?);
        map.insert(profile.map(str::to_owned), client.clone());
        Ok(client)
    }

    /// The EDIS client of `profile`, built on first use.
    pub(crate) async fn edis(&self, profile: Option<&str>) -> Result<Arc<EdisClient>, String> {
        let mut map = self.edis.lock().await;
        if let Some(client) = map.get(&profile.map(str::to_owned)) {
            return Ok(client.clone());
        }
        let client = Arc::new((self.connect_edis)(profile)?);
        map.insert(profile.map(str::to_owned), client.clone());
        Ok(client)
    }
}

/// What [`run`] tells the caller as it goes (the command line draws its progress lines from
/// them). Events of one target come in order: `Started`, any number of `Progress`, `Ended`;
/// those of different targets interleave.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A target started.
    Started {
        /// The target's key.
        key: &'a str,
        /// The state the journal had for it (`sending`, `sent`, `done`, `failed`, `unknown`;
        /// see [`State::word`]), or `None` for a target the journal has never seen.
        resumed: Option<&'a str>,
    },
    /// A target's progress: one line (`ecs.reinstallos sent`, a job's state), without the
    /// elapsed time.
    Progress {
        /// The target's key.
        key: &'a str,
        /// What happened.
        line: String,
    },
    /// A target ended.
    Ended {
        /// The target's key.
        key: &'a str,
        /// How it ended; [`run`] returns it too.
        outcome: &'a Outcome,
    },
}

/// The function [`run`] tells every [`Event`], from any of its tasks.
pub type OnEvent = dyn Fn(Event<'_>) + Send + Sync;

/// Runs every target of `plan` from what `recovered` (the journal's latest record per key, as
/// [`Journal::open`] returns it) says of it, at most [`Settings::concurrency`] at once; returns
/// each target's key and outcome, in the plan's order. Every step is journaled before the call
/// that follows it; the journal stays open for the caller to [`close`](Journal::close).
///
/// It needs a tokio runtime with timers, and spawns a task per running target.
pub async fn run(
    plan: Arc<Plan>,
    inputs: Arc<Inputs>,
    journal: Arc<Journal>,
    recovered: BTreeMap<String, Record>,
    clients: Arc<Clients>,
    settings: Settings,
    display: Arc<OnEvent>,
) -> Vec<(String, Outcome)> {
    let limit = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = settings.stop.clone();
    let recovered = Arc::new(recovered);
    let settings = Arc::new(settings);
    let known_hosts = Arc::new(KnownHostsWriter::new());
    let mut tasks = tokio::task::JoinSet::new();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.targets.len()];
    for index in 0..plan.targets.len() {
        // At most `concurrency` targets are alive: the loop waits for a permit before spawning,
        // so neither tasks nor queues grow with the plan.
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit,
            () = interrupt.stopped() => break,
        };
        let Ok(permit) = permit else {
            break;
        };
        // Collect what has finished, to keep the set small.
        while let Some(done) = tasks.try_join_next() {
            if let Ok((i, outcome)) = done {
                outcomes[i] = Some(outcome);
            }
        }
        if stop.load(Ordering::SeqCst) || interrupt.is_stopped() {
            drop(permit);
            break;
        }
        let ctx = Ctx {
            plan: plan.clone(),
            inputs: inputs.clone(),
            journal: journal.clone(),
            recovered: recovered.clone(),
            clients: clients.clone(),
            settings: settings.clone(),
            display: display.clone(),
            applied: std::sync::Mutex::new(None),
            known_hosts: known_hosts.clone(),
        };
        let stop = stop.clone();
        tasks.spawn(async move {
            let target = &ctx.plan.targets[index];
            let outcome = ctx.target(target).await;
            (ctx.display)(Event::Ended {
                key: &target.key,
                outcome: &outcome,
            });
            if outcome.is_failure() && ctx.settings.fail_fast {
                stop.store(true, Ordering::SeqCst);
            }
            drop(permit);
            (index, outcome)
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, outcome)) = done {
            outcomes[i] = Some(outcome);
        }
    }
    plan.targets
        .iter()
        .zip(outcomes)
        .map(|(t, o)| {
            let outcome = o.unwrap_or_else(|| {
                if interrupt.is_stopped() {
                    Outcome::Interrupted("not started: the run was interrupted".to_owned())
                } else {
                    Outcome::Skipped("not started: --fail-fast stopped the run".to_owned())
                }
            });
            (t.key.clone(), outcome)
        })
        .collect()
}

/// What each target's task shares.
struct Ctx {
    plan: Arc<Plan>,
    inputs: Arc<Inputs>,
    journal: Arc<Journal>,
    recovered: Arc<BTreeMap<String, Record>>,
    clients: Arc<Clients>,
    settings: Arc<Settings>,
    display: Arc<OnEvent>,
    /// The fingerprint of what was sent to this target, for its records: the plan's once this
    /// run sends, the journal's for a send of an earlier run; `None` while nothing is known.
    applied: std::sync::Mutex<Option<Fingerprint>>,
    /// The run's one writer of known_hosts files.
    known_hosts: Arc<KnownHostsWriter>,
}

impl Ctx {
    /// The fingerprint of what was sent (see [`Ctx::applied`]).
    fn applied(&self) -> Option<Fingerprint> {
        self.applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records that this run sends what the plan asks for now, before its `sending` record.
    fn sends(&self, t: &Target) {
        let planned = Fingerprint::of(t, &self.inputs).ok();
        *self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = planned;
    }

    /// `work`, unless the run is stopped first: then [`Ending::Interrupted`] with `why`, and
    /// `work` is dropped. Only for what may be dropped half-way: reads and waits.
    async fn unless_stopped<T>(
        &self,
        why: &str,
        work: impl Future<Output = Result<T, Ending>>,
    ) -> Result<T, Ending> {
        tokio::select! {
            result = work => result,
            () = self.settings.stop.stopped() => Err(Ending::Interrupted(why.to_owned())),
        }
    }

    /// Stopped before the `sending` record: nothing was sent.
    fn before_sending(&self) -> Result<(), Ending> {
        if self.settings.stop.is_stopped() {
            Err(Ending::Interrupted(
                "not sent: the run was interrupted".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    async fn record(&self, key: &str, state: State) -> Result<(), String> {
        self.record_after(key, state, None).await
    }

    /// Records `state` with what the stages after the job found.
    async fn record_after(
        &self,
        key: &str,
        state: State,
        after: Option<AfterJob>,
    ) -> Result<(), String> {
        self.journal
            .record(
                Record::new(key, now_ms(), state)
                    .with_fingerprint(self.applied())
                    .with_after(after),
            )
            .await
            .map_err(|e| format!("the journal could not be written, so nothing more was sent for this target: {e}"))
    }

    fn progress(&self, key: &str, line: String) {
        (self.display)(Event::Progress { key, line });
    }

    /// One target, from whatever the journal says, to its end.
    ///
    /// Each provider call and each rarer branch (a resumed target, the stages after the job) is
    /// boxed where it is awaited: a task's future is as large as its largest await point, and
    /// without the boxes every one of the `concurrency` tasks held some 10 KB whatever it was
    /// waiting for; with them it holds about 3.6 KB and the one call under way.
    async fn target(&self, t: &Target) -> Outcome {
        let record = self
            .recovered
            .get(&t.key)
            .filter(|r| !matches!(r.state, State::Pending { .. } | State::Forgotten { .. }));
        let prior = record.map(|r| (&r.state, r.at_ms));
        (self.display)(Event::Started {
            key: &t.key,
            resumed: prior.map(|(s, _)| s.word()),
        });
        if let Some(record) = record
            && let Ok(now) = Fingerprint::of(t, &self.inputs)
            && let Some(was) = fingerprint::changed_from(record, &now)
        {
            return Outcome::Changed(format!(
                "the plan changed since it was {}: {}; nothing was sent",
                record.state.word(),
                was.differences(&now).join("; ")
            ));
        }
        if let Some(record) = record
            && matches!(
                record.state,
                State::Sending { .. } | State::Sent { .. } | State::JobDone { .. }
            )
        {
            // Following a send of an earlier run: its records keep what that run sent.
            *self
                .applied
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = record.fingerprint.clone();
        }
        let after_job = record.and_then(|r| r.after.clone());
        let result = match prior {
            Some((State::Done { summary } | State::CloudInitErrors { summary }, _)) => {
                return Outcome::AlreadyDone(summary.clone());
            }
            Some((State::JobDone { summary }, _)) => {
                // The job ended in an earlier run: on from the stage it reached, nothing sent.
                return Box::pin(self.after_job(
                    t,
                    summary.clone(),
                    after_job.unwrap_or_else(|| AfterJob::at("job")),
                ))
                .await;
            }
            Some((State::Unknown { reason }, _)) => {
                return Outcome::Unknown(format!(
                    "{reason} (from an earlier run; check the server, then settle it with \
                     `reimage fleet resolve PLAN {} --done` or `--retry`)",
                    t.key
                ));
            }
            Some((State::Failed { reason }, _)) if !self.settings.retry_failed => {
                return Outcome::Skipped(format!(
                    "failed in an earlier run: {reason}; --retry-failed tries it again"
                ));
            }
            Some((State::Failed { .. }, _)) if after_job.is_some() => {
                // Its job ended in an earlier run, a stage after it failed: the stages again,
                // from the one it reached, and the server is not re-imaged.
                if let Some(r) = record {
                    *self
                        .applied
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = r.fingerprint.clone();
                }
                return Box::pin(self.after_job(
                    t,
                    "re-imaged in an earlier run".to_owned(),
                    after_job.unwrap_or_else(|| AfterJob::at("job")),
                ))
                .await;
            }
            Some((
                State::Sent {
                    operation: _,
                    job_id,
                    evidence,
                    baseline,
                },
                _,
            )) => Box::pin(self.follow(t, job_id.as_deref(), evidence.clone(), baseline)).await,
            Some((State::Sending { baseline, .. }, at_ms)) => {
                Box::pin(self.resume_sending(t, baseline, at_ms)).await
            }
            Some((State::Failed { .. } | State::Pending { .. } | State::Forgotten { .. }, _))
            | None => self.fresh(t).await,
        };
        if let Ok(summary) = &result
            && t.wait != Wait::Job
        {
            // The job ended well: journaled before the stages, so that a rerun resumes them.
            let after = AfterJob::at("job");
            let done = State::JobDone {
                summary: summary.clone(),
            };
            if let Err(e) = self.record_after(&t.key, done, Some(after.clone())).await {
                return Outcome::Failed(e);
            }
            return Box::pin(self.after_job(t, summary.clone(), after)).await;
        }
        let outcome = match result {
            Ok(summary) => Outcome::Done(summary),
            Err(Ending::Failed(reason)) => Outcome::Failed(reason),
            Err(Ending::Unknown(reason)) => Outcome::Unknown(reason),
            Err(Ending::Interrupted(reason)) => Outcome::Interrupted(reason),
        };
        let state = match &outcome {
            Outcome::Done(summary) => Some(State::Done {
                summary: summary.clone(),
            }),
            Outcome::Failed(reason) => Some(State::Failed {
                reason: reason.clone(),
            }),
            Outcome::Unknown(reason) => Some(State::Unknown {
                reason: reason.clone(),
            }),
            _ => None,
        };
        if let Some(state) = state
            && let Err(e) = self.record(&t.key, state).await
        {
            return Outcome::Failed(e);
        }
        outcome
    }

    /// The stages after an ECS target's job (`wait`), from the one `after` reached, each
    /// journaled as it passes; then the target's final record.
    async fn after_job(&self, t: &Target, summary: String, after: AfterJob) -> Outcome {
        let mut after = after;
        let result = self.stages(t, &summary, &mut after).await;
        let (outcome, state) = match result {
            Ok(None) => {
                let line = with_keys(&summary, &after);
                (
                    Outcome::Done(line.clone()),
                    Some(State::Done { summary: line }),
                )
            }
            Ok(Some(errors)) => {
                let line = format!(
                    "{summary}; re-imaged, but cloud-init reported errors: {}",
                    errors.join("; ")
                );
                (
                    Outcome::CloudInitErrors(line.clone()),
                    Some(State::CloudInitErrors { summary: line }),
                )
            }
            Err(Ending::Failed(reason)) => (
                Outcome::Failed(reason.clone()),
                Some(State::Failed { reason }),
            ),
            Err(Ending::Unknown(reason)) => (
                Outcome::Unknown(reason.clone()),
                Some(State::Unknown { reason }),
            ),
            // Interrupted: the `job_done` record stays, and the rerun resumes the stages.
            Err(Ending::Interrupted(reason)) => (Outcome::Interrupted(reason), None),
        };
        if let Some(state) = state
            && let Err(e) = self.record_after(&t.key, state, Some(after)).await
        {
            return Outcome::Failed(e);
        }
        outcome
    }

    /// Runs the stages `t.wait` asks for from where `after` is; `Ok(Some(errors))` when
    /// cloud-init reported errors. `after` is updated (and journaled) as each stage passes.
    async fn stages(
        &self,
        t: &Target,
        summary: &str,
        after: &mut AfterJob,
    ) -> Result<Option<Vec<String>>, Ending> {
        const STOPPED: &str = "re-imaged, the stages after the job not finished: the run was \
                               interrupted; the rerun resumes them";
        let server = match &t.action {
            Action::EcsReinstall { server, .. } | Action::EcsChangeOs { server, .. } => server,
            Action::EdisReinstall { .. } => return Ok(None),
        };
        // The plan as it is now decides: a target resumed after its job (or after a stage
        // failed) whose plan has since been set to `wait = "job"` has nothing more to wait for,
        // as the failure messages' own fix says.
        if t.wait == crate::plan::Wait::Job {
            return Ok(None);
        }
        let client = self
            .clients
            .ecs(t.profile.as_deref())
            .await
            .map_err(Ending::Failed)?;
        let schedule = &self.settings.schedule;
        let key = &t.key;
        let mut boot = None;
        if after.reached == "job" {
            let path = t.known_hosts.path().map_err(Ending::Failed)?;
            let details = self
                .unless_stopped(STOPPED, async {
                    client.server(server).await.map_err(ending)
                })
                .await?;
            let address = after::public_address(&details).ok_or_else(|| {
                Ending::Failed(
                    "the job ended, but the server has no address to reach SSH on; attach an \
                     elastic IP, or set wait = \"job\""
                        .to_owned(),
                )
            })?;
            let port = t.ssh_port;
            self.progress(key, "stage ssh: the host keys on the console".to_owned());
            let console = self
                .unless_stopped(STOPPED, async {
                    after::console_keys(&client, server, schedule, &mut |e| {
                        self.progress(key, format!("stage ssh: {}", e.progress_line()));
                    })
                    .await
                    .map_err(stage_ending)
                })
                .await?;
            self.progress(
                key,
                format!("stage ssh: the key {address} port {port} presents"),
            );
            let what = format!("an SSH host key on {address} port {port}");
            let presented = self
                .unless_stopped(STOPPED, async {
                    after::presented_keys(
                        &address,
                        port,
                        schedule,
                        std::time::Instant::now(),
                        &what,
                        &mut |e| self.progress(key, format!("stage ssh: {}", e.progress_line())),
                        &|_| Ok(()),
                    )
                    .await
                    .map_err(stage_ending)
                })
                .await?;
            let verified = verify::against_console(&presented, &console).map_err(|refusal| {
                Ending::Failed(format!(
                    "host key of {address} port {port} refused: {}; known_hosts was not changed; \
                     do not connect before comparing the console with ssh-keyscan",
                    one_line(&refusal.to_string())
                ))
            })?;
            if let Some(path) = &path {
                let updated = self
                    .known_hosts
                    .update(path, &address, port, &verified.keys)
                    .await
                    .map_err(|e| Ending::Failed(format!("known_hosts: {e}")))?;
                self.progress(
                    key,
                    format!(
                        "known_hosts {}: {} stale removed, {} added",
                        path.display(),
                        updated.removed,
                        updated.added
                    ),
                );
                after.known_hosts = Some(path.display().to_string());
            }
            after.host_keys = stages::prints(&verified.keys);
            after.reached = "ssh".to_owned();
            if t.wait == Wait::CloudInit {
                let state = State::JobDone {
                    summary: summary.to_owned(),
                };
                self.record_after(key, state, Some(after.clone()))
                    .await
                    .map_err(Ending::Failed)?;
            }
            boot = Some(console);
        }
        if t.wait != Wait::CloudInit {
            return Ok(None);
        }
        let finished = match boot {
            Some(b) if b.finished.is_some() => b,
            _ => {
                self.progress(
                    key,
                    "stage cloud-init: its final message on the console".to_owned(),
                );
                self.unless_stopped(STOPPED, async {
                    after::cloud_init_final(&client, server, schedule, &mut |e| {
                        self.progress(key, format!("stage cloud-init: {}", e.progress_line()));
                    })
                    .await
                    .map_err(stage_ending)
                })
                .await?
            }
        };
        let verdict = stages::verdict(&finished);
        let errors = verdict.errors.clone();
        after.cloud_init = Some(verdict);
        after.reached = "cloud-init".to_owned();
        Ok((!errors.is_empty()).then_some(errors))
    }

    /// A target the journal has never seen: read it, journal the baseline, send, follow.
    async fn fresh(&self, t: &Target) -> Result<String, Ending> {
        const NOT_STARTED: &str = "not sent: the run was interrupted while reading the target";
        match &t.action {
            Action::EcsReinstall { server, .. } | Action::EcsChangeOs { server, .. } => {
                let (client, before) = Box::pin(self.unless_stopped(NOT_STARTED, async {
                    let client = self
                        .clients
                        .ecs(t.profile.as_deref())
                        .await
                        .map_err(Ending::Failed)?;
                    let before = client.server(server).await.map_err(ending)?;
                    Ok((client, before))
                }))
                .await?;
                self.send_ecs(t, &client, before).await
            }
            Action::EdisReinstall { kvm, .. } => {
                let (client, power) = Box::pin(self.unless_stopped(NOT_STARTED, async {
                    let client = self
                        .clients
                        .edis(t.profile.as_deref())
                        .await
                        .map_err(Ending::Failed)?;
                    let power = client.power(kvm).await.map_err(ending)?.state;
                    Ok((client, power))
                }))
                .await?;
                self.send_edis(t, &client, power).await
            }
        }
    }

    async fn send_ecs(
        &self,
        t: &Target,
        client: &EcsClient,
        before: ServerDetails,
    ) -> Result<String, Ending> {
        let baseline = ecs_baseline(&before);
        let api = Box::pin(self.ecs_api(t, client, &before)).await?;
        let chosen = match (&t.action, api) {
            (Action::EcsChangeOs { .. }, RebuildApi::CloudInit) => EcsOperation::ChangeOs,
            (Action::EcsChangeOs { .. }, RebuildApi::Plain) => {
                EcsOperation::ChangeOsWithoutCloudInit
            }
            (_, RebuildApi::CloudInit) => EcsOperation::Reinstall,
            (_, RebuildApi::Plain) => EcsOperation::ReinstallWithoutCloudInit,
        };
        let operation = chosen.name();
        // From the `sending` record to the `sent` one, a stop waits: the request in flight gets
        // its answer and its record.
        self.before_sending()?;
        self.sends(t);
        self.record(
            &t.key,
            State::Sending {
                operation: operation.to_owned(),
                baseline: baseline.clone(),
            },
        )
        .await
        .map_err(Ending::Failed)?;
        self.progress(&t.key, format!("{operation} sent"));
        let started = match chosen {
            EcsOperation::ChangeOs => {
                let input = self.inputs.ecs_change_os(t).map_err(Ending::Failed)?;
                Box::pin(client.change_os_from(before, input)).await
            }
            EcsOperation::ChangeOsWithoutCloudInit => {
                let input = self.inputs.ecs_change_os(t).map_err(Ending::Failed)?;
                Box::pin(client.change_os_without_cloud_init_from(before, input)).await
            }
            EcsOperation::ReinstallWithoutCloudInit => {
                let input = self.inputs.ecs_reinstall(t).map_err(Ending::Failed)?;
                Box::pin(client.reinstall_without_cloud_init_from(before, input)).await
            }
            _ => {
                let input = self.inputs.ecs_reinstall(t).map_err(Ending::Failed)?;
                Box::pin(client.reinstall_from(before, input)).await
            }
        }
        .map_err(ending)?;
        self.record(
            &t.key,
            State::Sent {
                operation: operation.to_owned(),
                job_id: started.job_id.as_ref().map(|j| j.as_str().to_owned()),
                evidence: started.evidence.as_ref().map(ToString::to_string),
                baseline,
            },
        )
        .await
        .map_err(Ending::Failed)?;
        self.follow_ecs(t, client, &started).await
    }

    /// The API an ECS target takes: the plan's `api`, or what the image service says of the
    /// image the server will run (the new one, or for a reinstall its current one). User data
    /// for an image without cloud-init fails the target before anything is sent.
    async fn ecs_api(
        &self,
        t: &Target,
        client: &EcsClient,
        before: &ServerDetails,
    ) -> Result<RebuildApi, Ending> {
        if let Some(api) = t.api {
            return Ok(api);
        }
        let image_id = match &t.action {
            Action::EcsChangeOs { image, .. } => Some(image),
            _ => before.image_id.as_ref(),
        };
        let Some(image_id) = image_id else {
            return Err(Ending::Failed(
                "not sent: the server's details do not say its image, so the image service \
                 cannot be asked whether it has cloud-init; set api = \"cloud-init\" or \
                 \"plain\" on the target"
                    .to_owned(),
            ));
        };
        let image = client.image(image_id).await.map_err(|e| {
            Ending::Failed(format!(
                "not sent: looking up image {image_id} failed: {e}; set api = \"cloud-init\" or \
                 \"plain\" on the target to choose without it"
            ))
        })?;
        let api = image.rebuild_api();
        if api == RebuildApi::Plain && t.wait != Wait::Job {
            return Err(Ending::Failed(format!(
                "not sent: image {image_id} has no cloud-init ({}), so nothing would write the \
                 host keys to the console that wait = \"{}\" checks; set wait = \"job\" on the \
                 target, or choose an image with cloud-init",
                image.reason(),
                t.wait.as_str()
            )));
        }
        if api == RebuildApi::Plain && t.user_data.is_some() {
            return Err(Ending::Failed(format!(
                "not sent: image {image_id} has no cloud-init ({}), and the target has user_data, \
                 which nothing on it reads; remove user_data, or choose an image with cloud-init",
                image.reason()
            )));
        }
        self.progress(
            &t.key,
            format!("image {image_id}: {}: {api} API", image.reason()),
        );
        Ok(api)
    }

    async fn send_edis(
        &self,
        t: &Target,
        client: &EdisClient,
        power: PowerState,
    ) -> Result<String, Ending> {
        let Action::EdisReinstall { kvm, .. } = &t.action else {
            return Err(Ending::Failed("not an EDIS target".to_owned()));
        };
        let baseline = Baseline {
            power: Some(power_word(&power).to_owned()),
            ..Baseline::default()
        };
        self.before_sending()?;
        self.sends(t);
        self.record(
            &t.key,
            State::Sending {
                operation: "edis.reinstall".to_owned(),
                baseline: baseline.clone(),
            },
        )
        .await
        .map_err(Ending::Failed)?;
        self.progress(&t.key, "edis.reinstall sent".to_owned());
        let input = self.inputs.edis_reinstall(t).map_err(Ending::Failed)?;
        let started = Box::pin(client.reinstall(kvm, input))
            .await
            .map_err(ending)?;
        self.record(
            &t.key,
            State::Sent {
                operation: "edis.reinstall".to_owned(),
                job_id: None,
                evidence: started.evidence.as_ref().map(ToString::to_string),
                baseline,
            },
        )
        .await
        .map_err(Ending::Failed)?;
        self.follow_edis(t, client, &started).await
    }

    /// The journal says `sending`: the last run died around the send. Ask the provider.
    async fn resume_sending(
        &self,
        t: &Target,
        baseline: &Baseline,
        at_ms: u64,
    ) -> Result<String, Ending> {
        const ASKING: &str = "not settled: the run was interrupted while asking the provider \
                              about the last run's send; the rerun asks again";
        // A request in flight when the last run died has arrived, or never will, after this.
        let age = Duration::from_millis(now_ms().saturating_sub(at_ms));
        if age < self.settings.settle {
            self.unless_stopped(ASKING, async {
                tokio::time::sleep(self.settings.settle - age).await;
                Ok(())
            })
            .await?;
        }
        match &t.action {
            Action::EcsReinstall { server, .. } | Action::EcsChangeOs { server, .. } => {
                let (client, now) = self
                    .unless_stopped(ASKING, async {
                        let client = self
                            .clients
                            .ecs(t.profile.as_deref())
                            .await
                            .map_err(Ending::Failed)?;
                        let now = client.server(server).await.map_err(ending)?;
                        Ok((client, now))
                    })
                    .await?;
                let then = baseline_details(server, baseline);
                match rebuild_evidence(&then, &now) {
                    Some(evidence) => {
                        self.progress(&t.key, format!("resumed: {evidence}"));
                        self.record(
                            &t.key,
                            State::Sent {
                                operation: operation_name(t).to_owned(),
                                job_id: None,
                                evidence: Some(evidence.to_string()),
                                baseline: baseline.clone(),
                            },
                        )
                        .await
                        .map_err(Ending::Failed)?;
                        let started = Started {
                            operation: ecs_operation(t),
                            server_id: server.clone(),
                            job_id: None,
                            before: then,
                            evidence: Some(evidence),
                        };
                        self.follow_ecs(t, &client, &started).await
                    }
                    None => {
                        // No sign of it: the request never arrived. The server as it is now
                        // is the new baseline.
                        self.progress(
                            &t.key,
                            "resumed: no sign of the last send; sending".to_owned(),
                        );
                        self.send_ecs(t, &client, now).await
                    }
                }
            }
            Action::EdisReinstall { kvm, .. } => {
                let (client, now) = self
                    .unless_stopped(ASKING, async {
                        let client = self
                            .clients
                            .edis(t.profile.as_deref())
                            .await
                            .map_err(Ending::Failed)?;
                        let now = client.power(kvm).await.map_err(ending)?.state;
                        Ok((client, now))
                    })
                    .await?;
                let before = PowerState::parse(baseline.power.as_deref().unwrap_or(""));
                let age = Duration::from_millis(now_ms().saturating_sub(at_ms));
                // The client's own rule: a KVM that was on and is not has begun its install.
                if let Some(evidence) = reimage_client::evidence::edis(&before, &now) {
                    self.record(
                        &t.key,
                        State::Sent {
                            operation: "edis.reinstall".to_owned(),
                            job_id: None,
                            evidence: Some(evidence.to_string()),
                            baseline: baseline.clone(),
                        },
                    )
                    .await
                    .map_err(Ending::Failed)?;
                    let started = EdisStarted {
                        kvm_id: kvm.clone(),
                        before,
                        evidence: Some(evidence),
                    };
                    return self.follow_edis(t, &client, &started).await;
                }
                match (&before, &now) {
                    (PowerState::On, PowerState::On) if age < self.settings.edis_min_install => {
                        self.progress(
                            &t.key,
                            "resumed: no sign of the last send; sending".to_owned(),
                        );
                        self.send_edis(t, &client, now).await
                    }
                    (PowerState::On, PowerState::On) => Err(Ending::Unknown(format!(
                        "the last run died around the send {} ago, and the KVM is on as it was: \
                         the install never began, or began and finished (an EDIS install takes \
                         at least {}); not re-sent",
                        reimage_client::show_duration(age),
                        reimage_client::show_duration(self.settings.edis_min_install)
                    ))),
                    _ => Err(Ending::Unknown(
                        "the last run died around the send, and the KVM was powered off already, \
                         so its power state cannot tell whether the reinstall began; not re-sent"
                            .to_owned(),
                    )),
                }
            }
        }
    }

    /// The journal says `sent`: follow it to the end.
    async fn follow(
        &self,
        t: &Target,
        job_id: Option<&str>,
        evidence: Option<String>,
        baseline: &Baseline,
    ) -> Result<String, Ending> {
        match &t.action {
            Action::EcsReinstall { server, .. } | Action::EcsChangeOs { server, .. } => {
                let client = self
                    .clients
                    .ecs(t.profile.as_deref())
                    .await
                    .map_err(Ending::Failed)?;
                let job_id = job_id.and_then(|j| JobId::new(j).ok());
                let started = Started {
                    operation: ecs_operation(t),
                    server_id: server.clone(),
                    job_id,
                    before: baseline_details(server, baseline),
                    evidence: evidence.map(Evidence::Recorded),
                };
                self.follow_ecs(t, &client, &started).await
            }
            Action::EdisReinstall { kvm, .. } => {
                let client = self
                    .clients
                    .edis(t.profile.as_deref())
                    .await
                    .map_err(Ending::Failed)?;
                let started = EdisStarted {
                    kvm_id: kvm.clone(),
                    before: PowerState::parse(baseline.power.as_deref().unwrap_or("")),
                    evidence: Some(Evidence::Recorded(
                        evidence.unwrap_or_else(|| "accepted".to_owned()),
                    )),
                };
                self.follow_edis(t, &client, &started).await
            }
        }
    }

    async fn follow_ecs(
        &self,
        t: &Target,
        client: &EcsClient,
        started: &Started,
    ) -> Result<String, Ending> {
        let after = Box::pin(self.unless_stopped(FOLLOW_STOPPED, async {
            client
                .follow(started, &self.settings.schedule, &mut |e| {
                    self.progress(&t.key, e.progress_line());
                })
                .await
                .map_err(ending)
        }))
        .await?;
        Ok(format!(
            "{}, image {}",
            after.status.as_ref().map_or("?", ServerStatus::as_str),
            after.image_id.as_ref().map_or("?", |i| i.as_str())
        ))
    }

    async fn follow_edis(
        &self,
        t: &Target,
        client: &EdisClient,
        started: &EdisStarted,
    ) -> Result<String, Ending> {
        Box::pin(self.unless_stopped(FOLLOW_STOPPED, async {
            client
                .wait_reinstalled(started, &self.settings.schedule, &mut |e| {
                    self.progress(&t.key, e.progress_line());
                })
                .await
                .map_err(ending)
        }))
        .await?;
        let image = match &t.action {
            Action::EdisReinstall { image, .. } => image.as_str().to_owned(),
            _ => "?".to_owned(),
        };
        Ok(format!("running, image {image}"))
    }
}

/// Why a target stopped while its send is followed.
const FOLLOW_STOPPED: &str = "sent, not followed to its end: the run was interrupted; the rerun \
                              follows it";

/// How a target's work ended, short of done.
enum Ending {
    Failed(String),
    Unknown(String),
    /// The run was stopped at a safe point.
    Interrupted(String),
}

/// The summary of a target whose stages passed: the job's, and the key verified.
fn with_keys(summary: &str, after: &AfterJob) -> String {
    match after.host_keys.first() {
        Some(k) => format!("{summary}; host key verified {} {}", k.kind, k.fingerprint),
        None => summary.to_owned(),
    }
}

/// A stage that ended without its answer.
fn stage_ending(e: StageError) -> Ending {
    match e {
        StageError::Poll(e) => ending(e),
        StageError::NoKeysOnConsole => Ending::Failed(
            "cloud-init finished without writing the host keys to the console, so the key the \
             SSH server presents cannot be checked; known_hosts was not changed (keep cloud-init's \
             ssh emit_keys_to_console, or set wait = \"job\")"
                .to_owned(),
        ),
        other => Ending::Failed(other.to_string()),
    }
}

fn ending(e: Error) -> Ending {
    match e {
        Error::OutcomeUnknown { .. } | Error::Ambiguous { .. } => Ending::Unknown(e.to_string()),
        other => Ending::Failed(other.to_string()),
    }
}

/// The ECS operation of an ECS target (EDIS targets never ask).
fn ecs_operation(t: &Target) -> EcsOperation {
    match t.action {
        Action::EcsChangeOs { .. } => EcsOperation::ChangeOs,
        _ => EcsOperation::Reinstall,
    }
}

/// The operation a target sends, as the journal names it: `ecs.reinstallos`, `ecs.changeos` or
/// `edis.reinstall`.
pub(crate) fn operation_name(t: &Target) -> &'static str {
    match t.action {
        Action::EcsReinstall { .. } => "ecs.reinstallos",
        Action::EcsChangeOs { .. } => "ecs.changeos",
        Action::EdisReinstall { .. } => "edis.reinstall",
    }
}

fn power_word(power: &PowerState) -> &str {
    match power {
        PowerState::On => "server powered on",
        PowerState::Off => "server powered off",
        PowerState::Other(text) => text,
        _ => "unknown",
    }
}

/// The journaled form of a server before the send.
fn ecs_baseline(s: &ServerDetails) -> Baseline {
    Baseline {
        updated: s.updated.map(|t| t.to_string()),
        launched_at: s.launched_at.map(|t| t.to_string()),
        status: s.status.as_ref().map(|x| x.as_str().to_owned()),
        power: None,
        system_disk: s.system_disk.clone(),
    }
}

/// The server as the baseline describes it, for the evidence check.
pub(crate) fn baseline_details(server: &ServerId, b: &Baseline) -> ServerDetails {
    let mut d = ServerDetails::new(server.clone());
    d.updated = b.updated.as_deref().and_then(|t| Timestamp::parse(t).ok());
    d.launched_at = b
        .launched_at
        .as_deref()
        .and_then(|t| Timestamp::parse(t).ok());
    d.status = b.status.as_deref().map(ServerStatus::from_wire);
    d.system_disk = b.system_disk.clone();
    d
}

/// The plain-text line of a progress event, without its elapsed time.
trait ProgressLine {
    fn progress_line(&self) -> String;
}

impl ProgressLine for reimage_client::ProgressEvent {
    fn progress_line(&self) -> String {
        let line = self.to_string();
        line.split_once("] ")
            .map_or(line.clone(), |(_, rest)| rest.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_settings_are_those_of_the_command_line() {
        let s = Settings::default();
        assert_eq!(s.concurrency, 8);
        assert!(!s.fail_fast && !s.retry_failed);
        assert_eq!(s.schedule.initial, Duration::from_secs(2));
        assert_eq!(s.schedule.max, Duration::from_secs(15));
        assert!((s.schedule.factor - 1.5).abs() < f64::EPSILON);
        assert_eq!(s.schedule.deadline, Duration::from_secs(1800));
        assert_eq!(s.settle, Duration::from_secs(5));
        assert_eq!(s.edis_min_install, Duration::from_secs(120));
    }

    #[test]
    fn outcomes_have_a_word_and_a_detail() {
        let outcomes = [
            Outcome::Done("a".to_owned()),
            Outcome::AlreadyDone("b".to_owned()),
            Outcome::Failed("c".to_owned()),
            Outcome::Unknown("d".to_owned()),
            Outcome::Skipped("e".to_owned()),
            Outcome::Changed("f".to_owned()),
            Outcome::Interrupted("g".to_owned()),
        ];
        let shown: Vec<(&str, &str, bool)> = outcomes
            .iter()
            .map(|o| (o.word(), o.detail(), o.is_failure()))
            .collect();
        assert_eq!(
            shown,
            [
                ("done", "a", false),
                ("done before", "b", false),
                ("failed", "c", true),
                ("unknown", "d", true),
                ("skipped", "e", false),
                ("changed", "f", true),
                ("interrupted", "g", false),
            ]
        );
    }

    #[tokio::test]
    async fn a_stop_is_seen_by_every_clone_before_and_after_it_is_waited_for() {
        let stop = Stop::new();
        let clone = Settings {
            stop: stop.clone(),
            ..Settings::default()
        }
        .stop;
        assert!(!clone.is_stopped());
        let waiting = tokio::spawn({
            let clone = clone.clone();
            async move { clone.stopped().await }
        });
        stop.stop();
        waiting.await.unwrap();
        assert!(clone.is_stopped());
        // Already stopped: returns at once; stopping again changes nothing.
        clone.stopped().await;
        stop.stop();
        assert!(stop.is_stopped());
    }
}
