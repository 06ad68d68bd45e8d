//! `reimage ecs …` through the built binary against the emulator: every subcommand, both kinds
//! of credentials, the refusals (no `--yes`, bad ids, wrong keys, locked servers, bad user
//! data), `--dry-run` and `--deadline`; each checked on the emulator's state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reimage_e2e::{
    ADMIN_PASSWORD, Emulator, IAM_PASSWORD, IMAGE_DEBIAN, IMAGE_UBUNTU, KEYPAIR, Reimage, SERVER_1,
    SERVER_2, SERVER_LOCKED, SERVER_RUNNING, SK, TempDir, USER_ID, aksk_env, count, reimage,
};

/// `reimage ecs --endpoint <emulator> <args…>`, signed with the fixtures' AK/SK.
fn ecs(emulator: &Emulator, args: &[&str]) -> Reimage {
    reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(args)
        .envs(aksk_env())
}

/// `reimage ecs --endpoint <emulator> <args…>`, with the fixtures' IAM password.
fn ecs_iam(emulator: &Emulator, args: &[&str]) -> Reimage {
    reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(args)
        .envs(emulator.iam_env())
}

/// A directory with the admin password file in it.
fn password_dir() -> (TempDir, String) {
    let dir = TempDir::new("ecs");
    let file = dir.write("admin-password", ADMIN_PASSWORD);
    let file = file.to_str().unwrap().to_owned();
    (dir, file)
}

const USER_DATA: &str = "#cloud-config\n\
users:\n  - name: ops\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6ZK7j0ZDcYp1sZ8JG3Jm2vQb0Bz8uQ3T9mYfV5Qa1c ops@example\n\
packages:\n  - nginx\n";

const BAD_USER_DATA: &str = "#cloud-config\nruncmd: 5\n";

#[test]
fn token_prints_the_token_alone_or_with_its_expiry() {
    let emulator = Emulator::start(0.01);

    let out = ecs_iam(&emulator, &["token"]).run();
    out.code(0);
    let token = out.stdout.trim();
    assert!(!token.is_empty(), "{out}");
    assert_eq!(out.stdout.lines().count(), 1, "the token alone\n{out}");
    assert!(!token.contains(' '), "{out}");
    assert_eq!(
        emulator.state()["iam"]["tokens"].as_array().unwrap().len(),
        1,
        "one token issued"
    );

    let out = ecs_iam(&emulator, &["token", "--output", "json"]).run();
    out.code(0);
    let json = out.json();
    let second = json["token"].as_str().unwrap_or_default();
    assert!(!second.is_empty(), "{out}");
    assert_ne!(second, token, "a new token each time\n{out}");
    assert!(
        json["expires_at"].as_str().is_some_and(|s| !s.is_empty()),
        "{out}"
    );
    let tokens = emulator.state()["iam"]["tokens"].clone();
    assert_eq!(tokens.as_array().unwrap().len(), 2, "{tokens}");
    // The expiry printed is the one the emulator issued.
    let issued = tokens[1]["expires_at"].as_str().unwrap();
    let printed = json["expires_at"].as_str().unwrap();
    assert_eq!(
        issued.get(..19),
        printed.get(..19),
        "expiry: issued {issued}, printed {printed}"
    );
    // The token request went to IAM with the password, logged without it.
    let requests = emulator.requests_of("iam.create_token");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        !serde_json::to_string(&requests)
            .unwrap()
            .contains(IAM_PASSWORD)
    );
}

#[test]
fn token_with_aksk_is_a_usage_error() {
    let emulator = Emulator::start(0.01);
    let out = ecs(&emulator, &["token"]).run();
    out.code(2);
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("OS_USERNAME"), "{out}");
    assert!(emulator.requests().is_empty());
}

#[test]
fn server_shows_text_and_json() {
    let emulator = Emulator::start(0.01);
    let out = ecs(&emulator, &["server", "--server", SERVER_1]).run();
    out.code(0);
    for part in [
        "emulator-debian-1",
        SERVER_1,
        "SHUTOFF",
        IMAGE_DEBIAN,
        "203.0.113.11",
    ] {
        assert!(out.stdout.contains(part), "{part}\n{out}");
    }

    // Connection flags may come after the subcommand too.
    let out = reimage([
        "ecs",
        "server",
        "--server",
        SERVER_RUNNING,
        "--output",
        "json",
    ])
    .args(["--endpoint", emulator.base_url()])
    .envs(aksk_env())
    .run();
    out.code(0);
    let json = out.json();
    let state = emulator.server(SERVER_RUNNING);
    assert_eq!(json["id"], SERVER_RUNNING, "{out}");
    assert_eq!(json["status"], state["status"], "{out}");
    assert_eq!(json["status"], "ACTIVE", "{out}");
    assert_eq!(json["image_id"], state["image_id"], "{out}");
    assert_eq!(json["name"], state["name"], "{out}");
    assert!(!json["addresses"].as_array().unwrap().is_empty(), "{out}");
    let shows = emulator.requests_of("ecs.show_server");
    assert_eq!(shows.len(), 2, "{shows:?}");
    assert_eq!(shows[1]["auth"]["scheme"], "aksk", "{shows:?}");
}

