//! The emulated world: ECS servers and jobs, IAM tokens, EDIS KVMs and sessions, and what was
//! applied to each.
//!
//! Time is derived, never ticked: a job remembers when it began and when it ends, and
//! [`World::settle`] applies every job whose end has passed, in the order they ended, whenever
//! the world is looked at. No background task runs, so a [`ManualClock`](crate::ManualClock)
//! drives a whole scenario.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use reimage_core::{EdisImage, ImageId};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::Config;
use crate::fault::FaultSet;
use crate::fixtures::{Fixtures, KvmFixture, ServerFixture};
use crate::handler::LogAuth;
use crate::redact;
use crate::util::{Hex32, IdGen, after, iam_time, job_time};

/// How many tokens, sessions, finished jobs and log entries are kept before the oldest go.
pub(crate) const KEEP: usize = 10_000;

/// What has been applied to an ECS server: accepted requests, counted when their job started.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServerCounters {
    pub(crate) reinstalls: u64,
    pub(crate) os_changes: u64,
    pub(crate) stops: u64,
    pub(crate) starts: u64,
}

/// An ECS server.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) fixture: ServerFixture,
    pub(crate) locked: bool,
    pub(crate) image: ImageId,
    pub(crate) running: bool,
    /// The last reinstall or change of OS failed: `ERROR`, and a new one is allowed.
    pub(crate) failed_os_job: bool,
    pub(crate) key_name: Option<String>,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) updated: OffsetDateTime,
    pub(crate) launched_at: OffsetDateTime,
    /// The job under way, if any.
    pub(crate) job: Option<String>,
    pub(crate) counters: ServerCounters,
    /// How many system disks replaced this one: each reinstall or change of OS that succeeds
    /// attaches a new one (a new volume id at boot index 0).
    pub(crate) system_disk: u32,
    /// The system disk's encryption (`__system__encrypted`, `__system__cmkid`), as the last
    /// reinstall or change of OS asked.
    pub(crate) system_encrypted: Option<String>,
    pub(crate) system_cmkid: Option<String>,
    /// Why the last reinstall or change of OS failed, and when: the server's `fault` while it is
    /// in `ERROR`.
    pub(crate) fault: Option<(String, OffsetDateTime)>,
    /// Its console log: one boot per install, each with its own host keys.
    pub(crate) console: crate::console::Console,
}

/// The kinds of ECS job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Reinstall,
    ChangeOs,
    Stop,
    Start,
}

impl JobKind {
    /// `job_type` of the job.
    pub(crate) fn job_type(self) -> &'static str {
        match self {
            Self::Reinstall => "reinstallOS",
            Self::ChangeOs => "changeOS",
            Self::Stop => "batchStopServers",
            Self::Start => "batchStartServers",
        }
    }

    /// `job_type` of each sub-job.
    pub(crate) fn sub_job_type(self) -> &'static str {
        match self {
            Self::Reinstall => "reinstallOS",
            Self::ChangeOs => "changeOS",
            Self::Stop => "stopServer",
            Self::Start => "startServer",
        }
    }

    /// The `error_code` and `fail_reason` of a job that fails without being told why.
    pub(crate) fn default_failure(self) -> (&'static str, &'static str) {
        match self {
            Self::Reinstall | Self::ChangeOs => (
                "Ecs.0202",
                "Failed to create the system disk. Try again later or contact customer service.",
            ),
            Self::Stop => (
                "Ecs.0000",
                "Request error. Try again later or contact customer service.",
            ),
            Self::Start => ("Ecs.0226", "Failed to start."),
        }
    }
}

/// What a reinstall or change of OS leaves behind when it succeeds.
#[derive(Debug, Clone)]
pub(crate) struct OsEffect {
    pub(crate) image: ImageId,
    pub(crate) key_name: Option<String>,
    pub(crate) user_data: Option<Vec<u8>>,
    /// The server was running and `withStopServer` was sent: the job powers it off first.
    pub(crate) stops_first: bool,
    /// How the job's status runs ahead of the work (the `early_success` and `success_flap`
    /// faults).
    pub(crate) quirk: JobQuirk,
    /// The `frozen_timestamps` fault: `updated` and `OS-SRV-USG:launched_at` do not move.
    pub(crate) keep_timestamps: bool,
    /// `metadata.__system__encrypted` and `__system__cmkid` as sent: the new system disk's
    /// encryption, shown in the server's metadata after.
    pub(crate) system_encrypted: Option<String>,
    pub(crate) system_cmkid: Option<String>,
    /// Whether the new image runs cloud-init (the console then shows its stages and keys).
    pub(crate) cloud_init: bool,
    /// How long (scaled) the new system's boot takes to reach cloud-init's final message.
    pub(crate) boot_takes: std::time::Duration,
    /// The `cloud_init_error` and `cloud_init_hangs` faults.
    pub(crate) boot_faults: crate::console::BootFaults,
}

