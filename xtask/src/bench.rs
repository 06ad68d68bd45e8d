//! `cargo xtask bench`: measures on this machine and writes the figures into
//! `docs/benchmarks.md`.
//!
//! The benchmarks, each rewriting only its own part of the page, between
//! `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` (a missing part is appended; the
//! prose around the markers stays as written, but for the fleet's, which names its settings).
//! The `machine` part says where and when.
//!
//! - `emulator`: `wrk` (Debian's, installed with apt-get when missing) loads the emulator
//!   (`crates/emulator/examples/serve.rs`, release build, default fixtures) on loopback, beside a
//!   bare hyper hello-world (`examples/hello.rs`) on the same machine as the ceiling: requests/s
//!   and p99 of the hello-world, the job query (`GET /v1/{project}/jobs/{job}`, with an IAM token,
//!   after one reinstall made the job) and the server details, in 3 alternating rounds
//!   (`--rounds`) whose median is reported, since the machine may be busy with other things.
//!   Each run is bounded: 2 threads, 64 connections, 5 s (`--duration`). Target: the job query
//!   at 80% of the ceiling or more, the server details at 50% or more; and callgrind's
//!   instructions per request of each and of the hello-world (two run lengths on one
//!   connection), and of each again with 100,000 servers in the fixtures (target: the same
//!   instructions as with the default 4, within 5%).
//! - `cloud-init`: the whole-process comparison of `reimage validate --cloud-init 22.4 FILE` with
//!   real cloud-init 22.4.2's `cloud-init schema -c FILE` (the peer that `cargo xtask
//!   cloud-init-peer` sets up), one process per file: every `#cloud-config` file of
//!   `tests/cloud-init/corpus/` for reimage, an evenly spread sample of 30 for cloud-init (it
//!   takes a third of a second each). Target: 250 times faster per file or more, and a 5-line
//!   file's whole process in 1.5 ms or less (with `/bin/true` timed the same way beside it, and
//!   its instructions counted by callgrind). Beside it the in-process throughput from the
//!   criterion bench (`cargo bench -p reimage-cloudinit --bench validate`), target 50,000
//!   files/s or more. When the CLI does not build, the part says "not
//!   measured" and why.
//! - `forms`: the whole-process comparison for a 10-part MIME multipart message and a Jinja
//!   template with a loop, against real cloud-init 26.2 (`xtask/scripts/bench_forms.py judge`
//!   for the message, `cloud-init schema -c T -i DATA` for the template). Target: 50 times
//!   faster on each.
//! - `fleet`: `reimage fleet apply` (release build) on a generated plan of 100,000 targets
//!   (90,000 ECS servers and 10,000 EDIS KVMs) against `reimage emulator --fixtures` with as many
//!   servers, at a small time scale, all in a scratch directory under `target/bench-fleet/`:
//!   wall time, the CLI's peak RSS (`VmHWM`, read every 50 ms), and requests/s (the emulator's
//!   request log numbers every call it gets, so its last number is the count even though it
//!   keeps only the last 10,000). The run must end with every target done and, by the
//!   emulator's admin state, every server and KVM re-imaged exactly once. Then `fleet status` and
//!   a second `fleet apply` (nothing to send) on the finished journal are timed. Targets: peak
//!   RSS under 128 MB; wall time within 1.2× of the emulator's job duration plus the rate limit's
//!   floor (the requests made divided by `--rate`, since every API request passes the limit);
//!   `fleet status` under 1 s.
//! - `throttle`: `reimage fleet apply` on 1,000 ECS targets against an emulator that allows 200
//!   calls per user in 5 minutes (scaled), answering 429 without `Retry-After`: wall time, and
//!   at time scale 1; see `bench_throttle.rs`.
//!
//! - `sdk`: reimage-client against the official Python SDK in a loop of reinstall + show_job,
//!   operations/s and peak RSS; and `ratios`, the summary of every ratio against its peer with
//!   its target, rewritten on every run: see `bench_sdk.rs`.
//!
//! `--only emulator|cloud-init|forms|fleet|throttle|sdk` runs one of them. Servers it starts are
//! killed when it is done (or fails); it binds 127.0.0.1 only.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{run_cmd, util};

/// The page, relative to the workspace root.
const PAGE: &str = "docs/benchmarks.md";
/// The corpus, relative to the workspace root.
const CORPUS: &str = "tests/cloud-init/corpus";
/// How many corpus files cloud-init validates, one process each.
const CLOUD_INIT_SAMPLE: usize = 30;

/// The fixtures the load uses (`crates/emulator/fixtures/default.toml`).
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SERVER: &str = "11111111-2222-3333-4444-555555555555";
const TOKEN_REQUEST: &str = r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":"Emulator-Passw0rd!","domain":{"name":"emulator"}}}},"scope":{"project":{"id":"0123456789abcdef0123456789abcdef"}}}}"#;
const REINSTALL_REQUEST: &str =
    r#"{"os-reinstall":{"keyname":"KeyPair-350b","userid":"7e25b1da389f4697a79df3a0e5bd494e"}}"#;

/// The load: threads, connections.
const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 64;

/// The targets.
const JOB_QUERY_TARGET: f64 = 0.80;
/// The server details, at this share of the ceiling or more.
const DETAILS_TARGET: f64 = 0.50;
const WHOLE_PROCESS_TARGET: f64 = 250.0;
const IN_PROCESS_TARGET: f64 = 50_000.0;
/// The whole `reimage validate` process on a small file, at most (milliseconds).
const SMALL_FILE_TARGET_MS: f64 = 1.5;
/// How many times the small file is validated, one process each, for its mean.
const SMALL_FILE_RUNS: usize = 500;
/// The small file: five lines, as a user's cloud-config often is.
const SMALL_FILE: &str = "#cloud-config\nhostname: web-01\npackages: [nginx]\n\
    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB ops]\n\
    runcmd: [[systemctl, restart, nginx]]\n";

const INTRO: &str = "\
# Benchmarks

Figures measured on one machine by `cargo xtask bench`, which rewrites the parts of this page
between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` markers and leaves the rest as
written. They are comparisons on the same machine at the same time, not absolute promises: rerun
`cargo xtask bench` (or `cargo xtask bench --only emulator|cloud-init|forms|fleet|throttle|sdk`) on yours.

## Machine

<!-- bench:machine:start -->
<!-- bench:machine:end -->

## The emulator under load

`wrk` drives the emulator (`crates/emulator/examples/serve.rs`, release build, default fixtures)
from the same machine over loopback. The ceiling is a bare hyper 1 hello-world
(`crates/emulator/examples/hello.rs`) on the same runtime and HTTP stack, measured the same way
in the same rounds. The job query is the call a client polls while a reinstall runs; it carries
an IAM token, so every call is authenticated, routed, settled against the clock, answered in the
ECS body form and logged (redacted) in the request log. Targets: the job query at 80% or more of
the ceiling's requests/s, the server details at 50% or more. The figures move by tens of percent from run to run on a shared
machine, which is why the rounds alternate and the median round is reported.

<!-- bench:emulator:start -->
<!-- bench:emulator:end -->

## Validating cloud-config: reimage against cloud-init

The same corpus (`tests/cloud-init/corpus/`, the files that start with `#cloud-config`) through
`reimage validate --cloud-init 22.4 FILE` and through real cloud-init 22.4.2's
`cloud-init schema -c FILE` (Debian 12's package, the peer `cargo xtask cloud-init-peer` sets
up), one process per file, as a user or a CI step runs them. cloud-init spends most of its time
starting Python, so it gets a sample. Targets: 250 times faster per file as a whole process; a
5-line file's whole process in 1.5 ms or less, with `/bin/true` timed the same way beside it (what
any process costs on the machine) and the process's instructions counted by callgrind (the same
count from run to run, whatever else the machine does, so the figure a change is compared with);
and 50,000 files/s or more in-process (the criterion bench `cargo bench -p reimage-cloudinit
--bench validate`, which validates the whole corpus per iteration).

<!-- bench:cloud-init:start -->
<!-- bench:cloud-init:end -->
";

/// Runs the benchmarks and rewrites their parts of `docs/benchmarks.md`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut only: Option<String> = None;
    let mut duration = 5u64;
    let mut rounds = 3usize;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--only" => match rest.next().map(String::as_str) {
                Some(
                    name @ ("emulator" | "cloud-init" | "forms" | "fleet" | "throttle" | "sdk"),
                ) => {
                    only = Some(name.to_owned());
                }
                other => {
                    return Err(format!(
                        "--only takes emulator, cloud-init, forms, fleet, throttle or sdk, got {other:?}"
                    ));
                }
            },
            "--duration" => {
                duration = rest
                    .next()
                    .and_then(|d| d.parse().ok())
                    .filter(|d| (1..=60).contains(d))
                    .ok_or("--duration takes whole seconds, 1 to 60")?;
            }
            "--rounds" => {
                rounds = rest
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|r| (1..=9).contains(r))
                    .ok_or("--rounds takes 1 to 9")?;
            }
            _ => {
                return Err(format!(
                    "`cargo xtask bench` takes --only emulator|cloud-init|forms|fleet|throttle|sdk, --duration \
                     SECS and --rounds N, got {args:?}"
                ));
            }
        }
    }
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let root = util::root();
    let page = root.join(PAGE);
    let mut doc = fs::read_to_string(&page).unwrap_or_else(|_| INTRO.to_owned());

    doc = replace_part(&doc, "machine", &machine()?);
    doc = crate::bench_sdk::with_sections(&doc);
    let mut shortfalls = Vec::new();
    if wanted("emulator") {
        let (part, ok) = emulator(&root, duration, rounds)?;
        doc = replace_part(&doc, "emulator", &part);
        if !ok {
            shortfalls.push("emulator");
        }
        write_page(&page, &doc)?;
    }
    if wanted("cloud-init") {
        let (part, ok) = cloud_init(&root)?;
        doc = replace_part(&doc, "cloud-init", &part);
        if !ok {
            shortfalls.push("cloud-init");
        }
        write_page(&page, &doc)?;
    }
    if wanted("forms") {
        let (part, ok) = forms(&root)?;
        doc = replace_part(&doc, "forms", &part);
        if !ok {
            shortfalls.push("forms");
        }
        write_page(&page, &doc)?;
    }
    if wanted("fleet") {
        let (part, ok) = fleet(&root)?;
        // The run takes minutes: start again from the page as it is now, in case it changed.
        if let Ok(now) = fs::read_to_string(&page) {
            doc = now;
        }
        doc = with_fleet_prose(&doc);
        doc = replace_part(&doc, "fleet", &part);
        if !ok {
            shortfalls.push("fleet");
        }
        write_page(&page, &doc)?;
    }
    if wanted("throttle") {
        let (part, ok) = crate::bench_throttle::throttle(&root)?;
        if let Ok(now) = fs::read_to_string(&page) {
            doc = now;
        }
        doc = with_throttle_prose(&doc);
        doc = replace_part(&doc, "throttle", &part);
        if !ok {
            shortfalls.push("throttle");
        }
        write_page(&page, &doc)?;
    }
    if wanted("sdk") {
        let (part, ok) = crate::bench_sdk::sdk(&root, rounds)?;
        doc = replace_part(&doc, "sdk", &part);
        if !ok {
            shortfalls.push("sdk");
        }
        write_page(&page, &doc)?;
    }
    // Every ratio against its peer, read back from the parts (a part not rerun keeps its last).
    doc = replace_part(&doc, "ratios", &crate::bench_sdk::ratios(&doc));
    write_page(&page, &doc)?;
    util::say(&format!("wrote {PAGE}"));
    if !shortfalls.is_empty() {
        util::say(&format!(
            "note: {} missed a target or was not measured; see {PAGE}",
            shortfalls.join(" and ")
        ));
    }
    Ok(())
}