#[test]
fn reinstall_with_aksk_waits_to_the_end() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
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
    assert_eq!(json["operation"], "ecs.reinstallos", "{out}");
    assert_eq!(json["server"]["status"], "ACTIVE", "{out}");
    assert!(!out.stdout.contains(ADMIN_PASSWORD), "{out}");
    assert!(!out.stderr.contains(ADMIN_PASSWORD), "{out}");

    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");
    assert_eq!(count(&server, "os_changes_applied"), 0, "{server}");
    assert_eq!(server["status"], "ACTIVE", "{server}");
    assert_eq!(server["image_id"], IMAGE_DEBIAN, "{server}");
    let jobs = emulator.state()["ecs"]["jobs"].clone();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    assert_eq!(jobs[0]["job_id"], json["job_id"], "{jobs}\n{out}");
    assert_eq!(jobs[0]["status"], "SUCCESS", "{jobs}");
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["auth"]["scheme"], "aksk", "{sent:?}");
}

#[test]
fn reinstall_with_an_iam_password_and_user_data() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = ecs_iam(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_2,
            "--admin-password-file",
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
    assert_eq!(out.json()["done"], true, "{out}");
    let server = emulator.server(SERVER_2);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");
    assert_eq!(
        count(&server, "user_data_bytes"),
        USER_DATA.len() as u64,
        "the user data arrived whole\n{server}"
    );
    let state = emulator.state();
    assert!(
        !state["iam"]["tokens"].as_array().unwrap().is_empty(),
        "a token was issued: {state}"
    );
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_ne!(sent[0]["auth"]["scheme"], "aksk", "{sent:?}");
    // The other servers were left alone.
    assert_eq!(
        count(&emulator.server(SERVER_1), "reinstalls_applied"),
        0,
        "{state}"
    );
}

#[test]
fn reinstall_a_running_server_with_stop_mode() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_RUNNING,
            "--admin-password-file",
            &password,
            "--mode",
            "with-stop-server",
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stdout.contains("done"), "{out}");
    let server = emulator.server(SERVER_RUNNING);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");
}

#[test]
fn change_os_to_another_image_with_a_key_pair() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_1,
            "--image",
            IMAGE_UBUNTU,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stdout.contains(IMAGE_UBUNTU), "{out}");
    let server = emulator.server(SERVER_1);
    assert_eq!(server["image_id"], IMAGE_UBUNTU, "{server}");
    assert_eq!(count(&server, "os_changes_applied"), 1, "{server}");
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
    assert_eq!(server["key_name"], KEYPAIR, "{server}");
    assert_eq!(emulator.requests_of("ecs.changeos").len(), 1);
}

#[test]
fn stop_and_start_follow_their_jobs() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "stop",
            "--server",
            SERVER_RUNNING,
            "--wait",
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["status"], "SUCCESS", "{out}");
    let server = emulator.server(SERVER_RUNNING);
    assert_eq!(count(&server, "stops_applied"), 1, "{server}");
    assert_eq!(server["status"], "SHUTOFF", "{server}");

    let out = ecs(&emulator, &["start", "--server", SERVER_RUNNING, "--wait"]).run();
    out.code(0);
    assert!(out.stdout.contains("SUCCESS"), "{out}");
    let server = emulator.server(SERVER_RUNNING);
    assert_eq!(count(&server, "starts_applied"), 1, "{server}");
    assert_eq!(count(&server, "stops_applied"), 1, "{server}");
    assert_eq!(server["status"], "ACTIVE", "{server}");
}

#[test]
fn stop_without_wait_prints_the_job_and_job_follows_it() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "stop",
            "--server",
            SERVER_RUNNING,
            "--force",
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let job = out.json()["job_id"].as_str().unwrap_or_default().to_owned();
    assert!(!job.is_empty(), "{out}");
    let out = ecs(&emulator, &["job", &job, "--wait"]).run();
    out.code(0);
    assert!(out.stdout.contains("SUCCESS"), "{out}");
    let server = emulator.server(SERVER_RUNNING);
    assert_eq!(count(&server, "stops_applied"), 1, "{server}");
    assert_eq!(server["status"], "SHUTOFF", "{server}");
}

