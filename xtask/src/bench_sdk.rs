//! `cargo xtask bench --only sdk`: reimage-client against the official Huawei Cloud Python SDK,
//! and the summary of every ratio against its peer.
//!
//! - `sdk`: one operation is an ECS reinstall with an adminpass (`POST
//!   /v2/{project}/cloudservers/{id}/reinstallos`) and one query of the job it returned (`GET
//!   /v1/{project}/jobs/{job_id}`), both signed with AK/SK. The official SDK (huaweicloudsdkcore +
//!   huaweicloudsdkecs, pinned by `cargo xtask sdk-peer` in `target/sdk-venv`) runs
//!   `xtask/scripts/sdk_loop.py`; reimage runs `crates/client/examples/ecs_loop.rs` (release
//!   build, the built binary). Both run against one emulator process (`reimage emulator`, release
//!   build, time scale 1) whose fixtures are the default ones with [`OPERATIONS`] stopped servers
//!   appended, so that every operation of a run has a server of its own (a server with a running
//!   job refuses a second reinstall); the emulator is reset (`POST /_emulator/reset`) before every
//!   run, so each starts from the same world, and its job list is checked after every run. The
//!   SDK is synchronous, so the figure compared is one operation at a time on both sides; reimage
//!   with 8 at a time is a second, labelled row. One at a time, the client and the emulator are
//!   pinned to one CPU (`taskset`), both sides alike, so that the sequential loop never waits for
//!   an idle core to wake up; with 8 at a time, every CPU. The runs alternate over `--rounds` rounds; the
//!   median round by operations/s is reported, with the highest peak RSS of the rounds. Peak RSS
//!   is the larger of `VmHWM` polled from `/proc/PID/status` every 20 ms and what the process
//!   reports of itself as it ends; the CPU time of the client is its own report, the emulator's
//!   is read from `/proc/PID/stat` around each run. Targets: at least 20 times the SDK's
//!   operations/s, at no more than a fifth of its peak RSS.
//! - `ratios`: every ratio against a peer, with its target and whether it was met, read back from
//!   the parts of the page (so `--only` reruns keep the others' last figures, with their dates).
//!   It is rewritten on every run.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{output, target_dir, thousands, today};
use crate::{run_cmd, util};

/// Operations per run, and the benchmark servers of the fixtures (one per operation).
const OPERATIONS: usize = 3_000;
/// The two run lengths whose difference callgrind's instructions per operation come from.
const CALLGRIND_SHORT: usize = 100;
const CALLGRIND_LONG: usize = 300;
/// The concurrency of reimage's second row.
const CONCURRENT: usize = 8;
/// How long one run may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// How often a running client's peak RSS is read.
const POLL: Duration = Duration::from_millis(20);

/// The targets: operations/s at least 20 times the SDK's, peak RSS at most a fifth of its.
const OPS_TARGET: f64 = 20.0;
/// The target: the client's CPU per operation at most a fortieth of the SDK's.
const CPU_TARGET: f64 = 40.0;
const MEMORY_TARGET: f64 = 5.0;

/// The venv of the official SDK, relative to the workspace root (`cargo xtask sdk-peer`).
const SDK_VENV: &str = "target/sdk-venv";
const SDK_SCRIPT: &str = "xtask/scripts/sdk_loop.py";
pub(crate) const DEFAULT_FIXTURES: &str = "crates/emulator/fixtures/default.toml";
/// The image of the benchmark servers (Debian 12 of the default fixtures).
const IMAGE: &str = "e215580f-73ad-429d-b6f2-5433947433b0";

/// The sections this module owns, with their prose, for a page that lacks them: the summary
/// right after the machine, the SDK comparison at the end.
const RATIOS_SECTION: &str = "\
## Ratios against the peers

Every comparison of this page in one table: the ratio, its target and whether it was met, as last
measured (each part has its own date, since `--only` reruns one part).

<!-- bench:ratios:start -->
<!-- bench:ratios:end -->
";

const SDK_SECTION: &str = "\
## The client against the official Python SDK

