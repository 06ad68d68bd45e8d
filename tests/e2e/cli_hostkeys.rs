//! The stages after the job, end to end with real OpenSSH on both sides: the emulator gives a
//! server a real `sshd` on loopback (the host key of its current install, restarted with the
//! new one when the reinstall ends); `reimage ecs reinstall --wait=ssh` reads the new keys on the
//! console, checks the key `sshd` presents against them with `ssh-keyscan`, writes a
//! known_hosts of the test's own; then a real `ssh -o StrictHostKeyChecking=yes` logs in with
//! it, without a prompt or a warning. A key that is not the console's is refused and the file
//! left as it was; cloud-init's module failures end with exit code 10.
//!
//! Nothing here dials a fixture address: a server with an `sshd` reads `127.0.0.1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use reimage_e2e::{
    ADMIN_PASSWORD, Emulator, KVM_2, ROOT_PASSWORD, Reimage, SERVER_1, SERVER_2, TempDir, aksk_env,
    edis_env, reimage,
};
use serde_json::{Value, json};

fn ecs(emulator: &Emulator, args: &[&str]) -> Reimage {
    reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(args)
        .envs(aksk_env())
}

/// Stops the `sshd`s the emulator started, by their process ids, should the emulator be killed
/// before it could.
struct SshdGuard<'a>(&'a Emulator, Vec<&'static str>);

impl Drop for SshdGuard<'_> {
    fn drop(&mut self) {
        let state = self.0.state();
        for id in &self.1 {
            if let Some(pid) = server(&state, id)["ssh_pid"].as_u64() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

fn server(state: &Value, id: &str) -> Value {
    state["ecs"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(state["edis"]["kvms"].as_array().unwrap())
        .find(|s| s["id"] == id || s["kvm_id"] == id)
        .cloned()
        .unwrap()
}

/// A user key for `ssh`, made by `ssh-keygen`.
fn user_key(dir: &TempDir) -> (String, String) {
    let path = dir.path().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path.to_str().unwrap().to_owned(), public)
}

fn attach(emulator: &Emulator, id: &str, authorized: &str) -> u16 {
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "this test needs OpenSSH's server: apt-get install openssh-server (.ci/run does)"
    );
    let kind = if id.starts_with("kvm_") {
        "edis/kvms"
    } else {
        "ecs/servers"
    };
    let (status, body) = emulator.admin(
        "POST",
        &format!("/_emulator/{kind}/{id}/sshd"),
        Some(&json!({ "authorized_keys": authorized })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["address"], "127.0.0.1");
    u16::try_from(body["port"].as_u64().unwrap()).unwrap()
}

fn keyscan(port: u16) -> String {
    let out = Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn wait_ssh_verifies_the_new_key_and_a_real_ssh_trusts_the_known_hosts_it_wrote() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![SERVER_1]);
    let dir = TempDir::new("hostkeys");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let (identity, public) = user_key(&dir);
    let port = attach(&emulator, SERVER_1, &public);

    // Before: sshd serves the first install's key, and known_hosts holds it (stale soon), with
    // a line of another host that must survive byte for byte.
    let old_fp = server(&emulator.state(), SERVER_1)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_line = keyscan(port);
    assert!(
        old_line.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{old_line}"
    );
    let other = "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40\n";
    let known_hosts = dir.write("known_hosts", format!("{other}{old_line}"));

    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
            "--wait=ssh",
            "--ssh-port",
            &port.to_string(),
            "--known-hosts",
            known_hosts.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let state = emulator.state();
    let new_fp = server(&state, SERVER_1)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_fp, old_fp, "the reinstall made new host keys");
    let json = out.json();
    assert_eq!(json["ssh"]["address"], "127.0.0.1", "{out}");
    assert_eq!(
        json["ssh"]["verified_host_keys"][0]["fingerprint"],
        new_fp.as_str(),
        "{out}"
    );
    assert_eq!(json["ssh"]["known_hosts"]["removed"], 1, "{out}");
    assert_eq!(json["ssh"]["known_hosts"]["added"], 1, "{out}");
    assert!(
        json["cloud_init"].is_null(),
        "--wait=ssh reads no verdict\n{out}"
    );
    // The progress shows the stages.
    assert!(out.stderr.contains("stage ssh:"), "{out}");

    let written = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(written.starts_with(other), "{written}");
    assert!(
        !written.contains(old_line.split_whitespace().nth(2).unwrap()),
        "{written}"
    );
    assert_eq!(written.lines().count(), 2, "{written}");

    strict_ssh(&known_hosts, &identity, port);
    // The file is as ssh found it: it added nothing of its own.
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), written);
}

