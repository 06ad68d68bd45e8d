//! Every bad input a person can give the CLI: a missing file, a directory, binary data, a 100 MB
//! file, bad UTF-8, a wrong id, an expired session, a wrong password. Each gets one clear line
//! (naming what was wrong), a hint where one helps, and its documented exit code; never a
//! panic, a backtrace or a debug dump.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reimage_e2e::{
    ADMIN_PASSWORD, Emulator, KVM_1, Output, ROOT_PASSWORD, SERVER_1, TempDir, aksk_env, edis_env,
    reimage,
};

const TIME_SCALE: f64 = 0.01;

/// The marks of a crash or a debug dump, which no error may show.
fn assert_clean(out: &Output) {
    for mark in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "Error {",
        "Os {",
        "kind:",
    ] {
        assert!(!out.stderr.contains(mark), "{mark:?} in stderr\n{out}");
        assert!(!out.stdout.contains(mark), "{mark:?} in stdout\n{out}");
    }
    // One error line of the command's own (findings of validation are listed above it).
    let lines = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("reimage ") && l.contains(": error: "))
        .count();
    assert!(lines <= 1, "one error line, not {lines}\n{out}");
}

/// The files a person might point the CLI at by mistake.
struct Bad {
    dir: TempDir,
}

impl Bad {
    fn new() -> Self {
        let dir = TempDir::new("bad-inputs");
        dir.write("binary.bin", [0u8, 159, 146, 150, 255, 0, 1, 2, 3, 0xfe]);
        dir.write("latin1.yaml", b"#cloud-config\nhostname: caf\xe9\n");
        // 100 MB of user data, sparse on disk.
        let big = dir.path().join("huge.yaml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(100 * 1024 * 1024).unwrap();
        std::fs::create_dir(dir.path().join("a-directory")).unwrap();
        dir.write("admin.pw", format!("{ADMIN_PASSWORD}\n"));
        dir.write("root.pw", format!("{ROOT_PASSWORD}\n"));
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

#[test]
fn validate_refuses_unreadable_files_with_exit_2() {
    let bad = Bad::new();
    for (name, says) in [
        ("missing.yaml", "no such file"),
        ("a-directory", "is a directory"),
        ("huge.yaml", "MiB"),
    ] {
        let out = reimage(["validate", &bad.path(name)]).run();
        out.code(2);
        assert!(out.stderr.contains(says), "{name}: {says:?}\n{out}");
        assert_clean(&out);
    }
    // Binary data and bad UTF-8 are read, and judged as cloud-init would: not valid user data.
    for name in ["binary.bin", "latin1.yaml"] {
        let out = reimage(["validate", &bad.path(name)]).run();
        assert!(matches!(out.code, 0 | 1), "{name}\n{out}");
        assert_clean(&out);
    }
}

#[test]
fn ecs_refuses_bad_files_ids_and_credentials() {
    let emulator = Emulator::start(TIME_SCALE);
    let bad = Bad::new();
    let ecs = |extra: &[&str]| {
        reimage(["ecs", "--endpoint", emulator.base_url()])
            .args(extra)
            .envs(aksk_env())
    };
    let reinstall = |extra: &[&str]| {
        let mut args = vec!["reinstall", "--server", SERVER_1, "--yes"];
        args.extend_from_slice(extra);
        ecs(&args)
    };
    let admin = bad.path("admin.pw");
    // User data that cannot be read: usage, exit 2.
    for (name, says) in [
        ("missing.yaml", "no such file"),
        ("a-directory", "is a directory"),
        ("huge.yaml", "MiB"),
    ] {
        let file = bad.path(name);
        let out = reinstall(&["--admin-password-file", &admin, "--user-data", &file]).run();
        out.code(2);
        assert!(
            out.stderr.contains("--user-data") && out.stderr.contains(says),
            "{out}"
        );
        assert_clean(&out);
    }
    // User data that is not a cloud-config: refused by validation, exit 3.
    for name in ["binary.bin", "latin1.yaml"] {
        let file = bad.path(name);
        let out = reinstall(&["--admin-password-file", &admin, "--user-data", &file]).run();
        assert!(matches!(out.code, 3), "{name}\n{out}");
        assert_clean(&out);
    }
    // A password file that is binary, huge, a directory, or missing.
    for name in ["binary.bin", "huge.yaml", "a-directory", "missing.pw"] {
        let out = reinstall(&["--admin-password-file", &bad.path(name)]).run();
        out.code(2);
        assert!(out.stderr.contains(name), "{name}\n{out}");
        assert_clean(&out);
    }
    // Wrong id formats name the field and the expected form.
    for (args, field) in [
        (vec!["server", "--server", "not-a-uuid"], "server"),
        (vec!["job", "../jobs/1"], "job"),
        (
            vec![
                "change-os",
                "--server",
                SERVER_1,
                "--image",
                "debian",
                "--yes",
            ],
            "image",
        ),
    ] {
        let out = ecs(&args).run();
        out.code(2);
        assert!(out.stderr.to_lowercase().contains(field), "{field}\n{out}");
        assert_clean(&out);
    }
    // A wrong secret key: auth, exit 4, and nothing was reinstalled.
    let out = ecs(&["server", "--server", SERVER_1])
        .env("HUAWEICLOUD_SDK_SK", "not-the-secret")
        .run();
    out.code(4);
    assert!(
        out.stderr.contains("APIGW.0301") && out.stderr.contains("hint:"),
        "{out}"
    );
    assert_clean(&out);
    assert_eq!(emulator.requests_of("ecs.reinstallos").len(), 0);
}

#[test]
fn edis_refuses_a_wrong_password_and_survives_an_expired_session() {
    let emulator = Emulator::start(TIME_SCALE);
    let bad = Bad::new();
    let edis = |extra: &[&str]| {
        reimage(["edis", "--auth-url", emulator.base_url()])
            .args(extra)
            .envs(edis_env())
    };
    let out = edis(&["status", "--kvm", KVM_1])
        .env("EDIS_PASSWORD", "wrong-password")
        .run();
    out.code(4);
    assert!(
        out.stderr.contains("EDIS answered 401") && out.stderr.contains("EDIS_EMAIL"),
        "{out}"
    );
    assert!(
        !out.stderr.contains("401 401"),
        "the status is said once\n{out}"
    );
    assert_clean(&out);

    let out = edis(&["status", "--kvm", "kvm-1"]).run();
    out.code(2);
    assert!(out.stderr.contains("kvm"), "{out}");
    assert_clean(&out);

    // The session expires as it is used: renewed, and the call goes through.
    emulator.add_fault(serde_json::json!(
        {"operation": "edis.get_power", "kind": "expire_credentials", "calls": [1]}
    ));
    let out = edis(&["power", "--kvm", KVM_1]).run();
    out.code(0);
    assert_clean(&out);

    // A root password file that is not text.
    let out = edis(&[
        "reinstall",
        "--kvm",
        KVM_1,
        "--image",
        "cloudinit_debian-bookworm",
        "--root-password-file",
        &bad.path("binary.bin"),
        "--yes",
    ])
    .run();
    out.code(2);
    assert!(out.stderr.contains("binary.bin"), "{out}");
    assert_clean(&out);
    assert_eq!(emulator.requests_of("edis.reinstall").len(), 0);
}

#[test]
fn plans_that_are_not_plans_are_refused() {
    let bad = Bad::new();
    for (name, code) in [
        ("missing.toml", 2),
        ("a-directory", 2),
        ("binary.bin", 2),
        ("latin1.yaml", 2),
        ("huge.yaml", 2),
    ] {
        let out = reimage(["fleet", "check", &bad.path(name)]).run();
        out.code(code);
        assert_clean(&out);
    }
}