fn write_page(page: &Path, doc: &str) -> Result<(), String> {
    if let Some(dir) = page.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    fs::write(page, doc).map_err(|e| format!("could not write {}: {e}", page.display()))
}

/// `doc` with the text between the `name` markers replaced by `content`; the part is appended
/// when the markers are missing.
fn replace_part(doc: &str, name: &str, content: &str) -> String {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let body = format!("{start}\n{}\n{end}", content.trim_end());
    match (doc.find(&start), doc.find(&end)) {
        (Some(s), Some(e)) if s < e => {
            format!("{}{body}{}", &doc[..s], &doc[e + end.len()..])
        }
        _ => format!("{}\n\n{body}\n", doc.trim_end()),
    }
}

// ---------------------------------------------------------------------------------------------
// The machine.

fn machine() -> Result<String, String> {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = field(&meminfo, "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        );
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let rustc = output(Command::new("rustc").arg("--version"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "Measured on {}.\n", today());
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {cpu} |");
    let _ = writeln!(out, "| cores | {cores} |");
    let _ = writeln!(out, "| memory | {memory} |");
    let _ = writeln!(out, "| OS | {os}, Linux {kernel} |");
    let _ = writeln!(out, "| Rust | {rustc} |");
    Ok(out)
}

/// The value of the first `name : value` line.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A command's stdout, when it ran and succeeded.
pub(crate) fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("could not start {}: {e}", util::describe(cmd)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed with {}: {}",
            util::describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator.

/// One `wrk` run's figures.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests_per_sec: f64,
    p99: Duration,
    requests: u64,
}

/// Measures the hello-world and the emulator in alternating rounds; gives the part and whether
/// the target was met.
fn emulator(root: &Path, duration: u64, rounds: usize) -> Result<(String, bool), String> {
    let wrk = ensure_wrk()?;
    run_cmd(util::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "reimage-emulator",
        "--example",
        "hello",
        "--example",
        "serve",
    ]))?;
    let examples = target_dir(root).join("release").join("examples");
    // `wrk -v` prints `wrk 4.1.0 [epoll] ...` and exits 1.
    let wrk_version = Command::new(&wrk)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1).map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned());

    let hello = Server::start(&examples.join("hello"), &[])?;
    let serve = Server::start(&examples.join("serve"), &[])?;
    let addr = serve.addr.clone();
    let answer = http(&addr, "POST", "/v3/auth/tokens", &[], TOKEN_REQUEST)?;
    if answer.status != 201 {
        return Err(format!(
            "the token request answered {}: {}",
            answer.status, answer.body
        ));
    }
    let token = answer
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-subject-token"))
        .map(|(_, value)| value.clone())
        .ok_or("the token answer has no X-Subject-Token")?;
    let auth = [("X-Auth-Token", token.as_str())];
    let job = reinstall_job(&addr, &auth)?;
    let job_path = format!("/v1/{PROJECT}/jobs/{job}");
    let server_path = format!("/v1/{PROJECT}/cloudservers/{SERVER}");
    for path in [&job_path, &server_path] {
        let answer = http(&addr, "GET", path, &auth, "")?;
        if answer.status != 200 {
            return Err(format!(
                "GET {path} answered {}: {}",
                answer.status, answer.body
            ));
        }
    }
    let header = format!("X-Auth-Token: {token}");
    let targets: [(&str, String, &[&str]); 3] = [
        (
            "hello-world (bare hyper 1), `GET /`: the ceiling",
            format!("{}/", hello.base_url),
            &[],
        ),
        (
            "emulator, job query `GET /v1/{project}/jobs/{job}`",
            format!("{}{job_path}", serve.base_url),
            &["-H", &header],
        ),
        (
            "emulator, server details `GET /v1/{project}/cloudservers/{id}`",
            format!("{}{server_path}", serve.base_url),
            &["-H", &header],
        ),
    ];
    // Alternating rounds, so that whatever else the machine does weighs on all three alike.
    let mut runs: Vec<Vec<Load>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        util::say(&format!("round {round} of {rounds}"));
        for ((_, url, extra), loads) in targets.iter().zip(&mut runs) {
            loads.push(load(&wrk, url, extra, duration)?);
        }
    }
    drop(serve);
    drop(hello);

    let figures: Vec<Load> = runs.iter().map(|loads| median(loads)).collect();
    let ceiling = figures[0].requests_per_sec;
    let ratio = figures[1].requests_per_sec / ceiling;
    let details_ratio = figures[2].requests_per_sec / ceiling;
    let met = ratio >= JOB_QUERY_TARGET && details_ratio >= DETAILS_TARGET;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {} with `wrk {wrk_version}` (`-t{WRK_THREADS} -c{WRK_CONNECTIONS} \
         -d{duration}s --latency`), load generator and servers sharing the machine's cores, in \
         {rounds} alternating rounds; each figure is the median round (by requests/s). Every \
         answer was 2xx.\n",
        today()
    );
    let _ = writeln!(
        out,
        "| server, call | requests/s | p99 latency | requests/s of each round | of the ceiling |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (((name, _, _), figure), loads) in targets.iter().zip(&figures).zip(&runs) {
        let each: Vec<String> = loads
            .iter()
            .map(|l| thousands(l.requests_per_sec))
            .collect();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {:.0}% |",
            thousands(figure.requests_per_sec),
            millis(figure.p99),
            each.join(" / "),
            100.0 * figure.requests_per_sec / ceiling
        );
    }
    let _ = writeln!(
        out,
        "\nThe job query reaches **{:.0}%** of the ceiling (target ≥ {:.0}%): {}.",
        100.0 * ratio,
        100.0 * JOB_QUERY_TARGET,
        if ratio >= JOB_QUERY_TARGET {
            "met"
        } else {
            "**missed**"
        }
    );
    let _ = writeln!(
        out,
        "\nThe server details reach **{:.0}%** of the ceiling (target ≥ {:.0}%): {}.",
        100.0 * details_ratio,
        100.0 * DETAILS_TARGET,
        if details_ratio >= DETAILS_TARGET {
            "met"
        } else {
            "**missed**"
        }
    );
    let mut met = met;
    match emulator_instructions(root, &examples.join("hello")) {
        Ok(counts) => {
            let _ = writeln!(
                out,
                "\ncallgrind counts, per request (release builds; the difference between \
                 {EMULATOR_CALLGRIND_LONG} and {EMULATOR_CALLGRIND_SHORT} requests on one \
                 kept-alive connection, so start-up cancels out; the same count from run to run, \
                 whatever the machine is doing). The emulator is `reimage emulator`, with the \
                 default fixtures (4 servers) or with {} servers appended to them ({} in all):\n",
                thousands((LARGE_FLEET - DEFAULT_SERVERS) as f64),
                thousands(LARGE_FLEET as f64),
            );
            let _ = writeln!(
                out,
                "| call | instructions per request | of the hello-world's |\n|---|---:|---:|"
            );
            let hello = counts.hello.max(1) as f64;
            let _ = writeln!(
                out,
                "| hello-world (bare hyper 1), `GET /`: the ceiling | {} | 1.0× |",
                thousands(counts.hello as f64)
            );
            for (name, count) in [
                ("emulator, job query", counts.job),
                ("emulator, server details", counts.details),
                ("emulator with 100,000 servers, job query", counts.job_large),
                (
                    "emulator with 100,000 servers, server details",
                    counts.details_large,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.1}× |",
                    thousands(count as f64),
                    count as f64 / hello
                );
            }
            let ratio = |large: u64, small: u64| large as f64 / small.max(1) as f64;
            let worst = ratio(counts.job_large, counts.job)
                .max(ratio(counts.details_large, counts.details));
            let flat = worst <= LARGE_FLEET_TARGET;
            met &= flat;
            let _ = writeln!(
                out,
                "\nWith {} servers a request costs **{worst:.2}×** the instructions it costs with \
                 {DEFAULT_SERVERS}, the larger of the job query's ({:.2}×) and the server \
                 details' ({:.2}×) (target ≤ {LARGE_FLEET_TARGET:.2}×): {}.",
                thousands(LARGE_FLEET as f64),
                ratio(counts.job_large, counts.job),
                ratio(counts.details_large, counts.details),
                if flat { "met" } else { "**missed**" }
            );
            for (name, top) in [
                ("job query", &counts.top_job),
                ("server details", &counts.top_details),
            ] {
                let _ = writeln!(
                    out,
                    "\nThe emulator's functions that count most in the longer run of the {name} \
                     (default fixtures), inclusively:\n"
                );
                for line in top {
                    let _ = writeln!(out, "- {line}");
                }
            }
        }
        Err(why) => {
            let _ = writeln!(out, "\ncallgrind: **not measured**: {why}");
        }
    }
    Ok((out, met))
}

