//! The crash test of `reimage fleet apply`: a plan of 200 targets (180 ECS servers and 20 EDIS
//! KVMs) against the emulator, the CLI killed with SIGKILL at random points several times and
//! rerun, then run to its end; the emulator's admin API must show every server re-imaged
//! exactly once.
//!
//! The kill points come from a seeded generator. The seed is printed; set `REIMAGE_CRASH_SEED`
//! to replay a run (the timing of the processes still varies, so a replay is close, not exact).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reimage_e2e::{
    Emulator, FLEET_EDIS_IMAGE, FleetTarget, IMAGE_DEBIAN, Reimage, TempDir, count, fleet_kvm,
    fleet_server, journal_latest, reimage, write_config, write_fleet_fixtures, write_fleet_plan,
};
use serde_json::Value;

/// Targets in the plan; every tenth is an EDIS KVM.
const TARGETS: usize = 200;
const EDIS_EVERY: usize = 10;

/// An ECS reinstall takes 1.8 s here, an EDIS reinstall 6 s. A `sending` EDIS target can only be
/// judged while its install runs (the KVM is off): a rerun must ask within those 6 s, which it
/// does after `--settle` (1 s) unless several short kills in a row hold it back.
const TIME_SCALE: f64 = 0.02;

/// How many times the CLI is killed, and when (after it starts).
const KILLS: usize = 5;
const KILL_AFTER_MIN: Duration = Duration::from_millis(100);
const KILL_AFTER_MAX: Duration = Duration::from_millis(3000);

/// How long the emulator holds each reinstall before it applies and answers it.
const REINSTALL_LATENCY: Duration = Duration::from_millis(200);

/// The flags of every run: 32 targets at once, 400 requests/s, polls from 50 ms, and a second
/// of settling time for a send whose answer died with the last run (well above a request's
/// latency, [`REINSTALL_LATENCY`] included).
const APPLY_FLAGS: &[&str] = &[
    "--yes",
    "--concurrency",
    "32",
    "--rate",
    "400",
    "--poll-ms",
    "50",
    "--settle",
    "1",
    // An EDIS install takes 6 s at this time scale: a KVM on as before, with a send younger
    // than that, never got it.
    "--edis-min-install",
    "5",
    "--output",
    "json",
];

/// SplitMix64: a small, well-mixed generator for the kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration in `[low, high]`, to the millisecond.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (low.as_millis() as u64, high.as_millis() as u64);
        Duration::from_millis(low + self.next() % (high - low + 1))
    }
}

