//! The fleet journal: what [`apply`](crate::apply) (`reimage fleet apply`) has done to each
//! target, made durable before the provider call that follows it, so that a rerun after a crash,
//! `kill -9` or a power cut resumes where it stopped and never re-images a server twice.
//!
//! # On disk
//!
//! A directory beside the plan (for example `plan.toml.journal/`, see [`beside`]) holding:
//!
//! - `journal.log`: JSON Lines, append-only, one [`Record`] per line, for example
//!   `{"key":"edis:1234","at_ms":1767225600000,"state":"sending","operation":"reinstall","baseline":{"status":"running"}}`.
//!   The latest line for a key is its state. A final line without its newline, or a final line
//!   that does not parse, is what a crash in the middle of a write leaves: it was never
//!   acknowledged, so it is dropped (and cut off before the next append). Any other line that
//!   does not parse is corruption, reported with its line number.
//! - `journal.log.tmp`: only while compacting (the latest record per key, sorted by key, synced,
//!   then renamed over `journal.log` and the directory synced). A leftover one is ignored.
//! - `lock`: the PID of the `apply` that holds the journal, with an advisory lock on it
//!   ([`File::try_lock`]) that the operating system releases when that process dies however it
//!   dies, so a lock left by `kill -9` or a power cut is taken over and a live one is refused.
//!   Removed on [`Journal::close`] and when the journal is dropped.
//!
//! The records a run writes for a target carry the [`Fingerprint`] of what the plan asked for
//! (`"fingerprint":{…}`, see [`crate::fingerprint`]): the operation, the image, a SHA-256 of the
//! user data, the kind of login and the mode, never a password. A record without one (written
//! by reimage 0.1, or one that nothing was sent for) has an unknown fingerprint.
//!
//! # Earlier runs
//!
//! `reimage fleet apply --new-run` starts the plan again: [`archive`] renames the journal
//! directory to `DIR.1` (then `DIR.2`, …, never over an existing one), under the journal's lock,
//! and the new run starts a fresh journal. [`earlier_runs`] lists them; nothing reads them again.
//!
//! # Durability and throughput
//!
//! One writer thread owns `journal.log`. [`Journal::record`] sends its line over a bounded
//! channel and waits; the writer takes every line waiting (group commit), appends them with one
//! write, calls `sync_data` once, then acknowledges each of them. So a record is on disk before
//! `record().await` returns, and many concurrent targets share each fsync.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use crate::fingerprint::Fingerprint;

mod runs;

pub use runs::{archive, earlier_runs, history, unsettled};

/// The log, inside the journal directory.
const LOG: &str = "journal.log";
/// Where compaction writes before renaming over [`LOG`].
const TMP: &str = "journal.log.tmp";
/// The lock file, inside the journal directory.
const LOCK: &str = "lock";
/// How many records may wait for the writer before `record()` waits for room.
const QUEUE: usize = 1024;
/// The most records written (and synced) together.
const MAX_BATCH: usize = 1024;
/// Logs at most this long are never compacted.
const COMPACT_MIN_LINES: usize = 1000;
/// How often [`Lock::acquire`] retries when the lock file is replaced under it.
const LOCK_ATTEMPTS: usize = 16;

/// One line of the journal: the state of one target at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The target, unique within the plan (for example `edis:1234` or `ecs:<server id>`).
    pub key: String,
    /// When the record was made, in milliseconds since the Unix epoch (see [`now_ms`]).
    pub at_ms: u64,
    /// The state the target reached.
    #[serde(flatten)]
    pub state: State,
    /// What the plan asked of the target when it was sent (see [`crate::fingerprint`]); `None`
    /// when unknown: a record that reimage 0.1 wrote, or one written before anything was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// What the stages after the job found (`wait = "ssh"` or `"cloud-init"`): the stage
    /// reached, the verified host keys, cloud-init's verdict. `None` in records of a target that
    /// waited for the job only, and in journals written before reimage ran the stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterJob>,
}

/// What the stages after an ECS job found, journaled with the target's records from the end of
/// its job on. Public keys' fingerprints only: a private key is never part of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AfterJob {
    /// The last stage passed: `job` (the job ended well), `ssh` (the host keys were verified
    /// and handed to the known_hosts writer) or `cloud-init` (its verdict was read).
    pub reached: String,
    /// The host keys verified against the console, from stage `ssh` on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_keys: Vec<HostKeyPrint>,
    /// The known_hosts file the keys were written to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// cloud-init's verdict, from stage `cloud-init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitVerdict>,
}

impl AfterJob {
    /// At stage `reached`, nothing found yet.
    pub fn at(reached: &str) -> Self {
        Self {
            reached: reached.to_owned(),
            ..Self::default()
        }
    }
}

/// One verified host key: its type and SHA-256 fingerprint, as `ssh-keygen -l` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostKeyPrint {
    /// The key type (`ED25519`, `ECDSA`, `RSA`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `SHA256:…`.
    pub fingerprint: String,
}

impl HostKeyPrint {
    /// The key of `kind` with `fingerprint`.
    pub fn new(kind: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            fingerprint: fingerprint.into(),
        }
    }
}

/// cloud-init's verdict, read from the console: its final message and the failures before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CloudInitVerdict {
    /// `done` (no errors) or `error`.
    pub status: String,
    /// The errors, one line each (control characters escaped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl CloudInitVerdict {
    /// `done` without errors, `error` with them.
    pub fn new(errors: Vec<String>) -> Self {
        Self {
            status: if errors.is_empty() { "done" } else { "error" }.to_owned(),
            errors,
        }
    }
}

/// What has happened to one target. On the wire, `"state"` names the variant (snake case) and
/// the variant's fields sit beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum State {
    /// Written and synced BEFORE the destructive request is sent. `baseline` is what the target
    /// looked like just before (for the evidence check on resume).
    Sending {
        /// The operation about to be sent (for example `reinstall`).
        operation: String,
        /// The target just before the request.
        #[serde(default)]
        baseline: Baseline,
    },
    /// The provider accepted it (job id for ECS), or evidence showed it took effect.
    Sent {
        /// The operation that was sent.
        operation: String,
        /// The provider's job id (ECS), if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
        /// What showed that it took effect, when the answer itself was lost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<String>,
        /// The target just before the request.
        #[serde(default)]
        baseline: Baseline,
    },
    /// Finished: the target runs the new image.
    Done {
        /// One line for the report.
        summary: String,
    },
    /// ECS with `wait = "ssh"` or `"cloud-init"`: the job ended well and the stages after it
    /// are under way; the record's [`after`](Record::after) says which stage was reached. A
    /// rerun resumes there, sending nothing.
    JobDone {
        /// One line for the report: what the job did.
        summary: String,
    },
    /// Re-imaged, and the server runs, but cloud-init reported errors (the record's
    /// [`after`](Record::after) lists them). Final, like `done`.
    CloudInitErrors {
        /// One line for the report.
        summary: String,
    },
    /// Failed before anything destructive happened, or the provider reported failure.
    Failed {
        /// Why, in one line.
        reason: String,
    },
    /// Sent, outcome unknown and no evidence either way: never re-sent automatically.
    Unknown {
        /// Why the outcome is unknown, in one line.
        reason: String,
    },
    /// Put back by hand (`reimage fleet resolve --retry`): the next run sends it as if it had
    /// never been started.
    Pending {
        /// Who put it back and what it was before, in one line.
        reason: String,
    },
    /// Forgotten by hand (`reimage fleet resolve --forget`): reading the journal drops the
    /// target, as if no record of it had ever been written.
    Forgotten {
        /// Who forgot it and what it was before, in one line.
        reason: String,
    },
}

