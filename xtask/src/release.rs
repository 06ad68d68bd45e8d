//! `cargo xtask release X.Y.Z [--dry-run]`: prepares a release of the whole workspace.
//!
//! In this order, stopping at the first refusal:
//!
//! 1. Refuses a version that is not the next one (checked first, so that it answers the same on
//!    any tree): "next" is a bump of exactly one of major, minor or patch of the workspace version
//!    (`[workspace.package] version`) with the lower parts zeroed, or the workspace version itself
//!    while no tag `vX.Y.Z` of it exists (its first release). Pre-release and build suffixes are
//!    refused. Then refuses a dirty tree (`git status --porcelain`), naming the files, and a
//!    changelog that step 3 cannot rewrite.
//! 2. Bumps the shared version with `toml_edit`, keeping formatting and comments:
//!    `[workspace.package] version`, the `version` of every internal dependency in
//!    `[workspace.dependencies]` and in any member manifest, then `cargo update --workspace
//!    --offline` for `Cargo.lock`.
//! 3. Turns `## Unreleased` in `CHANGELOG.md` into `## X.Y.Z (YYYY-MM-DD)` (today, UTC) under a
//!    fresh empty `## Unreleased`.
//! 4. Checks that every publishable crate has a description, a licence, a repository, a readme
//!    that exists and keywords.
//! 5. Runs `cargo semver-checks check-release --workspace` against the highest earlier tag
//!    `vA.B.C`, if there is one (`cargo-semver-checks` must then be installed; this never installs
//!    it).
//! 6. Runs `cargo publish --workspace --dry-run --allow-dirty` (it needs the crates.io index).
//! 7. Names the tag `vX.Y.Z`.
//!
//! Checks 4 to 6 all run, and every failure is reported at the end.
//!
//! With `--dry-run` all of this happens in a temporary `git worktree` of `HEAD`, which is removed
//! afterwards; the task then verifies that `git status --porcelain` is what it was. Without it the
//! edits go to the real tree and, when every check passes, become the commit `release vX.Y.Z`
//! with the annotated tag `vX.Y.Z`; when a check fails the edited files are put back. Nothing is
//! pushed or published.
//!
//! Builds go to `target/release-check` (under `CARGO_TARGET_DIR` if set), shared by dry and real
//! runs, so that a second run reuses the first one's dependencies and stays out of the way of the
//! ordinary `target/debug`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::{run_cmd, util};

/// How the task is called.
const USAGE: &str = "usage: cargo xtask release X.Y.Z [--dry-run]";

/// The dependency tables of a manifest, at its top level or under `[target.'cfg'.…]`.
const DEPENDENCY_TABLES: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];

/// Runs `cargo xtask release`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Args { version, dry_run } = parse_args(args)?;
    let root = util::root();

    // 1. The version, then the tree.
    let current = workspace_version(&read(&root.join("Cargo.toml"))?)?;
    let tags = release_tags(&root)?;
    check_next(current, version, &tags)?;
    let status = git_status(&root)?;
    if !status.is_empty() {
        return Err(format!(
            "the working tree is not clean; commit or stash these first:\n{status}"
        ));
    }
    // The changelog's refusals, before any edit.
    rewrite_changelog(&read(&root.join("CHANGELOG.md"))?, version, "")?;
    let previous = tags.iter().copied().filter(|t| *t < version).max();
    if previous.is_some() && !semver_checks_installed(&root) {
        return Err(
            "`cargo semver-checks` is not installed; it compares the release with the \
             previous tag. Install it with `cargo install cargo-semver-checks --locked`"
                .into(),
        );
    }
    let release = Release {
        current,
        version,
        previous,
        date: today_utc()?,
        target_dir: target_dir(&root),
    };
    util::say(&format!(
        "release {version} (workspace version {current}, previous tag {}, date {}){}",
        previous.map_or_else(|| "none".to_owned(), |p| format!("v{p}")),
        release.date,
        if dry_run { ", dry run" } else { "" },
    ));

    if dry_run {
        dry_run_release(&root, &release, &status)
    } else {
        real_release(&root, &release)
    }
}

