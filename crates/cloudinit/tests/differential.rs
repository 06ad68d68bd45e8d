//! Differential test: reimage's verdicts against real cloud-init 22.4.2's and 26.2's, on the
//! corpus.
//!
//! `tests/cloud-init/verdicts-22.4.2.json` and `verdicts-26.2.json` hold what `cloud-init schema
//! -c FILE` of each release says about every file of `tests/cloud-init/corpus/` (written by
//! `cargo xtask cloud-init-peer`, and committed, so this test needs no peer and always runs). For
//! every file cloud-init treats as cloud-config, reimage (with the same schema version) must
//! agree on valid or invalid and on the set of error paths, unless
//! `tests/cloud-init/known-differences.json` names the file under that release and says why.
//!
//! Paths are cloud-init's dotted paths. A YAML error is `format-l<line>.c<column>` in
//! cloud-init, so reimage's YAML errors are compared by that name, built from their line and
//! column; a root that is not a mapping, or a crash of cloud-init (26.2's on a file that is not
//! UTF-8 too), is the path `""`.

// Helpers outside `#[test]` functions panic on a broken tree too; that is what a test should do.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Code, Options, Severity};
use serde_json::Value;

/// The least number of files the corpus must have.
const MIN_CORPUS_FILES: usize = 150;

fn cloud_init_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every corpus file, by name, with its bytes.
fn corpus() -> BTreeMap<String, Vec<u8>> {
    let dir = cloud_init_dir().join("corpus");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("tests/cloud-init/corpus exists") {
        let path = entry.expect("list the corpus").path();
        assert!(path.is_file(), "{}: the corpus is flat", path.display());
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        files.insert(name, std::fs::read(&path).unwrap());
    }
    files
}

/// One verdict: valid or not, the set of error paths, and the deprecated paths.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    valid: bool,
    errors: BTreeSet<String>,
    deprecations: BTreeSet<String>,
}

/// One judge: a cloud-init release, the schema version reimage validates with to match it, and
/// the key of its entries in `known-differences.json`.
#[derive(Debug, Clone, Copy)]
struct Judge {
    release: &'static str,
    version: Version,
    known: &'static str,
    /// Whether the deprecated paths must agree too (else a difference is only printed).
    deprecations: bool,
}

/// Debian 12's cloud-init.
const CLOUD_INIT_22_4_2: Judge = Judge {
    release: "22.4.2",
    version: Version::V22_4,
    known: "files",
    deprecations: false,
};

/// Upstream cloud-init 26.2.
const CLOUD_INIT_26_2: Judge = Judge {
    release: "26.2",
    version: Version::V26_2,
    known: "files-26.2",
    deprecations: true,
};

/// What cloud-init 22.4.2 said, for every file: (compared, verdict).
fn cloud_init_verdicts() -> BTreeMap<String, (bool, Verdict)> {
    verdicts_of(CLOUD_INIT_22_4_2)
}

/// What `judge` said, for every file: (compared, verdict).
fn verdicts_of(judge: Judge) -> BTreeMap<String, (bool, Verdict)> {
    let file = format!("verdicts-{}.json", judge.release);
    let json = read_json(&cloud_init_dir().join(&file));
    assert_eq!(
        json["cloud_init"], judge.release,
        "{file}: verdicts from the wrong cloud-init"
    );
    let paths = |value: &Value| -> BTreeSet<String> {
        value
            .as_array()
            .expect("a list of [path, message] pairs")
            .iter()
            .map(|pair| pair[0].as_str().expect("a path").to_owned())
            .collect()
    };
    json["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(name, entry)| {
            let verdict = Verdict {
                valid: entry["valid"].as_bool().expect("valid"),
                errors: paths(&entry["errors"]),
                deprecations: paths(&entry["deprecations"]),
            };
            let compared = entry["compared"].as_bool().expect("compared");
            (name.clone(), (compared, verdict))
        })
        .collect()
}

/// The files reimage may disagree with `judge` on, each with the reason.
fn known_differences_of(judge: Judge) -> BTreeMap<String, String> {
    let json = read_json(&cloud_init_dir().join("known-differences.json"));
    json[judge.known]
        .as_object()
        .unwrap_or_else(|| {
            panic!(
                "known-differences.json has a {:?} object for cloud-init {}",
                judge.known, judge.release
            )
        })
        .iter()
        .map(|(name, reason)| {
            let reason = reason.as_str().expect("a reason").trim().to_owned();
            assert!(!reason.is_empty(), "known difference {name} has no reason");
            (name.clone(), reason)
        })
        .collect()
}

