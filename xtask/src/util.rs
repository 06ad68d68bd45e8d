//! Small helpers shared by the tasks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo`, as the one that runs this task.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Prints a line of progress to stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn say(line: &str) {
    eprintln!("{line}");
}

/// A command as a person would type it.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates `reimage-<name>-<pid>` under the temporary directory, emptying any leftover.
    pub(crate) fn new(name: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("reimage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("could not create {}: {e}", path.display()))?;
        Ok(Self(path))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The python of the venv at `venv`.
pub(crate) fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Makes the venv at `venv` (with `python3 -m venv`) unless it is there, and installs the pinned
/// `name==version` requirements into it unless every one of them is installed at that version
/// already; gives its python. Running it twice does nothing the second time.
pub(crate) fn ensure_venv(venv: &Path, pins: &[&str]) -> Result<PathBuf, String> {
    let python = venv_python(venv);
    if !python.exists() {
        crate::run_cmd(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    if !pins_installed(&python, pins) {
        crate::run_cmd(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                ])
                .args(pins),
        )?;
        if !pins_installed(&python, pins) {
            return Err(format!(
                "pip ran, but {} still lacks one of {}",
                venv.display(),
                pins.join(" ")
            ));
        }
    }
    Ok(python)
}

/// Whether `python` has every `name==version` of `pins` installed at exactly that version.
pub(crate) fn pins_installed(python: &Path, pins: &[&str]) -> bool {
    let probe = "import sys\n\
        from importlib.metadata import version\n\
        try:\n    ok = all(version(n) == v for n, v in (p.split('==') for p in sys.argv[1:]))\n\
        except Exception:\n    ok = False\n\
        sys.exit(0 if ok else 1)\n";
    Command::new(python)
        .args(["-c", probe])
        .args(pins)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
