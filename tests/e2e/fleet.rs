//! `reimage fleet …` through the built binary against the emulator, deterministically: `check`
//! on good and bad plans; `apply` on a mixed fleet (each server re-imaged once, checked on the
//! emulator's state), a locked server that fails alone, `--fail-fast`, `--retry-failed`, a rerun
//! that sends nothing, a `429` with `Retry-After`; `status`; and the resume rules, from journal
//! records written by hand before `apply` (`sending` with and without evidence, `sent` with a
//! job, `unknown`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use reimage_e2e::{
    Emulator, FleetTarget, IMAGE_DEBIAN, IMAGE_UBUNTU, KVM_1, KVM_2, Output, Reimage, SERVER_1,
    SERVER_2, SERVER_LOCKED, TempDir, aksk_env, append_journal, count, journal_latest, now_ms,
    reimage, write_config, write_fleet_plan,
};
use serde_json::{Value, json};

/// An ECS reinstall takes about 0.45 s here, a change of OS 0.75 s, an EDIS reinstall 1.5 s.
const TIME_SCALE: f64 = 0.005;

/// The default fixtures' emulator, a directory for the plan, and a config profile for both
/// providers in `dir/config`.
struct Fleet {
    emulator: Emulator,
    dir: TempDir,
}

impl Fleet {
    fn new() -> Self {
        Self::at(TIME_SCALE)
    }

    fn at(time_scale: f64) -> Self {
        let emulator = Emulator::start(time_scale);
        let dir = TempDir::new("fleet");
        write_config(&dir.path().join("config"), &emulator);
        Self { emulator, dir }
    }

    fn plan(&self, name: &str, targets: &[FleetTarget]) -> PathBuf {
        write_fleet_plan(&self.dir, name, targets)
    }

    /// `reimage fleet <args…>` with the profile.
    fn fleet(&self, args: &[&str]) -> Reimage {
        reimage(["fleet"])
            .args(args)
            .config_home(&self.dir.path().join("config"))
    }

    /// `reimage fleet apply PLAN --yes` with quick polls and no settling time, as JSON.
    fn apply(&self, plan: &Path, extra: &[&str]) -> Output {
        self.fleet(&["apply", plan.to_str().unwrap(), "--yes"])
            .args([
                "--settle",
                "0",
                "--poll-ms",
                "20",
                "--rate",
                "200",
                "--output",
                "json",
            ])
            .args(extra)
            .run()
    }

    fn server(&self, id: &str) -> Value {
        self.emulator.server(id)
    }

    fn reinstalls(&self, id: &str) -> u64 {
        count(&self.server(id), "reinstalls_applied")
    }
}

fn ecs(id: &str) -> FleetTarget {
    FleetTarget::Ecs(id.to_owned())
}

fn edis(kvm: &str) -> FleetTarget {
    FleetTarget::Edis(kvm.to_owned(), "cloudinit_debian-bookworm".to_owned())
}

fn change_os(id: &str, image: &str) -> FleetTarget {
    FleetTarget::ChangeOs(id.to_owned(), image.to_owned())
}

/// The outcome of `target` in `apply --output json`'s summary.
fn outcome(out: &Output, target: &FleetTarget) -> (String, String) {
    let json = out.json();
    let row = reimage_e2e::find(&json["targets"], "target", &target.key())
        .unwrap_or_else(|| panic!("{} in the summary\n{out}", target.key()));
    (
        row["outcome"].as_str().unwrap().to_owned(),
        row["detail"].as_str().unwrap().to_owned(),
    )
}

/// The successful calls of `operation` in the request log.
fn accepted(emulator: &Emulator, operation: &str) -> usize {
    emulator
        .requests_of(operation)
        .iter()
        .filter(|r| r["status"] == 200)
        .count()
}

/// A `sending` record for an ECS target with the server's state (from the admin API) as the
/// baseline, made `age_ms` ago.
fn ecs_sending(target: &FleetTarget, server: &Value, age_ms: u64) -> Value {
    json!({
        "key": target.key(),
        "at_ms": now_ms() - age_ms,
        "state": "sending",
        "operation": "ecs.reinstallos",
        "baseline": {
            "updated": server["updated"],
            "launched_at": server["launched_at"],
            "status": server["status"],
        },
    })
}

