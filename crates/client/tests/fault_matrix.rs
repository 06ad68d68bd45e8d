//! The fault matrix: every client operation against every fault kind of the emulator, each cell
//! on a fresh emulator, each outcome classified and checked against the emulator's own count of
//! what it applied.
//!
//! A cell passes its invariants when the operation either recovered (and, where it changes
//! something, took effect) or ended in an error that names what happened, and a non-idempotent
//! operation (a reinstall, a change of OS, a hard reset) never took effect twice. The outcomes
//! then make the table of `docs/reliability.md`, between its `fault-matrix` markers; a table that
//! differs fails the test. After a deliberate change, regenerate it with
//!
//! ```text
//! UPDATE_RELIABILITY=1 cargo test -p reimage-client --test fault_matrix
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reimage_auth::edis::EdisCredentials;
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_client::{
    EcsAuth, EcsClient, EdisClient, Error, ErrorKind, PollSchedule, RetryPolicy, Transport,
    TransportConfig,
};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId, KvmId,
    ProjectId, RootPassword, ServerId,
};
use reimage_emulator::{Config, FaultKind, FaultRule, Running, Timings};
use reimage_wire::Endpoint;
use reimage_wire::Operation;
use reimage_wire::ecs::{
    BatchStart, BatchStop, ChangeOs, ReinstallOs, ShowJob, ShowServer, StopType,
};
use reimage_wire::edis::{
    CreateSession, GetDetails, GetImages, GetMount, GetPower, HardReset, PowerOff, PowerOn,
    Reinstall,
};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
/// Stopped: reinstalled, and started.
const STOPPED: &str = "11111111-2222-3333-4444-555555555555";
/// Stopped: moved to another image.
const STOPPED_2: &str = "22222222-3333-4444-5555-666666666666";
/// Running: stopped.
const RUNNING: &str = "33333333-4444-5555-6666-777777777777";
const UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";
/// Powered on: reinstalled, powered off, reset, read.
const KVM_ON: &str = "kvm_100001_200001";
/// Powered off: powered on.
const KVM_OFF: &str = "kvm_100002_200002";

/// The client's request timeout; a `latency` fault waits longer than this. Long enough that a
/// busy machine does not time out calls that no fault delays (a spurious retry would change the
/// counts of the idempotent rows).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// The delay of a `latency` fault.
const LATENCY: Duration = Duration::from_secs(2);
/// The emulator's time scale.
const TIME_SCALE: f64 = 0.002;
/// Attempts of what is safe to retry, and the first backoff.
const ATTEMPTS: u32 = 4;
const BACKOFF: Duration = Duration::from_millis(20);
/// The deadline of every wait.
const WAIT_DEADLINE: Duration = Duration::from_secs(4);
/// A cell that takes longer than this has hung.
const CELL_LIMIT: Duration = Duration::from_secs(40);
/// Cells that run at once.
const PARALLEL: usize = 24;

const DOC: &str = "docs/reliability.md";
const START: &str = "<!-- fault-matrix:start -->";
const END: &str = "<!-- fault-matrix:end -->";

// ---------------------------------------------------------------------------------------------
// Rows and columns.
// ---------------------------------------------------------------------------------------------

/// What a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// `EcsClient::server`.
    ShowServer,
    /// `EcsClient::reinstall` and `follow`.
    Reinstall,
    /// `EcsClient::change_os` and `follow`.
    ChangeOs,
    /// `EcsClient::stop` and `wait_job`.
    Stop,
    /// `EcsClient::start` and `wait_job`.
    Start,
    /// `EdisClient::power`.
    Power,
    /// `EdisClient::images`.
    Images,
    /// `EdisClient::power_on`.
    PowerOn,
    /// `EdisClient::power_off`.
    PowerOff,
    /// `EdisClient::hard_reset`.
    HardReset,
    /// `EdisClient::details`.
    Details,
    /// `EdisClient::mount`.
    Mount,
    /// `EdisClient::reinstall` and `wait_reinstalled`.
    EdisReinstall,
}

