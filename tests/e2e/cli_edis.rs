//! `reimage edis …` through the built binary against the emulator: images, power, status, mount,
//! reinstall (with its refusals and `--dry-run`), each checked on the emulator's state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_e2e::{
    EDIS_PASSWORD, Emulator, KVM_1, KVM_2, ROOT_PASSWORD, Reimage, TempDir, count, edis_env,
    reimage,
};

/// An EDIS reinstall takes about 300 s at time scale 1.0: 1.5 s here, within the CLI's first
/// 2 s poll.
const TIME_SCALE: f64 = 0.005;

/// `reimage edis --auth-url <emulator> <args…>` with the fixtures' account.
fn edis(emulator: &Emulator, args: &[&str]) -> Reimage {
    reimage(["edis", "--auth-url", emulator.base_url()])
        .args(args)
        .envs(edis_env())
}

/// A directory with the root password file in it.
fn password_dir() -> (TempDir, String) {
    let dir = TempDir::new("edis");
    let file = dir.write("root-password", ROOT_PASSWORD);
    let file = file.to_str().unwrap().to_owned();
    (dir, file)
}

const USER_DATA: &str = "#cloud-config\n\
users:\n  - name: ops\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6ZK7j0ZDcYp1sZ8JG3Jm2vQb0Bz8uQ3T9mYfV5Qa1c ops@example\n";

#[test]
fn images_lists_what_the_kvm_offers() {
    let emulator = Emulator::start(TIME_SCALE);
    let out = edis(&emulator, &["images", "--kvm", KVM_1]).run();
    out.code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("cloudinit_debian-bookworm"))
        .unwrap_or_else(|| panic!("cloudinit_debian-bookworm listed\n{out}"));
    assert!(line.contains("cloud-init"), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("debian-bullseye"))
        .unwrap_or_else(|| panic!("debian-bullseye listed\n{out}"));
    assert!(!line.contains("cloud-init"), "{out}");

    let out = edis(&emulator, &["images", "--kvm", KVM_1, "--output", "json"]).run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["kvm_id"], KVM_1, "{out}");
    let images = json["images"].as_array().unwrap();
    let flag = |name: &str| {
        reimage_e2e::find(&json["images"], "name", name)
            .unwrap_or_else(|| panic!("{name} in {images:?}"))["cloud_init"]
            .clone()
    };
    assert_eq!(flag("cloudinit_debian-bookworm"), true);
    assert_eq!(flag("cloudinit_ubuntu-lts-24-04"), true);
    assert_eq!(flag("debian-bullseye"), false);
    assert_eq!(flag("windows-11"), false);
    assert_eq!(emulator.requests_of("edis.get_images").len(), 2);
}