/// What a target looked like just before the destructive request, as the provider reported it.
/// Every field is optional because providers report different things.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Baseline {
    /// The provider's last-updated time of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// When the server was last launched (booted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_at: Option<String>,
    /// The provider's status of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The power state of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<String>,
    /// The id of the server's system disk (ECS: the volume at boot index 0), which a rebuild
    /// replaces. Absent in journals written before reimage read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_disk: Option<String>,
}

impl Record {
    /// A record of `state` for the target `key`, made at `at_ms` (see [`now_ms`]).
    pub fn new(key: impl Into<String>, at_ms: u64, state: State) -> Self {
        Self {
            key: key.into(),
            at_ms,
            state,
            fingerprint: None,
            after: None,
        }
    }

    /// The record with what the stages after the job found (see [`Record::after`]).
    #[must_use]
    pub fn with_after(mut self, after: Option<AfterJob>) -> Self {
        self.after = after;
        self
    }

    /// The record with the fingerprint of what was sent (see [`Record::fingerprint`]).
    #[must_use]
    pub fn with_fingerprint(mut self, fingerprint: Option<Fingerprint>) -> Self {
        self.fingerprint = fingerprint;
        self
    }
}

impl State {
    /// The state's name, as the journal writes it: `sending`, `sent`, `job_done`, `done`,
    /// `cloud_init_errors`, `failed`, `unknown`, `pending` or `forgotten`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Sending { .. } => "sending",
            Self::Sent { .. } => "sent",
            Self::Done { .. } => "done",
            Self::JobDone { .. } => "job_done",
            Self::CloudInitErrors { .. } => "cloud_init_errors",
            Self::Failed { .. } => "failed",
            Self::Unknown { .. } => "unknown",
            Self::Pending { .. } => "pending",
            Self::Forgotten { .. } => "forgotten",
        }
    }

    /// One line about the state, for a status table: the operation (with the job id, or the
    /// evidence that it took effect, once sent), the summary when done, or the reason.
    pub fn detail(&self) -> String {
        match self {
            Self::Sending { operation, .. } => operation.clone(),
            Self::Sent {
                operation,
                job_id,
                evidence,
                ..
            } => match (job_id, evidence) {
                (Some(job), _) => format!("{operation}, job {job}"),
                (None, Some(e)) => format!("{operation}: {e}"),
                (None, None) => operation.clone(),
            },
            Self::Done { summary }
            | Self::JobDone { summary }
            | Self::CloudInitErrors { summary } => summary.clone(),
            Self::Failed { reason }
            | Self::Unknown { reason }
            | Self::Pending { reason }
            | Self::Forgotten { reason } => reason.clone(),
        }
    }
}

/// Why the journal could not be opened, read or written. `Display` is one line: the file, what
/// failed, and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal {}: could not {action}: {source}; {fix}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, after "could not".
        action: &'static str,
        /// The error from the operating system.
        source: io::Error,
        /// What to do about it.
        fix: &'static str,
    },
    /// A line other than the last does not parse: not something a crash leaves.
    #[error(
        "journal {} line {line} is corrupted ({problem}); only a torn last line is repaired automatically: \
         restore the line or delete it, after checking by hand the target it named, which may already have been re-imaged",
        .path.display()
    )]
    Corrupt {
        /// The log.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What the parser said.
        problem: String,
    },
    /// Another live process holds the journal.
    #[error(
        "journal lock {}: held by {} (another `reimage fleet apply` of this plan); wait for it to finish or stop it, then rerun",
        .lock.display(),
        holder(*.pid)
    )]
    Locked {
        /// The lock file.
        lock: PathBuf,
        /// The PID written in it, when it could be read.
        pid: Option<u32>,
    },
    /// Appending or syncing failed earlier; nothing after that is recorded.
    #[error(
        "journal {}: {detail}; nothing after that was recorded and no further request may be sent: \
         free disk space or fix permissions, then rerun to resume from the journal",
        .path.display()
    )]
    Write {
        /// The log.
        path: PathBuf,
        /// What failed and the operating system's error.
        detail: String,
    },
    /// The writer thread ended without an answer (it panicked).
    #[error("journal {}: the writer thread stopped unexpectedly; rerun to resume from the journal", .path.display())]
    Stopped {
        /// The log.
        path: PathBuf,
    },
    /// A new run was asked for while targets of the last one may still be at work.
    #[error(
        "journal {}: {} target(s) of the last run are not settled ({}): a new run could re-image \
         them while the last one is still at work; resume the run with `reimage fleet apply` \
         (without --new-run) until they end, or settle each with `reimage fleet resolve`",
        .path.display(),
        .targets.len(),
        runs::shown_targets(.targets)
    )]
    Unsettled {
        /// The journal directory.
        path: PathBuf,
        /// Each target that is not settled, with its state (`sending`, `sent` or `unknown`).
        targets: Vec<(String, &'static str)>,
    },
    /// A record could not be turned into JSON (a bug: every field is a string or a number).
    #[error(
        "journal record for {key}: could not encode it as JSON: {source}; this is a bug in reimage, please report it"
    )]
    Encode {
        /// The record's key.
        key: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

/// Names the holder of a lock for [`JournalError::Locked`].
fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_owned(),
    }
}

/// The usual fix for a failed file operation.
const FIX_IO: &str =
    "check that the directory exists and is writable and that the disk is not full, then rerun";

/// Wraps an operating-system error with the path and what was being done.
fn io_error(path: &Path, action: &'static str, source: io::Error) -> JournalError {
    JournalError::Io {
        path: path.to_path_buf(),
        action,
        source,
        fix: FIX_IO,
    }
}

/// Milliseconds since the Unix epoch, for [`Record::at_ms`]; 0 if the clock is before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The journal directory of a plan when none is given: `PLAN.journal` beside the plan file (for
/// `plans/wave1.toml`, `plans/wave1.toml.journal`), where `reimage fleet apply` and `status` look.
pub fn beside(plan: &Path) -> PathBuf {
    let mut name = plan
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".journal");
    plan.with_file_name(name)
}

/// Whether a log of `lines` lines holding `keys` keys is worth compacting.
fn needs_compaction(lines: usize, keys: usize) -> bool {
    lines > COMPACT_MIN_LINES.max(keys.saturating_mul(2))
}