#[test]
fn check_prints_a_table_or_json_and_exits_3_on_problems() {
    let f = Fleet::new();
    let good = f.plan(
        "good.toml",
        &[
            ecs(SERVER_1),
            change_os(SERVER_2, IMAGE_UBUNTU),
            edis(KVM_1),
        ],
    );
    let out = f.fleet(&["check", good.to_str().unwrap()]).run();
    out.code(0);
    for (key, word) in [
        (ecs(SERVER_1).key(), "reinstall"),
        (change_os(SERVER_2, IMAGE_UBUNTU).key(), "change-os"),
        (edis(KVM_1).key(), "reinstall"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&key))
            .unwrap_or_else(|| panic!("a row for {key}\n{out}"));
        assert!(
            line.contains(word) && line.ends_with("ready"),
            "{line}\n{out}"
        );
    }
    assert!(
        out.stdout.contains("3 targets: 3 ready, 0 with problems"),
        "{out}"
    );

    let out = f
        .fleet(&["check", good.to_str().unwrap(), "--output", "json"])
        .run();
    out.code(0);
    let json = out.json();
    assert_eq!(
        json["summary"],
        json!({"ready": 3, "targets": 3, "with_problems": 0})
    );
    let row = reimage_e2e::find(
        &json["targets"],
        "key",
        &change_os(SERVER_2, IMAGE_UBUNTU).key(),
    )
    .unwrap();
    assert_eq!(row["image"], IMAGE_UBUNTU, "{out}");
    assert_eq!(row["provider"], "ecs", "{out}");
    assert_eq!(row["ready"], true, "{out}");

    // User data that cloud-init refuses, and a password file that is not there: exit 3, the
    // problems on their rows, the good target still ready. Nothing was sent.
    f.dir.write("bad.yaml", "#cloud-config\nruncmd: 5\n");
    let bad = f.dir.write(
        "bad.toml",
        format!(
            "[defaults]\nadmin_password_file = \"admin.pw\"\nroot_password_file = \"root.pw\"\n\n\
             [[targets]]\necs = \"{SERVER_1}\"\nuser_data = \"bad.yaml\"\n\n\
             [[targets]]\nedis = \"{KVM_1}\"\nimage = \"cloudinit_debian-bookworm\"\n\
             root_password_file = \"missing.pw\"\n\n\
             [[targets]]\necs = \"{SERVER_2}\"\n"
        ),
    );
    let out = f.fleet(&["check", bad.to_str().unwrap()]).run();
    out.code(3);
    assert!(
        out.stdout.contains("3 targets: 1 ready, 2 with problems"),
        "{out}"
    );
    let out = f
        .fleet(&["check", bad.to_str().unwrap(), "--output", "json"])
        .run();
    out.code(3);
    let json = out.json();
    assert_eq!(json["summary"]["with_problems"], 2, "{out}");
    let problems = |key: &str| {
        reimage_e2e::find(&json["targets"], "key", key).unwrap()["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(problems(&ecs(SERVER_1).key()).contains("runcmd"), "{out}");
    assert!(problems(&edis(KVM_1).key()).contains("missing.pw"), "{out}");
    assert_eq!(problems(&ecs(SERVER_2).key()), "", "{out}");

    // `apply` refuses the same plan with the same exit code, before sending anything.
    let out = f.apply(&bad, &[]);
    out.code(3);
    assert!(out.stderr.contains("nothing was sent"), "{out}");
    assert!(f.emulator.requests().is_empty(), "no request at all");

    // A plan that does not load (an id that is not a UUID) is a usage error.
    let broken = f.dir.write(
        "broken.toml",
        "[[targets]]\necs = \"not-a-uuid\"\nadmin_password_file = \"admin.pw\"\n",
    );
    let out = f.fleet(&["check", broken.to_str().unwrap()]).run();
    out.code(2);
    assert!(out.stderr.contains("targets[0].ecs"), "{out}");
}

#[test]
fn apply_reimages_each_target_once_and_a_rerun_sends_nothing() {
    let f = Fleet::new();
    let targets = [
        ecs(SERVER_1),
        change_os(SERVER_2, IMAGE_UBUNTU),
        edis(KVM_1),
    ];
    let plan = f.plan("plan.toml", &targets);
    let out = f.apply(&plan, &[]);
    out.code(0);
    let json = out.json();
    assert_eq!(json["done"], 3, "{out}");
    assert_eq!(json["failed"], 0, "{out}");
    for target in &targets {
        assert_eq!(outcome(&out, target).0, "done", "{out}");
    }
    assert!(outcome(&out, &targets[1]).1.contains(IMAGE_UBUNTU), "{out}");

    let one = f.server(SERVER_1);
    assert_eq!(count(&one, "reinstalls_applied"), 1, "{one}");
    assert_eq!(count(&one, "os_changes_applied"), 0, "{one}");
    assert_eq!(one["image_id"], IMAGE_DEBIAN, "{one}");
    let two = f.server(SERVER_2);
    assert_eq!(count(&two, "os_changes_applied"), 1, "{two}");
    assert_eq!(count(&two, "reinstalls_applied"), 0, "{two}");
    assert_eq!(two["image_id"], IMAGE_UBUNTU, "{two}");
    assert_eq!(two["status"], "ACTIVE", "{two}");
    let kvm = f.emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
    assert_eq!(kvm["powered_on"], true, "{kvm}");
    assert_eq!(
        f.emulator.state()["ecs"]["jobs"].as_array().unwrap().len(),
        2
    );

    // The journal says done for each; `status` shows it, as a table and as JSON.
    let latest = journal_latest(&plan);
    for target in &targets {
        assert_eq!(latest[&target.key()]["state"], "done", "{latest:?}");
    }
    let out = f.fleet(&["status", plan.to_str().unwrap()]).run();
    out.code(0);
    for target in &targets {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&target.key()))
            .unwrap_or_else(|| panic!("a row for {}\n{out}", target.key()));
        assert!(line.contains(" done "), "{line}\n{out}");
    }
    assert!(
        out.stdout
            .contains("3 targets: 0 pending, 0 sending, 0 sent, 3 done, 0 failed, 0 unknown"),
        "{out}"
    );
    let out = f
        .fleet(&["status", plan.to_str().unwrap(), "--output", "json"])
        .run();
    out.code(0);
    let rows = out.json()["targets"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{out}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "done"),
        "{out}"
    );

    // A rerun finds everything done and sends nothing at all.
    let before = f.emulator.requests().len();
    let out = f.apply(&plan, &[]);
    out.code(0);
    let json = out.json();
    assert_eq!(json["done_before"], 3, "{out}");
    assert_eq!(json["done"], 0, "{out}");
    assert_eq!(
        f.emulator.requests().len(),
        before,
        "the rerun sent nothing"
    );
    assert_eq!(accepted(&f.emulator, "ecs.reinstallos"), 1);
    assert_eq!(accepted(&f.emulator, "ecs.changeos"), 1);
    assert_eq!(accepted(&f.emulator, "edis.reinstall"), 1);
    assert_eq!(f.reinstalls(SERVER_1), 1);
}

