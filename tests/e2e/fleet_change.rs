//! `reimage fleet` as a person really uses it, through the built binary against the emulator: a
//! plan edited after a run (the changed target stops `apply` before anything is sent; `check`
//! and `status` show it), `apply --new-run` (everything re-imaged again, the old journal kept
//! beside the new one), `fleet resolve` (an unknown target settled by hand, with the evidence
//! first), the accounts named before the question, and Ctrl-C (the send in flight gets its
//! journal record, then the summary, the command that resumes, and exit 130).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reimage_e2e::{
    AK, EDIS_EMAIL, Emulator, IMAGE_DEBIAN, IMAGE_UBUNTU, KVM_1, Output, PROJECT_ID, Reimage,
    SERVER_1, SERVER_2, TempDir, aksk_env, append_journal, count, edis_env, journal_file,
    journal_latest, now_ms, reimage, write_config,
};
use serde_json::{Value, json};

/// An ECS reinstall takes about 0.45 s here, a change of OS 0.75 s, an EDIS reinstall 1.5 s.
const TIME_SCALE: f64 = 0.005;

/// The emulator with the default fixtures, a directory for the plan and its files, and a config
/// profile for both providers in `dir/config`.
struct Fleet {
    emulator: Emulator,
    dir: TempDir,
}

impl Fleet {
    fn new(time_scale: f64) -> Self {
        let emulator = Emulator::start(time_scale);
        let dir = TempDir::new("fleet-change");
        write_config(&dir.path().join("config"), &emulator);
        dir.write("admin.pw", reimage_e2e::ADMIN_PASSWORD);
        dir.write("root.pw", reimage_e2e::ROOT_PASSWORD);
        Self { emulator, dir }
    }

