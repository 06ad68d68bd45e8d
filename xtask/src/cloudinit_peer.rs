//! `cargo xtask cloud-init-peer`: asks real cloud-init 22.4.2 and 26.2 for their verdicts on the corpus.
//!
//! Sets up the peer under `target/cloud-init-peer/`, skipping every step already done:
//!
//! 1. `debs/`: Debian's `cloud-init` package, from `apt-get download cloud-init` (with an
//!    `apt-get update` first when the package lists are missing); its version must be 22.4.2;
//! 2. `root/`: the package unpacked with `dpkg-deb -x` (into `root.partial/`, renamed when done);
//! 3. `venv/`: a venv with cloud-init's Python dependencies at pinned versions.
//!
//! Then it runs `xtask/scripts/cloudinit_peer.py` with the package on `PYTHONPATH` and `HOME` in
//! a temporary directory, over every file of `tests/cloud-init/corpus/` (named in a list file,
//! run from the corpus directory so that names stay relative), and writes
//! `tests/cloud-init/verdicts-22.4.2.json`, which is committed: the differential test in
//! `crates/cloudinit/tests/differential.rs` reads it, so that test needs no peer. With `--check`
//! the verdicts go to a temporary file and the task fails when the committed ones differ;
//! `cargo xtask ci` runs that check, so CI fails when the peer cannot be set up or the committed
//! verdicts are stale. `--refresh` removes `target/cloud-init-peer/` first. The same script
//! judges cloud-init's own `doc/examples`, which the package installs under
//! `usr/share/doc/cloud-init/examples/`, into `tests/cloud-init/verdicts-examples-22.4.2.json`
//! (the examples themselves are cloud-init's and are not committed).
//!
//! Then cloud-init 26.2 judges too. Its Python package is not packaged anywhere this task could
//! download it from: it is read from `../shared/peers/cloud-init-26.2/` beside the workspace
//! (see README's *Developing* section), and its dependencies go into a venv of their own under
//! `target/cloud-init-peer-26.2/` (pinned; the 22.4.2 pins are too old for it). Each of
//! `JUDGES_26_2` is a script run from the workspace root with the package on `PYTHONPATH`,
//! `HOME` in a temporary directory, the path to write as its first argument and the listed
//! arguments after it (the multipart judge also takes the examples folder); its output is
//! committed and checked like the 22.4.2 verdicts. `--refresh` removes that venv too.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run_cmd, util};

/// The cloud-init release the verdicts come from; the script checks it too.
const CLOUD_INIT_VERSION: &str = "22.4.2";
/// The driver, relative to the workspace root.
const SCRIPT: &str = "xtask/scripts/cloudinit_peer.py";
/// The corpus, relative to the workspace root.
const CORPUS: &str = "tests/cloud-init/corpus";
/// The verdicts, relative to the workspace root.
const OUTPUT: &str = "tests/cloud-init/verdicts-22.4.2.json";
/// The peer, relative to the workspace root.
const PEER: &str = "target/cloud-init-peer";
/// Where the package's Python modules are, inside the unpacked package.
const DIST_PACKAGES: &str = "usr/lib/python3/dist-packages";

/// cloud-init's Python dependencies, with theirs, pinned. PyYAML and jsonschema decide the
/// verdicts; the script checks those two. `fqdn`, `rfc3987` and `rfc3986-validator` are not
/// installed, so jsonschema checks the schema's `date` format but not `hostname` nor `uri`.
const PINS: &[&str] = &[
    "PyYAML==6.0.1",
    "jsonschema==4.10.3",
    "attrs==26.1.0",
    "pyrsistent==0.20.0",
    "requests==2.34.2",
    "certifi==2026.10.18",
    "charset-normalizer==3.5.2",
    "idna==3.20",
    "urllib3==2.8.0",
    "configobj==5.0.9",
    "jsonpatch==1.47",
    "jsonpointer==3.12",
];

/// cloud-init 26.2's Python package, relative to the workspace root.
const PACKAGE_26_2: &str = "../shared/peers/cloud-init-26.2";
/// The 26.2 peer's venv, relative to the workspace root.
const PEER_26_2: &str = "target/cloud-init-peer-26.2";

