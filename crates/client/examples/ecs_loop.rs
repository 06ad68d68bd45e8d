//! A loop of ECS reinstalls, each followed by one job query, for `cargo xtask bench` to set
//! against the official Python SDK doing the same (`xtask/scripts/sdk_loop.py`).
//!
//! ```sh
//! cargo run -p reimage-client --example ecs_loop                    # 50 operations, in-process emulator
//! cargo run --release -p reimage-client --example ecs_loop -- http://127.0.0.1:PORT 2000 1
//! ```
//!
//! `ecs_loop ENDPOINT OPERATIONS CONCURRENCY [--servers N]` runs against an emulator whose
//! fixtures hold `N` stopped benchmark servers (default: as many as operations), the ids of
//! [`server_id`] (`5e7e0000-0000-4000-8000-{index:012}`), such as the file `cargo xtask bench`
//! writes: the default fixtures with those servers appended. One operation is a reinstall with an
//! adminpass (`POST /v2/{project}/cloudservers/{id}/reinstallos`) and one job query of the job it
//! returned (`GET /v1/{project}/jobs/{job_id}`), both signed with the emulator's well-known AK/SK;
//! operation `i` uses server `i mod N`, so a server is used once while `OPERATIONS <= N` (a
//! server with a running job refuses a second reinstall). `CONCURRENCY` workers share one client.
//!
//! The reinstall is [`EcsClient::reinstall_from`] with a [`ServerDetails::new`] baseline, so no
//! server details are read first: two requests per operation, as the SDK sends.
//!
//! It prints one JSON line on stdout: `side`, `ops`, `concurrency`, `seconds` (the loop alone,
//! after the client is made), `ops_per_sec`, `peak_rss_kib` (`VmHWM` of `/proc/self/status`,
//! 0 elsewhere) and `cpu_seconds` (user + system, from `/proc/self/stat`).
//!
//! Without arguments (or with `--self-test`) it starts the emulator in-process with 50 such
//! servers, runs 50 operations with a concurrency of 4, and checks that the emulator holds a
//! reinstall job for every server; `cargo xtask ci` runs it so.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use reimage_auth::AkSk;
use reimage_client::{EcsAuth, EcsClient, Transport, TransportConfig};
use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, JobId, ProjectId, ServerId};
use reimage_wire::Endpoint;
use reimage_wire::ecs::ServerDetails;
use secrecy::SecretString;

// The emulator's default fixtures (crates/emulator/fixtures/default.toml): well-known test values.
const AK: &str = "REIMAGEEMULATORAK";
const SK: &str = "reimage-emulator-sk";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const ADMIN_PASSWORD: &str = "Reimage-Bench-1!";
/// The image of the benchmark servers (Debian 12 of the default fixtures).
const IMAGE: &str = "e215580f-73ad-429d-b6f2-5433947433b0";

const SELF_TEST_OPERATIONS: usize = 50;
const SELF_TEST_CONCURRENCY: usize = 4;

type BoxError = Box<dyn Error + Send + Sync>;

/// The id of benchmark server `index`; `sdk_loop.py` computes the same ones.
fn server_id(index: usize) -> String {
    format!("5e7e0000-0000-4000-8000-{index:012}")
}

/// The `[[ecs.servers]]` tables of `count` stopped benchmark servers, to append to the default
/// fixtures.
fn server_tables(count: usize) -> String {
    let mut out = String::new();
    for index in 0..count {
        out.push_str(&format!(
            "\n[[ecs.servers]]\nid = \"{}\"\nname = \"bench-{index}\"\nimage = \"{IMAGE}\"\n\
             running = false\nflavor = \"s3.medium.2\"\ncreated = \"2024-06-01T08:00:00Z\"\n",
            server_id(index)
        ));
    }
    out
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--self-test") {
        return self_test();
    }
    let usage = "usage: ecs_loop [ENDPOINT OPERATIONS CONCURRENCY [--servers N] | --self-test]";
    let mut positional = Vec::new();
    let mut servers = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--servers" {
            servers = Some(rest.next().ok_or(usage)?.parse::<usize>()?);
        } else {
            positional.push(arg.as_str());
        }
    }
    let [endpoint, ops, concurrency] = positional[..] else {
        return Err(usage.into());
    };
    let ops: usize = ops.parse()?;
    let concurrency: usize = concurrency.parse::<usize>()?.max(1);
    let servers = servers.unwrap_or(ops).max(1);
    let runtime = runtime(concurrency)?;
    let report = runtime.block_on(run(endpoint, ops, concurrency, servers))?;
    println!("{report}");
    Ok(())
}