#[test]
fn job_follows_a_reinstall_started_without_wait() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_2,
            "--admin-password-file",
            &password,
            "--yes",
            "--output",
            "json",
        ],
    )
    .run();
    out.code(0);
    let started = out.json();
    assert_eq!(started["done"], false, "{out}");
    let job = started["job_id"].as_str().unwrap_or_default().to_owned();
    assert!(!job.is_empty(), "{out}");
    let in_state = reimage_e2e::find(&emulator.state()["ecs"]["jobs"], "job_id", &job);
    assert!(in_state.is_some(), "the printed job is the emulator's");

    // Shown once (text), then followed to its end (json).
    let out = ecs(&emulator, &["job", &job]).run();
    out.code(0);
    assert!(out.stdout.contains(&job), "{out}");
    let out = ecs(&emulator, &["job", &job, "--wait", "--output", "json"]).run();
    out.code(0);
    let json = out.json();
    assert_eq!(json["job_id"], job.as_str(), "{out}");
    assert_eq!(json["status"], "SUCCESS", "{out}");
    assert_eq!(json["job_type"], "reinstallOS", "{out}");
    let server = emulator.server(SERVER_2);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");
    assert_eq!(emulator.requests_of("ecs.reinstallos").len(), 1);
}

#[test]
fn job_with_an_unknown_or_malformed_id() {
    let emulator = Emulator::start(0.01);
    let out = ecs(&emulator, &["job", "not a job id!"]).run();
    out.code(2);
    assert!(emulator.requests_of("ecs.show_job").is_empty());

    let out = ecs(&emulator, &["job", "0123456789abcdef0123456789abcdef"]).run();
    out.code(1);
    assert_eq!(emulator.requests_of("ecs.show_job").len(), 1);
    // ECS deletes finished jobs a day later: the message says so, and where to look instead.
    assert!(out.stderr.contains("most likely expired"), "{out}");
    assert!(out.stderr.contains("reimage ecs server"), "{out}");
}

#[test]
fn without_yes_nothing_is_applied() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--wait",
        ],
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("--yes"), "{out}");
    let out = ecs(
        &emulator,
        &["change-os", "--server", SERVER_1, "--image", IMAGE_UBUNTU],
    )
    .args(["--admin-password-file", &password])
    .run();
    out.code(2);
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
    assert_eq!(count(&server, "os_changes_applied"), 0, "{server}");
    assert_eq!(server["image_id"], IMAGE_DEBIAN, "{server}");
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
    assert!(emulator.requests_of("ecs.changeos").is_empty());
}

#[test]
fn a_bad_server_id_is_a_usage_error_that_names_it() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            "2222-not-a-uuid",
            "--admin-password-file",
            &password,
            "--yes",
        ],
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("server"), "{out}");
    assert!(out.stderr.contains("2222-not-a-uuid"), "{out}");
    // Not an id, so it may be a name: it is looked up (a read), and no server has it.
    assert!(
        out.stderr
            .contains("is neither a server id nor the name of a server of this project"),
        "{out}"
    );
    let only_reads = |emulator: &Emulator| {
        emulator
            .requests()
            .iter()
            .all(|r| r["operation"] == "ecs.list_servers")
    };
    assert!(only_reads(&emulator), "nothing but the lookup was sent");

    let out = ecs(&emulator, &["server", "--server", "x"]).run();
    out.code(2);
    assert!(out.stderr.contains("server"), "{out}");
    assert!(only_reads(&emulator), "nothing but the lookup was sent");
}

/// `--server` takes a server's exact name too, and `ecs servers` lists them.
#[test]
fn servers_are_found_by_name_and_listed() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(&emulator, &["servers", "-o", "json"]).run();
    out.code(0);
    let list = out.json();
    let name = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == SERVER_1)
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(list.as_array().unwrap().len() >= 4, "{out}");
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            &name,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 1);
    // A name held by no server, and a part of a name, are not a match.
    let part = &name[..name.len() - 1];
    let out = ecs(&emulator, &["server", "--server", part]).run();
    out.code(2);
    assert!(out.stderr.contains("reimage ecs servers"), "{out}");
}

#[test]
fn an_unknown_server_fails_with_the_provider_code() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &["server", "--server", "99999999-2222-3333-4444-555555555555"],
    )
    .run();
    out.code(1);
    assert!(out.stderr.contains("Ecs.0114"), "{out}");
}

#[test]
fn a_wrong_secret_key_is_an_auth_error() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
        ],
    )
    .env("HUAWEICLOUD_SDK_SK", "not-the-secret-key")
    .run();
    out.code(4);
    assert!(!out.stderr.contains("not-the-secret-key"), "{out}");
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
    let refused = emulator.requests();
    assert!(!refused.is_empty(), "it was tried");
    assert!(
        refused.iter().all(|r| r["status"] == 401),
        "every call refused: {refused:?}"
    );

    // A wrong IAM password, too.
    let out = ecs_iam(&emulator, &["server", "--server", SERVER_1])
        .env("OS_PASSWORD", "Wrong-Passw0rd!")
        .run();
    out.code(4);
    assert!(
        emulator.state()["iam"]["tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_locked_server_is_refused_before_anything_is_sent() {
    // The server is read first; a lock that ECS would refuse (Ecs.0605) is refused before the
    // prompt, and nothing is sent.
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_LOCKED,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("is locked"), "{out}");
    assert!(out.stderr.contains("Ecs.0605"), "{out}");
    let server = emulator.server(SERVER_LOCKED);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
}