#[test]
fn a_locked_server_fails_alone_and_is_retried_only_when_asked() {
    let f = Fleet::new();
    let targets = [ecs(SERVER_LOCKED), ecs(SERVER_1), ecs(SERVER_2)];
    let plan = f.plan("plan.toml", &targets);
    let out = f.apply(&plan, &["--concurrency", "1"]);
    out.code(1);
    let (word, detail) = outcome(&out, &targets[0]);
    assert_eq!(word, "failed", "{out}");
    assert!(detail.contains("Ecs.0605"), "{out}");
    assert_eq!(outcome(&out, &targets[1]).0, "done", "{out}");
    assert_eq!(outcome(&out, &targets[2]).0, "done", "{out}");
    assert_eq!(f.reinstalls(SERVER_LOCKED), 0);
    assert_eq!(f.reinstalls(SERVER_1), 1);
    assert_eq!(f.reinstalls(SERVER_2), 1);
    assert_eq!(journal_latest(&plan)[&targets[0].key()]["state"], "failed");

    // A rerun does not try the failed one again (exit 1: it is still not done)…
    let tried = f.emulator.requests_of("ecs.reinstallos").len();
    let out = f.apply(&plan, &[]);
    out.code(1);
    let (word, detail) = outcome(&out, &targets[0]);
    assert_eq!(word, "skipped", "{out}");
    assert!(detail.contains("--retry-failed"), "{out}");
    assert_eq!(out.json()["done_before"], 2, "{out}");
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), tried);

    // …unless asked to: it is sent again, refused again, and the others stay done.
    let out = f.apply(&plan, &["--retry-failed"]);
    out.code(1);
    let (word, detail) = outcome(&out, &targets[0]);
    assert_eq!(word, "failed", "{out}");
    assert!(detail.contains("Ecs.0605"), "{out}");
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), tried + 1);
    assert_eq!(f.reinstalls(SERVER_1), 1);
    assert_eq!(f.reinstalls(SERVER_2), 1);
}

