//! `cargo xtask aksk-vectors`: regenerates the AK/SK signing vectors with the official SDK.
//!
//! Creates a venv at `target/aksk-venv`, installs the pinned `huaweicloudsdkcore` into it (once),
//! and runs `xtask/scripts/aksk_vectors.py` with `HOME` pointed at a temporary directory, since
//! importing the SDK writes `~/.huaweicloud/`. The script writes `tests/aksk/vectors.json`; with
//! `--check` it writes a temporary file instead, and the task fails when the committed one differs.

use std::fs;
use std::process::Command;

use crate::{run_cmd, util};

/// The SDK the vectors come from, pinned; the script checks the version too.
const SDK_PIN: &str = "huaweicloudsdkcore==3.1.219";
/// The generator, relative to the workspace root.
const SCRIPT: &str = "xtask/scripts/aksk_vectors.py";
/// The vectors, relative to the workspace root.
const OUTPUT: &str = "tests/aksk/vectors.json";
/// The venv, relative to the workspace root.
const VENV: &str = "target/aksk-venv";

/// Regenerates `tests/aksk/vectors.json`, or with `--check` fails when it is stale.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            return Err(format!(
                "`cargo xtask aksk-vectors` takes only --check, got {args:?}"
            ));
        }
    };
    let root = util::root();
    let python = util::ensure_venv(&root.join(VENV), &[SDK_PIN])?;

    let scratch = util::TempDir::new("aksk-vectors")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;
    let fresh = scratch.path().join("vectors.json");
    run_cmd(
        Command::new(&python)
            .arg(root.join(SCRIPT))
            .arg(&fresh)
            .current_dir(&root)
            .env("HOME", &home)
            .env("USERPROFILE", &home)
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )?;
    let fresh_bytes =
        fs::read(&fresh).map_err(|e| format!("could not read {}: {e}", fresh.display()))?;

    let output = root.join(OUTPUT);
    let current = fs::read(&output).ok();
    if current.as_deref() == Some(fresh_bytes.as_slice()) {
        util::say(&format!("{OUTPUT} is up to date"));
        return Ok(());
    }
    if check {
        return Err(format!(
            "{OUTPUT} is stale: run `cargo xtask aksk-vectors` and commit"
        ));
    }
    if let Some(dir) = output.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    fs::write(&output, &fresh_bytes)
        .map_err(|e| format!("could not write {}: {e}", output.display()))?;
    util::say(&format!("wrote {OUTPUT}"));
    Ok(())
}