/// A key's hash, to count the keys of a log without holding them: two keys with one hash (less
/// than one chance in a billion among 100,000 keys) only count as one, which at worst compacts a log a
/// little early.
fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// A log read from disk.
#[derive(Debug, Default)]
struct Replay {
    /// The latest record per key.
    latest: BTreeMap<String, Record>,
    /// How many records the log holds (torn last line excluded).
    lines: usize,
    /// The length of the log up to the end of its last good line.
    good_len: u64,
    /// Whether a torn last line follows `good_len`.
    torn: bool,
    /// Whether the log exists at all.
    exists: bool,
}

/// What [`scan`] found in a log, besides its records: [`Replay`] without `latest`.
#[derive(Debug, Default)]
struct Scanned {
    /// How many records the log holds (torn last line excluded).
    lines: usize,
    /// The length of the log up to the end of its last good line.
    good_len: u64,
    /// Whether a torn last line follows `good_len`.
    torn: bool,
    /// Whether the log exists at all.
    exists: bool,
}

/// The two fields of a record that compaction's first pass reads: serde skips the others
/// without building them.
#[derive(Debug, Deserialize)]
struct Head {
    /// [`Record::key`].
    key: String,
    /// [`State::word`].
    state: String,
}

/// [`State::word`] of [`State::Forgotten`].
const FORGOTTEN: &str = "forgotten";

/// Where a record's JSON text sits in the log: its first byte and its length, without the
/// line's end.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// The offset of the line's first byte.
    start: u64,
    /// The length of the JSON text.
    len: usize,
}

/// Reads `log` line by line, telling `each` every record in order with where its text sits. A
/// missing log is empty; a torn last line is set aside (see the module documentation); any other
/// bad line is [`JournalError::Corrupt`]. Only one line is held at a time.
///
/// Each line is read as a `T`: a whole [`Record`], or a [`Head`] where only the key and the
/// state are wanted (the other fields are skipped, not built). Reading stops at the first line
/// that starts at `limit` or after it (`u64::MAX`: the whole log).
fn scan<T: serde::de::DeserializeOwned>(
    log: &Path,
    limit: u64,
    each: &mut dyn FnMut(T, Span),
) -> Result<Scanned, JournalError> {
    let file = match File::open(log) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Scanned::default()),
        Err(error) => return Err(io_error(log, "open the log for reading", error)),
    };
    let mut reader = BufReader::new(file);
    let mut scanned = Scanned {
        exists: true,
        ..Scanned::default()
    };
    let mut line = Vec::new();
    let mut number = 0_usize;
    // A line that did not parse: corruption, unless nothing follows it.
    let mut bad: Option<(usize, String)> = None;
    loop {
        if scanned.good_len >= limit {
            break;
        }
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|error| io_error(log, "read the log", error))?;
        if read == 0 {
            break;
        }
        number += 1;
        if let Some((line, problem)) = bad.take() {
            return Err(JournalError::Corrupt {
                path: log.to_path_buf(),
                line,
                problem,
            });
        }
        let Some(text) = line.strip_suffix(b"\n") else {
            // No newline: the write was cut short, so it was never acknowledged.
            scanned.torn = true;
            break;
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            scanned.good_len += read as u64;
            continue;
        }
        match serde_json::from_slice::<T>(text) {
            Ok(record) => {
                let span = Span {
                    start: scanned.good_len,
                    len: text.len(),
                };
                scanned.lines += 1;
                scanned.good_len += read as u64;
                each(record, span);
            }
            Err(error) => bad = Some((number, error.to_string())),
        }
        if line.capacity() > 1 << 16 {
            line = Vec::new();
        }
    }
    if bad.is_some() {
        scanned.torn = true;
    }
    Ok(scanned)
}

/// Reads `log`, keeping only the latest record per key (a `forgotten` record drops its key). A
/// missing log is empty; a torn last line is set aside (see the module documentation); any other
/// bad line is [`JournalError::Corrupt`].
fn replay(log: &Path) -> Result<Replay, JournalError> {
    replay_each(log, &mut |_| {})
}

/// [`replay`], telling `each` every record read, in order.
fn replay_each(log: &Path, each: &mut dyn FnMut(&Record)) -> Result<Replay, JournalError> {
    let mut latest = BTreeMap::new();
    let Scanned {
        lines,
        good_len,
        torn,
        exists,
    } = scan(log, u64::MAX, &mut |record: Record, _| {
        each(&record);
        if matches!(record.state, State::Forgotten { .. }) {
            latest.remove(&record.key);
        } else {
            latest.insert(record.key.clone(), record);
        }
    })?;
    Ok(Replay {
        latest,
        lines,
        good_len,
        torn,
        exists,
    })
}

/// Reads the latest state per key without opening for writing (for `reimage fleet status`); safe
/// while an `apply` is writing. A missing directory or log is an empty map.
pub fn read(dir: &Path) -> Result<BTreeMap<String, Record>, JournalError> {
    Ok(replay(&dir.join(LOG))?.latest)
}

/// Syncs a directory, so that a file created or renamed in it survives a power cut. A no-op
/// where directories cannot be opened (not Unix).
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| io_error(dir, "sync the directory to disk", error))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// What one compaction did, for the log (`RUST_LOG=reimage_fleet=info`) and the benchmark.
#[derive(Debug, Clone, Copy)]
struct Compacted {
    /// The records the log held before.
    before: usize,
    /// The records it holds after: one per live key.
    after: usize,
    /// How long it took, from the first read to the directory's sync.
    took: std::time::Duration,
}