#[test]
fn a_provider_refusal_keeps_its_code_and_is_not_retried() {
    // A key pair the user does not own: only ECS can tell (Ecs.0314).
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--keypair",
            "KeyPair-nope",
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(1);
    assert!(out.stderr.contains("Ecs.0314"), "{out}");
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 1, "sent once, not retried: {sent:?}");
    assert_eq!(sent[0]["error_code"], "Ecs.0314", "{sent:?}");
}

#[test]
fn bad_user_data_is_refused_before_anything_is_sent() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let bad = dir.write("bad.yaml", BAD_USER_DATA);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--user-data",
            bad.to_str().unwrap(),
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(3);
    assert!(out.stderr.contains("runcmd"), "the finding\n{out}");
    assert!(out.stderr.contains("--no-validate"), "the hint\n{out}");
    assert!(
        emulator.requests().is_empty(),
        "nothing at all was sent: {:?}",
        emulator.requests()
    );
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
}

#[test]
fn no_validate_sends_bad_user_data_anyway() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let bad = dir.write("bad.yaml", BAD_USER_DATA);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--user-data",
            bad.to_str().unwrap(),
            "--no-validate",
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stderr.contains("--no-validate"), "the warning\n{out}");
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");
    assert_eq!(
        count(&server, "user_data_bytes"),
        BAD_USER_DATA.len() as u64,
        "{server}"
    );
}

#[test]
fn dry_run_redacts_every_secret_and_sends_nothing() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    for output in ["text", "json"] {
        let out = ecs(
            &emulator,
            &[
                "reinstall",
                "--server",
                SERVER_1,
                "--admin-password-file",
                &password,
                "--dry-run",
                "--output",
                output,
            ],
        )
        .run();
        out.code(0);
        assert!(out.stdout.contains("[REDACTED]"), "{out}");
        assert!(out.stdout.contains("reinstallos"), "{out}");
        assert!(out.stdout.contains(SERVER_1), "{out}");
        for secret in [ADMIN_PASSWORD, SK] {
            assert!(!out.stdout.contains(secret), "{secret} leaked\n{out}");
            assert!(!out.stderr.contains(secret), "{secret} leaked\n{out}");
        }
        if output == "json" {
            let json = out.json();
            assert_eq!(json["dry_run"], true, "{out}");
            assert_eq!(json["request"]["method"], "POST", "{out}");
            // What is signed is shown; only the signature is redacted.
            let authorization = json["request"]["headers"]["authorization"]
                .as_str()
                .unwrap();
            assert!(
                authorization.starts_with(&format!(
                    "SDK-HMAC-SHA256 Access={}, SignedHeaders=content-type;host;user-agent;\
                     x-project-id;x-sdk-date, Signature=",
                    reimage_e2e::AK
                )),
                "{out}"
            );
            assert!(authorization.ends_with("Signature=[REDACTED]"), "{out}");
            assert!(
                json["request"]["headers"]["user-agent"]
                    .as_str()
                    .is_some_and(|ua| ua.starts_with("reimage")),
                "the User-Agent that is signed is shown\n{out}"
            );
        }
    }

    // With an IAM password, and a change of OS.
    let out = ecs_iam(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_2,
            "--image",
            IMAGE_UBUNTU,
            "--admin-password-file",
            &password,
            "--dry-run",
        ],
    )
    .run();
    out.code(0);
    assert!(out.stdout.contains("[REDACTED]"), "{out}");
    assert!(out.stdout.contains("changeos"), "{out}");
    for secret in [ADMIN_PASSWORD, IAM_PASSWORD] {
        assert!(!out.stdout.contains(secret), "{secret} leaked\n{out}");
        assert!(!out.stderr.contains(secret), "{secret} leaked\n{out}");
    }

    // A dry run reads the server (its online checks; with an IAM password, the token that read
    // needs) and changes nothing.
    let requests = emulator.requests();
    assert!(
        requests
            .iter()
            .all(|r| r["method"] == "GET" || r["operation"] == "iam.create_token"),
        "a dry run only reads: {requests:?}"
    );
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
    assert!(emulator.requests_of("ecs.changeos").is_empty());
    let state = emulator.state();
    for id in [SERVER_1, SERVER_2] {
        let server = reimage_e2e::find(&state["ecs"]["servers"], "id", id).unwrap();
        assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
        assert_eq!(count(&server, "os_changes_applied"), 0, "{server}");
    }
    assert!(state["iam"]["tokens"].as_array().unwrap().len() <= 1);
}

#[test]
fn the_admin_password_can_come_from_stdin() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            "-",
            "--yes",
            "--wait",
        ],
    )
    .stdin(format!("{ADMIN_PASSWORD}\n"))
    .run();
    out.code(0);
    assert_eq!(
        count(&emulator.server(SERVER_1), "reinstalls_applied"),
        1,
        "{out}"
    );
}

