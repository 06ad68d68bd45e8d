//! `reimage validate --output github` and `--output sarif`: exact workflow commands, and SARIF
//! that the official SARIF 2.1.0 schema accepts.
//!
//! The schema test runs `xtask/scripts/sarif_check.py` with the python of
//! `target/ci-tools-venv` (made by `cargo xtask ci-tools`, which `cargo xtask ci` runs first);
//! without that venv it says why and passes, unless `CI` is set, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn reimage_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run reimage")
}

/// A scratch folder under the target directory, fresh for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("validate-formats-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// An unknown key, a bad enum value with `,`, `:` and `%` in it, and no way to log in (a
/// warning). With cloud-init 26.2 the unknown key is reported at its own path.
const BAD: &[u8] = b"#cloud-config\nfoo: 1\npower_state: {mode: \"re,boot:%\"}\n";

#[test]
fn github_annotations_are_exact_and_escaped() {
    let dir = scratch("github");
    // `,`, `:` and `%` in the file name must be escaped in the `file=` property.
    std::fs::write(dir.join("we,ird:50%.yaml"), BAD).unwrap();
    std::fs::write(
        dir.join("good.yaml"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\n",
    )
    .unwrap();
    let out = reimage_in(
        &dir,
        &[
            "validate",
            "--output",
            "github",
            "we,ird:50%.yaml",
            "good.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let file = "we%2Cird%3A50%25.yaml";
    let expected = [
        format!(
            "::error file={file},line=2,col=1,title=reimage schema::foo: \"foo\" is not a \
             cloud-config key"
        ),
        format!(
            "::warning file={file},line=2,col=1,title=reimage lockout::(root): this config \
             leaves no way to log in: no SSH key for a user who can log in; no usable password; \
             add ssh_authorized_keys, or a password with `lock_passwd: false`, or give the \
             provider a password or key pair"
        ),
        format!(
            "::error file={file},line=3,col=21,title=reimage schema::power_state.mode: \
             \"re,boot:%25\" is not one of poweroff, reboot, halt"
        ),
    ];
    assert_eq!(text(&out.stdout), expected.join("\n") + "\n");
}

#[test]
fn github_annotations_escape_a_line_break_in_a_path() {
    // A quoted YAML key may end in a line break (`^.+$` still matches it), and the path carries
    // the key as it is: unescaped, the rest of the message would become a line of its own.
    let dir = scratch("github-newline");
    std::fs::write(
        dir.join("nl.yaml"),
        b"#cloud-config\ndisk_setup:\n  \"/dev/x\\n\":\n    table_type: bogus\n",
    )
    .unwrap();
    let out = reimage_in(&dir, &["validate", "-o", "github", "nl.yaml"]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[1],
        "::error file=nl.yaml,line=4,col=17,title=reimage schema::disk_setup./dev/x%0A.table_type: \
         \"bogus\" is not one of mbr, gpt"
    );
}

/// The SARIF log for `files` in `dir`, parsed, and the exit code.
fn sarif(dir: &Path, files: &[&str]) -> (Value, Option<i32>, String) {
    let mut args = vec!["validate", "--output", "sarif"];
    args.extend_from_slice(files);
    let out = reimage_in(dir, &args);
    let raw = text(&out.stdout);
    let log: Value = serde_json::from_str(&raw).expect("SARIF is one JSON document");
    (log, out.status.code(), raw)
}

#[test]
fn sarif_has_the_tool_one_rule_per_code_and_located_results() {
    let dir = scratch("sarif");
    std::fs::write(dir.join("bad one.yaml"), BAD).unwrap();
    std::fs::write(
        dir.join("old.yaml"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\napt_update: true\n",
    )
    .unwrap();
    let (log, code, _) = sarif(&dir, &["bad one.yaml", "old.yaml"]);
    assert_eq!(code, Some(1));
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "reimage");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let rules: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["deprecated", "lockout", "schema"]);
    let results = run["results"].as_array().unwrap();
    let summary: Vec<(String, String, String, u64, u64)> = results
        .iter()
        .map(|r| {
            let index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(r["ruleId"], rules[index], "ruleIndex points at the rule");
            let location = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_owned(),
                r["level"].as_str().unwrap().to_owned(),
                location["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                location["region"]["startLine"].as_u64().unwrap(),
                location["region"]["startColumn"].as_u64().unwrap(),
            )
        })
        .collect();
    let row = |code: &str, level: &str, uri: &str, line, column| {
        (
            code.to_owned(),
            level.to_owned(),
            uri.to_owned(),
            line,
            column,
        )
    };
    assert_eq!(
        summary,
        [
            row("schema", "error", "bad%20one.yaml", 2, 1),
            row("lockout", "warning", "bad%20one.yaml", 2, 1),
            row("schema", "error", "bad%20one.yaml", 3, 21),
            row("deprecated", "warning", "old.yaml", 3, 1),
        ]
    );
    assert_eq!(
        results[2]["message"]["text"],
        "power_state.mode: \"re,boot:%\" is not one of poweroff, reboot, halt"
    );
}

#[test]
fn sarif_of_valid_files_has_no_results_and_exits_0() {
    let dir = scratch("sarif-valid");
    std::fs::write(
        dir.join("good.yaml"),
        b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops@example]\n",
    )
    .unwrap();
    let (log, code, _) = sarif(&dir, &["good.yaml"]);
    assert_eq!(code, Some(0));
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"],
        serde_json::json!([])
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python of `target/ci-tools-venv`, or `None` (after saying why) when the test cannot run.
fn tools_python() -> Option<PathBuf> {
    let python = workspace_root().join("target/ci-tools-venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let why = format!(
        "the CI tools are not set up ({} is missing): run `cargo xtask ci-tools`",
        python.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// Runs `sarif_check.py` on `path`: (passed, what it printed).
fn sarif_check(python: &Path, path: &Path) -> (bool, String) {
    let out = Command::new(python)
        .arg(workspace_root().join("xtask/scripts/sarif_check.py"))
        .arg(path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run sarif_check.py");
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn sarif_passes_the_official_sarif_2_1_0_schema() {
    let Some(python) = tools_python() else {
        return;
    };
    let dir = scratch("sarif-schema");
    std::fs::write(dir.join("bad one.yaml"), BAD).unwrap();
    std::fs::write(dir.join("script.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(dir.join("broken.yaml"), b"#cloud-config\nkey: [unclosed\n").unwrap();
    let (_, _, raw) = sarif(&dir, &["bad one.yaml", "script.sh", "broken.yaml"]);
    let log = dir.join("out.sarif");
    std::fs::write(&log, &raw).unwrap();
    let (ok, said) = sarif_check(&python, &log);
    assert!(ok, "the SARIF schema rejects reimage's log:\n{said}\n{raw}");
    assert_eq!(said.trim(), "valid");

    // The check can fail: the same log with a line 0 (SARIF's lines start at 1) is refused.
    let broken = raw.replacen("\"startLine\": 2", "\"startLine\": 0", 1);
    assert_ne!(broken, raw);
    let bad = dir.join("bad.sarif");
    std::fs::write(&bad, broken).unwrap();
    let (ok, said) = sarif_check(&python, &bad);
    assert!(!ok, "a line 0 passed the schema:\n{said}");
    assert!(said.contains("startLine"), "{said}");
}

#[test]
fn other_commands_keep_their_own_output_values() {
    // `validate` has its own `--output`; the provider commands' `-o json|text` are not widened.
    let dir = scratch("other-commands");
    let out = reimage_in(&dir, &["config", "show", "-o", "sarif"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("sarif"), "{}", text(&out.stderr));
}

/// A finding inside a part of a multipart message names the part in the annotation's text,
/// since its line and column count in the decoded part, not in the file the annotation marks.
#[test]
fn annotations_name_the_part_of_a_multipart_message() {
    let message = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/cloud-init/multipart/broken-part2.mime");
    let dir = scratch("github-part");
    std::fs::copy(&message, dir.join("user-data.mime")).unwrap();
    let out = reimage_in(&dir, &["validate", "-o", "github", "user-data.mime"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "::error file=user-data.mime,line=3,col=9,title=reimage schema::[part 2 bad.yaml] \
         runcmd: expected a list, got a string: \"systemctl restart nginx\"\n\
         ::error file=user-data.mime,line=5,col=9,title=reimage schema::[part 2 bad.yaml] \
         power_state.mode: \"restart\" is not one of poweroff, reboot, halt\n"
    );
    let out = reimage_in(&dir, &["validate", "-o", "sarif", "user-data.mime"]);
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(
        messages.iter().all(|m| m.starts_with("[part 2 bad.yaml] ")),
        "{messages:?}"
    );
}