The same loop through reimage-client (`crates/client/examples/ecs_loop.rs`, release build) and
through the official Huawei Cloud Python SDK (`huaweicloudsdkecs` with `huaweicloudsdkcore`, the
versions `cargo xtask sdk-peer` pins; `xtask/scripts/sdk_loop.py`): one operation is a reinstall
with an adminpass and one query of the job it returned, both signed with AK/SK, against the same
emulator process, reset before every run. Each client is its own process; operations/s is timed
around the loop (after the imports and the client are made), the whole process beside it. The
SDK is synchronous, so the comparison is one operation at a time; reimage with 8 at a time is a
second row. Targets: 20 times the SDK's operations/s or more, at a fifth of its peak RSS or less.

<!-- bench:sdk:start -->
<!-- bench:sdk:end -->
";

/// `doc` with this module's sections added where they are missing.
pub(crate) fn with_sections(doc: &str) -> String {
    let mut doc = doc.to_owned();
    if !doc.contains("<!-- bench:ratios:start -->") {
        let anchor = "<!-- bench:machine:end -->";
        doc = match doc.find(anchor) {
            Some(at) => {
                let split = at + anchor.len();
                format!(
                    "{}\n\n{}{}",
                    &doc[..split],
                    RATIOS_SECTION.trim_end(),
                    &doc[split..]
                )
            }
            None => format!("{}\n\n{RATIOS_SECTION}", doc.trim_end()),
        };
    }
    if !doc.contains("<!-- bench:sdk:start -->") {
        doc = format!("{}\n\n{SDK_SECTION}", doc.trim_end());
    }
    doc
}

// ---------------------------------------------------------------------------------------------
// The SDK comparison.

/// What one client run reported, and what was seen of it from outside.
#[derive(Debug, Clone, Copy)]
struct Run {
    ops_per_sec: f64,
    peak_rss_kib: u64,
    client_cpu: f64,
    emulator_cpu: f64,
    whole_process: Duration,
}

/// The runs of one row.
struct Row {
    name: &'static str,
    /// The official SDK's row, else reimage's.
    sdk: bool,
    concurrency: usize,
    runs: Vec<Run>,
}

impl Row {
    /// The median run by operations/s (the lower middle one of an even count), with the highest
    /// peak RSS of all runs.
    fn figure(&self) -> Run {
        let mut sorted: Vec<&Run> = self.runs.iter().collect();
        sorted.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
        let mut median = sorted.get(sorted.len().saturating_sub(1) / 2).map_or(
            Run {
                ops_per_sec: 0.0,
                peak_rss_kib: 0,
                client_cpu: 0.0,
                emulator_cpu: 0.0,
                whole_process: Duration::ZERO,
            },
            |r| **r,
        );
        median.peak_rss_kib = self.runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        median
    }
}

/// Measures both clients; gives the part and whether both targets were met. A failure to
/// measure is written into the part ("not measured") rather than returned.
pub(crate) fn sdk(root: &Path, rounds: usize) -> Result<(String, bool), String> {
    match measure(root, rounds) {
        Ok(part) => Ok(part),
        Err(why) => {
            util::say(&format!("the SDK comparison was not measured: {why}"));
            Ok((
                format!(
                    "Measured on {}: **not measured**: {}\n",
                    today(),
                    why.replace('\n', " ")
                ),
                false,
            ))
        }
    }
}