/// The dry run: everything in a temporary worktree, then a check that the tree is untouched.
fn dry_run_release(root: &Path, release: &Release, status_before: &str) -> Result<(), String> {
    let worktree = Worktree::add(root)?;
    let outcome = release
        .prepare(worktree.path())
        .and_then(|()| release.check(worktree.path()));
    drop(worktree);

    let status_after = git_status(root)?;
    if status_after != status_before {
        return Err(format!(
            "the dry run changed the tree! `git status --porcelain` before:\n{status_before}\n\
             after:\n{status_after}"
        ));
    }
    util::say(&format!(
        "release: the worktree is removed and the tree is as it was (`git status --porcelain` \
         unchanged: {})",
        if status_after.is_empty() {
            "clean"
        } else {
            "not clean"
        }
    ));
    outcome?;
    util::say(&format!(
        "release: dry run of {v} passed; `cargo xtask release {v}` would commit `release v{v}` \
         and create the tag v{v}",
        v = release.version
    ));
    Ok(())
}

/// The real run: edits, checks, and on success a commit and an annotated tag.
fn real_release(root: &Path, release: &Release) -> Result<(), String> {
    let originals = Originals::save(root)?;
    if let Err(e) = release.prepare(root).and_then(|()| release.check(root)) {
        originals.restore()?;
        return Err(format!("{e}\n(the files the release edited are put back)"));
    }
    let v = release.version;
    run_cmd(Command::new("git").current_dir(root).args([
        "commit",
        "-q",
        "-am",
        &format!("release v{v}"),
    ]))?;
    run_cmd(Command::new("git").current_dir(root).args([
        "tag",
        "-a",
        &format!("v{v}"),
        "-m",
        &format!("reimage {v}"),
    ]))?;
    util::say(&format!(
        "release: committed `release v{v}` and tagged v{v}, locally; nothing is pushed.\n\
         next:\n  git push origin HEAD v{v}\n  cargo publish --workspace"
    ));
    Ok(())
}

/// The arguments.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    /// The version to release.
    version: Version,
    /// `--dry-run`.
    dry_run: bool,
}

/// Parses `X.Y.Z [--dry-run]`, in any order.
fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut version = None;
    let mut dry_run = false;
    for arg in args {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag:?}\n{USAGE}"));
            }
            text if version.is_none() => {
                version = Some(Version::parse(text).map_err(|e| format!("{e}\n{USAGE}"))?);
            }
            extra => return Err(format!("unexpected argument {extra:?}\n{USAGE}")),
        }
    }
    let version = version.ok_or_else(|| format!("which version?\n{USAGE}"))?;
    Ok(Args { version, dry_run })
}

/// A release version: `MAJOR.MINOR.PATCH`, nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    /// Major.
    major: u64,
    /// Minor.
    minor: u64,
    /// Patch.
    patch: u64,
}

