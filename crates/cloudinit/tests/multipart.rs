//! Differential test of MIME multipart user data and `#cloud-config-archive` against real
//! cloud-init 26.2, and of cloud-init's own `doc/examples` against 22.4.2 and 26.2.
//!
//! `tests/cloud-init/verdicts-multipart-26.2.json` holds, for every message of
//! `tests/cloud-init/multipart/`, the parts cloud-init 26.2's `UserDataProcessor` gives (index,
//! filename, content type) and 26.2's schema verdict on every cloud-config part alone (written
//! by `xtask/scripts/cloudinit_peer_multipart.py`, committed, so this test needs no peer). reimage
//! must give the same parts, of the same kinds, and for every cloud-config part the same
//! validity and the same error paths, located in that part.
//!
//! The examples: `verdicts-examples-22.4.2.json` (`cloudinit_peer.py` on Debian's 22.4.2
//! `doc/examples`) and the `examples` of the 26.2 verdicts. reimage must agree with each version
//! on every example that is cloud-config or `#cloud-config-archive`; the files themselves are
//! cloud-init's and are read from `target/cloud-init-peer/` (where `cargo xtask
//! cloud-init-peer` unpacks Debian's package); without them the test is skipped, unless `CI`
//! is set.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reimage_cloudinit::multipart::kind_of_type;
use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Code, Kind, Options, Severity};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Compares reimage's parts of `bytes` with cloud-init's `parts`; returns the differences.
fn compare_parts(name: &str, bytes: &[u8], parts: &[Value], version: Version) -> Vec<String> {
    let report = reimage_cloudinit::validate(bytes, &Options::default().with_version(version));
    let mut problems = Vec::new();
    if report.parts.len() != parts.len() {
        problems.push(format!(
            "{name}: cloud-init has {} parts, reimage {}",
            parts.len(),
            report.parts.len()
        ));
        return problems;
    }
    for (ours, theirs) in report.parts.iter().zip(parts) {
        let index = theirs["index"].as_u64().unwrap() as usize;
        let content_type = theirs["content_type"].as_str().unwrap();
        assert_eq!(ours.index, index, "{name}");
        if ours.content_type != content_type || ours.kind != kind_of_type(content_type) {
            problems.push(format!(
                "{name} part {index}: cloud-init says {content_type}, reimage {} ({})",
                ours.content_type, ours.kind
            ));
        }
        // cloud-init names a part without a filename `part-NNN`; an include part is recorded
        // by the judge without its own headers.
        if ours.kind != Kind::Include {
            let ours_name = ours
                .filename
                .clone()
                .unwrap_or_else(|| format!("part-{index:03}"));
            if Some(ours_name.as_str()) != theirs["filename"].as_str() {
                problems.push(format!(
                    "{name} part {index}: cloud-init names it {}, reimage {ours_name}",
                    theirs["filename"]
                ));
            }
        }
        if ours.launch_index.as_deref() != theirs["launch_index"].as_str() {
            problems.push(format!("{name} part {index}: launch index differs"));
        }
        let Some(verdict) = theirs.get("verdict") else {
            continue;
        };
        let errors: BTreeSet<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .filter(|f| f.part.as_ref().is_some_and(|p| p.index == index))
            .filter(|f| matches!(f.code, Code::Schema | Code::Yaml))
            .map(|f| f.path.clone())
            .collect();
        let expected: BTreeSet<String> = verdict["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[0].as_str().unwrap().to_owned())
            .collect();
        // A part whose root is not a mapping: cloud-init skips it when it merges the parts, so
        // reimage warns (at the path "") where the schema command, on the part alone, errs.
        if expected.len() == 1 && expected.contains("") && errors.is_empty() {
            let skipped = report.warnings().any(|f| {
                f.path.is_empty()
                    && f.code == Code::Schema
                    && f.part.as_ref().is_some_and(|p| p.index == index)
            });
            if skipped {
                continue;
            }
        }
        let valid_differs = errors.is_empty() != verdict["valid"].as_bool().unwrap();
        if valid_differs || errors != expected {
            problems.push(format!(
                "{name} part {index}: cloud-init's errors are at {expected:?}, reimage's at \
                 {errors:?}"
            ));
        }
    }
    problems
}

#[test]
fn every_message_is_split_and_judged_as_cloud_init_26_2_does() {
    let dir = root().join("tests/cloud-init/multipart");
    let verdicts = read_json(&root().join("tests/cloud-init/verdicts-multipart-26.2.json"));
    let messages = verdicts["messages"].as_object().unwrap();
    let mut problems = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("mime") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(verdict) = messages.get(&name) else {
            problems.push(format!(
                "{name}: no verdict; run cloudinit_peer_multipart.py"
            ));
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let parts = verdict["parts"].as_array().unwrap();
        problems.extend(compare_parts(&name, &bytes, parts, Version::V26_2));
    }
    assert_eq!(seen, messages.len(), "a verdict without its message");
    assert!(seen >= 12, "the multipart corpus has {seen} messages");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn doc_examples_agree_with_both_versions() {
    let examples = root().join("target/cloud-init-peer/root/usr/share/doc/cloud-init/examples");
    if !examples.is_dir() {
        assert!(
            !in_ci(),
            "{} is missing: run `cargo xtask cloud-init-peer`",
            examples.display()
        );
        println!("skipped: {} is missing", examples.display());
        return;
    }
    let v22 = read_json(&root().join("tests/cloud-init/verdicts-examples-22.4.2.json"));
    let v26 = read_json(&root().join("tests/cloud-init/verdicts-multipart-26.2.json"));
    let mut problems = Vec::new();
    let mut compared = 0;
    for (name, old) in v22["files"].as_object().unwrap() {
        let bytes = std::fs::read(examples.join(name)).unwrap();
        let archive = bytes
            .to_ascii_lowercase()
            .starts_with(b"#cloud-config-archive");
        // Only cloud-config and archives: for the other kinds each version's `schema -c` says
        // something of its own (22.4 wants `#cloud-config`; 26.2 does not evaluate them).
        if !(old["compared"].as_bool().unwrap() || archive) {
            continue;
        }
        compared += 1;
        let new = &v26["examples"][name.as_str()];
        for (version, verdict) in [(Version::V22_4, old), (Version::V26_2, new)] {
            let report =
                reimage_cloudinit::validate(&bytes, &Options::default().with_version(version));
            let expected = verdict["valid"].as_bool().unwrap();
            if report.valid() != expected {
                let errors: Vec<String> = report
                    .errors()
                    .map(|f| format!("{}: {}", f.path, f.message))
                    .collect();
                problems.push(format!(
                    "{name}: cloud-init {version} says valid={expected}, reimage {errors:?}"
                ));
            }
            if archive && version == Version::V26_2 {
                let parts = new["parts"].as_array().unwrap();
                problems.extend(compare_parts(name, &bytes, parts, version));
            }
        }
    }
    assert!(compared >= 20, "only {compared} examples compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_second_part_makes_the_message_invalid() {
    let bytes = std::fs::read(root().join("tests/cloud-init/multipart/broken-part2.mime")).unwrap();
    let report = reimage_cloudinit::validate(&bytes, &Options::default());
    assert!(!report.valid());
    let error = report
        .errors()
        .find(|f| f.path == "power_state.mode")
        .expect("power_state.mode is an error");
    let part = error.part.as_ref().expect("the error names its part");
    assert_eq!(
        (part.index, part.filename.as_deref()),
        (2, Some("bad.yaml"))
    );
    // Line 5 of the decoded part (`  mode: restart`), not of the base64 message.
    assert_eq!((error.line, error.column), (5, 9));
}

#[test]
fn lockout_is_judged_on_the_merged_config() {
    let read =
        |name: &str| std::fs::read(root().join("tests/cloud-init/multipart").join(name)).unwrap();
    let options = Options::default();
    // Keys in part 1, `users` with `default` in part 2: the default user keeps the keys.
    let report = reimage_cloudinit::validate(&read("keys-then-users.mime"), &options);
    assert!(report.lockout().is_none(), "{:?}", report.findings);
    // Part 1 drops the default user, part 2 gives the keys to it: no way in.
    let report = reimage_cloudinit::validate(&read("lockout-spread.mime"), &options);
    let lockout = report.lockout().expect("a lockout over two parts");
    assert!(
        lockout.message.ends_with("merges from parts 1, 2)"),
        "{}",
        lockout.message
    );
    // The scripts message has keys in its cloud-config part: no lockout, and the scripts are
    // notes, not errors.
    let report = reimage_cloudinit::validate(&read("scripts.mime"), &options);
    assert!(
        report.valid() && report.lockout().is_none(),
        "{:?}",
        report.findings
    );
    let infos = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .count();
    assert_eq!(infos, 4, "{:?}", report.findings);
}

#[test]
fn includes_are_listed_and_template_parts_are_rendered_and_checked() {
    let read =
        |name: &str| std::fs::read(root().join("tests/cloud-init/multipart").join(name)).unwrap();
    let report = reimage_cloudinit::validate(&read("include.mime"), &Options::default());
    let include = report
        .warnings()
        .find(|f| {
            f.message
                .contains("https://config.example.invalid/extra.yaml")
        })
        .expect("the include URL is listed");
    assert_eq!(include.part.as_ref().map(|p| p.index), Some(1));
    // A template part is rendered (with no instance data: its variable is unknown until boot)
    // and what it renders to is checked; its own lint findings are left to the merged config.
    let report = reimage_cloudinit::validate(&read("jinja.mime"), &Options::default());
    let in_part_1 = |f: &&reimage_cloudinit::Finding| f.part.as_ref().is_some_and(|p| p.index == 1);
    assert!(
        report
            .warnings()
            .filter(in_part_1)
            .any(|f| f.code == Code::Jinja && f.message.contains("v1.local_hostname")),
        "{:?}",
        report.findings
    );
    assert!(
        !report
            .findings
            .iter()
            .filter(in_part_1)
            .any(|f| matches!(f.code, Code::Lint(_))),
        "{:?}",
        report.findings
    );
    let broken = b"Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n--b\n\
        Content-Type: text/jinja2\n\n## template: jinja\n#cloud-config\nruncmd: {{ v1.instance_id }}\n\
        \n--b--\n";
    let data =
        reimage_cloudinit::jinja::InstanceData::from_json(br#"{"v1": {"instance_id": "i-1"}}"#)
            .unwrap();
    let report = reimage_cloudinit::validate(broken, &Options::default().with_instance_data(data));
    assert!(!report.valid(), "{:?}", report.findings);
    assert!(
        report
            .errors()
            .any(|f| f.path == "runcmd" && f.part.is_some()),
        "{:?}",
        report.findings
    );
}

fn corpus(name: &str) -> reimage_cloudinit::Report {
    let bytes = std::fs::read(root().join("tests/cloud-init/multipart").join(name)).unwrap();
    reimage_cloudinit::validate(&bytes, &Options::default())
}

/// (part index, severity, code, path, line) of every finding, for the cases below.
fn summary(
    report: &reimage_cloudinit::Report,
) -> Vec<(Option<usize>, Severity, String, String, u32)> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                f.part.as_ref().map(|p| p.index),
                f.severity,
                f.code.to_string(),
                f.path.clone(),
                f.line,
            )
        })
        .collect()
}