/// The judges that run on cloud-init 26.2: (script, the verdicts it writes), both relative to
/// the workspace root. Each script is run from the workspace root with the output path as its
/// first argument; the output is committed and `--check` fails when it is stale.
const JUDGES_26_2: &[(&str, &str, &[&str])] = &[
    // Every corpus file, as `cloud-init schema -c FILE`.
    (
        "xtask/scripts/cloudinit_peer_26_2.py",
        "tests/cloud-init/verdicts-26.2.json",
        &[],
    ),
    // The multipart corpus, split by cloud-init's own UserDataProcessor, each cloud-config part
    // judged alone; and cloud-init's `doc/examples` (from the 22.4.2 package the peer unpacks).
    (
        "xtask/scripts/cloudinit_peer_multipart.py",
        "tests/cloud-init/verdicts-multipart-26.2.json",
        &["--examples", EXAMPLES],
    ),
    // The Jinja corpus, as `cloud-init schema -c FILE -i instance-data.json`.
    (
        "xtask/scripts/cloudinit_peer_jinja.py",
        "tests/cloud-init/verdicts-jinja-26.2.json",
        &["tests/cloud-init/jinja"],
    ),
];

/// cloud-init's own `doc/examples`, as Debian's 22.4.2 package installs them (the 22.4.2 peer
/// unpacks it), relative to the workspace root; and 22.4.2's verdicts on them.
const EXAMPLES: &str = "target/cloud-init-peer/root/usr/share/doc/cloud-init/examples";
const EXAMPLES_OUTPUT: &str = "tests/cloud-init/verdicts-examples-22.4.2.json";

/// cloud-init 26.2's Python dependencies, with theirs, pinned. PyYAML and jsonschema decide the
/// verdicts; its judge script checks those two, and the package by its schema's SHA-256.
const PINS_26_2: &[&str] = &[
    "PyYAML==6.0.4",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "attrs==26.1.0",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "requests==2.34.2",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "idna==3.21",
    "urllib3==2.8.0",
    "configobj==5.0.9",
    "jsonpatch==1.48",
    "jsonpointer==3.12",
    "netifaces==0.11.0",
    "oauthlib==4.0.1",
    "typing_extensions==4.16.0",
];

/// Regenerates the verdicts of both peers, or with `--check` fails when any is stale.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut check = false;
    let mut refresh = false;
    for arg in args {
        match arg.as_str() {
            "--check" if !check => check = true,
            "--refresh" if !refresh => refresh = true,
            _ => {
                return Err(format!(
                    "`cargo xtask cloud-init-peer` takes --check and --refresh, got {args:?}"
                ));
            }
        }
    }
    let root = util::root();
    if refresh {
        for dir in [PEER, PEER_26_2] {
            let dir = root.join(dir);
            if dir.exists() {
                util::say(&format!("removing {}", dir.display()));
                fs::remove_dir_all(&dir)
                    .map_err(|e| format!("could not remove {}: {e}", dir.display()))?;
            }
        }
    }
    let mut stale = Vec::new();
    let corpus = root.join(CORPUS);
    if !settle(
        OUTPUT,
        &judge_22_4_2(&corpus, &corpus_files(&corpus)?)?,
        check,
    )? {
        stale.push(OUTPUT);
    }
    let examples = root.join(EXAMPLES);
    let fresh = judge_22_4_2(&examples, &example_files(&examples)?)?;
    if !settle(EXAMPLES_OUTPUT, &fresh, check)? {
        stale.push(EXAMPLES_OUTPUT);
    }
    let (python, package) = ensure_peer_26_2()?;
    for (script, output, extra) in JUDGES_26_2 {
        let fresh = judge_26_2(&python, &package, script, extra)?;
        if !settle(output, &fresh, check)? {
            stale.push(output);
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "stale or missing: {}: run `cargo xtask cloud-init-peer` and commit",
            stale.join(", ")
        ))
    }
}

/// Runs cloud-init 22.4.2 over the files `names` of `corpus` (from that folder, so the names in
/// the verdicts stay relative); gives the verdicts' bytes.
fn judge_22_4_2(corpus: &Path, names: &[String]) -> Result<Vec<u8>, String> {
    let root = util::root();
    let (python, dist_packages) = ensure_peer()?;
    let scratch = util::TempDir::new("cloud-init-peer")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;
    let list = scratch.path().join("files.txt");
    fs::write(&list, names.join("\n") + "\n")
        .map_err(|e| format!("could not write {}: {e}", list.display()))?;
    let fresh = scratch.path().join("verdicts.json");
    run_cmd(
        Command::new(&python)
            .arg(root.join(SCRIPT))
            .arg(&fresh)
            .arg("--files-from")
            .arg(&list)
            .current_dir(corpus)
            .env("HOME", &home)
            .env("PYTHONPATH", &dist_packages)
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUTF8", "1")
            .env("PYTHONNOUSERSITE", "1"),
    )?;
    fs::read(&fresh).map_err(|e| format!("could not read {}: {e}", fresh.display()))
}