#[test]
fn power_shows_and_switches() {
    let emulator = Emulator::start(TIME_SCALE);
    let out = edis(&emulator, &["power", "--kvm", KVM_1]).run();
    out.code(0);
    assert!(out.stdout.contains("powered on"), "{out}");
    let out = edis(&emulator, &["power", "--kvm", KVM_2, "--output", "json"]).run();
    out.code(0);
    assert_eq!(out.json()["power"], "powered off", "{out}");

    let out = edis(
        &emulator,
        &["power", "--kvm", KVM_1, "off", "--output", "json"],
    )
    .run();
    out.code(0);
    assert_eq!(out.json()["power"], "powered off", "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(kvm["powered_on"], false, "{kvm}");
    assert_eq!(count(&kvm, "power_offs_applied"), 1, "{kvm}");
    assert_eq!(count(&kvm, "power_ons_applied"), 0, "{kvm}");

    let out = edis(&emulator, &["power", "--kvm", KVM_1, "on"]).run();
    out.code(0);
    assert!(out.stdout.contains("powered on"), "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(kvm["powered_on"], true, "{kvm}");
    assert_eq!(count(&kvm, "power_offs_applied"), 1, "{kvm}");
    assert_eq!(count(&kvm, "power_ons_applied"), 1, "{kvm}");
    // The other KVM was left alone.
    let other = emulator.kvm(KVM_2);
    assert_eq!(count(&other, "power_ons_applied"), 0, "{other}");

    let out = edis(&emulator, &["power", "--kvm", KVM_1, "sideways"]).run();
    out.code(2);
}

#[test]
fn power_reset_resets_once_and_the_kvm_runs() {
    let emulator = Emulator::start(TIME_SCALE);
    // KVM 2 starts powered off; a hard reset power-cycles it into running.
    let out = edis(
        &emulator,
        &["power", "--kvm", KVM_2, "reset", "--output", "json"],
    )
    .run();
    out.code(0);
    assert_eq!(out.json()["power"], "powered on", "{out}");
    let kvm = emulator.kvm(KVM_2);
    assert_eq!(count(&kvm, "resets_applied"), 1, "{kvm}");
    assert_eq!(emulator.requests_of("edis.hard_reset").len(), 1);

    // Its answer lost: not sent again, and the person is told the outcome is unknown.
    emulator.add_fault(serde_json::json!(
        {"operation": "edis.hard_reset", "kind": "lost_answer", "calls": [1]}
    ));
    let out = edis(&emulator, &["power", "--kvm", KVM_2, "reset"]).run();
    out.code(6);
    assert!(out.stderr.contains("outcome unknown"), "{out}");
    assert!(out.stderr.contains("reimage edis status"), "{out}");
    let kvm = emulator.kvm(KVM_2);
    assert_eq!(
        count(&kvm, "resets_applied"),
        2,
        "applied once more, never twice: {kvm}"
    );
}

#[test]
fn mount_shows_that_no_iso_is_mounted() {
    let emulator = Emulator::start(TIME_SCALE);
    let out = edis(&emulator, &["mount", "--kvm", KVM_1, "--output", "json"]).run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["kvm_id"], KVM_1, "{out}");
    assert_eq!(json["mounted"], false, "{out}");
    assert_eq!(json["current_iso"], serde_json::Value::Null, "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(kvm["mounted_iso"], json["current_iso"], "{kvm}");
    assert_eq!(emulator.requests_of("edis.get_mount").len(), 1);

    let out = edis(&emulator, &["mount", "--kvm", KVM_2]).run();
    out.code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("KVM {KVM_2}: no ISO is mounted"),
        "{out}"
    );
    assert_eq!(emulator.requests_of("edis.get_mount").len(), 2);

    let out = edis(&emulator, &["mount", "--kvm", "not-a-kvm"]).run();
    out.code(2);
}

#[test]
fn status_shows_host_name_power_and_addresses() {
    let emulator = Emulator::start(TIME_SCALE);
    let out = edis(&emulator, &["status", "--kvm", KVM_1, "--output", "json"]).run();
    out.code(0);
    let json = out.json();
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(json["kvm_id"], KVM_1, "{out}");
    assert_eq!(json["hostname"], kvm["hostname"], "{out}");
    assert_eq!(json["hostname"], "emulator-kvm-1", "{out}");
    assert_eq!(json["power"], "powered on", "{out}");
    assert!(!json["ipv4"].as_array().unwrap().is_empty(), "{out}");

    let out = edis(&emulator, &["status", "--kvm", KVM_2]).run();
    out.code(0);
    assert!(out.stdout.contains("emulator-kvm-2"), "{out}");
    assert!(out.stdout.contains("powered off"), "{out}");
}

#[test]
fn reinstall_waits_until_the_new_system_runs() {
    let emulator = Emulator::start(TIME_SCALE);
    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "cloudinit_ubuntu-lts-24-04",
            "--root-password-file",
            &password,
            "--user-data",
            user_data.to_str().unwrap(),
            "--yes",
            "--wait",
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["done"], true, "{out}");
    assert_eq!(json["image"], "cloudinit_ubuntu-lts-24-04", "{out}");
    assert!(!out.stdout.contains(ROOT_PASSWORD), "{out}");
    assert!(!out.stderr.contains(ROOT_PASSWORD), "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(kvm["image"], "cloudinit_ubuntu-lts-24-04", "{kvm}");
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
    assert_eq!(kvm["powered_on"], true, "{kvm}");
    assert_eq!(kvm["installing"], serde_json::Value::Null, "{kvm}");
    assert_eq!(
        count(&kvm, "user_data_bytes"),
        USER_DATA.len() as u64,
        "{kvm}"
    );
    assert_eq!(emulator.requests_of("edis.reinstall").len(), 1);
}

#[test]
fn reinstall_without_wait_and_a_kvm_that_was_off() {
    let emulator = Emulator::start(TIME_SCALE);
    let (_dir, password) = password_dir();
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "windows-11",
            "--root-password-file",
            &password,
            "--yes",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stdout.contains("started"), "{out}");
    let kvm = emulator.kvm(KVM_2);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
    assert_eq!(emulator.requests_of("edis.reinstall").len(), 1);
}