/// The two run lengths whose difference the emulator's instructions per request come from.
const EMULATOR_CALLGRIND_SHORT: usize = 200;
const EMULATOR_CALLGRIND_LONG: usize = 1_200;

/// The servers of the default fixtures, and of the large fixtures (the default ones with
/// servers appended) whose requests must cost what the default fixtures' do.
const DEFAULT_SERVERS: usize = 4;
const LARGE_FLEET: usize = 100_000;

/// The most a request may cost with [`LARGE_FLEET`] servers, as a multiple of its cost with
/// [`DEFAULT_SERVERS`]: "the same", give or take what a larger index costs to reach.
const LARGE_FLEET_TARGET: f64 = 1.05;

/// What callgrind counted, per request.
struct Instructions {
    hello: u64,
    job: u64,
    details: u64,
    job_large: u64,
    details_large: u64,
    /// The emulator's functions that count most in the longer runs, inclusively.
    top_job: Vec<String>,
    top_details: Vec<String>,
}

/// A call that the callgrind runs repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `GET /` of the hello-world.
    Hello,
    /// The job query, after a reinstall that made the job.
    JobQuery,
    /// The server details.
    ServerDetails,
}

/// The instructions per request of the hello-world (`hello`), and of the emulator's job query and
/// server details with the default fixtures and with [`LARGE_FLEET`] servers, by callgrind: the
/// server runs under valgrind, answers a token request (and a reinstall, for the job query),
/// then [`EMULATOR_CALLGRIND_SHORT`] or [`EMULATOR_CALLGRIND_LONG`] requests on one connection,
/// and stops on SIGINT (which makes callgrind write its counts).
fn emulator_instructions(root: &Path, hello: &Path) -> Result<Instructions, String> {
    if which("valgrind").is_none() || which("callgrind_annotate").is_none() {
        return Err("valgrind is not installed (`apt-get install valgrind`)".into());
    }
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))?;
    let reimage = target_dir(root).join("release").join("reimage");
    let scratch = util::TempDir::new("bench-emulator-callgrind")?;
    let large = scratch.path().join("fixtures-large.toml");
    let defaults = root.join(crate::bench_sdk::DEFAULT_FIXTURES);
    let defaults = fs::read_to_string(&defaults)
        .map_err(|e| format!("could not read {}: {e}", defaults.display()))?;
    fs::write(
        &large,
        format!(
            "{defaults}{}",
            crate::bench_sdk::server_tables(LARGE_FLEET - DEFAULT_SERVERS)
        ),
    )
    .map_err(|e| format!("could not write {}: {e}", large.display()))?;
    let emulator = |fixtures: Option<&Path>| {
        let mut args = vec![
            reimage.as_os_str().to_owned(),
            "emulator".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        if let Some(fixtures) = fixtures {
            args.push("--fixtures".into());
            args.push(fixtures.as_os_str().to_owned());
        }
        args
    };
    let per_request = |name: &str, command: &[std::ffi::OsString], call: Call| {
        let mut totals = Vec::new();
        let mut top = Vec::new();
        for requests in [EMULATOR_CALLGRIND_SHORT, EMULATOR_CALLGRIND_LONG] {
            util::say(&format!("callgrind: {name}, {requests} requests"));
            let out = scratch
                .path()
                .join(format!("callgrind-{name}-{requests}.out"));
            let (total, functions) = callgrind_server(&out, command, call, requests)?;
            totals.push(total);
            top = functions;
        }
        let per = totals[1].saturating_sub(totals[0])
            / (EMULATOR_CALLGRIND_LONG - EMULATOR_CALLGRIND_SHORT) as u64;
        Ok::<_, String>((per, top))
    };
    let (hello, _) = per_request("hello", &[hello.as_os_str().to_owned()], Call::Hello)?;
    let (job, top_job) = per_request("job", &emulator(None), Call::JobQuery)?;
    let (details, top_details) = per_request("details", &emulator(None), Call::ServerDetails)?;
    let (job_large, _) = per_request("job-large", &emulator(Some(&large)), Call::JobQuery)?;
    let (details_large, _) = per_request(
        "details-large",
        &emulator(Some(&large)),
        Call::ServerDetails,
    )?;
    Ok(Instructions {
        hello,
        job,
        details,
        job_large,
        details_large,
        top_job,
        top_details,
    })
}

/// Runs `command` (a server that prints `listening on http://ADDR` first) under callgrind,
/// makes `requests` calls of `call` on one connection, stops it with SIGINT; the counts file's
/// total and top functions.
fn callgrind_server(
    out: &Path,
    command: &[std::ffi::OsString],
    call: Call,
    requests: usize,
) -> Result<(u64, Vec<String>), String> {
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start valgrind: {e}"))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    let result = line
        .trim()
        .strip_prefix("listening on http://")
        .ok_or_else(|| format!("the server under valgrind said {line:?}"))
        .and_then(|addr| drive(addr, call, requests));
    // SIGINT: the server stops cleanly and callgrind writes its counts.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    result?;
    annotated_counts(out)
}

/// Reinstalls the bench's server through the emulator at `addr` with `auth`: the job's id.
fn reinstall_job(addr: &str, auth: &[(&str, &str)]) -> Result<String, String> {
    let answer = http(
        addr,
        "POST",
        &format!("/v2/{PROJECT}/cloudservers/{SERVER}/reinstallos"),
        auth,
        REINSTALL_REQUEST,
    )?;
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["job_id"].as_str().map(str::to_owned))
        .filter(|_| answer.status == 200)
        .ok_or_else(|| format!("the reinstall answered {}: {}", answer.status, answer.body))
}