    /// Writes `plan.toml`: the password files, `defaults` (more keys of `[defaults]`), then the
    /// targets; its path. Writing again replaces it, as a person editing the plan does.
    fn plan(&self, defaults: &str, targets: &[Target]) -> PathBuf {
        let mut text = format!(
            "[defaults]\nadmin_password_file = \"admin.pw\"\nroot_password_file = \"root.pw\"\n\
             {defaults}"
        );
        for target in targets {
            text.push_str(&target.toml);
        }
        self.dir.write("plan.toml", text)
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

    /// `reimage fleet resolve PLAN TARGET <args…>`.
    fn resolve(&self, plan: &Path, target: &str, args: &[&str]) -> Output {
        self.fleet(&["resolve", plan.to_str().unwrap(), target])
            .args(args)
            .run()
    }
}

/// A `[[targets]]` entry and its key.
struct Target {
    key: String,
    toml: String,
}

fn ecs(id: &str) -> Target {
    Target {
        key: format!("ecs:{id}"),
        toml: format!("\n[[targets]]\necs = \"{id}\"\n"),
    }
}

fn change_os(id: &str, image: &str) -> Target {
    Target {
        key: format!("ecs:{id}"),
        toml: format!(
            "\n[[targets]]\necs = \"{id}\"\noperation = \"change-os\"\nimage = \"{image}\"\n"
        ),
    }
}

fn edis(kvm: &str) -> Target {
    Target {
        key: format!("edis:{kvm}"),
        toml: format!("\n[[targets]]\nedis = \"{kvm}\"\nimage = \"cloudinit_debian-bookworm\"\n"),
    }
}

/// A second re-image of a server finds it running: the plans that re-image twice stop it first.
const STOP_FIRST: &str = "mode = \"with-stop-server\"\n";

/// The outcome of `key` in `apply --output json`'s summary.
fn outcome(out: &Output, key: &str) -> String {
    let json = out.json();
    let row = reimage_e2e::find(&json["targets"], "target", key)
        .unwrap_or_else(|| panic!("{key} in the summary\n{out}"));
    row["outcome"].as_str().unwrap().to_owned()
}

/// The bytes of a file, or a panic naming it.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// An `unknown` record for `key`, made a minute ago, after a `sending` one with `server`'s state
/// (from the admin API) as its baseline.
fn unknown(plan: &Path, key: &str, server: &Value) {
    append_journal(
        plan,
        &json!({
            "key": key,
            "at_ms": now_ms() - 61_000,
            "state": "sending",
            "operation": "ecs.reinstallos",
            "baseline": {
                "updated": server["updated"],
                "launched_at": server["launched_at"],
                "status": server["status"],
            },
        }),
    );
    append_journal(
        plan,
        &json!({
            "key": key,
            "at_ms": now_ms() - 60_000,
            "state": "unknown",
            "reason": "the answer was lost and the server showed no sign of it",
        }),
    );
}

#[test]
fn a_changed_image_after_done_stops_apply_with_exit_2_and_sends_nothing() {
    let f = Fleet::new(TIME_SCALE);
    let targets = [change_os(SERVER_2, IMAGE_UBUNTU), ecs(SERVER_1)];
    let plan = f.plan(STOP_FIRST, &targets);
    f.apply(&plan, &[]).code(0);
    assert_eq!(f.emulator.server(SERVER_2)["image_id"], IMAGE_UBUNTU);
    let done = journal_latest(&plan);
    assert_eq!(
        done[&targets[0].key]["fingerprint"]["image"], IMAGE_UBUNTU,
        "the done record holds what was sent: {done:?}"
    );
    let journal = bytes(&journal_file(&plan));

    // The person edits the image of the finished target, and runs the plan again.
    let edited = [change_os(SERVER_2, IMAGE_DEBIAN), ecs(SERVER_1)];
    f.plan(STOP_FIRST, &edited);
    let requests = f.emulator.requests().len();
    let out = f.apply(&plan, &[]);
    out.code(2);
    let changed_line = format!(
        "{}: changed since it was done: image {IMAGE_UBUNTU} → {IMAGE_DEBIAN}",
        edited[0].key
    );
    assert!(out.stderr.contains(&changed_line), "{out}");
    assert!(
        !out.stderr.contains(&format!("{}: changed", edited[1].key)),
        "the unchanged target is not listed\n{out}"
    );
    assert!(out.stderr.contains("nothing was sent"), "{out}");
    assert!(out.stderr.contains("--new-run"), "{out}");
    assert!(out.stderr.contains("reimage fleet resolve"), "{out}");
    let error = &out.json()["error"];
    assert_eq!(error["kind"], "usage", "{out}");
    assert!(
        error["message"].as_str().unwrap().contains(&edited[0].key),
        "{out}"
    );
    assert_eq!(
        f.emulator.requests().len(),
        requests,
        "not a single request, not even a read"
    );
    let server = f.emulator.server(SERVER_2);
    assert_eq!(count(&server, "os_changes_applied"), 1, "{server}");
    assert_eq!(server["image_id"], IMAGE_UBUNTU, "{server}");
    assert_eq!(bytes(&journal_file(&plan)), journal, "nothing journaled");

    // `check` (offline, with the journal beside the plan) and `status` show it.
    let out = f.fleet(&["check", plan.to_str().unwrap()]).run();
    out.code(3);
    assert!(
        out.stdout.contains(&format!(
            "changed since it was done: image {IMAGE_UBUNTU} → {IMAGE_DEBIAN}"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("2 targets: 1 ready, 1 with problems"),
        "{out}"
    );
    let out = f.fleet(&["status", plan.to_str().unwrap()]).run();
    out.code(0);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&edited[0].key))
        .unwrap_or_else(|| panic!("a row for {}\n{out}", edited[0].key));
    assert!(row.contains("changed since it was done"), "{row}\n{out}");
    assert!(out.stdout.contains(", 1 changed"), "{out}");
    let out = f
        .fleet(&["status", plan.to_str().unwrap(), "--output", "json"])
        .run();
    let json = out.json();
    let row = reimage_e2e::find(&json["targets"], "target", &edited[0].key).unwrap();
    assert_eq!(
        row["changed"],
        json!([format!("image {IMAGE_UBUNTU} → {IMAGE_DEBIAN}")]),
        "{out}"
    );
    assert_eq!(
        reimage_e2e::find(&json["targets"], "target", &edited[1].key).unwrap()["changed"],
        Value::Null
    );

    // Put back as it was, the plan is done before, and still nothing is sent.
    f.plan(STOP_FIRST, &targets);
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(out.json()["done_before"], 2, "{out}");
    assert_eq!(f.emulator.requests().len(), requests);
}

#[test]
fn new_run_reimages_every_target_again_and_keeps_the_old_journals() {
    let f = Fleet::new(TIME_SCALE);
    let plan = f.plan(
        STOP_FIRST,
        &[change_os(SERVER_2, IMAGE_UBUNTU), edis(KVM_1)],
    );
    f.apply(&plan, &[]).code(0);
    let first = bytes(&journal_file(&plan));

    let edited = [change_os(SERVER_2, IMAGE_DEBIAN), edis(KVM_1)];
    f.plan(STOP_FIRST, &edited);
    let out = f.apply(&plan, &["--new-run"]);
    out.code(0);
    assert_eq!(out.json()["done"], 2, "{out}");
    let kept = f.dir.path().join("plan.toml.journal.1");
    assert!(
        out.stderr.contains(&kept.display().to_string()),
        "it says where the old journal is\n{out}"
    );
    assert_eq!(bytes(&kept.join("journal.log")), first, "kept as it was");
    let server = f.emulator.server(SERVER_2);
    assert_eq!(count(&server, "os_changes_applied"), 2, "{server}");
    assert_eq!(server["image_id"], IMAGE_DEBIAN, "{server}");
    assert_eq!(count(&f.emulator.kvm(KVM_1), "reinstalls_applied"), 2);
    let latest = journal_latest(&plan);
    assert_eq!(latest[&edited[0].key]["state"], "done", "{latest:?}");
    assert_eq!(latest[&edited[0].key]["fingerprint"]["image"], IMAGE_DEBIAN);

    // The new run goes on as any run: a rerun sends nothing.
    let requests = f.emulator.requests().len();
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(out.json()["done_before"], 2, "{out}");
    assert_eq!(f.emulator.requests().len(), requests);

    // A third run: `.2`, and `.1` untouched.
    let second = bytes(&journal_file(&plan));
    f.apply(&plan, &["--new-run"]).code(0);
    let kept2 = f.dir.path().join("plan.toml.journal.2");
    assert_eq!(bytes(&kept2.join("journal.log")), second);
    assert_eq!(bytes(&kept.join("journal.log")), first);
    assert_eq!(count(&f.emulator.server(SERVER_2), "os_changes_applied"), 3);
    let out = f.fleet(&["status", plan.to_str().unwrap()]).run();
    assert!(
        out.stdout.contains(&format!(
            "earlier runs: {}, {}",
            kept.display(),
            kept2.display()
        )),
        "{out}"
    );

    // Not while a target of the last run is unknown: a new run could wipe it again.
    unknown(&plan, &edited[0].key, &f.emulator.server(SERVER_2));
    let requests = f.emulator.requests().len();
    let out = f.apply(&plan, &["--new-run"]);
    out.code(3);
    assert!(out.stderr.contains("not settled"), "{out}");
    assert!(out.stderr.contains(&edited[0].key), "{out}");
    assert!(!f.dir.path().join("plan.toml.journal.3").exists());
    assert_eq!(f.emulator.requests().len(), requests);
}

#[test]
fn resolve_settles_an_unknown_target_after_showing_the_evidence() {
    let f = Fleet::new(TIME_SCALE);
    let targets = [ecs(SERVER_1), ecs(SERVER_2)];
    let plan = f.plan("", &targets);
    unknown(&plan, &targets[0].key, &f.emulator.server(SERVER_1));
    unknown(&plan, &targets[1].key, &f.emulator.server(SERVER_2));
    let journal = bytes(&journal_file(&plan));

    // No terminal and no --yes: refused, nothing recorded.
    let out = f.resolve(&plan, &targets[0].key, &["--done"]);
    out.code(2);
    assert!(out.stderr.contains("--yes"), "{out}");
    assert_eq!(bytes(&journal_file(&plan)), journal);
    // One resolution at a time.
    f.resolve(&plan, &targets[0].key, &["--done", "--retry", "--yes"])
        .code(2);

    // --done: the journal's records and the server read first, then the record.
    let out = f.resolve(&plan, SERVER_1, &["--done", "--yes"]);
    out.code(0);
    assert!(out.stdout.contains("unknown the answer was lost"), "{out}");
    assert!(
        out.stdout.contains("the plan asks for: ecs.reinstallos"),
        "{out}"
    );
    assert!(out.stdout.contains("the provider now:"), "{out}");
    assert!(out.stdout.contains("the server: status SHUTOFF"), "{out}");
    assert!(out.stdout.contains("no sign of a rebuild"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("recorded: {} is done now", targets[0].key)),
        "{out}"
    );
    let latest = journal_latest(&plan);
    assert_eq!(latest[&targets[0].key]["state"], "done", "{latest:?}");
    assert!(latest[&targets[0].key]["fingerprint"].is_object());
    assert_eq!(
        f.emulator.requests_of("ecs.reinstallos").len(),
        0,
        "resolve only reads"
    );

    // --retry: pending, so the next apply sends it.
    let out = f.resolve(
        &plan,
        &targets[1].key,
        &["--retry", "--yes", "--output", "json"],
    );
    out.code(0);
    let json = out.json();
    assert_eq!(
        (json["was"].as_str(), json["now"].as_str()),
        (Some("unknown"), Some("pending"))
    );
    assert_eq!(journal_latest(&plan)[&targets[1].key]["state"], "pending");

    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(outcome(&out, &targets[0].key), "done before", "{out}");
    assert_eq!(outcome(&out, &targets[1].key), "done", "{out}");
    assert_eq!(count(&f.emulator.server(SERVER_1), "reinstalls_applied"), 0);
    assert_eq!(count(&f.emulator.server(SERVER_2), "reinstalls_applied"), 1);

    // Nothing left to settle: refused (exit 3), nothing recorded.
    let journal = bytes(&journal_file(&plan));
    let out = f.resolve(&plan, &targets[1].key, &["--done", "--yes"]);
    out.code(3);
    assert!(out.stderr.contains("done already"), "{out}");
    assert_eq!(bytes(&journal_file(&plan)), journal);
    f.resolve(
        &plan,
        "ecs:99999999-2222-3333-4444-555555555555",
        &["--done", "--yes"],
    )
    .code(2);

    // A target taken out of the plan can only be forgotten.
    let plan = f.plan("", &targets[1..]);
    let out = f.resolve(&plan, &targets[0].key, &["--retry", "--yes"]);
    out.code(3);
    assert!(out.stderr.contains("--forget"), "{out}");
    f.resolve(&plan, &targets[0].key, &["--forget", "--yes"])
        .code(0);
    assert_eq!(journal_latest(&plan)[&targets[0].key]["state"], "forgotten");
}

#[test]
fn the_accounts_are_named_before_the_question() {
    let f = Fleet::new(TIME_SCALE);
    let plan = f.plan(
        "",
        &[
            ecs(SERVER_1),
            change_os(SERVER_2, IMAGE_UBUNTU),
            edis(KVM_1),
        ],
    );
    let out = f.apply(&plan, &[]);
    out.code(0);
    let url = f.emulator.base_url();
    for expected in [
        format!(
            "ECS, profile \"default\": endpoint {url}, project {PROJECT_ID}, access key {}…: 2 targets",
            &AK[..4]
        ),
        format!("EDIS, profile \"default\": auth {url}, account {EDIS_EMAIL}: 1 target"),
    ] {
        assert!(out.stderr.contains(&expected), "{expected}\n{out}");
    }
    assert!(
        !out.stderr.contains(&AK[..5]),
        "4 characters of the key, never more\n{out}"
    );
    let accounts = out.stderr.find("the accounts this run uses").unwrap();
    let first = out.stderr.find("[1/3]").unwrap();
    assert!(accounts < first, "{out}");

    // From the environment, and without --yes (no terminal: refused): named all the same, with
    // where each value came from, and nothing sent.
    let requests = f.emulator.requests().len();
    let out = reimage(["fleet", "apply", plan.to_str().unwrap()])
        .envs(aksk_env())
        .envs(edis_env())
        .env("REIMAGE_ECS_ENDPOINT", url)
        .env("EDIS_AUTH_URL", url)
        .run();
    out.code(2);
    assert!(
        out.stderr.contains(&format!(
            "ECS, the environment: endpoint {url} (from REIMAGE_ECS_ENDPOINT), project \
             {PROJECT_ID} (from HUAWEICLOUD_SDK_PROJECT_ID), access key REIM… (from \
             HUAWEICLOUD_SDK_AK): 2 targets"
        )),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("account {EDIS_EMAIL} (from EDIS_EMAIL): 1 target")),
        "{out}"
    );
    assert!(out.stderr.contains("without confirmation"), "{out}");
    assert_eq!(f.emulator.requests().len(), requests);
}

