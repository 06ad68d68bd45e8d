//! The `reimage fleet` command line: `check`, `apply`, `status` and `resolve`. Flags, the
//! confirmation prompt (after the accounts it will use), the live lines, the tables and Ctrl-C
//! are here; the plan, the journal, the fingerprints and apply are `reimage-fleet`'s.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use reimage_client::PollSchedule;
use reimage_config::{Flags, Resolved};

use reimage_fleet::apply::{
    self, Clients, ConnectEcs, ConnectEdis, Event, Outcome, Settings, Stop,
};
use reimage_fleet::fingerprint::{self, Changed};
use reimage_fleet::journal::{self, Journal, JournalError};
use reimage_fleet::plan::{self, Plan};

use crate::common::{self, Connection, Failure, Output, exit};

/// `fleet apply` stopped by Ctrl-C: 128 + SIGINT, as a shell reports a process that SIGINT
/// ended.
const INTERRUPTED: u8 = 130;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Connection,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a plan offline (ids, images, user data with the image's cloud-init version,
    /// passwords, credentials of each profile) and print what would happen. A target whose plan
    /// entry changed since the journal beside the plan says it was sent is a problem too. Exit
    /// code 3 if any target has a problem.
    Check {
        /// The plan file (TOML).
        plan: PathBuf,
        /// Where the journal is (default: `PLAN.journal/` beside the plan), if there is one.
        #[arg(long = "state-dir", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// `text`: a table; `json`: one document.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Re-image every target of a plan: bounded concurrency, one rate limit for all, each step
    /// journaled before the call that follows it. Rerun after a crash to resume; no server is
    /// re-imaged twice.
    ///
    /// Before it asks, it lists the accounts it will use (endpoint, project, the IAM domain or
    /// the first 4 characters of the access key, the EDIS e-mail) with the number of targets of
    /// each. A target done (or sent) with another image, user data, login or mode than the plan
    /// now says is changed: apply then sends nothing and exits 2, naming them; `--new-run`
    /// starts the plan again, `reimage fleet resolve` settles one target. Ctrl-C starts no more
    /// targets, lets each request in flight get its answer and its journal record, prints the
    /// summary and the command that resumes, and exits 130 (a second Ctrl-C quits at once; the
    /// journal is safe either way).
    ///
    /// Exit codes: 0 all done; 1 a target failed or was skipped; 2 usage, or changed targets;
    /// 3 the plan has problems, or `--new-run` while a target of the last run is not settled;
    /// 6 an outcome is unknown; 7 not confirmed; 130 interrupted by Ctrl-C.
    Apply(ApplyArgs),
    /// Settle by hand a target that apply will not: one whose outcome is unknown (sent, and
    /// nothing says whether it took effect), or one whose plan entry changed since it was done.
    ///
    /// It shows the evidence first: the target's records in the journal, what the plan asks for
    /// now, and (for `--done` and `--retry`) what the provider says of the server now, read with
    /// the target's profile. Then it asks (`--yes` for scripts) and appends one record to the
    /// journal, under its lock: `--done` (done, with the plan's fingerprint: apply skips it),
    /// `--retry` (pending: the next apply sends it) or `--forget` (the journal drops it; the one
    /// choice for a target no longer in the plan).
    ///
    /// Exit codes: 0 recorded; 1 the journal could not be read or written; 9 another run holds
    /// it; 2 usage (a target neither in the plan nor in its journal, no `--yes` without a
    /// terminal); 3 refused (nothing to settle: no record, done already as the plan asks, or a
    /// target in flight that apply settles itself); 7 not confirmed.
    Resolve(super::resolve::Args),
    /// Show the journal of a plan: each target's last state, and which targets changed in the
    /// plan since they were sent.
    Status {
        /// The plan file (TOML).
        plan: PathBuf,
        /// Where the journal is (default: `PLAN.journal/` beside the plan).
        #[arg(long = "state-dir", value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// `text`: a table; `json`: one document.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    /// The plan file (TOML).
    plan: PathBuf,

    /// Targets worked on at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,

    /// At most this many API requests per second, across all targets (`10` or `10/s`). A
    /// `Retry-After` from the provider pauses every target.
    #[arg(long, value_name = "R/s", default_value = "10", value_parser = parse_rate)]
    rate: f64,

    /// Stop starting targets after the first failure (the running ones finish).
    #[arg(long = "fail-fast")]
    fail_fast: bool,

    /// Try again the targets whose last attempt failed (an unknown outcome is never re-sent).
    #[arg(long = "retry-failed")]
    retry_failed: bool,

    /// Where the journal is (default: `PLAN.journal/` beside the plan).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// How long each target's wait may take: seconds or a duration (`90s`, `30m`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "1800", value_parser = common::parse_duration_secs)]
    deadline: u64,

    /// The first interval between polls of a job, in milliseconds (it grows to 7.5 times that).
    #[arg(long = "poll-ms", value_name = "MS", default_value_t = 2000)]
    poll_ms: u64,

    /// After a crash, how old (in seconds) a send without an answer must be before the provider
    /// is asked whether it arrived.
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = common::parse_duration_secs)]
    settle: u64,

    /// The shortest time an EDIS install takes, in seconds. After a crash, a KVM found powered on
    /// as before is sent again only if the unanswered send is younger than this; otherwise "the
    /// install never began" and "it began and finished" cannot be told apart, and the target is
    /// left unknown rather than re-imaged twice.
    #[arg(
        long = "edis-min-install",
        value_name = "DURATION",
        default_value = "120",
        value_parser = common::parse_duration_secs
    )]
    edis_min_install: u64,

    /// Answer the confirmation with yes (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,

    /// Start the plan again: the journal of the last run is kept beside it (`PLAN.journal.1`,
    /// then `.2`, …, never overwritten), and every target is re-imaged again, the ones done
    /// before too. Refused while a target of the last run is `sending`, `sent` or `unknown`.
    #[arg(long = "new-run")]
    new_run: bool,

    /// `text`: live lines and a summary table; `json`: the summary as one document.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches("/s");
    match number.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate; give requests per second, such as 10 or 10/s"
        )),
    }
}