impl Version {
    /// Parses `X.Y.Z`: three decimal numbers without leading zeros, no `v`, no suffix.
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix('v') {
            return Err(format!(
                "{text:?}: write the version without the leading `v` ({rest:?})"
            ));
        }
        if text.contains(['-', '+']) {
            return Err(format!(
                "{text:?} has a pre-release or build suffix; releases are plain X.Y.Z versions"
            ));
        }
        let not_a_version = || format!("{text:?} is not a version X.Y.Z");
        let parts: Vec<&str> = text.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(not_a_version());
        };
        let number = |part: &str| -> Result<u64, String> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_version());
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(format!(
                    "{text:?}: the numbers of a version have no leading zeros"
                ));
            }
            part.parse().map_err(|_| not_a_version())
        };
        Ok(Self {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
        })
    }

    /// The patch, minor and major bumps.
    fn bumps(self) -> [Self; 3] {
        let Self {
            major,
            minor,
            patch,
        } = self;
        [
            Self {
                major,
                minor,
                patch: patch + 1,
            },
            Self {
                major,
                minor: minor + 1,
                patch: 0,
            },
            Self {
                major: major + 1,
                minor: 0,
                patch: 0,
            },
        ]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Whether `next` may follow `current`, given the released versions (`tags`).
fn check_next(current: Version, next: Version, tags: &[Version]) -> Result<(), String> {
    if tags.contains(&next) {
        return Err(format!(
            "the tag v{next} exists already: {next} is released"
        ));
    }
    let first_release = !tags.contains(&current);
    if (first_release && next == current) || current.bumps().contains(&next) {
        return Ok(());
    }
    let [patch, minor, major] = current.bumps();
    let mut expected = Vec::new();
    if first_release {
        expected.push(format!(
            "{current} (its first release: no tag v{current} yet)"
        ));
    }
    expected.extend([patch, minor, major].map(|v| v.to_string()));
    Err(format!(
        "{next} is not the next version after the workspace's {current}: expected one of {}",
        expected.join(", ")
    ))
}

/// `[workspace.package] version` of the root manifest.
fn workspace_version(manifest: &str) -> Result<Version, String> {
    let doc: DocumentMut = manifest
        .parse()
        .map_err(|e| format!("Cargo.toml does not parse: {e}"))?;
    let text = doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .ok_or("Cargo.toml has no `[workspace.package] version`")?;
    Version::parse(text).map_err(|e| format!("`[workspace.package] version`: {e}"))
}

/// The versions of the tags `vX.Y.Z` (other tags are ignored).
fn release_tags(root: &Path) -> Result<Vec<Version>, String> {
    let out = git_output(root, &["tag", "--list", "v*.*.*"])?;
    Ok(out
        .lines()
        .filter_map(|t| t.trim().strip_prefix('v'))
        .filter_map(|t| Version::parse(t).ok())
        .collect())
}

/// One release in the making.
struct Release {
    /// The workspace version before.
    current: Version,
    /// The version to release.
    version: Version,
    /// The highest tagged version below `version`.
    previous: Option<Version>,
    /// Today, `YYYY-MM-DD`.
    date: String,
    /// `CARGO_TARGET_DIR` for the checks.
    target_dir: PathBuf,
}

impl Release {
    /// Edits the tree at `dir`: the manifests, `Cargo.lock` and `CHANGELOG.md`.
    fn prepare(&self, dir: &Path) -> Result<(), String> {
        let members = members(dir, &self.target_dir)?;
        let internal: BTreeSet<String> = members.iter().map(|(name, _)| name.clone()).collect();
        let manifests = std::iter::once(dir.join("Cargo.toml"))
            .chain(members.into_iter().map(|(_, manifest)| manifest));
        let mut changes = Vec::new();
        for path in manifests {
            let text = read(&path)?;
            let (bumped, edits) = bump_manifest(&text, self.current, self.version, &internal)
                .map_err(|e| format!("{}: {e}", rel(dir, &path)))?;
            if bumped != text {
                write(&path, &bumped)?;
            }
            changes.extend(
                edits
                    .into_iter()
                    .map(|e| format!("{}: {e}", rel(dir, &path))),
            );
        }
        if changes.is_empty() {
            util::say(&format!(
                "release: the manifests already say {}; nothing to bump",
                self.version
            ));
        } else {
            util::say(&format!("release: bumped\n  {}", changes.join("\n  ")));
        }
        run_cmd(
            util::cargo()
                .current_dir(dir)
                .env("CARGO_TARGET_DIR", &self.target_dir)
                .args(["update", "--workspace", "--offline"]),
        )?;

        let changelog = dir.join("CHANGELOG.md");
        let text = read(&changelog)?;
        write(
            &changelog,
            &rewrite_changelog(&text, self.version, &self.date)?,
        )?;
        util::say(&format!(
            "release: CHANGELOG.md: `## Unreleased` is now `## {} ({})`, under a fresh \
             `## Unreleased`",
            self.version, self.date
        ));
        Ok(())
    }

    /// Runs checks 4 to 6 in `dir`; fails naming every check that failed.
    fn check(&self, dir: &Path) -> Result<(), String> {
        let mut failed = Vec::new();

        let problems = cargo_metadata(dir, &self.target_dir)
            .map(|meta| missing_metadata(&meta))
            .unwrap_or_else(|e| vec![e]);
        if problems.is_empty() {
            util::say("release: every publishable crate has its metadata");
        } else {
            let report = format!("crate metadata for crates.io:\n  {}", problems.join("\n  "));
            util::say(&format!("release: FAILED {report}"));
            failed.push(report);
        }

        match self.previous {
            None => util::say(&format!(
                "release: semver: no tag vA.B.C below v{}, so nothing to compare with; skipped",
                self.version
            )),
            Some(previous) => {
                if let Err(e) = run_cmd(
                    util::cargo()
                        .current_dir(dir)
                        .env("CARGO_TARGET_DIR", &self.target_dir)
                        .args(["semver-checks", "check-release", "--workspace"])
                        .args(["--baseline-rev", &format!("v{previous}")]),
                ) {
                    failed.push(format!("semver against v{previous}: {e}"));
                }
            }
        }

        if let Err(e) = run_cmd(
            util::cargo()
                .current_dir(dir)
                .env("CARGO_TARGET_DIR", &self.target_dir)
                .args(["publish", "--workspace", "--dry-run", "--allow-dirty"]),
        ) {
            failed.push(format!("publish dry run: {e} (cargo's report is above)"));
        }

        if failed.is_empty() {
            util::say(&format!(
                "release: every check passed; the tag to create is v{}",
                self.version
            ));
            Ok(())
        } else {
            Err(format!(
                "release {} is not ready:\n- {}",
                self.version,
                failed.join("\n- ")
            ))
        }
    }
}

/// Bumps one manifest from `from` to `to`: `[workspace.package] version`, `[package] version`
/// when it is the literal `from`, and the `version` of every dependency on an `internal` crate in
/// `[workspace.dependencies]` and the (target) dependency tables. Gives the new text and a line
/// per edit.
fn bump_manifest(
    text: &str,
    from: Version,
    to: Version,
    internal: &BTreeSet<String>,
) -> Result<(String, Vec<String>), String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("does not parse: {e}"))?;
    let mut edits = Vec::new();
    let to_text = to.to_string();

    if let Some(workspace) = doc.get_mut("workspace").and_then(Item::as_table_like_mut) {
        if let Some(package) = workspace
            .get_mut("package")
            .and_then(Item::as_table_like_mut)
        {
            set_version(package, "workspace.package.version", &to_text, &mut edits);
        }
        if let Some(deps) = workspace
            .get_mut("dependencies")
            .and_then(Item::as_table_like_mut)
        {
            bump_dependencies(
                deps,
                "workspace.dependencies",
                internal,
                &to_text,
                &mut edits,
            );
        }
    }
    if let Some(package) = doc.get_mut("package").and_then(Item::as_table_like_mut)
        && package.get("version").and_then(Item::as_str) == Some(from.to_string().as_str())
    {
        set_version(package, "package.version", &to_text, &mut edits);
    }
    for table in DEPENDENCY_TABLES {
        if let Some(deps) = doc.get_mut(table).and_then(Item::as_table_like_mut) {
            bump_dependencies(deps, table, internal, &to_text, &mut edits);
        }
    }
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for (cfg, target) in targets.iter_mut() {
            let Some(target) = target.as_table_like_mut() else {
                continue;
            };
            for table in DEPENDENCY_TABLES {
                if let Some(deps) = target.get_mut(table).and_then(Item::as_table_like_mut) {
                    let place = format!("target.{}.{table}", cfg.get());
                    bump_dependencies(deps, &place, internal, &to_text, &mut edits);
                }
            }
        }
    }
    Ok((doc.to_string(), edits))
}