#[test]
fn ctrl_c_journals_the_send_in_flight_prints_the_summary_and_how_to_resume() {
    // An ECS reinstall takes 4.5 s here, and the first reinstall's answer waits 3 s more: Ctrl-C
    // comes while that request is in flight.
    let f = Fleet::new(0.05);
    f.emulator.add_fault(json!({
        "operation": "ecs.reinstallos",
        "kind": "latency",
        "params": {"ms": 3000},
        "calls": [1],
    }));
    let targets = [ecs(SERVER_1), ecs(SERVER_2), edis(KVM_1)];
    let plan = f.plan("", &targets);
    let mut run = f
        .fleet(&[
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--concurrency",
            "1",
        ])
        .args(["--poll-ms", "20", "--settle", "0"])
        .spawn();
    // Wait for the `sending` record of the first target: its request is then on its way.
    let patience = Instant::now() + Duration::from_secs(60);
    while journal_latest(&plan)
        .get(&targets[0].key)
        .is_none_or(|r| r["state"] != "sending")
    {
        assert!(!run.has_exited(), "the run ended before its first send");
        assert!(
            Instant::now() < patience,
            "no sending record within a minute"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    run.interrupt();
    let out = run.wait();
    out.code(130);

    // The request in flight got its answer and its record; nothing else was started.
    let latest = journal_latest(&plan);
    let first = &latest[&targets[0].key];
    assert_eq!(first["state"], "sent", "{latest:?}\n{out}");
    assert!(first["job_id"].is_string(), "{first}");
    assert!(first["fingerprint"].is_object(), "{first}");
    assert_eq!(latest.len(), 1, "{latest:?}");
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), 1);
    assert_eq!(f.emulator.requests_of("edis.reinstall").len(), 0);

    // The summary so far, and the command that resumes.
    let row = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("a row for {key}\n{out}"))
            .to_owned()
    };
    assert!(
        row(&targets[0].key).contains("interrupted  sent, not followed"),
        "{out}"
    );
    assert!(
        row(&targets[1].key).contains("interrupted  not started"),
        "{out}"
    );
    assert!(out.stdout.contains("3 interrupted"), "{out}");
    let resume = out
        .stderr
        .lines()
        .skip_while(|l| !l.contains("resume with:"))
        .nth(1)
        .unwrap_or_else(|| panic!("a resume command\n{out}"))
        .trim()
        .to_owned();
    assert_eq!(
        resume,
        format!(
            "reimage fleet apply {} --yes --concurrency 1 --poll-ms 20 --settle 0",
            plan.display()
        ),
        "{out}"
    );

    // That command resumes: the sent one is followed, the others sent; each server once.
    let words: Vec<&str> = resume.split(' ').skip(1).collect();
    let out = reimage(words)
        .config_home(&f.dir.path().join("config"))
        .run();
    out.code(0);
    assert!(out.stdout.contains("3 done"), "{out}");
    assert_eq!(count(&f.emulator.server(SERVER_1), "reinstalls_applied"), 1);
    assert_eq!(count(&f.emulator.server(SERVER_2), "reinstalls_applied"), 1);
    assert_eq!(count(&f.emulator.kvm(KVM_1), "reinstalls_applied"), 1);
    assert_eq!(f.emulator.requests_of("ecs.reinstallos").len(), 2);
}

