//! Safe as a person really uses it: the refusals that come before any prompt or request. A
//! config that leaves no way to log in is refused even with `--yes` (unless `--allow-lockout`),
//! user data over ECS's limit is refused before the server is read, a profile named with
//! `--profile` (or by a fleet plan) wins over stray environment variables, and one credential is
//! never put together from two places. Each is checked on what the emulators received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_e2e::{
    ADMIN_PASSWORD, AK, EDIS_EMAIL, EDIS_PASSWORD, Emulator, KVM_1, PROJECT_ID, ROOT_PASSWORD,
    SERVER_1, SERVER_2, SK, TempDir, aksk_env, count, edis_env, reimage,
};

/// A cloud-config that leaves no way to log in: no key, no usable password.
const LOCKOUT: &str = "#cloud-config\nhostname: web\npackages: [nginx]\n";

/// `reimage ecs --endpoint <emulator> reinstall --server SERVER_1 --user-data FILE --yes`,
/// signed with the fixtures' AK/SK, plus `extra`.
fn reinstall_with(emulator: &Emulator, user_data: &str, extra: &[&str]) -> reimage_e2e::Output {
    reimage(["ecs", "--endpoint", emulator.base_url()])
        .args([
            "reinstall",
            "--server",
            SERVER_1,
            "--user-data",
            user_data,
            "--yes",
            "--wait",
        ])
        .args(extra)
        .envs(aksk_env())
        .run()
}

#[test]
fn a_lockout_config_is_refused_even_with_yes() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("lockout");
    let file = dir.write("lockout.yaml", LOCKOUT);
    let out = reinstall_with(&emulator, file.to_str().unwrap(), &[]);
    out.code(3);
    assert!(
        out.stderr.contains("leaves no way to log in"),
        "the reason\n{out}"
    );
    assert!(out.stderr.contains("--allow-lockout"), "the way out\n{out}");
    assert!(
        emulator.requests().is_empty(),
        "nothing at all was sent: {:?}",
        emulator.requests()
    );
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 0);

    // --no-validate is about cloud-init's errors, not about locking oneself out.
    let out = reinstall_with(&emulator, file.to_str().unwrap(), &["--no-validate"]);
    out.code(3);
    assert!(emulator.requests().is_empty());

    // A password given to the provider is a way in: the same file is sent.
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let out = reinstall_with(
        &emulator,
        file.to_str().unwrap(),
        &["--admin-password-file", password.to_str().unwrap()],
    );
    out.code(0);
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 1);

    // --allow-lockout says the person means it: sent, with a warning.
    let out = reinstall_with(
        &emulator,
        file.to_str().unwrap(),
        &["--allow-lockout", "--mode", "with-stop-server"],
    );
    out.code(0);
    assert!(out.stderr.contains("--allow-lockout asks"), "{out}");
    let server = emulator.server(SERVER_1);
    assert_eq!(count(&server, "reinstalls_applied"), 2, "{server}");
    assert_eq!(
        count(&server, "user_data_bytes"),
        LOCKOUT.len() as u64,
        "{server}"
    );
}

