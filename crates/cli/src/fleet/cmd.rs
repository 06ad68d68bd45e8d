//! The `reimage fleet` command line: `check`, `apply` and `status`. Flags, the confirmation
//! prompt, the live lines and the tables are here; the plan, the journal and apply are
//! `reimage-fleet`'s.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use reimage_client::PollSchedule;
use reimage_config::{Flags, Resolved};
use serde_json::json;

use reimage_fleet::apply::{self, Clients, ConnectEcs, ConnectEdis, Event, Outcome, Settings};
use reimage_fleet::journal::{self, Journal};
use reimage_fleet::plan::{self, Plan};

use crate::common::{self, Connection, Failure, Output, exit};

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
    /// passwords, credentials of each profile) and print what would happen. Exit code 3 if any
    /// target has a problem.
    Check {
        /// The plan file (TOML).
        plan: PathBuf,
        /// `text`: a table; `json`: one document.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Re-image every target of a plan: bounded concurrency, one rate limit for all, each step
    /// journaled before the call that follows it. Rerun after a crash to resume; no server is
    /// re-imaged twice.
    Apply(ApplyArgs),
    /// Show the journal of a plan: each target's last state.
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
        Command::Check { plan, output } => ("fleet check", *output, check(args, plan, *output)),
        Command::Apply(a) => ("fleet apply", a.output, apply(args, a)),
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

fn load(plan: &Path) -> Result<Plan, Failure> {
    plan::load(plan).map_err(|e| Failure::usage(e.to_string()))
}

fn journal_dir(plan: &Path, state_dir: Option<&Path>) -> PathBuf {
    match state_dir {
        Some(dir) => dir.to_owned(),
        None => journal::beside(plan),
    }
}

/// Resolves a profile's settings; each profile is read once.
fn resolver(
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

fn check(args: &Args, path: &Path, output: Output) -> Result<u8, Failure> {
    let plan = load(path)?;
    let (inputs, _) = plan::Inputs::load(&plan);
    let resolve = resolver(&args.conn);
    let rows = plan::check(&plan, &inputs, &plan::credentials_ok(&resolve));
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
    let rows = plan::check(&plan, &inputs, &plan::credentials_ok(&*resolve));
    let problems = rows.iter().filter(|r| !r.problems.is_empty()).count();
    if problems > 0 {
        for row in rows.iter().filter(|r| !r.problems.is_empty()).take(20) {
            crate::note(&format!("{}: {}", row.key, row.problems.join("; ")));
        }
        return Err(Failure::new(
            exit::REFUSED,
            format!("{problems} target(s) of the plan have problems; nothing was sent"),
        )
        .hint(format!(
            "see them all with: reimage fleet check {}",
            a.plan.display()
        )));
    }
    common::confirm(
        &format!(
            "re-image the {} target(s) of {}",
            plan.targets.len(),
            a.plan.display()
        ),
        a.yes,
    )?;
    let dir = journal_dir(&a.plan, a.state_dir.as_deref());
    let (journal, recovered) =
        Journal::open(&dir).map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
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
    };
    settings.settle = Duration::from_secs(a.settle);
    settings.edis_min_install = Duration::from_secs(a.edis_min_install);
    let total = plan.targets.len();
    let display = Arc::new(Display::new(total));
    let shown = display.clone();
    let clients = Arc::new(clients(transport, resolve));
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILED, format!("could not start the runtime: {e}")))?;
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
    summary(&outcomes, a.output, started.elapsed());
    let unknown = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Unknown(_)));
    let failed = outcomes
        .iter()
        .any(|(_, o)| matches!(o, Outcome::Failed(_) | Outcome::Skipped(_)));
    Ok(if unknown {
        exit::UNKNOWN
    } else if failed {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// The clients of a run, all on `transport`: each profile's settings from `resolve`, and its
/// client built as `reimage ecs` and `reimage edis` build theirs.
fn clients(
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

fn summary(outcomes: &[(String, Outcome)], output: Output, took: Duration) {
    let count = |word: &str| outcomes.iter().filter(|(_, o)| o.word() == word).count();
    match output {
        Output::Json => common::print_json(&json!({
            "targets": outcomes.iter().map(|(k, o)| json!({
                "target": k, "outcome": o.word(), "detail": o.detail(),
            })).collect::<Vec<_>>(),
            "done": count("done"),
            "done_before": count("done before"),
            "failed": count("failed"),
            "unknown": count("unknown"),
            "skipped": count("skipped"),
            "seconds": took.as_secs_f64(),
        })),
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
            crate::say(&format!(
                "\n{} targets in {}: {} done, {} done before, {} failed, {} unknown, {} skipped",
                outcomes.len(),
                reimage_client::show_duration(took),
                count("done"),
                count("done before"),
                count("failed"),
                count("unknown"),
                count("skipped"),
            ));
        }
    }
}

fn status(path: &Path, state_dir: Option<&Path>, output: Output) -> Result<u8, Failure> {
    let plan = load(path)?;
    let dir = journal_dir(path, state_dir);
    let records = journal::read(&dir).map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    let rows: Vec<(String, &'static str, String)> = plan
        .targets
        .iter()
        .map(|t| match records.get(&t.key) {
            None => (t.key.clone(), "pending", String::new()),
            Some(r) => (t.key.clone(), r.state.word(), r.state.detail()),
        })
        .collect();
    let count = |w: &str| rows.iter().filter(|r| r.1 == w).count();
    match output {
        Output::Json => common::print_json(&json!({
            "journal": dir.display().to_string(),
            "targets": rows.iter().map(|(k, w, d)| json!({"target": k, "state": w, "detail": d})).collect::<Vec<_>>(),
        })),
        Output::Text => {
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(6).max(6);
            crate::say(&format!("{:<width$}  {:<8}  detail", "target", "state"));
            for (k, w, d) in &rows {
                crate::say(&format!("{k:<width$}  {w:<8}  {d}"));
            }
            crate::say(&format!(
                "\n{} targets: {} pending, {} sending, {} sent, {} done, {} failed, {} unknown",
                rows.len(),
                count("pending"),
                count("sending"),
                count("sent"),
                count("done"),
                count("failed"),
                count("unknown"),
            ));
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

    #[test]
    fn rates_read_with_or_without_per_second() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate("2.5/s"), Ok(2.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
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