/// Without `api`, apply asks the image service about each ECS target's image and takes the
/// call it says: `/v1/…/changeos` for an image without cloud-init, `/v2/…/reinstallos` for a
/// server whose image has it.
#[test]
fn apply_chooses_each_targets_api_by_its_image() {
    let f = Fleet::new(TIME_SCALE);
    let plan = f.plan(
        "",
        &[
            change_os(SERVER_1, reimage_e2e::IMAGE_NO_CLOUD_INIT),
            ecs(SERVER_2),
        ],
    );
    let out = f.apply(&plan, &[]);
    out.code(0);
    assert_eq!(outcome(&out, &format!("ecs:{SERVER_1}")), "done", "{out}");
    assert_eq!(outcome(&out, &format!("ecs:{SERVER_2}")), "done", "{out}");
    let e = &f.emulator;
    assert_eq!(e.requests_of("ims.show_image").len(), 2);
    assert_eq!(e.requests_of("ecs.changeos_without_cloud_init").len(), 1);
    assert!(e.requests_of("ecs.changeos").is_empty());
    assert_eq!(e.requests_of("ecs.reinstallos").len(), 1);
    let one = e.server(SERVER_1);
    assert_eq!(one["image_id"], reimage_e2e::IMAGE_NO_CLOUD_INIT, "{one}");
    assert_eq!(count(&one, "os_changes_applied"), 1, "{one}");
    assert_eq!(count(&e.server(SERVER_2), "reinstalls_applied"), 1);
}

