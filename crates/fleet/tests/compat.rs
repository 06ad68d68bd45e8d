//! What reimage 0.1 wrote must still be read: a journal that its `reimage fleet apply` wrote
//! (`data/journal-v0.1.log`, records of every state, as that version wrote them) and a plan in its
//! format (`data/plan-v0.1.toml`, with the files it names). A change that breaks either breaks a
//! run that is resumed with a newer reimage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use reimage_fleet::journal::{self, Baseline, Journal, Record, State};
use reimage_fleet::plan::{self, Action, EcsLogin, Inputs, Provider};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "reimage-fleet-compat-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ECS_A: &str = "ecs:11111111-2222-3333-4444-555555555555";
const ECS_B: &str = "ecs:22222222-2222-3333-4444-555555555555";
const ECS_C: &str = "ecs:33333333-2222-3333-4444-555555555555";
const ECS_D: &str = "ecs:44444444-2222-3333-4444-555555555555";
const ECS_E: &str = "ecs:55555555-2222-3333-4444-555555555555";
const EDIS_1: &str = "edis:kvm_100001_200001";
const EDIS_2: &str = "edis:kvm_100001_200002";
const EDIS_3: &str = "edis:kvm_100001_200003";

fn ecs_baseline() -> Baseline {
    let mut baseline = Baseline::default();
    baseline.updated = Some("2026-01-05T10:00:00Z".to_owned());
    baseline.launched_at = Some("2026-01-01T08:00:00Z".to_owned());
    baseline.status = Some("ACTIVE".to_owned());
    baseline
}

fn power(word: &str) -> Baseline {
    let mut baseline = Baseline::default();
    baseline.power = Some(word.to_owned());
    baseline
}

/// The latest record of each target in `data/journal-v0.1.log`.
fn expected() -> Vec<Record> {
    vec![
        Record::new(
            ECS_A,
            1_767_607_290_000,
            State::Done {
                summary: "ACTIVE, image e215580f-73ad-429d-b6f2-5433947433b0".to_owned(),
            },
        ),
        Record::new(
            ECS_B,
            1_767_607_200_010,
            State::Sending {
                operation: "ecs.changeos".to_owned(),
                baseline: ecs_baseline(),
            },
        ),
        Record::new(
            ECS_C,
            1_767_607_200_410,
            State::Sent {
                operation: "ecs.reinstallos".to_owned(),
                job_id: Some("ff80808288d41e1b018990260955686b".to_owned()),
                evidence: None,
                baseline: ecs_baseline(),
            },
        ),
        Record::new(
            ECS_D,
            1_767_607_206_500,
            State::Sent {
                operation: "ecs.changeos".to_owned(),
                job_id: None,
                evidence: Some("the server is in REBUILD".to_owned()),
                baseline: ecs_baseline(),
            },
        ),
        Record::new(
            ECS_E,
            1_767_607_280_000,
            State::Failed {
                reason: "the job ended in FAIL".to_owned(),
            },
        ),
        Record::new(
            EDIS_1,
            1_767_607_200_420,
            State::Sent {
                operation: "edis.reinstall".to_owned(),
                job_id: None,
                evidence: None,
                baseline: power("server powered on"),
            },
        ),
        Record::new(
            EDIS_2,
            1_767_607_210_600,
            State::Unknown {
                reason: "the last run died around the send, and the KVM was powered off already, \
                         so its power state cannot tell whether the reinstall began; not re-sent"
                    .to_owned(),
            },
        ),
        Record::new(
            EDIS_3,
            1_767_607_200_700,
            State::Failed {
                reason: "EDIS answered 401: Unauthorized.".to_owned(),
            },
        ),
    ]
}

#[test]
fn a_journal_of_version_0_1_is_read() {
    let dir = TempDir::new("read");
    std::fs::copy(data("journal-v0.1.log"), dir.0.join("journal.log")).unwrap();
    let latest = journal::read(&dir.0).unwrap();
    let records: Vec<Record> = latest.into_values().collect();
    assert_eq!(records, expected());
    let words: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.key.as_str(), r.state.word()))
        .collect();
    assert_eq!(
        words,
        [
            (ECS_A, "done"),
            (ECS_B, "sending"),
            (ECS_C, "sent"),
            (ECS_D, "sent"),
            (ECS_E, "failed"),
            (EDIS_1, "sent"),
            (EDIS_2, "unknown"),
            (EDIS_3, "failed"),
        ]
    );
}