/// A current-thread runtime for one worker (the loop waits on every answer, so more threads
/// would only idle), a multi-threaded one with up to one thread per worker and core otherwise.
fn runtime(concurrency: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if concurrency == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(concurrency.min(cores))
            .enable_all()
            .build()
    }
}

/// Runs the loop; gives the JSON line.
async fn run(
    endpoint: &str,
    ops: usize,
    concurrency: usize,
    servers: usize,
) -> Result<serde_json::Value, BoxError> {
    let client = Arc::new(EcsClient::new(
        Transport::new(TransportConfig::default())?,
        Endpoint::parse(endpoint)?,
        ProjectId::new(PROJECT)?,
        EcsAuth::AkSk(AkSk::new(AK, SecretString::from(SK))?),
    )?);
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(ADMIN_PASSWORD)?)
        .build()?;
    let input = EcsReinstall::new(spec);
    let next = Arc::new(AtomicUsize::new(0));

    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(ops.max(1)) {
        let (client, input, next) = (Arc::clone(&client), input.clone(), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return Ok::<(), BoxError>(());
                }
                operation(
                    &client,
                    ServerId::new(server_id(i % servers))?,
                    input.clone(),
                )
                .await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let seconds = start.elapsed().as_secs_f64();

    let (peak_rss_kib, cpu_seconds) = own_usage();
    Ok(serde_json::json!({
        "side": "reimage",
        "ops": ops,
        "concurrency": concurrency,
        "seconds": seconds,
        "ops_per_sec": ops as f64 / seconds.max(f64::MIN_POSITIVE),
        "peak_rss_kib": peak_rss_kib,
        "cpu_seconds": cpu_seconds,
    }))
}

/// One operation: the reinstall, then one query of its job.
async fn operation(
    client: &EcsClient,
    server: ServerId,
    input: EcsReinstall,
) -> Result<(), BoxError> {
    let started = client
        .reinstall_from(ServerDetails::new(server.clone()), input)
        .await?;
    let job_id: JobId = started
        .job_id
        .ok_or_else(|| format!("the reinstall of {server} gave no job id"))?;
    let job = client.job(&job_id).await?;
    if job.id != job_id {
        return Err(format!("asked for job {job_id}, got {}", job.id).into());
    }
    Ok(())
}

/// This process's peak resident set (KiB) and CPU time (s), from `/proc/self`; zeros elsewhere.
fn own_usage() -> (u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0);
    // Fields 14 and 15 (utime, stime), counted after the `)` that ends the command name, in
    // clock ticks: 100 a second on Linux.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    (peak, ticks as f64 / 100.0)
}

/// Starts the emulator in-process with [`SELF_TEST_OPERATIONS`] benchmark servers and runs the
/// loop against it.
fn self_test() -> Result<(), BoxError> {
    let runtime = runtime(SELF_TEST_CONCURRENCY)?;
    runtime.block_on(async {
        let fixtures = reimage_emulator::Fixtures::from_toml_str(&format!(
            "{}{}",
            reimage_emulator::Fixtures::default_toml(),
            server_tables(SELF_TEST_OPERATIONS)
        ))?;
        let config = reimage_emulator::Config::builder()
            .fixtures(fixtures)
            .build()?;
        let running = reimage_emulator::start(config).await?;
        let report = run(
            &running.base_url(),
            SELF_TEST_OPERATIONS,
            SELF_TEST_CONCURRENCY,
            SELF_TEST_OPERATIONS,
        )
        .await;
        let state = running.state();
        running.shutdown().await;
        let report = report?;
        // Every benchmark server has its own reinstall job (at a time scale of 1, all running).
        let reinstalled = state["ecs"]["jobs"].as_array().map_or(0, |jobs| {
            jobs.iter()
                .filter(|j| j["job_type"] == "reinstallOS")
                .filter_map(|j| j["servers"][0].as_str())
                .filter(|id| id.starts_with("5e7e0000-"))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        });
        println!("{report}");
        if reinstalled != SELF_TEST_OPERATIONS {
            return Err(format!(
                "the emulator shows reinstall jobs for {reinstalled} benchmark servers, expected \
                 {SELF_TEST_OPERATIONS}"
            )
            .into());
        }
        println!("self-test: {SELF_TEST_OPERATIONS} reinstalls and job queries passed");
        Ok(())
    })
}