/// Runs one 26.2 judge script from the workspace root; gives what it wrote.
fn judge_26_2(
    python: &Path,
    package: &Path,
    script: &str,
    extra: &[&str],
) -> Result<Vec<u8>, String> {
    let root = util::root();
    let scratch = util::TempDir::new("cloud-init-peer-26.2")?;
    let home = scratch.path().join("home");
    fs::create_dir_all(&home).map_err(|e| format!("could not create {}: {e}", home.display()))?;
    let fresh = scratch.path().join("verdicts.json");
    run_cmd(
        Command::new(python)
            .arg(root.join(script))
            .arg(&fresh)
            .args(extra)
            .current_dir(&root)
            .env("HOME", &home)
            .env("PYTHONPATH", package)
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUTF8", "1")
            .env("PYTHONNOUSERSITE", "1"),
    )?;
    fs::read(&fresh).map_err(|e| format!("could not read {}: {e}", fresh.display()))
}

/// Writes `fresh` to `output` (relative to the workspace root) unless it holds those bytes;
/// with `check`, writes nothing. Gives whether `output` was up to date.
fn settle(output: &str, fresh: &[u8], check: bool) -> Result<bool, String> {
    let path = util::root().join(output);
    if fs::read(&path).ok().as_deref() == Some(fresh) {
        util::say(&format!("{output} is up to date"));
        return Ok(true);
    }
    if check {
        util::say(&format!("{output} is stale or missing"));
        return Ok(false);
    }
    fs::write(&path, fresh).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    util::say(&format!("wrote {output}"));
    Ok(true)
}

/// Makes the 26.2 peer's venv under `target/cloud-init-peer-26.2/` unless it is there; gives
/// its python and the directory that holds cloud-init 26.2's `cloudinit` package.
pub(crate) fn ensure_peer_26_2() -> Result<(PathBuf, PathBuf), String> {
    let root = util::root();
    let package = root.join(PACKAGE_26_2);
    let failed = |message: String| {
        format!(
            "could not set up the cloud-init 26.2 peer under {PEER_26_2}: {message}\n\
             It needs cloud-init 26.2's Python package in {PACKAGE_26_2} (beside the \
             workspace), python3 with venv, and PyPI."
        )
    };
    if !package
        .join("cloudinit")
        .join("config")
        .join("schema.py")
        .is_file()
    {
        return Err(failed(format!(
            "{} holds no cloud-init package",
            package.display()
        )));
    }
    let python =
        util::ensure_venv(&root.join(PEER_26_2).join("venv"), PINS_26_2).map_err(failed)?;
    Ok((python, package))
}

/// Sets the peer up under `target/cloud-init-peer/` unless it is there (each step is skipped when
/// done): gives its python and the `dist-packages` that holds cloud-init.
pub(crate) fn ensure_peer() -> Result<(PathBuf, PathBuf), String> {
    let peer = util::root().join(PEER);
    let dist_packages = ensure_package(&peer).map_err(setup_failed)?;
    let python = util::ensure_venv(&peer.join("venv"), PINS).map_err(setup_failed)?;
    Ok((python, dist_packages))
}

/// Says what a failed setup means, so CI's log tells the reader what to do.
fn setup_failed(message: String) -> String {
    format!(
        "could not set up the cloud-init {CLOUD_INIT_VERSION} peer under {PEER}: {message}\n\
         It needs Debian 12's apt (run as root, with network access to the Debian mirror), \
         python3 with venv, and PyPI. `cargo xtask cloud-init-peer --refresh` starts over."
    )
}

