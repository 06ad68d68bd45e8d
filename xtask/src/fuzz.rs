//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` on nightly, each for a fixed time,
//! and reports how many inputs each executed.
//!
//! `fuzz/` is its own Cargo workspace, excluded from the project's: stable CI never builds it.
//! The target bodies are plain functions in `fuzz/src/lib.rs`, which the stable replay test
//! (`tests/e2e/fuzz_replay.rs`) runs over `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`.
//! See the "Fuzzing" section of `docs/reliability.md`.
//!
//! - `--seconds N` (60): how long each target runs (libFuzzer's `-max_total_time`).
//! - `--target NAME`: only that target (`user_data`, `yaml`, `wire_decoders`,
//!   `emulator_request`).
//! - `--cmin`: after the run, minimizes each target's corpus (`cargo fuzz cmin`) to the fewest
//!   inputs that keep every edge covered: the form in which it is committed.
//! - `--seed`: writes the seed inputs (`seed-*`) from the repository's own examples into
//!   `fuzz/corpus/` and stops: the cloud-init corpus, the EDIS and ECS answers of `tests/specs/`,
//!   the golden request bodies of `tests/golden/`, and the AK/SK vectors.
//!
//! Targets are built with debug assertions and overflow checks (cargo-fuzz's default) and without
//! a sanitizer: the workspace forbids `unsafe`, and AddressSanitizer would halve the executions.
//! A unit that runs longer than 10 s is a hang, and one over 2 GB of RSS an OOM: both are crashes.
//! A crash leaves its input in `fuzz/artifacts/<target>/`; the task goes on with the other targets
//! and fails at the end, naming each input.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::util;

/// The targets, in the order they run.
pub(crate) const TARGETS: [&str; 4] = ["user_data", "yaml", "wire_decoders", "emulator_request"];

/// libFuzzer's per-unit time limit in seconds: slower is a hang.
const UNIT_TIMEOUT: u64 = 10;
/// libFuzzer's memory limit: more is an OOM.
const RSS_LIMIT_MB: u64 = 2048;

/// How `--cmin` minimizes: the fewest inputs (a greedy set cover) that keep every edge, without
/// counting how often an edge runs, so that the committed corpus stays at a few hundred KB.
const CMIN_FLAGS: [&str; 3] = [
    "-set_cover_merge=1",
    "-use_counters=0",
    "-use_value_profile=0",
];

struct Args {
    seconds: u64,
    targets: Vec<&'static str>,
    cmin: bool,
    seed: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        seconds: 60,
        targets: TARGETS.to_vec(),
        cmin: false,
        seed: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = it.next().ok_or("--seconds needs a number")?;
                parsed.seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--seconds: {value:?} is not a positive number"))?;
            }
            "--target" => {
                let value = it.next().ok_or("--target needs a name")?;
                let target = TARGETS
                    .iter()
                    .find(|t| **t == value.as_str())
                    .ok_or_else(|| {
                        format!(
                            "--target: no target {value:?}; the targets are {}",
                            TARGETS.join(", ")
                        )
                    })?;
                parsed.targets = vec![target];
            }
            "--cmin" => parsed.cmin = true,
            "--seed" => parsed.seed = true,
            other => {
                return Err(format!(
                    "`cargo xtask fuzz` takes --seconds N, --target NAME, --cmin and --seed, \
                     got {other:?}"
                ));
            }
        }
    }
    Ok(parsed)
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let root = util::root();
    if args.seed {
        return seed(&root);
    }
    check_cargo_fuzz()?;
    let mut results = Vec::new();
    for target in &args.targets {
        results.push(run_target(&root, target, args.seconds)?);
        if args.cmin {
            crate::run_cmd(
                nightly()
                    .args(["fuzz", "cmin", "--sanitizer", "none", target])
                    .arg(corpus_dir(&root, target))
                    .arg("--")
                    .args(CMIN_FLAGS),
            )?;
        }
    }
    let mut table = String::from(
        "| target | seconds | execs | execs/s | coverage | corpus (files, bytes) | crashes |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in &results {
        let (files, bytes) = dir_size(&corpus_dir(&root, r.target));
        let _ = writeln!(
            table,
            "| {} | {:.0} | {} | {} | {} | {files}, {bytes} | {} |",
            r.target,
            r.seconds,
            r.execs.map_or("?".to_owned(), |n| n.to_string()),
            r.execs
                .map_or("?".to_owned(), |n| format!("{:.0}", n as f64 / r.seconds)),
            r.coverage.as_deref().unwrap_or("?"),
            r.crash.as_deref().unwrap_or("none"),
        );
    }
    util::say(&format!("\nfuzz: results\n\n{table}"));
    let crashes: Vec<String> = results.iter().filter_map(|r| r.crash.clone()).collect();
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "crashes (minimize with `cargo +nightly fuzz tmin --sanitizer none TARGET FILE`, fix, \
             and keep the input in fuzz/regressions/TARGET/ so that the replay test runs it):\n  {}",
            crashes.join("\n  ")
        ))
    }
}