/// Runs `reimage fleet …`.
pub(crate) fn run(args: &Args) -> u8 {
    let (name, output, result) = match &args.command {
        Command::Check {
            plan,
            state_dir,
            output,
        } => (
            "fleet check",
            *output,
            check(args, plan, state_dir.as_deref(), *output),
        ),
        Command::Apply(a) => ("fleet apply", a.output, apply(args, a)),
        Command::Resolve(r) => (
            "fleet resolve",
            r.output,
            super::resolve::run(&args.conn, r),
        ),
        Command::Status {
            plan,
            state_dir,
            output,
        } => (
            "fleet status",
            *output,
            status(plan, state_dir.as_deref(), *output),
        ),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(name, output),
    }
}

pub(super) fn load(plan: &Path) -> Result<Plan, Failure> {
    plan::load(plan).map_err(|e| Failure::usage(e.to_string()))
}

/// A journal error: exit 1, its one line.
pub(super) fn journal_failure(error: &JournalError) -> Failure {
    let code = match error {
        // Another run holds the journal: nothing was sent; not a provider's refusal.
        JournalError::Locked { .. } => exit::BUSY,
        _ => exit::FAILED,
    };
    Failure::new(code, error.to_string())
}

/// A word as a POSIX shell reads it back: as it is when it holds only safe characters, else in
/// single quotes.
pub(super) fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The plan's path, as a shell word for the commands the hints show.
fn plan_word(plan: &Path) -> String {
    shell_word(&plan.display().to_string())
}

pub(super) fn journal_dir(plan: &Path, state_dir: Option<&Path>) -> PathBuf {
    match state_dir {
        Some(dir) => dir.to_owned(),
        None => journal::beside(plan),
    }
}

/// Resolves a profile's settings; each profile is read once.
pub(super) fn resolver(
    conn: &Connection,
) -> impl Fn(Option<&str>) -> Result<Resolved, String> + Send + Sync + 'static {
    let conn = conn.clone();
    let cache: Mutex<HashMap<Option<String>, Resolved>> = Mutex::new(HashMap::new());
    move |profile: Option<&str>| {
        let key = profile.map(str::to_owned);
        let mut cache = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = cache.get(&key) {
            return Ok(r.clone());
        }
        let mut flags = Flags::default();
        flags.profile = key.clone().or_else(|| conn.profile.clone());
        flags.config.clone_from(&conn.config);
        flags.ca_file.clone_from(&conn.ca_file);
        // No `*_file` flag is given, so stdin is never read.
        let resolved = reimage_config::infer(&flags).map_err(|e| e.to_string())?;
        cache.insert(key, resolved.clone());
        Ok(resolved)
    }
}