/// What reimage says, in cloud-init's terms: only the checks cloud-init makes count (reimage's
/// own lints do not), and a YAML error is named by its position, as cloud-init names it.
fn reimage_verdict(bytes: &[u8], version: Version) -> Verdict {
    let options = Options::default().with_version(version);
    let report = reimage_cloudinit::validate(bytes, &options);
    let mut errors = BTreeSet::new();
    let mut deprecations = BTreeSet::new();
    for finding in &report.findings {
        match (finding.severity, finding.code) {
            (_, Code::Lint(_)) => {}
            // A YAML error at `""` is about the whole file (26.2 cannot decode a file that is
            // not UTF-8, and says so at no path); the others are named by their position.
            (Severity::Error, Code::Yaml)
                if !finding.path.is_empty() && !finding.path.starts_with("format-") =>
            {
                errors.insert(format!("format-l{}.c{}", finding.line, finding.column));
            }
            (Severity::Error, _) => {
                errors.insert(finding.path.clone());
            }
            (Severity::Warning, Code::Deprecated) => {
                deprecations.insert(finding.path.clone());
            }
            (Severity::Warning | Severity::Info, _) => {}
        }
    }
    Verdict {
        valid: errors.is_empty(),
        errors,
        deprecations,
    }
}

fn show(paths: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[test]
fn reimage_agrees_with_cloud_init_22_4_2() {
    agrees_with(CLOUD_INIT_22_4_2);
}

#[test]
fn reimage_agrees_with_cloud_init_26_2() {
    agrees_with(CLOUD_INIT_26_2);
}

/// Compares reimage with `judge` on every compared corpus file: the verdict and the set of error
/// paths must be the same, except on the files `known-differences.json` lists for it, which must
/// differ.
fn agrees_with(judge: Judge) {
    let release = judge.release;
    let corpus = corpus();
    let verdicts = verdicts_of(judge);
    let known = known_differences_of(judge);

    let mut compared = 0;
    let mut agree = 0;
    let mut disagreements = String::new();
    let mut deprecation_notes = String::new();
    let mut known_seen = BTreeSet::new();
    for (name, bytes) in &corpus {
        let Some((true, theirs)) = verdicts.get(name) else {
            continue;
        };
        compared += 1;
        let ours = reimage_verdict(bytes, judge.version);
        if ours.valid == theirs.valid && ours.errors == theirs.errors {
            agree += 1;
            if known.contains_key(name) {
                let _ = writeln!(
                    disagreements,
                    "{name}: listed in known-differences.json, but reimage agrees with \
                     cloud-init {release}: remove the entry"
                );
            }
        } else if known.contains_key(name) {
            known_seen.insert(name.clone());
        } else {
            let _ = writeln!(
                disagreements,
                "{name}:\n  cloud-init: valid={} errors={}\n  reimage:    valid={} errors={}",
                theirs.valid,
                show(&theirs.errors),
                ours.valid,
                show(&ours.errors),
            );
        }
        if ours.deprecations != theirs.deprecations {
            let _ = writeln!(
                deprecation_notes,
                "  {name}: cloud-init {} reimage {}",
                show(&theirs.deprecations),
                show(&ours.deprecations),
            );
        }
    }
    println!(
        "{agree} of {compared} #cloud-config corpus files agree with cloud-init {release} \
         ({} known differences)",
        known_seen.len()
    );
    if !deprecation_notes.is_empty() && !judge.deprecations {
        println!("deprecations reported differently (not a failure):\n{deprecation_notes}");
    }
    assert!(
        deprecation_notes.is_empty() || !judge.deprecations,
        "reimage reports deprecations differently from cloud-init {release}:\n\
         {deprecation_notes}"
    );
    assert!(
        compared >= 100,
        "only {compared} corpus files are compared: the verdicts file looks wrong"
    );
    assert!(
        disagreements.is_empty(),
        "reimage disagrees with cloud-init {release} on {} of {compared} files (an intended \
         difference goes into tests/cloud-init/known-differences.json, with its reason):\n\n\
         {disagreements}",
        compared - agree - known_seen.len(),
    );
    let unused: Vec<&String> = known
        .keys()
        .filter(|name| !known_seen.contains(*name) && verdicts.get(*name).is_some_and(|v| !v.0))
        .collect();
    assert!(
        unused.is_empty(),
        "known-differences.json names files the differential test does not compare: {unused:?}"
    );
}

#[test]
fn every_corpus_file_has_a_verdict() {
    let corpus: BTreeSet<String> = corpus().into_keys().collect();
    for judge in [CLOUD_INIT_22_4_2, CLOUD_INIT_26_2] {
        let release = judge.release;
        let verdicts: BTreeSet<String> = verdicts_of(judge).into_keys().collect();
        let missing: Vec<&String> = corpus.difference(&verdicts).collect();
        let stale: Vec<&String> = verdicts.difference(&corpus).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "tests/cloud-init/verdicts-{release}.json is out of date (files without a verdict: \
             {missing:?}; verdicts without a file: {stale:?}): run `cargo xtask \
             cloud-init-peer` and commit"
        );
        let known = known_differences_of(judge);
        let unknown: Vec<&String> = known.keys().filter(|k| !corpus.contains(*k)).collect();
        assert!(
            unknown.is_empty(),
            "known-differences.json names files that are not in the corpus for cloud-init \
             {release}: {unknown:?}"
        );
    }
}