#[test]
fn user_data_with_an_image_without_cloud_init_is_refused() {
    let emulator = Emulator::start(TIME_SCALE);
    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "debian-bullseye",
            "--root-password-file",
            &password,
            "--user-data",
            user_data.to_str().unwrap(),
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(3);
    assert!(out.stderr.contains("cloud-init"), "{out}");
    assert!(emulator.requests().is_empty(), "nothing sent");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 0, "{kvm}");
    assert_eq!(kvm["image"], "cloudinit_debian-bookworm", "{kvm}");
}

#[test]
fn bad_user_data_is_refused_and_no_validate_sends_it() {
    let emulator = Emulator::start(TIME_SCALE);
    let (dir, password) = password_dir();
    let bad = dir.write("bad.yaml", "#cloud-config\nruncmd: 5\n");
    let args = [
        "reinstall",
        "--kvm",
        KVM_2,
        "--image",
        "cloudinit_debian-bookworm",
        "--root-password-file",
        &password,
        "--user-data",
        bad.to_str().unwrap(),
        "--yes",
    ];
    let out = edis(&emulator, &args).run();
    out.code(3);
    assert!(out.stderr.contains("runcmd"), "{out}");
    assert!(emulator.requests().is_empty(), "nothing sent");
    assert_eq!(count(&emulator.kvm(KVM_2), "reinstalls_applied"), 0);

    let out = edis(&emulator, &args).arg("--no-validate").run();
    out.code(0);
    assert_eq!(
        count(&emulator.kvm(KVM_2), "reinstalls_applied"),
        1,
        "{out}"
    );
}

#[test]
fn an_unknown_or_malformed_image_is_a_usage_error() {
    let emulator = Emulator::start(TIME_SCALE);
    let (_dir, password) = password_dir();
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "nope-linux-1",
            "--root-password-file",
            &password,
            "--yes",
        ],
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("nope-linux-1"), "{out}");
    assert!(out.stderr.contains("edis images"), "the hint\n{out}");
    assert!(emulator.requests_of("edis.reinstall").is_empty());
    assert_eq!(count(&emulator.kvm(KVM_1), "reinstalls_applied"), 0);

    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "bad image!",
            "--root-password-file",
            &password,
            "--yes",
        ],
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("image"), "{out}");

    let out = edis(&emulator, &["status", "--kvm", "kvm-1"]).run();
    out.code(2);
    assert!(out.stderr.contains("kvm"), "{out}");
    assert!(emulator.requests_of("edis.reinstall").is_empty());
}