#[test]
fn fail_fast_starts_nothing_after_the_first_failure() {
    let f = Fleet::new();
    let targets = [ecs(SERVER_LOCKED), ecs(SERVER_1), ecs(SERVER_2)];
    let plan = f.plan("plan.toml", &targets);
    let out = f.apply(&plan, &["--concurrency", "1", "--fail-fast"]);
    out.code(1);
    let json = out.json();
    assert_eq!(json["failed"], 1, "{out}");
    assert_eq!(json["skipped"], 2, "{out}");
    assert_eq!(outcome(&out, &targets[0]).0, "failed", "{out}");
    for target in &targets[1..] {
        let (word, detail) = outcome(&out, target);
        assert_eq!(word, "skipped", "{out}");
        assert!(detail.contains("--fail-fast"), "{out}");
    }
    assert_eq!(f.reinstalls(SERVER_1), 0);
    assert_eq!(f.reinstalls(SERVER_2), 0);
    assert_eq!(
        f.emulator.requests_of("ecs.reinstallos").len(),
        1,
        "only the locked one"
    );
    let latest = journal_latest(&plan);
    assert!(!latest.contains_key(&targets[1].key()), "{latest:?}");

    // The skipped ones were never started: a rerun without --fail-fast does them.
    let out = f.apply(&plan, &[]);
    out.code(1);
    assert_eq!(out.json()["done"], 2, "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 1);
    assert_eq!(f.reinstalls(SERVER_2), 1);
}

#[test]
fn a_throttled_reinstall_waits_for_retry_after_and_succeeds() {
    let f = Fleet::new();
    f.emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "throttle",
        "params": {"retry_after_secs": 1},
        "calls": [1],
    }));
    let targets = [ecs(SERVER_1), ecs(SERVER_2)];
    let plan = f.plan("plan.toml", &targets);
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(out.json()["done"], 2, "{out}");
    assert!(
        out.elapsed >= Duration::from_secs(1),
        "Retry-After: 1 held the run back\n{out}"
    );
    let calls = f.emulator.requests_of("ecs.reinstallos");
    let statuses: Vec<u64> = calls
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!((throttled, ok), (1, 2), "{statuses:?}");
    assert_eq!(f.reinstalls(SERVER_1), 1);
    assert_eq!(f.reinstalls(SERVER_2), 1);
}