/// How an OS job's status may run ahead of the work, as real ECS has been seen to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum JobQuirk {
    /// The status follows the work.
    #[default]
    None,
    /// `SUCCESS` from 60% of the duration, while the server is still `REBUILD`.
    EarlySuccess,
    /// `SUCCESS` from 50% to 60%, `RUNNING` again until the end, then `SUCCESS`.
    SuccessFlap,
}

/// An ECS job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) kind: JobKind,
    pub(crate) project_id: String,
    /// Each server with its sub-job id.
    pub(crate) servers: Vec<(String, String)>,
    pub(crate) begin: OffsetDateTime,
    /// The end of the `INIT` phase (and the sub-jobs' begin).
    pub(crate) running_at: OffsetDateTime,
    pub(crate) end: OffsetDateTime,
    /// `(error_code, fail_reason)` when it will fail.
    pub(crate) failure: Option<(String, String)>,
    pub(crate) effect: Option<OsEffect>,
    pub(crate) settled: bool,
    /// A yearly/monthly server's order: `PENDING_PAYMENT` until then, and the work (the
    /// `INIT`, `RUNNING` phases and the server's changes) only after.
    pub(crate) paid_at: Option<OffsetDateTime>,
    /// The job query's answer as last written. Clients poll a job many times in each phase, and
    /// its answer changes only with the phase (and, once it is done, with its end time), so it
    /// is written once for each; [`Jobs::update`] forgets it when the job changes.
    pub(crate) answer: RefCell<Option<JobAnswer>>,
}

/// The job query's answer, and the phase and end time it was written for.
#[derive(Debug, Clone)]
pub(crate) struct JobAnswer {
    pub(crate) phase: Phase,
    /// The end time the answer shows: only once the job is done.
    pub(crate) end: Option<OffsetDateTime>,
    pub(crate) body: bytes::Bytes,
}

/// A job's status at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Init,
    Running,
    Success,
    Fail,
    PendingPayment,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Init => "INIT",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
        }
    }
}

impl Job {
    /// When the work begins: the job's begin, or once its order is paid.
    pub(crate) fn work_begin(&self) -> OffsetDateTime {
        self.paid_at.unwrap_or(self.begin)
    }

    /// Whether its order still waits to be paid at `now`.
    pub(crate) fn pending_payment(&self, now: OffsetDateTime) -> bool {
        self.paid_at.is_some_and(|paid| now < paid)
    }

    /// The `end_time` the job shows at `now`, once it reads `SUCCESS` or `FAIL`: its end, or,
    /// while an early `SUCCESS` (the `early_success` and `success_flap` faults) runs ahead of
    /// the work, the moment it began to read so, never a time still to come.
    pub(crate) fn end_time(&self, now: OffsetDateTime) -> OffsetDateTime {
        if now >= self.end {
            return self.end;
        }
        let begin = self.work_begin();
        let at = |percent: i32| -> OffsetDateTime { begin + (self.end - begin) * percent / 100 };
        match self.effect.as_ref().map_or(JobQuirk::None, |e| e.quirk) {
            JobQuirk::EarlySuccess => at(60).min(now),
            JobQuirk::SuccessFlap => at(50).min(now),
            JobQuirk::None => self.end.min(now),
        }
    }

    pub(crate) fn phase(&self, now: OffsetDateTime) -> Phase {
        if self.pending_payment(now) {
            return Phase::PendingPayment;
        }
        let quirk = self.effect.as_ref().map_or(JobQuirk::None, |e| e.quirk);
        let begin = self.work_begin();
        let at = |percent: i32| begin + (self.end - begin) * percent / 100;
        if self.failure.is_none() && now < self.end {
            let early = match quirk {
                JobQuirk::None => false,
                JobQuirk::EarlySuccess => now >= at(60),
                JobQuirk::SuccessFlap => now >= at(50) && now < at(60),
            };
            if early {
                return Phase::Success;
            }
        }
        if now < self.running_at {
            Phase::Init
        } else if now < self.end {
            Phase::Running
        } else if self.failure.is_some() {
            Phase::Fail
        } else {
            Phase::Success
        }
    }
}

/// An IAM token that was issued.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) serial: u64,
    pub(crate) token: String,
    /// Shared with the request log's entries of the calls it authenticated.
    pub(crate) user_id: std::sync::Arc<str>,
    pub(crate) project_id: Option<String>,
    pub(crate) issued_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
}

/// What has been applied to an EDIS KVM.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KvmCounters {
    pub(crate) reinstalls: u64,
    pub(crate) power_ons: u64,
    pub(crate) power_offs: u64,
    pub(crate) resets: u64,
}

