//! `reimage fleet apply` with the stages after the job (`wait = "ssh"` / `"cloud-init"`), end to
//! end with real OpenSSH on both sides: the emulator gives each ECS server a real `sshd` on
//! loopback (restarted with the new install's host key when its reinstall ends); the fleet reads
//! the keys on each console, checks what each `sshd` presents with `ssh-keyscan`, and writes
//! one known_hosts of the test's own through its one writer while the targets run together;
//! then a real `ssh -o StrictHostKeyChecking=yes` logs in with that file. The journal keeps the
//! stage reached, the verified fingerprints and cloud-init's verdict; `fleet status` shows
//! them; a rerun resumes a target at its stage without re-sending; a key that is not the
//! console's fails the target and leaves known_hosts alone, and `--retry-failed` takes it up at
//! its stage; cloud-init's module failures give the target the state `cloud_init_errors` and the
//! run exit code 10; an image without cloud-init fails before anything is sent.
//!
//! Nothing here dials a fixture address: a server with an `sshd` reads `127.0.0.1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use reimage_e2e::{
    ADMIN_PASSWORD, Emulator, IMAGE_NO_CLOUD_INIT, Output, Reimage, SERVER_1, SERVER_2,
    SERVER_RUNNING, TempDir, append_journal, count, journal_file, journal_latest, now_ms, reimage,
    write_config,
};
use serde_json::{Value, json};

/// Stops the `sshd`s the emulator started, by their process ids, should the emulator be killed
/// before it could.
struct SshdGuard<'a>(&'a Emulator, Vec<&'static str>);