fn check(
    args: &Args,
    path: &Path,
    state_dir: Option<&Path>,
    output: Output,
) -> Result<u8, Failure> {
    let plan = load(path)?;
    let (inputs, _) = plan::Inputs::load(&plan);
    let resolve = resolver(&args.conn);
    let mut rows = plan::check(&plan, &inputs, &plan::credentials_ok(&resolve));
    // The journal beside the plan, if there is one: a target changed since it was sent is a
    // problem, as `apply` refuses it.
    let latest = journal::read(&journal_dir(path, state_dir)).map_err(|e| journal_failure(&e))?;
    for changed in fingerprint::changed(&plan, &inputs, &latest) {
        if let Some(row) = rows.iter_mut().find(|r| r.key == changed.key) {
            row.problems.push(format!(
                "{}; `reimage fleet apply` sends nothing while it differs: `--new-run` starts \
                 the plan again, `reimage fleet resolve {} {} --retry` re-images this target, \
                 `--done` keeps it as it is",
                changed.line(),
                plan_word(path),
                changed.key
            ));
        }
    }
    match output {
        Output::Json => common::print_json(&plan::rows_json(&rows)),
        Output::Text => crate::say(plan::render_table(&rows).trim_end()),
    }
    Ok(if rows.iter().any(|r| !r.problems.is_empty()) {
        exit::REFUSED
    } else {
        exit::OK
    })
}

