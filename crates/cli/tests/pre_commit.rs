//! The pre-commit hook of `.pre-commit-hooks.yaml`, run by the real `pre-commit` (from PyPI,
//! pinned in `target/ci-tools-venv` by `cargo xtask ci-tools`) as `pre-commit try-repo` in a
//! fresh git repository, with the `reimage` binary of this build on `PATH`.
//!
//! `try-repo` reads the hook from the repository's committed `HEAD` (plus changes to tracked
//! files), so the hook file must be committed. Without the venv the test says why and passes,
//! unless `CI` is set, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The python of `target/ci-tools-venv`, or `None` (after saying why) when the test cannot run.
fn tools_python() -> Option<PathBuf> {
    let python = workspace_root().join("target/ci-tools-venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let why = format!(
        "pre-commit is not set up ({} is missing): run `cargo xtask ci-tools`",
        python.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// A scratch folder under the target directory, fresh for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pre-commit-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `command` in `dir` with git's identity and pre-commit's cache kept inside `dir`, and
/// the built `reimage` first on `PATH`.
fn run(dir: &Path, command: &mut Command) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_reimage")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    command
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir.join("home"))
        .env("PRE_COMMIT_HOME", dir.join("cache"))
        .env("GIT_AUTHOR_NAME", "reimage test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "reimage test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("run a command")
}

fn git(dir: &Path, args: &[&str]) {
    let out = run(dir, Command::new("git").args(args));
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn try_repo(python: &Path, dir: &Path) -> (Option<i32>, String) {
    let out = run(
        dir,
        Command::new(python)
            .args(["-m", "pre_commit", "try-repo"])
            .arg(workspace_root())
            .args(["reimage-validate", "--all-files", "--verbose"]),
    );
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), all)
}

#[test]
fn pre_commit_try_repo_runs_reimage_validate_on_cloud_config_names() {
    let Some(python) = tools_python() else {
        return;
    };
    let dir = scratch("try-repo");
    std::fs::create_dir_all(dir.join("home")).unwrap();
    git(&dir, &["init", "-q", "."]);
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    // Matched by name: an invalid user-data file, and a valid one with a deprecated key (a
    // warning, so the hook's output shows that it was checked).
    std::fs::write(
        dir.join("deploy/user-data.yaml"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\npower_state: {mode: restart}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("web.cloud-config"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\napt_update: true\n",
    )
    .unwrap();
    // Not a cloud-config name: never given to reimage, though it would be invalid.
    std::fs::write(dir.join("notes.yaml"), b"#cloud-config\nnot_a_key: 1\n").unwrap();
    git(&dir, &["add", "-A"]);

    let (code, said) = try_repo(&python, &dir);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("reimage validate (cloud-init user data)"),
        "{said}"
    );
    assert!(said.contains("Failed"), "{said}");
    assert!(
        said.contains(
            "deploy/user-data.yaml:3:21: error[schema]: power_state.mode: \"restart\" is not one \
             of poweroff, reboot, halt"
        ),
        "{said}"
    );
    assert!(
        said.contains("web.cloud-config:3:1: warning[deprecated]: apt_update"),
        "{said}"
    );
    assert!(!said.contains("notes.yaml"), "{said}");

    // Fixed, the hook passes.
    std::fs::write(
        dir.join("deploy/user-data.yaml"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\npower_state: {mode: reboot}\n",
    )
    .unwrap();
    git(&dir, &["add", "-A"]);
    let (code, said) = try_repo(&python, &dir);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Passed"), "{said}");
}