/// A real OpenSSH client, strict, with only `known_hosts`: it logs in without a prompt or a
/// warning.
fn strict_ssh(known_hosts: &Path, identity: &str, port: u16) {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let ssh = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
        ])
        .arg(identity)
        .args(["-p", &port.to_string()])
        .arg(format!("{}@127.0.0.1", user.trim()))
        .arg("true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ssh.stderr);
    assert!(ssh.status.success(), "ssh failed: {stderr}");
    assert!(!stderr.to_lowercase().contains("warning"), "{stderr}");
}

#[test]
fn a_key_that_is_not_the_consoles_is_refused_and_known_hosts_is_left_alone() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![SERVER_1, SERVER_2]);
    let dir = TempDir::new("hostkeys-wrong");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let (_, public) = user_key(&dir);
    // Server 1's sshd answers where server 2 is looked for: someone else's key.
    let intruder = attach(&emulator, SERVER_1, &public);
    attach(&emulator, SERVER_2, &public);
    let before = "keep me\n";
    let known_hosts = dir.write("known_hosts", before);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_2,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
            "--wait=ssh",
            "--ssh-port",
            &intruder.to_string(),
            "--known-hosts",
            known_hosts.to_str().unwrap(),
        ],
    )
    .run();
    out.code(1);
    let console_fp = server(&emulator.state(), SERVER_2)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let intruder_fp = server(&emulator.state(), SERVER_1)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(out.stderr.contains("refused"), "{out}");
    assert!(
        out.stderr.contains(&intruder_fp),
        "the key presented is named\n{out}"
    );
    assert!(
        out.stderr.contains(&console_fp),
        "the console's key is named\n{out}"
    );
    assert!(out.stderr.contains("was not changed"), "{out}");
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), before);
}

#[test]
fn cloud_init_module_errors_end_with_exit_code_10_after_the_key_is_verified() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![SERVER_1]);
    let dir = TempDir::new("hostkeys-ci");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let (_, public) = user_key(&dir);
    let port = attach(&emulator, SERVER_1, &public);
    emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "cloud_init_error",
        "params": {"module": "scripts_user"},
        "times": 1,
    }));
    let known_hosts = dir.path().join("sub").join("known_hosts");
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
            "--wait=cloud-init",
            "--ssh-port",
            &port.to_string(),
            "--known-hosts",
            known_hosts.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .run();
    out.code(10);
    let json = out.json();
    assert_eq!(json["error"]["kind"], "cloud_init_errors", "{out}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("module scripts_user failed"),
        "{out}"
    );
    assert_eq!(json["result"]["cloud_init"]["status"], "error", "{out}");
    assert_eq!(json["result"]["cloud_init"]["version"], "26.2", "{out}");
    // The key was verified and written before the verdict: the new system is reachable.
    let fp = server(&emulator.state(), SERVER_1)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json["result"]["ssh"]["verified_host_keys"][0]["fingerprint"],
        fp.as_str()
    );
    let written = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        written.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{written}"
    );

    // Without the fault, the same wait is done, exit 0, with the verdict.
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
            "--mode",
            "with-stop-server",
            "--wait=cloud-init",
            "--ssh-port",
            &port.to_string(),
            "--known-hosts",
            "none",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stdout.contains("cloud-init 26.2 finished at"), "{out}");
    assert!(out.stdout.contains("no errors on the console"), "{out}");
    assert!(out.stdout.contains("known_hosts left alone"), "{out}");
    // --known-hosts none: the file of the first run is as it was.
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), written);
}

#[test]
fn a_boot_that_never_finishes_ends_at_the_deadline_and_no_key_is_written() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![SERVER_1]);
    let dir = TempDir::new("hostkeys-hang");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let (_, public) = user_key(&dir);
    let port = attach(&emulator, SERVER_1, &public);
    emulator.add_fault(json!({"operation": "ecs.reinstallos", "kind": "cloud_init_hangs"}));
    let known_hosts = dir.write("known_hosts", "keep me\n");
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
            "--wait=ssh",
            "--deadline",
            "6",
            "--ssh-port",
            &port.to_string(),
            "--known-hosts",
            known_hosts.to_str().unwrap(),
        ],
    )
    .run();
    out.code(5);
    assert!(
        out.stderr
            .contains("cloud-init has not written the host keys"),
        "{out}"
    );
    assert!(
        out.stderr.contains("reimage ecs server --server"),
        "the next step\n{out}"
    );
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "keep me\n");
    // The server was re-imaged once all the same.
    assert_eq!(server(&emulator.state(), SERVER_1)["reinstalls_applied"], 1);
}

#[test]
fn without_cloud_init_the_key_stages_are_refused_before_anything_is_sent() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("hostkeys-nci");
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    for wait in ["--wait=ssh", "--wait=cloud-init"] {
        let out = ecs(
            &emulator,
            &[
                "reinstall",
                "--without-cloud-init",
                "--server",
                SERVER_1,
                "--admin-password-file",
                password.to_str().unwrap(),
                "--yes",
                wait,
            ],
        )
        .run();
        out.code(2);
        assert!(out.stderr.contains("--wait=job"), "{out}");
    }
    assert_eq!(server(&emulator.state(), SERVER_1)["reinstalls_applied"], 0);
    assert!(
        emulator
            .requests_of("ecs.reinstallos_without_cloud_init")
            .is_empty()
    );
}