#[test]
fn a_merge_type_header_appends_and_the_lints_see_the_merged_runcmd() {
    // Part 2's Merge-Type appends its runcmd to part 1's `reboot`, which is then no longer the
    // last command: the lint points at part 1, line 5. With the default merge, part 2's runcmd
    // would replace part 1's and there would be nothing to say.
    let report = corpus("merge-header.mime");
    let early: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code.to_string() == "early-power-state")
        .collect();
    assert_eq!(early.len(), 1, "{:?}", report.findings);
    assert_eq!(early[0].part.as_ref().map(|p| p.index), Some(1));
    assert_eq!((early[0].path.as_str(), early[0].line), ("runcmd.0", 5));
}

#[test]
fn archive_parts_inside_a_message_are_checked_where_they_are() {
    let report = corpus("archive-part.mime");
    assert!(!report.valid());
    let s = summary(&report);
    // `hostname: 42` is line 2 of the archive entry's content, part 2.
    assert!(
        s.contains(&(
            Some(2),
            Severity::Error,
            "schema".into(),
            "hostname".into(),
            2
        )),
        "{s:?}"
    );
    // The script with launch-index 0: a note for each; the unknown type: a warning.
    assert!(
        s.contains(&(Some(3), Severity::Info, "kind".into(), String::new(), 1)),
        "{s:?}"
    );
    assert!(
        s.contains(&(Some(4), Severity::Warning, "kind".into(), String::new(), 1)),
        "{s:?}"
    );
    assert_eq!(report.parts[2].launch_index.as_deref(), Some("0"));
}