#[test]
fn user_data_over_the_ecs_limit_is_refused_before_the_server_is_read() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("oversize");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let mut text =
        String::from("#cloud-config\nwrite_files:\n  - path: /etc/big\n    content: |\n");
    while text.len() < 40 * 1024 {
        text.push_str("      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    }
    let file = dir.write("big.yaml", &text);
    for extra in [&[][..], &["--no-validate"][..]] {
        let mut args = vec!["--admin-password-file", password.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = reinstall_with(&emulator, file.to_str().unwrap(), &args);
        out.code(3);
        assert!(out.stderr.contains("limit of 32768 bytes"), "{out}");
        assert!(!out.stderr.contains("Type yes"), "no prompt\n{out}");
        assert!(
            emulator.requests().is_empty(),
            "not even a read: {:?}",
            emulator.requests()
        );
    }
}

/// A config file with one profile, `lab`, for `emulator`'s ECS and EDIS.
fn lab_config(dir: &TempDir, emulator: &Emulator) -> std::path::PathBuf {
    let url = emulator.base_url();
    dir.write(
        "config.toml",
        format!(
            "[profiles.lab]\nendpoint = \"{url}\"\nproject_id = \"{PROJECT_ID}\"\n\
             access_key = \"{AK}\"\nsecret_key = \"{SK}\"\nedis_email = \"{EDIS_EMAIL}\"\n\
             edis_password = \"{EDIS_PASSWORD}\"\nedis_auth_url = \"{url}\"\n"
        ),
    )
}

/// Environment variables left in the shell from another account, at `stray`.
fn stray_env(stray: &Emulator) -> Vec<(String, String)> {
    let mut env = aksk_env();
    env.extend(edis_env());
    env.push(("REIMAGE_ECS_ENDPOINT".into(), stray.base_url().to_owned()));
    env.push(("EDIS_AUTH_URL".into(), stray.base_url().to_owned()));
    env
}

#[test]
fn an_explicit_profile_wins_over_the_environment() {
    let lab = Emulator::start(0.01);
    let stray = Emulator::start(0.01);
    let dir = TempDir::new("profile");
    let config = lab_config(&dir, &lab);

    let out = reimage(["ecs", "server", "--server", SERVER_2, "--profile", "lab"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .envs(stray_env(&stray))
        .run();
    out.code(0);
    assert!(out.stderr.contains("REIMAGE_ECS_ENDPOINT"), "said\n{out}");
    assert_eq!(lab.requests_of("ecs.show_server").len(), 1);
    assert!(
        stray.requests().is_empty(),
        "the other account saw {:?}",
        stray.requests()
    );

    let out = reimage(["edis", "power", "--kvm", KVM_1, "--profile", "lab"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .envs(stray_env(&stray))
        .run();
    out.code(0);
    assert!(out.stderr.contains("EDIS_AUTH_URL"), "said\n{out}");
    assert!(!lab.requests_of("edis.create_session").is_empty());
    assert!(stray.requests().is_empty(), "{:?}", stray.requests());

    // Without --profile the documented order holds: the environment beats the file's default
    // profile.
    let out = reimage(["ecs", "server", "--server", SERVER_2])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .env("REIMAGE_PROFILE", "lab")
        .envs(stray_env(&stray))
        .run();
    out.code(0);
    assert_eq!(stray.requests_of("ecs.show_server").len(), 1);
}

#[test]
fn a_fleet_plans_profile_wins_over_the_environment() {
    let lab = Emulator::start(0.005);
    let stray = Emulator::start(0.005);
    let dir = TempDir::new("fleet-profile");
    let config = lab_config(&dir, &lab);
    dir.write("admin.pw", ADMIN_PASSWORD);
    dir.write("root.pw", ROOT_PASSWORD);
    let plan = dir.write(
        "wave1.toml",
        format!(
            "[defaults]\nprofile = \"lab\"\nadmin_password_file = \"admin.pw\"\n\
             root_password_file = \"root.pw\"\n\
             [[targets]]\necs = \"{SERVER_1}\"\n\
             [[targets]]\necs = \"{SERVER_2}\"\n\
             [[targets]]\nedis = \"{KVM_1}\"\nimage = \"cloudinit_debian-bookworm\"\n"
        ),
    );
    let out = reimage(["fleet", "apply", plan.to_str().unwrap(), "--yes"])
        .args(["--settle", "0", "--poll-ms", "20", "--output", "json"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .envs(stray_env(&stray))
        .run();
    out.code(0);
    assert!(
        stray.requests().is_empty(),
        "the other account saw {:?}",
        stray.requests()
    );
    for id in [SERVER_1, SERVER_2] {
        assert_eq!(count(&lab.server(id), "reinstalls_applied"), 1, "{id}");
    }
    assert_eq!(count(&lab.kvm(KVM_1), "reinstalls_applied"), 1);
}

#[test]
fn one_credential_is_never_put_together_from_two_places() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("mixed");
    let config = lab_config(&dir, &emulator);
    // The default profile is lab (chosen by REIMAGE_PROFILE, not named with --profile): the
    // environment's half of an AK/SK pair would meet the profile's other half.
    for (var, value) in [
        ("HUAWEICLOUD_SDK_SK", "another-accounts-sk"),
        ("HUAWEICLOUD_SDK_AK", "OTHERAK"),
    ] {
        let out = reimage(["ecs", "server", "--server", SERVER_2])
            .env("REIMAGE_CONFIG", config.to_str().unwrap())
            .env("REIMAGE_PROFILE", "lab")
            .env(var, value)
            .run();
        out.code(2);
        assert!(out.stderr.contains("two places"), "{out}");
        assert!(out.stderr.contains(var), "names the variable\n{out}");
        assert!(
            !out.stderr.contains(value) || var == "HUAWEICLOUD_SDK_AK",
            "{out}"
        );
    }
    let out = reimage(["edis", "power", "--kvm", KVM_1])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .env("REIMAGE_PROFILE", "lab")
        .env("EDIS_EMAIL", "someone-else@example.com")
        .run();
    out.code(2);
    assert!(out.stderr.contains("EDIS_EMAIL"), "{out}");
    assert!(
        emulator.requests().is_empty(),
        "nothing was sent: {:?}",
        emulator.requests()
    );
}

#[test]
fn a_running_server_without_mode_is_refused_before_the_prompt() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("running");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", reimage_e2e::SERVER_RUNNING])
        .args(["--admin-password-file", password.to_str().unwrap(), "--yes"])
        .envs(aksk_env())
        .run();
    out.code(2);
    assert!(out.stderr.contains("ACTIVE (running)"), "{out}");
    assert!(out.stderr.contains("--mode with-stop-server"), "{out}");
    assert_eq!(
        emulator.requests_of("ecs.reinstallos").len(),
        0,
        "{:?}",
        emulator.requests()
    );
    let server = emulator.server(reimage_e2e::SERVER_RUNNING);
    assert_eq!(count(&server, "reinstalls_applied"), 0, "{server}");
}

/// `--output json` prints one document for every outcome, errors included, with the exit code,
/// a stable kind, the message, and the provider's code and request id where it gave them. This
/// walks every exit code the provider commands document (7 is in
/// `the_prompt_takes_exactly_yes`).
#[test]
fn every_exit_code_has_a_json_document() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("json-codes");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let password = password.to_str().unwrap();
    let lockout = dir.write("lockout.yaml", LOCKOUT);
    let ecs = |args: &[&str]| {
        reimage(["ecs", "--endpoint", emulator.base_url()])
            .args(args)
            .args(["--output", "json"])
            .envs(aksk_env())
    };
    let check = |out: &reimage_e2e::Output, code: i32, kind: &str| {
        out.code(code);
        let doc = out.json();
        assert_eq!(doc["ok"], false, "{out}");
        assert_eq!(doc["exit_code"], code, "{out}");
        assert_eq!(doc["error"]["kind"], kind, "{out}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{out}"
        );
        doc
    };
    // 1: the provider refused (a key pair the user does not own), with its code and request id.
    let out = ecs(&[
        "reinstall",
        "--server",
        SERVER_1,
        "--keypair",
        "KeyPair-nope",
        "--user-id",
        reimage_e2e::USER_ID,
        "--yes",
    ])
    .run();
    let doc = check(&out, 1, "failed");
    assert!(
        doc["error"]["provider_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("Ecs.")),
        "{out}"
    );
    assert!(
        doc["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{out}"
    );
    // 2: usage.
    check(
        &ecs(&["server", "--server", "not-a-uuid"]).run(),
        2,
        "usage",
    );
    // 3: user data refused.
    let out = ecs(&[
        "reinstall",
        "--server",
        SERVER_1,
        "--user-data",
        lockout.to_str().unwrap(),
        "--yes",
    ])
    .run();
    check(&out, 3, "user_data_refused");
    // 4: credentials refused.
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["server", "--server", SERVER_1, "-o", "json"])
        .envs(aksk_env())
        .env("HUAWEICLOUD_SDK_SK", "a-wrong-secret-key")
        .run();
    check(&out, 4, "auth");
    // 5: a wait that runs out of time.
    let slow = Emulator::start(1.0);
    let out = reimage(["ecs", "--endpoint", slow.base_url()])
        .args([
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            password,
        ])
        .args(["--yes", "--wait", "--deadline", "1s", "-o", "json"])
        .envs(aksk_env())
        .run();
    let doc = check(&out, 5, "timeout");
    // The exact command that looks again.
    assert!(
        doc["error"]["hint"].as_str().is_some_and(|h| h
            .contains("look again with: reimage ecs job ")
            && h.ends_with("--wait")),
        "{out}"
    );
    // 6: a reinstall whose answer was lost, on a KVM whose power state cannot tell.
    emulator.add_fault(serde_json::json!({
        "operation": "edis.reinstall", "kind": "lost_answer", "calls": [1]
    }));
    let root = dir.write("root.pw", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["reinstall", "--kvm", reimage_e2e::KVM_2])
        .args([
            "--image",
            "cloudinit_debian-bookworm",
            "--root-password-file",
        ])
        .arg(root.to_str().unwrap())
        .args(["--yes", "--output", "json"])
        .envs(edis_env())
        .run();
    check(&out, 6, "outcome_unknown");
    // 8: nothing listens at the endpoint: nothing was sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = reimage(["ecs", "--endpoint", &url, "server", "--server", SERVER_1])
        .args(["-o", "json"])
        .envs(aksk_env())
        .run();
    check(&out, 8, "unreachable");
}

/// The prompt asks for `yes` and takes exactly that: `y` is not confirmation (exit 7, nothing
/// sent). Run through a real pseudo-terminal (`script`), as a person would.
#[test]
fn the_prompt_takes_exactly_yes() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("prompt");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let run = |answer: &str| {
        let command = format!(
            "{} ecs --endpoint {} reinstall --server {SERVER_1} --admin-password-file {}",
            reimage_e2e::binary().display(),
            emulator.base_url(),
            password.display()
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .envs(aksk_env())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) runs the command in a pseudo-terminal");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, shown) = run("y");
    assert_eq!(code, 7, "{shown}");
    assert!(shown.contains("Type yes"), "{shown}");
    assert!(shown.contains("not confirmed"), "{shown}");
    assert_eq!(emulator.requests_of("ecs.reinstallos").len(), 0);
    let (code, shown) = run("yes");
    assert_eq!(code, 0, "{shown}");
    assert_eq!(count(&emulator.server(SERVER_1), "reinstalls_applied"), 1);
}

#[test]
fn durations_take_units() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("durations");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password.to_str().unwrap())
        .args([
            "--yes",
            "--wait",
            "--deadline",
            "5m",
            "--request-timeout",
            "1m30s",
        ])
        .envs(aksk_env())
        .run();
    out.code(0);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["job", "x", "--deadline", "5 minutes"])
        .envs(aksk_env())
        .run();
    out.code(2);
    assert!(out.stderr.contains("is not a duration"), "{out}");
    assert!(out.stderr.contains("5m"), "{out}");
}

#[test]
fn a_token_needs_only_iam() {
    let emulator = Emulator::start(0.01);
    // OS_AUTH_URL and the IAM password, and no ECS endpoint anywhere.
    let out = reimage(["ecs", "token"])
        .envs(emulator.iam_env())
        .env("XDG_CONFIG_HOME", "/nonexistent-reimage-test")
        .run();
    out.code(0);
    assert!(!out.stdout.trim().is_empty(), "{out}");
}

#[test]
fn passwords_say_what_is_wrong_with_them() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("passwords");
    // A weak EDIS root password is refused before anything is sent, unless --weak-password.
    let weak = dir.write("weak.pw", "abc\n");
    let edis = |extra: &[&str]| {
        reimage(["edis", "--auth-url", emulator.base_url()])
            .args(["reinstall", "--kvm", reimage_e2e::KVM_2])
            .args(["--image", "debian-bullseye", "--root-password-file"])
            .arg(weak.to_str().unwrap())
            .args(["--yes"])
            .args(extra)
            .envs(edis_env())
            .run()
    };
    let out = edis(&[]);
    out.code(2);
    assert!(out.stderr.contains("shorter than 8"), "{out}");
    assert!(out.stderr.contains("--weak-password"), "{out}");
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
    edis(&["--weak-password"]).code(0);
    assert_eq!(
        count(&emulator.kvm(reimage_e2e::KVM_2), "reinstalls_applied"),
        1
    );

    // One trailing newline is removed; a second is named as what it is.
    let two = dir.write("two.pw", format!("{ADMIN_PASSWORD}\n\n"));
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(two.to_str().unwrap())
        .args(["--yes"])
        .envs(aksk_env())
        .run();
    out.code(2);
    assert!(out.stderr.contains("contains a newline"), "{out}");
    assert!(!out.stderr.contains(ADMIN_PASSWORD), "{out}");
    let one = dir.write("one.pw", format!("{ADMIN_PASSWORD}\n"));
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(one.to_str().unwrap())
        .args(["--yes"])
        .envs(aksk_env())
        .run();
    out.code(0);
}

/// Ctrl-C during `--wait` says the job goes on and how to follow it again (exit 130), and
/// `ecs job JOB --wait` then follows it.
#[test]
fn ctrl_c_during_a_wait_gives_the_next_step() {
    // At time scale 1.0 an ECS reinstall runs for about 90 s: long enough to interrupt.
    let emulator = Emulator::start(1.0);
    let dir = TempDir::new("ctrl-c");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let child = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password.to_str().unwrap())
        .args(["--yes", "--wait"])
        .envs(aksk_env())
        .spawn();
    // Wait (bounded) until the reinstall was accepted, then interrupt the process we started.
    let mut tries = 0;
    while emulator
        .requests_of("ecs.reinstallos")
        .iter()
        .all(|r| r["status"] != 200)
    {
        tries += 1;
        assert!(tries < 600, "the reinstall was never sent");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait();
    out.code(130);
    assert!(out.stderr.contains("goes on at the provider"), "{out}");
    let job = emulator.state()["ecs"]["jobs"][0]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        out.stderr.contains(&format!(
            "follow it again with: reimage ecs job {job} --wait"
        )),
        "{out}"
    );
}

/// An EDIS install can be followed again after the command that started it is gone:
/// `reimage edis wait --kvm ID`.
#[test]
fn edis_wait_follows_an_install_started_earlier() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("edis-wait");
    let root = dir.write("root.pw", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args([
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .arg("--root-password-file")
        .arg(root.to_str().unwrap())
        .args(["--yes"])
        .envs(edis_env())
        .run();
    out.code(0);
    assert!(
        out.stdout
            .contains(&format!("reimage edis wait --kvm {KVM_1}")),
        "{out}"
    );
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["wait", "--kvm", KVM_1, "-o", "json"])
        .envs(edis_env())
        .run();
    out.code(0);
    assert_eq!(out.json()["done"], true, "{out}");
    let kvm = emulator.kvm(KVM_1);
    assert_eq!(count(&kvm, "reinstalls_applied"), 1, "{kvm}");
    assert_eq!(
        emulator.requests_of("edis.reinstall").len(),
        1,
        "waiting sends nothing"
    );
}

/// Before the prompt, the command names the account, project, endpoint it is about to use; the
/// outcome is printed once.
#[test]
fn the_confirmation_names_the_account_and_the_outcome_is_said_once() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("account");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password.to_str().unwrap())
        .args(["--yes", "--wait"])
        .envs(aksk_env())
        .run();
    out.code(0);
    assert!(
        out.stderr.contains(&format!(
            "account: access key {}… (from HUAWEICLOUD_SDK_AK), project {PROJECT_ID}",
            &AK[..4]
        )),
        "{out}"
    );
    assert!(
        !out.stderr.contains(AK),
        "the whole access key is not shown\n{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "endpoint: {} (from --endpoint)",
            emulator.base_url()
        )),
        "{out}"
    );
    assert_eq!(out.stdout.matches("done").count(), 1, "{out}");
    assert!(!out.stderr.contains("done:"), "said once, on stdout\n{out}");

    let root = dir.write("root.pw", ROOT_PASSWORD);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args([
            "reinstall",
            "--kvm",
            KVM_1,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .arg("--root-password-file")
        .arg(root.to_str().unwrap())
        .args(["--yes"])
        .envs(edis_env())
        .run();
    out.code(0);
    assert!(
        out.stderr.contains(&format!(
            "account: {EDIS_EMAIL} (from EDIS_EMAIL), sessions from"
        )),
        "{out}"
    );
}

/// `--dry-run` runs the same checks as the real command, online ones included (reads only):
/// a dry run of what ECS would refuse says so, with the real command's exit code.
#[test]
fn a_dry_run_checks_what_the_real_command_checks() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("dry-checks");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    for (server, says) in [
        (reimage_e2e::SERVER_LOCKED, "is locked"),
        (reimage_e2e::SERVER_RUNNING, "ACTIVE (running)"),
    ] {
        let out = reimage(["ecs", "--endpoint", emulator.base_url()])
            .args(["reinstall", "--server", server, "--admin-password-file"])
            .arg(password.to_str().unwrap())
            .arg("--dry-run")
            .envs(aksk_env())
            .run();
        out.code(2);
        assert!(out.stderr.contains(says), "{out}");
        assert!(
            out.stdout.is_empty(),
            "no request shown for a refusal\n{out}"
        );
    }
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password.to_str().unwrap())
        .arg("--dry-run")
        .envs(aksk_env())
        .run();
    out.code(0);
    assert!(out.stderr.contains("it can be sent"), "{out}");
    assert!(
        emulator.requests().iter().all(|r| r["method"] == "GET"),
        "{:?}",
        emulator.requests()
    );
}