/// A token and a reinstall as `call` needs them, then `requests` calls of `call` on one
/// kept-alive connection, each answered 200.
fn drive(addr: &str, call: Call, requests: usize) -> Result<(), String> {
    let (path, token) = if call == Call::Hello {
        ("/".to_owned(), None)
    } else {
        let answer = http(addr, "POST", "/v3/auth/tokens", &[], TOKEN_REQUEST)?;
        let token = answer
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-subject-token"))
            .map(|(_, value)| value.clone())
            .ok_or("the token answer has no X-Subject-Token")?;
        let auth = [("X-Auth-Token", token.as_str())];
        let path = if call == Call::ServerDetails {
            format!("/v1/{PROJECT}/cloudservers/{SERVER}")
        } else {
            let job = reinstall_job(addr, &auth)?;
            format!("/v1/{PROJECT}/jobs/{job}")
        };
        (path, Some(token))
    };
    let fail = |e: std::io::Error| format!("GET {path} on {addr}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    let token_header = token.map_or_else(String::new, |t| format!("X-Auth-Token: {t}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n{token_header}\r\n"
    );
    let mut reader = BufReader::new(stream.try_clone().map_err(fail)?);
    for _ in 0..requests {
        stream.write_all(request.as_bytes()).map_err(fail)?;
        let mut status = String::new();
        reader.read_line(&mut status).map_err(fail)?;
        if status.split_whitespace().nth(1) != Some("200") {
            return Err(format!("GET {path} answered {status:?}"));
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(fail)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(fail)?;
    }
    Ok(())
}

/// The run with the median requests/s (the lower middle one of an even count).
fn median(loads: &[Load]) -> Load {
    let mut sorted: Vec<&Load> = loads.iter().collect();
    sorted.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    sorted.get(sorted.len().saturating_sub(1) / 2).map_or(
        Load {
            requests_per_sec: 0.0,
            p99: Duration::ZERO,
            requests: 0,
        },
        |l| **l,
    )
}

/// `wrk`, installed with apt-get when missing.
fn ensure_wrk() -> Result<PathBuf, String> {
    if let Some(found) = which("wrk") {
        return Ok(found);
    }
    util::say("wrk is missing: installing Debian's with apt-get");
    let install = || run_cmd(Command::new("apt-get").args(["install", "-y", "-q", "wrk"]));
    if let Err(first) = install() {
        util::say(&format!("{first}; running `apt-get update` first"));
        run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
        install()?;
    }
    which("wrk").ok_or_else(|| "apt-get installed wrk, but it is not on PATH".to_owned())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// A server process this task started; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base_url: String,
    pub(crate) addr: String,
}

impl Server {
    /// Starts `program` and waits for its `listening on http://ADDR` line.
    pub(crate) fn start(program: &Path, args: &[&str]) -> Result<Self, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", program.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let Some(base_url) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not say where it listens (got {line:?})",
                program.display()
            ));
        };
        let addr = base_url.trim_start_matches("http://").to_owned();
        util::say(&format!("{} listening on {base_url}", program.display()));
        Ok(Self {
            child,
            base_url,
            addr,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One bounded `wrk --latency` run against `url`.
fn load(wrk: &Path, url: &str, extra: &[&str], duration: u64) -> Result<Load, String> {
    let mut cmd = Command::new(wrk);
    cmd.arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{WRK_CONNECTIONS}"))
        .arg(format!("-d{duration}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("--latency")
        .args(extra)
        .arg(url);
    let shown = util::describe(&cmd).replace(
        extra
            .iter()
            .find(|a| a.starts_with("X-Auth-Token"))
            .copied()
            .unwrap_or("\u{0}"),
        "X-Auth-Token: [REDACTED]",
    );
    util::say(&format!("$ {shown}"));
    let text = output(&mut cmd)?;
    util::say(text.trim_end());
    let load = parse_wrk(&text)?;
    if load.requests == 0 {
        return Err(format!("wrk made no request to {url}"));
    }
    Ok(load)
}

/// Requests/s, p99 and the count from `wrk --latency`'s report; refuses a run with errors.
fn parse_wrk(text: &str) -> Result<Load, String> {
    for bad in ["Non-2xx or 3xx responses", "Socket errors"] {
        if let Some(line) = text.lines().find(|l| l.contains(bad)) {
            return Err(format!("the load run had errors: {}", line.trim()));
        }
    }
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("no Requests/sec in wrk's report")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_wrk_time(v.trim()))
        .ok_or("no 99% latency in wrk's report")?;
    let requests = text
        .lines()
        .find_map(|l| {
            let (count, rest) = l.trim().split_once(' ')?;
            rest.starts_with("requests in")
                .then(|| count.parse().ok())?
        })
        .ok_or("no request count in wrk's report")?;
    Ok(Load {
        requests_per_sec,
        p99,
        requests,
    })
}

/// `1.23ms`, `456.00us`, `1.02s`, `2.00m`.
fn parse_wrk_time(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let secs = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// An answer to [`http`].
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// One HTTP/1.1 call over a fresh connection.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Answer, String> {
    let fail = |e: std::io::Error| format!("{method} {path} on {addr}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    if !body.is_empty() {
        let _ = write!(
            request,
            "Content-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(fail)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: a malformed answer"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

// ---------------------------------------------------------------------------------------------
// cloud-init.

/// Whole-process and in-process figures; gives the part and whether every target was met.
fn cloud_init(root: &Path) -> Result<(String, bool), String> {
    let files = corpus(root)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {} over {} `#cloud-config` files of the corpus.\n",
        today(),
        files.len()
    );
    let mut met = true;

    match whole_process(root, &files) {
        Ok(figures) => {
            let ratio = figures.cloud_init_ms / figures.reimage_ms;
            met &= ratio >= WHOLE_PROCESS_TARGET;
            let _ = writeln!(
                out,
                "| whole process, one per file | files | mean per file | files/s |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|");
            let _ = writeln!(
                out,
                "| `reimage validate --cloud-init 22.4 FILE` (release build) | {} | {:.2} ms | {} |",
                figures.reimage_files,
                figures.reimage_ms,
                thousands(1e3 / figures.reimage_ms)
            );
            let _ = writeln!(
                out,
                "| `cloud-init schema -c FILE` (22.4.2, Python {}) | {} (every {}th) | {:.1} ms | {:.1} |",
                figures.python,
                figures.cloud_init_files,
                figures.stride,
                figures.cloud_init_ms,
                1e3 / figures.cloud_init_ms
            );
            let _ = writeln!(
                out,
                "| `reimage validate --cloud-init 22.4 small.yaml` (5 lines), {SMALL_FILE_RUNS} times | 1 | {:.2} ms | {} |",
                figures.small_ms,
                thousands(1e3 / figures.small_ms)
            );
            let _ = writeln!(
                out,
                "| `/bin/true`, {SMALL_FILE_RUNS} times: what any process costs here | — | {:.2} ms | {} |",
                figures.true_ms,
                thousands(1e3 / figures.true_ms)
            );
            let _ = writeln!(
                out,
                "\nreimage is **{}×** faster per file as a whole process (target ≥ {}×): {}.",
                thousands(ratio),
                WHOLE_PROCESS_TARGET,
                if ratio >= WHOLE_PROCESS_TARGET {
                    "met"
                } else {
                    "**missed**"
                }
            );
            let small_met = figures.small_ms <= SMALL_FILE_TARGET_MS;
            met &= small_met;
            let _ = writeln!(
                out,
                "The small file takes **{:.2} ms** as a whole process (target ≤ {SMALL_FILE_TARGET_MS} ms): {}.\n",
                figures.small_ms,
                if small_met { "met" } else { "**missed**" }
            );
            match &figures.small_faults {
                Ok((reimage, true_faults)) => {
                    let _ = writeln!(
                        out,
                        "Page faults: **{reimage:.0}** minor faults per small-file process, \
                         against {true_faults:.0} for `/bin/true` (the mean of \
                         {FAULT_RUNS} processes each, by `getrusage`; each is a page the \
                         process maps or copies, and the loader's relocations copy every \
                         page they write).\n"
                    );
                }
                Err(why) => {
                    let _ = writeln!(out, "Page faults: **not measured**: {why}\n");
                }
            }
            match &figures.small_instructions {
                Ok((total, top)) => {
                    let _ = writeln!(
                        out,
                        "callgrind counts **{}** instructions for the whole small-file process \
                         (the same from run to run, whatever the machine is doing); the \
                         functions of reimage that count most, inclusively:\n",
                        thousands(*total as f64)
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
        }
        Err(why) => {
            met = false;
            let _ = writeln!(
                out,
                "Whole process: **not measured**: {}\n",
                why.replace('\n', " ")
            );
        }
    }

    match in_process(root) {
        Ok(benches) if !benches.is_empty() => {
            let _ = writeln!(
                out,
                "| in-process, `reimage_cloudinit::validate` (criterion, whole corpus per \
                 iteration) | files/s | target |"
            );
            let _ = writeln!(out, "|---|---:|---|");
            for (name, per_sec) in &benches {
                let ok = *per_sec >= IN_PROCESS_TARGET;
                met &= ok;
                let _ = writeln!(
                    out,
                    "| `{name}` | {} | ≥ {}: {} |",
                    thousands(*per_sec),
                    thousands(IN_PROCESS_TARGET),
                    if ok { "met" } else { "**missed**" }
                );
            }
        }
        Ok(_) => {
            met = false;
            let _ = writeln!(
                out,
                "In-process: **not measured**: the criterion bench reported no throughput."
            );
        }
        Err(why) => {
            met = false;
            let _ = writeln!(
                out,
                "In-process: **not measured**: {}",
                why.replace('\n', " ")
            );
        }
    }
    Ok((out, met))
}

/// How many times reimage, and real cloud-init, check each form, one process each.
const FORMS_REIMAGE_RUNS: usize = 50;
const FORMS_CLOUD_INIT_RUNS: usize = 5;
/// The target for the forms: reimage at least this many times faster as a whole process.
const FORMS_TARGET: f64 = 50.0;
/// The cloud-init side of the forms part, relative to the workspace root.
const FORMS_SCRIPT: &str = "xtask/scripts/bench_forms.py";
/// The template with a loop, and the instance data it renders with.
const FORMS_TEMPLATE: &str = "tests/cloud-init/jinja/loop-keys.yaml";
const FORMS_INSTANCE_DATA: &str = "tests/cloud-init/jinja/instance-data.json";

/// User data beyond a plain cloud-config, as a whole process each, against real cloud-init 26.2
/// (the peer `cargo xtask cloud-init-peer` sets up): a 10-part MIME multipart message (cloud-init
/// splits it with its own `UserDataProcessor` and runs `schema -c`'s validation on every
/// cloud-config part, in one process: `xtask/scripts/bench_forms.py judge`, since its `schema -c`
/// refuses MIME), and a Jinja template with a loop (`cloud-init schema -c T -i DATA`). Target:
/// reimage at least 50 times faster on each.
fn forms(root: &Path) -> Result<(String, bool), String> {
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))
        .map_err(|e| format!("`cargo build --release -p reimage-cli` failed ({e})"))?;
    let reimage = target_dir(root).join("release").join("reimage");
    let (python, package) = crate::cloudinit_peer::ensure_peer_26_2()?;
    let scratch = util::TempDir::new("bench-forms")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;
    let python_cmd = || {
        let mut cmd = Command::new(&python);
        cmd.current_dir(root)
            .env("PYTHONPATH", &package)
            .env("HOME", &home)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1");
        cmd
    };
    let message = scratch.path().join("ten-parts.mime");
    run_cmd(
        python_cmd()
            .arg(root.join(FORMS_SCRIPT))
            .arg("make")
            .arg(&message),
    )?;
    let template = root.join(FORMS_TEMPLATE);
    let data = root.join(FORMS_INSTANCE_DATA);
    let mean = |runs: usize, make: &dyn Fn() -> Command| -> Result<f64, String> {
        timed(make())?; // warm the page cache
        let mut total = Duration::ZERO;
        for _ in 0..runs {
            total += timed(make())?;
        }
        Ok(total.as_secs_f64() * 1e3 / runs as f64)
    };
    util::say("timing the 10-part multipart message and the template, one process each");
    let rows = [
        (
            "a 10-part MIME multipart message (base64 parts)",
            "`reimage validate ten-parts.mime`",
            mean(FORMS_REIMAGE_RUNS, &|| {
                let mut cmd = Command::new(&reimage);
                cmd.arg("validate").arg(&message);
                cmd
            })?,
            "`bench_forms.py judge ten-parts.mime` (UserDataProcessor + `schema -c`'s validation of each part)",
            mean(FORMS_CLOUD_INIT_RUNS, &|| {
                let mut cmd = python_cmd();
                cmd.arg(root.join(FORMS_SCRIPT)).arg("judge").arg(&message);
                cmd
            })?,
        ),
        (
            "a Jinja template with a loop, with instance data",
            "`reimage validate -i instance-data.json loop-keys.yaml`",
            mean(FORMS_REIMAGE_RUNS, &|| {
                let mut cmd = Command::new(&reimage);
                cmd.arg("validate").arg("-i").arg(&data).arg(&template);
                cmd
            })?,
            "`cloud-init schema -c loop-keys.yaml -i instance-data.json`",
            mean(FORMS_CLOUD_INIT_RUNS, &|| {
                let mut cmd = python_cmd();
                cmd.args(["-m", "cloudinit.cmd.main", "schema", "-c"])
                    .arg(&template)
                    .arg("-i")
                    .arg(&data);
                cmd
            })?,
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {}: reimage {FORMS_REIMAGE_RUNS} times and cloud-init 26.2 \
         {FORMS_CLOUD_INIT_RUNS} times each, one process per run, release build.\n",
        today()
    );
    let _ = writeln!(
        out,
        "| form | reimage | mean | cloud-init 26.2 | mean | ratio |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---:|---:|");
    let mut met = true;
    let mut verdicts = String::new();
    for (form, ours, our_ms, theirs, their_ms) in &rows {
        let ratio = their_ms / our_ms;
        let ok = ratio >= FORMS_TARGET;
        met &= ok;
        let _ = writeln!(
            out,
            "| {form} | {ours} | {our_ms:.2} ms | {theirs} | {their_ms:.1} ms | {}× |",
            thousands(ratio)
        );
        let _ = writeln!(
            verdicts,
            "For {form}, reimage is **{}×** faster as a whole process (target ≥ {FORMS_TARGET}×): {}.\n",
            thousands(ratio),
            if ok { "met" } else { "**missed**" }
        );
    }
    out.push('\n');
    out.push_str(&verdicts);
    Ok((out, met))
}

/// The corpus files that start with `#cloud-config\n`, sorted.
fn corpus(root: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = root.join(CORPUS);
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| format!("could not list {}: {e}", dir.display()))? {
        let path = entry
            .map_err(|e| format!("could not list {}: {e}", dir.display()))?
            .path();
        let mut head = [0u8; 14];
        let starts = fs::File::open(&path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| &head == b"#cloud-config\n");
        if starts {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{} holds no #cloud-config files", dir.display()));
    }
    Ok(files)
}

struct WholeProcess {
    reimage_files: usize,
    reimage_ms: f64,
    /// The mean of the small file, one process each.
    small_ms: f64,
    /// `/bin/true`'s mean measured the same way: what any process costs here.
    true_ms: f64,
    /// The instructions of one `reimage validate` of the small file, by callgrind (when valgrind
    /// is installed), and the top functions by inclusive count.
    small_instructions: Result<(u64, Vec<String>), String>,
    /// The minor page faults of one small-file process and of one `/bin/true`, on average.
    small_faults: Result<(f64, f64), String>,
    cloud_init_files: usize,
    cloud_init_ms: f64,
    stride: usize,
    python: String,
}

fn whole_process(root: &Path, files: &[PathBuf]) -> Result<WholeProcess, String> {
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))
        .map_err(|e| format!("`cargo build --release -p reimage-cli` failed ({e})"))?;
    let reimage = target_dir(root).join("release").join("reimage");
    let (python, dist_packages) = crate::cloudinit_peer::ensure_peer()?;
    let scratch = util::TempDir::new("bench-cloud-init")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;

    let reimage_cmd = |file: &Path| {
        let mut cmd = Command::new(&reimage);
        cmd.args(["validate", "--cloud-init", "22.4"]).arg(file);
        cmd
    };
    let cloud_init_cmd = |file: &Path| {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "cloudinit.cmd.main", "schema", "-c"])
            .arg(file)
            .env("PYTHONPATH", &dist_packages)
            .env("HOME", &home)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONNOUSERSITE", "1");
        cmd
    };

    // Warm the page cache and check that both run: exit 0 (valid) or 1 (invalid) only.
    if let Some(first) = files.first() {
        timed(reimage_cmd(first))?;
        timed(cloud_init_cmd(first))?;
    }
    util::say(&format!(
        "timing `reimage validate` over {} files, one process each",
        files.len()
    ));
    let mut reimage_total = Duration::ZERO;
    for file in files {
        reimage_total += timed(reimage_cmd(file))?;
    }
    let stride = (files.len() / CLOUD_INIT_SAMPLE).max(1);
    let sample: Vec<&PathBuf> = files
        .iter()
        .step_by(stride)
        .take(CLOUD_INIT_SAMPLE)
        .collect();
    util::say(&format!(
        "timing `cloud-init schema -c` over {} files, one process each",
        sample.len()
    ));
    let mut cloud_init_total = Duration::ZERO;
    for file in &sample {
        cloud_init_total += timed(cloud_init_cmd(file))?;
    }
    util::say(&format!(
        "timing `reimage validate` on a small file and `/bin/true`, {SMALL_FILE_RUNS} processes each"
    ));
    let small = scratch.path().join("small.yaml");
    fs::write(&small, SMALL_FILE)
        .map_err(|e| format!("could not write {}: {e}", small.display()))?;
    let (mut small_total, mut true_total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..SMALL_FILE_RUNS {
        small_total += timed(reimage_cmd(&small))?;
        true_total += timed(Command::new("true"))?;
    }
    let small_faults = minor_faults(&reimage_cmd(&small)).and_then(|reimage| {
        minor_faults(&Command::new("true")).map(|true_faults| (reimage, true_faults))
    });
    let small_path = small.to_string_lossy();
    let small_instructions = callgrind(
        &reimage,
        &["validate", "--cloud-init", "22.4", small_path.as_ref()],
    );
    let python_version = output(Command::new(&python).arg("--version"))
        .ok()
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "3".to_owned());
    Ok(WholeProcess {
        reimage_files: files.len(),
        reimage_ms: reimage_total.as_secs_f64() * 1e3 / files.len() as f64,
        small_ms: small_total.as_secs_f64() * 1e3 / SMALL_FILE_RUNS as f64,
        true_ms: true_total.as_secs_f64() * 1e3 / SMALL_FILE_RUNS as f64,
        small_instructions,
        small_faults,
        cloud_init_files: sample.len(),
        cloud_init_ms: cloud_init_total.as_secs_f64() * 1e3 / sample.len() as f64,
        stride,
        python: python_version,
    })
}

/// The instructions `program args` executes, counted by `valgrind --tool=callgrind`
/// (repeatable whatever else the machine does), with the ten functions of the program itself
/// that count most, inclusively.
pub(crate) fn callgrind(program: &Path, args: &[&str]) -> Result<(u64, Vec<String>), String> {
    if which("valgrind").is_none() || which("callgrind_annotate").is_none() {
        return Err("valgrind is not installed (`apt-get install valgrind`)".into());
    }
    let scratch = util::TempDir::new("bench-callgrind")?;
    let out = scratch.path().join("callgrind.out");
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(format!("{} failed with {status}", util::describe(&cmd)));
    }
    annotated_counts(&out)
}

/// What `callgrind_annotate --inclusive=yes` reads in the counts file `out`: the program's
/// total, and the ten functions of reimage's own that count most, inclusively.
fn annotated_counts(out: &Path) -> Result<(u64, Vec<String>), String> {
    let annotated = output(
        Command::new("callgrind_annotate")
            .arg("--inclusive=yes")
            .arg(out),
    )?;
    let mut total = None;
    let mut top = Vec::new();
    for line in annotated.lines() {
        let line = line.trim();
        if line.ends_with("PROGRAM TOTALS") {
            total = line
                .split_whitespace()
                .next()
                .and_then(|n| n.replace(',', "").parse::<u64>().ok());
            continue;
        }
        // `1,234 (12.3%)  ???:crate::path::function [/path/to/binary]`: our own code only.
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(function) = rest
            .split_once("???:")
            .map(|(_, f)| f.split(" [").next().unwrap_or(f).trim())
        else {
            continue;
        };
        let ours = function.starts_with("reimage")
            || function.starts_with('<') && function.contains("reimage");
        if ours && top.len() < 10 {
            let share = rest.split(')').next().unwrap_or("").trim_start_matches('(');
            top.push(format!("{count} ({share}) `{function}`"));
        }
    }
    let total = total.ok_or("callgrind_annotate printed no PROGRAM TOTALS")?;
    Ok((total, top))
}

/// How many processes [`minor_faults`] averages over.
const FAULT_RUNS: usize = 50;

/// The mean minor page faults of `cmd`, run [`FAULT_RUNS`] times by Python, which reads its
/// children's `getrusage` (std has no way to without `unsafe`).
fn minor_faults(cmd: &Command) -> Result<f64, String> {
    const SCRIPT: &str = "import resource, subprocess, sys\n\
        n = int(sys.argv[1])\n\
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt\n\
        for _ in range(n):\n\
        \x20   subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
        print((resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before) / n)\n";
    let mut python = Command::new("python3");
    python
        .args(["-c", SCRIPT, &FAULT_RUNS.to_string()])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let text = output(&mut python)?;
    text.trim()
        .parse::<f64>()
        .map_err(|e| format!("python3 printed {text:?}, not a number ({e})"))
}

/// Runs `cmd` with its output discarded; its wall time. Exit 0 or 1 (a verdict) only.
fn timed(mut cmd: Command) -> Result<Duration, String> {
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
    let elapsed = start.elapsed();
    match status.code() {
        Some(0 | 1) => Ok(elapsed),
        _ => Err(format!(
            "{} failed with {status}, not a verdict",
            util::describe(&cmd)
        )),
    }
}

/// The criterion bench's throughput per benchmark, in files/s.
fn in_process(root: &Path) -> Result<Vec<(String, f64)>, String> {
    let mut cmd = util::cargo();
    cmd.args([
        "bench",
        "--locked",
        "-p",
        "reimage-cloudinit",
        "--bench",
        "validate",
        "--",
        "--noplot",
    ])
    .current_dir(root);
    util::say(&format!("$ {}", util::describe(&cmd)));
    let text = output(&mut cmd).map_err(|e| format!("the criterion bench failed: {e}"))?;
    util::say(text.trim_end());
    Ok(parse_criterion(&text))
}

/// `(name, middle estimate in elements/s)` for every `thrpt:` line of criterion's report.
fn parse_criterion(text: &str) -> Vec<(String, f64)> {
    let mut benches = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if !line.starts_with(char::is_whitespace)
            && let Some(first) = trimmed.split_whitespace().next()
            && first.contains('/')
        {
            first.clone_into(&mut name);
        }
        let Some(rest) = trimmed.strip_prefix("thrpt:") else {
            continue;
        };
        // [low unit mid unit high unit]
        let parts: Vec<&str> = rest
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .split_whitespace()
            .collect();
        if let [_, _, value, unit, ..] = parts.as_slice()
            && let Ok(value) = value.parse::<f64>()
        {
            let scale = match *unit {
                "elem/s" => 1.0,
                "Kelem/s" => 1e3,
                "Melem/s" => 1e6,
                "Gelem/s" => 1e9,
                _ => continue,
            };
            benches.push((name.clone(), value * scale));
        }
    }
    benches
}

// ---------------------------------------------------------------------------------------------
// A fleet.

/// The fleet: this many ECS servers and EDIS KVMs, one target each.
const FLEET_ECS: usize = 90_000;
const FLEET_EDIS: usize = 10_000;
/// The emulator's time scale: an ECS reinstall job takes 90 s × this (0.45 s), an EDIS
/// reinstall 300 s × this (1.5 s).
const FLEET_TIME_SCALE: f64 = 0.005;
/// The emulator's EDIS reinstall at time scale 1 (`reimage_emulator::Timings`); the ECS job's
/// duration is read from the jobs themselves.
const EDIS_REINSTALL_SECS: f64 = 300.0;
/// `reimage fleet apply`'s settings.
const FLEET_CONCURRENCY: usize = 1_024;
const FLEET_RATE: f64 = 4_000.0;
const FLEET_POLL_MS: u64 = 100;
/// The targets: peak RSS under 128 MB (10^6 bytes); wall time within this many times the
/// emulator's job duration plus the rate limit's floor.
const FLEET_RSS_TARGET: u64 = 128_000_000;
const FLEET_WALL_FACTOR: f64 = 1.2;
/// What the fleet's applies log: warnings, and the journal's compactions.
const JOURNAL_LOG: &str = "warn,reimage_fleet::journal=info";
/// How many times `reimage fleet status` runs on the finished journal, for its median: one run
/// moves with whatever else the machine is doing.
const FLEET_STATUS_RUNS: usize = 5;
/// `reimage fleet status` on the finished journal, at most.
const FLEET_STATUS_TARGET: Duration = Duration::from_secs(1);
/// A run that takes longer than this is stopped (and the part says why).
const FLEET_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The prose of the fleet part, before its markers (it names the settings).
fn fleet_prose() -> String {
    let text = format!(
        "`reimage fleet apply` (release build) on a generated plan of {} targets ({} ECS servers \
to reinstall and {} EDIS KVMs, interleaved) against `reimage emulator --fixtures` holding exactly \
those servers, at time scale {FLEET_TIME_SCALE} (an ECS reinstall job takes {:.2} s, an EDIS \
reinstall {:.1} s), both processes on this machine, over loopback, with `--concurrency \
{FLEET_CONCURRENCY} --rate {FLEET_RATE} --poll-ms {FLEET_POLL_MS}`. Why these: a target makes six \
or seven requests (a read, the reinstall, a few polls, the reads at the end) in well under a \
second for ECS and about two seconds for EDIS, so some hundreds of targets in flight keep \
{FLEET_RATE} requests/s busy, and {FLEET_CONCURRENCY} leaves room for the answers that queue behind the rate \
limit; {FLEET_RATE} requests/s is far more than a real provider would allow (a fleet that large \
is applied at a few requests per second, for hours), chosen so that the run measures the CLI and \
the emulator rather than the wait; polls from {FLEET_POLL_MS} ms (growing to 7.5 times that) \
catch a {:.2} s job within a few polls. Peak RSS is the CLI's `VmHWM`, read from `/proc` every \
50 ms until it exits. Requests are counted by the emulator: its request log numbers every API \
call it gets (it keeps only the last 10,000 entries, but the numbering goes on). The rate limit \
spaces every API request of the run (one limit for all targets), so its floor is the requests \
made divided by `--rate`. Targets: peak RSS under 128 MB; wall time within 1.2× of the \
emulator's own job duration (the longest, EDIS's) plus that floor; `fleet status` on the finished \
journal under 1 s. The run also has to be right: every \
target done, and by the emulator's admin state every server and KVM re-imaged exactly once. \
The bench rewrites this paragraph too, since it names the settings.",
        thousands((FLEET_ECS + FLEET_EDIS) as f64),
        thousands(FLEET_ECS as f64),
        thousands(FLEET_EDIS as f64),
        90.0 * FLEET_TIME_SCALE,
        EDIS_REINSTALL_SECS * FLEET_TIME_SCALE,
        90.0 * FLEET_TIME_SCALE,
    );
    wrap(&text, 100)
}

/// `text`'s words in lines of at most `width` characters (a longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let length = word.chars().count();
        if line > 0 && line + 1 + length > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += length;
    }
    out.push('\n');
    out
}