/// Sets `version` in every entry of `deps` that names an internal crate (by its key, or by
/// `package` when renamed) and carries a `version`.
fn bump_dependencies(
    deps: &mut dyn TableLike,
    place: &str,
    internal: &BTreeSet<String>,
    to: &str,
    edits: &mut Vec<String>,
) {
    for (key, dep) in deps.iter_mut() {
        let Some(dep) = dep.as_table_like_mut() else {
            continue;
        };
        let name = dep
            .get("package")
            .and_then(Item::as_str)
            .unwrap_or(key.get())
            .to_owned();
        if internal.contains(&name) {
            set_version(dep, &format!("{place}.{}.version", key.get()), to, edits);
        }
    }
}

/// Sets the string `version` of `table` to `to`, keeping its decoration, if it is there and
/// differs; notes the edit as `place: old -> to`.
fn set_version(table: &mut dyn TableLike, place: &str, to: &str, edits: &mut Vec<String>) {
    let Some(value) = table.get_mut("version").and_then(Item::as_value_mut) else {
        return;
    };
    let Some(old) = value.as_str().map(str::to_owned) else {
        return;
    };
    if old == to {
        return;
    }
    let decor = value.decor().clone();
    *value = to.into();
    *value.decor_mut() = decor;
    edits.push(format!("{place} {old} -> {to}"));
}