#[test]
fn resume_sending_without_a_sign_of_arrival_sends_it() {
    let f = Fleet::new();
    let targets = [ecs(SERVER_1), edis(KVM_1)];
    let plan = f.plan("plan.toml", &targets);
    // The last run died after journaling `sending` and before the request left: the server
    // and the KVM are as they were.
    append_journal(
        &plan,
        &ecs_sending(&targets[0], &f.server(SERVER_1), 60_000),
    );
    append_journal(
        &plan,
        &json!({
            "key": targets[1].key(),
            "at_ms": now_ms() - 60_000,
            "state": "sending",
            "operation": "edis.reinstall",
            "baseline": {"power": "server powered on"},
        }),
    );
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(out.json()["done"], 2, "{out}");
    assert!(out.stderr.contains("resuming from the journal"), "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 1);
    assert_eq!(accepted(&f.emulator, "ecs.reinstallos"), 1);
    assert_eq!(count(&f.emulator.kvm(KVM_1), "reinstalls_applied"), 1);
    assert_eq!(accepted(&f.emulator, "edis.reinstall"), 1);
}

#[test]
fn resume_of_an_old_edis_send_to_a_kvm_still_on_is_unknown_not_resent() {
    let f = Fleet::new();
    let targets = [edis(KVM_1)];
    let plan = f.plan("plan.toml", &targets);
    // Ten minutes ago, longer than an install takes: the KVM being on as before may mean the
    // install never began, or that it began and finished. Sending again could wipe it twice.
    append_journal(
        &plan,
        &json!({
            "key": targets[0].key(),
            "at_ms": now_ms() - 600_000,
            "state": "sending",
            "operation": "edis.reinstall",
            "baseline": {"power": "server powered on"},
        }),
    );
    let out = f.apply(&plan, &[]);
    out.code(6);
    let (word, detail) = outcome(&out, &targets[0]);
    assert_eq!(word, "unknown", "{out}");
    assert!(detail.contains("not re-sent"), "{out}");
    assert_eq!(count(&f.emulator.kvm(KVM_1), "reinstalls_applied"), 0);
    assert_eq!(f.emulator.requests_of("edis.reinstall").len(), 0);
}

#[test]
fn resume_sending_with_evidence_follows_it_and_sends_nothing() {
    // A reinstall takes 1.8 s here: long enough to see SERVER_2 in REBUILD for sure.
    let f = Fleet::at(0.02);
    let targets = [ecs(SERVER_1), ecs(SERVER_2)];
    let plan = f.plan("plan.toml", &targets);
    let password = f.dir.path().join("admin.pw");
    let baselines = [f.server(SERVER_1), f.server(SERVER_2)];

    // The last run's requests arrived, and their answers were lost with the process: SERVER_1
    // finished its rebuild since (its launch time moved on), SERVER_2 is still in REBUILD.
    let direct = |server: &str, wait: bool| {
        let mut run = reimage(["ecs", "--endpoint", f.emulator.base_url(), "reinstall"])
            .args(["--server", server, "--admin-password-file"])
            .arg(&password)
            .arg("--yes")
            .envs(aksk_env());
        if wait {
            run = run.arg("--wait");
        }
        run.run().code(0);
    };
    direct(SERVER_1, true);
    direct(SERVER_2, false);
    assert_eq!(f.server(SERVER_1)["status"], "ACTIVE");
    assert_eq!(f.server(SERVER_2)["status"], "REBUILD");
    for (target, baseline) in targets.iter().zip(&baselines) {
        append_journal(&plan, &ecs_sending(target, baseline, 60_000));
    }

    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(out.json()["done"], 2, "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 1, "not sent again");
    assert_eq!(f.reinstalls(SERVER_2), 1, "not sent again");
    assert_eq!(
        f.emulator.requests_of("ecs.reinstallos").len(),
        2,
        "the direct ones only"
    );
    assert_eq!(
        f.server(SERVER_2)["status"],
        "ACTIVE",
        "followed to its end"
    );
    // The journal kept the evidence it followed.
    let records = reimage_e2e::journal_records(&plan);
    for target in &targets {
        let sent = records
            .iter()
            .find(|r| r["key"] == target.key() && r["state"] == "sent")
            .unwrap_or_else(|| panic!("a sent record for {}: {records:?}", target.key()));
        assert!(sent["evidence"].as_str().is_some(), "{sent}");
        assert!(sent.get("job_id").is_none(), "{sent}");
    }
}

#[test]
fn resume_sent_follows_its_job_and_sends_nothing() {
    let f = Fleet::new();
    let targets = [ecs(SERVER_1)];
    let plan = f.plan("plan.toml", &targets);
    let password = f.dir.path().join("admin.pw");
    let baseline = f.server(SERVER_1);
    let out = reimage(["ecs", "--endpoint", f.emulator.base_url(), "reinstall"])
        .args(["--server", SERVER_1, "--yes", "--output", "json"])
        .arg("--admin-password-file")
        .arg(&password)
        .envs(aksk_env())
        .run();
    out.code(0);
    let job = out.json()["job_id"].as_str().unwrap().to_owned();
    append_journal(&plan, &ecs_sending(&targets[0], &baseline, 60_000));
    append_journal(
        &plan,
        &json!({
            "key": targets[0].key(),
            "at_ms": now_ms() - 59_000,
            "state": "sent",
            "operation": "ecs.reinstallos",
            "job_id": job,
            "baseline": {
                "updated": baseline["updated"],
                "launched_at": baseline["launched_at"],
                "status": baseline["status"],
            },
        }),
    );
    let polls_before = f.emulator.requests_of("ecs.show_job").len();
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(outcome(&out, &targets[0]).0, "done", "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 1, "not sent again");
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), 1);
    let polls: Vec<Value> = f.emulator.requests_of("ecs.show_job");
    assert!(polls.len() > polls_before, "it polled the job");
    assert!(
        polls
            .iter()
            .all(|r| r["path"].as_str().unwrap().ends_with(&job)),
        "{polls:?}"
    );
    assert_eq!(f.server(SERVER_1)["status"], "ACTIVE");
}

#[test]
fn resume_unknown_is_reported_and_never_sent() {
    let f = Fleet::new();
    let targets = [ecs(SERVER_1), ecs(SERVER_2), edis(KVM_2)];
    let plan = f.plan("plan.toml", &targets);
    append_journal(
        &plan,
        &json!({
            "key": targets[0].key(),
            "at_ms": now_ms() - 60_000,
            "state": "unknown",
            "reason": "the answer was lost and the server showed no sign of it",
        }),
    );
    // KVM_2 is powered off: a `sending` for it cannot be judged by its power state.
    append_journal(
        &plan,
        &json!({
            "key": targets[2].key(),
            "at_ms": now_ms() - 60_000,
            "state": "sending",
            "operation": "edis.reinstall",
            "baseline": {"power": "server powered off"},
        }),
    );
    let out = f.apply(&plan, &[]);
    out.code(6);
    let (word, detail) = outcome(&out, &targets[0]);
    assert_eq!(word, "unknown", "{out}");
    assert!(detail.contains("earlier run"), "{out}");
    assert_eq!(outcome(&out, &targets[1]).0, "done", "{out}");
    let (word, detail) = outcome(&out, &targets[2]);
    assert_eq!(word, "unknown", "{out}");
    assert!(detail.contains("powered off"), "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 0, "never sent");
    assert_eq!(f.reinstalls(SERVER_2), 1);
    assert_eq!(count(&f.emulator.kvm(KVM_2), "reinstalls_applied"), 0);
    assert_eq!(f.emulator.requests_of("edis.reinstall").len(), 0);
    assert!(
        f.emulator
            .requests_of("ecs.reinstallos")
            .iter()
            .all(|r| !r["path"].as_str().unwrap().contains(SERVER_1)),
        "nothing sent for SERVER_1"
    );
    let latest = journal_latest(&plan);
    assert_eq!(latest[&targets[2].key()]["state"], "unknown", "{latest:?}");

    // And again on the next run: still unknown, still not sent.
    let out = f.apply(&plan, &[]);
    out.code(6);
    assert_eq!(outcome(&out, &targets[2]).0, "unknown", "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 0);
    assert_eq!(count(&f.emulator.kvm(KVM_2), "reinstalls_applied"), 0);
}

/// ECS deletes a finished job a day later: a fleet resumed after that, with `sent` records whose
/// jobs are gone, follows the servers instead and finishes with every server re-imaged once.
#[test]
fn a_fleet_resumed_after_its_jobs_expired_finishes_without_a_second_reinstall() {
    // The emulator deletes finished jobs 1 s (emulated; 5 ms here) after they end.
    let emulator = Emulator::start_with_args(TIME_SCALE, &["--job-retention", "1s"]);
    let dir = TempDir::new("fleet-expired");
    write_config(&dir.path().join("config"), &emulator);
    let f = Fleet { emulator, dir };
    let targets = [ecs(SERVER_1)];
    let plan = f.plan("plan.toml", &targets);
    let password = f.dir.path().join("admin.pw");
    let baseline = f.server(SERVER_1);
    let out = reimage(["ecs", "--endpoint", f.emulator.base_url(), "reinstall"])
        .args(["--server", SERVER_1, "--yes", "--output", "json"])
        .arg("--admin-password-file")
        .arg(&password)
        .envs(aksk_env())
        .run();
    out.code(0);
    let job = out.json()["job_id"].as_str().unwrap().to_owned();
    append_journal(&plan, &ecs_sending(&targets[0], &baseline, 60_000));
    append_journal(
        &plan,
        &json!({
            "key": targets[0].key(),
            "at_ms": now_ms() - 59_000,
            "state": "sent",
            "operation": "ecs.reinstallos",
            "job_id": job,
            "baseline": {
                "updated": baseline["updated"],
                "launched_at": baseline["launched_at"],
                "status": baseline["status"],
            },
        }),
    );
    // Wait (bounded) until ECS no longer knows the job.
    let mut tries = 0;
    loop {
        let out = reimage(["ecs", "--endpoint", f.emulator.base_url(), "job", &job])
            .envs(aksk_env())
            .run();
        if out.stderr.contains("most likely expired") {
            break;
        }
        tries += 1;
        assert!(tries < 200, "the job never expired\n{out}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(outcome(&out, &targets[0]).0, "done", "{out}");
    assert_eq!(f.reinstalls(SERVER_1), 1, "not sent again");
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), 1);
}