fn measure(root: &Path, rounds: usize) -> Result<(String, bool), String> {
    crate::sdk_peer::run(&[])?;
    let python = util::venv_python(&root.join(SDK_VENV));
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))?;
    run_cmd(util::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "reimage-client",
        "--example",
        "ecs_loop",
    ]))?;
    let release = target_dir(root).join("release");
    let ecs_loop = release.join("examples").join("ecs_loop");
    let python_version = output(Command::new(&python).arg("--version"))
        .ok()
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "3".to_owned());
    let sdk_version = output(Command::new(&python).args([
        "-c",
        "from importlib.metadata import version; print(version('huaweicloudsdkecs'))",
    ]))
    .map(|v| v.trim().to_owned())
    .unwrap_or_else(|_| "?".to_owned());

    let scratch = util::TempDir::new("bench-sdk")?;
    let fixtures = scratch.path().join("fixtures.toml");
    let defaults = root.join(DEFAULT_FIXTURES);
    let defaults = fs::read_to_string(&defaults)
        .map_err(|e| format!("could not read {}: {e}", defaults.display()))?;
    fs::write(
        &fixtures,
        format!("{defaults}{}", server_tables(OPERATIONS)),
    )
    .map_err(|e| format!("could not write {}: {e}", fixtures.display()))?;
    let emulator = Emulator::start(&release.join("reimage"), &fixtures)?;

    let ops = OPERATIONS.to_string();
    let url = emulator.base_url.clone();
    // One at a time, the loop and the emulator share one CPU, both sides alike: a sequential
    // loop then never waits for an idle core to wake up, which on two cores moved the one-at-a-
    // time figures by 2x with whatever else the machine was doing. With 8 at a time, every CPU.
    // The emulator's own mask is what the 8-at-a-time row gets back; the CPU of the pinned rows
    // is the first it allows. Where taskset is missing or cannot pin, nothing is pinned.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let pinning = emulator.affinity().and_then(|mask| {
        let cpu = first_cpu(&mask)?;
        emulator.pin(&["-c", &cpu]).ok()?;
        Some((mask, cpu))
    });
    if pinning.is_none() {
        util::say("taskset could not pin the emulator: the one-at-a-time runs are not pinned");
    }
    let pinned = |program: &Path, pin: bool| match (&pinning, pin) {
        (Some((_, cpu)), true) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpu.as_str()]).arg(program);
            cmd
        }
        _ => Command::new(program),
    };
    let sdk_cmd = || {
        let mut cmd = pinned(&python, true);
        cmd.arg(root.join(SDK_SCRIPT))
            .args([url.as_str(), ops.as_str()])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1");
        cmd
    };
    let reimage_cmd = |concurrency: usize| {
        let mut cmd = pinned(&ecs_loop, concurrency == 1);
        cmd.args([url.as_str(), ops.as_str(), &concurrency.to_string()]);
        cmd
    };
    let mut rows = [
        Row {
            name: "official Python SDK",
            sdk: true,
            concurrency: 1,
            runs: Vec::new(),
        },
        Row {
            name: "reimage-client",
            sdk: false,
            concurrency: 1,
            runs: Vec::new(),
        },
        Row {
            name: "reimage-client, 8 at a time (no SDK counterpart: the SDK is synchronous)",
            sdk: false,
            concurrency: CONCURRENT,
            runs: Vec::new(),
        },
    ];
    // Alternating rounds, so that whatever else the machine does weighs on all rows alike.
    let load_before = load_average();
    for round in 1..=rounds {
        util::say(&format!("round {round} of {rounds}"));
        for row in &mut rows {
            if let Some((mask, cpu)) = &pinning {
                if row.concurrency == 1 {
                    emulator.pin(&["-c", cpu])?;
                } else {
                    emulator.pin(&[mask])?;
                }
            }
            let cmd = if row.sdk {
                sdk_cmd()
            } else {
                reimage_cmd(row.concurrency)
            };
            row.runs.push(emulator.run(cmd)?);
        }
    }
    // Instructions per operation of the client alone, by callgrind: two runs of different
    // lengths, so that start-up (the runtime, the client, the TLS roots) cancels out.
    let instructions = emulator.client_instructions(&ecs_loop);
    drop(emulator);
    let load_after = load_average();

    let [sdk, one, many] = rows.each_ref().map(Row::figure);
    let ops_ratio = one.ops_per_sec / sdk.ops_per_sec;
    let memory_ratio = sdk.peak_rss_kib as f64 / one.peak_rss_kib.max(1) as f64;
    let ops_met = ops_ratio >= OPS_TARGET;
    let memory_met = memory_ratio >= MEMORY_TARGET;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {} with huaweicloudsdkecs {sdk_version} on Python {python_version}, \
         {} operations per run against `reimage emulator --time-scale 1` (the default fixtures \
         with {} stopped servers appended, one per operation; reset before every run), in \
         {rounds} alternating rounds; each figure is the median round (by operations/s), the \
         peak RSS the highest of the rounds. CPU times are user + system, per operation. The \
         machine's load average (1 minute) was {load_before} before the runs and {load_after} \
         after, on {cores} cores: other work shares the machine, which moves the figures from \
         round to round. {}\n",
        today(),
        thousands(OPERATIONS as f64),
        thousands(OPERATIONS as f64),
        if pinning.is_some() {
            "One at a time, the client (the SDK or reimage) and the emulator run on one CPU \
             (`taskset -c`, both sides alike), so that a sequential loop never waits for an idle \
             core to wake up: on two cores that wait moved the one-at-a-time figures by half or \
             double with the machine's load. With 8 at a time, every CPU the emulator started \
             with."
        } else {
            "`taskset` (util-linux) was not found, so the runs were not pinned to one CPU: the \
             one-at-a-time figures then move with the machine's load."
        },
    );
    let _ = writeln!(
        out,
        "| client | at a time | operations/s | operations/s of each round | peak RSS | client CPU | emulator CPU | whole process |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (row, figure) in rows.iter().zip([sdk, one, many]) {
        let each: Vec<String> = row.runs.iter().map(|r| thousands(r.ops_per_sec)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.concurrency,
            thousands(figure.ops_per_sec),
            each.join(" / "),
            mib(figure.peak_rss_kib),
            per_op(figure.client_cpu),
            per_op(figure.emulator_cpu),
            seconds(figure.whole_process),
        );
    }
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    let _ = writeln!(
        out,
        "\nOne at a time, reimage does **{:.1}×** the official SDK's operations/s (target ≥ \
         {OPS_TARGET}×): {}.\n",
        ops_ratio,
        verdict(ops_met)
    );
    let _ = writeln!(
        out,
        "Its peak RSS is **1/{:.1}** of the SDK's (target ≤ 1/{MEMORY_TARGET}): {}.\n",
        memory_ratio,
        verdict(memory_met)
    );
    let cpu_ratio = sdk.client_cpu / one.client_cpu.max(f64::MIN_POSITIVE);
    let cpu_met = cpu_ratio >= CPU_TARGET;
    let _ = writeln!(
        out,
        "Its CPU per operation is **1/{:.0}** of the SDK's (target ≤ 1/{CPU_TARGET}): {}.\n",
        cpu_ratio,
        verdict(cpu_met)
    );
    match &instructions {
        Ok((per_op, top)) => {
            let _ = writeln!(
                out,
                "callgrind counts **{}** instructions of the client per operation (one reinstall \
                 and one job query, signed; the difference between runs of {CALLGRIND_LONG} and \
                 {CALLGRIND_SHORT} operations, so start-up cancels out). The same binary and \
                 inputs give the same count on a busy machine, so this is the figure to compare a \
                 change with. The client's functions that count most in the longer run, \
                 inclusively:\n",
                thousands(*per_op as f64)
            );
            for line in top {
                let _ = writeln!(out, "- {line}");
            }
            out.push('\n');
        }
        Err(why) => {
            let _ = writeln!(out, "callgrind: **not measured**: {why}\n");
        }
    }

    // Where the time goes, from the CPU each side spent.
    let wall = 1.0 / one.ops_per_sec.max(f64::MIN_POSITIVE);
    let busiest = if one.emulator_cpu > one.client_cpu {
        "the emulator, not the client, sets the pace of reimage's loop"
    } else {
        "the client's own CPU sets the pace of reimage's loop"
    };
    let _ = writeln!(
        out,
        "Where the time goes: one at a time, a reimage operation takes {} of wall time, of which \
         the client spends {} of CPU and the emulator {} (the rest is the loopback round trips \
         and waking up): {busiest}. The SDK spends {} of CPU per operation, **{:.1}×** \
         reimage's, whatever the server. With {CONCURRENT} at a time, reimage does {} \
         operations/s ({:.1}× the SDK's one at a time), and client and emulator together spend \
         {} of CPU per operation on the machine's {cores} cores: a ceiling of about {} \
         operations/s for this loop on this machine, {:.1}× the SDK's.",
        per_op(wall),
        per_op(one.client_cpu),
        per_op(one.emulator_cpu),
        per_op(sdk.client_cpu),
        sdk.client_cpu / one.client_cpu.max(f64::MIN_POSITIVE),
        thousands(many.ops_per_sec),
        many.ops_per_sec / sdk.ops_per_sec,
        per_op(many.client_cpu + many.emulator_cpu),
        thousands(cores as f64 / (many.client_cpu + many.emulator_cpu).max(f64::MIN_POSITIVE)),
        cores as f64
            / (many.client_cpu + many.emulator_cpu).max(f64::MIN_POSITIVE)
            / sdk.ops_per_sec,
    );
    Ok((out, ops_met && memory_met && cpu_met))
}