/// The fleet part's heading.
const FLEET_HEADING: &str = "## A fleet of 100,000 targets\n";

/// `doc` with the fleet part's prose (which names the settings) as [`fleet_prose`] writes it
/// now, between its heading and its markers; the heading, prose and markers are appended when
/// the page has no such part yet.
fn with_fleet_prose(doc: &str) -> String {
    let start = "<!-- bench:fleet:start -->";
    match (doc.find(FLEET_HEADING), doc.find(start)) {
        (Some(h), Some(s)) if h < s => format!(
            "{}{FLEET_HEADING}\n{}\n{}",
            &doc[..h],
            fleet_prose(),
            &doc[s..]
        ),
        _ => format!(
            "{}\n\n{FLEET_HEADING}\n{}\n{start}\n<!-- bench:fleet:end -->\n",
            doc.trim_end(),
            fleet_prose()
        ),
    }
}

/// The throttled fleet part's heading.
const THROTTLE_HEADING: &str = "## A fleet of 1,000 targets under 200 calls per 5 minutes\n";

/// `doc` with the throttled fleet part's heading and prose (which names the settings) before its
/// markers, as [`crate::bench_throttle::prose`] writes it.
fn with_throttle_prose(doc: &str) -> String {
    let start = "<!-- bench:throttle:start -->";
    let prose = wrap(&crate::bench_throttle::prose(), 100);
    let prose = prose.trim_end();
    match doc.find(THROTTLE_HEADING) {
        Some(h) => match doc[h..].find(start) {
            Some(s) => format!(
                "{}{THROTTLE_HEADING}\n{prose}\n\n{}",
                &doc[..h],
                &doc[h + s..]
            ),
            None => doc.to_owned(),
        },
        None => format!(
            "{}\n\n{THROTTLE_HEADING}\n{prose}\n\n{start}\n<!-- bench:throttle:end -->\n",
            doc.trim_end()
        ),
    }
}