fn apply(args: &Args, a: &ApplyArgs) -> Result<u8, Failure> {
    let plan = load(&a.plan)?;
    let (inputs, _) = plan::Inputs::load(&plan);
    let resolve = Arc::new(resolver(&args.conn));
    // The check's rows (a few strings per target) are dropped once counted: they are not held
    // through the run.
    let rows = plan::check(&plan, &inputs, &plan::credentials_ok(&*resolve));
    let problems = rows.iter().filter(|r| !r.problems.is_empty()).count();
    if problems > 0 {
        for row in rows.iter().filter(|r| !r.problems.is_empty()).take(20) {
            crate::note(&format!("{}: {}", row.key, row.problems.join("; ")));
        }
    }
    drop(rows);
    if problems > 0 {
        return Err(Failure::new(
            exit::REFUSED,
            format!("{problems} target(s) of the plan have problems; nothing was sent"),
        )
        .hint(format!(
            "see them all with: reimage fleet check {}",
            a.plan.display()
        )));
    }
    // What the journal says, before asking: a changed plan, or a new run that cannot start, is
    // refused without a question. Both are checked again once the journal is held.
    let dir = journal_dir(&a.plan, a.state_dir.as_deref());
    let journaled = journal::read(&dir).map_err(|e| journal_failure(&e))?;
    if a.new_run {
        let targets = journal::unsettled(&journaled);
        if !targets.is_empty() {
            let error = JournalError::Unsettled { path: dir, targets };
            return Err(Failure::new(exit::REFUSED, error.to_string()));
        }
    } else {
        let changed = fingerprint::changed(&plan, &inputs, &journaled);
        if !changed.is_empty() {
            return Err(changed_failure(&a.plan, &changed));
        }
    }
    // Only whether there was a journal is used from here on: the records are read again, under
    // the lock, by `Journal::open`, so they are not held twice through the run.
    let journaled_before = !journaled.is_empty();
    drop(journaled);
    crate::note("the accounts this run uses:");
    for line in super::accounts::lines(&plan, &*resolve) {
        crate::note(&line);
    }
    let what = if a.new_run && journaled_before {
        format!(
            "start a new run of {}: re-image its {} target(s) again, with the accounts above \
             (the journal of the last run is kept beside it)",
            a.plan.display(),
            plan.targets.len()
        )
    } else {
        format!(
            "re-image the {} target(s) of {} with the accounts above",
            plan.targets.len(),
            a.plan.display()
        )
    };
    common::confirm(&what, a.yes)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILED, format!("could not start the runtime: {e}")))?;
    if a.new_run {
        match journal::archive(&dir) {
            Ok(Some(kept)) => crate::note(&format!(
                "the journal of the last run is kept in {}; this run starts a new one",
                kept.display()
            )),
            Ok(None) => {}
            Err(e @ JournalError::Unsettled { .. }) => {
                return Err(Failure::new(exit::REFUSED, e.to_string()));
            }
            Err(e) => return Err(journal_failure(&e)),
        }
    }
    let (journal, recovered) = Journal::open(&dir).map_err(|e| journal_failure(&e))?;
    let changed = fingerprint::changed(&plan, &inputs, &recovered);
    if !changed.is_empty() {
        // Another run wrote the journal between the first look and now.
        let _ = runtime.block_on(journal.close());
        return Err(changed_failure(&a.plan, &changed));
    }
    if !recovered.is_empty() {
        crate::note(&format!(
            "resuming from the journal {} ({} target(s) recorded)",
            dir.display(),
            recovered.len()
        ));
    }
    // One transport for the whole run: one pool, one rate limit, one Retry-After pause. Every
    // profile's CA file is trusted.
    let mut transport_config = args.conn.transport_config().rate_limit(a.rate);
    let mut ca_files: Vec<PathBuf> = Vec::new();
    for t in &plan.targets {
        if let Ok(r) = resolve(t.profile.as_deref()) {
            for ca in [r.ecs.ca_file.clone(), r.edis.ca_file.clone()]
                .into_iter()
                .flatten()
            {
                if !ca_files.contains(&ca) {
                    ca_files.push(ca);
                }
            }
        }
    }
    for ca in ca_files {
        transport_config = transport_config.ca_file(ca);
    }
    let transport = reimage_client::Transport::new(transport_config)?;
    let initial = Duration::from_millis(a.poll_ms.max(10));
    let mut settings = Settings::default();
    settings.concurrency = a.concurrency.max(1);
    settings.fail_fast = a.fail_fast;
    settings.retry_failed = a.retry_failed;
    settings.schedule = PollSchedule {
        initial,
        max: initial.mul_f64(7.5),
        factor: 1.5,
        deadline: Duration::from_secs(a.deadline),
        payment_deadline: Duration::from_secs(a.deadline),
    };
    settings.settle = Duration::from_secs(a.settle);
    settings.edis_min_install = Duration::from_secs(a.edis_min_install);
    on_ctrl_c(&runtime, settings.stop.clone())?;
    let total = plan.targets.len();
    let display = Arc::new(Display::new(total));
    let shown = display.clone();
    let clients = Arc::new(clients(transport, resolve));
    let started = Instant::now();
    let journal = Arc::new(journal);
    let outcomes = runtime.block_on(apply::run(
        Arc::new(plan),
        Arc::new(inputs),
        journal.clone(),
        recovered,
        clients,
        settings,
        Arc::new(move |event: Event<'_>| shown.event(&event)),
    ));
    if let Ok(journal) = Arc::try_unwrap(journal) {
        let _ = runtime.block_on(journal.close());
    }
    display.finish();
    // Ctrl-C after the last target ended leaves nothing to resume.
    let interrupted = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Interrupted(_)));
    let resume = interrupted.then(resume_command);
    summary(&outcomes, a.output, started.elapsed(), resume.as_deref());
    if let Some(command) = resume {
        crate::note(&format!(
            "interrupted: every request sent has its record in the journal {}; resume with:\n  {command}",
            dir.display()
        ));
        return Ok(INTERRUPTED);
    }
    let unknown = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Unknown(_)));
    let failed = outcomes.iter().any(|(_, o)| {
        !matches!(
            o,
            Outcome::Done(_) | Outcome::AlreadyDone(_) | Outcome::CloudInitErrors(_)
        )
    });
    let cloud_init_errors = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::CloudInitErrors(_)));
    Ok(if unknown {
        exit::UNKNOWN
    } else if failed {
        exit::FAILED
    } else if cloud_init_errors {
        exit::CLOUD_INIT_ERRORS
    } else {
        exit::OK
    })
}

/// The refusal of a plan whose targets changed since they were sent: each one on its own line,
/// then the error (exit 2) and the ways out.
fn changed_failure(plan: &Path, changed: &[Changed]) -> Failure {
    const SHOWN: usize = 20;
    for c in changed.iter().take(SHOWN) {
        crate::note(&format!("{}: {}", c.key, c.line()));
    }
    if changed.len() > SHOWN {
        crate::note(&format!("… and {} more", changed.len() - SHOWN));
    }
    let mut keys: Vec<&str> = changed.iter().take(3).map(|c| c.key.as_str()).collect();
    if changed.len() > 3 {
        keys.push("…");
    }
    let plan = plan_word(plan);
    Failure::usage(format!(
        "{} target(s) changed in the plan since the journal says they were sent ({}): they \
         were re-imaged with something else; nothing was sent",
        changed.len(),
        keys.join(", ")
    ))
    .hint(format!(
        "to re-image every target again, start a new run (the journal is kept beside it): \
         reimage fleet apply {plan} --new-run; to settle one target: reimage fleet resolve \
         {plan} TARGET --retry (re-image it) or --done (keep it as it is); or restore the plan"
    ))
}