#[test]
fn corpus_has_at_least_150_files() {
    let count = corpus().len();
    assert!(
        count >= MIN_CORPUS_FILES,
        "the corpus has {count} files, fewer than {MIN_CORPUS_FILES}"
    );
}

#[test]
fn the_compared_files_are_exactly_the_cloud_config_ones() {
    // `compared` comes from cloud-init; check it against the rule the README states, so a
    // change of the driver cannot quietly shrink the comparison.
    for judge in [CLOUD_INIT_22_4_2, CLOUD_INIT_26_2] {
        let verdicts = verdicts_of(judge);
        for (name, bytes) in corpus() {
            let expected = bytes.starts_with(b"#cloud-config")
                && !bytes.starts_with(b"#cloud-config-archive")
                && !bytes.starts_with(b"#cloud-config-jsonp");
            assert_eq!(
                verdicts[&name].0, expected,
                "{name}: compared should be {expected} for cloud-init {}",
                judge.release
            );
        }
    }
}

/// The top-level properties of the 22.4 schema: those of every `$defs` entry that `allOf`
/// refers to, read from the compact schema the crate embeds.
fn top_level_properties() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/cloud-config-22.4.json");
    let schema = read_json(&path);
    let mut names = BTreeSet::new();
    for part in schema["allOf"].as_array().expect("allOf") {
        let reference = part["$ref"].as_str().expect("allOf holds $refs");
        let def = reference.strip_prefix("#/$defs/").expect("a $defs ref");
        let properties = schema["$defs"][def]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("$defs/{def} has properties"));
        names.extend(properties.keys().cloned());
    }
    assert!(names.len() > 80, "too few top-level properties: {names:?}");
    names
}

#[test]
fn corpus_covers_every_top_level_key_valid_and_invalid() {
    // A key is covered when a compared file has it as a top-level key (a line starting with
    // `key:`); for every key the corpus must hold a file cloud-init accepts, and one it rejects
    // with an error at that key or under it.
    let verdicts = cloud_init_verdicts();
    let corpus = corpus();
    let mut in_valid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    for (name, bytes) in &corpus {
        let (true, verdict) = &verdicts[name] else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            let Some((key, _)) = line.split_once(':') else {
                continue;
            };
            if key.is_empty() || key.starts_with([' ', '\t', '#', '-', '{', '[', '?']) {
                continue;
            }
            let key = key.trim_matches(['"', '\'']).to_owned();
            if verdict.valid {
                in_valid.entry(key.clone()).or_default().push(name.clone());
            }
            if verdict
                .errors
                .iter()
                .any(|p| p == &key || p.starts_with(&format!("{key}.")))
            {
                rejected.insert(key);
            }
        }
    }
    let properties = top_level_properties();
    let not_valid: Vec<&String> = properties
        .iter()
        .filter(|p| !in_valid.contains_key(*p))
        .collect();
    assert!(
        not_valid.is_empty(),
        "top-level keys that no corpus file cloud-init accepts uses: {not_valid:?}"
    );
    let not_rejected: Vec<&String> = properties
        .iter()
        .filter(|p| !rejected.contains(*p))
        .collect();
    assert!(
        not_rejected.is_empty(),
        "top-level keys without a corpus file that cloud-init rejects at that key: \
         {not_rejected:?}"
    );
}