/// `--dry-run` shows user data apart, decoded, with every password in it hidden: the request
/// carries it redacted, not as base64 anyone can decode.
#[test]
fn a_dry_run_hides_the_passwords_inside_user_data() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("dry-user-data");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let user_data = dir.write(
        "u.yaml",
        "#cloud-config\nchpasswd:\n  list: |\n    root:Hunter2-in-user-data\nssh_pwauth: true\npackages: [nginx]\n",
    );
    for output in ["text", "json"] {
        let out = reimage(["ecs", "--endpoint", emulator.base_url()])
            .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
            .arg(password.to_str().unwrap())
            .arg("--user-data")
            .arg(user_data.to_str().unwrap())
            .args(["--dry-run", "-o", output])
            .envs(aksk_env())
            .run();
        out.code(0);
        assert!(!out.stdout.contains("Hunter2-in-user-data"), "{out}");
        // Nor as base64 (of the whole file or of any part that holds it).
        assert!(!out.stdout.contains("SHVudGVy"), "{out}");
        assert!(out.stdout.contains("root:[REDACTED]"), "{out}");
        assert!(out.stdout.contains("packages: [nginx]"), "{out}");
    }
}

/// `reimage config show` prints every setting with where it came from, and never a secret.
#[test]
fn config_show_says_where_each_setting_came_from() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("config-show");
    let config = lab_config(&dir, &emulator);
    let out = reimage(["config", "show", "--profile", "lab"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .env("REIMAGE_ECS_ENDPOINT", "https://stray.example.com")
        .run();
    out.code(0);
    assert!(
        out.stdout.contains(&format!(
            "endpoint        {}  (from key endpoint of profile \"lab\"",
            emulator.base_url()
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "access_key      {}…  (from key access_key",
            &AK[..4]
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("secret_key      (set, hidden)"),
        "{out}"
    );
    assert!(
        !out.stdout.contains(SK) && !out.stdout.contains(EDIS_PASSWORD),
        "{out}"
    );
    assert!(!out.stdout.contains("stray.example.com"), "{out}");
    assert!(
        out.stderr.contains("REIMAGE_ECS_ENDPOINT"),
        "the warning\n{out}"
    );

    let out = reimage(["config", "show", "-o", "json"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .env("REIMAGE_PROFILE", "lab")
        .env("OS_REGION_NAME", "eu-de")
        .run();
    out.code(0);
    let doc = out.json();
    assert_eq!(doc["settings"]["region"]["value"], "eu-de", "{out}");
    assert_eq!(doc["settings"]["region"]["from"], "OS_REGION_NAME", "{out}");
    assert_eq!(
        doc["settings"]["edis_password"]["value"], "(set, hidden)",
        "{out}"
    );
}

/// Messages name what the person typed: the flags, not the API's fields.
#[test]
fn messages_speak_the_command_lines_language() {
    let emulator = Emulator::start(0.01);
    let dir = TempDir::new("words");
    let weak = dir.write("weak.pw", "abcdefgh");
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(weak.to_str().unwrap())
        .args([
            "--keypair",
            "KeyPair-350b",
            "--user-id",
            reimage_e2e::USER_ID,
            "--yes",
        ])
        .envs(aksk_env())
        .run();
    out.code(2);
    assert!(out.stderr.contains("--admin-password-file"), "{out}");
    for api in ["adminpass", "keyname", "userid"] {
        assert!(!out.stderr.contains(api), "{api} in\n{out}");
    }
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--yes"])
        .envs(aksk_env())
        .run();
    out.code(2);
    assert!(
        out.stderr.contains(
            "--user-data: is missing, and neither --admin-password-file nor --keypair is set"
        ),
        "{out}"
    );
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
}

/// The HTTP span's fields follow the OpenTelemetry HTTP conventions, so log tooling reads them;
/// the URL has no query and no secret.
#[test]
fn logs_use_the_opentelemetry_field_names() {
    let emulator = Emulator::start(0.01);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["server", "--server", SERVER_1])
        .envs(aksk_env())
        .env("RUST_LOG", "reimage_client=debug")
        .run();
    out.code(0);
    for field in [
        "http.request.method=GET",
        &format!("url.full={}/v1/", emulator.base_url()),
        "server.address=127.0.0.1",
        "http.request.resend_count=0",
        "http.response.status_code=200",
        "operation=\"ecs.show_server\"",
    ] {
        assert!(out.stderr.contains(field), "{field} in\n{out}");
    }
    assert!(!out.stderr.contains(SK), "{out}");
}

/// `edis kvms` lists the account's KVMs, and `--kvm` takes a KVM's exact host name too.
#[test]
fn kvms_are_listed_and_found_by_host_name() {
    let emulator = Emulator::start(0.01);
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["kvms", "-o", "json"])
        .envs(edis_env())
        .run();
    out.code(0);
    let list = out.json();
    let kvm = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kvm_id"] == KVM_1)
        .unwrap_or_else(|| panic!("{KVM_1} listed\n{out}"))
        .clone();
    let host = kvm["hostname"].as_str().unwrap().to_owned();
    assert!(kvm["power"].as_str().is_some(), "{out}");
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["status", "--kvm", &host])
        .envs(edis_env())
        .run();
    out.code(0);
    assert!(out.stdout.contains(KVM_1), "{out}");
    let out = reimage(["edis", "--auth-url", emulator.base_url()])
        .args(["status", "--kvm", "no-such-host.example"])
        .envs(edis_env())
        .run();
    out.code(2);
    assert!(out.stderr.contains("reimage edis kvms"), "{out}");
}

/// ECS fails a reinstall that another operation interrupts: stopping or starting a server while
/// it is rebuilt is refused before anything is sent.
#[test]
fn a_server_being_rebuilt_is_not_stopped_or_started() {
    let emulator = Emulator::start(1.0);
    let dir = TempDir::new("rebuilding");
    let password = dir.write("admin.pw", ADMIN_PASSWORD);
    let out = reimage(["ecs", "--endpoint", emulator.base_url()])
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg(password.to_str().unwrap())
        .arg("--yes")
        .envs(aksk_env())
        .run();
    out.code(0);
    for command in ["stop", "start"] {
        let out = reimage(["ecs", "--endpoint", emulator.base_url()])
            .args([command, "--server", SERVER_1])
            .envs(aksk_env())
            .run();
        out.code(2);
        assert!(out.stderr.contains("is being rebuilt"), "{out}");
    }
    assert!(emulator.requests_of("ecs.batch_stop").is_empty());
    assert!(emulator.requests_of("ecs.batch_start").is_empty());
}

/// A second `fleet apply` of a plan another run is applying is refused with its own exit code
/// (9, busy), not the provider's-refusal code, and sends nothing.
#[test]
fn a_held_journal_is_busy_not_a_failure() {
    let emulator = Emulator::start(1.0);
    let dir = TempDir::new("busy");
    let config = lab_config(&dir, &emulator);
    dir.write("admin.pw", ADMIN_PASSWORD);
    let plan = dir.write(
        "wave.toml",
        format!(
            "[defaults]\nprofile = \"lab\"\nadmin_password_file = \"admin.pw\"\n\
             [[targets]]\necs = \"{SERVER_1}\"\n"
        ),
    );
    let first = reimage(["fleet", "apply", plan.to_str().unwrap(), "--yes"])
        .args(["--poll-ms", "200"])
        .env("REIMAGE_CONFIG", config.to_str().unwrap())
        .spawn();
    let mut tries = 0;
    while emulator.requests_of("ecs.reinstallos").is_empty() {
        tries += 1;
        assert!(tries < 600, "the first run never sent");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = reimage([
        "fleet",
        "apply",
        plan.to_str().unwrap(),
        "--yes",
        "-o",
        "json",
    ])
    .env("REIMAGE_CONFIG", config.to_str().unwrap())
    .run();
    out.code(9);
    assert!(out.stderr.contains("held by"), "{out}");
    assert_eq!(out.json()["error"]["kind"], "busy", "{out}");
    assert_eq!(
        emulator.requests_of("ecs.reinstallos").len(),
        1,
        "sent once"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    first.wait();
}