/// An EDIS reinstall under way.
#[derive(Debug, Clone)]
pub(crate) struct Install {
    pub(crate) image: EdisImage,
    pub(crate) started: OffsetDateTime,
    pub(crate) until: OffsetDateTime,
    pub(crate) fail: bool,
    pub(crate) user_data_bytes: Option<usize>,
    /// The host key the new system boots with: the one the user data's `ssh_keys` gives
    /// (cloud-init installs it), else a new one (made when first needed).
    pub(crate) host_key: crate::console::HostKey,
}

/// An EDIS KVM.
#[derive(Debug, Clone)]
pub(crate) struct Kvm {
    pub(crate) fixture: KvmFixture,
    pub(crate) image: EdisImage,
    pub(crate) powered_on: bool,
    pub(crate) install: Option<Install>,
    pub(crate) last_install_failed: bool,
    pub(crate) user_data_bytes: Option<usize>,
    pub(crate) installed_at: Option<OffsetDateTime>,
    /// The ISO mounted on the KVM (`/kvm/v2/get/mount`); none until an operation mounts one.
    pub(crate) mounted_iso: Option<String>,
    pub(crate) counters: KvmCounters,
    /// The host key of the system it runs (made when first needed).
    pub(crate) host_key: crate::console::HostKey,
}

/// An EDIS session that was issued.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) serial: u64,
    pub(crate) signature: String,
    pub(crate) kvm_id: String,
    pub(crate) valid_until_text: String,
    pub(crate) issued_at: OffsetDateTime,
    /// When it stops being accepted: `valid_until`, or earlier after `expire_credentials`.
    pub(crate) expires_at: OffsetDateTime,
}

/// One call of the request log, redacted when it is recorded (it holds no secret) and kept
/// compact, since every call records one: it becomes JSON only when someone reads the log.
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub(crate) time: OffsetDateTime,
    /// Drawn under the lock; always there once the entry is in the log.
    pub(crate) request_id: Option<Hex32>,
    pub(crate) operation: &'static str,
    pub(crate) method: http::Method,
    /// The path and the headers, in one text.
    pub(crate) headers: redact::Headers,
    /// Already redacted ([`redact::body`]).
    pub(crate) body: Value,
    pub(crate) auth: LogAuth,
    pub(crate) status: Option<u16>,
    pub(crate) error_code: Option<String>,
    pub(crate) faults: Vec<&'static str>,
    pub(crate) outcome: &'static str,
}

impl LogEntry {
    fn to_json(&self, seq: u64) -> Value {
        json!({
            "time": job_time(self.time),
            "request_id": self.request_id.as_ref().map_or("", Hex32::as_str),
            "operation": self.operation,
            "method": self.method.as_str(),
            "path": self.headers.path(),
            "headers": self.headers.to_json(),
            "body": self.body,
            "auth": self.auth.to_json(),
            "status": self.status,
            "error_code": self.error_code,
            "faults": self.faults,
            "outcome": self.outcome,
            "seq": seq,
        })
    }
}

/// The request log, oldest first, at most [`KEEP`] entries.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// Each entry with its number.
    entries: VecDeque<(u64, LogEntry)>,
    next: u64,
}

impl RequestLog {
    /// Appends an entry, numbering it; gives the oldest one when the log was full, for the
    /// caller to drop once it let go of the lock.
    pub(crate) fn push(&mut self, entry: LogEntry) -> Option<LogEntry> {
        if self.entries.capacity() == 0 {
            // Room for the whole log at once (address space: its pages are touched as it fills),
            // so that no call pays for copying the log as it grows, and a request costs the same
            // however large the rest of the heap is.
            self.entries.reserve_exact(KEEP);
        }
        self.next += 1;
        let evicted = if self.entries.len() >= KEEP {
            self.entries.pop_front().map(|(_, old)| old)
        } else {
            None
        };
        self.entries.push_back((self.next, entry));
        evicted
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.entries
                .iter()
                .map(|(seq, entry)| entry.to_json(*seq))
                .collect(),
        )
    }
}

/// An index by id (lower case). Every job query and server call looks an id up, so the hasher
/// is foldhash's, a few times faster than the standard one on ids; it is seeded at random per
/// process like the standard one, and its keys are ids the emulator made or the fixtures named.
type IdMap<V> = foldhash::HashMap<String, V>;

/// The ECS jobs the emulator keeps, indexed so that a request costs the same with 100,000 jobs
/// and servers as with 4: by id (case-insensitive, as ECS matches ids), and the unsettled ones
/// by when they end.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    /// Every job kept, by its number: the order they were made.
    by_seq: BTreeMap<u64, Job>,
    /// A job's number by its id, in lower case.
    by_id: IdMap<u64>,
    /// The jobs not settled yet, by their end.
    due: BTreeSet<(OffsetDateTime, u64)>,
    next: u64,
}