#[test]
fn a_password_that_fails_the_rules_is_refused_before_sending() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("weak");
    let weak = dir.write("weak", "short");
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            weak.to_str().unwrap(),
            "--yes",
        ],
    )
    .run();
    out.code(2);
    assert!(!out.stderr.contains("short\n"), "{out}");
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
}

#[test]
fn wait_gives_up_at_the_deadline() {
    // At time scale 1.0 a reinstall takes about 90 s: the 1 s deadline passes first.
    let emulator = Emulator::start(1.0);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
            "--deadline",
            "1",
        ],
    )
    .timeout(Duration::from_secs(30))
    .run();
    out.code(5);
    assert!(
        out.elapsed < Duration::from_secs(15),
        "gave up soon after the deadline\n{out}"
    );
    // The reinstall was sent once and is still under way.
    assert_eq!(emulator.requests_of("ecs.reinstallos").len(), 1);
    let jobs = emulator.state()["ecs"]["jobs"].clone();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    assert_ne!(jobs[0]["status"], "SUCCESS", "{jobs}");
    assert_ne!(jobs[0]["status"], "FAIL", "{jobs}");
}

#[test]
fn wait_uses_the_whole_deadline() {
    // At time scale 0.005 a reinstall takes about 0.45 s: well within a 1 s deadline.
    let emulator = Emulator::start(0.005);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
            "--deadline",
            "1",
        ],
    )
    .timeout(Duration::from_secs(30))
    .run();
    out.code(0);
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 1);
}

#[test]
fn user_data_with_an_image_without_cloud_init_is_refused_by_ecs() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--api",
            "cloud-init",
            "--server",
            SERVER_1,
            "--image",
            reimage_e2e::IMAGE_NO_CLOUD_INIT,
            "--admin-password-file",
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
    out.code(1);
    assert!(out.stderr.contains("Ecs.0007"), "{out}");
    // `--api` chose: the image service was not asked.
    assert!(emulator.requests_of("ims.show_image").is_empty());
    // One JSON document for the failure too, with the provider's code (issue: `--output json`
    // printed nothing when it failed).
    let doc = out.json();
    assert_eq!(doc["exit_code"], 1, "{out}");
    assert_eq!(doc["error"]["provider_code"], "Ecs.0007", "{out}");
    // The way out is named: the call for images without cloud-init.
    assert!(
        doc["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("--api plain") && h.contains("--without-cloud-init")),
        "{out}"
    );
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "os_changes_applied"), 0, "{server}");
    assert_eq!(server["image_id"], IMAGE_DEBIAN, "{server}");
}

#[test]
fn a_busy_server_is_refused_before_anything_is_sent() {
    // At time scale 1.0 the first reinstall runs for about 90 s: the second finds it busy.
    let emulator = Emulator::start(1.0);
    let (_dir, password) = password_dir();
    let args = [
        "reinstall",
        "--server",
        SERVER_1,
        "--admin-password-file",
        &password,
        "--yes",
    ];
    ecs(&emulator, &args).run().code(0);
    // The server reads REBUILD: the second is refused before it is sent (ECS would answer 501
    // Ecs.0603, or fail the running rebuild); the client's own test covers the 501.
    let out = ecs(&emulator, &args).run();
    out.code(2);
    assert!(out.stderr.contains("is being rebuilt already"), "{out}");
    assert!(out.stderr.contains("Ecs.0603"), "{out}");
    let sent = emulator.requests_of("ecs.reinstallos");
    assert_eq!(sent.len(), 1, "the second was not sent: {sent:?}");
    assert_eq!(
        emulator.state()["ecs"]["jobs"].as_array().unwrap().len(),
        1,
        "one job"
    );
}