/// The ECS server `n` of the fleet (as `reimage-e2e`'s `fleet_server`).
pub(crate) fn fleet_server(n: usize) -> String {
    format!("f1ee7000-0000-4000-8000-{n:012x}")
}

/// The KVM `n` of the fleet (as `reimage-e2e`'s `fleet_kvm`).
fn fleet_kvm(n: usize) -> String {
    format!("kvm_{}_{}", 500_000 + n, 600_000 + n)
}

/// The emulator's fixtures: the default account, project, images and EDIS account, and the
/// fleet's servers (stopped) and KVMs (powered on).
fn fleet_fixtures() -> String {
    let mut out = String::from(
        "[iam]\ndomain_name = \"emulator\"\ndomain_id = \"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"\n\n\
         [[iam.users]]\nname = \"admin\"\nid = \"7e25b1da389f4697a79df3a0e5bd494e\"\n\
         password = \"Emulator-Passw0rd!\"\nkey_pairs = [\"KeyPair-350b\"]\n\n\
         [[iam.access_keys]]\naccess_key = \"REIMAGEEMULATORAK\"\n\
         secret_key = \"reimage-emulator-sk\"\nuser = \"7e25b1da389f4697a79df3a0e5bd494e\"\n\n\
         [ecs]\nproject_id = \"0123456789abcdef0123456789abcdef\"\nproject_name = \"eu-de\"\n\n\
         [[ecs.images]]\nid = \"e215580f-73ad-429d-b6f2-5433947433b0\"\nname = \"Debian 12\"\n\
         cloud_init = true\n",
    );
    for n in 0..FLEET_ECS {
        let _ = write!(
            out,
            "\n[[ecs.servers]]\nid = \"{}\"\nname = \"fleet-{n}\"\n\
             image = \"e215580f-73ad-429d-b6f2-5433947433b0\"\nrunning = false\n\
             created = \"2024-06-01T08:00:00Z\"\n",
            fleet_server(n)
        );
    }
    out.push_str(
        "\n[edis]\nemail = \"demo@example.com\"\npassword = \"emulator-pw\"\n\
         images = [\"cloudinit_debian-bookworm\"]\n",
    );
    for n in 0..FLEET_EDIS {
        let _ = write!(
            out,
            "\n[[edis.kvms]]\nid = \"{}\"\nhostname = \"fleet-kvm-{n}\"\n\
             image = \"cloudinit_debian-bookworm\"\npowered_on = true\n",
            fleet_kvm(n)
        );
    }
    out
}

/// The plan: the ECS servers and the KVMs interleaved (a KVM every tenth target or so).
fn fleet_plan() -> String {
    let mut out = String::from(
        "[defaults]\nadmin_password_file = \"admin.pw\"\nroot_password_file = \"root.pw\"\n",
    );
    let total = FLEET_ECS + FLEET_EDIS;
    let (mut ecs, mut edis) = (0, 0);
    for i in 0..total {
        // KVM k goes at about k × total / FLEET_EDIS.
        let kvm_due = edis < FLEET_EDIS && (i + 1) * FLEET_EDIS >= (edis + 1) * total;
        if kvm_due || ecs == FLEET_ECS {
            let _ = write!(
                out,
                "\n[[targets]]\nedis = \"{}\"\nimage = \"cloudinit_debian-bookworm\"\n",
                fleet_kvm(edis)
            );
            edis += 1;
        } else {
            let _ = write!(out, "\n[[targets]]\necs = \"{}\"\n", fleet_server(ecs));
            ecs += 1;
        }
    }
    out
}

/// What one fleet run measured.
struct FleetRun {
    wall: Duration,
    peak_rss: u64,
    cpu: Duration,
    requests: u64,
    done: u64,
    ecs_job: Duration,
    emulator_rss: Option<u64>,
    emulator_cpu: Option<Duration>,
    /// `reimage fleet status` on the finished journal: the median wall time of
    /// [`FLEET_STATUS_RUNS`] runs.
    status: Duration,
    /// Each run's wall time, in order.
    status_runs: Vec<Duration>,
    /// A second `fleet apply` of the finished plan, which has nothing to send: the journal read,
    /// locked, compacted if it is long and closed, the one time compaction can take.
    reopen: Duration,
    /// Every compaction of the journal, in both applies, as the journal logs it.
    compactions: Vec<Compaction>,
}

/// One compaction of the fleet's journal, from its log line (`RUST_LOG=reimage_fleet::journal=info`).
#[derive(Debug, Clone, PartialEq)]
struct Compaction {
    /// `open` (before any target starts) or `close` (after every record was written).
    when: String,
    /// Records before and after.
    before: u64,
    after: u64,
    /// How long it took, first read to the directory's sync.
    millis: f64,
}

/// The compactions that `text` (an apply's stderr) logs.
fn compactions(text: &str) -> Vec<Compaction> {
    text.lines()
        .filter(|line| line.contains("journal compacted"))
        .filter_map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
                    .map(|value| value.trim_matches('"').to_owned())
            };
            Some(Compaction {
                when: field("when")?,
                before: field("records_before")?.parse().ok()?,
                after: field("records_after")?.parse().ok()?,
                millis: field("millis")?.parse().ok()?,
            })
        })
        .collect()
}

/// The compaction pause a run may cause, at most.
const FLEET_PAUSE_TARGET_MS: f64 = 100.0;