impl Jobs {
    /// Forgets every job.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Keeps a new job.
    pub(crate) fn push(&mut self, job: Job) {
        self.next += 1;
        let seq = self.next;
        self.by_id.insert(job.id.to_ascii_lowercase(), seq);
        if !job.settled {
            self.due.insert((job.end, seq));
        }
        self.by_seq.insert(seq, job);
    }

    /// The job `id` (in any case).
    pub(crate) fn get(&self, id: &str) -> Option<&Job> {
        let seq = self.by_id.get(&*lower(id))?;
        self.by_seq.get(seq)
    }

    /// Changes the job `id` with `change`, keeping the index of ends right.
    pub(crate) fn update<R>(&mut self, id: &str, change: impl FnOnce(&mut Job) -> R) -> Option<R> {
        let seq = *self.by_id.get(&*lower(id))?;
        let job = self.by_seq.get_mut(&seq)?;
        let (end, settled) = (job.end, job.settled);
        let result = change(job);
        // Its answer may change with it.
        *job.answer.get_mut() = None;
        if !settled {
            self.due.remove(&(end, seq));
        }
        if !job.settled {
            self.due.insert((job.end, seq));
        }
        Some(result)
    }

    /// Every job, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Job> {
        self.by_seq.values()
    }

    /// Marks settled, and gives, every unsettled job whose end has passed by `now`, in the
    /// order they ended.
    fn take_due(&mut self, now: OffsetDateTime) -> Vec<Job> {
        let mut due = Vec::new();
        while let Some(&(end, seq)) = self.due.first() {
            if end > now {
                break;
            }
            self.due.pop_first();
            if let Some(job) = self.by_seq.get_mut(&seq) {
                job.settled = true;
                due.push(job.clone());
            }
        }
        due
    }

    /// Forgets the oldest settled jobs while more than `keep` are kept.
    fn prune(&mut self, keep: usize) {
        while self.by_seq.len() > keep {
            let Some(seq) = self
                .by_seq
                .iter()
                .find(|(_, j)| j.settled)
                .map(|(seq, _)| *seq)
            else {
                break;
            };
            if let Some(job) = self.by_seq.remove(&seq) {
                self.by_id.remove(&job.id.to_ascii_lowercase());
            }
        }
    }
}

/// Everything the emulator knows.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) fixtures: Fixtures,
    pub(crate) servers: Vec<Server>,
    /// A server's place in `servers` by its id, in lower case (the servers are fixed at reset).
    server_index: IdMap<usize>,
    /// The EDIS installs under way, by their end and the KVM's place in `kvms`, so that settling
    /// them does not visit every KVM.
    pub(crate) installs: BTreeSet<(OffsetDateTime, usize)>,
    pub(crate) jobs: Jobs,
    pub(crate) tokens: Vec<TokenRecord>,
    pub(crate) kvms: Vec<Kvm>,
    pub(crate) sessions: Vec<SessionRecord>,
    pub(crate) faults: FaultSet,
    pub(crate) log: RequestLog,
    pub(crate) ids: IdGen,
    /// Each user's window of the throttle rule ([`crate::RateLimit`]).
    pub(crate) windows: crate::throttle::Windows,
    serial: u64,
    /// The real SSH endpoints some servers have (end-to-end tests).
    pub(crate) ssh: Vec<crate::sshd::SshEndpoint>,
}

impl World {
    /// The world of `config`'s fixtures, with its faults switched on.
    pub(crate) fn new(config: &Config) -> Self {
        let mut world = Self {
            fixtures: config.fixtures.clone(),
            servers: Vec::new(),
            server_index: IdMap::default(),
            installs: BTreeSet::new(),
            jobs: Jobs::default(),
            tokens: Vec::new(),
            kvms: Vec::new(),
            sessions: Vec::new(),
            faults: FaultSet::default(),
            log: RequestLog::default(),
            ids: IdGen::new(config.seed),
            windows: crate::throttle::Windows::default(),
            serial: 0,
            ssh: Vec::new(),
        };
        world.reset(config);
        world
    }