/// The `[[ecs.servers]]` tables of `count` stopped benchmark servers, with the ids that
/// `ecs_loop.rs` and `sdk_loop.py` compute: `5e7e0000-0000-4000-8000-{index:012}`.
pub(crate) fn server_tables(count: usize) -> String {
    let mut out = String::new();
    for index in 0..count {
        let _ = write!(
            out,
            "\n[[ecs.servers]]\nid = \"5e7e0000-0000-4000-8000-{index:012}\"\nname = \
             \"bench-{index}\"\nimage = \"{IMAGE}\"\nrunning = false\nflavor = \"s3.medium.2\"\n\
             created = \"2024-06-01T08:00:00Z\"\n"
        );
    }
    out
}

/// The lowest CPU of a `taskset` mask in hex (`3`, `ff`, `ffffffff,ffffffff`), as a decimal
/// CPU number; `None` for an empty or unreadable mask.
fn first_cpu(mask: &str) -> Option<String> {
    let digits: Vec<u32> = mask
        .chars()
        .filter(|c| *c != ',')
        .map(|c| c.to_digit(16))
        .collect::<Option<_>>()?;
    // The last hex digit holds CPUs 0 to 3.
    digits
        .iter()
        .rev()
        .enumerate()
        .find_map(|(i, d)| (*d != 0).then(|| (i as u32 * 4 + d.trailing_zeros()).to_string()))
}