/// Runs the fleet; gives the part and whether both targets were met.
fn fleet(root: &Path) -> Result<(String, bool), String> {
    let run = match fleet_run(root) {
        Ok(run) => run,
        Err(why) => {
            return Ok((
                format!(
                    "Measured on {}: **not measured**: {}\n",
                    today(),
                    why.replace('\n', " ")
                ),
                false,
            ));
        }
    };
    let targets = FLEET_ECS + FLEET_EDIS;
    let edis_job = Duration::from_secs_f64(EDIS_REINSTALL_SECS * FLEET_TIME_SCALE);
    let job = run.ecs_job.max(edis_job);
    let floor = Duration::from_secs_f64(run.requests as f64 / FLEET_RATE);
    let budget = (job + floor).mul_f64(FLEET_WALL_FACTOR);
    let ratio = run.wall.as_secs_f64() / (job + floor).as_secs_f64();
    let wall_met = run.wall <= budget;
    let rss_met = run.peak_rss < FLEET_RSS_TARGET;
    let status_met = run.status < FLEET_STATUS_TARGET;
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let mib = |bytes: u64| {
        format!(
            "{:.1} MiB ({:.1} MB)",
            bytes as f64 / 1024.0 / 1024.0,
            bytes as f64 / 1e6
        )
    };
    let per_sec = run.requests as f64 / run.wall.as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {}: {} targets, every one done, and by the emulator's admin state every \
         server and KVM re-imaged exactly once.\n",
        today(),
        thousands(run.done as f64)
    );
    let _ = writeln!(out, "| figure | value | target |");
    let _ = writeln!(out, "|---|---:|---|");
    let _ = writeln!(
        out,
        "| wall time of `reimage fleet apply` | {} | ≤ {FLEET_WALL_FACTOR}× ({} job + {} floor) \
         = {}: {} ({:.2}× the sum) |",
        secs(run.wall),
        secs(job),
        secs(floor),
        secs(budget),
        verdict(wall_met),
        ratio
    );
    let _ = writeln!(
        out,
        "| peak RSS of `reimage fleet apply` (`VmHWM`) | {} | < 128 MB: {} |",
        mib(run.peak_rss),
        verdict(rss_met)
    );
    let _ = writeln!(
        out,
        "| API requests (the emulator's count) | {} ({:.1} per target) | |",
        thousands(run.requests as f64),
        run.requests as f64 / targets as f64
    );
    let _ = writeln!(
        out,
        "| requests/s over the wall time | {} | the limit: {} |",
        thousands(per_sec),
        thousands(FLEET_RATE)
    );
    let _ = writeln!(
        out,
        "| the rate limit's floor (requests ÷ `--rate`) | {} | |",
        secs(floor)
    );
    let _ = writeln!(
        out,
        "| the emulator's job duration (ECS, from its jobs; EDIS, from its timings) | {:.2} s, \
         {:.2} s | |",
        run.ecs_job.as_secs_f64(),
        edis_job.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| CPU time (user + system) of `reimage fleet apply` | {} ({:.0}% of one core) | |",
        secs(run.cpu),
        100.0 * run.cpu.as_secs_f64() / run.wall.as_secs_f64()
    );
    if let (Some(rss), Some(cpu)) = (run.emulator_rss, run.emulator_cpu) {
        let _ = writeln!(
            out,
            "| the emulator: CPU time, peak RSS | {} ({:.0}% of one core), {} | |",
            secs(cpu),
            100.0 * cpu.as_secs_f64() / run.wall.as_secs_f64(),
            mib(rss)
        );
    }
    let _ = writeln!(
        out,
        "| `reimage fleet status` on the finished journal (the median of {FLEET_STATUS_RUNS} runs: {}) | {} | < {} s: {} |",
        run.status_runs
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(", "),
        secs(run.status),
        FLEET_STATUS_TARGET.as_secs(),
        verdict(status_met)
    );
    let _ = writeln!(
        out,
        "| a second `fleet apply` of the finished plan (the journal read, locked, compacted if \
         long, closed; nothing sent) | {} | |",
        secs(run.reopen)
    );
    // Compaction runs when the journal is opened (before any target starts) and closed (after
    // every record was written); one that ran while records were being written would pause the
    // targets waiting for theirs.
    let during: Vec<&Compaction> = run
        .compactions
        .iter()
        .filter(|c| c.when != "open" && c.when != "close")
        .collect();
    let pause_ms = during.iter().map(|c| c.millis).fold(0.0, f64::max);
    let pause_met = pause_ms <= FLEET_PAUSE_TARGET_MS;
    let shown: Vec<String> = run
        .compactions
        .iter()
        .map(|c| {
            format!(
                "at {}: {} → {} records in {:.0} ms",
                c.when,
                thousands(c.before as f64),
                thousands(c.after as f64),
                c.millis
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "| the journal's compactions (its log, `RUST_LOG=reimage_fleet::journal=info`), in both \
         applies | {} | |",
        if shown.is_empty() {
            "none".to_owned()
        } else {
            shown.join("; ")
        }
    );
    let _ = writeln!(
        out,
        "\nThe peak RSS of `reimage fleet apply` is **{}** (target < 128 MB): {}.",
        mib(run.peak_rss),
        verdict(rss_met)
    );
    let _ = writeln!(
        out,
        "The wall time is **{ratio:.2}×** the job duration plus the rate limit's floor (target \
         ≤ {FLEET_WALL_FACTOR}×): {}.",
        verdict(wall_met)
    );
    let _ = writeln!(
        out,
        "Compaction paused the run for **{pause_ms:.0} ms** at most (target ≤ \
         {FLEET_PAUSE_TARGET_MS:.0} ms): {}.",
        verdict(pause_met)
    );
    let _ = writeln!(
        out,
        "`reimage fleet status` on the finished journal takes **{:.1} s** (target < {} s): {}.",
        run.status.as_secs_f64(),
        FLEET_STATUS_TARGET.as_secs(),
        verdict(status_met)
    );
    let _ = writeln!(
        out,
        "\nThe journal is compacted only when it is opened and closed, never while targets run: \
         no target waits for a compaction ({} while records were being written). The one at \
         close, after the last target ended, is in the wall time of the run; one at open would \
         be in the second apply's.",
        during.len()
    );
    Ok((out, wall_met && rss_met && status_met && pause_met))
}

/// Builds, generates, starts the emulator, runs the fleet and checks the result.
fn fleet_run(root: &Path) -> Result<FleetRun, String> {
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))?;
    let reimage = target_dir(root).join("release").join("reimage");
    let dir = target_dir(root).join("bench-fleet");
    let _ = fs::remove_dir_all(&dir);
    let config_home = dir.join("config");
    let home = dir.join("home");
    for d in [config_home.join("reimage"), home.clone()] {
        fs::create_dir_all(&d).map_err(|e| format!("could not create {}: {e}", d.display()))?;
    }
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("could not write {}: {e}", path.display()))?;
        Ok(path)
    };
    let fixtures = write("fixtures.toml", &fleet_fixtures())?;
    write("admin.pw", "Reimage-Bench-Pw1!")?;
    write("root.pw", "Edis-Root-Pw-8472")?;
    let plan = write("plan.toml", &fleet_plan())?;
    util::say(&format!(
        "fleet: {} ECS servers and {} KVMs in {}",
        FLEET_ECS,
        FLEET_EDIS,
        dir.display()
    ));

    let emulator = Server::start(
        &reimage,
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            &FLEET_TIME_SCALE.to_string(),
            "--fixtures",
            &fixtures.to_string_lossy(),
        ],
    )?;
    let config = config_home.join("reimage").join("config.toml");
    fs::write(
        &config,
        format!(
            "[profiles.default]\nendpoint = \"{url}\"\n\
             project_id = \"0123456789abcdef0123456789abcdef\"\n\
             access_key = \"REIMAGEEMULATORAK\"\nsecret_key = \"reimage-emulator-sk\"\n\
             edis_email = \"demo@example.com\"\nedis_password = \"emulator-pw\"\n\
             edis_auth_url = \"{url}\"\n",
            url = emulator.base_url
        ),
    )
    .map_err(|e| format!("could not write {}: {e}", config.display()))?;
    restrict(&config)?;

    let stderr_path = dir.join("apply.stderr");
    let stderr = fs::File::create(&stderr_path)
        .map_err(|e| format!("could not create {}: {e}", stderr_path.display()))?;
    let mut cmd = Command::new(&reimage);
    cmd.args(["fleet", "apply"])
        .arg(&plan)
        .args([
            "--yes",
            "--concurrency",
            &FLEET_CONCURRENCY.to_string(),
            "--rate",
            &FLEET_RATE.to_string(),
            "--poll-ms",
            &FLEET_POLL_MS.to_string(),
            "--output",
            "json",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &config_home)
        .env("RUST_LOG", JOURNAL_LOG)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    util::say(&format!("$ {}", util::describe(&cmd)));
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
    let pid = child.id();
    let mut pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let mut peak_rss = 0u64;
    let mut cpu = Duration::ZERO;
    let mut last_say = Instant::now();
    let status = loop {
        if let Some(rss) = proc_status_bytes(pid, "VmHWM") {
            peak_rss = peak_rss.max(rss);
        }
        if let Some(used) = proc_cpu(pid) {
            cpu = used;
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > FLEET_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`reimage fleet apply` did not finish in {} s; see {}",
                    FLEET_TIMEOUT.as_secs(),
                    stderr_path.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("could not wait for `reimage fleet apply`: {e}")),
        }
        if last_say.elapsed() > Duration::from_secs(10) {
            last_say = Instant::now();
            util::say(&format!(
                "  {:.0} s: peak RSS {:.1} MiB",
                started.elapsed().as_secs_f64(),
                peak_rss as f64 / 1024.0 / 1024.0
            ));
        }
    };
    let wall = started.elapsed();
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "`reimage fleet apply` failed with {status}; see {}",
            stderr_path.display()
        ));
    }
    let summary: serde_json::Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("`reimage fleet apply --output json` printed no JSON: {e}"))?;
    let done = summary["done"].as_u64().unwrap_or(0);
    let targets = (FLEET_ECS + FLEET_EDIS) as u64;
    if done != targets {
        return Err(format!(
            "{done} of {targets} targets done: {}",
            summary
                .as_object()
                .map(|o| o
                    .iter()
                    .filter(|(k, _)| k.as_str() != "targets")
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ));
    }
    util::say(&format!(
        "fleet: {targets} targets done in {:.1} s, peak RSS {:.1} MiB",
        wall.as_secs_f64(),
        peak_rss as f64 / 1024.0 / 1024.0
    ));

    let emulator_pid = emulator.child.id();
    let emulator_rss = proc_status_bytes(emulator_pid, "VmHWM");
    let emulator_cpu = proc_cpu(emulator_pid);
    let requests = admin_json(&emulator.addr, "/_emulator/requests")?;
    let requests = requests["requests"]
        .as_array()
        .and_then(|log| log.iter().filter_map(|r| r["seq"].as_u64()).max())
        .ok_or("the emulator's request log is empty")?;
    let state = admin_json(&emulator.addr, "/_emulator/state")?;
    let ecs_job = check_state(&state)?;
    // The finished journal: `fleet status`, then an apply with nothing left to send.
    let mut compacted = compactions(&fs::read_to_string(&stderr_path).unwrap_or_default());
    let timed_run = |args: &[&str]| -> Result<(Duration, String), String> {
        let mut cmd = Command::new(&reimage);
        cmd.args(["fleet"])
            .args(args)
            .arg(&plan)
            .args(["--output", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &config_home)
            .env("RUST_LOG", JOURNAL_LOG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let output = cmd
            .output()
            .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
        let took = started.elapsed();
        if !output.status.success() {
            return Err(format!(
                "{} failed with {}",
                util::describe(&cmd),
                output.status
            ));
        }
        Ok((took, String::from_utf8_lossy(&output.stderr).into_owned()))
    };
    let mut status_runs = Vec::new();
    for _ in 0..FLEET_STATUS_RUNS {
        status_runs.push(timed_run(&["status"])?.0);
    }
    let mut sorted = status_runs.clone();
    sorted.sort();
    let status = sorted[sorted.len() / 2];
    let (reopen, reopen_log) = timed_run(&["apply", "--yes"])?;
    compacted.extend(compactions(&reopen_log));
    drop(emulator);
    let _ = fs::remove_dir_all(&dir);
    Ok(FleetRun {
        status,
        status_runs,
        reopen,
        compactions: compacted,
        wall,
        peak_rss,
        cpu,
        requests,
        done,
        ecs_job,
        emulator_rss,
        emulator_cpu,
    })
}

/// Checks that every server and KVM was re-imaged exactly once; gives the ECS job duration.
fn check_state(state: &serde_json::Value) -> Result<Duration, String> {
    let servers = state["ecs"]["servers"].as_array().ok_or("no servers")?;
    let kvms = state["edis"]["kvms"].as_array().ok_or("no KVMs")?;
    if servers.len() != FLEET_ECS || kvms.len() != FLEET_EDIS {
        return Err(format!(
            "the emulator has {} servers and {} KVMs",
            servers.len(),
            kvms.len()
        ));
    }
    let wrong: Vec<String> = servers
        .iter()
        .filter(|s| s["reinstalls_applied"] != 1)
        .map(|s| format!("{} ({})", s["id"], s["reinstalls_applied"]))
        .chain(
            kvms.iter()
                .filter(|k| k["reinstalls_applied"] != 1)
                .map(|k| format!("{} ({})", k["kvm_id"], k["reinstalls_applied"])),
        )
        .collect();
    if !wrong.is_empty() {
        return Err(format!(
            "{} servers or KVMs were not re-imaged exactly once, such as {}",
            wrong.len(),
            wrong.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let jobs = state["ecs"]["jobs"].as_array().ok_or("no jobs")?;
    jobs.iter()
        .filter_map(|j| {
            let begin = job_millis(j["begin_time"].as_str()?)?;
            let end = job_millis(j["end_time"].as_str()?)?;
            Some(Duration::from_millis(end.checked_sub(begin)?))
        })
        .max()
        .ok_or_else(|| "the emulator lists no ECS job with its times".to_owned())
}

/// Milliseconds since the epoch of the emulator's `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
fn job_millis(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (hms.next()??, hms.next()??, hms.next()??);
    let millis: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + millis)
}

/// One admin call's JSON answer.
pub(crate) fn admin_json(addr: &str, path: &str) -> Result<serde_json::Value, String> {
    let answer = http(addr, "GET", path, &[], "")?;
    if answer.status != 200 {
        return Err(format!("GET {path} answered {}", answer.status));
    }
    let chunked = answer.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked")
    });
    let body = if chunked {
        dechunk(&answer.body).ok_or_else(|| format!("GET {path}: a malformed chunked body"))?
    } else {
        answer.body
    };
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: not JSON: {e}"))
}

fn dechunk(mut data: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = data.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        data = rest.get(size + 2..)?;
    }
}

/// Mode 600: the config file holds the emulator's (well-known) secrets.
pub(crate) fn restrict(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("could not chmod {}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A `kB` field of `/proc/PID/status` (such as `VmHWM`), in bytes.
fn proc_status_bytes(pid: u32, name: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = field(&status, name)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The user and system CPU time of a process, from `/proc/PID/stat`.
fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses, which may hold spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when it cannot be asked).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        output(Command::new("getconf").arg("CLK_TCK"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .filter(|&t: &f64| t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_compactions_are_read_from_its_log() {
        let log = "[1/2] ecs:a: done ACTIVE\n\
            2026-12-07T06:57:43.223643Z  INFO reimage_fleet::journal: journal compacted \
            journal=/x/plan.toml.journal/journal.log when=close records_before=300000 \
            records_after=100000 millis=634.5\n\
            2026-12-07T06:57:44Z  INFO reimage_fleet::journal: journal compacted when=open \
            records_before=2500 records_after=1000\n\
            2026-12-07T06:57:45Z  INFO reimage_fleet::journal: journal compacted when=\"open\" \
            records_before=2500 records_after=1000 millis=12\n";
        assert_eq!(
            compactions(log),
            [
                Compaction {
                    when: "close".to_owned(),
                    before: 300_000,
                    after: 100_000,
                    millis: 634.5,
                },
                Compaction {
                    when: "open".to_owned(),
                    before: 2_500,
                    after: 1_000,
                    millis: 12.0,
                }
            ]
        );
        assert!(compactions("nothing here\n").is_empty());
    }

    #[test]
    fn parts_are_replaced_between_their_markers_only() {
        let doc = "intro\n<!-- bench:a:start -->\nold\n<!-- bench:a:end -->\nprose\n";
        assert_eq!(
            replace_part(doc, "a", "new\n"),
            "intro\n<!-- bench:a:start -->\nnew\n<!-- bench:a:end -->\nprose\n"
        );
        assert_eq!(
            replace_part("intro\n", "b", "x"),
            "intro\n\n<!-- bench:b:start -->\nx\n<!-- bench:b:end -->\n"
        );
    }

    #[test]
    fn wrk_reports_are_read() {
        let report = "Running 10s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n  \
            Latency Distribution\n     50%  466.00us\n     99%    2.02ms\n  \
            1234567 requests in 10.00s, 12.34MB read\nRequests/sec: 123456.78\n";
        let load = parse_wrk(report).unwrap();
        assert_eq!(load.requests, 1_234_567);
        assert!((load.requests_per_sec - 123_456.78).abs() < 1e-6);
        assert_eq!(load.p99, Duration::from_micros(2020));
        assert!(parse_wrk(&format!("{report}  Non-2xx or 3xx responses: 3\n")).is_err());
    }

    #[test]
    fn criterion_throughput_is_read() {
        let report = "validate/corpus/cloud-init-22.4\n                        time:   [1.0 ms 1.1 ms 1.2 ms]\n                        thrpt:  [300.00 Kelem/s 350.50 Kelem/s 400.00 Kelem/s]\n";
        assert_eq!(
            parse_criterion(report),
            vec![("validate/corpus/cloud-init-22.4".to_owned(), 350_500.0)]
        );
    }

    #[test]
    fn fleet_files_hold_every_target_once() {
        let plan = fleet_plan();
        assert_eq!(plan.matches("[[targets]]").count(), FLEET_ECS + FLEET_EDIS);
        assert_eq!(plan.matches("\necs = ").count(), FLEET_ECS);
        assert_eq!(plan.matches("\nedis = ").count(), FLEET_EDIS);
        assert!(plan.contains(&fleet_kvm(FLEET_EDIS - 1)));
        assert!(!plan.contains(&fleet_kvm(FLEET_EDIS)));
        assert!(plan.contains(&fleet_server(FLEET_ECS - 1)));
        let fixtures = fleet_fixtures();
        assert_eq!(fixtures.matches("[[ecs.servers]]").count(), FLEET_ECS);
        assert_eq!(fixtures.matches("[[edis.kvms]]").count(), FLEET_EDIS);
    }

    #[test]
    fn the_fleet_prose_is_rewritten_or_added() {
        let page = format!(
            "# B\n\n{FLEET_HEADING}\nold prose\n\n<!-- bench:fleet:start -->\nx\n<!-- bench:fleet:end -->\n\n## Next\n"
        );
        let new = with_fleet_prose(&page);
        assert!(!new.contains("old prose"));
        assert!(new.contains(&fleet_prose()));
        assert!(
            new.ends_with("<!-- bench:fleet:start -->\nx\n<!-- bench:fleet:end -->\n\n## Next\n")
        );
        assert_eq!(with_fleet_prose(&new), new);
        let added = with_fleet_prose("# B\n");
        assert!(added.starts_with(&format!("# B\n\n{FLEET_HEADING}\n")));
        assert!(added.ends_with("<!-- bench:fleet:start -->\n<!-- bench:fleet:end -->\n"));
    }

    #[test]
    fn prose_is_wrapped() {
        assert_eq!(wrap("a bb  ccc\ndddd e", 6), "a bb\nccc\ndddd e\n");
        assert!(fleet_prose().lines().all(|l| l.chars().count() <= 100));
    }

    #[test]
    fn job_times_read() {
        assert_eq!(job_millis("1970-01-01T00:00:01.500Z"), Some(1_500));
        assert_eq!(
            job_millis("2026-11-23T22:14:00.123Z").zip(job_millis("2026-11-23T22:14:00Z")),
            Some((1_795_472_040_123, 1_795_472_040_000))
        );
        assert_eq!(job_millis("yesterday"), None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(millis(Duration::from_micros(2020)), "2.02 ms");
        assert_eq!(today().len(), 10);
    }
}