    /// Back to the fixtures: servers, KVMs, jobs, tokens, sessions, log and faults. The id
    /// generator goes on, so that no id is issued twice.
    pub(crate) fn reset(&mut self, config: &Config) {
        let fixtures = &config.fixtures;
        self.fixtures = fixtures.clone();
        self.windows = crate::throttle::Windows::default();
        self.servers = fixtures
            .ecs
            .servers
            .iter()
            .map(|s| Server {
                fixture: s.clone(),
                locked: s.locked,
                image: s.image.clone(),
                running: s.running,
                failed_os_job: false,
                key_name: s.key_name.clone(),
                user_data: None,
                updated: s.created.to_offset_date_time(),
                launched_at: s.created.to_offset_date_time(),
                job: None,
                counters: ServerCounters::default(),
                system_disk: 0,
                system_encrypted: None,
                system_cmkid: None,
                fault: None,
                console: first_boot(s, config),
            })
            .collect();
        self.server_index = self
            .servers
            .iter()
            .enumerate()
            .map(|(at, s)| (s.fixture.id.as_str().to_ascii_lowercase(), at))
            .collect();
        self.kvms = fixtures
            .edis
            .kvms
            .iter()
            .map(|k| Kvm {
                fixture: k.clone(),
                image: k.image.clone(),
                powered_on: k.powered_on,
                install: None,
                last_install_failed: false,
                user_data_bytes: None,
                installed_at: None,
                mounted_iso: None,
                counters: KvmCounters::default(),
                host_key: crate::console::HostKey::new(&k.hostname),
            })
            .collect();
        self.jobs.clear();
        self.installs.clear();
        // The servers' installs are new: their SSH endpoints go with the old ones.
        self.ssh.clear();
        self.tokens.clear();
        self.sessions.clear();
        self.log.clear();
        self.faults.clear();
        for rule in fixtures.faults.iter().chain(&config.faults) {
            self.faults.add(rule.clone());
        }
    }

    /// The server `id` (in any case).
    pub(crate) fn server(&self, id: &str) -> Option<&Server> {
        let at = *self.server_index.get(&*lower(id))?;
        self.servers.get(at)
    }

    /// The server `id` (in any case), to change.
    pub(crate) fn server_mut(&mut self, id: &str) -> Option<&mut Server> {
        let at = *self.server_index.get(&*lower(id))?;
        self.servers.get_mut(at)
    }

    /// A new serial number for a token or session.
    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Applies every job and install whose end has passed by `now`, in the order they ended.
    pub(crate) fn settle(&mut self, now: OffsetDateTime) {
        for job in self.jobs.take_due(now) {
            for (server_id, _) in &job.servers {
                let Some(server) = self.server_mut(server_id) else {
                    continue;
                };
                if server.job.as_deref() == Some(job.id.as_str()) {
                    server.job = None;
                }
                apply(server, &job);
            }
        }
        while let Some(&(until, at)) = self.installs.first() {
            if until > now {
                break;
            }
            self.installs.pop_first();
            let Some(kvm) = self.kvms.get_mut(at) else {
                continue;
            };
            let done = kvm.install.as_ref().is_some_and(|i| i.until <= now);
            if done && let Some(install) = kvm.install.take() {
                if install.fail {
                    kvm.powered_on = false;
                    kvm.last_install_failed = true;
                } else {
                    kvm.image = install.image;
                    kvm.powered_on = true;
                    kvm.last_install_failed = false;
                    kvm.user_data_bytes = install.user_data_bytes;
                    kvm.installed_at = Some(install.until);
                    kvm.host_key = install.host_key;
                }
            }
        }
        self.sync_ssh();
        // Forget the oldest finished jobs beyond the limit.
        self.jobs.prune(KEEP);
    }

    /// Restarts every SSH endpoint whose server now runs another install, with its new key.
    fn sync_ssh(&mut self) {
        for endpoint in &mut self.ssh {
            let Some(key) = current_key(&self.servers, &self.kvms, &endpoint.server_id) else {
                continue;
            };
            if reimage_hostkeys::keys::fingerprint(&key.public()) != endpoint.serving
                && let Err(e) = endpoint.restart(&key)
            {
                tracing::warn!(server = %endpoint.server_id, "sshd could not restart: {e}");
            }
        }
    }

    /// Gives server `server_id` a real SSH endpoint (see [`crate::sshd`]): `sshd` from `sshd`,
    /// serving the current install's host key and letting `authorized_keys` log in. Returns the
    /// endpoint's port and its process id.
    pub(crate) fn attach_sshd(
        &mut self,
        server_id: &str,
        sshd: &std::path::Path,
        authorized_keys: &str,
    ) -> Result<(u16, u32), String> {
        let key = current_key(&self.servers, &self.kvms, server_id)
            .ok_or_else(|| format!("no server or KVM {server_id} with a host key"))?;
        self.ssh.retain(|e| e.server_id != server_id);
        let endpoint = crate::sshd::SshEndpoint::start(sshd, server_id, &key, authorized_keys)
            .map_err(|e| format!("sshd {}: {e}", sshd.display()))?;
        let out = (endpoint.port, endpoint.pid());
        self.ssh.push(endpoint);
        Ok(out)
    }

