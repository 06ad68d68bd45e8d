//! `cargo xtask ci`: every check the project has, the single source of truth for CI.

use crate::{run_cmd, util};

/// The examples that CI runs, each against the emulator (or, for `dry_run`, no server at all):
/// (package, example).
const EXAMPLES: &[(&str, &str)] = &[
    ("reimage-wire", "dry_run"),
    ("reimage-client", "ecs_reinstall"),
    ("reimage-client", "edis_reinstall"),
    // Without arguments: 50 reinstalls + job queries against an in-process emulator.
    ("reimage-client", "ecs_loop"),
];

/// Runs fmt, clippy, the cloud-init peer's check, the tests (doc tests and tidy tests included),
/// the facade's doc tests with every feature, the examples and rustdoc, stopping at the first
/// failure.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`cargo xtask ci` takes no arguments, got {arg:?}"));
    }
    run_cmd(util::cargo().args(["fmt", "--all", "--check"]))?;
    run_cmd(util::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Real cloud-init (22.4.2 and 26.2) judges the corpus: CI fails when a peer cannot be set
    // up or the committed verdicts that the differential test reads are stale.
    crate::cloudinit_peer::run(&["--check".into()])?;
    // The official Python SDK judges the emulator: CI fails when it cannot be installed, and the
    // interop test finds it in target/sdk-venv.
    crate::sdk_peer::run(&[])?;
    // The official SARIF schema and pre-commit judge `reimage validate`'s CI-facing output: the
    // tests find them in target/ci-tools-venv.
    crate::ci_tools::run(&[])?;
    // `CI=true` makes the tests that need a peer (the official SDK, curl, `../shared`) fail
    // rather than skip: `cargo xtask ci` never skips a judge silently, on CI or off it.
    run_cmd(
        util::cargo()
            .args(["test", "--workspace", "--locked", "--no-fail-fast"])
            .env("CI", "true"),
    )?;
    // The workspace run builds the facade with its default features; its other doc tests
    // (cloud-init alone, the emulator) need every feature.
    run_cmd(util::cargo().args([
        "test",
        "-p",
        "reimage",
        "--all-features",
        "--doc",
        "--locked",
    ]))?;
    for (package, example) in EXAMPLES {
        run_cmd(util::cargo().args([
            "run",
            "--quiet",
            "--locked",
            "-p",
            package,
            "--example",
            example,
        ]))?;
    }
    run_cmd(
        util::cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    util::say("ci: all checks passed");
    Ok(())
}