#[test]
fn jsonp_launch_index_and_unknown_types_are_said() {
    let report = corpus("jsonp.mime");
    assert!(report.valid());
    assert!(
        report
            .warnings()
            .any(|f| f.part.as_ref().is_some_and(|p| p.index == 2)
                && f.message.contains("JSON patch")),
        "{:?}",
        report.findings
    );
    let report = corpus("launch-index.mime");
    assert!(report.findings.iter().any(|f| f.severity == Severity::Info
        && f.part.as_ref().is_some_and(|p| p.index == 1)
        && f.message.contains("Launch-Index 1")));
    assert!(
        report
            .warnings()
            .any(|f| f.part.as_ref().is_some_and(|p| p.index == 2)
                && f.message.contains("text/x-reimage-note"))
    );
}

#[test]
fn crlf_and_single_part_messages() {
    let report = corpus("crlf.mime");
    assert_eq!(report.parts.len(), 2);
    assert!(report.valid(), "{:?}", report.findings);
    let report = corpus("single-part.mime");
    assert_eq!(report.parts.len(), 1);
    assert_eq!(report.parts[0].kind, Kind::CloudConfig);
    assert!(!report.valid());
}

#[test]
fn an_archive_file_is_judged_per_version() {
    let archive = b"#cloud-config-archive\n- content: |\n    #cloud-config\n    hostname: web\n";
    let old =
        reimage_cloudinit::validate(archive, &Options::default().with_version(Version::V22_4));
    assert!(!old.valid(), "22.4's schema -c rejects an archive");
    let new =
        reimage_cloudinit::validate(archive, &Options::default().with_version(Version::V26_2));
    assert!(new.valid(), "{:?}", new.findings);
    assert_eq!(new.parts.len(), 1);
    let broken = b"#cloud-config-archive\n- content: |\n    #cloud-config\n    power_state: {mode: restart}\n";
    let report = reimage_cloudinit::validate(broken, &Options::default());
    let error = report.errors().next().expect("the part's error");
    assert_eq!(error.path, "power_state.mode");
    assert_eq!(
        (error.part.as_ref().map(|p| p.index), error.line),
        (Some(1), 2)
    );
}

#[test]
fn a_whole_include_file_lists_its_urls_as_not_fetched() {
    let report = reimage_cloudinit::validate(
        b"#include\nhttps://a.example.invalid/one.yaml\nhttps://a.example.invalid/two.yaml\n",
        &Options::default(),
    );
    assert_eq!(report.kind, Kind::Include);
    assert!(report.valid());
    let urls: Vec<&str> = report
        .warnings()
        .filter(|f| f.message.contains("NOT checked"))
        .map(|f| f.message.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "https://a.example.invalid/one.yaml",
            "https://a.example.invalid/two.yaml"
        ]
    );
}