    /// Starts a job on `servers` and marks them busy. `duration` is already scaled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_job(
        &mut self,
        kind: JobKind,
        project_id: &str,
        servers: &[String],
        now: OffsetDateTime,
        duration: std::time::Duration,
        failure: Option<(String, String)>,
        effect: Option<OsEffect>,
        payment: Option<std::time::Duration>,
    ) -> String {
        let id = self.ids.hex32();
        let paid_at = payment.map(|d| after(now, d));
        let work = paid_at.unwrap_or(now);
        let with_subs: Vec<(String, String)> = servers
            .iter()
            .map(|s| (s.clone(), self.ids.hex32()))
            .collect();
        for server_id in servers {
            if let Some(server) = self.server_mut(server_id) {
                server.job = Some(id.clone());
                match kind {
                    JobKind::Reinstall => server.counters.reinstalls += 1,
                    JobKind::ChangeOs => server.counters.os_changes += 1,
                    JobKind::Stop => server.counters.stops += 1,
                    JobKind::Start => server.counters.starts += 1,
                }
            }
        }
        self.jobs.push(Job {
            id: id.clone(),
            kind,
            project_id: project_id.to_owned(),
            servers: with_subs,
            begin: now,
            running_at: after(work, duration / 10),
            end: after(work, duration),
            failure,
            effect,
            settled: false,
            paid_at,
            answer: RefCell::new(None),
        });
        id
    }

    /// The state as the admin API shows it: never a password, token, signature or user data.
    pub(crate) fn snapshot(&self, config: &Config, now: OffsetDateTime) -> Value {
        let servers: Vec<Value> = self
            .servers
            .iter()
            .map(|s| {
                let view = server_view(s, &self.jobs, now);
                json!({
                    "id": s.fixture.id.as_str(),
                    "name": s.fixture.name,
                    "status": view.status,
                    "vm_state": view.vm_state,
                    "task_state": view.task_state,
                    "locked": s.locked,
                    "image_id": s.image.as_str(),
                    "key_name": s.key_name,
                    "user_data_bytes": s.user_data.as_ref().map(Vec::len),
                    "updated": job_time(s.updated),
                    "launched_at": job_time(s.launched_at),
                    "job_id": s.job,
                    "reinstalls_applied": s.counters.reinstalls,
                    "os_changes_applied": s.counters.os_changes,
                    "stops_applied": s.counters.stops,
                    "starts_applied": s.counters.starts,
                    "host_key": s.console.current_key().map(|k| {
                        reimage_hostkeys::keys::fingerprint(&k.public())
                    }),
                    "boots": s.console.boots.len(),
                    "ssh_port": self.ssh.iter().find(|e| e.server_id == s.fixture.id.as_str()).map(|e| e.port),
                    "ssh_pid": self.ssh.iter().find(|e| e.server_id == s.fixture.id.as_str()).map(crate::sshd::SshEndpoint::pid),
                })
            })
            .collect();
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|j| {
                let phase = j.phase(now);
                json!({
                    "job_id": j.id,
                    "job_type": j.kind.job_type(),
                    "status": phase.as_str(),
                    "servers": j.servers.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
                    "begin_time": job_time(j.begin),
                    "end_time": job_time(j.end),
                    "error_code": j.failure.as_ref().map(|f| f.0.as_str()),
                })
            })
            .collect();
        let tokens: Vec<Value> = self
            .tokens
            .iter()
            .map(|t| {
                json!({
                    "serial": t.serial,
                    "user_id": &*t.user_id,
                    "project_id": t.project_id,
                    "issued_at": iam_time(t.issued_at),
                    "expires_at": iam_time(t.expires_at),
                    "expired": t.expires_at <= now,
                })
            })
            .collect();
        let kvms: Vec<Value> = self
            .kvms
            .iter()
            .map(|k| {
                json!({
                    "kvm_id": k.fixture.id.as_str(),
                    "hostname": k.fixture.hostname,
                    "powered_on": k.powered_on,
                    "image": k.image.as_str(),
                    "installing": k.install.as_ref().map(|i| json!({
                        "image": i.image.as_str(),
                        "started": job_time(i.started),
                        "until": job_time(i.until),
                    })),
                    "last_install_failed": k.last_install_failed,
                    "user_data_bytes": k.user_data_bytes,
                    "mounted_iso": k.mounted_iso,
                    "host_key": k.host_key.get().map(|key| {
                        reimage_hostkeys::keys::fingerprint(&key.public())
                    }),
                    "ssh_port": self.ssh.iter().find(|e| e.server_id == k.fixture.id.as_str()).map(|e| e.port),
                    "ssh_pid": self.ssh.iter().find(|e| e.server_id == k.fixture.id.as_str()).map(crate::sshd::SshEndpoint::pid),
                    "reinstalls_applied": k.counters.reinstalls,
                    "power_ons_applied": k.counters.power_ons,
                    "power_offs_applied": k.counters.power_offs,
                    "resets_applied": k.counters.resets,
                })
            })
            .collect();
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .map(|s| {
                json!({
                    "serial": s.serial,
                    "kvm_id": s.kvm_id,
                    "valid_until": s.valid_until_text,
                    "issued_at": job_time(s.issued_at),
                    "expires_at": job_time(s.expires_at),
                    "expired": s.expires_at <= now,
                })
            })
            .collect();
        json!({
            "now": job_time(now),
            "time_scale": config.time_scale,
            "ecs": {
                "project_id": self.fixtures.ecs.project_id,
                "servers": servers,
                "jobs": jobs,
                "throttled_calls": self.windows.refused(),
            },
            "iam": { "tokens": tokens },
            "edis": { "kvms": kvms, "sessions": sessions },
            "faults": self.faults.to_json(),
        })
    }
}

