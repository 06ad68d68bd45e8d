//! The binary under the emulator's faults: throttling and 5xx are retried safely, a lost
//! answer is never a second wipe, a reset reinstall is reported as "outcome unknown", a failed
//! job is a failure, and an expired token is renewed mid-wait. Each checked on the emulator's
//! state: how many reinstalls were really applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_e2e::{
    ADMIN_PASSWORD, Emulator, KVM_1, ROOT_PASSWORD, Reimage, SERVER_1, TempDir, aksk_env, count,
    edis_env, reimage,
};
use serde_json::json;

/// `reimage ecs --endpoint <emulator> reinstall --server SERVER_1 … --yes --wait --output json`,
/// with the admin password from a file in `dir`.
fn reinstall(emulator: &Emulator, dir: &TempDir) -> Reimage {
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password)
        .args(["--yes", "--wait", "--output", "json"])
}

fn reinstalls(emulator: &Emulator) -> u64 {
    count(&emulator.server(SERVER_1), "reinstalls_applied")
}

fn jobs(emulator: &Emulator) -> Vec<serde_json::Value> {
    emulator.state()["ecs"]["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_throttled_reinstall_is_retried_once_and_applied_once() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "throttle",
        "params": {"retry_after_secs": 1},
        "calls": [1],
    }));
    let dir = TempDir::new("throttle");
    let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
    out.code(0);
    assert_eq!(out.json()["done"], true, "{out}");
    assert_eq!(reinstalls(&emulator), 1, "{out}");
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 2, "the 429, then the retry: {sent:?}");
    assert_eq!(sent[0]["status"], 429, "{sent:?}");
    assert_eq!(jobs(&emulator).len(), 1);
}

#[test]
fn a_503_reinstall_is_retried_once_and_applied_once() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "server_error",
        "params": {"status": 503},
        "calls": [1],
    }));
    let dir = TempDir::new("503");
    let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
    out.code(0);
    assert_eq!(out.json()["done"], true, "{out}");
    assert_eq!(reinstalls(&emulator), 1, "{out}");
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 2, "the 503, then the retry: {sent:?}");
    assert_eq!(sent[0]["status"], 503, "{sent:?}");
    assert_eq!(jobs(&emulator).len(), 1);
}

#[test]
fn a_lost_answer_is_followed_not_resent() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "lost_answer",
        "calls": [1],
    }));
    let dir = TempDir::new("lost");
    let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["done"], true, "{out}");
    assert!(
        json["evidence"].as_str().is_some_and(|e| !e.is_empty()),
        "the evidence that it was applied\n{out}"
    );
    assert!(out.stderr.contains("the answer was lost"), "{out}");
    assert_eq!(reinstalls(&emulator), 1, "exactly one wipe\n{out}");
    assert_eq!(
        emulator.requests_of("ecs.reinstallos").len(),
        1,
        "never sent again"
    );
    assert_eq!(jobs(&emulator).len(), 1, "one job");
}

#[test]
fn a_reset_reinstall_is_outcome_unknown_and_not_retried() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "reset",
        "calls": [1],
    }));
    let dir = TempDir::new("reset");
    let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
    out.code(6);
    assert!(out.stderr.contains("outcome unknown"), "{out}");
    // `--output json` prints the outcome as a document, exit 6 included.
    assert_eq!(out.json()["error"]["kind"], "outcome_unknown", "{out}");
    assert_eq!(reinstalls(&emulator), 0, "{out}");
    assert_eq!(
        emulator.requests_of("ecs.reinstallos").len(),
        1,
        "not retried"
    );
    assert!(jobs(&emulator).is_empty());
}

#[test]
fn a_failed_job_is_a_failure_with_its_code() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "job_fail",
        "params": {"error_code": "Ecs.9999", "fail_reason": "the disk is on fire"},
        "calls": [1],
    }));
    let dir = TempDir::new("jobfail");
    let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
    out.code(1);
    assert!(out.stderr.contains("Ecs.9999"), "{out}");
    let jobs = jobs(&emulator);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["status"], "FAIL", "{jobs:?}");
    assert_eq!(jobs[0]["error_code"], "Ecs.9999", "{jobs:?}");
    // Accepted once (the job then failed), and not sent again.
    assert_eq!(reinstalls(&emulator), 1, "{out}");
    assert_eq!(emulator.requests_of("ecs.reinstallos").len(), 1);
}