/// Turns the `## Unreleased` section of a changelog into `## VERSION (DATE)` under a fresh empty
/// `## Unreleased`. Refuses a changelog without that section, with an empty one, or with a
/// section for `version` already.
fn rewrite_changelog(text: &str, version: Version, date: &str) -> Result<String, String> {
    let heading = format!("## {version}");
    if text.lines().any(|l| {
        l.strip_prefix(&heading)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    }) {
        return Err(format!("CHANGELOG.md has a `{heading}` section already"));
    }
    let mut offset = 0;
    let mut unreleased = None;
    let mut body_has_text = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if unreleased.is_some() {
            if trimmed.starts_with("## ") {
                break;
            }
            body_has_text |= !trimmed.trim().is_empty();
        } else if trimmed == "## Unreleased" {
            unreleased = Some((offset, offset + trimmed.len()));
        }
        offset += line.len();
    }
    let Some((start, end)) = unreleased else {
        return Err("CHANGELOG.md has no `## Unreleased` section".into());
    };
    if !body_has_text {
        return Err(
            "the `## Unreleased` section of CHANGELOG.md is empty: write down what changed first"
                .into(),
        );
    }
    Ok(format!(
        "{}## Unreleased\n\n{heading} ({date}){}",
        &text[..start],
        &text[end..]
    ))
}

/// The publishable workspace members' missing crates.io metadata, one line per crate.
fn missing_metadata(meta: &Value) -> Vec<String> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut problems = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let id = package["id"].as_str().unwrap_or_default();
        // `publish = false` is `"publish": []`; absent is `null`.
        let unpublished = package["publish"].as_array().is_some_and(Vec::is_empty);
        if !members.contains(id) || unpublished {
            continue;
        }
        let name = package["name"].as_str().unwrap_or(id);
        let text = |field: &str| {
            package[field]
                .as_str()
                .is_some_and(|s| !s.trim().is_empty())
        };
        let mut missing = Vec::new();
        if !text("description") {
            missing.push("description".to_owned());
        }
        if !text("license") && !text("license_file") {
            missing.push("license".to_owned());
        }
        if !text("repository") {
            missing.push("repository".to_owned());
        }
        match package["readme"].as_str() {
            None => missing.push("readme".to_owned()),
            Some(readme) => {
                let dir = package["manifest_path"]
                    .as_str()
                    .map(Path::new)
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("."));
                if !dir.join(readme).is_file() {
                    missing.push(format!("readme ({readme} does not exist)"));
                }
            }
        }
        if package["keywords"].as_array().is_none_or(|k| k.is_empty()) {
            missing.push("keywords".to_owned());
        }
        if !missing.is_empty() {
            problems.push(format!("{name}: missing {}", missing.join(", ")));
        }
    }
    problems
}

/// `cargo metadata --no-deps` of the workspace at `dir`.
fn cargo_metadata(dir: &Path, target_dir: &Path) -> Result<Value, String> {
    let out = util::cargo()
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// The workspace members at `dir`: name and manifest.
fn members(dir: &Path, target_dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let meta = cargo_metadata(dir, target_dir)?;
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    Ok(meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                PathBuf::from(p["manifest_path"].as_str()?),
            ))
        })
        .collect())
}

/// Whether `cargo semver-checks` runs.
fn semver_checks_installed(root: &Path) -> bool {
    util::cargo()
        .current_dir(root)
        .args(["semver-checks", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Where the checks build: `target/release-check`, under `CARGO_TARGET_DIR` if set.
fn target_dir(root: &Path) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| root.join("target"), |d| root.join(d));
    base.join("release-check")
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today_utc() -> Result<String, String> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?
        .as_secs();
    let days = i64::try_from(seconds / 86_400).map_err(|e| format!("the clock: {e}"))?;
    let (year, month, day) = civil_from_days(days);
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A detached `git worktree` of `HEAD` in the temporary directory, removed when dropped.
struct Worktree {
    /// The repository.
    repo: PathBuf,
    /// The worktree.
    path: PathBuf,
}

impl Worktree {
    /// `git worktree add --detach` of `HEAD` at `reimage-release-<pid>` in the temporary directory.
    fn add(repo: &Path) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("reimage-release-{}", std::process::id()));
        if path.exists() {
            let _ = std::fs::remove_dir_all(&path);
            git_output(repo, &["worktree", "prune"])?;
        }
        run_cmd(
            Command::new("git")
                .current_dir(repo)
                .args(["worktree", "add", "--quiet", "--detach"])
                .arg(&path)
                .arg("HEAD"),
        )?;
        Ok(Self {
            repo: repo.to_path_buf(),
            path,
        })
    }

    /// The worktree's directory.
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let removed = Command::new("git")
            .current_dir(&self.repo)
            .args(["worktree", "remove", "--force"])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !removed {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = git_output(&self.repo, &["worktree", "prune"]);
        }
        util::say(&format!(
            "release: removed the worktree {}",
            self.path.display()
        ));
    }
}

