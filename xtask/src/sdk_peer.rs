//! `cargo xtask sdk-peer`: sets up the official Huawei Cloud Python SDK as a judge of the
//! emulator's wire compatibility.
//!
//! Creates the venv `target/sdk-venv` and installs the pinned `huaweicloudsdkcore` and
//! `huaweicloudsdkecs` into it, skipping pip when both are there at that version already; then
//! imports the ECS client once (with `HOME` in a temporary directory, since importing the SDK
//! writes `~/.huaweicloud/`) to prove the venv works. The interop test,
//! `crates/emulator/tests/sdk_interop.rs`, finds the venv there and runs
//! `xtask/scripts/sdk_interop.py` against an in-process emulator. `cargo xtask ci` runs this task
//! before the tests, so CI fails when the SDK cannot be installed, and the test (which fails
//! rather than skips when `CI` is set and the venv is missing) always runs there.

use std::fs;
use std::process::Command;

use crate::{run_cmd, util};

/// The SDK, pinned: both packages at the same release.
const PINS: &[&str] = &["huaweicloudsdkcore==3.1.219", "huaweicloudsdkecs==3.1.219"];
/// The venv, relative to the workspace root; the interop test looks for it there.
const VENV: &str = "target/sdk-venv";

/// Makes or updates `target/sdk-venv` and checks that the SDK imports.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "`cargo xtask sdk-peer` takes no arguments, got {arg:?}"
        ));
    }
    let root = util::root();
    let python = util::ensure_venv(&root.join(VENV), PINS).map_err(|message| {
        format!(
            "could not set up the official SDK in {VENV}: {message}\n\
             It needs python3 with venv and access to PyPI; remove {VENV} to start over."
        )
    })?;

    let scratch = util::TempDir::new("sdk-peer")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;
    run_cmd(
        Command::new(&python)
            .args([
                "-c",
                "from huaweicloudsdkecs.v2 import EcsClient, ReinstallServerWithCloudInitRequest",
            ])
            .current_dir(&root)
            .env("HOME", &home)
            .env("USERPROFILE", &home)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )?;
    util::say(&format!(
        "the official SDK ({}) is ready in {VENV}: `cargo test -p reimage-emulator --test \
         sdk_interop` runs xtask/scripts/sdk_interop.py with {}",
        PINS.join(", "),
        python.display()
    ));
    Ok(())
}