#[test]
fn a_lost_edis_reinstall_answer_is_followed_not_resent() {
    // An EDIS reinstall takes about 300 s at time scale 1.0: 1.5 s here.
    let emulator = Emulator::start(0.005);
    emulator.add_fault(json!({
        "operation": "edis.reinstall",
        "kind": "lost_answer",
        "calls": [1],
    }));
    let dir = TempDir::new("edis-lost");
    let password = dir.write("root-password", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args([
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "cloudinit_ubuntu-lts-24-04",
            "--root-password-file",
        ])
        .arg(password)
        .args(["--yes", "--wait", "--output", "json"])
        .envs(edis_env())
        .run();
    out.code(0);
    assert_eq!(out.json()["done"], true, "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}\n{out}");
    assert_eq!(kvm["image"], "cloudinit_ubuntu-lts-24-04", "{kvm}");
    assert_eq!(emulator.requests_of("edis.reinstall").len(), 1);
}

#[test]
fn an_expired_token_is_renewed_mid_wait() {
    let emulator = Emulator::start(0.01);
    // The first job poll of the wait finds its token expired.
    emulator.add_fault(json!({
        "operation": "ecs.show_job",
        "kind": "expire_credentials",
        "calls": [1],
    }));
    let dir = TempDir::new("expire");
    let out = reinstall(&emulator, &dir).envs(emulator.iam_env()).run();
    out.code(0);
    assert_eq!(out.json()["done"], true, "{out}");
    assert_eq!(reinstalls(&emulator), 1, "{out}");
    let tokens = emulator.state()["iam"]["tokens"].clone();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2, "renewed once: {tokens:?}");
    assert_eq!(tokens[0]["expired"], true, "{tokens:?}");
    assert_eq!(tokens[1]["expired"], false, "{tokens:?}");
    let polls = emulator.requests_of("ecs.show_job");
    assert!(
        polls.iter().any(|r| r["status"] == 401),
        "the expired token was refused once: {polls:?}"
    );
}

#[test]
fn a_truncated_or_invalid_answer_is_followed_not_resent() {
    for kind in ["truncated_body", "invalid_json"] {
        let emulator = Emulator::start(0.01);
        emulator.add_fault(json!({"operation": "ecs.reinstallos", "kind": kind, "calls": [1]}));
        let dir = TempDir::new(kind);
        let out = reinstall(&emulator, &dir).envs(aksk_env()).run();
        out.code(0);
        assert_eq!(out.json()["done"], true, "{kind}\n{out}");
        assert_eq!(reinstalls(&emulator), 1, "{kind}\n{out}");
        assert_eq!(
            emulator.requests_of("ecs.reinstallos").len(),
            1,
            "{kind}: never sent again"
        );
    }
}

#[test]
fn a_lost_change_os_answer_is_followed_not_resent() {
    let emulator = Emulator::start(0.01);
    emulator.add_fault(json!({"operation": "ecs.changeos", "kind": "lost_answer", "calls": [1]}));
    let dir = TempDir::new("lost-changeos");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["change-os", "--server", SERVER_1, "--image"])
        .arg(reimage_e2e::IMAGE_UBUNTU)
        .arg("--admin-password-file")
        .arg(password)
        .args(["--yes", "--wait"])
        .envs(aksk_env())
        .run();
    out.code(0);
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "os_changes_applied"), 1, "{server}\n{out}");
    assert_eq!(server["image_id"], reimage_e2e::IMAGE_UBUNTU, "{server}");
    assert_eq!(emulator.requests_of("ecs.changeos").len(), 1);
}

#[test]
fn a_lost_edis_answer_for_a_kvm_that_was_off_is_outcome_unknown() {
    // A KVM that was off gives no sign of an install: the CLI cannot tell, and says so
    // rather than sending the reinstall again.
    let emulator = Emulator::start(0.005);
    emulator.add_fault(json!({"operation": "edis.reinstall", "kind": "lost_answer", "calls": [1]}));
    let dir = TempDir::new("edis-lost-off");
    let password = dir.write("root-password", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["reinstall", "--kvm", reimage_e2e::KVM_2, "--image"])
        .arg("cloudinit_debian-bookworm")
        .arg("--root-password-file")
        .arg(password)
        .args(["--yes", "--wait"])
        .envs(edis_env())
        .run();
    out.code(6);
    assert!(out.stderr.contains("outcome unknown"), "{out}");
    assert_eq!(
        emulator.requests_of("edis.reinstall").len(),
        1,
        "not resent"
    );
    let kvm = emulator.kvm(reimage_e2e::KVM_2);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
}

#[test]
fn an_expired_edis_session_is_renewed_mid_wait() {
    let emulator = Emulator::start(0.005);
    // The reinstall reads the power twice before it is sent; the third read is the wait's.
    emulator.add_fault(json!({
        "operation": "edis.get_power",
        "kind": "expire_credentials",
        "calls": [3],
    }));
    let dir = TempDir::new("edis-expire");
    let password = dir.write("root-password", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["reinstall", "--kvm", KVM_1, "--image"])
        .arg("cloudinit_ubuntu-lts-24-04")
        .arg("--root-password-file")
        .arg(password)
        .args(["--yes", "--wait"])
        .envs(edis_env())
        .run();
    out.code(0);
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}\n{out}");
    let sessions = emulator.state()["edis"]["sessions"].clone();
    assert_eq!(
        sessions.as_array().unwrap().len(),
        2,
        "renewed once: {sessions}"
    );
    assert_eq!(emulator.requests_of("edis.reinstall").len(), 1);
}
