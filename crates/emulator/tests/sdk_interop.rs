//! The official Huawei Cloud Python SDK (`huaweicloudsdkcore` + `huaweicloudsdkecs` 3.1.219)
//! judges the emulator's ECS wire compatibility: its AK/SK signatures, request bodies, answers,
//! and error bodies as the SDK turns them into exceptions.
//!
//! The test starts the emulator in-process with a tiny time scale and runs
//! `xtask/scripts/sdk_interop.py` against it with the venv's python (`target/sdk-venv`, set up by
//! `cargo xtask sdk-peer`; `REIMAGE_SDK_PYTHON` names another). It asserts the script's exit
//! status and its check lines, then proves through the emulator's state and request log that each
//! server was reinstalled or changed exactly once, by calls the SDK signed.
//!
//! Without the venv the test cannot judge anything. When `CI` is set, that fails the test; on a
//! developer's machine it says how to set the venv up, and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reimage_emulator::{Config, Fixtures};
use serde_json::Value;

const SERVER_1: &str = "11111111-2222-3333-4444-555555555555";
const SERVER_2: &str = "22222222-3333-4444-5555-666666666666";
const RUNNING: &str = "33333333-4444-5555-6666-777777777777";
const LOCKED: &str = "44444444-5555-6666-7777-888888888888";
const DEBIAN_12: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
const UBUNTU_24_04: &str = "1a2b3c4d-0000-4000-8000-000000000001";
const NO_CLOUD_INIT: &str = "1a2b3c4d-0000-4000-8000-000000000002";