/// `id` in lower case, as the indexes hold ids: copied only when it has an upper-case letter
/// (clients send ids as they got them, in lower case).
fn lower(id: &str) -> std::borrow::Cow<'_, str> {
    // Without a branch per byte (ids are in lower case, so the whole id is read anyway).
    if id
        .bytes()
        .fold(false, |upper, b| upper | b.is_ascii_uppercase())
    {
        std::borrow::Cow::Owned(id.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(id)
    }
}

/// The host key of what server or KVM `id` runs now.
fn current_key(
    servers: &[Server],
    kvms: &[Kvm],
    id: &str,
) -> Option<std::sync::Arc<reimage_hostkeys::keys::HostKeyPair>> {
    if let Some(server) = servers.iter().find(|s| s.fixture.id.as_str() == id) {
        return server.console.current_key().cloned();
    }
    kvms.iter()
        .find(|k| k.fixture.id.as_str() == id)
        .and_then(|k| k.host_key.get().cloned())
}

/// The console of a fixture's server: the boot of its first install, long finished.
fn first_boot(fixture: &ServerFixture, config: &Config) -> crate::console::Console {
    let mut console = crate::console::Console::default();
    console.boot(
        &fixture.name,
        fixture.created.to_offset_date_time(),
        true,
        config.scaled(crate::console::CLOUD_INIT_BOOT),
        crate::console::BootFaults::default(),
    );
    console
}

/// Applies a job that has just ended to one of its servers.
fn apply(server: &mut Server, job: &Job) {
    let keep_timestamps = job.effect.as_ref().is_some_and(|e| e.keep_timestamps);
    if !keep_timestamps {
        server.updated = job.end;
    }
    let failed = job.failure.is_some();
    match job.kind {
        JobKind::Reinstall | JobKind::ChangeOs => {
            if let Some((_, reason)) = &job.failure {
                server.running = false;
                server.failed_os_job = true;
                server.fault = Some((reason.clone(), job.end));
            } else {
                if let Some(effect) = &job.effect {
                    server.image = effect.image.clone();
                    server.key_name = effect.key_name.clone();
                    server.user_data = effect.user_data.clone();
                    server.system_encrypted = effect.system_encrypted.clone();
                    server.system_cmkid = effect.system_cmkid.clone();
                    // The new system boots with new host keys.
                    server.console.boot(
                        &server.fixture.name,
                        job.end,
                        effect.cloud_init,
                        effect.boot_takes,
                        effect.boot_faults.clone(),
                    );
                }
                server.running = true;
                server.failed_os_job = false;
                server.fault = None;
                server.system_disk += 1;
                if !keep_timestamps {
                    server.launched_at = job.end;
                }
            }
        }
        JobKind::Stop => {
            if !failed {
                server.running = false;
            }
        }
        JobKind::Start => {
            if !failed {
                server.running = true;
                server.failed_os_job = false;
                server.fault = None;
                server.launched_at = job.end;
            }
        }
    }
}

/// How a server shows at a time: `status`, `OS-EXT-STS:vm_state`, `task_state`, `power_state`,
/// `progress`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerView {
    pub(crate) status: &'static str,
    pub(crate) vm_state: &'static str,
    pub(crate) task_state: Option<&'static str>,
    pub(crate) power_state: u64,
    pub(crate) progress: u64,
}