/// Replaces the log in `dir` by the latest record of each key, one line per key, sorted by key,
/// a `forgotten` key left out and a torn last line dropped: written to [`TMP`], synced, renamed
/// over [`LOG`], then the directory synced. A crash at any point leaves the old or the new log.
/// `when` (`open` or `close`) goes to the log line that says how long it took.
///
/// It streams: a first pass over the log reads only each line's key and state (a [`Head`]) and
/// keeps, per key, where its latest line sits, and a second reads those lines back one at a
/// time, in key order, and re-encodes each as [`Journal::record`] writes it. Every line before
/// `good_len` was read whole before (by [`Journal::open`]'s replay, or written by this process),
/// so the first pass need not check them again; it stops at `good_len`, so a last line that
/// replay set aside is left out here too, even where its key and state read as a [`Head`]. So
/// its memory is a key and an offset per target, whatever the records hold and however long the
/// log is.
fn compact(dir: &Path, when: &str, good_len: u64) -> Result<Compacted, JournalError> {
    let started = std::time::Instant::now();
    let log = dir.join(LOG);
    let mut latest: BTreeMap<String, Span> = BTreeMap::new();
    let scanned = scan(&log, good_len, &mut |head: Head, span| {
        if head.state == FORGOTTEN {
            latest.remove(&head.key);
        } else {
            latest.insert(head.key, span);
        }
    })?;
    let mut source =
        File::open(&log).map_err(|error| io_error(&log, "open the log for compacting", error))?;
    let tmp = dir.join(TMP);
    let file =
        File::create(&tmp).map_err(|error| io_error(&tmp, "create the compacted log", error))?;
    let mut writer = BufWriter::new(file);
    let mut text = Vec::new();
    for (key, span) in &latest {
        text.resize(span.len, 0);
        source
            .seek(SeekFrom::Start(span.start))
            .and_then(|_| source.read_exact(&mut text))
            .map_err(|error| io_error(&log, "read the log back while compacting it", error))?;
        let record = serde_json::from_slice::<Record>(&text).map_err(|error| {
            io_error(
                &log,
                "read the log back while compacting it",
                io::Error::other(format!(
                    "the latest record of {key} changed under the compaction: {error}"
                )),
            )
        })?;
        serde_json::to_writer(&mut writer, &record).map_err(|source| JournalError::Encode {
            key: record.key.clone(),
            source,
        })?;
        writer
            .write_all(b"\n")
            .map_err(|error| io_error(&tmp, "write the compacted log", error))?;
    }
    let file = writer
        .into_inner()
        .map_err(|error| io_error(&tmp, "write the compacted log", error.into_error()))?;
    file.sync_all()
        .map_err(|error| io_error(&tmp, "sync the compacted log to disk", error))?;
    drop(file);
    drop(source);
    fs::rename(&tmp, &log)
        .map_err(|error| io_error(&log, "replace the log by the compacted one", error))?;
    sync_dir(dir)?;
    let compacted = Compacted {
        before: scanned.lines,
        after: latest.len(),
        took: started.elapsed(),
    };
    tracing::info!(
        journal = %log.display(),
        when = %when,
        records_before = compacted.before,
        records_after = compacted.after,
        millis = compacted.took.as_secs_f64() * 1000.0,
        "journal compacted"
    );
    Ok(compacted)
}

/// Whether `pid` is a live process: `/proc/<pid>` on Linux; elsewhere assumed alive. Only used
/// where the filesystem has no advisory locks.
fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Reads the PID in a lock file, if there is one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether `path` still names the file `file` has open (it does not once the holder removed it).
#[cfg(unix)]
fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Whether `path` still names the file `file` has open; assumed elsewhere than on Unix.
#[cfg(not(unix))]
fn still_linked(_file: &File, _path: &Path) -> io::Result<bool> {
    Ok(true)
}

/// The exclusive hold on a journal directory: the `lock` file with this process's PID, locked.
/// Dropping it removes the file, then releases the lock.
#[derive(Debug)]
struct Lock {
    /// The lock file.
    path: PathBuf,
    /// The open, locked lock file: held, never read, until the lock is dropped.
    _file: File,
}

impl Lock {
    /// Takes the lock of `dir`, or says which process holds it. A lock file whose process is gone
    /// (`kill -9`, power cut) is taken over: the operating system released its lock.
    fn acquire(dir: &Path) -> Result<Lock, JournalError> {
        let path = dir.join(LOCK);
        for _ in 0..LOCK_ATTEMPTS {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|error| io_error(&path, "open the lock file", error))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(JournalError::Locked {
                        pid: read_pid(&mut file),
                        lock: path,
                    });
                }
                Err(TryLockError::Error(error)) if error.kind() == io::ErrorKind::Unsupported => {
                    // No advisory locks on this filesystem: go by the PID alone.
                    if let Some(pid) = read_pid(&mut file)
                        && pid_alive(pid)
                    {
                        return Err(JournalError::Locked {
                            pid: Some(pid),
                            lock: path,
                        });
                    }
                }
                Err(TryLockError::Error(error)) => {
                    return Err(io_error(&path, "lock the lock file", error));
                }
            }
            // The holder may have removed the file between our open and our lock: then the lock
            // is on a file nobody else will look at, so start again with the current one.
            if !still_linked(&file, &path)
                .map_err(|error| io_error(&path, "check the lock file", error))?
            {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(pid.as_bytes()))
                .map_err(|error| io_error(&path, "write the lock file", error))?;
            return Ok(Lock { path, _file: file });
        }
        Err(io_error(
            &path,
            "take the lock",
            io::Error::other(format!(
                "the lock file was replaced {LOCK_ATTEMPTS} times while taking it"
            )),
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes when `_file` is closed right after.
        let _ = fs::remove_file(&self.path);
    }
}

/// State shared by [`Journal`] and its writer thread.
#[derive(Debug, Default)]
struct Shared {
    /// The first append or sync failure; once set, every record is refused with it.
    failure: OnceLock<String>,
    /// How many times the writer synced the log (to check group commit).
    #[cfg(test)]
    syncs: std::sync::atomic::AtomicU64,
    /// Makes the next append fail, as a full disk would.
    #[cfg(test)]
    fail_next: std::sync::atomic::AtomicBool,
}

/// One record on its way to the writer.
#[derive(Debug)]
struct Request {
    /// The record's key.
    key: String,
    /// The record as JSON, with its newline.
    line: Vec<u8>,
    /// Answered once the line is synced (or failed).
    ack: oneshot::Sender<Result<(), JournalError>>,
}

/// The writer thread's side: owns the log and the lock.
#[derive(Debug)]
struct Writer {
    /// The journal directory.
    dir: PathBuf,
    /// The log.
    log: PathBuf,
    /// The log, opened for appending.
    file: File,
    /// How many records the log holds.
    lines: usize,
    /// The keys in the log, each as its [`key_hash`]: only counted (for [`needs_compaction`]),
    /// so a few bytes each rather than the key.
    keys: HashSet<u64>,
    /// Shared with [`Journal`].
    shared: Arc<Shared>,
    /// Held until the writer is done.
    lock: Lock,
}

impl Writer {
    /// Writes every batch that arrives until all senders are gone, then compacts if the log is
    /// much longer than the number of keys, and releases the lock. Returns the first failure.
    fn run(mut self, mut requests: mpsc::Receiver<Request>) -> Result<(), JournalError> {
        let mut batch = Vec::with_capacity(64);
        let mut buffer = Vec::new();
        while let Some(first) = requests.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let outcome = self.append(&batch, &mut buffer);
            for request in batch.drain(..) {
                let reply = match &outcome {
                    Ok(()) => {
                        self.lines += 1;
                        self.keys.insert(key_hash(&request.key));
                        Ok(())
                    }
                    Err(detail) => Err(JournalError::Write {
                        path: self.log.clone(),
                        detail: detail.clone(),
                    }),
                };
                // The caller may have stopped waiting; the line is written all the same.
                let _ = request.ack.send(reply);
            }
        }
        let Writer {
            dir,
            log,
            file,
            lines,
            keys,
            shared,
            lock,
        } = self;
        drop(file);
        if let Some(detail) = shared.failure.get() {
            return Err(JournalError::Write {
                path: log,
                detail: detail.clone(),
            });
        }
        if needs_compaction(lines, keys.len()) {
            compact(&dir, "close", u64::MAX)?;
        }
        drop(lock);
        Ok(())
    }

    /// Appends the lines of `batch` with one write and syncs once. Once this has failed, it fails
    /// every time without writing.
    fn append(&mut self, batch: &[Request], buffer: &mut Vec<u8>) -> Result<(), String> {
        if let Some(detail) = self.shared.failure.get() {
            return Err(detail.clone());
        }
        buffer.clear();
        for request in batch {
            buffer.extend_from_slice(&request.line);
        }
        #[cfg(test)]
        let injected = self
            .shared
            .fail_next
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        #[cfg(not(test))]
        let injected = false;
        let result = if injected {
            Err("could not append to the log: injected failure".to_owned())
        } else {
            self.file
                .write_all(buffer)
                .map_err(|error| format!("could not append to the log: {error}"))
                .and_then(|()| {
                    self.file
                        .sync_data()
                        .map_err(|error| format!("could not sync the log to disk: {error}"))
                })
        };
        match &result {
            Ok(()) => {
                #[cfg(test)]
                self.shared
                    .syncs
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(detail) => {
                let _ = self.shared.failure.set(detail.clone());
            }
        }
        if buffer.capacity() > 1 << 20 {
            *buffer = Vec::new();
        }
        result
    }
}