#[test]
fn endpoints_and_settings_from_the_environment_and_a_config_file() {
    let emulator = Emulator::start(0.01);
    let base = emulator.base_url();

    // REIMAGE_ECS_ENDPOINT instead of --endpoint.
    let out = reimage(["ecs", "server", "--server", SERVER_1])
        .envs(aksk_env())
        .env("REIMAGE_ECS_ENDPOINT", base)
        .run();
    out.code(0);
    assert!(out.stdout.contains("emulator-debian-1"), "{out}");

    // OS_AUTH_URL without `/v3`, and no OS_AUTH_URL at all (IAM falls back to --endpoint).
    for auth_url in [Some(base.to_owned()), None] {
        let env = emulator
            .iam_env()
            .into_iter()
            .filter(|(k, _)| k != "OS_AUTH_URL");
        let mut run = reimage(["ecs", "--endpoint", base, "token"]).envs(env);
        if let Some(url) = &auth_url {
            run = run.env("OS_AUTH_URL", url.as_str());
        }
        let out = run.run();
        out.code(0);
        assert!(!out.stdout.trim().is_empty(), "{auth_url:?}\n{out}");
    }
    assert_eq!(
        emulator.state()["iam"]["tokens"].as_array().unwrap().len(),
        2
    );

    // A profile of a config file (no secret in it: the SK comes from --secret-key-file, which
    // completes the profile's credential; half a credential from the environment would not).
    let dir = TempDir::new("config");
    let config = dir.write(
        "config.toml",
        format!(
            "[profiles.lab]\nendpoint = \"{base}\"\nproject_id = \"{}\"\naccess_key = \"{}\"\n",
            reimage_e2e::PROJECT_ID,
            reimage_e2e::AK
        ),
    );
    let sk_file = dir.write("sk", SK);
    let out = reimage(["ecs", "server", "--server", SERVER_2, "--profile", "lab"])
        .args(["--secret-key-file", sk_file.to_str().unwrap()])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .run();
    out.code(0);
    assert!(out.stdout.contains("emulator-debian-2"), "{out}");
    let shows = emulator.requests_of("ecs.show_server");
    assert_eq!(shows.len(), 2, "{shows:?}");
    assert!(
        shows.iter().all(|r| r["auth"]["scheme"] == "aksk"),
        "{shows:?}"
    );
}

#[test]
fn a_project_name_is_enough_for_a_token() {
    let emulator = Emulator::start(0.01);
    let env = emulator
        .iam_env()
        .into_iter()
        .filter(|(k, _)| k != "OS_PROJECT_ID");
    // `eu-de` is the project name of the default fixtures.
    let out = reimage(["ecs", "--endpoint", emulator.base_url(), "token"])
        .envs(env)
        .env("OS_PROJECT_NAME", "eu-de")
        .run();
    out.code(0);
    assert_eq!(
        emulator.state()["iam"]["tokens"].as_array().unwrap().len(),
        1
    );
}

/// `ecs reinstall --without-cloud-init`: ECS's reinstall for images without cloud-init
/// (`POST /v1/…/reinstallos`), with a key pair, followed to its end; user data is refused
/// before anything is sent, since nothing on such an image reads it.
#[test]
fn reinstall_without_cloud_init_takes_the_v1_call() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--without-cloud-init",
            "--server",
            SERVER_1,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert_eq!(
        emulator
            .requests_of("ecs.reinstallos_without_cloud_init")
            .len(),
        1
    );
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 1, "{server}");

    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--without-cloud-init",
            "--server",
            SERVER_2,
            "--admin-password-file",
            &password,
            "--user-data",
            user_data.to_str().unwrap(),
            "--yes",
        ],
    )
    .run();
    out.code(3);
    assert!(out.stderr.contains("takes no user data"), "{out}");
    assert_eq!(
        emulator
            .requests_of("ecs.reinstallos_without_cloud_init")
            .len(),
        1,
        "nothing more was sent"
    );
}

/// `ecs change-os --without-cloud-init`: the image without cloud-init that the ordinary change of
/// OS refuses (Ecs.0007) is taken by ECS's `/v1/…/changeos`.
#[test]
fn change_os_without_cloud_init_takes_the_v1_call() {
    let emulator = Emulator::start(0.01);
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--without-cloud-init",
            "--server",
            SERVER_1,
            "--image",
            reimage_e2e::IMAGE_NO_CLOUD_INIT,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert_eq!(
        emulator
            .requests_of("ecs.changeos_without_cloud_init")
            .len(),
        1
    );
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "os_changes_applied"), 1, "{server}");
    assert_eq!(
        server["image_id"],
        reimage_e2e::IMAGE_NO_CLOUD_INIT,
        "{server}"
    );
}

/// A Jinja template is rendered with what reimage knows of the server before it boots: its id is
/// `v1.instance_id`, so a config that breaks only on this server is refused before anything is
/// sent; what reimage cannot know (the host name) is a warning, unknown until boot.
#[test]
fn a_template_is_rendered_with_the_servers_id_before_it_is_sent() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let template = format!(
        "## template: jinja\n#cloud-config\nhostname: {{{{ v1.local_hostname }}}}\n\
         {{% if v1.instance_id == \"{SERVER_1}\" %}}\nruncmd: echo on {{{{ v1.instance_id }}}}\n\
         {{% else %}}\nruncmd: [echo elsewhere]\n{{% endif %}}\n"
    );
    let file = dir.write("template.yaml", &template);
    let run = |server: &str| {
        ecs(
            &emulator,
            &[
                "reinstall",
                "--server",
                server,
                "--admin-password-file",
                &password,
                "--user-data",
                file.to_str().unwrap(),
                "--yes",
                "--wait",
            ],
        )
        .run()
    };
    let out = run(SERVER_1);
    out.code(3);
    assert!(out.stderr.contains("error[schema]: runcmd"), "{out}");
    assert!(
        out.stderr
            .contains("does not have: 'local_hostname' (unknown until boot); cloud-init renders"),
        "{out}"
    );
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
    let out = run(SERVER_2);
    out.code(0);
    assert_eq!(count(&emulator.server(SERVER_2), "reinstalls_applied"), 1);
}