/// Where a row's effect is counted in the emulator's state.
#[derive(Debug, Clone, Copy)]
enum Counter {
    /// `ecs.servers[id][field]`.
    Server(&'static str, &'static str),
    /// `edis.kvms[kvm_id][field]`.
    Kvm(&'static str, &'static str),
}

impl Counter {
    fn read(self, state: &Value) -> u64 {
        let (list, key, id, field) = match self {
            Self::Server(id, field) => (&state["ecs"]["servers"], "id", id, field),
            Self::Kvm(id, field) => (&state["edis"]["kvms"], "kvm_id", id, field),
        };
        list.as_array()
            .expect("the state lists them")
            .iter()
            .find(|item| item[key] == id)
            .and_then(|item| item[field].as_u64())
            .unwrap_or_else(|| panic!("{id} has no {field}"))
    }
}

/// One row: an operation of the client, the call its faults hit, and what it changes.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// The row's name in the table.
    label: &'static str,
    /// The operation the fault targets (`Operation::NAME`).
    target: &'static str,
    /// Which call of `target` the fault hits (from 1).
    call: u64,
    run: Run,
    /// What the row changes, if anything.
    counter: Option<Counter>,
    /// Not idempotent: must never take effect twice.
    once_only: bool,
    /// The call starts an ECS job or an EDIS install, which `job_fail` can fail.
    starts_job: bool,
    /// The call carries a token or session, which `expire_credentials` can expire.
    carries_credentials: bool,
}