impl Drop for SshdGuard<'_> {
    fn drop(&mut self) {
        for id in &self.1 {
            if let Some(pid) = self.0.server(id)["ssh_pid"].as_u64() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
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

/// A real `sshd` for the ECS server `id`; its port.
fn attach(emulator: &Emulator, id: &str, authorized: &str) -> u16 {
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "this test needs OpenSSH's server: apt-get install openssh-server (.ci/run does)"
    );
    let (status, body) = emulator.admin(
        "POST",
        &format!("/_emulator/ecs/servers/{id}/sshd"),
        Some(&json!({ "authorized_keys": authorized })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["address"], "127.0.0.1");
    u16::try_from(body["port"].as_u64().unwrap()).unwrap()
}

/// What `ssh-keyscan` reads on `port` now: `[127.0.0.1]:PORT TYPE KEY` lines, sorted.
fn keyscan(port: u16) -> Vec<String> {
    let out = Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The SHA-256 fingerprints of the keys `port` presents now, as `ssh-keygen -l` prints them.
fn fingerprints(port: u16) -> Vec<String> {
    let dir = TempDir::new("fleet-after-fp");
    let file = dir.write("scanned", &(keyscan(port).join("\n") + "\n"));
    let out = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    let mut prints: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    prints.sort();
    prints
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

/// The emulator, a directory with the config profile and the password file.
struct Fleet {
    emulator: Emulator,
    dir: TempDir,
}

impl Fleet {
    fn new(name: &str) -> Self {
        let emulator = Emulator::start(0.01);
        let dir = TempDir::new(name);
        write_config(&dir.path().join("config"), &emulator);
        dir.write("admin.pw", ADMIN_PASSWORD);
        Self { emulator, dir }
    }

    /// A plan of ECS reinstalls, each `(server, ssh port, extra keys)`, under `defaults`.
    fn plan(&self, defaults: &str, targets: &[(&str, u16, &str)]) -> PathBuf {
        let mut text = format!("[defaults]\nadmin_password_file = \"admin.pw\"\n{defaults}\n");
        for (id, port, extra) in targets {
            text.push_str(&format!(
                "\n[[targets]]\necs = \"{id}\"\nssh_port = {port}\n{extra}\n"
            ));
        }
        self.dir.write("plan.toml", &text)
    }

    fn fleet(&self, args: &[&str]) -> Reimage {
        reimage(["fleet"])
            .args(args)
            .config_home(&self.dir.path().join("config"))
    }

    fn apply(&self, plan: &Path) -> Output {
        self.fleet(&["apply", plan.to_str().unwrap(), "--yes"])
            .args(["--settle", "0", "--poll-ms", "20", "--output", "json"])
            .run()
    }

    fn reinstalls(&self, id: &str) -> u64 {
        count(&self.emulator.server(id), "reinstalls_applied")
    }
}

fn key(id: &str) -> String {
    format!("ecs:{}", id.to_ascii_lowercase())
}

#[test]
fn wait_ssh_verifies_each_target_writes_one_known_hosts_and_a_real_ssh_trusts_it() {
    let fleet = Fleet::new("fleet-after");
    let ids = [SERVER_1, SERVER_2, SERVER_RUNNING];
    let _guard = SshdGuard(&fleet.emulator, ids.to_vec());
    let (identity, public) = user_key(&fleet.dir);
    let ports: Vec<u16> = ids
        .iter()
        .map(|id| attach(&fleet.emulator, id, &public))
        .collect();

    // known_hosts before: a line of another host, kept byte for byte, and each server's key of
    // its first install, stale once the reinstall ends.
    let other = format!("other.example.org {}", public.trim());
    let other = format!("{}\n", other.rsplit_once(' ').unwrap().0);
    let mut before = other.clone();
    for port in &ports {
        before.push_str(&(keyscan(*port).join("\n") + "\n"));
    }
    let known_hosts = fleet.dir.write("known_hosts", &before);
    let old_prints: Vec<Vec<String>> = ports.iter().map(|p| fingerprints(*p)).collect();

    let targets: Vec<(&str, u16, &str)> = vec![
        (SERVER_1, ports[0], ""),
        (SERVER_2, ports[1], ""),
        (SERVER_RUNNING, ports[2], "mode = \"with-stop-server\""),
    ];
    let plan = fleet.plan("wait = \"ssh\"\nknown_hosts = \"known_hosts\"", &targets);
    let out = fleet.apply(&plan);
    out.code(0);
    let summary = out.json();
    assert_eq!(summary["done"], 3, "{out}");
    for id in ids {
        assert_eq!(fleet.reinstalls(id), 1, "{id}");
    }

    // The journal: done, stage ssh, the fingerprints sshd presents now (the new install's),
    // the known_hosts file, and no private key anywhere.
    let latest = journal_latest(&plan);
    let written = std::fs::read_to_string(&known_hosts).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let record = &latest[&key(id)];
        assert_eq!(record["state"], "done", "{record}");
        assert_eq!(record["after"]["reached"], "ssh", "{record}");
        let mut prints: Vec<String> = record["after"]["host_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["fingerprint"].as_str().unwrap().to_owned())
            .collect();
        prints.sort();
        assert_eq!(prints, fingerprints(ports[i]), "{record}");
        assert_ne!(prints, old_prints[i], "a new install has new keys");
        assert!(
            record["after"]["known_hosts"]
                .as_str()
                .unwrap()
                .ends_with("known_hosts")
        );
        assert!(record["after"].get("cloud_init").is_none(), "{record}");
        // Every key sshd presents now is in the file; none of the first install's is.
        for line in keyscan(ports[i]) {
            assert!(written.contains(&line), "{line} missing in\n{written}");
        }
    }
    assert!(written.starts_with(&other), "{written}");
    for line in before.lines().skip(1) {
        assert!(!written.contains(line), "stale {line} left in\n{written}");
    }
    let journal = std::fs::read_to_string(journal_file(&plan)).unwrap();
    assert!(!journal.contains("PRIVATE KEY"), "{journal}");

    // A real, strict ssh logs in to each with that file alone.
    for port in &ports {
        strict_ssh(&known_hosts, &identity, *port);
    }

    // `fleet status`: the stage and fingerprint, in JSON and in the table.
    let status = fleet
        .fleet(&["status", plan.to_str().unwrap(), "--output", "json"])
        .run();
    status.code(0);
    let rows = status.json();
    let row = reimage_e2e::find(&rows["targets"], "target", &key(SERVER_1)).unwrap();
    assert_eq!(row["state"], "done");
    assert_eq!(row["stage"], "ssh");
    assert_eq!(
        row["host_keys"][0]["fingerprint"],
        latest[&key(SERVER_1)]["after"]["host_keys"][0]["fingerprint"]
    );
    assert_eq!(row["cloud_init"], Value::Null);
    let table = fleet.fleet(&["status", plan.to_str().unwrap()]).run();
    table.code(0);
    assert!(table.stdout.contains("host key"), "{table}");
    let first = latest[&key(SERVER_1)]["after"]["host_keys"][0]["fingerprint"]
        .as_str()
        .unwrap();
    assert!(table.stdout.contains(first), "{table}");
}

#[test]
fn a_rerun_resumes_a_target_at_its_stage_without_sending_again() {
    let fleet = Fleet::new("fleet-after-resume");
    let _guard = SshdGuard(&fleet.emulator, vec![SERVER_1]);
    let (identity, public) = user_key(&fleet.dir);
    let port = attach(&fleet.emulator, SERVER_1, &public);
    let plan = fleet.plan(
        "wait = \"ssh\"\nknown_hosts = \"known_hosts\"",
        &[(SERVER_1, port, "")],
    );
    let known_hosts = fleet.dir.path().join("known_hosts");
    fleet.apply(&plan).code(0);
    assert_eq!(fleet.reinstalls(SERVER_1), 1);
    let done = journal_latest(&plan)[&key(SERVER_1)].clone();

    // As a run that died after the job and before the stages leaves it: `job_done` at stage
    // job, and known_hosts without the key.
    std::fs::write(&known_hosts, "").unwrap();
    let mut record = json!({
        "key": key(SERVER_1),
        "at_ms": now_ms(),
        "state": "job_done",
        "summary": "ACTIVE, image ?",
        "after": {"reached": "job"},
    });
    record["fingerprint"] = done["fingerprint"].clone();
    append_journal(&plan, &record);
    let status = fleet.fleet(&["status", plan.to_str().unwrap()]).run();
    status.code(0);
    assert!(status.stdout.contains("job_done"), "{status}");

    let out = fleet.apply(&plan);
    out.code(0);
    assert_eq!(fleet.reinstalls(SERVER_1), 1, "nothing is sent again");
    let latest = &journal_latest(&plan)[&key(SERVER_1)];
    assert_eq!(latest["state"], "done", "{latest}");
    assert_eq!(latest["after"]["reached"], "ssh", "{latest}");
    assert_eq!(latest["after"]["host_keys"], done["after"]["host_keys"]);
    strict_ssh(&known_hosts, &identity, port);
}

/// A target resumed after its job follows the plan as it is now: set to `wait = "job"` (the fix
/// the stage failures suggest), it ends done without the stages, and nothing is sent again.
#[test]
fn a_resumed_target_whose_plan_now_says_wait_job_skips_the_stages() {
    let fleet = Fleet::new("fleet-after-resume-job");
    // The server is reached on loopback (an sshd attached), but the plan's port has no SSH
    // server: the ssh stage would fail there, so the test fails if the stages run.
    let _guard = SshdGuard(&fleet.emulator, vec![SERVER_1]);
    let (_identity, public) = user_key(&fleet.dir);
    let _port = attach(&fleet.emulator, SERVER_1, &public);
    let plan = fleet.plan("wait = \"job\"", &[(SERVER_1, 1, "")]);
    fleet.apply(&plan).code(0);
    assert_eq!(fleet.reinstalls(SERVER_1), 1);
    let done = journal_latest(&plan)[&key(SERVER_1)].clone();
    let mut record = json!({
        "key": key(SERVER_1),
        "at_ms": now_ms(),
        "state": "job_done",
        "summary": "ACTIVE, image ?",
        "after": {"reached": "job"},
    });
    record["fingerprint"] = done["fingerprint"].clone();
    append_journal(&plan, &record);
    let out = fleet.apply(&plan);
    out.code(0);
    assert_eq!(fleet.reinstalls(SERVER_1), 1, "nothing is sent again");
    let latest = &journal_latest(&plan)[&key(SERVER_1)];
    assert_eq!(latest["state"], "done", "{latest}");
}

#[test]
fn cloud_init_errors_give_the_target_its_own_state_and_exit_code_10() {
    let fleet = Fleet::new("fleet-after-ci");
    let _guard = SshdGuard(&fleet.emulator, vec![SERVER_1]);
    let (_, public) = user_key(&fleet.dir);
    let port = attach(&fleet.emulator, SERVER_1, &public);
    fleet.emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "cloud_init_error",
        "params": {"module": "scripts_user"},
        "times": 1,
    }));
    let plan = fleet.plan(
        "wait = \"cloud-init\"\nknown_hosts = \"known_hosts\"",
        &[(SERVER_1, port, "")],
    );
    let out = fleet.apply(&plan);
    out.code(10);
    let summary = out.json();
    assert_eq!(summary["cloud_init_errors"], 1, "{out}");
    assert_eq!(
        summary["targets"][0]["outcome"], "cloud-init errors",
        "{out}"
    );
    assert!(
        summary["targets"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("module scripts_user failed"),
        "{out}"
    );
    let latest = &journal_latest(&plan)[&key(SERVER_1)];
    assert_eq!(latest["state"], "cloud_init_errors", "{latest}");
    assert_eq!(latest["after"]["reached"], "cloud-init", "{latest}");
    assert_eq!(latest["after"]["cloud_init"]["status"], "error", "{latest}");
    assert!(
        latest["after"]["cloud_init"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "module scripts_user failed"),
        "{latest}"
    );
    // The key was verified before the verdict, and written.
    assert!(!latest["after"]["host_keys"].as_array().unwrap().is_empty());
    let written = std::fs::read_to_string(fleet.dir.path().join("known_hosts")).unwrap();
    for line in keyscan(port) {
        assert!(written.contains(&line), "{line} missing in\n{written}");
    }

    let status = fleet
        .fleet(&["status", plan.to_str().unwrap(), "--output", "json"])
        .run();
    status.code(0);
    let row = &status.json()["targets"][0];
    assert_eq!(row["state"], "cloud_init_errors");
    assert_eq!(row["stage"], "cloud-init");
    assert_eq!(row["cloud_init"]["status"], "error");
    let table = fleet.fleet(&["status", plan.to_str().unwrap()]).run();
    assert!(table.stdout.contains("1 cloud_init_errors"), "{table}");

    // A rerun leaves it: final, like done.
    let again = fleet.apply(&plan);
    again.code(0);
    assert_eq!(
        again.json()["targets"][0]["outcome"],
        "done before",
        "{again}"
    );
    assert_eq!(fleet.reinstalls(SERVER_1), 1);
}

#[test]
fn an_image_without_cloud_init_fails_before_anything_is_sent_when_the_stages_are_asked() {
    let fleet = Fleet::new("fleet-after-nci");
    let plan = fleet.plan(
        "wait = \"ssh\"\nknown_hosts = \"none\"",
        &[(
            SERVER_1,
            22,
            &format!("operation = \"change-os\"\nimage = \"{IMAGE_NO_CLOUD_INIT}\""),
        )],
    );
    let out = fleet.apply(&plan);
    out.code(1);
    let summary = out.json();
    assert_eq!(summary["targets"][0]["outcome"], "failed", "{out}");
    let detail = summary["targets"][0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("not sent: image"), "{out}");
    assert!(detail.contains("wait = \"job\""), "{out}");
    assert!(
        fleet
            .emulator
            .requests_of("ecs.changeos_without_cloud_init")
            .is_empty()
    );
    assert!(fleet.emulator.requests_of("ecs.changeos").is_empty());
}

#[test]
fn a_key_that_is_not_the_consoles_fails_the_target_and_retry_failed_resumes_without_sending() {
    let fleet = Fleet::new("fleet-after-wrong");
    let _guard = SshdGuard(&fleet.emulator, vec![SERVER_1, SERVER_2]);
    let (identity, public) = user_key(&fleet.dir);
    let port_1 = attach(&fleet.emulator, SERVER_1, &public);
    let port_2 = attach(&fleet.emulator, SERVER_2, &public);
    let seeded = "# the user's own line\n";
    let known_hosts = fleet.dir.write("known_hosts", seeded);

    // Server 1's sshd answers where server 2 is looked for: someone else's key.
    let plan = fleet.plan(
        "wait = \"ssh\"\nknown_hosts = \"known_hosts\"",
        &[(SERVER_2, port_1, "")],
    );
    let out = fleet.apply(&plan);
    out.code(1);
    let summary = out.json();
    assert_eq!(summary["targets"][0]["outcome"], "failed", "{out}");
    let detail = summary["targets"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("host key of 127.0.0.1 port {port_1} refused")),
        "{out}"
    );
    assert!(detail.contains("known_hosts was not changed"), "{out}");
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), seeded);
    let latest = &journal_latest(&plan)[&key(SERVER_2)];
    assert_eq!(latest["state"], "failed", "{latest}");
    assert_eq!(latest["after"]["reached"], "job", "{latest}");
    assert!(latest["after"].get("host_keys").is_none(), "{latest}");
    assert_eq!(fleet.reinstalls(SERVER_2), 1);

    // The port put right: --retry-failed takes it up at its stage; nothing is sent again.
    let plan = fleet.plan(
        "wait = \"ssh\"\nknown_hosts = \"known_hosts\"",
        &[(SERVER_2, port_2, "")],
    );
    let out = fleet
        .fleet(&["apply", plan.to_str().unwrap(), "--yes", "--retry-failed"])
        .args(["--settle", "0", "--poll-ms", "20", "--output", "json"])
        .run();
    out.code(0);
    assert_eq!(out.json()["done"], 1, "{out}");
    assert_eq!(fleet.reinstalls(SERVER_2), 1, "nothing is sent again");
    let latest = &journal_latest(&plan)[&key(SERVER_2)];
    assert_eq!(latest["state"], "done", "{latest}");
    assert_eq!(latest["after"]["reached"], "ssh", "{latest}");
    let written = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(written.starts_with(seeded), "{written}");
    strict_ssh(&known_hosts, &identity, port_2);
}