/// `reimage emulator`, started by this task; killed when dropped.
struct Emulator {
    child: Child,
    addr: String,
    base_url: String,
}

impl Emulator {
    fn start(reimage: &Path, fixtures: &Path) -> Result<Self, String> {
        let mut child = Command::new(reimage)
            .args(["emulator", "--listen", "127.0.0.1:0", "--time-scale", "1"])
            .arg("--fixtures")
            .arg(fixtures)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", reimage.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let Some(base_url) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "`reimage emulator` did not say where it listens (got {line:?})"
            ));
        };
        util::say(&format!("reimage emulator listening on {base_url}"));
        Ok(Self {
            child,
            addr: base_url.trim_start_matches("http://").to_owned(),
            base_url,
        })
    }

    /// The emulator's CPU affinity mask in hex, as `taskset -p` shows it; `None` without
    /// taskset.
    fn affinity(&self) -> Option<String> {
        let shown =
            output(Command::new("taskset").args(["-p", &self.child.id().to_string()])).ok()?;
        // `pid 123's current affinity mask: 3`
        let mask = shown.trim().rsplit(": ").next()?.trim().to_owned();
        first_cpu(&mask).map(|_| mask)
    }

    /// Sets the affinity of every thread of the emulator (`taskset -a -p ARGS PID`): `-c CPU`, or
    /// a mask.
    fn pin(&self, args: &[&str]) -> Result<(), String> {
        let status = Command::new("taskset")
            .args(["-a", "-p"])
            .args(args)
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("could not run taskset: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "taskset {} could not pin the emulator: {status}",
                args.join(" ")
            ))
        }
    }

    /// Resets the emulator, runs `cmd` (a client printing its JSON line), checks that the
    /// emulator holds one reinstall job per operation; the figures.
    fn run(&self, mut cmd: Command) -> Result<Run, String> {
        let shown = util::describe(&cmd);
        self.call("POST", "/_emulator/reset")?;
        let cpu_before = cpu_seconds(self.child.id());
        util::say(&format!("$ {shown}"));
        let (report, peak_polled, whole_process) = watch(&mut cmd)?;
        let emulator_cpu = cpu_seconds(self.child.id()) - cpu_before;
        let value: serde_json::Value = serde_json::from_str(&report)
            .map_err(|e| format!("{shown} printed {report:?}, not its JSON line: {e}"))?;
        util::say(report.trim());
        let number = |key: &str| {
            value[key]
                .as_f64()
                .ok_or_else(|| format!("{shown}: no {key} in {report:?}"))
        };
        let ops = number("ops")?;
        if ops as usize != OPERATIONS {
            return Err(format!("{shown} made {ops} operations, not {OPERATIONS}"));
        }
        let state = self.call("GET", "/_emulator/state")?;
        let jobs = serde_json::from_str::<serde_json::Value>(&state)
            .ok()
            .and_then(|s| {
                s["ecs"]["jobs"].as_array().map(|jobs| {
                    jobs.iter()
                        .filter(|j| j["job_type"] == "reinstallOS")
                        .count()
                })
            })
            .unwrap_or(0);
        if jobs != OPERATIONS {
            return Err(format!(
                "after {shown} the emulator holds {jobs} reinstall jobs, not {OPERATIONS}"
            ));
        }
        Ok(Run {
            ops_per_sec: number("ops_per_sec")?,
            peak_rss_kib: peak_polled.max(number("peak_rss_kib")? as u64),
            client_cpu: number("cpu_seconds")? / ops,
            emulator_cpu: emulator_cpu / ops,
            whole_process,
        })
    }

    /// The client's instructions per operation (one at a time), by callgrind: the difference
    /// between a run of [`CALLGRIND_LONG`] and one of [`CALLGRIND_SHORT`] operations, each on a
    /// reset emulator, divided by the difference in operations; with the client's functions that
    /// count most in the long run.
    fn client_instructions(&self, ecs_loop: &Path) -> Result<(u64, Vec<String>), String> {
        let mut totals = Vec::new();
        let mut top = Vec::new();
        for ops in [CALLGRIND_SHORT, CALLGRIND_LONG] {
            self.call("POST", "/_emulator/reset")?;
            util::say(&format!("callgrind: ecs_loop, {ops} operations"));
            let ops = ops.to_string();
            let (total, functions) =
                crate::bench::callgrind(ecs_loop, &[self.base_url.as_str(), ops.as_str(), "1"])?;
            totals.push(total);
            top = functions;
        }
        let per_op =
            totals[1].saturating_sub(totals[0]) / (CALLGRIND_LONG - CALLGRIND_SHORT) as u64;
        Ok((per_op, top))
    }

    /// One call to the emulator's admin API; the body of a 200 answer.
    fn call(&self, method: &str, path: &str) -> Result<String, String> {
        let fail = |e: std::io::Error| format!("{method} {path}: {e}");
        let mut stream = TcpStream::connect(&self.addr).map_err(fail)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(fail)?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.addr
        )
        .map_err(fail)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(fail)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        if head.split_whitespace().nth(1) != Some("200") {
            return Err(format!("{method} {path} answered {head:?}"));
        }
        // The admin API answers with a length, never chunked.
        Ok(body.to_owned())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to its end, reading its peak RSS every [`POLL`]; gives its last line of stdout,