/// User data for an image the image service says has no cloud-init fails that target before
/// anything is sent; `api = "plain"` with user data is refused by the plan's own check.
#[test]
fn user_data_for_an_image_without_cloud_init_fails_the_target_unsent() {
    let f = Fleet::new(TIME_SCALE);
    f.dir
        .write("u.yaml", "#cloud-config\npackages:\n  - nginx\n");
    let plan = f.plan(
        "user_data = \"u.yaml\"\n",
        &[change_os(SERVER_1, reimage_e2e::IMAGE_NO_CLOUD_INIT)],
    );
    let out = f.apply(&plan, &[]);
    assert_ne!(out.code, 0, "{out}");
    assert_eq!(outcome(&out, &format!("ecs:{SERVER_1}")), "failed", "{out}");
    assert!(out.stdout.contains("__support_fc_inject"), "{out}");
    let e = &f.emulator;
    assert!(e.requests_of("ecs.changeos").is_empty());
    assert!(e.requests_of("ecs.changeos_without_cloud_init").is_empty());
    assert_eq!(count(&e.server(SERVER_1), "os_changes_applied"), 0);

    let plan = f.plan(
        "user_data = \"u.yaml\"\napi = \"plain\"\n",
        &[change_os(SERVER_2, reimage_e2e::IMAGE_NO_CLOUD_INIT)],
    );
    let out = f.fleet(&["check", plan.to_str().unwrap()]).run();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("api \"plain\""), "{out}");
    assert!(out.stderr.contains("takes no user data"), "{out}");
}