/// The files a real release may edit, as they were, to put back when a check fails.
struct Originals(Vec<(PathBuf, Vec<u8>)>);

impl Originals {
    /// Reads the tracked `Cargo.toml`s, `Cargo.lock` and `CHANGELOG.md` under `root`.
    fn save(root: &Path) -> Result<Self, String> {
        let listed = git_output(
            root,
            &[
                "ls-files",
                "--",
                "Cargo.lock",
                "CHANGELOG.md",
                "Cargo.toml",
                "*/Cargo.toml",
            ],
        )?;
        let mut files = Vec::new();
        for file in listed.lines().filter(|l| !l.is_empty()) {
            let path = root.join(file);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("could not read {}: {e}", path.display()))?;
            files.push((path, bytes));
        }
        Ok(Self(files))
    }

    /// Writes every file back.
    fn restore(&self) -> Result<(), String> {
        for (path, bytes) in &self.0 {
            std::fs::write(path, bytes)
                .map_err(|e| format!("could not restore {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// `git status --porcelain` at `root`, trimmed.
fn git_status(root: &Path) -> Result<String, String> {
    Ok(git_output(root, &["status", "--porcelain"])?
        .trim_end()
        .to_owned())
}

/// The output of `git ARGS` at `dir`; fails with its stderr.
fn git_output(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("git {}: {e}", args.join(" ")))
}

/// Reads a file.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("could not read {}: {e}", path.display()))
}

/// Writes a file.
fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// `path` relative to `dir`, for messages.
fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            v("0.1.0"),
            Version {
                major: 0,
                minor: 1,
                patch: 0
            }
        );
        assert_eq!(v("12.0.345").to_string(), "12.0.345");
        for bad in [
            "", "1", "1.2", "1.2.3.4", "a.b.c", "1..3", "1.2.x", " 1.2.3", "1.2.3 ",
        ] {
            let e = Version::parse(bad).unwrap_err();
            assert!(e.contains("is not a version X.Y.Z"), "{bad:?}: {e}");
        }
        let e = Version::parse("1.2.3-rc.1").unwrap_err();
        assert!(e.contains("pre-release or build suffix"), "{e}");
        let e = Version::parse("1.2.3+build.5").unwrap_err();
        assert!(e.contains("pre-release or build suffix"), "{e}");
        let e = Version::parse("v1.2.3").unwrap_err();
        assert!(e.contains("without the leading `v`"), "{e}");
        let e = Version::parse("1.02.3").unwrap_err();
        assert!(e.contains("no leading zeros"), "{e}");
        let e = Version::parse("1.2.99999999999999999999").unwrap_err();
        assert!(e.contains("is not a version"), "{e}");
        assert!(v("0.10.0") > v("0.9.9"));
        assert!(v("1.0.0") > v("0.99.99"));
    }

    #[test]
    fn next_versions() {
        let current = v("0.1.0");
        // Untagged: the current version itself, or one bump.
        for ok in ["0.1.0", "0.1.1", "0.2.0", "1.0.0"] {
            assert_eq!(check_next(current, v(ok), &[]), Ok(()), "{ok}");
        }
        for bad in [
            "0.1.2", "0.2.1", "0.3.0", "1.0.1", "1.1.0", "2.0.0", "0.0.9", "9.9.9",
        ] {
            let e = check_next(current, v(bad), &[]).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "{bad} is not the next version after the workspace's 0.1.0: expected one of \
                     0.1.0 (its first release: no tag v0.1.0 yet), 0.1.1, 0.2.0, 1.0.0"
                )
            );
        }
        // Tagged: only the bumps.
        let tags = [v("0.1.0")];
        for ok in ["0.1.1", "0.2.0", "1.0.0"] {
            assert_eq!(check_next(current, v(ok), &tags), Ok(()), "{ok}");
        }
        assert_eq!(
            check_next(current, v("0.1.0"), &tags),
            Err("the tag v0.1.0 exists already: 0.1.0 is released".into())
        );
        assert_eq!(
            check_next(current, v("0.3.0"), &tags),
            Err(
                "0.3.0 is not the next version after the workspace's 0.1.0: expected one of \
                 0.1.1, 0.2.0, 1.0.0"
                    .into()
            )
        );
        // Lower parts are zeroed.
        let tags = [v("1.2.3")];
        assert_eq!(check_next(v("1.2.3"), v("1.3.0"), &tags), Ok(()));
        assert_eq!(check_next(v("1.2.3"), v("2.0.0"), &tags), Ok(()));
        assert!(check_next(v("1.2.3"), v("1.3.3"), &tags).is_err());
        assert!(check_next(v("1.2.3"), v("2.2.3"), &tags).is_err());
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            args(&["0.2.0", "--dry-run"]),
            Ok(Args {
                version: v("0.2.0"),
                dry_run: true
            })
        );
        assert_eq!(
            args(&["--dry-run", "0.2.0"]),
            Ok(Args {
                version: v("0.2.0"),
                dry_run: true
            })
        );
        assert_eq!(
            args(&["0.2.0"]),
            Ok(Args {
                version: v("0.2.0"),
                dry_run: false
            })
        );
        for bad in [
            &[][..],
            &["abc"],
            &["0.2.0", "0.3.0"],
            &["0.2.0", "--force"],
            &["--help"],
        ] {
            let e = args(bad).unwrap_err();
            assert!(e.ends_with(USAGE), "{bad:?}: {e}");
        }
    }

    #[test]
    fn workspace_version_is_read() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.3.1\"\n";
        assert_eq!(workspace_version(manifest), Ok(v("0.3.1")));
        assert!(workspace_version("[workspace]\n").is_err());
    }

    const ROOT_MANIFEST: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0" # the one version of the workspace
