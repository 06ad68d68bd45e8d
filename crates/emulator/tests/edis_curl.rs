//! EDIS form bodies from plain `curl`, the way the provider's guide shows them: `--data-urlencode`
//! for every field, the session from the auth answer sent back verbatim, a root password with
//! `+`, `&` and `=` in it, and multi-line cloud-init user data. Nothing of reimage's encoder is
//! involved, so this proves that the emulator reads what any form client sends.
//!
//! Without `curl` the test cannot run. When `CI` is set, that fails the test; elsewhere it says
//! so and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::process::Command;
use std::time::{Duration, Instant};

use reimage_emulator::{Config, Fixtures, Running};
use serde_json::{Value, json};

const KVM: &str = "kvm_100001_200001";
const PASSWORD: &str = "Pa+ss&w=rd 42";
const USER_DATA: &str = "#cloud-config\n\
hostname: curl-test\n\
write_files:\n  - path: /etc/motd\n    content: |\n      installed from curl & a form: a+b=c\n\
runcmd:\n  - [sh, -c, 'echo done > /root/done']\n";

/// Whether `curl` runs here; `false` (after saying why) lets the test pass outside CI.
fn curl_available() -> bool {
    if Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    let why = "curl is not installed (on Debian: apt-get install -y curl)";
    if in_ci() {
        panic!("{why}");
    }
    eprintln!("edis_curl cannot run: {why}");
    false
}

/// `curl -X POST URL` with `args`; gives the HTTP status and the JSON body.
fn curl(url: &str, args: &[&str]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "10", "-X", "POST"])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status.parse().unwrap(), body)
}