fn edis(emulator: &Emulator, args: &[&str]) -> Reimage {
    reimage(["edis", "--auth-url", emulator.base_url()])
        .args(args)
        .envs(edis_env())
}

#[test]
fn edis_host_keys_inject_makes_the_key_known_before_boot_and_a_real_ssh_trusts_it() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![KVM_2]);
    let dir = TempDir::new("hostkeys-edis");
    let root = dir.write("root-password", ROOT_PASSWORD);
    let user_data = dir.write("user-data.yaml", "#cloud-config\npackages:\n  - nginx\n");
    let (identity, public) = user_key(&dir);
    let port = attach(&emulator, KVM_2, &public);
    let old = server(&emulator.state(), KVM_2)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let known_hosts = dir.path().join("known_hosts");
    let args = |extra: &[&str]| {
        let mut all = vec![
            "reinstall".to_owned(),
            "--kvm".to_owned(),
            KVM_2.to_owned(),
            "--image".to_owned(),
            "cloudinit_debian-bookworm".to_owned(),
            "--root-password-file".to_owned(),
            root.to_str().unwrap().to_owned(),
            "--user-data".to_owned(),
            user_data.to_str().unwrap().to_owned(),
            "--host-keys".to_owned(),
            "inject".to_owned(),
            "--yes".to_owned(),
        ];
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };

    // A dry run shows the merged cloud-config with the private key redacted.
    let dry: Vec<String> = args(&["--dry-run", "--output", "json"]);
    let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
    let out = edis(&emulator, &dry).run();
    out.code(0);
    let shown = out.json()["user_data"]["shown"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(shown.contains("ed25519_private: |"), "{out}");
    assert!(shown.contains("[REDACTED]"), "{out}");
    assert!(!shown.contains("PRIVATE KEY"), "{out}");
    assert!(
        !out.stdout.contains("PRIVATE KEY") && !out.stderr.contains("PRIVATE KEY"),
        "{out}"
    );

    let port_text = port.to_string();
    let real: Vec<String> = args(&["--wait=ssh", "--ssh-port", &port_text, "--known-hosts"])
        .into_iter()
        .chain([
            known_hosts.to_str().unwrap().to_owned(),
            "--output".to_owned(),
            "json".to_owned(),
        ])
        .collect();
    let real: Vec<&str> = real.iter().map(String::as_str).collect();
    let out = edis(&emulator, &real).run();
    out.code(0);
    assert!(
        !out.stdout.contains("PRIVATE KEY") && !out.stderr.contains("PRIVATE KEY"),
        "{out}"
    );
    // The KVM runs the key reimage generated (cloud-init installed it from ssh_keys), and that
    // is the key reimage verified and wrote.
    let new = server(&emulator.state(), KVM_2)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    let announced = format!("host key will be ED25519 {new}");
    assert!(
        out.stderr.contains(&announced),
        "announced before sending\n{out}"
    );
    let json = out.json();
    assert_eq!(
        json["ssh"]["verified_host_keys"][0]["fingerprint"],
        new.as_str(),
        "{out}"
    );
    let written = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        written.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{written}"
    );
    strict_ssh(&known_hosts, &identity, port);
}

#[test]
fn edis_wait_ssh_without_inject_waits_for_a_changed_key_and_writes_nothing() {
    let emulator = Emulator::start(0.01);
    let _guard = SshdGuard(&emulator, vec![KVM_2]);
    let dir = TempDir::new("hostkeys-edis-changed");
    let root = dir.write("root-password", ROOT_PASSWORD);
    let (_, public) = user_key(&dir);
    let port = attach(&emulator, KVM_2, &public).to_string();
    let old = server(&emulator.state(), KVM_2)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let known_hosts = dir.write("known_hosts", "keep me\n");
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "cloudinit_debian-bookworm",
            "--root-password-file",
            root.to_str().unwrap(),
            "--yes",
            "--wait=ssh",
            "--ssh-port",
            &port,
            "--known-hosts",
            known_hosts.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let new = server(&emulator.state(), KVM_2)["host_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    let json = out.json();
    assert_eq!(json["ssh"]["verified_host_keys"], json!([]), "{out}");
    assert_eq!(
        json["ssh"]["changed_host_keys"][0]["fingerprint"],
        new.as_str(),
        "{out}"
    );
    assert!(json["ssh"]["known_hosts"].is_null(), "{out}");
    assert!(
        out.stderr.contains("to present a new host key"),
        "the stage\n{out}"
    );
    // Not verified, so not written.
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "keep me\n");
}