/// Downloads and unpacks Debian's cloud-init unless that is done; gives its `dist-packages`.
fn ensure_package(peer: &Path) -> Result<PathBuf, String> {
    let unpacked = peer.join("root");
    let dist_packages = unpacked.join(DIST_PACKAGES);
    if dist_packages.join("cloudinit").join("version.py").exists() {
        check_unpacked_version(&dist_packages)?;
        return Ok(dist_packages);
    }
    let debs = peer.join("debs");
    fs::create_dir_all(&debs).map_err(|e| format!("could not create {}: {e}", debs.display()))?;
    let deb = match find_deb(&debs)? {
        Some(deb) => deb,
        None => {
            let download = || {
                run_cmd(
                    Command::new("apt-get")
                        .args(["download", "cloud-init"])
                        .current_dir(&debs),
                )
            };
            if let Err(first) = download() {
                util::say(&format!(
                    "{first}; running `apt-get update`, in case the package lists are missing"
                ));
                run_cmd(Command::new("apt-get").args(["update", "-q"]))?;
                download()?;
            }
            find_deb(&debs)?.ok_or_else(|| {
                format!(
                    "`apt-get download cloud-init` left no .deb in {}",
                    debs.display()
                )
            })?
        }
    };
    let version = deb_field(&deb, "Version")?;
    let upstream = version
        .rsplit_once(':')
        .map_or(version.as_str(), |(_, v)| v)
        .split('-')
        .next()
        .unwrap_or_default();
    if upstream != CLOUD_INIT_VERSION {
        return Err(format!(
            "{} is cloud-init {version}, not {CLOUD_INIT_VERSION} (Debian 12 \"bookworm\" ships \
             {CLOUD_INIT_VERSION}); remove it and run on Debian 12",
            deb.display()
        ));
    }

    let partial = peer.join("root.partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)
            .map_err(|e| format!("could not remove {}: {e}", partial.display()))?;
    }
    run_cmd(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
    if unpacked.exists() {
        fs::remove_dir_all(&unpacked)
            .map_err(|e| format!("could not remove {}: {e}", unpacked.display()))?;
    }
    fs::rename(&partial, &unpacked).map_err(|e| {
        format!(
            "could not rename {} to {}: {e}",
            partial.display(),
            unpacked.display()
        )
    })?;
    check_unpacked_version(&dist_packages)?;
    Ok(dist_packages)
}

/// The one `cloud-init_*.deb` in `dir`, if there is one.
fn find_deb(dir: &Path) -> Result<Option<PathBuf>, String> {
    let mut debs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("could not list {}: {e}", dir.display()))? {
        let path = entry
            .map_err(|e| format!("could not list {}: {e}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("cloud-init_") && name.ends_with(".deb") {
            debs.push(path);
        }
    }
    match debs.len() {
        0 => Ok(None),
        1 => Ok(debs.pop()),
        _ => Err(format!(
            "more than one cloud-init .deb in {}: remove all but one, or use --refresh",
            dir.display()
        )),
    }
}

/// One field of a package's control file, from `dpkg-deb -f`.
fn deb_field(deb: &Path, field: &str) -> Result<String, String> {
    let mut cmd = Command::new("dpkg-deb");
    cmd.arg("-f").arg(deb).arg(field);
    let out = cmd
        .output()
        .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed with {}: {}",
            util::describe(&cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Fails unless the unpacked package's `cloudinit/version.py` says 22.4.2.
fn check_unpacked_version(dist_packages: &Path) -> Result<(), String> {
    let file = dist_packages.join("cloudinit").join("version.py");
    let text =
        fs::read_to_string(&file).map_err(|e| format!("could not read {}: {e}", file.display()))?;
    let expected = format!("__VERSION__ = \"{CLOUD_INIT_VERSION}\"");
    if text.lines().any(|line| line.trim() == expected) {
        Ok(())
    } else {
        Err(format!(
            "{} is not cloud-init {CLOUD_INIT_VERSION}: use --refresh on Debian 12",
            file.display()
        ))
    }
}

/// The corpus files' names, sorted; the corpus is one flat directory.
/// The files of cloud-init's `doc/examples` folder (not its `seed/` folder), sorted.
fn example_files(examples: &Path) -> Result<Vec<String>, String> {
    let entries = fs::read_dir(examples)
        .map_err(|e| format!("could not list {}: {e}", examples.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("could not list {}: {e}", examples.display()))?;
        if entry.path().is_file()
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("{} holds no examples", examples.display()));
    }
    Ok(names)
}

fn corpus_files(corpus: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let entries =
        fs::read_dir(corpus).map_err(|e| format!("could not list {}: {e}", corpus.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("could not list {}: {e}", corpus.display()))?;
        let path = entry.path();
        if !path.is_file() {
            return Err(format!(
                "{} is not a file: the corpus is one flat directory of files",
                path.display()
            ));
        }
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| format!("corpus file name {name:?} is not UTF-8"))?;
        names.push(name);
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("{} holds no files", corpus.display()));
    }
    Ok(names)
}