/// The command that resumes this run: the arguments it was given, without `--new-run` (the
/// new run has started: resuming continues it), each quoted for a shell.
fn resume_command() -> String {
    let mut words = vec!["reimage".to_owned()];
    words.extend(
        std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .filter(|a| a != "--new-run")
            .map(|a| shell_word(&a)),
    );
    words.join(" ")
}

/// Ctrl-C during a run: the first stops it at the next safe point of each target (see
/// `reimage_fleet::apply`), the second quits at once (the journal's torn last line, if any, is
/// cut off by the next run). The handler is in place when this returns.
fn on_ctrl_c(runtime: &tokio::runtime::Runtime, stop: Stop) -> Result<(), Failure> {
    let first = move || {
        stop.stop();
        crate::note(
            "interrupted: no more targets start; each request in flight gets its answer and its \
             journal record (Ctrl-C again quits at once)",
        );
    };
    let _inside = runtime.enter();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupts = signal(SignalKind::interrupt())
            .map_err(|e| Failure::new(exit::FAILED, format!("could not handle Ctrl-C: {e}")))?;
        runtime.spawn(async move {
            if interrupts.recv().await.is_some() {
                first();
            }
            if interrupts.recv().await.is_some() {
                std::process::exit(i32::from(INTERRUPTED));
            }
        });
    }
    #[cfg(not(unix))]
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            first();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
    Ok(())
}

/// The clients of a run, all on `transport`: each profile's settings from `resolve`, and its
/// client built as `reimage ecs` and `reimage edis` build theirs.
pub(super) fn clients(
    transport: reimage_client::Transport,
    resolve: Arc<impl Fn(Option<&str>) -> Result<Resolved, String> + Send + Sync + 'static>,
) -> Clients {
    let (ecs_transport, ecs_resolve) = (transport.clone(), resolve.clone());
    let ecs: Box<ConnectEcs> = Box::new(move |profile| {
        let transport = ecs_transport.clone();
        let resolved = ecs_resolve(profile);
        Box::pin(async move {
            crate::ecs::client_on(transport, &resolved?)
                .await
                .map_err(|f| f.message)
        })
    });
    let edis: Box<ConnectEdis> = Box::new(move |profile| {
        crate::edis::client_on(transport.clone(), &resolve(profile)?).map_err(|f| f.message)
    });
    Clients::new(ecs, edis)
}

/// `reimage fleet status --output json`, serialized as it is written (fields in byte order: the
/// bytes a sorted map gives, as when it was a `serde_json::Value`; a test holds the two equal).
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    earlier_runs: Vec<String>,
    journal: String,
    targets: Vec<StatusTargetJson<'a>>,
}

/// One target of [`StatusJson`].
#[derive(serde::Serialize)]
struct StatusTargetJson<'a> {
    changed: Option<Vec<String>>,
    cloud_init: Option<CloudInitJson<'a>>,
    detail: &'a str,
    host_keys: Option<Vec<HostKeyJson<'a>>>,
    known_hosts: Option<&'a str>,
    stage: Option<&'a str>,
    state: &'a str,
    target: &'a str,
}

impl<'a> StatusTargetJson<'a> {
    /// The target `key` in state `word` (with its `detail`), changed since its run or not, with
    /// what the stages after its job found.
    fn new(
        key: &'a str,
        word: &'a str,
        detail: &'a str,
        changed: Option<&Changed>,
        after: Option<&'a journal::AfterJob>,
    ) -> Self {
        StatusTargetJson {
            changed: changed.map(Changed::differences),
            cloud_init: after
                .and_then(|a| a.cloud_init.as_ref())
                .map(|v| CloudInitJson {
                    errors: &v.errors,
                    status: &v.status,
                }),
            detail,
            host_keys: after.map(|a| {
                a.host_keys
                    .iter()
                    .map(|h| HostKeyJson {
                        fingerprint: &h.fingerprint,
                        kind: &h.kind,
                    })
                    .collect()
            }),
            known_hosts: after.and_then(|a| a.known_hosts.as_deref()),
            stage: after.map(|a| a.reached.as_str()),
            state: word,
            target: key,
        }
    }
}