/// Without `--api`, `ecs change-os` asks the image service about the new image and, for one
/// whose `__support_fc_inject` is `"true"`, takes ECS's `/v1/…/changeos` by itself.
#[test]
fn change_os_chooses_the_v1_call_for_an_image_without_cloud_init_by_itself() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_1,
            "--image",
            reimage_e2e::IMAGE_NO_CLOUD_INIT,
            "--admin-password-file",
            &password,
            "--yes",
            "--wait",
        ],
    )
    .run();
    out.code(0);
    assert!(
        out.stderr.contains("__support_fc_inject is \"true\""),
        "the reason is shown: {out}"
    );
    let looked_up = emulator.requests_of("ims.show_image");
    assert_eq!(looked_up.len(), 1, "{looked_up:?}");
    assert!(
        looked_up[0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(reimage_e2e::IMAGE_NO_CLOUD_INIT)),
        "{looked_up:?}"
    );
    assert_eq!(
        emulator
            .requests_of("ecs.changeos_without_cloud_init")
            .len(),
        1
    );
    assert!(emulator.requests_of("ecs.changeos").is_empty());
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "os_changes_applied"), 1, "{server}");
    assert_eq!(
        server["image_id"],
        reimage_e2e::IMAGE_NO_CLOUD_INIT,
        "{server}"
    );
}

/// User data for an image the image service says has no cloud-init is refused before anything
/// is sent, naming the image and the attribute; a cloud-init image still takes `/v2/`.
#[test]
fn user_data_for_an_image_without_cloud_init_is_refused_naming_the_attribute() {
    let emulator = Emulator::start(0.01);
    let (dir, password) = password_dir();
    let user_data = dir.write("user-data.yaml", USER_DATA);
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_1,
            "--image",
            reimage_e2e::IMAGE_NO_CLOUD_INIT,
            "--admin-password-file",
            &password,
            "--user-data",
            user_data.to_str().unwrap(),
            "--yes",
        ],
    )
    .run();
    out.code(3);
    assert!(
        out.stderr.contains(reimage_e2e::IMAGE_NO_CLOUD_INIT)
            && out.stderr.contains("__support_fc_inject"),
        "{out}"
    );
    assert!(emulator.requests_of("ecs.changeos").is_empty());
    assert!(
        emulator
            .requests_of("ecs.changeos_without_cloud_init")
            .is_empty()
    );
    assert_eq!(count(&emulator.server(SERVER_1), "os_changes_applied"), 0);

    // The same user data to an image with cloud-init: looked up, and sent by /v2/.
    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_1,
            "--image",
            IMAGE_UBUNTU,
            "--admin-password-file",
            &password,
            "--user-data",
            user_data.to_str().unwrap(),
            "--yes",
        ],
    )
    .run();
    out.code(0);
    assert_eq!(emulator.requests_of("ecs.changeos").len(), 1);
    assert_eq!(emulator.requests_of("ims.show_image").len(), 2);
}

/// `--dry-run` looks the image up (a read) and says so, and prints the request of the API it
/// chose: for a reinstall, the image is the server's current one.
#[test]
fn dry_run_says_which_image_it_looked_up_and_which_call_it_would_make() {
    let emulator = Emulator::start(0.01);
    let (_dir, password) = password_dir();
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            &password,
            "--dry-run",
        ],
    )
    .run();
    out.code(0);
    assert!(
        out.stderr
            .contains(&format!("looking up image {IMAGE_DEBIAN}")),
        "{out}"
    );
    assert!(
        out.stderr.contains("__support_fc_inject is \"false\""),
        "{out}"
    );
    assert!(out.stdout.contains("/v2/"), "{out}");
    assert!(out.stdout.contains("/reinstallos"), "{out}");
    assert_eq!(emulator.requests_of("ims.show_image").len(), 1);
    assert!(emulator.requests_of("ecs.reinstallos").is_empty());
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 0);
}

/// A project whose region takes no password with a cloud-init image (`keypair_only = true` in
/// the emulator's fixtures): ECS refuses the password, and reimage says in one line what to do.
#[test]
fn a_keypair_only_region_refuses_a_password_and_the_hint_names_the_fix() {
    let dir = TempDir::new("keypair-only");
    let defaults = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/emulator/fixtures/default.toml"
    ))
    .unwrap();
    assert!(defaults.contains("keypair_only = false"));
    let fixtures = dir.write(
        "fixtures.toml",
        defaults.replace("keypair_only = false", "keypair_only = true"),
    );
    let emulator = Emulator::start_with_fixtures(0.01, &fixtures);
    let password = dir.write("admin-password", ADMIN_PASSWORD);
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password.to_str().unwrap(),
            "--yes",
        ],
    )
    .run();
    out.code(1);
    assert!(out.stderr.contains("Ecs.0005"), "{out}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("--keypair NAME --user-id ID")),
        "the fix, on one line: {out}"
    );
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 0);

    // A key pair is taken.
    let out = ecs(
        &emulator,
        &[
            "reinstall",
            "--server",
            SERVER_1,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
        ],
    )
    .run();
    out.code(0);
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 1);
}

