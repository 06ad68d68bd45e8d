//! Drift test: the compact cloud-init schemas in `crates/cloudinit/schemas/` are what
//! `cargo xtask codegen` makes from `../shared/cloud-init/` today.
//!
//! The inputs live outside the repository. Where they are absent (a user's clone) the test says
//! so and passes; in CI (`CI` set) they must be there, and their absence fails the test.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Whether this runs in CI: `CI` is set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
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
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["codegen", "--check"])
        .current_dir(root())
        .output()
        .expect("the xtask binary runs");
    assert!(
        out.status.success(),
        "`cargo xtask codegen --check` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
