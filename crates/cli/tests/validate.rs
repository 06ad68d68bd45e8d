//! `reimage validate` as a person runs it: the built binary, real files, exit codes and output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reimage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args(args)
        .output()
        .expect("run reimage")
}

/// A scratch folder under the target directory, fresh for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("validate-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

const GOOD: &[u8] = b"#cloud-config\nssh_authorized_keys:\n  - ssh-ed25519 AAAAC3Nza ops@example\n";
const BAD: &[u8] =
    b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA]\npower_state:\n  mode: restart\n";

#[test]
fn a_valid_file_exits_0_and_prints_nothing() {
    let dir = scratch("valid");
    let good = write(&dir, "good.yaml", GOOD);
    let out = reimage(&["validate", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn an_invalid_file_exits_1_with_file_line_column_code_path_and_message() {
    let dir = scratch("invalid");
    let bad = write(&dir, "bad.yaml", BAD);
    let out = reimage(&["validate", "--cloud-init", "22.4", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "{bad}:4:9: error[schema]: power_state.mode: \"restart\" is not one of poweroff, reboot, halt\n"
        )
    );
}

#[test]
fn warnings_alone_keep_exit_0_and_lints_can_be_switched_off() {
    let dir = scratch("warnings");
    let file = write(&dir, "lockout.yaml", b"#cloud-config\nhostname: web\n");
    let out = reimage(&["validate", &file]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out)
            .contains(":2:1: warning[lockout]: (root): this config leaves no way to log in"),
        "{}",
        stdout(&out)
    );
    let out = reimage(&["validate", "--disable-lint", "lockout", &file]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
}

#[test]
fn json_lines_one_object_per_file() {
    let dir = scratch("json");
    let good = write(&dir, "good.yaml", GOOD);
    let bad = write(&dir, "bad.yaml", BAD);
    let out = reimage(&["validate", "--output", "json", &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], good.as_str());
    assert_eq!(lines[0]["kind"], "cloud-config");
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["errors"], serde_json::json!([]));
    assert_eq!(lines[1]["valid"], false);
    assert_eq!(
        lines[1]["errors"],
        serde_json::json!([{
            "path": "power_state.mode", "line": 4, "column": 9, "code": "schema",
            "message": "\"restart\" is not one of poweroff, reboot, halt"
        }])
    );
}

#[test]
fn the_schema_version_changes_the_verdict() {
    // Unknown top-level keys are errors from cloud-init 23.4 on, not in 22.4.
    let dir = scratch("version");
    let file = write(
        &dir,
        "unknown.yaml",
        b"#cloud-config\nssh_authorized_keys: [k]\nrun_cmd: [ls]\n",
    );
    assert_eq!(
        reimage(&["validate", "--cloud-init", "22.4", &file])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        reimage(&["validate", "--cloud-init", "26.2", &file])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn bad_inputs_get_one_clear_line_and_exit_2() {
    let dir = scratch("bad-inputs");
    let good = write(&dir, "good.yaml", GOOD);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![dir.join("missing.yaml").display().to_string()],
            "no such file; check the path",
        ),
        (vec![dir.display().to_string()], "is a directory"),
        (
            vec!["--cloud-init".into(), "21.1".into(), good.clone()],
            "not a supported cloud-init version",
        ),
        (
            vec!["--output".into(), "xml".into(), good.clone()],
            "invalid value 'xml'",
        ),
        (
            vec!["--disable-lint".into(), "nope".into(), good.clone()],
            "not a lint code",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["validate".to_owned()];
        all.extend(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = reimage(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{all:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{all:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_huge_file_is_refused_without_reading_it() {
    let dir = scratch("huge");
    let path = dir.join("huge.yaml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(100 * 1024 * 1024).unwrap(); // sparse: 100 MB on paper, nothing on disk
    let out = reimage(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("more than the 16 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn binary_and_non_utf8_data_are_findings_not_crashes() {
    let dir = scratch("binary");
    let not_utf8 = write(&dir, "latin1.yaml", b"#cloud-config\nhostname: caf\xe9\n");
    let out = reimage(&["validate", &not_utf8]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("error[yaml]"), "{}", stdout(&out));
    assert!(stdout(&out).contains("not UTF-8"), "{}", stdout(&out));

    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let binary = write(&dir, "noise.bin", &noise);
    let out = reimage(&["validate", "--output", "json", &binary]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_ne!(line["kind"], "cloud-config");
}

#[test]
fn stdin_is_read_with_a_dash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_reimage"))
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(BAD).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("-:4:9: error[schema]: power_state.mode"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_fields_come_in_the_documented_order() {
    let dir = scratch("json-order");
    let bad = write(&dir, "bad.yaml", BAD);
    let out = reimage(&["validate", "--output", "json", &bad]);
    let line = stdout(&out);
    let at = |key: &str| {
        line.find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key} in {line}"))
    };
    assert!(
        at("file") < at("kind")
            && at("kind") < at("valid")
            && at("valid") < at("errors")
            && at("errors") < at("warnings"),
        "{line}"
    );
    assert!(
        line.contains(
            r#"{"path":"power_state.mode","line":4,"column":9,"code":"schema","message":"#
        ),
        "{line}"
    );
}

#[test]
fn a_key_with_a_newline_cannot_break_the_one_line_format() {
    let dir = scratch("newline-key");
    let file = write(
        &dir,
        "key.yaml",
        b"#cloud-config\nssh_authorized_keys: [k]\n\"con\\ntent\": 1\n\"con\\ntent\": 2\n",
    );
    let out = reimage(&["validate", &file]);
    let text = stdout(&out);
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(line.starts_with(&file), "every line is a finding: {line:?}");
    }
    assert!(text.contains("con\\ntent"), "{text}");
}

#[test]
fn the_ecs_size_limit_and_the_provider_login() {
    let dir = scratch("provider");
    let mut big =
        b"#cloud-config\nssh_authorized_keys: [k]\nwrite_files:\n  - path: /x\n    content: |\n"
            .to_vec();
    for _ in 0..700 {
        big.extend_from_slice(b"      0123456789012345678901234567890123456789012345678\n");
    }
    let big = write(&dir, "big.yaml", &big);
    // With the provider known, its limit is an error: ECS refuses the user data, whatever
    // cloud-init would say.
    let out = reimage(&["validate", "--provider", "ecs", &big]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an error, the provider refuses it"
    );
    assert!(
        stdout(&out).contains("error[size-limit]"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&reimage(&["validate", &big])).contains("size-limit"));
    assert!(!stdout(&reimage(&["validate", "--provider", "edis", &big])).contains("size-limit"));

    let nobody = write(&dir, "nobody.yaml", b"#cloud-config\nhostname: web\n");
    assert!(stdout(&reimage(&["validate", &nobody])).contains("warning[lockout]"));
    assert!(!stdout(&reimage(&["validate", "--provider-login", &nobody])).contains("lockout"));
}

fn multipart(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/cloud-init/multipart")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_multipart_message_with_a_broken_part_is_invalid_and_names_the_part() {
    let file = multipart("broken-part2.mime");
    let out = reimage(&["validate", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{file}[part 2 bad.yaml]:5:9: error[schema]: power_state.mode:"
        )),
        "{text}"
    );
    let out = reimage(&["validate", "-o", "json", &file]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["valid"], false);
    let error = &json["errors"][0];
    assert_eq!(error["part"]["index"], 2);
    assert_eq!(error["part"]["filename"], "bad.yaml");
    assert_eq!(json["parts"][1]["kind"], "cloud-config");
}

#[test]
fn explode_writes_the_decoded_parts_inside_the_directory_only() {
    let dir = scratch("explode");
    // A filename that tries to climb out of the directory.
    let message = b"Content-Type: multipart/mixed; boundary=\"b\"\nMIME-Version: 1.0\n\n--b\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=\"../../escape.sh\"\nContent-Transfer-Encoding: base64\n\nIyEvYmluL3NoCmVjaG8gaGkK\n--b--\n";
    let file = write(&dir, "escape.mime", message);
    let out_dir = dir.join("parts");
    let out = reimage(&["validate", "--explode", out_dir.to_str().unwrap(), &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["01-escape.sh"]);
    // A part may hold a password or a private key: readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out_dir.join("01-escape.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert_eq!(
        std::fs::read(out_dir.join("01-escape.sh")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert!(!dir.parent().unwrap().join("escape.sh").exists());
}

#[test]
fn explode_gives_each_of_several_files_its_own_directory() {
    let dir = scratch("explode-several");
    let out_dir = dir.join("parts");
    let a = multipart("broken-part2.mime");
    let b = multipart("scripts.mime");
    let plain = write(&dir, "plain.yaml", GOOD);
    let out = reimage(&[
        "validate",
        "--explode",
        out_dir.to_str().unwrap(),
        &a,
        &b,
        &plain,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let list = |d: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(out_dir.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(list("broken-part2.mime"), ["01-keys.yaml", "02-bad.yaml"]);
    assert_eq!(list("scripts.mime").len(), 5);
    assert!(!out_dir.join("plain.yaml").exists());
    assert!(
        stderr(&out).contains("no parts to write"),
        "{}",
        stderr(&out)
    );
    let bad = std::fs::read_to_string(out_dir.join("broken-part2.mime/02-bad.yaml")).unwrap();
    assert!(
        bad.starts_with("#cloud-config\n") && bad.contains("mode: restart"),
        "{bad}"
    );
}

const TEMPLATE: &[u8] = b"## template: jinja\n#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nhostname: {{ v1.local_hostname }}\nruncmd: {{ v1.instance_id }}\n";
const INSTANCE: &[u8] = br#"{"v1": {"instance_id": "i-0123456789", "local_hostname": "web-01"}}"#;

#[test]
fn a_template_is_rendered_with_the_instance_data_and_validated() {
    let dir = scratch("jinja");
    let template = write(&dir, "t.yaml", TEMPLATE);
    let data = write(&dir, "instance-data.json", INSTANCE);
    let out = reimage(&["validate", "--instance-data", &data, &template]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{template}:4:9: error[schema]: runcmd: expected a list, got a string: \"i-0123456789\" \
             [line 4 of the rendered template, line 5 of the file]\n"
        )
    );
    let fixed = write(
        &dir,
        "fixed.yaml",
        b"## template: jinja\n#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nruncmd: [echo {{ v1.instance_id }}]\n",
    );
    let out = reimage(&["validate", "-i", &data, &fixed]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn without_instance_data_the_missing_variables_are_a_warning() {
    let dir = scratch("jinja-none");
    let fixed = write(
        &dir,
        "fixed.yaml",
        b"## template: jinja\n#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nruncmd: [echo {{ v1.instance_id }}]\n",
    );
    let out = reimage(&["validate", &fixed]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains(":4:1: warning[jinja]: (root): the template uses variables the instance data does not have: 'v1.instance_id' (no instance data was given"), "{text}");
    let broken = write(
        &dir,
        "broken.yaml",
        b"## template: jinja\n#cloud-config\n{% if v1.region %}\nhostname: a\n",
    );
    let out = reimage(&["validate", &broken]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(":4:1: error[jinja]: (root): the Jinja template has a syntax error"),
        "{}",
        stdout(&out)
    );
    let bad = write(&dir, "bad.json", b"[1]");
    let out = reimage(&["validate", "--instance-data", &bad, &fixed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must be a JSON object"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn windows_user_data_follows_cloudbase_init() {
    let dir = scratch("windows");
    let ps = write(&dir, "ps.txt", b"#ps1_sysnative\nWrite-Host hi\n");
    let out = reimage(&["validate", &ps]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "cloud-init ignores #ps1_sysnative"
    );
    let out = reimage(&["validate", "--os", "windows", "-o", "json", &ps]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("\"kind\":\"powershell\""),
        "{}",
        stdout(&out)
    );
    let cfg = write(
        &dir,
        "cfg.yaml",
        b"#cloud-config\nhostname: win-01\npackages: [git]\n",
    );
    let out = reimage(&["validate", "--os", "windows", &cfg]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "only the packages warning, no lockout: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out)
            .contains(":3:1: warning[cloudbase-init]: packages: Cloudbase-Init ignores `packages`"),
        "{}",
        stdout(&out)
    );
}

/// Without complete instance data, a typed field that holds only a variable's placeholder is not
/// known yet: a warning, unknown until boot, not a refusal. With cloud-init's instance data
/// (`-i`), the same field is an error, as cloud-init says.
#[test]
fn a_placeholder_in_a_typed_field_is_unknown_until_boot_without_instance_data() {
    let dir = scratch("jinja-placeholder");
    let template = write(
        &dir,
        "t.yaml",
        b"## template: jinja\n#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nntp: {enabled: {{ v1.foo }}}\n",
    );
    let out = reimage(&["validate", &template]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("warning[schema]: ntp.enabled:")
            && stdout(&out).contains("unknown until boot"),
        "{}",
        stdout(&out)
    );
    let data = write(&dir, "data.json", br#"{"v1": {}}"#);
    let out = reimage(&["validate", "-i", &data, &template]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("error[schema]: ntp.enabled:"),
        "{}",
        stdout(&out)
    ); // A list wanted: no value of the variable can make a string one, so that stays an error.
    let runcmd = write(
        &dir,
        "runcmd.yaml",
        b"## template: jinja\n#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nruncmd: {{ v1.instance_id }}\n",
    );
    let out = reimage(&["validate", &runcmd]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("error[schema]: runcmd:"),
        "{}",
        stdout(&out)
    );
}