edition = "2024"

[workspace.dependencies]
# Internal crates: always with a version, so they can be published.
reimage-core = { path = "crates/core", version = "0.1.0" }
reimage-auth = {path="crates/auth",version="0.1.0"}   # tight
renamed = { package = "reimage-wire", path = "crates/wire", version = "0.1.0" }

# External crates.
serde = { version = "0.1.0", default-features = false }
other-local = { path = "../elsewhere", version = "0.1.0" }
"#;

    #[test]
    fn root_manifest_is_bumped_keeping_its_formatting() {
        let internal: BTreeSet<String> = ["reimage-core", "reimage-auth", "reimage-wire"]
            .map(String::from)
            .into();
        let (text, edits) =
            bump_manifest(ROOT_MANIFEST, v("0.1.0"), v("0.2.0"), &internal).unwrap();
        assert_eq!(
            text,
            r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.2.0" # the one version of the workspace
edition = "2024"

[workspace.dependencies]
# Internal crates: always with a version, so they can be published.
reimage-core = { path = "crates/core", version = "0.2.0" }
reimage-auth = {path="crates/auth",version="0.2.0"}   # tight
renamed = { package = "reimage-wire", path = "crates/wire", version = "0.2.0" }

# External crates.
serde = { version = "0.1.0", default-features = false }
other-local = { path = "../elsewhere", version = "0.1.0" }
"#
        );
        assert_eq!(
            edits,
            [
                "workspace.package.version 0.1.0 -> 0.2.0",
                "workspace.dependencies.reimage-core.version 0.1.0 -> 0.2.0",
                "workspace.dependencies.reimage-auth.version 0.1.0 -> 0.2.0",
                "workspace.dependencies.renamed.version 0.1.0 -> 0.2.0",
            ]
        );
        // Bumping to the same version changes nothing.
        let (same, edits) =
            bump_manifest(ROOT_MANIFEST, v("0.1.0"), v("0.1.0"), &internal).unwrap();
        assert_eq!(same, ROOT_MANIFEST);
        assert!(edits.is_empty());
    }

    #[test]
    fn member_manifest_pins_are_bumped() {
        let member = r#"[package]
name = "reimage-cli"
version.workspace = true

[dependencies]
reimage-core.workspace = true
reimage-auth = { path = "../auth", version = "=1.4.2" }
serde.workspace = true

[dev-dependencies.reimage-wire]
path = "../wire"
version = "1.4.2" # pinned

[target.'cfg(unix)'.dependencies]
reimage-emulator = { path = "../emulator", version = "1.4.2", optional = true }
"#;
        let internal: BTreeSet<String> = [
            "reimage-core",
            "reimage-auth",
            "reimage-wire",
            "reimage-emulator",
        ]
        .map(String::from)
        .into();
        let (text, edits) = bump_manifest(member, v("1.4.2"), v("1.5.0"), &internal).unwrap();
        assert_eq!(
            text,
            r#"[package]
name = "reimage-cli"
version.workspace = true

[dependencies]
reimage-core.workspace = true
reimage-auth = { path = "../auth", version = "1.5.0" }
serde.workspace = true

[dev-dependencies.reimage-wire]
path = "../wire"
version = "1.5.0" # pinned

[target.'cfg(unix)'.dependencies]
reimage-emulator = { path = "../emulator", version = "1.5.0", optional = true }
"#
        );
        assert_eq!(edits.len(), 3, "{edits:?}");

        // A literal `[package] version` in step with the workspace moves with it.
        let literal = "[package]\nname = \"x\"\nversion = \"1.4.2\"\n";
        let (text, _) = bump_manifest(literal, v("1.4.2"), v("1.4.3"), &internal).unwrap();
        assert_eq!(text, "[package]\nname = \"x\"\nversion = \"1.4.3\"\n");
        // One of its own does not.
        let own = "[package]\nname = \"x\"\nversion = \"7.0.0\"\n";
        let (text, _) = bump_manifest(own, v("1.4.2"), v("1.4.3"), &internal).unwrap();
        assert_eq!(text, own);
    }

    const CHANGELOG: &str = "# Changelog

