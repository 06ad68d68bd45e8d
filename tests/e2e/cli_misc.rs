//! `reimage validate`, `--help`, usage errors and missing credentials, through the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_e2e::{Emulator, SERVER_1, TempDir, reimage};
use serde_json::Value;

const GOOD: &str = "#cloud-config\n\
users:\n  - name: ops\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6ZK7j0ZDcYp1sZ8JG3Jm2vQb0Bz8uQ3T9mYfV5Qa1c ops@example\n\
packages:\n  - nginx\n";

const BAD: &str = "#cloud-config\nruncmd: 5\n";

#[test]
fn validate_accepts_a_good_file_and_refuses_a_bad_one() {
    let dir = TempDir::new("validate");
    let good = dir.write("good.yaml", GOOD);
    let bad = dir.write("bad.yaml", BAD);

    let out = reimage(["validate"]).arg(&good).run();
    out.code(0);
    assert!(!out.stdout.contains("error["), "{out}");

    let out = reimage(["validate"]).arg(&bad).run();
    out.code(1);
    assert!(
        out.stdout.contains(":2:9: error[schema]: runcmd:"),
        "the finding at line and column\n{out}"
    );

    // Both at once: one invalid file makes the run invalid; JSON Lines, one per file.
    let out = reimage(["validate", "--output", "json"])
        .arg(&good)
        .arg(&bad)
        .run();
    out.code(1);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{out}")))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["valid"], true, "{out}");
    assert_eq!(lines[1]["valid"], false, "{out}");
    assert_eq!(lines[1]["errors"][0]["path"], "runcmd", "{out}");
}

#[test]
fn validate_reads_stdin_and_reports_a_missing_file_as_usage() {
    let out = reimage(["validate", "-"]).stdin(BAD).run();
    out.code(1);
    assert!(out.stdout.contains("error[schema]"), "{out}");

    let dir = TempDir::new("validate-missing");
    let out = reimage(["validate"])
        .arg(dir.path().join("nope.yaml"))
        .run();
    out.code(2);
    assert!(out.stderr.contains("no such file"), "{out}");
}

#[test]
fn help_and_version() {
    let out = reimage(["--help"]).run();
    out.code(0);
    for command in ["demo", "edis", "ecs", "validate", "emulator"] {
        assert!(out.stdout.contains(command), "{command} in --help\n{out}");
    }
    assert!(out.stdout.contains("Exit codes"), "{out}");
    assert!(!out.stdout.contains("__reference"), "hidden command\n{out}");

    let out = reimage(["ecs", "reinstall", "--help"]).run();
    out.code(0);
    assert!(out.stdout.contains("--admin-password-file"), "{out}");

    let out = reimage(["--version"]).run();
    out.code(0);
    assert!(out.stdout.starts_with("reimage "), "{out}");
}

#[test]
fn an_unknown_subcommand_or_flag_is_a_usage_error() {
    let out = reimage(["frobnicate"]).run();
    out.code(2);
    assert!(out.stderr.contains("unrecognized subcommand"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");

    let out = reimage(["ecs", "server", "--server", SERVER_1, "--frobnicate"]).run();
    out.code(2);
    assert!(out.stderr.contains("--frobnicate"), "{out}");

    let out = reimage(["ecs"]).run();
    out.code(2);
}

#[test]
fn without_any_settings_the_error_names_what_to_set() {
    let out = reimage(["ecs", "server", "--server", SERVER_1]).run();
    out.code(2);
    assert!(
        [
            "OS_PROJECT_ID",
            "HUAWEICLOUD_SDK_AK",
            "OS_USERNAME",
            "REIMAGE_ECS_ENDPOINT",
            "OS_REGION_NAME",
        ]
        .iter()
        .any(|v| out.stderr.contains(v)),
        "names a variable to set\n{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn a_missing_credential_names_both_ways_to_give_one() {
    let emulator = Emulator::start(0.01);
    let out = reimage(["ecs", "server", "--server", SERVER_1])
        .args(["--endpoint", emulator.base_url()])
        .args(["--project-id", reimage_e2e::PROJECT_ID])
        .run();
    out.code(2);
    assert!(out.stderr.contains("HUAWEICLOUD_SDK_AK"), "{out}");
    assert!(out.stderr.contains("OS_USERNAME"), "{out}");
    assert!(
        emulator.requests().is_empty(),
        "nothing was sent without credentials: {:?}",
        emulator.requests()
    );

    // The EDIS side: no account at all.
    let out = reimage(["edis", "status", "--kvm", reimage_e2e::KVM_1])
        .args(["--auth-url", emulator.base_url()])
        .run();
    out.code(2);
    assert!(out.stderr.contains("EDIS_EMAIL"), "{out}");
    assert!(emulator.requests().is_empty(), "nothing was sent");
}