#[tokio::test]
async fn a_journal_of_version_0_1_is_opened_and_appended_to() {
    let dir = TempDir::new("open");
    let log = dir.0.join("journal.log");
    std::fs::copy(data("journal-v0.1.log"), &log).unwrap();
    let (journal, latest) = Journal::open(&dir.0).unwrap();
    assert_eq!(latest.into_values().collect::<Vec<_>>(), expected());
    let done = Record::new(
        ECS_B,
        1_767_607_300_000,
        State::Done {
            summary: "ACTIVE, image e215580f-73ad-429d-b6f2-5433947433b0".to_owned(),
        },
    );
    journal.record(done.clone()).await.unwrap();
    journal.close().await.unwrap();

    // Appended, not rewritten: the old lines are as version 0.1 wrote them.
    let old = std::fs::read_to_string(data("journal-v0.1.log")).unwrap();
    let now = std::fs::read_to_string(&log).unwrap();
    assert!(now.starts_with(&old), "{now}");
    assert_eq!(now.lines().count(), old.lines().count() + 1);
    assert_eq!(journal::read(&dir.0).unwrap()[ECS_B], done);
}

#[test]
fn records_are_written_as_version_0_1_wrote_them() {
    let old = std::fs::read_to_string(data("journal-v0.1.log")).unwrap();
    assert_eq!(old.lines().count(), 16);
    for line in old.lines() {
        let record: Record = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
    }
}

#[test]
fn a_plan_of_version_0_1_loads_and_checks() {
    let plan = plan::load(&data("plan-v0.1.toml")).unwrap();
    let keys: Vec<&str> = plan.targets.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "ecs:11111111-2222-3333-4444-555555555555",
            "ecs:66666666-7777-8888-9999-000000000000",
            EDIS_1,
            EDIS_2,
            "ecs:aaaaaaaa-2222-3333-4444-555555555555",
        ]
    );
    let providers: Vec<Provider> = plan.targets.iter().map(|t| t.provider()).collect();
    assert_eq!(
        providers,
        [
            Provider::Ecs,
            Provider::Ecs,
            Provider::Edis,
            Provider::Edis,
            Provider::Ecs
        ]
    );
    assert!(matches!(
        &plan.targets[0].action,
        Action::EcsChangeOs { login: EcsLogin::Password(p), stop: true, .. }
            if p == &data("ecs-admin.pw")
    ));
    assert!(matches!(
        &plan.targets[1].action,
        Action::EcsReinstall { login: EcsLogin::KeyPair { name, user_id }, stop: true, .. }
            if name.as_str() == "ops-key" && user_id.as_str() == "7e25b1da389f4697a79df3a0e5bd494e"
    ));
    assert!(matches!(
        &plan.targets[4].action,
        Action::EcsReinstall {
            login: EcsLogin::Password(_),
            stop: false,
            ..
        }
    ));
    assert!(plan.targets[4].no_validate && plan.targets[4].allow_lockout);
    assert_eq!(plan.targets[4].profile, None);

    let (inputs, problems) = Inputs::load(&plan);
    assert!(problems.is_empty(), "{problems:?}");
    let rows = plan::check(&plan, &inputs, &|_, _| Ok(()));
    // As reimage 0.1's `fleet check` showed them.
    let shown: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.operation,
                r.image.as_str(),
                r.profile.as_str(),
                r.login.as_str(),
                r.user_data.as_str(),
            ]
        })
        .collect();
    assert_eq!(
        shown,
        [
            [
                "change-os",
                "e215580f-73ad-429d-b6f2-5433947433b0",
                "prod",
                "password ecs-admin.pw",
                "cloud-config.yaml: valid (22.4)"
            ],
            ["reinstall", "(current)", "prod", "keypair ops-key", "-"],
            [
                "reinstall",
                "cloudinit_debian-bookworm",
                "edis-account",
                "root password edis-root.pw",
                "cloud-config.yaml: valid (22.4)"
            ],
            [
                "reinstall",
                "debian-bullseye",
                "prod",
                "root password edis-root.pw",
                "-"
            ],
            [
                "reinstall",
                "(current)",
                "(default)",
                "password ecs-admin.pw",
                "cloud-config.yaml: valid (26.2)"
            ],
        ]
    );
    assert!(rows.iter().all(|r| r.ready()), "{rows:#?}");
    assert!(inputs.ecs_change_os(&plan.targets[0]).is_ok());
    assert!(inputs.edis_reinstall(&plan.targets[2]).is_ok());
}