/// `keypair_only = true`: `fleet check` warns under each ECS target that gives only a password,
/// and the plan is still ready (exit 0); a target with a key pair has no warning.
#[test]
fn check_warns_for_a_password_in_a_keypair_only_region() {
    let f = Fleet::new(TIME_SCALE);
    let keyed = Target {
        key: format!("ecs:{SERVER_2}"),
        toml: format!(
            "\n[[targets]]\necs = \"{SERVER_2}\"\nkeypair = \"KeyPair-350b\"\n\
             user_id = \"7e25b1da389f4697a79df3a0e5bd494e\"\n"
        ),
    };
    let plan = f.plan("keypair_only = true\n", &[ecs(SERVER_1), keyed]);
    let out = f.fleet(&["check", plan.to_str().unwrap()]).run();
    out.code(0);
    assert_eq!(
        out.stdout.matches("! warning: keypair_only").count(),
        1,
        "{out}"
    );
    let out = f
        .fleet(&["check", plan.to_str().unwrap(), "--output", "json"])
        .run();
    out.code(0);
    let json = out.json();
    let rows = json["targets"].as_array().unwrap();
    let warned: Vec<&str> = rows
        .iter()
        .filter(|r| !r["warnings"].as_array().unwrap().is_empty())
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(warned, [format!("ecs:{SERVER_1}")], "{out}");
}