/// The longest the script may run: it takes about a second.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The checks the script must report as passed, by the start of their line.
const EXPECTED_CHECKS: &[&str] = &[
    "ok sdk_version huaweicloudsdkcore=3.1.219 huaweicloudsdkecs=3.1.219",
    "ok reinstall_server_with_cloud_init job_id=",
    "ok show_job reinstall job_id=",
    "ok show_server after reinstall status=ACTIVE image=e215580f-73ad-429d-b6f2-5433947433b0 task_state=None",
    "ok change_server_os_with_cloud_init job_id=",
    "ok show_job changeos job_id=",
    "ok show_server after changeos status=ACTIVE image=1a2b3c4d-0000-4000-8000-000000000001 key_name=KeyPair-350b task_state=None",
    "ok batch_stop_servers job_id=",
    "ok show_server after batch stop",
    "ok batch_start_servers job_id=",
    "ok show_server after batch start",
    "ok reinstall_server_without_cloud_init job_id=",
    "ok change_server_os_without_cloud_init job_id=",
    "ok show_server after the calls without cloud-init status=ACTIVE image=1a2b3c4d-0000-4000-8000-000000000002 key_name=KeyPair-350b",
    "ok bad_signature show_server status=401 error_code=APIGW.0301 request_id=",
    "ok bad_signature reinstall_server_with_cloud_init status=401 error_code=APIGW.0301 request_id=",
    "ok missing_server show_server status=404 error_code=Ecs.0114 request_id=",
    "ok missing_server reinstall_server_with_cloud_init status=404 error_code=Ecs.0114 request_id=",
    "ok weak_adminpass reinstall_server_with_cloud_init status=400 error_code=Ecs.0011 request_id=",
    "ok weak_adminpass change_server_os_with_cloud_init status=400 error_code=Ecs.0011 request_id=",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, or `None` (after saying why) when the test cannot run here.
fn sdk_python() -> Option<PathBuf> {
    let python = match std::env::var_os("REIMAGE_SDK_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join("target/sdk-venv/bin/python"),
    };
    if python.exists() {
        return Some(python);
    }
    let why = format!(
        "the official Python SDK is not set up ({} is missing): run `cargo xtask sdk-peer`, \
         or point REIMAGE_SDK_PYTHON at a python with huaweicloudsdkcore and huaweicloudsdkecs \
         3.1.219",
        python.display()
    );
    if in_ci() {
        panic!("{why}");
    }
    eprintln!("sdk_interop cannot run: {why}");
    None
}

/// Runs `cmd` to the end, killing it after `timeout`; gives its status, stdout and stderr.
fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the script");
    let pipe = |mut reader: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            text
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the script ran longer than {timeout:?}; its output so far:\n{}\n{}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

fn server<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["ecs"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("server {id} in the state"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_drives_reinstall_changeos_jobs_and_errors() {
    let Some(python) = sdk_python() else {
        return;
    };
    let config = Config::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .time_scale(0.002) // a 90 s reinstall takes 0.18 s
        .fixtures(Fixtures::default())
        .build()
        .unwrap();
    let running = reimage_emulator::start(config).await.unwrap();

    let home = std::env::temp_dir().join(format!("reimage-sdk-interop-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(&python);
    cmd.arg(workspace_root().join("xtask/scripts/sdk_interop.py"))
        .arg(running.base_url())
        .env("HOME", &home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost");
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_with_timeout(cmd, SCRIPT_TIMEOUT))
            .await
            .unwrap();
    let _ = std::fs::remove_dir_all(&home);

    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "the script failed ({status}); {report}");
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in EXPECTED_CHECKS {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "no line starting with {expected:?}; {report}"
        );
    }
    assert!(
        !lines.iter().any(|line| line.starts_with("FAIL")),
        "{report}"
    );
    let summary = format!("{} passed, 0 failed", EXPECTED_CHECKS.len());
    assert_eq!(lines.last().copied(), Some(summary.as_str()), "{report}");
    // What the SDK did, for `--nocapture`.
    eprintln!("{stdout}");
    // The user data the script sent, as it reports it.
    let user_data_bytes: u64 = lines
        .iter()
        .find_map(|line| line.strip_prefix("ok reinstall_server_with_cloud_init "))
        .and_then(|rest| rest.split_once("user_data_bytes="))
        .and_then(|(_, n)| n.trim().parse().ok())
        .expect("the reinstall line names user_data_bytes");

    // Each server was re-imaged exactly once, stopped and started once, and kept what the SDK
    // sent; the others were not touched.
    let state = running.state();
    let s1 = server(&state, SERVER_1);
    assert_eq!(
        (
            s1["reinstalls_applied"].as_u64(),
            s1["os_changes_applied"].as_u64()
        ),
        (Some(1), Some(0)),
        "{s1}"
    );
    assert_eq!(s1["image_id"], DEBIAN_12);
    assert_eq!(s1["user_data_bytes"].as_u64(), Some(user_data_bytes));
    let s2 = server(&state, SERVER_2);
    assert_eq!(
        (
            s2["reinstalls_applied"].as_u64(),
            s2["os_changes_applied"].as_u64()
        ),
        (Some(0), Some(1)),
        "{s2}"
    );
    assert_eq!(s2["image_id"], UBUNTU_24_04);
    assert_eq!(s2["key_name"], "KeyPair-350b");
    assert_eq!(s2["user_data_bytes"].as_u64(), Some(user_data_bytes));
    for s in [s1, s2] {
        assert_eq!(s["status"], "ACTIVE", "{s}");
        assert_eq!(
            (s["stops_applied"].as_u64(), s["starts_applied"].as_u64()),
            (Some(1), Some(1)),
            "{s}"
        );
    }
    // The running server was reinstalled, then changed to an image without cloud-init, once
    // each, by the calls for such images (which take no user data).
    let running_server = server(&state, RUNNING);
    assert_eq!(
        (
            running_server["reinstalls_applied"].as_u64(),
            running_server["os_changes_applied"].as_u64()
        ),
        (Some(1), Some(1)),
        "{running_server}"
    );
    assert_eq!(running_server["image_id"], NO_CLOUD_INIT);
    assert_eq!(running_server["key_name"], "KeyPair-350b");
    assert!(
        running_server["user_data_bytes"].is_null(),
        "{running_server}"
    );
    let locked = server(&state, LOCKED);
    for counter in [
        "reinstalls_applied",
        "os_changes_applied",
        "stops_applied",
        "starts_applied",
    ] {
        assert_eq!(locked[counter].as_u64(), Some(0), "{locked}");
    }

    // Every call came from the SDK; every one it signed with the right key was verified as
    // AK/SK, and the two signed with a wrong key were refused by the gateway.
    let log = running.requests();
    let calls = log.as_array().unwrap();
    assert!(!calls.is_empty());
    let mut refused_signatures = 0;
    for call in calls {
        let agent = call["headers"]["user-agent"].as_str().unwrap_or_default();
        assert!(
            agent.starts_with("huaweicloud-usdk-python/"),
            "a call not from the SDK: {call}"
        );
        if call["error_code"] == "APIGW.0301" {
            refused_signatures += 1;
        } else {
            assert_eq!(call["auth"]["scheme"], "aksk", "{call}");
            assert_eq!(call["auth"]["access_key"], "REIMAGEEMULATORAK", "{call}");
        }
    }
    assert_eq!(refused_signatures, 2);
    let count = |operation: &str, status: u64| {
        calls
            .iter()
            .filter(|c| c["operation"] == operation && c["status"].as_u64() == Some(status))
            .count()
    };
    assert_eq!(count("ecs.reinstallos", 200), 1);
    assert_eq!(count("ecs.changeos", 200), 1);
    assert_eq!(count("ecs.batch_stop", 200), 1);
    assert_eq!(count("ecs.batch_start", 200), 1);
    assert_eq!(count("ecs.reinstallos_without_cloud_init", 200), 1);
    assert_eq!(count("ecs.changeos_without_cloud_init", 200), 1);
    assert!(count("ecs.show_job", 200) >= 6);

    running.shutdown().await;
}

/// Whether this runs in CI (`CI` set, and not to `false` or `0`), where a missing peer fails.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}