/// `cargo +nightly`, through rustup, with nothing of the stable cargo that runs this task.
fn nightly() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly").current_dir(util::root());
    for var in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn check_cargo_fuzz() -> Result<(), String> {
    let out = nightly().args(["fuzz", "--version"]).output();
    match out {
        Ok(out) if out.status.success() => {
            util::say(&format!(
                "fuzz: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            ));
            Ok(())
        }
        _ => Err("cargo-fuzz on a nightly toolchain is needed: \
                  `rustup toolchain install nightly --profile minimal` and \
                  `cargo +nightly install cargo-fuzz --locked`"
            .to_owned()),
    }
}

fn corpus_dir(root: &Path, target: &str) -> PathBuf {
    root.join("fuzz/corpus").join(target)
}

fn regressions_dir(root: &Path, target: &str) -> PathBuf {
    root.join("fuzz/regressions").join(target)
}

/// What one run gave.
struct Outcome {
    target: &'static str,
    seconds: f64,
    execs: Option<u64>,
    coverage: Option<String>,
    crash: Option<String>,
}

fn run_target(root: &Path, target: &'static str, seconds: u64) -> Result<Outcome, String> {
    let corpus = corpus_dir(root, target);
    fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    let mut cmd = nightly();
    cmd.args(["fuzz", "run", "--sanitizer", "none", target])
        .arg(&corpus);
    let regressions = regressions_dir(root, target);
    if regressions.is_dir() {
        // Read at start, never written: new inputs go to the first directory.
        cmd.arg(&regressions);
    }
    cmd.arg("--").args([
        format!("-max_total_time={seconds}"),
        format!("-timeout={UNIT_TIMEOUT}"),
        format!("-rss_limit_mb={RSS_LIMIT_MB}"),
        "-print_final_stats=1".to_owned(),
    ]);
    util::say(&format!("$ {}", util::describe(&cmd)));
    let start = Instant::now();
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo +nightly fuzz: {e}"))?;
    let mut stats = Stats::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            util::say(&line);
            stats.read(&line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    let wall = start.elapsed().as_secs_f64();
    if !status.success() && stats.crash.is_none() {
        return Err(format!(
            "cargo fuzz run {target} failed with {status} and wrote no crash input (a build \
             error?)"
        ));
    }
    Ok(Outcome {
        target,
        seconds: stats.seconds.unwrap_or(wall),
        execs: stats.execs,
        coverage: stats.coverage,
        crash: stats.crash,
    })
}

/// The figures libFuzzer prints.
#[derive(Default)]
struct Stats {
    execs: Option<u64>,
    seconds: Option<f64>,
    coverage: Option<String>,
    crash: Option<String>,
}

impl Stats {
    fn read(&mut self, line: &str) {
        // `stat::number_of_executed_units: 123456` (with -print_final_stats=1).
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            self.execs = n.trim().parse().ok();
        }
        // `Done 123456 runs in 300 second(s)`.
        if let Some(rest) = line.strip_prefix("Done ") {
            let mut words = rest.split_whitespace();
            let runs = words.next().and_then(|w| w.parse().ok());
            let secs = words.nth(2).and_then(|w| w.parse().ok());
            self.execs = self.execs.or(runs);
            self.seconds = secs;
        }
        // `#123456\tDONE   cov: 1234 ft: 5678 corp: 90/12Kb …`.
        if line.starts_with('#') && line.contains("DONE") {
            let mut words = line.split_whitespace();
            if let Some(n) = words.next().and_then(|w| w[1..].parse().ok()) {
                self.execs = self.execs.or(Some(n));
            }
            if let Some(cov) = line.split("cov: ").nth(1) {
                self.coverage = cov.split_whitespace().next().map(str::to_owned);
            }
        }
        // `Test unit written to fuzz/artifacts/yaml/crash-…`.
        if let Some(at) = line.find("Test unit written to ") {
            let path = line[at + "Test unit written to ".len()..].trim();
            self.crash = Some(path.to_owned());
        }
    }
}

fn dir_size(dir: &Path) -> (usize, u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return (0, 0);
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(fs::Metadata::is_file)
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
}

// ---------------------------------------------------------------------------------------------
// Seeds.
// ---------------------------------------------------------------------------------------------

/// The statuses of `fuzz/src/lib.rs`'s `STATUSES`, in its order: byte 1 of a decoder input.
const STATUSES: [u16; 24] = [
    200, 201, 202, 204, 100, 299, 301, 304, 400, 401, 403, 404, 405, 409, 413, 418, 429, 500, 502,
    503, 504, 599, 600, 999,
];

/// The operations of `fuzz/src/lib.rs`'s `DECODERS`, in its order, by the file names of
/// `tests/specs/`: byte 0 of a decoder input.
const DECODERS: [&str; 16] = [
    "create_session",
    "get_images",
    "get_power",
    "power_on",
    "power_off",
    "hard_reset",
    "get_details",
    "get_mount",
    "reinstall",
    "reinstallos",
    "changeos",
    "batch_stop",
    "batch_start",
    "show_job",
    "show_server",
    "iam_create_token",
];

/// The readers of `fuzz/src/lib.rs`'s `READERS`: byte 0 of an emulator input.
const EDIS_REINSTALL: u8 = 0;
const EDIS_SESSION_CALLS: u8 = 1;
const EDIS_CREATE_SESSION: u8 = 2;
const ECS_REINSTALLOS: u8 = 3;
const ECS_CHANGEOS: u8 = 4;
const ECS_ACTION: u8 = 5;
const ECS_ROUTE: u8 = 6;
const AKSK_VERIFY: u8 = 7;
const FAULT_RULE: u8 = 8;

/// Decoder flags (`WITH_*` in `fuzz/src/lib.rs`).
const WITH_SUBJECT_TOKEN: u8 = 1;
const WITH_REQUEST_ID: u8 = 2;
const WITH_JSON_TYPE: u8 = 8;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SERVER: &str = "11111111-2222-3333-4444-555555555555";

/// The fault rules of the emulator's docs, one per kind.
const FAULT_RULES: &[&str] = &[
    r#"{"operation": "ecs.reinstallos", "kind": "lost_answer", "calls": [1]}"#,
    r#"{"path": "/v1/*/jobs/*", "kind": "server_error", "params": {"status": 503}, "times": 2}"#,
    r#"{"operation": "iam.create_token", "kind": "short_lived_credentials", "params": {"lifetime_ms": 2000}}"#,
    r#"{"method": "post", "kind": "latency", "params": {"ms": 250}, "from_call": 2}"#,
    r#"{"operation": "edis.*", "kind": "throttle", "params": {"retry_after_secs": 3}}"#,
    r#"{"kind": "reset"}"#,
    r#"{"kind": "truncated_body", "operation": "ecs.show_server"}"#,
    r#"{"kind": "invalid_json", "path": "/kvm/v2/get/*"}"#,
    r#"{"kind": "job_fail", "params": {"error_code": "Ecs.0000", "fail_reason": "disk"}}"#,
    r#"{"kind": "expire_credentials", "operation": "edis.reinstall"}"#,
    r#"[{"kind": "reset"}, {"kind": "lost_answer"}]"#,
];

fn seed(root: &Path) -> Result<(), String> {
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();

    // User data and YAML: the cloud-init corpus.
    for (name, bytes) in files(&root.join("tests/cloud-init/corpus"))? {
        seeds.push(("user_data", name.clone(), bytes.clone()));
        seeds.push(("yaml", name, bytes));
    }

    // Decoders: the providers' documented answers.
    for provider in ["edis", "ecs"] {
        for (name, body) in files(&root.join("tests/specs").join(provider))? {
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let mut parts = stem.split('.');
            let (Some(op), Some(status)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (op, status) = match (op, status) {
                ("responses_jobs", _) => ("reinstallos", 200),
                (op, status) => match status.parse::<u16>() {
                    Ok(status) => (op, status),
                    Err(_) => continue,
                },
            };
            let input = decoder_input(
                op,
                status,
                WITH_REQUEST_ID | WITH_JSON_TYPE,
                b"req-0001",
                &body,
            )?;
            seeds.push(("wire_decoders", format!("{provider}-{name}"), input));
        }
    }
    let token = b"MIIEhgYJKoZIhvcNAQcCoIIEdzCCBHMCAQExDTALBglghkgBZQMEAgEw";
    let iam_ok = br#"{"token":{"expires_at":"2099-01-01T00:00:00.000000Z","issued_at":"2025-01-01T00:00:00.000000Z","methods":["password"],"project":{"id":"0123456789abcdef0123456789abcdef","name":"eu-de"}}}"#;
    let iam_error = br#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#;
    for (name, status, flags, body) in [
        (
            "iam-201.json",
            201,
            WITH_SUBJECT_TOKEN | WITH_JSON_TYPE,
            &iam_ok[..],
        ),
        (
            "iam-401.json",
            401,
            WITH_REQUEST_ID | WITH_JSON_TYPE,
            &iam_error[..],
        ),
    ] {
        let input = decoder_input("iam_create_token", status, flags, token, body)?;
        seeds.push(("wire_decoders", name.to_owned(), input));
    }

    // The emulator's readers: the golden requests the client sends, and the specs' examples.
    for provider in ["edis", "ecs"] {
        for (name, bytes) in files(&root.join("tests/golden").join(provider))? {
            let text = String::from_utf8_lossy(&bytes);
            let Some((head, body)) = text.split_once("\n\n") else {
                continue;
            };
            let op = name.split('.').next().unwrap_or_default();
            let reader = match op {
                "reinstall" => EDIS_REINSTALL,
                "create_session" => EDIS_CREATE_SESSION,
                "reinstallos" => ECS_REINSTALLOS,
                "changeos" => ECS_CHANGEOS,
                "batch_stop" | "batch_start" => ECS_ACTION,
                _ if provider == "edis" => EDIS_SESSION_CALLS,
                _ => ECS_ROUTE,
            };
            let label = format!("golden-{provider}-{name}");
            if reader != ECS_ROUTE {
                seeds.push((
                    "emulator_request",
                    label.clone(),
                    prefixed(reader, body.as_bytes()),
                ));
            }
            if provider == "ecs"
                && !name.starts_with("iam_")
                && let Some(path) = request_path(head)
            {
                seeds.push((
                    "emulator_request",
                    format!("{label}-path"),
                    prefixed(ECS_ROUTE, path.as_bytes()),
                ));
            }
        }
    }
    for (name, bytes) in files(&root.join("tests/specs/ecs"))? {
        if !name.contains(".request.") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes)
            .replace("{project_id}", PROJECT)
            .replace("{server_id}", SERVER)
            .replace("{job_id}", "ff80808288d41e1b018990260955686a");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let reader = match name.split('.').next().unwrap_or_default() {
            "reinstallos" => Some(ECS_REINSTALLOS),
            "changeos" => Some(ECS_CHANGEOS),
            "batch_stop" | "batch_start" => Some(ECS_ACTION),
            _ => None,
        };
        if let Some(reader) = reader {
            seeds.push((
                "emulator_request",
                format!("spec-{name}"),
                prefixed(reader, body.trim().as_bytes()),
            ));
        }
        if let Some(path) = request_path(head) {
            seeds.push((
                "emulator_request",
                format!("spec-{name}-path"),
                prefixed(ECS_ROUTE, path.as_bytes()),
            ));
        }
    }
    for (i, rule) in FAULT_RULES.iter().enumerate() {
        seeds.push((
            "emulator_request",
            format!("fault-{i}.json"),
            prefixed(FAULT_RULE, rule.as_bytes()),
        ));
    }
    // The AK/SK vectors signed with the key the fuzz body's verifier knows, at its `now`.
    let vectors = fs::read_to_string(root.join("tests/aksk/vectors.json"))
        .map_err(|e| format!("tests/aksk/vectors.json: {e}"))?;
    let vectors: Value =
        serde_json::from_str(&vectors).map_err(|e| format!("tests/aksk/vectors.json: {e}"))?;
    for vector in vectors["vectors"].as_array().into_iter().flatten() {
        if vector["ak"] != "AKEXAMPLE" || vector["sdk_date"] != "20250101T000000Z" {
            continue;
        }
        if let Some(request) = vector_request(vector) {
            let name = vector["name"].as_str().unwrap_or("vector");
            seeds.push((
                "emulator_request",
                format!("aksk-{name}.txt"),
                prefixed(AKSK_VERIFY, &request),
            ));
        }
    }

    let mut written = 0;
    for (target, name, bytes) in &seeds {
        let dir = corpus_dir(root, target);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("seed-{name}"));
        fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        written += 1;
    }
    for target in TARGETS {
        let (files, bytes) = dir_size(&corpus_dir(root, target));
        util::say(&format!(
            "fuzz: corpus/{target}: {files} files, {bytes} bytes"
        ));
    }
    util::say(&format!(
        "fuzz: wrote {written} seeds; `cargo xtask fuzz --seconds N --cmin` runs and minimizes"
    ));
    Ok(())
}

/// `[op, status, flags, n, header (n bytes), body]`, the layout `wire_decoders` reads.
fn decoder_input(
    op: &str,
    status: u16,
    flags: u8,
    header: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let op = DECODERS
        .iter()
        .position(|d| *d == op)
        .ok_or_else(|| format!("no decoder for {op:?}"))?;
    let status = STATUSES
        .iter()
        .position(|s| *s == status)
        .ok_or_else(|| format!("status {status} is not in STATUSES"))?;
    let n = u8::try_from(header.len()).map_err(|_| "header too long".to_owned())?;
    let mut input = vec![op as u8, status as u8, flags, n];
    input.extend_from_slice(header);
    input.extend_from_slice(body);
    Ok(input)
}

fn prefixed(reader: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![reader];
    out.extend_from_slice(bytes);
    out
}

/// The path and query of a request line `METHOD https://host/path?query`.
fn request_path(head: &str) -> Option<String> {
    let target = head.lines().next()?.split_once(' ')?.1.trim();
    let rest = target.split_once("://").map_or(target, |(_, rest)| rest);
    let at = rest.find('/')?;
    Some(rest[at..].to_owned())
}

/// An AK/SK vector as the HTTP/1 text `fuzz/src/lib.rs`'s `request_from_text` reads: the method
/// and path, the signed headers, an empty line, the body.
fn vector_request(vector: &Value) -> Option<Vec<u8>> {
    let method = vector["method"].as_str()?;
    let url = vector["url"].as_str()?;
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    let mut text = format!("{method} {path}\n");
    for (name, value) in vector["expected"]["headers"].as_object()? {
        let _ = writeln!(text, "{name}: {}", value.as_str()?);
    }
    text.push('\n');
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(vector["body"].as_str().unwrap_or_default().as_bytes());
    Some(bytes)
}

/// The files directly in `dir`, by name, sorted.
fn files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((name, bytes));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_stats() {
        let mut stats = Stats::default();
        for line in [
            "#1048576\tpulse  cov: 10 ft: 20 corp: 3/4b lim: 4 exec/s: 1 rss: 40Mb",
            "#2000000\tDONE   cov: 1234 ft: 5678 corp: 90/12Kb lim: 4096 exec/s: 6666 rss: 400Mb",
            "Done 2000000 runs in 300 second(s)",
            "stat::number_of_executed_units: 2000001",
        ] {
            stats.read(line);
        }
        assert_eq!(stats.execs, Some(2_000_001));
        assert_eq!(stats.seconds, Some(300.0));
        assert_eq!(stats.coverage.as_deref(), Some("1234"));
        assert_eq!(stats.crash, None);
        stats.read("artifact_prefix='/w/fuzz/artifacts/yaml/'; Test unit written to /w/fuzz/artifacts/yaml/crash-ab12");
        assert_eq!(
            stats.crash.as_deref(),
            Some("/w/fuzz/artifacts/yaml/crash-ab12")
        );
    }

    #[test]
    fn request_paths() {
        assert_eq!(
            request_path("POST https://{endpoint}/v1/p/cloudservers/action\n").as_deref(),
            Some("/v1/p/cloudservers/action")
        );
        assert_eq!(request_path("GET /v1/x?y=1").as_deref(), Some("/v1/x?y=1"));
    }
}