/// An open journal, held exclusively: records go through one writer thread that syncs them in
/// batches. Dropping it without [`Journal::close`] lets the writer finish in the background and
/// release the lock.
#[derive(Debug)]
pub struct Journal {
    /// The journal directory.
    #[cfg(test)]
    dir: PathBuf,
    /// The log, for error messages.
    log: PathBuf,
    /// To the writer thread (bounded).
    requests: mpsc::Sender<Request>,
    /// Shared with the writer thread.
    shared: Arc<Shared>,
    /// The writer thread's result, once it has stopped and released the lock.
    finished: oneshot::Receiver<Result<(), JournalError>>,
    /// The writer thread.
    thread: JoinHandle<()>,
}

impl Journal {
    /// Opens (creating) the journal directory `dir` (e.g. `<plan>.journal/`), takes its lock,
    /// replays `journal.log` into the latest record per key, cuts off a torn last line, compacts
    /// if the log has more than max(1000, 2 × live keys) lines, and starts the writer thread.
    pub fn open(dir: &Path) -> Result<(Journal, BTreeMap<String, Record>), JournalError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir)
                .map_err(|error| io_error(dir, "create the journal directory", error))?;
            let parent = match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            sync_dir(parent)?;
        }
        let lock = Lock::acquire(dir)?;
        let log = dir.join(LOG);
        let Replay {
            latest,
            mut lines,
            good_len,
            torn,
            exists,
        } = replay(&log)?;
        if needs_compaction(lines, latest.len()) {
            lines = compact(dir, "open", good_len)?.after;
        } else if torn {
            let file = OpenOptions::new().write(true).open(&log).map_err(|error| {
                io_error(&log, "open the log to cut off a torn last line", error)
            })?;
            file.set_len(good_len)
                .and_then(|()| file.sync_data())
                .map_err(|error| io_error(&log, "cut off a torn last line", error))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .map_err(|error| io_error(&log, "open the log for appending", error))?;
        if !exists {
            sync_dir(dir)?;
        }
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            dir: dir.to_path_buf(),
            log: log.clone(),
            file,
            lines,
            keys: latest.keys().map(|key| key_hash(key)).collect(),
            shared: Arc::clone(&shared),
            lock,
        };
        let (requests, receiver) = mpsc::channel(QUEUE);
        let (done, finished) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("reimage-journal".to_owned())
            .spawn(move || {
                let _ = done.send(writer.run(receiver));
            })
            .map_err(|error| io_error(&log, "start the journal writer thread", error))?;
        let journal = Journal {
            #[cfg(test)]
            dir: dir.to_path_buf(),
            log,
            requests,
            shared,
            finished,
            thread,
        };
        Ok((journal, latest))
    }

    /// Appends one record; returns once it is durable (synced). Waits for room when the writer is
    /// 1024 records behind. If the future is dropped early the record may still be written.
    pub async fn record(&self, record: Record) -> Result<(), JournalError> {
        if let Some(detail) = self.shared.failure.get() {
            return Err(JournalError::Write {
                path: self.log.clone(),
                detail: detail.clone(),
            });
        }
        let mut line = serde_json::to_vec(&record).map_err(|source| JournalError::Encode {
            key: record.key.clone(),
            source,
        })?;
        line.push(b'\n');
        let (ack, acked) = oneshot::channel();
        let request = Request {
            key: record.key,
            line,
            ack,
        };
        if self.requests.send(request).await.is_err() {
            return Err(self.stopped());
        }
        acked.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// Flushes, compacts the log if it is much longer than the number of keys, stops the writer
    /// thread and removes the lock. Returns the writer's first failure, if any.
    pub async fn close(self) -> Result<(), JournalError> {
        let Journal {
            log,
            requests,
            finished,
            thread,
            ..
        } = self;
        drop(requests);
        let result = finished
            .await
            .unwrap_or(Err(JournalError::Stopped { path: log }));
        // It has sent its result, so it has finished or is returning: this does not wait.
        let _ = thread.join();
        result
    }

    /// The journal directory.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The error for a writer that is gone: its failure, or that it stopped.
    fn stopped(&self) -> JournalError {
        match self.shared.failure.get() {
            Some(detail) => JournalError::Write {
                path: self.log.clone(),
                detail: detail.clone(),
            },
            None => JournalError::Stopped {
                path: self.log.clone(),
            },
        }
    }

    /// How many times the writer has synced the log.
    #[cfg(test)]
    fn syncs(&self) -> u64 {
        self.shared.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let unique = format!(
                "reimage-journal-{name}-{}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                now_ms()
            );
            let path = std::env::temp_dir().join(unique);
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }

        /// The journal directory inside (not created).
        fn journal(&self) -> PathBuf {
            self.0.join("plan.toml.journal")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record(key: &str, at_ms: u64, state: State) -> Record {
        Record::new(key, at_ms, state)
    }

    fn done(key: &str, at_ms: u64) -> Record {
        record(
            key,
            at_ms,
            State::Done {
                summary: format!("{key} done"),
            },
        )
    }

    fn log_lines(dir: &Path) -> Vec<String> {
        fs::read_to_string(dir.join(LOG))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn every_state() -> Vec<Record> {
        let baseline = Baseline {
            updated: Some("2026-01-01T00:00:00Z".to_owned()),
            launched_at: Some("2025-12-31T23:00:00Z".to_owned()),
            status: Some("ACTIVE".to_owned()),
            power: Some("running".to_owned()),
            system_disk: Some("0d150000-0000-4000-8000-000000000001".to_owned()),
        };
        vec![
            record(
                "a",
                1,
                State::Sending {
                    operation: "reinstall".to_owned(),
                    baseline: baseline.clone(),
                },
            ),
            record(
                "b",
                2,
                State::Sent {
                    operation: "change-os".to_owned(),
                    job_id: Some("job-1".to_owned()),
                    evidence: None,
                    baseline: Baseline::default(),
                },
            ),
            record(
                "c",
                3,
                State::Sent {
                    operation: "reinstall".to_owned(),
                    job_id: None,
                    evidence: Some("launched_at changed".to_owned()),
                    baseline,
                },
            ),
            record(
                "d",
                4,
                State::Done {
                    summary: "now ubuntu 24.04".to_owned(),
                },
            ),
            record(
                "e",
                5,
                State::Failed {
                    reason: "quota \"exceeded\"\nsecond line".to_owned(),
                },
            ),
            record(
                "f",
                6,
                State::Unknown {
                    reason: "timed out after sending".to_owned(),
                },
            ),
        ]
    }

    #[tokio::test]
    async fn every_state_round_trips() {
        let temp = TempDir::new("round-trip");
        let dir = temp.journal();
        let (journal, latest) = Journal::open(&dir).unwrap();
        assert!(latest.is_empty());
        assert_eq!(journal.path(), dir);
        for record in every_state() {
            journal.record(record).await.unwrap();
        }
        journal.close().await.unwrap();

        let expected: BTreeMap<String, Record> = every_state()
            .into_iter()
            .map(|record| (record.key.clone(), record))
            .collect();
        assert_eq!(read(&dir).unwrap(), expected);
        let (journal, latest) = Journal::open(&dir).unwrap();
        assert_eq!(latest, expected);
        journal.close().await.unwrap();

        let lines = log_lines(&dir);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            r#"{"key":"a","at_ms":1,"state":"sending","operation":"reinstall","baseline":{"updated":"2026-01-01T00:00:00Z","launched_at":"2025-12-31T23:00:00Z","status":"ACTIVE","power":"running","system_disk":"0d150000-0000-4000-8000-000000000001"}}"#
        );
        assert_eq!(
            lines[1],
            r#"{"key":"b","at_ms":2,"state":"sent","operation":"change-os","job_id":"job-1","baseline":{}}"#
        );
        assert_eq!(
            lines[3],
            r#"{"key":"d","at_ms":4,"state":"done","summary":"now ubuntu 24.04"}"#
        );
    }

    #[tokio::test]
    async fn the_latest_state_wins() {
        let temp = TempDir::new("latest");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        let sending = State::Sending {
            operation: "reinstall".to_owned(),
            baseline: Baseline::default(),
        };
        journal
            .record(record("x", 1, sending.clone()))
            .await
            .unwrap();
        journal.record(record("y", 2, sending)).await.unwrap();
        let sent = State::Sent {
            operation: "reinstall".to_owned(),
            job_id: None,
            evidence: None,
            baseline: Baseline::default(),
        };
        journal.record(record("x", 3, sent)).await.unwrap();
        journal.record(done("x", 4)).await.unwrap();
        journal
            .record(record(
                "y",
                5,
                State::Unknown {
                    reason: "lost".to_owned(),
                },
            ))
            .await
            .unwrap();
        journal.close().await.unwrap();

        let latest = read(&dir).unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!(latest["x"], done("x", 4));
        assert_eq!(
            latest["y"].state,
            State::Unknown {
                reason: "lost".to_owned()
            }
        );
        assert_eq!(log_lines(&dir).len(), 5);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_off() {
        for torn in [
            &br#"{"key":"b","at_ms":9,"sta"#[..],
            b"{\"key\":\"b\"\n",
            b"\0\0\0\0",
        ] {
            let temp = TempDir::new("torn");
            let dir = temp.journal();
            let (journal, _) = Journal::open(&dir).unwrap();
            journal.record(done("a", 1)).await.unwrap();
            journal.close().await.unwrap();
            let mut file = OpenOptions::new().append(true).open(dir.join(LOG)).unwrap();
            file.write_all(torn).unwrap();
            drop(file);

            // Reading leaves it alone; opening cuts it off.
            assert_eq!(read(&dir).unwrap().len(), 1);
            let (journal, latest) = Journal::open(&dir).unwrap();
            assert_eq!(latest.len(), 1);
            assert_eq!(log_lines(&dir).len(), 1);
            journal.record(done("b", 2)).await.unwrap();
            journal.close().await.unwrap();

            let latest = read(&dir).unwrap();
            assert_eq!(latest["a"], done("a", 1));
            assert_eq!(latest["b"], done("b", 2));
            assert_eq!(log_lines(&dir).len(), 2);
        }
    }

    #[tokio::test]
    async fn a_corrupted_middle_line_is_an_error_with_its_number() {
        let temp = TempDir::new("corrupt");
        let dir = temp.journal();
        fs::create_dir_all(&dir).unwrap();
        let good = serde_json::to_string(&done("a", 1)).unwrap();
        fs::write(dir.join(LOG), format!("{good}\n{good}\nnot json\n{good}\n")).unwrap();

        let error = read(&dir).unwrap_err();
        assert!(
            matches!(error, JournalError::Corrupt { line: 3, .. }),
            "{error:?}"
        );
        let message = Journal::open(&dir).unwrap_err().to_string();
        assert!(message.contains("line 3 is corrupted"), "{message}");
        assert!(
            message.contains(&dir.join(LOG).display().to_string()),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        // The failed open released its lock.
        assert!(!dir.join(LOCK).exists());
        // Untouched.
        assert_eq!(log_lines(&dir).len(), 4);
    }

    #[tokio::test]
    async fn open_compacts_a_long_log() {
        let temp = TempDir::new("compact-open");
        let dir = temp.journal();
        fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for at in 0..3000_u64 {
            let key = format!("k{}", at % 10);
            text.push_str(&serde_json::to_string(&done(&key, at)).unwrap());
            text.push('\n');
        }
        fs::write(dir.join(LOG), &text).unwrap();
        let before = fs::metadata(dir.join(LOG)).unwrap().len();

        let (journal, latest) = Journal::open(&dir).unwrap();
        let after = fs::metadata(dir.join(LOG)).unwrap().len();
        assert!(after * 100 < before, "{before} -> {after}");
        assert_eq!(log_lines(&dir).len(), 10);
        assert_eq!(latest.len(), 10);
        for (index, key) in (0..10).map(|k| format!("k{k}")).enumerate() {
            assert_eq!(latest[&key], done(&key, 2990 + index as u64));
        }
        assert!(!dir.join(TMP).exists());
        journal.record(done("k0", 5000)).await.unwrap();
        journal.close().await.unwrap();
        let reread = read(&dir).unwrap();
        assert_eq!(reread["k0"], done("k0", 5000));
        assert_eq!(reread["k9"], done("k9", 2999));
    }

    /// A bad last line that ends in a newline is set aside by replay; the compaction at open
    /// leaves it out too, even where its key and state alone read well: a `forgotten` line
    /// without its reason must not drop the key (the next run would re-image it), and a line
    /// that is not a whole record must not stop the journal from opening.
    #[tokio::test]
    async fn open_compacts_without_a_bad_last_line() {
        for last in [
            r#"{"key":"k1","at_ms":9000,"state":"forgotten"}"#,
            r#"{"key":"k1","state":"done"}"#,
            r#"{"key":"k1","at_ms":9000,"state":"a state of a newer reimage"}"#,
        ] {
            let temp = TempDir::new("compact-open-bad-last");
            let dir = temp.journal();
            fs::create_dir_all(&dir).unwrap();
            let mut text = String::new();
            for at in 0..1500_u64 {
                let key = format!("k{}", at % 3);
                text.push_str(&serde_json::to_string(&done(&key, at)).unwrap());
                text.push('\n');
            }
            text.push_str(last);
            text.push('\n');
            fs::write(dir.join(LOG), &text).unwrap();

            let (journal, latest) = Journal::open(&dir).unwrap_or_else(|e| panic!("{last}: {e}"));
            assert_eq!(latest["k1"], done("k1", 1498), "{last}");
            assert_eq!(log_lines(&dir).len(), 3, "{last}");
            journal.close().await.unwrap();
            let reread = read(&dir).unwrap();
            assert_eq!(reread.len(), 3, "{last}");
            assert_eq!(reread["k1"], done("k1", 1498), "{last}");
        }
    }

    #[tokio::test]
    async fn close_compacts_a_long_log() {
        let temp = TempDir::new("compact-close");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        for at in 0..1500_u64 {
            journal
                .record(done(&format!("k{}", at % 3), at))
                .await
                .unwrap();
        }
        assert_eq!(log_lines(&dir).len(), 1500);
        journal.close().await.unwrap();
        assert_eq!(log_lines(&dir).len(), 3);
        assert_eq!(read(&dir).unwrap()["k2"], done("k2", 1499));
    }

    /// What compaction wrote before it streamed: the whole log replayed into the latest record
    /// per key, then each encoded on its own line, in key order.
    fn compacted_in_memory(log: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for record in replay(log).unwrap().latest.values() {
            serde_json::to_writer(&mut out, record).unwrap();
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn streamed_compaction_writes_what_the_in_memory_one_wrote() {
        let temp = TempDir::new("compact-same");
        let dir = temp.journal();
        fs::create_dir_all(&dir).unwrap();
        // Every state, keys out of order and rewritten many times, a forgotten key, a record
        // forgotten then written again, a blank line, a CRLF line, a line written by reimage 0.1
        // (whose fields come in another order, with spaces), and a torn last line.
        let mut text = String::new();
        let mut push = |record: &Record| {
            text.push_str(&serde_json::to_string(record).unwrap());
            text.push('\n');
        };
        for round in 0..40_u64 {
            for (n, mut record) in every_state().into_iter().enumerate() {
                record.key = format!("k{}", (n as u64 * 7 + round) % 13);
                record.at_ms = round * 100 + n as u64;
                push(&record);
            }
        }
        let forgotten = |key: &str, at_ms| {
            record(
                key,
                at_ms,
                State::Forgotten {
                    reason: "by hand".to_owned(),
                },
            )
        };
        push(&forgotten("k3", 9000));
        push(&forgotten("k4", 9001));
        push(&done("k4", 9002));
        text.push('\n');
        text.push_str(&serde_json::to_string(&done("k5", 9003)).unwrap());
        text.push_str("\r\n");
        text.push_str(
            "{ \"state\": \"done\", \"summary\": \"from 0.1\", \"at_ms\": 9004, \"key\": \"k6\" }\n",
        );
        text.push_str(r#"{"key":"k7","at_ms":9005,"sta"#);
        fs::write(dir.join(LOG), &text).unwrap();
        let expected = compacted_in_memory(&dir.join(LOG));

        let compacted = compact(&dir, "test", u64::MAX).unwrap();
        let written = fs::read(dir.join(LOG)).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        assert_eq!(compacted.before, 40 * every_state().len() + 5);
        // k0..k12 less k3 (forgotten); k4 came back.
        assert_eq!(compacted.after, 12);
        assert!(!dir.join(TMP).exists());
        let latest = read(&dir).unwrap();
        assert!(!latest.contains_key("k3"));
        assert_eq!(latest["k4"], done("k4", 9002));
        assert_eq!(latest["k6"].state.detail(), "from 0.1");
        // Compacting a compacted log changes nothing.
        let once = fs::read(dir.join(LOG)).unwrap();
        compact(&dir, "test", u64::MAX).unwrap();
        assert_eq!(fs::read(dir.join(LOG)).unwrap(), once);
    }

    #[test]
    fn a_journal_of_reimage_0_1_compacts_as_it_did() {
        let temp = TempDir::new("compact-v01");
        let dir = temp.journal();
        fs::create_dir_all(&dir).unwrap();
        let old = include_str!("../../tests/data/journal-v0.1.log");
        fs::write(dir.join(LOG), old).unwrap();
        let expected = compacted_in_memory(&dir.join(LOG));
        let before = read(&dir).unwrap();
        assert!(!before.is_empty());
        compact(&dir, "test", u64::MAX).unwrap();
        assert_eq!(fs::read(dir.join(LOG)).unwrap(), expected);
        assert_eq!(read(&dir).unwrap(), before);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn concurrent_records_share_syncs() {
        let temp = TempDir::new("concurrent");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        let journal = Arc::new(journal);
        let start = Arc::new(tokio::sync::Barrier::new(200));
        let tasks: Vec<_> = (0..200)
            .map(|task| {
                let journal = Arc::clone(&journal);
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    journal.record(done(&format!("t{task:03}"), task)).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let syncs = journal.syncs();
        eprintln!("200 concurrent records: {syncs} syncs");
        assert!(syncs < 200, "{syncs} syncs for 200 records");
        let journal = Arc::into_inner(journal).unwrap();
        journal.close().await.unwrap();
        assert_eq!(log_lines(&dir).len(), 200);
        let latest = read(&dir).unwrap();
        assert_eq!(latest.len(), 200);
        assert_eq!(latest["t123"], done("t123", 123));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn ten_thousand_records_from_64_tasks_are_all_kept() {
        let temp = TempDir::new("timing");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        let journal = Arc::new(journal);
        let tasks: Vec<_> = (0..64_u64)
            .map(|task| {
                let journal = Arc::clone(&journal);
                tokio::spawn(async move {
                    for target in (task..10_000).step_by(64) {
                        let state = State::Sending {
                            operation: "reinstall".to_owned(),
                            baseline: Baseline {
                                status: Some("ACTIVE".to_owned()),
                                ..Baseline::default()
                            },
                        };
                        journal
                            .record(record(&format!("ecs:{target:05}"), now_ms(), state))
                            .await?;
                    }
                    Ok::<(), JournalError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let syncs = journal.syncs();
        let size = fs::metadata(dir.join(LOG)).unwrap().len();
        eprintln!(
            "10000 records from 64 tasks: {syncs} syncs, {size} bytes in {}",
            dir.display()
        );
        Arc::into_inner(journal).unwrap().close().await.unwrap();
        assert_eq!(read(&dir).unwrap().len(), 10_000);
    }

    #[tokio::test]
    async fn a_live_lock_is_refused() {
        let temp = TempDir::new("lock");
        let dir = temp.journal();
        let (first, _) = Journal::open(&dir).unwrap();
        let lock = dir.join(LOCK);
        assert_eq!(
            fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );

        let error = Journal::open(&dir).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, JournalError::Locked { pid: Some(pid), .. } if pid == std::process::id()),
            "{error:?}"
        );
        assert!(message.contains(&lock.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
        // Reading is still allowed.
        assert!(read(&dir).unwrap().is_empty());

        first.close().await.unwrap();
        assert!(!lock.exists());
        let (second, _) = Journal::open(&dir).unwrap();
        second.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_stale_lock_is_taken_over() {
        let temp = TempDir::new("stale");
        let dir = temp.journal();
        fs::create_dir_all(&dir).unwrap();
        let lock = dir.join(LOCK);
        fs::write(&lock, "999999999\n").unwrap();

        let (journal, _) = Journal::open(&dir).unwrap();
        assert_eq!(
            fs::read_to_string(&lock).unwrap(),
            format!("{}\n", std::process::id())
        );
        journal.record(done("a", 1)).await.unwrap();
        journal.close().await.unwrap();
        assert!(!lock.exists());
    }

    #[tokio::test]
    async fn dropping_releases_the_lock() {
        let temp = TempDir::new("drop");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        journal.record(done("a", 1)).await.unwrap();
        drop(journal);
        // The writer thread finishes in the background: wait for it, but not forever.
        let limit = std::time::Duration::from_secs(10);
        let deadline = Instant::now() + limit;
        while dir.join(LOCK).exists() {
            assert!(
                Instant::now() < deadline,
                "the lock file {} is still there {limit:?} after the journal was dropped: the \
                 writer thread did not finish and release it",
                dir.join(LOCK).display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (journal, latest) = Journal::open(&dir).unwrap();
        assert_eq!(latest.len(), 1);
        journal.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_write_failure_fails_every_later_record() {
        let temp = TempDir::new("failure");
        let dir = temp.journal();
        let (journal, _) = Journal::open(&dir).unwrap();
        journal.record(done("a", 1)).await.unwrap();
        journal.shared.fail_next.store(true, Ordering::SeqCst);
        let error = journal.record(done("b", 2)).await.unwrap_err();
        assert!(matches!(error, JournalError::Write { .. }), "{error:?}");
        assert!(error.to_string().contains("injected failure"), "{error}");
        let error = journal.record(done("c", 3)).await.unwrap_err();
        assert!(matches!(error, JournalError::Write { .. }), "{error:?}");
        assert!(journal.close().await.is_err());
        assert_eq!(read(&dir).unwrap().len(), 1);
        assert!(!dir.join(LOCK).exists());
    }

    #[test]
    fn reading_a_missing_directory_is_empty() {
        let temp = TempDir::new("missing");
        assert!(read(&temp.journal()).unwrap().is_empty());
    }

    #[test]
    fn the_journal_sits_beside_the_plan() {
        assert_eq!(
            beside(Path::new("plans/wave1.toml")),
            Path::new("plans/wave1.toml.journal")
        );
        assert_eq!(
            beside(Path::new("wave1.toml")),
            Path::new("wave1.toml.journal")
        );
    }

    #[test]
    fn every_state_has_a_word_and_a_detail() {
        let shown: Vec<(&str, String)> = every_state()
            .iter()
            .map(|record| (record.state.word(), record.state.detail()))
            .collect();
        assert_eq!(
            shown,
            [
                ("sending", "reinstall".to_owned()),
                ("sent", "change-os, job job-1".to_owned()),
                ("sent", "reinstall: launched_at changed".to_owned()),
                ("done", "now ubuntu 24.04".to_owned()),
                ("failed", "quota \"exceeded\"\nsecond line".to_owned()),
                ("unknown", "timed out after sending".to_owned()),
            ]
        );
    }

    #[test]
    fn a_fingerprint_follows_the_state_and_may_be_absent() {
        let fingerprint = Fingerprint {
            operation: "edis.reinstall".to_owned(),
            image: Some("cloudinit_debian-bookworm".to_owned()),
            login: "root-password".to_owned(),
            ..Fingerprint::default()
        };
        let with = done("a", 1).with_fingerprint(Some(fingerprint));
        let line = serde_json::to_string(&with).unwrap();
        assert_eq!(
            line,
            r#"{"key":"a","at_ms":1,"state":"done","summary":"a done","fingerprint":{"operation":"edis.reinstall","image":"cloudinit_debian-bookworm","login":"root-password"}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), with);
        let without = serde_json::to_string(&done("a", 1)).unwrap();
        assert!(!without.contains("fingerprint"), "{without}");
        for state in [
            State::Pending {
                reason: "by hand".to_owned(),
            },
            State::Forgotten {
                reason: "by hand".to_owned(),
            },
        ] {
            let by_hand = record("b", 2, state);
            let line = serde_json::to_string(&by_hand).unwrap();
            assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), by_hand);
            assert_eq!(by_hand.state.detail(), "by hand");
        }
    }

    #[test]
    fn what_the_stages_found_follows_the_state_and_old_lines_load_without_it() {
        let mut after = AfterJob::at("cloud-init");
        after.host_keys = vec![HostKeyPrint::new("ED25519", "SHA256:abc")];
        after.known_hosts = Some("kh".to_owned());
        after.cloud_init = Some(CloudInitVerdict::new(vec![
            "module scripts_user failed".to_owned(),
        ]));
        let with = record(
            "ecs:x",
            7,
            State::CloudInitErrors {
                summary: "ACTIVE; cloud-init reported errors".to_owned(),
            },
        )
        .with_after(Some(after));
        let line = serde_json::to_string(&with).unwrap();
        assert_eq!(
            line,
            r#"{"key":"ecs:x","at_ms":7,"state":"cloud_init_errors","summary":"ACTIVE; cloud-init reported errors","after":{"reached":"cloud-init","host_keys":[{"type":"ED25519","fingerprint":"SHA256:abc"}],"known_hosts":"kh","cloud_init":{"status":"error","errors":["module scripts_user failed"]}}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), with);
        assert_eq!(with.state.word(), "cloud_init_errors");
        let job_done = record(
            "ecs:y",
            8,
            State::JobDone {
                summary: "ACTIVE".to_owned(),
            },
        )
        .with_after(Some(AfterJob::at("job")));
        let line = serde_json::to_string(&job_done).unwrap();
        assert!(line.contains(r#""state":"job_done""#), "{line}");
        assert!(line.contains(r#""after":{"reached":"job"}"#), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), job_done);
        // A line written before the stages existed: no `after`, and it loads as it did.
        let old: Record = serde_json::from_str(
            r#"{"key":"ecs:z","at_ms":9,"state":"done","summary":"ACTIVE, image i"}"#,
        )
        .unwrap();
        assert_eq!(old.after, None);
        assert_eq!(old.state.word(), "done");
        assert!(!serde_json::to_string(&old).unwrap().contains("after"));
    }
}
