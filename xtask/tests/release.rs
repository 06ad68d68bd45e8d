//! `cargo xtask release` refuses what it must, fast and without touching the tree.
//!
//! Only the refusals that come before any edit are run here: a malformed command line and a
//! version that is not the next one (checked before the dirty-tree check, so these answer the
//! same whether or not the tree is clean). A full dry run compiles every crate for the publish
//! dry run and needs the crates.io index, so it is run by hand:
//! `cargo xtask release X.Y.Z --dry-run`.

// The helpers outside `#[test]` functions panic when the binary cannot run; a test should.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

/// The workspace root (the parent of `xtask/`).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Runs `xtask release ARGS` from the workspace root.
fn release(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("release")
        .args(args)
        .current_dir(root())
        .output()
        .expect("the xtask binary runs")
}

/// Asserts that the task failed and that its report contains `needle`.
fn assert_refused(args: &[&str], needle: &str) {
    let out = release(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "`xtask release {}` succeeded:\n{stderr}",
        args.join(" ")
    );
    assert!(
        stderr.contains(needle),
        "`xtask release {}` did not say {needle:?}:\n{stderr}",
        args.join(" ")
    );
    assert!(
        !stderr.contains("$ "),
        "`xtask release {}` ran a command before refusing:\n{stderr}",
        args.join(" ")
    );
}

#[test]
fn a_version_that_is_not_next_is_refused() {
    assert_refused(&["9.9.9", "--dry-run"], "is not the next version after");
    assert_refused(&["0.0.0", "--dry-run"], "is not the next version after");
}

#[test]
fn suffixes_are_refused() {
    assert_refused(&["1.0.0-rc.1", "--dry-run"], "pre-release or build suffix");
    assert_refused(&["1.0.0+build.7"], "pre-release or build suffix");
}

#[test]
fn a_malformed_command_line_gets_the_usage() {
    let usage = "usage: cargo xtask release X.Y.Z [--dry-run]";
    assert_refused(&["abc"], usage);
    assert_refused(&[], usage);
    assert_refused(&["0.2.0", "--force"], usage);
    assert_refused(&["0.2.0", "0.3.0", "--dry-run"], usage);
}