fn rows() -> Vec<Row> {
    let reinstalls = Some(Counter::Server(STOPPED, "reinstalls_applied"));
    let kvm_reinstalls = Some(Counter::Kvm(KVM_ON, "reinstalls_applied"));
    let read = |label, target, run| Row {
        label,
        target,
        call: 1,
        run,
        counter: None,
        once_only: false,
        starts_job: false,
        carries_credentials: true,
    };
    vec![
        Row {
            carries_credentials: false,
            ..read(
                "`iam.create_token` (then `show_server`)",
                reimage_wire::iam::CREATE_TOKEN,
                Run::ShowServer,
            )
        },
        read("`ecs.show_server`", ShowServer::NAME, Run::ShowServer),
        Row {
            counter: reinstalls,
            once_only: true,
            starts_job: true,
            ..read(
                "`ecs.reinstallos` + follow",
                ReinstallOs::NAME,
                Run::Reinstall,
            )
        },
        Row {
            counter: Some(Counter::Server(STOPPED_2, "os_changes_applied")),
            once_only: true,
            starts_job: true,
            ..read("`ecs.changeos` + follow", ChangeOs::NAME, Run::ChangeOs)
        },
        Row {
            call: 2,
            counter: reinstalls,
            ..read(
                "`ecs.show_job` (2nd poll of a reinstall's follow)",
                ShowJob::NAME,
                Run::Reinstall,
            )
        },
        Row {
            counter: Some(Counter::Server(RUNNING, "stops_applied")),
            starts_job: true,
            ..read("`ecs.batch_stop` + wait_job", BatchStop::NAME, Run::Stop)
        },
        Row {
            counter: Some(Counter::Server(STOPPED, "starts_applied")),
            starts_job: true,
            ..read("`ecs.batch_start` + wait_job", BatchStart::NAME, Run::Start)
        },
        Row {
            carries_credentials: false,
            ..read(
                "`edis.create_session` (then `get_power`)",
                CreateSession::NAME,
                Run::Power,
            )
        },
        read("`edis.get_images`", GetImages::<'static>::NAME, Run::Images),
        read("`edis.get_power`", GetPower::<'static>::NAME, Run::Power),
        read(
            "`edis.get_details`",
            GetDetails::<'static>::NAME,
            Run::Details,
        ),
        read("`edis.get_mount`", GetMount::<'static>::NAME, Run::Mount),
        Row {
            counter: Some(Counter::Kvm(KVM_OFF, "power_ons_applied")),
            ..read("`edis.power_on`", PowerOn::<'static>::NAME, Run::PowerOn)
        },
        Row {
            counter: Some(Counter::Kvm(KVM_ON, "power_offs_applied")),
            ..read("`edis.power_off`", PowerOff::<'static>::NAME, Run::PowerOff)
        },
        Row {
            counter: Some(Counter::Kvm(KVM_ON, "resets_applied")),
            once_only: true,
            ..read(
                "`edis.hard_reset`",
                HardReset::<'static>::NAME,
                Run::HardReset,
            )
        },
        Row {
            counter: kvm_reinstalls,
            once_only: true,
            starts_job: true,
            ..read(
                "`edis.reinstall` + wait_reinstalled",
                Reinstall::<'static>::NAME,
                Run::EdisReinstall,
            )
        },
        Row {
            call: 3,
            counter: kvm_reinstalls,
            ..read(
                "`edis.get_power` (2nd poll of a reinstall's wait)",
                GetPower::<'static>::NAME,
                Run::EdisReinstall,
            )
        },
    ]
}

/// One column: a fault kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Latency,
    Throttle,
    Error500,
    Error503,
    Reset,
    LostAnswer,
    Truncated,
    InvalidJson,
    JobFail,
    EarlySuccess,
    SuccessFlap,
    FrozenTimestamps,
    Expire,
}

const COLUMNS: [Col; 13] = [
    Col::Latency,
    Col::Throttle,
    Col::Error500,
    Col::Error503,
    Col::Reset,
    Col::LostAnswer,
    Col::Truncated,
    Col::InvalidJson,
    Col::JobFail,
    Col::EarlySuccess,
    Col::SuccessFlap,
    Col::FrozenTimestamps,
    Col::Expire,
];

impl Col {
    fn header(self) -> &'static str {
        match self {
            Self::Latency => "latency > timeout",
            Self::Throttle => "429",
            Self::Error500 => "500",
            Self::Error503 => "503",
            Self::Reset => "reset",
            Self::LostAnswer => "lost answer",
            Self::Truncated => "truncated body",
            Self::InvalidJson => "invalid JSON",
            Self::JobFail => "job FAIL",
            Self::EarlySuccess => "early SUCCESS",
            Self::SuccessFlap => "SUCCESS, RUNNING, SUCCESS",
            Self::FrozenTimestamps => "lost answer, timestamps frozen",
            Self::Expire => "credentials expire",
        }
    }

    fn kind(self) -> FaultKind {
        match self {
            Self::Latency => FaultKind::Latency { delay: LATENCY },
            Self::Throttle => FaultKind::Throttle {
                retry_after: Duration::from_secs(1),
            },
            Self::Error500 => FaultKind::ServerError { status: 500 },
            Self::Error503 => FaultKind::ServerError { status: 503 },
            Self::Reset => FaultKind::Reset,
            Self::LostAnswer => FaultKind::LostAnswer,
            Self::Truncated => FaultKind::TruncatedBody,
            Self::InvalidJson => FaultKind::InvalidJson,
            Self::JobFail => FaultKind::JobFail {
                error_code: None,
                fail_reason: None,
            },
            Self::EarlySuccess => FaultKind::EarlySuccess,
            Self::SuccessFlap => FaultKind::SuccessFlap,
            Self::FrozenTimestamps => FaultKind::FrozenTimestamps,
            Self::Expire => FaultKind::ExpireCredentials,
        }
    }

    fn applies_to(self, row: &Row) -> bool {
        match self {
            Self::JobFail => row.starts_job,
            // What an ECS reinstall or change of OS reports over time.
            Self::EarlySuccess | Self::SuccessFlap | Self::FrozenTimestamps => {
                matches!(row.target, "ecs.reinstallos" | "ecs.changeos")
            }
            Self::Expire => row.carries_credentials,
            _ => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The clients, as production builds them but with short timeouts.
// ---------------------------------------------------------------------------------------------

/// Jobs and installs that outlast the transport's retries, the check for evidence after a lost
/// answer and a few polls, as real ones do (tens of seconds or minutes, against retries and
/// checks within a second): 0.6 s to 1.2 s at the time scale.
fn timings() -> Timings {
    let mut timings = Timings::default();
    timings.ecs_reinstall = Duration::from_secs(500);
    timings.ecs_stop = Duration::from_secs(300);
    timings.ecs_start = Duration::from_secs(300);
    timings.edis_reinstall = Duration::from_secs(600);
    timings
}

async fn emulator() -> Running {
    let config = Config::builder()
        .time_scale(TIME_SCALE)
        .timings(timings())
        .build()
        .unwrap();
    reimage_emulator::start(config).await.unwrap()
}

fn transport() -> Transport {
    Transport::new(
        TransportConfig::default()
            .request_timeout(REQUEST_TIMEOUT)
            .retry(RetryPolicy::new(
                ATTEMPTS,
                BACKOFF,
                Duration::from_millis(200),
            ))
            .proxy_from_env(false),
    )
    .unwrap()
}

fn schedule() -> PollSchedule {
    PollSchedule::fast(WAIT_DEADLINE)
}

fn ecs_client(emu: &Running) -> EcsClient {
    let endpoint = Endpoint::parse(&emu.base_url()).unwrap();
    let credentials = PasswordCredentials::new(
        "admin",
        "emulator",
        SecretString::from("Emulator-Passw0rd!"),
    )
    .unwrap();
    EcsClient::new(
        transport(),
        endpoint.clone(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::Password {
            credentials,
            scope: TokenScope::ProjectId(ProjectId::new(PROJECT).unwrap()),
            iam_endpoint: endpoint,
        },
    )
    .unwrap()
}

fn edis_client(emu: &Running) -> EdisClient {
    let credentials =
        EdisCredentials::new("demo@example.com", SecretString::from("emulator-pw")).unwrap();
    EdisClient::new(transport(), credentials)
        .with_auth_endpoint(Endpoint::parse(&emu.base_url()).unwrap())
        .unwrap()
}

fn os_spec() -> EcsOsSpec {
    EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Reimage-Test-Pw1!").unwrap())
        .build()
        .unwrap()
}

fn server(id: &str) -> ServerId {
    ServerId::new(id).unwrap()
}

fn kvm(id: &str) -> KvmId {
    KvmId::new(id).unwrap()
}

/// Runs a row's operation to its end.
async fn run(what: Run, emu: &Running) -> Result<(), Error> {
    let quiet = &mut |_: &reimage_client::ProgressEvent| {};
    match what {
        Run::ShowServer => ecs_client(emu).server(&server(STOPPED)).await.map(drop),
        Run::Reinstall => {
            let client = ecs_client(emu);
            let input = EcsReinstall::new(os_spec());
            let started = client.reinstall(&server(STOPPED), input).await?;
            client.follow(&started, &schedule(), quiet).await.map(drop)
        }
        Run::ChangeOs => {
            let client = ecs_client(emu);
            let input = EcsChangeOs::new(ImageId::new(UBUNTU).unwrap(), os_spec());
            let started = client.change_os(&server(STOPPED_2), input).await?;
            client.follow(&started, &schedule(), quiet).await.map(drop)
        }
        Run::Stop => {
            let client = ecs_client(emu);
            let id = server(RUNNING);
            let job = client.stop(vec![id.clone()], StopType::Soft).await?;
            client
                .wait_job(&job, Some(&id), &schedule(), quiet)
                .await
                .map(drop)
        }
        Run::Start => {
            let client = ecs_client(emu);
            let id = server(STOPPED);
            let job = client.start(vec![id.clone()]).await?;
            client
                .wait_job(&job, Some(&id), &schedule(), quiet)
                .await
                .map(drop)
        }
        Run::Power => edis_client(emu).power(&kvm(KVM_ON)).await.map(drop),
        Run::Images => edis_client(emu).images(&kvm(KVM_ON)).await.map(drop),
        Run::PowerOn => edis_client(emu).power_on(&kvm(KVM_OFF)).await,
        Run::PowerOff => edis_client(emu).power_off(&kvm(KVM_ON)).await,
        Run::HardReset => edis_client(emu).hard_reset(&kvm(KVM_ON)).await.map(drop),
        Run::Details => edis_client(emu).details(&kvm(KVM_ON)).await.map(drop),
        Run::Mount => edis_client(emu).mount(&kvm(KVM_ON)).await.map(drop),
        Run::EdisReinstall => {
            let client = edis_client(emu);
            let input = EdisReinstall::new(
                EdisImage::new("cloudinit_ubuntu-lts-24-04").unwrap(),
                RootPassword::new("Root-Test-Pw-1").unwrap(),
            );
            let started = client.reinstall(&kvm(KVM_ON), input).await?;
            client
                .wait_reinstalled(&started, &schedule(), quiet)
                .await
                .map(drop)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One cell.
// ---------------------------------------------------------------------------------------------

/// How a cell ended, in the terms of the table's legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Recovered,
    /// An error that names what happened and whether the operation took effect.
    ClearError,
    /// An error that reads as a refusal (or an unreadable answer) while the idempotent operation
    /// did take effect: marked † in the table.
    Unclear,
}

#[derive(Debug)]
struct Cell {
    row: usize,
    col: usize,
    /// The table's text.
    text: String,
    class: Class,
    /// What broke an invariant, if anything.
    violations: Vec<String>,
    /// Applied more than once (only idempotent operations may be).
    reapplied: bool,
    elapsed: Duration,
}

async fn run_cell(row_index: usize, row: Row, col_index: usize, col: Col) -> Cell {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(col.kind())
            .operation(row.target)
            .calls([row.call]),
    );
    if col == Col::FrozenTimestamps {
        // Followed by its job, frozen timestamps change nothing; without the job (a lost
        // answer) the client must see the rebuild end by the system disk.
        emu.add_fault(
            FaultRule::new(FaultKind::LostAnswer)
                .operation(row.target)
                .calls([row.call]),
        );
    }
    let began = Instant::now();
    let outcome = tokio::time::timeout(CELL_LIMIT, run(row.run, &emu)).await;
    let elapsed = began.elapsed();
    if col == Col::Latency {
        // A call the client gave up on may still land when its delay is over: count it too.
        tokio::time::sleep((LATENCY + Duration::from_millis(500)).saturating_sub(elapsed)).await;
    }
    let state = emu.state();
    emu.shutdown().await;

    let mut violations = Vec::new();
    let fired = state["faults"][0]["fired"].as_u64().unwrap_or(0);
    if fired == 0 {
        violations.push(format!(
            "the fault never hit call {} of {}",
            row.call, row.target
        ));
    }
    let applied = row.counter.map(|c| c.read(&state));
    let times = |text: &str| match applied {
        Some(n) => format!("{text} ({n}×)"),
        None => text.to_owned(),
    };
    let n = applied.unwrap_or(0);
    if row.once_only && n > 1 {
        violations.push(format!("applied {n} times"));
    }

    let (text, class) = match outcome {
        Err(_) => {
            violations.push(format!("hung for more than {CELL_LIMIT:?}"));
            ("hang".to_owned(), Class::ClearError)
        }
        Ok(Ok(())) => {
            if applied == Some(0) {
                violations.push("recovered, but the operation never took effect".to_owned());
            }
            if let Some(Counter::Server(id, _)) = row.counter {
                // A follow that ends while the server is still being rebuilt ended early (the
                // `early_success` and `success_flap` columns are there to try it).
                let server = state["ecs"]["servers"]
                    .as_array()
                    .and_then(|list| list.iter().find(|s| s["id"] == id));
                if server.is_some_and(|s| s["status"] == "REBUILD") {
                    violations.push("recovered while the server was still in REBUILD".to_owned());
                }
            }
            (times("recovered"), Class::Recovered)
        }
        Ok(Err(e)) => classify(&e, &row, applied, &mut violations, times),
    };
    Cell {
        row: row_index,
        col: col_index,
        text,
        class,
        violations,
        reapplied: n > 1,
        elapsed,
    }
}

/// The table's text for an error, and whether it is clear; checks that its message names what
/// happened.
fn classify(
    e: &Error,
    row: &Row,
    applied: Option<u64>,
    violations: &mut Vec<String>,
    times: impl Fn(&str) -> String,
) -> (String, Class) {
    let message = e.to_string();
    let mut says = |phrases: &[&str]| {
        if !phrases.iter().any(|p| message.contains(p)) {
            violations.push(format!("the error does not say {phrases:?}: {message}"));
        }
    };
    let took_effect = applied.is_some_and(|n| n > 0);
    let kind = e.kind();
    let (text, clear) = match e {
        Error::OutcomeUnknown { .. } | Error::Ambiguous { .. } => {
            says(&["outcome unknown", "answer was lost"]);
            (times("outcome unknown"), true)
        }
        Error::JobFailed { job } => {
            says(&["ended in FAIL"]);
            let code = job.error_code.as_deref().unwrap_or("no code");
            says(&[code]);
            if !took_effect && applied.is_some() {
                violations.push("a job failed that never started".to_owned());
            }
            (times(&format!("job failed: {code}")), true)
        }
        Error::WaitTimeout { .. } => {
            says(&["gave up waiting"]);
            (times("wait timeout"), true)
        }
        Error::Timeout { .. } => {
            says(&["no answer within"]);
            (times("timeout"), !took_effect)
        }
        Error::Transport { .. } | Error::Connect { .. } => {
            says(&["after retries", "nothing was sent"]);
            (times("transport error"), !took_effect)
        }
        Error::Provider(p) => {
            says(&["answered"]);
            let what = match &p.code {
                Some(code) if !code.chars().all(|c| c.is_ascii_digit()) => code.clone(),
                _ => format!("HTTP {}", p.status),
            };
            // A refusal says nothing was done: true only when nothing was.
            (times(&format!("failed: {what}")), !took_effect)
        }
        Error::Decode(_) => {
            says(&["could not be read"]);
            (times("failed: unreadable answer"), !took_effect)
        }
        Error::ReinstallFailed { operation, .. } => {
            // It names the operation that failed, of the provider of the row.
            says(&[&format!("{operation} of ")]);
            if operation.split('.').next() != row.target.split('.').next() {
                violations.push(format!(
                    "a failure of {} is reported as {operation}: {message}",
                    row.target
                ));
            }
            (times("failed: reinstall"), true)
        }
        other => {
            violations.push(format!("unexpected error ({kind:?}): {other}"));
            (times(&format!("{kind:?}")), false)
        }
    };
    if matches!(kind, ErrorKind::Invalid | ErrorKind::Auth) {
        violations.push(format!(
            "a fault of the provider came out as {kind:?}: {message}"
        ));
    }
    if clear {
        (text, Class::ClearError)
    } else if row.once_only {
        violations.push(format!(
            "a non-idempotent operation took effect, and the error does not say so: {message}"
        ));
        (text, Class::Unclear)
    } else {
        (format!("{text} †"), Class::Unclear)
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix, and the page.
// ---------------------------------------------------------------------------------------------

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DOC)
}

/// The settings the table was made with, in words.
fn settings() -> String {
    let t = timings();
    let scaled = |d: Duration| reimage_client::show_duration(d.mul_f64(TIME_SCALE));
    let secs = reimage_client::show_duration;
    format!(
        "Made with: a client request timeout of {}, {ATTEMPTS} attempts of what is safe to retry \
         (backoff from {}), waits polling from 50 ms with a deadline of {}; a `latency` fault of \
         {}, a `Retry-After` of 1 s; the emulator at time scale {TIME_SCALE} (an ECS reinstall \
         takes {}, a change of OS {}, a stop or start {}, an EDIS install {}).",
        secs(REQUEST_TIMEOUT),
        secs(BACKOFF),
        secs(WAIT_DEADLINE),
        secs(LATENCY),
        scaled(t.ecs_reinstall),
        scaled(t.ecs_change_os),
        scaled(t.ecs_stop),
        scaled(t.edis_reinstall),
    )
}

fn render(rows: &[Row], cells: &[Cell]) -> String {
    let mut grid = vec![vec!["n/a".to_owned(); COLUMNS.len()]; rows.len()];
    for cell in cells {
        grid[cell.row][cell.col].clone_from(&cell.text);
    }
    let mut out = settings();
    out.push_str("\n\n");
    out.push_str("| operation |");
    for col in COLUMNS {
        write!(out, " {} |", col.header()).unwrap();
    }
    out.push_str("\n|---|");
    for _ in COLUMNS {
        out.push_str("---|");
    }
    out.push('\n');
    for (row, texts) in rows.iter().zip(&grid) {
        write!(out, "| {} |", row.label).unwrap();
        for text in texts {
            write!(out, " {text} |").unwrap();
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary(cells));
    out.push('\n');
    out
}

fn summary(cells: &[Cell]) -> String {
    let count = |class| cells.iter().filter(|c| c.class == class).count();
    let reapplied = cells.iter().filter(|c| c.reapplied).count();
    format!(
        "{} cells: {} recovered, {} clear errors, {} errors that do not say the operation took \
         effect (†), 0 double applications of a non-idempotent operation, {} idempotent \
         operations applied again by a safe retry.",
        cells.len(),
        count(Class::Recovered),
        count(Class::ClearError),
        count(Class::Unclear),
        reapplied,
    )
}

/// The page with `section` between the markers.
fn splice(page: &str, section: &str) -> Option<String> {
    let start = page.find(START)? + START.len();
    let end = start + page[start..].find(END)?;
    Some(format!("{}\n{}{}", &page[..start], section, &page[end..]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operation_against_every_fault() {
    let began = Instant::now();
    let rows = rows();
    let gate = Arc::new(Semaphore::new(PARALLEL));
    let mut set = JoinSet::new();
    for (r, row) in rows.iter().enumerate() {
        for (c, col) in COLUMNS.iter().enumerate() {
            if !col.applies_to(row) {
                continue;
            }
            let (row, col, gate) = (*row, *col, Arc::clone(&gate));
            set.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                run_cell(r, row, c, col).await
            });
        }
    }
    let mut cells = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(cell) => cells.push(cell),
            Err(e) => failures.push(format!("a cell panicked: {e}")),
        }
    }
    cells.sort_by_key(|c| (c.row, c.col));
    for cell in &cells {
        for v in &cell.violations {
            failures.push(format!(
                "{} × {}: {} [{}]",
                rows[cell.row].label,
                COLUMNS[cell.col].header(),
                v,
                cell.text
            ));
        }
    }
    let table = render(&rows, &cells);
    let slowest = cells.iter().map(|c| c.elapsed).max().unwrap_or_default();
    println!("{table}");
    println!(
        "{} (in {:.1} s; slowest cell {:.1} s)",
        summary(&cells),
        began.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} cells broke an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let path = doc_path();
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{DOC}: {e}"));
    let updated =
        splice(&page, &table).unwrap_or_else(|| panic!("{DOC} has no {START} … {END} section"));
    if updated == page {
        return;
    }
    if std::env::var_os("UPDATE_RELIABILITY").is_some_and(|v| v == "1") {
        std::fs::write(&path, updated).unwrap();
        println!("{DOC}: the fault matrix was rewritten");
        return;
    }
    panic!(
        "the fault matrix in {DOC} is not what the run gave; if the change is meant, run\n\n    \
         UPDATE_RELIABILITY=1 cargo test -p reimage-client --test fault_matrix\n\nThe run \
         gave:\n\n{table}"
    );
}