/// the highest `VmHWM` seen (KiB) and its whole wall time. Fails when it fails or outlasts
/// [`RUN_DEADLINE`].
fn watch(cmd: &mut Command) -> Result<(String, u64, Duration), String> {
    let shown = util::describe(cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    let pid = child.id();
    let mut peak = 0u64;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > RUN_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} took more than {RUN_DEADLINE:?}"));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    let whole = started.elapsed();
    let mut stdout = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if !status.success() {
        return Err(format!("{shown} failed with {status}: {}", stdout.trim()));
    }
    let last = stdout
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    Ok((last, peak, whole))
}

/// `VmHWM` of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU time of a live process, in seconds (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks: u64 = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // After the `)` that ends the command name: state is field 3, utime 14, stime 15.
            let (_, rest) = stat.rsplit_once(')')?;
            Some(
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|t| t.parse::<u64>().ok())
                    .sum(),
            )
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

/// The 1-minute load average, as `/proc/loadavg` says it.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Seconds per operation, as µs or ms.
fn per_op(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The summary.

/// A ratio read back from a part of the page.
struct Verdict {
    figure: String,
    met: bool,
    date: String,
}

/// The summary part: every ratio against a peer, read from the parts of `doc`.
pub(crate) fn ratios(doc: &str) -> String {
    let rows: [(&str, &str, &str, &str); 14] = [
        (
            "sdk",
            "operations/s",
            "reimage-client against the official Python SDK: operations/s of reinstall + \
             show_job, one at a time",
            "≥ 20×",
        ),
        (
            "sdk",
            "CPU per operation",
            "reimage-client against the official Python SDK: client CPU per operation",
            "≤ 1/40",
        ),
        (
            "sdk",
            "peak RSS",
            "reimage-client against the official Python SDK: peak RSS",
            "≤ 1/5",
        ),
        (
            "cloud-init",
            "faster per file as a whole process",
            "`reimage validate` against `cloud-init schema`: time per file, one process each",
            "≥ 250×",
        ),
        (
            "cloud-init",
            "The small file takes",
            "`reimage validate` of a 5-line cloud-config: the whole process",
            "≤ 1.5 ms",
        ),
        (
            "forms",
            "For a 10-part MIME",
            "`reimage validate` against cloud-init 26.2: a 10-part multipart message, one process each",
            "≥ 50×",
        ),
        (
            "forms",
            "For a Jinja template",
            "`reimage validate -i` against `cloud-init schema -c -i`: a template with a loop",
            "≥ 50×",
        ),
        (
            "emulator",
            "The job query reaches",
            "the emulator against a bare hyper server: job queries/s, of the ceiling",
            "≥ 80%",
        ),
        (
            "emulator",
            "The server details reach",
            "the emulator against a bare hyper server: server details/s, of the ceiling",
            "≥ 50%",
        ),
        (
            "emulator",
            "servers a request costs",
            "the emulator with 100,000 servers against 4: instructions per request",
            "≤ 1.05×",
        ),
        (
            "fleet",
            "The peak RSS of",
            "`reimage fleet apply` of 100,000 targets: peak RSS",
            "< 128 MB",
        ),
        (
            "fleet",
            "The wall time is",
            "`reimage fleet apply` of 100,000 targets: wall time, of the job plus the rate \
             limit's floor",
            "≤ 1.2×",
        ),
        (
            "fleet",
            "Compaction paused the run",
            "`reimage fleet apply` of 100,000 targets: the longest pause of the run for the \
             journal's compaction",
            "≤ 100 ms",
        ),
        (
            "fleet",
            "`reimage fleet status` on the finished journal takes",
            "`reimage fleet status` on the 100,000-target journal",
            "< 1 s",
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(out, "| comparison | ratio | target | verdict | measured |");
    let _ = writeln!(out, "|---|---:|---:|---|---|");
    let mut missed = Vec::new();
    for (part, key, name, target) in rows {
        match verdict(doc, part, key) {
            Some(v) => {
                if !v.met {
                    missed.push(part);
                }
                let _ = writeln!(
                    out,
                    "| {name} | {} | {target} | {} | {} |",
                    v.figure,
                    if v.met { "met" } else { "**missed**" },
                    v.date
                );
            }
            None => {
                missed.push(part);
                let _ = writeln!(
                    out,
                    "| {name} | — | {target} | **not measured** (`cargo xtask bench --only \
                     {part}`) | — |"
                );
            }
        }
    }
    missed.dedup();
    if !missed.is_empty() {
        let _ = writeln!(
            out,
            "\nA missed target is explained in its part below ({}).",
            missed.join(", ")
        );
    }
    out
}

/// The first bold figure of the line of part `part` that contains `key`, whether that line
/// says the target was met, and the date the part was measured.
fn verdict(doc: &str, part: &str, key: &str) -> Option<Verdict> {
    let start = format!("<!-- bench:{part}:start -->");
    let end = format!("<!-- bench:{part}:end -->");
    let from = doc.find(&start)? + start.len();
    let body = &doc[from..from + doc[from..].find(&end)?];
    let line = body
        .lines()
        .find(|l| l.contains(key) && l.contains("(target") && l.contains("**"))?;
    let (_, rest) = line.split_once("**")?;
    let (figure, _) = rest.split_once("**")?;
    let met = !line.contains("**missed**") && line.trim_end().ends_with("met.");
    let date = body
        .split_once("Measured on ")
        .map(|(_, rest)| rest.chars().take(10).collect())
        .unwrap_or_default();
    Some(Verdict {
        figure: figure.to_owned(),
        met,
        date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cpu_of_a_mask() {
        assert_eq!(first_cpu("3").as_deref(), Some("0"));
        assert_eq!(first_cpu("c").as_deref(), Some("2"));
        assert_eq!(first_cpu("f0").as_deref(), Some("4"));
        assert_eq!(first_cpu("1,00000000").as_deref(), Some("32"));
        assert_eq!(first_cpu("0"), None);
        assert_eq!(first_cpu(""), None);
        assert_eq!(first_cpu("zz"), None);
    }

    #[test]
    fn sections_are_added_once_in_place() {
        let doc = "# B\n\n## Machine\n\n<!-- bench:machine:start -->\nx\n<!-- bench:machine:end -->\n\n## Other\n";
        let once = with_sections(doc);
        assert_eq!(with_sections(&once), once);
        let ratios = once.find("## Ratios against the peers").unwrap();
        assert!(once.find("<!-- bench:machine:end -->").unwrap() < ratios);
        assert!(ratios < once.find("## Other").unwrap());
        assert!(once.find("## Other").unwrap() < once.find("<!-- bench:sdk:start -->").unwrap());
    }

    #[test]
    fn verdicts_are_read_back_from_the_parts() {
        let doc = "<!-- bench:cloud-init:start -->\nMeasured on 2026-11-23 over 3 files.\n\n\
            reimage is **300×** faster per file as a whole process (target ≥ 250×): met.\n\
            The small file takes **1.20 ms** as a whole process (target ≤ 1.5 ms): met.\n\
            <!-- bench:cloud-init:end -->\n<!-- bench:forms:start -->\nMeasured on 2026-12-07: \
            x.\nFor a 10-part MIME message, reimage is **120×** faster as a whole process (target \
            ≥ 50×): met.\nFor a Jinja template with a loop, reimage is **40×** faster as a whole \
            process (target ≥ 50×): **missed**.\n<!-- bench:forms:end -->\n<!-- bench:emulator:start -->\nMeasured on 2026-11-22 \
            with wrk.\nThe job query reaches **63%** of the ceiling (target ≥ 80%): **missed**.\n\
            <!-- bench:emulator:end -->\n<!-- bench:fleet:start -->\nMeasured on 2026-12-06: \
            100,000 targets.\n\nThe peak RSS of `reimage fleet apply` is **120.0 MiB (125.8 MB)** \
            (target < 128 MB): met.\nThe wall time is **1.01×** the job duration plus the rate \
            limit's floor (target ≤ 1.2×): met.\nCompaction paused the run for **0 ms** at most \
            (target ≤ 100 ms): met.\n`reimage fleet status` on the finished journal takes **1.2 \
            s** (target < 1 s): **missed**.\n<!-- bench:fleet:end -->\n";
        let summary = ratios(doc);
        assert!(
            summary.contains("| 300× | ≥ 250× | met | 2026-11-23 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 1.20 ms | ≤ 1.5 ms | met | 2026-11-23 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 63% | ≥ 80% | **missed** | 2026-11-22 |"),
            "{summary}"
        );
        assert!(summary.contains("**not measured** (`cargo xtask bench --only sdk`)"));
        assert!(
            summary.contains("| 120× | ≥ 50× | met | 2026-12-07 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 40× | ≥ 50× | **missed** | 2026-12-07 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 120.0 MiB (125.8 MB) | < 128 MB | met | 2026-12-06 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 1.01× | ≤ 1.2× | met | 2026-12-06 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 0 ms | ≤ 100 ms | met | 2026-12-06 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| 1.2 s | < 1 s | **missed** | 2026-12-06 |"),
            "{summary}"
        );
        assert!(
            summary.contains("(sdk, forms, emulator, fleet)"),
            "{summary}"
        );
    }

    #[test]
    fn servers_parse_as_toml_tables() {
        let tables = server_tables(2);
        let parsed: toml_edit::DocumentMut = tables.parse().unwrap();
        let servers = parsed["ecs"]["servers"].as_array_of_tables().unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(
            servers.get(1).unwrap()["id"].as_str(),
            Some("5e7e0000-0000-4000-8000-000000000001")
        );
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(per_op(0.000_143), "143 µs");
        assert_eq!(per_op(0.002_15), "2.15 ms");
        assert_eq!(mib(45_588), "44.5 MiB");
    }
}