Notes.

## Unreleased

### Added
- A thing.

## 0.1.0 (2025-01-02)

- The first.
";

    #[test]
    fn changelog_gets_a_dated_section() {
        assert_eq!(
            rewrite_changelog(CHANGELOG, v("0.2.0"), "2026-04-15").unwrap(),
            "# Changelog

Notes.

## Unreleased

## 0.2.0 (2026-04-15)

### Added
- A thing.

## 0.1.0 (2025-01-02)

- The first.
"
        );
        // The section may be the last one, without a trailing newline.
        assert_eq!(
            rewrite_changelog("## Unreleased\n- x", v("1.0.0"), "2030-12-31").unwrap(),
            "## Unreleased\n\n## 1.0.0 (2030-12-31)\n- x"
        );
    }

    #[test]
    fn changelog_refusals() {
        assert_eq!(
            rewrite_changelog("# Changelog\n\n## 0.1.0\n- x\n", v("0.2.0"), "d"),
            Err("CHANGELOG.md has no `## Unreleased` section".into())
        );
        let empty = "## Unreleased\n\n   \n## 0.1.0 (2025-01-02)\n- x\n";
        assert_eq!(
            rewrite_changelog(empty, v("0.2.0"), "d"),
            Err(
                "the `## Unreleased` section of CHANGELOG.md is empty: write down what changed \
                 first"
                    .into()
            )
        );
        assert_eq!(
            rewrite_changelog("## Unreleased\n", v("0.2.0"), "d"),
            rewrite_changelog(empty, v("0.2.0"), "d")
        );
        assert_eq!(
            rewrite_changelog(CHANGELOG, v("0.1.0"), "d"),
            Err("CHANGELOG.md has a `## 0.1.0` section already".into())
        );
        // `## 0.1.0` is not a section for 0.1.
        assert!(rewrite_changelog(CHANGELOG, v("0.1.1"), "d").is_ok());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_558), (2026, 4, 15));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        // Day by day over four centuries: consecutive, valid dates.
        let mut previous = civil_from_days(-1);
        for days in 0..146_097 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1);
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} then {y}-{m}-{d}"
            );
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            previous = (y, m, d);
        }
        assert_eq!(previous, (2369, 12, 31));
        let today = today_utc().unwrap();
        assert_eq!(today.len(), 10, "{today}");
    }

    #[test]
    fn metadata_gaps_are_named() {
        let meta = serde_json::json!({
            "workspace_members": ["a-id", "b-id", "x-id"],
            "packages": [
                {
                    "id": "a-id", "name": "a", "publish": null,
                    "description": "A.", "license": "MIT", "repository": "https://example.org",
                    "readme": "Cargo.toml", "keywords": ["k"],
                    "manifest_path": concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
                },
                {
                    "id": "b-id", "name": "b", "publish": null,
                    "description": " ", "license": "MIT", "repository": null,
                    "readme": "NOPE.md", "keywords": [],
                    "manifest_path": concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
                },
                {
                    "id": "x-id", "name": "x", "publish": [],
                    "manifest_path": "/nowhere/Cargo.toml",
                },
            ],
        });
        assert_eq!(
            missing_metadata(&meta),
            ["b: missing description, repository, readme (NOPE.md does not exist), keywords"]
        );
    }
}