/// A host key of [`StatusTargetJson`].
#[derive(serde::Serialize)]
struct HostKeyJson<'a> {
    fingerprint: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// cloud-init's verdict in [`StatusTargetJson`].
#[derive(serde::Serialize)]
struct CloudInitJson<'a> {
    errors: &'a [String],
    status: &'a str,
}

/// The JSON document at the end of a run, serialized as it is written (fields in byte order:
/// the bytes a sorted map gives, as before).
#[derive(serde::Serialize)]
struct SummaryJson<'a> {
    changed: usize,
    cloud_init_errors: usize,
    done: usize,
    done_before: usize,
    failed: usize,
    interrupted: usize,
    resume: Option<&'a str>,
    seconds: f64,
    skipped: usize,
    targets: Vec<TargetJson<'a>>,
    unknown: usize,
}

/// One target of [`SummaryJson`].
#[derive(serde::Serialize)]
struct TargetJson<'a> {
    detail: &'a str,
    outcome: &'static str,
    target: &'a str,
}

/// The table (or JSON document) at the end of a run; `resume` is the command that resumes an
/// interrupted one.
fn summary(outcomes: &[(String, Outcome)], output: Output, took: Duration, resume: Option<&str>) {
    let count = |word: &str| outcomes.iter().filter(|(_, o)| o.word() == word).count();
    match output {
        Output::Json => common::print_json(&SummaryJson {
            changed: count("changed"),
            cloud_init_errors: count("cloud-init errors"),
            done: count("done"),
            done_before: count("done before"),
            failed: count("failed"),
            interrupted: count("interrupted"),
            resume,
            seconds: took.as_secs_f64(),
            skipped: count("skipped"),
            targets: outcomes
                .iter()
                .map(|(k, o)| TargetJson {
                    detail: o.detail(),
                    outcome: o.word(),
                    target: k,
                })
                .collect(),
            unknown: count("unknown"),
        }),
        Output::Text => {
            let width = outcomes
                .iter()
                .map(|(k, _)| k.len())
                .max()
                .unwrap_or(6)
                .max(6);
            crate::say("");
            crate::say(&format!("{:<width$}  {:<11}  detail", "target", "outcome"));
            // Every target that did not simply finish, and the first few that did.
            let mut ok_shown = 0;
            for (key, outcome) in outcomes {
                let ok = matches!(outcome, Outcome::Done(_) | Outcome::AlreadyDone(_));
                if ok {
                    ok_shown += 1;
                    if ok_shown > 20 {
                        continue;
                    }
                }
                crate::say(&format!(
                    "{key:<width$}  {:<11}  {}",
                    outcome.word(),
                    outcome.detail()
                ));
            }
            if ok_shown > 20 {
                crate::say(&format!("… and {} more done", ok_shown - 20));
            }
            let mut last = format!(
                "\n{} targets in {}: {} done, {} done before, {} failed, {} unknown, {} skipped",
                outcomes.len(),
                reimage_client::show_duration(took),
                count("done"),
                count("done before"),
                count("failed"),
                count("unknown"),
                count("skipped"),
            );
            for word in ["changed", "interrupted", "cloud-init errors"] {
                if count(word) > 0 {
                    last.push_str(&format!(", {} {word}", count(word)));
                }
            }
            crate::say(&last);
        }
    }
}

