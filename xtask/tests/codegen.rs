//! Drift tests: what `cargo xtask codegen` makes today is what the repository commits.
//!
//! - `docs/cli.md` and the man pages in `docs/man/` are rendered from the CLI's clap definitions
//!   (`reimage __reference`, `reimage __man DIR`). They need nothing outside the repository, so
//!   they are always checked.
//! - The compact cloud-init schemas in `crates/cloudinit/schemas/` are made from
//!   `../shared/cloud-init/`, which lives outside the repository. Where it is absent (a user's
//!   clone) that test says so and passes; in CI (`CI` set) it must be there, and its absence fails
//!   the test.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The workspace root (the parent of `xtask/`).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Whether this runs in CI: `CI` is set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// `cargo xtask codegen --check --only ONLY`, from the workspace root.
fn codegen_check(only: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["codegen", "--check", "--only", only])
        .current_dir(root());
    cmd
}

/// Fails the test with the task's report unless it succeeded.
fn assert_success(only: &str, out: &Output) {
    assert!(
        out.status.success(),
        "`cargo xtask codegen --check --only {only}` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_reference_is_up_to_date() {
    let out = codegen_check("cli")
        .output()
        .expect("the xtask binary runs");
    assert_success("cli", &out);
}

#[test]
fn generated_schemas_are_up_to_date() {
    let inputs = root().join("../shared/cloud-init");
    if !inputs.is_dir() {
        assert!(
            !in_ci(),
            "CI is set but {} is absent: the codegen drift check cannot run",
            inputs.display()
        );
        println!(
            "skipped: {} is absent, so the codegen drift check cannot run here",
            inputs.display()
        );
        return;
    }
    let out = codegen_check("schemas")
        .output()
        .expect("the xtask binary runs");
    assert_success("schemas", &out);
}