fn seed() -> u64 {
    match std::env::var("REIMAGE_CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("REIMAGE_CRASH_SEED={text:?} is not a number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// The plan's targets: ECS servers, with an EDIS KVM every [`EDIS_EVERY`]th.
fn targets() -> Vec<FleetTarget> {
    let (mut servers, mut kvms) = (0, 0);
    (0..TARGETS)
        .map(|i| {
            if i % EDIS_EVERY == EDIS_EVERY - 1 {
                kvms += 1;
                FleetTarget::Edis(fleet_kvm(kvms - 1), FLEET_EDIS_IMAGE.to_owned())
            } else {
                servers += 1;
                FleetTarget::Ecs(fleet_server(servers - 1))
            }
        })
        .collect()
}

/// How many targets the journal has in each state (`pending`: none yet).
fn states(plan: &Path, config_home: &Path) -> BTreeMap<String, usize> {
    let out = reimage(["fleet", "status"])
        .arg(plan)
        .args(["--output", "json"])
        .config_home(config_home)
        .run();
    out.code(0);
    let mut counts = BTreeMap::new();
    for row in out.json()["targets"].as_array().unwrap() {
        *counts
            .entry(row["state"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

fn apply(plan: &Path, config_home: &Path) -> Reimage {
    reimage(["fleet", "apply"])
        .arg(plan)
        .args(APPLY_FLAGS)
        .config_home(config_home)
        .timeout(Duration::from_secs(180))
}

#[test]
fn killed_at_random_points_and_rerun_every_server_is_reimaged_exactly_once() {
    let seed = seed();
    eprintln!("fleet crash test: seed {seed} (REIMAGE_CRASH_SEED={seed} replays the kill points)");
    let mut rng = Rng(seed);
    let began = Instant::now();

    let targets = targets();
    let kvms = TARGETS / EDIS_EVERY;
    let servers = TARGETS - kvms;
    let dir = TempDir::new("fleet-crash");
    let fixtures = write_fleet_fixtures(&dir, servers, kvms);
    let emulator = Emulator::start_with_fixtures(TIME_SCALE, &fixtures);
    let config_home = dir.path().join("config");
    write_config(&config_home, &emulator);
    let plan = write_fleet_plan(&dir, "plan.toml", &targets);
    // Each reinstall waits in the emulator before it is applied, so that kills often land
    // between `sending` and its answer: the request arrives (or not) after the process died.
    for operation in ["ecs.reinstallos", "edis.reinstall"] {
        emulator.add_fault(serde_json::json!({
            "operation": operation,
            "kind": "latency",
            "params": {"ms": REINSTALL_LATENCY.as_millis() as u64},
        }));
    }

    // Kill it at random points; after each kill, see what the journal holds.
    let mut mid_run = 0;
    let mut mid_send = 0;
    let mut finished_early = false;
    for kill in 1..=KILLS {
        let after = rng.between(KILL_AFTER_MIN, KILL_AFTER_MAX);
        let mut run = apply(&plan, &config_home).spawn();
        let started = Instant::now();
        while started.elapsed() < after && !run.has_exited() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if run.has_exited() {
            let out = run.wait();
            eprintln!(
                "run {kill} ended by itself before its kill at {after:?}: exit {}",
                out.code
            );
            out.code(0);
            finished_early = true;
            break;
        }
        let out = run.kill();
        assert_eq!(out.code, -1, "killed by SIGKILL (seed {seed})\n{out}");
        let counts = states(&plan, &config_home);
        let in_flight = counts.get("sending").unwrap_or(&0) + counts.get("sent").unwrap_or(&0);
        if in_flight > 0 {
            mid_run += 1;
        }
        if counts.contains_key("sending") {
            mid_send += 1;
        }
        eprintln!(
            "kill {kill} after {:.3} s: {counts:?}",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            counts.get("failed").copied().unwrap_or(0)
                + counts.get("unknown").copied().unwrap_or(0),
            0,
            "no target failed or became unknown (seed {seed}): {counts:?}"
        );
    }
    assert!(
        finished_early || mid_run > 0,
        "at least one kill landed while targets were in flight (seed {seed})"
    );

    // Then to the end.
    let out = apply(&plan, &config_home).run();
    out.code(0);
    let summary = out.json();
    assert_eq!(
        count(&summary, "done") + count(&summary, "done_before"),
        TARGETS as u64,
        "seed {seed}\n{out}"
    );
    eprintln!(
        "final run: {} done, {} done before, in {:.1} s; whole test {:.1} s",
        count(&summary, "done"),
        count(&summary, "done_before"),
        out.elapsed.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );

    // Every server and KVM re-imaged exactly once, by the emulator's own count.
    let state = emulator.state();
    let listed = state["ecs"]["servers"].as_array().unwrap();
    assert_eq!(listed.len(), servers);
    let twice: Vec<String> = listed
        .iter()
        .filter(|s| count(s, "reinstalls_applied") != 1 || count(s, "os_changes_applied") != 0)
        .map(|s| format!("{} ({} reinstalls)", s["id"], s["reinstalls_applied"]))
        .collect();
    assert!(
        twice.is_empty(),
        "servers not re-imaged exactly once (seed {seed}): {twice:?}"
    );
    for server in listed {
        assert_eq!(server["status"], "ACTIVE", "seed {seed}: {server}");
        assert_eq!(server["image_id"], IMAGE_DEBIAN, "seed {seed}: {server}");
    }
    let listed = state["edis"]["kvms"].as_array().unwrap();
    assert_eq!(listed.len(), kvms);
    let twice: Vec<String> = listed
        .iter()
        .filter(|k| count(k, "reinstalls_applied") != 1)
        .map(|k| format!("{} ({} reinstalls)", k["kvm_id"], k["reinstalls_applied"]))
        .collect();
    assert!(
        twice.is_empty(),
        "KVMs not re-imaged exactly once (seed {seed}): {twice:?}"
    );
    for kvm in listed {
        assert_eq!(kvm["powered_on"], true, "seed {seed}: {kvm}");
    }
    // One job per server, and one accepted request per server and KVM in the request log
    // (which holds them all: it keeps the last 10,000 calls, and this test makes fewer).
    let jobs = state["ecs"]["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), servers, "one job per server (seed {seed})");
    assert!(jobs.iter().all(|j| j["status"] == "SUCCESS"), "seed {seed}");
    let log = emulator.requests();
    assert_eq!(
        log.first().map(|r| &r["seq"]),
        Some(&Value::from(1)),
        "nothing evicted"
    );
    let accepted = |operation: &str| -> BTreeMap<String, usize> {
        let mut per_path = BTreeMap::new();
        for r in log
            .iter()
            .filter(|r| r["operation"] == operation && r["status"] == 200)
        {
            let what = if operation == "edis.reinstall" {
                r["auth"]["kvm_id"].as_str().unwrap_or_default().to_owned()
            } else {
                r["path"].as_str().unwrap_or_default().to_owned()
            };
            *per_path.entry(what).or_insert(0) += 1;
        }
        per_path
    };
    let reinstalls = accepted("ecs.reinstallos");
    assert_eq!(reinstalls.len(), servers, "seed {seed}");
    assert!(
        reinstalls.values().all(|&n| n == 1),
        "seed {seed}: {reinstalls:?}"
    );
    let installs = accepted("edis.reinstall");
    assert_eq!(installs.len(), kvms, "seed {seed}");
    assert!(
        installs.values().all(|&n| n == 1),
        "seed {seed}: {installs:?}"
    );
    eprintln!(
        "{} API requests in all; kills that landed mid-run: {mid_run}, of them with a send \
         unanswered: {mid_send}",
        log.len()
    );

    // And the journal says done for every target.
    let latest = journal_latest(&plan);
    for target in &targets {
        assert_eq!(
            latest.get(&target.key()).map(|r| &r["state"]),
            Some(&Value::from("done")),
            "seed {seed}: {}",
            target.key()
        );
    }
}