/// The session fields of `session`, each as `--data-urlencode name=value`.
fn session_args(session: &Value) -> Vec<String> {
    vec![
        "--data-urlencode".into(),
        format!("signature={}", session["signature"].as_str().unwrap()),
        "--data-urlencode".into(),
        format!("kvm_id={}", session["kvm_id"].as_str().unwrap()),
        "--data-urlencode".into(),
        // An integer in the auth answer, sent back as its text.
        format!("valid_until={}", session["valid_until"]),
    ]
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn kvm(running: &Running) -> Value {
    running.state()["edis"]["kvms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kvm_id"] == KVM)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_drives_auth_images_reinstall_and_power() {
    if !curl_available() {
        return;
    }
    let config = Config::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .time_scale(0.002) // the 300 s reinstall takes 0.6 s
        .fixtures(Fixtures::default())
        .build()
        .unwrap();
    let running = reimage_emulator::start(config).await.unwrap();
    let base = running.base_url();
    let local = running.local_addr().to_string();
    // curl blocks; the emulator serves on the runtime's other threads.
    tokio::task::spawn_blocking(move || edis_by_curl(&base, &local))
        .await
        .unwrap();
    check_end_state(&running);
    running.shutdown().await;
}

/// Everything curl does, with the answers it checks.
fn edis_by_curl(base: &str, local: &str) {
    // Auth: the account's email and password, form-encoded (the `@` too).
    let (status, auth) = curl(
        &format!("{base}/kvm/v2/get/auth"),
        &[
            "--data-urlencode",
            "email=demo@example.com",
            "--data-urlencode",
            "pw=emulator-pw",
            "--data-urlencode",
            &format!("kvm_id={KVM}"),
        ],
    );
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["status"], "success");
    let session = auth["data"][KVM].clone();
    assert_eq!(session["kvm_id"], KVM);
    assert_eq!(
        session["api_host"], local,
        "api_host points back at the emulator"
    );
    assert!(session["valid_until"].is_i64(), "{session}");
    assert_eq!(session["signature"].as_str().unwrap().len(), 64);
    assert_eq!(auth["data"].as_object().unwrap().len(), 1);
    let api = format!("http://{}/kvm/v2", session["api_host"].as_str().unwrap());
    let fields = session_args(&session);

    // A wrong password: the documented 401 body.
    let (status, body) = curl(
        &format!("{base}/kvm/v2/get/auth"),
        &[
            "--data-urlencode",
            "email=demo@example.com",
            "--data-urlencode",
            "pw=not-the-password",
        ],
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(body["code"], 401);

    // Images.
    let (status, images) = curl(&format!("{api}/get/images"), &refs(&fields));
    assert_eq!(status, 200, "{images}");
    assert_eq!(images["status"], "success");
    let list: Vec<&str> = images["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(list.contains(&"cloudinit_ubuntu-lts-24-04"), "{list:?}");
    assert!(list.contains(&"cloudinit_debian-bookworm"), "{list:?}");

    // The same password unencoded: `&` and `=` split it into fields the call does not take.
    let mut raw = fields.clone();
    raw.extend([
        "--data".into(),
        "image=cloudinit_ubuntu-lts-24-04".into(),
        "--data".into(),
        format!("password={PASSWORD}"),
    ]);
    let (status, body) = curl(&format!("{api}/set/reinstall"), &refs(&raw));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "Invalid parameters provided.");
    assert_eq!(body["code"], 400);

    // Reinstall, every field URL-encoded.
    let mut args = fields.clone();
    args.extend([
        "--data-urlencode".into(),
        "image=cloudinit_ubuntu-lts-24-04".into(),
        "--data-urlencode".into(),
        format!("password={PASSWORD}"),
        "--data-urlencode".into(),
        format!("cloudinit_user_data={USER_DATA}"),
    ]);
    let (status, body) = curl(&format!("{api}/set/reinstall"), &refs(&args));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "success"}));

    // While it installs, the KVM is off and cannot be powered on.
    let (status, body) = curl(&format!("{api}/get/power"), &refs(&fields));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], "server powered off");
    let (status, body) = curl(&format!("{api}/set/poweron"), &refs(&fields));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 400);
    assert!(
        body["error"].as_str().unwrap().contains("in progress"),
        "{body}"
    );

    // Afterwards it runs the new image.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = curl(&format!("{api}/get/power"), &refs(&fields));
        assert_eq!(status, 200, "{body}");
        if body["data"] == "server powered on" {
            break;
        }
        assert!(Instant::now() < deadline, "still installing: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Power off, then on again.
    let (status, body) = curl(&format!("{api}/set/poweroff"), &refs(&fields));
    assert_eq!((status, body), (200, json!({"status": "success"})));
    let (status, body) = curl(&format!("{api}/get/power"), &refs(&fields));
    assert_eq!(status, 200);
    assert_eq!(body["data"], "server powered off");
    let (status, body) = curl(&format!("{api}/set/poweron"), &refs(&fields));
    assert_eq!((status, body), (200, json!({"status": "success"})));
    let (status, body) = curl(&format!("{api}/get/power"), &refs(&fields));
    assert_eq!(status, 200);
    assert_eq!(body["data"], "server powered on");

    // A changed signature: the documented 401.
    let mut forged = session.clone();
    forged["signature"] = json!("0".repeat(64));
    let (status, body) = curl(&format!("{api}/get/power"), &refs(&session_args(&forged)));
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "Invalid or expired session signature.", "code": 401})
    );
}

/// The KVM was reinstalled exactly once (the unencoded attempt was refused before it counted),
/// with the whole user data, and powered off and on once.
fn check_end_state(running: &Running) {
    let kvm = kvm(running);
    assert_eq!(kvm["image"], "cloudinit_ubuntu-lts-24-04", "{kvm}");
    assert_eq!(kvm["reinstalls_applied"], 1, "{kvm}");
    assert_eq!(kvm["power_offs_applied"], 1, "{kvm}");
    assert_eq!(kvm["power_ons_applied"], 1, "{kvm}");
    assert_eq!(kvm["powered_on"], true, "{kvm}");
    assert_eq!(kvm["last_install_failed"], false, "{kvm}");
    // The multi-line user data arrived whole, `&`, `+`, `=` and newlines included.
    assert_eq!(
        kvm["user_data_bytes"].as_u64(),
        Some(USER_DATA.len() as u64)
    );
}

/// Whether this runs in CI (`CI` set, and not to `false` or `0`), where a missing peer fails.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}