fn status(path: &Path, state_dir: Option<&Path>, output: Output) -> Result<u8, Failure> {
    let dir = journal_dir(path, state_dir);
    // The plan and the journal are read side by side (each is most of the work for a large
    // fleet); a problem of the plan is still the one reported first.
    let (plan, records) = std::thread::scope(|scope| {
        let records = scope.spawn(|| journal::read(&dir));
        let plan = load(path);
        let records = records
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (plan, records)
    });
    let plan = plan?;
    let (inputs, _) = plan::Inputs::load(&plan);
    let records = records.map_err(|e| journal_failure(&e))?;
    let changed: HashMap<String, Changed> = fingerprint::changed(&plan, &inputs, &records)
        .into_iter()
        .map(|c| (c.key.clone(), c))
        .collect();
    let rows: Vec<(String, &'static str, String, Option<&Changed>)> = plan
        .targets
        .iter()
        .map(|t| {
            let (word, detail) = match records.get(&t.key) {
                None => ("pending", String::new()),
                Some(r) => (r.state.word(), r.state.detail()),
            };
            (t.key.clone(), word, detail, changed.get(&t.key))
        })
        .collect();
    // What the stages after the job found, for the targets that ran them.
    let after_of = |key: &str| records.get(key).and_then(|r| r.after.as_ref());
    let any_after = rows.iter().any(|r| after_of(&r.0).is_some());
    let earlier = journal::earlier_runs(&dir);
    let count = |w: &str| rows.iter().filter(|r| r.1 == w).count();
    match output {
        Output::Json => common::print_json(&StatusJson {
            earlier_runs: earlier.iter().map(|p| p.display().to_string()).collect(),
            journal: dir.display().to_string(),
            targets: rows
                .iter()
                .map(|(k, w, d, c)| StatusTargetJson::new(k, w, d, *c, after_of(k)))
                .collect(),
        }),
        Output::Text => {
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(6).max(6);
            if any_after {
                crate::say(&format!(
                    "{:<width$}  {:<17}  {:<10}  {:<58}  {:<10}  detail",
                    "target", "state", "stage", "host key", "cloud-init"
                ));
            } else {
                crate::say(&format!("{:<width$}  {:<8}  detail", "target", "state"));
            }
            for (k, w, d, c) in &rows {
                let d = match c {
                    Some(c) => format!("{}; {d}", c.line()),
                    None => d.clone(),
                };
                if any_after {
                    let after = after_of(k);
                    let stage = after.map_or("-", |a| a.reached.as_str());
                    let key = after.and_then(|a| a.host_keys.first()).map_or_else(
                        || "-".to_owned(),
                        |h| format!("{} {}", h.kind, h.fingerprint),
                    );
                    let verdict = after
                        .and_then(|a| a.cloud_init.as_ref())
                        .map_or("-", |v| v.status.as_str());
                    crate::say(&format!(
                        "{k:<width$}  {w:<17}  {stage:<10}  {key:<58}  {verdict:<10}  {d}"
                    ));
                } else {
                    crate::say(&format!("{k:<width$}  {w:<8}  {d}"));
                }
            }
            let mut last = format!(
                "\n{} targets: {} pending, {} sending, {} sent, {} done, {} failed, {} unknown, {} changed",
                rows.len(),
                count("pending"),
                count("sending"),
                count("sent"),
                count("done"),
                count("failed"),
                count("unknown"),
                changed.len(),
            );
            for word in ["job_done", "cloud_init_errors"] {
                if count(word) > 0 {
                    last.push_str(&format!(", {} {word}", count(word)));
                }
            }
            crate::say(&last);
            if !changed.is_empty() {
                crate::say(&format!(
                    "`reimage fleet apply` sends nothing while a target is changed: `--new-run` \
                     starts the plan again, `reimage fleet resolve {} TARGET --retry|--done` \
                     settles one",
                    plan_word(path)
                ));
            }
            if !earlier.is_empty() {
                let shown: Vec<String> = earlier.iter().map(|p| p.display().to_string()).collect();
                crate::say(&format!("earlier runs: {}", shown.join(", ")));
            }
        }
    }
    Ok(exit::OK)
}

/// Live output: on a terminal, one line per running target under an overall bar; otherwise a
/// line per target that ends, with the count.
struct Display {
    total: usize,
    multi: Option<indicatif::MultiProgress>,
    overall: Option<indicatif::ProgressBar>,
    lines: Mutex<HashMap<String, indicatif::ProgressBar>>,
    ended: std::sync::atomic::AtomicUsize,
}

impl Display {
    fn new(total: usize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let multi = terminal.then(indicatif::MultiProgress::new);
        let overall = multi.as_ref().map(|m| {
            let bar = m.add(indicatif::ProgressBar::new(total as u64));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} targets, {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            total,
            multi,
            overall,
            lines: Mutex::new(HashMap::new()),
            ended: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn event(&self, event: &Event<'_>) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::Started { key, resumed } => {
                if let Some(multi) = &self.multi {
                    let line = multi.add(indicatif::ProgressBar::new_spinner());
                    line.set_prefix((*key).to_owned());
                    line.set_style(
                        indicatif::ProgressStyle::with_template("  {prefix} {wide_msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    line.set_message(match resumed {
                        Some(state) => format!("resuming ({state})"),
                        None => "starting".to_owned(),
                    });
                    lines.insert((*key).to_owned(), line);
                }
            }
            Event::Progress { key, line } => {
                if let Some(bar) = lines.get(*key) {
                    bar.set_message(line.clone());
                }
            }
            Event::Ended { key, outcome } => {
                let n = self.ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if let Some(bar) = lines.remove(*key) {
                    bar.finish_and_clear();
                    if let Some(multi) = &self.multi {
                        multi.remove(&bar);
                    }
                }
                match &self.overall {
                    Some(bar) => {
                        bar.inc(1);
                        if !matches!(outcome, Outcome::Done(_) | Outcome::AlreadyDone(_))
                            && let Some(multi) = &self.multi
                        {
                            let _ = multi.println(format!(
                                "{key}: {} {}",
                                outcome.word(),
                                outcome.detail()
                            ));
                        }
                    }
                    None => crate::note(&format!(
                        "[{n}/{}] {key}: {} {}",
                        self.total,
                        outcome.word(),
                        outcome.detail()
                    )),
                }
            }
            // An event this display does not know of yet shows nothing.
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.overall {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `fleet status --output json` writes the bytes the `serde_json::Value` it was built as
    /// wrote: the same keys, in the same order, with the same nulls.
    #[test]
    fn the_status_document_is_what_the_value_wrote() {
        let mut ssh = journal::AfterJob::at("ssh");
        ssh.host_keys = vec![
            journal::HostKeyPrint::new("ED25519", "SHA256:abc"),
            journal::HostKeyPrint::new("RSA", "SHA256:def"),
        ];
        ssh.known_hosts = Some("/home/ops/.ssh/known_hosts".to_owned());
        let mut verdict = journal::AfterJob::at("cloud-init");
        verdict.cloud_init = Some(journal::CloudInitVerdict::new(vec![
            "module a failed \"quoted\"".to_owned(),
        ]));
        let job = journal::AfterJob::at("job");
        let rows: [(&str, &str, &str, Option<&journal::AfterJob>); 4] = [
            ("ecs:1", "pending", "", None),
            ("ecs:2", "done", "reinstalled ✓", Some(&ssh)),
            (
                "edis:kvm_1_2",
                "cloud_init_errors",
                "1 error",
                Some(&verdict),
            ),
            ("ecs:3", "job_done", "job SUCCESS", Some(&job)),
        ];
        let earlier = vec!["plan.toml.journal/run-1".to_owned()];
        let typed = StatusJson {
            earlier_runs: earlier.clone(),
            journal: "plan.toml.journal".to_owned(),
            targets: rows
                .iter()
                .map(|(k, w, d, a)| StatusTargetJson::new(k, w, d, None, *a))
                .collect(),
        };
        let value = json!({
            "journal": "plan.toml.journal",
            "targets": rows.iter().map(|(k, w, d, after)| json!({
                "target": k,
                "state": w,
                "detail": d,
                "changed": Option::<Vec<String>>::None,
                "stage": after.map(|a| a.reached.clone()),
                "host_keys": after.map(|a| a.host_keys.iter().map(|h| json!({
                    "type": h.kind, "fingerprint": h.fingerprint,
                })).collect::<Vec<_>>()),
                "known_hosts": after.and_then(|a| a.known_hosts.clone()),
                "cloud_init": after.and_then(|a| a.cloud_init.as_ref()).map(|v| json!({
                    "status": v.status, "errors": v.errors,
                })),
            })).collect::<Vec<_>>(),
            "earlier_runs": earlier,
        });
        assert_eq!(
            serde_json::to_string_pretty(&typed).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn rates_read_with_or_without_per_second() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate("2.5/s"), Ok(2.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn resume_words_read_back_as_they_were() {
        assert_eq!(shell_word("plans/wave-1.toml"), "plans/wave-1.toml");
        assert_eq!(shell_word("--rate=10/s"), "--rate=10/s");
        assert_eq!(shell_word("my plan.toml"), "'my plan.toml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_journal_sits_beside_the_plan() {
        assert_eq!(
            journal_dir(Path::new("plans/wave1.toml"), None),
            Path::new("plans/wave1.toml.journal")
        );
        assert_eq!(
            journal_dir(Path::new("wave1.toml"), Some(Path::new("/var/lib/x"))),
            Path::new("/var/lib/x")
        );
    }
}
