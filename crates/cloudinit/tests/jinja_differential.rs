//! Differential test: reimage's verdicts on Jinja templates against real cloud-init 26.2's.
//!
//! `tests/cloud-init/verdicts-jinja-26.2.json` holds what `cloud-init schema -c FILE -i
//! instance-data.json` says about every template of `tests/cloud-init/jinja/` (written by
//! `xtask/scripts/cloudinit_peer_jinja.py` with cloud-init 26.2, and committed, so this test
//! needs no peer). For every template, reimage (schema 26.2, rendering with the same
//! `instance-data.json`) must agree on valid or invalid, on the set of error paths, and on the
//! variables cloud-init warns are missing; and where cloud-init renders the template, reimage
//! must render the same text, byte for byte.
//!
//! cloud-init reports a template it cannot render (a syntax error, or a failure while rendering
//! that makes the schema command crash) at no path: reimage's `jinja` errors are the path `""`.
//! A rendered text with no header cloud-init knows is `format-l2.c1` in cloud-init; reimage's
//! `kind` error for it is compared under that name.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reimage_cloudinit::jinja::{InstanceData, render_template};
use reimage_cloudinit::{Code, Options, Severity};
use serde_json::Value;

/// Templates reimage may disagree on today, each with the reason. An entry whose template agrees
/// fails the test, so it is removed when the difference goes.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cloud-init/jinja")
}

fn verdicts() -> Value {
    let path = corpus_dir().join("../verdicts-jinja-26.2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn instance_data() -> InstanceData {
    InstanceData::from_json(&std::fs::read(corpus_dir().join("instance-data.json")).unwrap())
        .unwrap()
}

/// Every template of the corpus, by name.
fn templates() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    files
}

fn reimage_errors(text: &str, data: &InstanceData) -> BTreeSet<String> {
    let options = Options::default().with_instance_data(data.clone());
    let report = reimage_cloudinit::validate(text.as_bytes(), &options);
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| match f.code {
            Code::Jinja => String::new(),
            Code::Kind => "format-l2.c1".to_owned(),
            _ => f.path.clone(),
        })
        .collect()
}

#[test]
fn reimage_agrees_with_cloud_init_26_2_on_every_template() {
    let json = verdicts();
    assert_eq!(json["cloud_init"], "26.2");
    let files = json["files"].as_object().unwrap();
    let templates = templates();
    assert_eq!(
        templates.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>(),
        "every template has a verdict and every verdict a template: run the judge again"
    );
    let data = instance_data();
    let mut disagreements = String::new();
    let (mut valid, mut invalid) = (0, 0);
    for (name, text) in &templates {
        let theirs = &files[name];
        let their_valid = theirs["valid"].as_bool().unwrap();
        let their_errors: BTreeSet<String> = theirs["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[0].as_str().unwrap().to_owned())
            .collect();
        let ours = reimage_errors(text, &data);
        let agree = ours.is_empty() == their_valid && ours == their_errors;
        let known = KNOWN_DIFFERENCES.iter().any(|(n, _)| n == name);
        if agree && known {
            let _ = writeln!(
                disagreements,
                "{name}: listed in KNOWN_DIFFERENCES, but reimage agrees with cloud-init: remove \
                 the entry"
            );
        }
        // A known difference must still agree on valid or invalid.
        if (!agree && !known) || (known && ours.is_empty() != their_valid) {
            let _ = writeln!(
                disagreements,
                "{name}:\n  cloud-init: valid={their_valid} errors={their_errors:?}\n  \
                 reimage:    valid={} errors={ours:?}",
                ours.is_empty()
            );
        }
        // A syntax error: cloud-init says "on line N" (the file's line); so must reimage.
        let their_line = theirs["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|pair| {
                let message = pair[1].as_str().unwrap();
                let (_, after) = message.split_once(" on line ")?;
                after.split(':').next()?.parse::<u32>().ok()
            });
        if let Some(line) = their_line {
            let report = reimage_cloudinit::validate(
                text.as_bytes(),
                &Options::default().with_instance_data(data.clone()),
            );
            let ours: Vec<u32> = report
                .errors()
                .filter(|f| f.code == Code::Jinja)
                .map(|f| f.line)
                .collect();
            if ours != [line] {
                let _ = writeln!(
                    disagreements,
                    "{name}: cloud-init's syntax error is on line {line}, reimage's on {ours:?}"
                );
            }
        }
        let their_missing: Vec<&str> = theirs["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        // The rendered text itself, byte for byte, where cloud-init renders the template.
        let rendered = render_template(text, &data);
        match (&rendered, theirs["rendered"].as_str()) {
            (Ok(ours), Some(theirs)) if ours.text != theirs => {
                let _ = writeln!(
                    disagreements,
                    "{name}: rendered differently\n  cloud-init: {theirs:?}\n  reimage:    {:?}",
                    ours.text
                );
            }
            (Ok(_), None) => {
                let _ = writeln!(
                    disagreements,
                    "{name}: cloud-init does not render it, reimage does"
                );
            }
            (Err(_), Some(_)) => {
                let _ = writeln!(
                    disagreements,
                    "{name}: cloud-init renders it, reimage does not"
                );
            }
            _ => {}
        }
        if let Ok(rendered) = rendered
            && rendered.missing != their_missing
        {
            let _ = writeln!(
                disagreements,
                "{name}: cloud-init warns of {their_missing:?} missing, reimage of {:?}",
                rendered.missing
            );
        }
        if their_valid {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    println!(
        "{} templates agree with cloud-init 26.2 ({valid} valid, {invalid} invalid)",
        templates.len()
    );
    assert!(valid >= 5 && invalid >= 5, "the corpus needs both outcomes");
    assert!(
        disagreements.is_empty(),
        "reimage disagrees with cloud-init 26.2:\n{disagreements}"
    );
}