#[test]
fn a_wrong_password_is_an_auth_error() {
    let emulator = Emulator::start(TIME_SCALE);
    let (_dir, password) = password_dir();
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "cloudinit_ubuntu-lts-24-04",
            "--root-password-file",
            &password,
            "--yes",
        ],
    )
    .env("EDIS_PASSWORD", "not-the-password")
    .run();
    out.code(4);
    assert!(!out.stderr.contains("not-the-password"), "{out}");
    let state = emulator.state();
    assert!(
        state["edis"]["sessions"].as_array().unwrap().is_empty(),
        "{state}"
    );
    assert_eq!(count(&emulator.kvm(KVM_1), "reinstalls_applied"), 0);
    assert!(emulator.requests_of("edis.reinstall").is_empty());
}

#[test]
fn dry_run_redacts_the_passwords_and_sends_only_the_auth_call() {
    let emulator = Emulator::start(TIME_SCALE);
    let (_dir, password) = password_dir();
    for output in ["text", "json"] {
        let out = edis(
            &emulator,
            &[
                "reinstall",
                "--kvm",
                KVM_1,
                "--image",
                "cloudinit_ubuntu-lts-24-04",
                "--root-password-file",
                &password,
                "--dry-run",
                "--output",
                output,
            ],
        )
        .run();
        out.code(0);
        assert!(out.stdout.contains("[REDACTED]"), "{out}");
        assert!(out.stdout.contains("signature=[REDACTED]"), "{out}");
        assert!(out.stdout.contains("password=[REDACTED]"), "{out}");
        assert!(out.stdout.contains("cloudinit_ubuntu-lts-24-04"), "{out}");
        for secret in [ROOT_PASSWORD, EDIS_PASSWORD] {
            assert!(!out.stdout.contains(secret), "{secret} leaked\n{out}");
            assert!(!out.stderr.contains(secret), "{secret} leaked\n{out}");
        }
        if output == "json" {
            assert_eq!(out.json()["dry_run"], true, "{out}");
        }
    }
    // Only reads: the auth call, and the images the dry run checks the image against.
    let requests = emulator.requests();
    assert!(
        requests
            .iter()
            .all(|r| r["operation"] == "edis.create_session" || r["operation"] == "edis.get_images"),
        "only the auth call and the image check: {requests:?}"
    );
    assert!(emulator.requests_of("edis.reinstall").is_empty());
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 0, "{kvm}");
    assert_eq!(kvm["powered_on"], true, "{kvm}");
}

#[test]
fn the_root_password_can_come_from_stdin() {
    let emulator = Emulator::start(TIME_SCALE);
    let out = edis(
        &emulator,
        &[
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "cloudinit_debian-bookworm",
            "--root-password-file",
            "-",
            "--yes",
            "--wait",
        ],
    )
    .stdin(format!("{ROOT_PASSWORD}\n"))
    .run();
    out.code(0);
    assert!(out.stdout.contains("done"), "{out}");
    let kvm = emulator.kvm(KVM_2);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
    assert_eq!(kvm["image"], "cloudinit_debian-bookworm", "{kvm}");
    assert_eq!(kvm["powered_on"], true, "{kvm}");
}

#[test]
fn the_account_password_can_come_from_a_file() {
    let emulator = Emulator::start(TIME_SCALE);
    let dir = TempDir::new("edis-account");
    let file = dir.write("account", EDIS_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["status", "--kvm", KVM_1, "--password-file"])
        .arg(file)
        .env("EDIS_EMAIL", reimage_e2e::EDIS_EMAIL)
        .run();
    out.code(0);
    assert!(out.stdout.contains("emulator-kvm-1"), "{out}");
    assert_eq!(
        emulator.state()["edis"]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_auth_url_can_come_from_the_environment() {
    let emulator = Emulator::start(TIME_SCALE);
    for url in [
        emulator.base_url().to_owned(),
        format!("{}/kvm/v2/get/auth", emulator.base_url()),
    ] {
        let out = reimage(["edis", "power", "--kvm", KVM_1])
            .envs(edis_env())
            .env("EDIS_AUTH_URL", url.as_str())
            .run();
        out.code(0);
        assert!(out.stdout.contains("powered on"), "{url}\n{out}");
    }
    assert_eq!(emulator.requests_of("edis.get_power").len(), 2);
}
