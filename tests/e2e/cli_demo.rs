//! `reimage demo`: the main job end to end on the built-in emulator, in text and in JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reimage_e2e::reimage;

const STEPS: [&str; 4] = [
    "validate",
    "EDIS reinstall",
    "ECS reinstall (token)",
    "ECS change OS (AK/SK)",
];

#[test]
fn demo_prints_the_summary_table() {
    let out = reimage(["demo"]).timeout(Duration::from_secs(30)).run();
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("step") && l.contains("result"))
        .unwrap_or_else(|| panic!("a table header\n{out}"));
    assert!(lines[header + 1].starts_with("----"), "{out}");
    let rows = &lines[header + 2..header + 6];
    for (row, step) in rows.iter().zip(STEPS) {
        assert!(row.starts_with(step), "row {step:?}: {row:?}\n{out}");
    }
    assert!(rows[1].contains("kvm_100001_200001"), "{out}");
    assert!(
        rows[3].contains("1a2b3c4d-0000-4000-8000-000000000001"),
        "the new image\n{out}"
    );
    assert!(out.stdout.contains("all 4 steps done"), "{out}");
    // Progress goes to stderr, never into the table.
    assert!(out.stderr.contains("emulator listening on"), "{out}");
}

#[test]
fn demo_json_has_four_steps() {
    let out = reimage(["demo", "--output", "json", "--time-scale", "0.005"])
        .timeout(Duration::from_secs(30))
        .run();
    out.code(0);
    let json = out.json();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "{out}");
    for (step, name) in steps.iter().zip(STEPS) {
        assert_eq!(step["step"], name, "{out}");
        assert!(step["seconds"].as_f64().is_some(), "{out}");
        assert!(
            step["result"].as_str().is_some_and(|r| !r.is_empty()),
            "{out}"
        );
    }
    assert!(
        json["emulator"]
            .as_str()
            .is_some_and(|e| e.starts_with("http://127.0.0.1:")),
        "{out}"
    );
    assert!(json["total_seconds"].as_f64().is_some(), "{out}");
    // After each ECS job: the host key its real sshd presents, verified against the console
    // (OpenSSH is installed where the tests run: .ci/run installs it), and cloud-init's verdict.
    for step in &steps[2..] {
        let fingerprint = step["host_key"]["fingerprint"].as_str().unwrap_or_default();
        assert!(fingerprint.starts_with("SHA256:"), "{out}");
        assert_eq!(step["host_key"]["verified"], true, "{out}");
        assert_eq!(step["cloud_init"], "done", "{out}");
        assert!(
            step["result"].as_str().unwrap().contains(fingerprint),
            "{out}"
        );
    }
    assert_ne!(
        steps[2]["host_key"], steps[3]["host_key"],
        "two servers, two keys\n{out}"
    );
    // The demo's own known_hosts, never the user's.
    assert!(out.stderr.contains("reimage-demo-"), "{out}");
    assert!(!out.stderr.contains(".ssh/known_hosts"), "{out}");
    for step in &steps[..2] {
        assert!(step["host_key"].is_null(), "{out}");
    }
}

#[test]
fn demo_refuses_a_bad_time_scale() {
    let out = reimage(["demo", "--time-scale", "-1"]).run();
    out.code(2);
    assert!(out.stdout.is_empty(), "{out}");
}