/// Where a reinstall or change of OS is, as the server shows it.
enum OsJobStage {
    /// `withStopServer` on a running server: `ACTIVE`, task state `powering-off`.
    PoweringOff,
    /// Powered off, the rebuild not begun: `SHUTOFF`, no task state.
    Stopped,
    /// `REBUILD` with this task state.
    Rebuild(&'static str),
}

/// The stage of `job` at `percent` (0 to 100) of its duration. A job that stops the server
/// first spends its first tenth powering off and the next twentieth stopped; the rebuild's
/// first fifth prepares the disks (`rebuild_block_device_mapping`) and its last fifth boots
/// the new OS (`rebuild_spawning`), as the ECS statuses page lists the task states of `REBUILD`.
fn os_job_stage(job: &Job, percent: i128) -> OsJobStage {
    let stops_first = job.effect.as_ref().is_some_and(|e| e.stops_first);
    let rebuild_from = if stops_first {
        if percent < 10 {
            return OsJobStage::PoweringOff;
        }
        if percent < 15 {
            return OsJobStage::Stopped;
        }
        15
    } else {
        0
    };
    let into = (percent - rebuild_from) * 100 / (100 - rebuild_from);
    OsJobStage::Rebuild(if into < 20 {
        "rebuild_block_device_mapping"
    } else if into < 80 {
        "rebuilding"
    } else {
        "rebuild_spawning"
    })
}

/// The server as the ECS statuses page maps vm_state and task_state to status.
pub(crate) fn server_view(server: &Server, jobs: &Jobs, now: OffsetDateTime) -> ServerView {
    // A job whose order waits to be paid has not touched the server yet.
    let job = server
        .job
        .as_deref()
        .and_then(|id| jobs.get(id).filter(|j| j.id == id && !j.settled))
        .filter(|j| !j.pending_payment(now));
    let rest_vm = if server.failed_os_job {
        "error"
    } else if server.running {
        "active"
    } else {
        "stopped"
    };
    match job.map(|j| (j.kind, j)) {
        Some((JobKind::Reinstall | JobKind::ChangeOs, j)) => {
            let total = (j.end - j.work_begin()).whole_milliseconds().max(1);
            let done = (now - j.work_begin()).whole_milliseconds().clamp(0, total);
            let progress = u64::try_from(done * 100 / total).unwrap_or(0);
            let vm_state = if server.failed_os_job {
                "error"
            } else {
                "stopped"
            };
            match os_job_stage(j, done * 100 / total) {
                OsJobStage::PoweringOff => ServerView {
                    status: "ACTIVE",
                    vm_state: "active",
                    task_state: Some("powering-off"),
                    power_state: 1,
                    progress,
                },
                OsJobStage::Stopped => ServerView {
                    status: "SHUTOFF",
                    vm_state,
                    task_state: None,
                    power_state: 4,
                    progress,
                },
                OsJobStage::Rebuild(task) => ServerView {
                    status: "REBUILD",
                    vm_state,
                    task_state: Some(task),
                    power_state: 4,
                    progress,
                },
            }
        }
        Some((JobKind::Stop, _)) => ServerView {
            status: if server.running { "ACTIVE" } else { "SHUTOFF" },
            vm_state: rest_vm,
            task_state: Some("powering-off"),
            power_state: if server.running { 1 } else { 4 },
            progress: 0,
        },
        Some((JobKind::Start, _)) => ServerView {
            status: if server.running { "ACTIVE" } else { "SHUTOFF" },
            vm_state: rest_vm,
            task_state: Some("powering-on"),
            power_state: if server.running { 1 } else { 4 },
            progress: 0,
        },
        None if server.failed_os_job => ServerView {
            status: "ERROR",
            vm_state: "error",
            task_state: None,
            power_state: 4,
            progress: 0,
        },
        None if server.running => ServerView {
            status: "ACTIVE",
            vm_state: "active",
            task_state: None,
            power_state: 1,
            progress: 0,
        },
        None => ServerView {
            status: "SHUTOFF",
            vm_state: "stopped",
            task_state: None,
            power_state: 4,
            progress: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_any_case() {
        let world = World::new(&Config::default());
        let id = world.servers[1].fixture.id.as_str().to_owned();
        let found = |id: &str| world.server(id).map(|s| s.fixture.id.as_str().to_owned());
        assert_eq!(found(&id).as_deref(), Some(id.as_str()));
        assert_eq!(
            found(&id.to_ascii_uppercase()).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(lower("AbC-1"), "abc-1");
        assert!(matches!(lower("abc-1"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(found("no-such-server"), None);
    }

    /// Start-up makes no host key: a key is made when the console, an SSH endpoint or the state
    /// first needs it, and is the same key afterwards.
    #[test]
    fn host_keys_are_made_when_first_needed() {
        let config = Config::default();
        let world = World::new(&config);
        assert!(!world.servers.is_empty() && !world.kvms.is_empty());
        let made = |w: &World| {
            w.servers
                .iter()
                .filter(|s| s.console.boots.iter().any(|b| b.key.is_made()))
                .count()
                + w.kvms.iter().filter(|k| k.host_key.is_made()).count()
        };
        assert_eq!(made(&world), 0);
        let id = world.servers[0].fixture.id.as_str().to_owned();
        let first = current_key(&world.servers, &world.kvms, &id).unwrap();
        assert_eq!(made(&world), 1);
        let again = current_key(&world.servers, &world.kvms, &id).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        let state = world.snapshot(&config, config.clock.now().to_offset_date_time());
        assert_eq!(made(&world), world.servers.len() + world.kvms.len());
        assert_eq!(
            state["ecs"]["servers"][0]["host_key"],
            serde_json::json!(reimage_hostkeys::keys::fingerprint(&first.public()))
        );
    }
}