/// The default fixtures with `server` made yearly/monthly (`prepaid = true`), in `dir`.
fn prepaid_fixtures(dir: &TempDir, server: &str) -> std::path::PathBuf {
    let defaults = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/emulator/fixtures/default.toml"
    ))
    .unwrap();
    let line = format!("id = \"{server}\"\n");
    assert!(defaults.contains(&line));
    dir.write(
        "fixtures.toml",
        defaults.replace(&line, &format!("{line}prepaid = true\n")),
    )
}

/// A yearly/monthly server's change of OS waits in PENDING_PAYMENT until its order is paid
/// (the emulator pays it a scaled minute later): `--wait` shows it and waits; `--auto-pay`
/// sends `isAutoPay` and the job never waits for payment; `--payment-deadline` gives up on an
/// order nobody pays (exit 5), and the job is left as it is.
#[test]
fn a_prepaid_servers_change_of_os_waits_for_its_payment_or_pays_at_once() {
    let dir = TempDir::new("prepaid");
    let fixtures = prepaid_fixtures(&dir, SERVER_2);
    let emulator = Emulator::start_with_fixtures(0.01, &fixtures);
    let change = |image: &str, extra: &[&str]| {
        let mut args = vec![
            "change-os",
            "--server",
            SERVER_2,
            "--image",
            image,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
        ];
        args.extend_from_slice(extra);
        ecs(&emulator, &args).run()
    };
    let out = change(IMAGE_UBUNTU, &[]);
    out.code(0);
    assert!(out.stderr.contains("PENDING_PAYMENT"), "{out}");
    let server = emulator.server(SERVER_2);
    assert_eq!(server["image_id"], IMAGE_UBUNTU, "{server}");

    // The server runs now: stop it first.
    let out = change(IMAGE_DEBIAN, &["--auto-pay", "--mode", "with-stop-server"]);
    out.code(0);
    assert!(!out.stderr.contains("PENDING_PAYMENT"), "{out}");
    let server = emulator.server(SERVER_2);
    assert_eq!(server["image_id"], IMAGE_DEBIAN, "{server}");
    assert_eq!(count(&server, "os_changes_applied"), 2, "{server}");

    // At full time scale, nobody pays within a second.
    let slow = Emulator::start_with_fixtures(1.0, &fixtures);
    let out = ecs(
        &slow,
        &[
            "change-os",
            "--server",
            SERVER_2,
            "--image",
            IMAGE_UBUNTU,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--yes",
            "--wait",
            "--payment-deadline",
            "1s",
        ],
    )
    .run();
    out.code(5);
    assert!(out.stderr.contains("PENDING_PAYMENT"), "{out}");
    let jobs = slow.state()["ecs"]["jobs"].clone();
    assert_eq!(jobs[0]["status"], "PENDING_PAYMENT", "{jobs}");
}

/// `--api plain` is what `--without-cloud-init` was (the two together are refused), and a dry
/// run of a change of OS to an image without cloud-init shows the `/v1/` call it chose.
#[test]
fn api_plain_is_the_old_flag_and_a_dry_run_shows_the_v1_call() {
    let emulator = Emulator::start(0.01);
    let base = [
        "reinstall",
        "--server",
        SERVER_1,
        "--keypair",
        KEYPAIR,
        "--user-id",
        USER_ID,
        "--yes",
    ];
    let out = ecs(&emulator, &[&base[..], &["--api", "plain"]].concat()).run();
    out.code(0);
    assert_eq!(
        emulator
            .requests_of("ecs.reinstallos_without_cloud_init")
            .len(),
        1
    );
    assert!(emulator.requests_of("ims.show_image").is_empty());
    let out = ecs(
        &emulator,
        &[&base[..], &["--api", "cloud-init", "--without-cloud-init"]].concat(),
    )
    .run();
    out.code(2);
    assert!(out.stderr.contains("--without-cloud-init"), "{out}");

    let out = ecs(
        &emulator,
        &[
            "change-os",
            "--server",
            SERVER_2,
            "--image",
            reimage_e2e::IMAGE_NO_CLOUD_INIT,
            "--keypair",
            KEYPAIR,
            "--user-id",
            USER_ID,
            "--dry-run",
        ],
    )
    .run();
    out.code(0);
    assert!(
        out.stdout.contains("/v1/") && out.stdout.contains("/changeos"),
        "{out}"
    );
    assert!(
        emulator
            .requests_of("ecs.changeos_without_cloud_init")
            .is_empty()
    );
}
