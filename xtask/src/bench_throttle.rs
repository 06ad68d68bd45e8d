//! `cargo xtask bench --only throttle`: a fleet of 1,000 ECS targets under the API gateway's
//! limit as users meet it (200 calls per user in 5 minutes, answered 429 without `Retry-After`),
//! at the emulator's time scale. The part says how long the run took, what that is at time
//! scale 1, and how far it is from the limit's own floor (the calls answered, in windows of
//! 200); the run has to be right too: every target done, every server re-imaged once.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{Server, admin_json, fleet_server, restrict, target_dir, thousands, today};
use crate::{run_cmd, util};

/// The targets: this many ECS servers to reinstall.
const TARGETS: usize = 1_000;
/// The limit: calls per user per window (the window at time scale 1).
const LIMIT: u64 = 200;
const WINDOW_SECS: f64 = 300.0;
/// The emulator's time scale: the window is 300 s × this (0.6 s), an ECS reinstall 90 s × this.
const TIME_SCALE: f64 = 0.002;
/// `reimage fleet apply`'s settings: its own rate limit is far above the gateway's, so the
/// gateway's 429s are what slows it.
const CONCURRENCY: usize = 64;
const RATE: f64 = 1_000.0;
const POLL_MS: u64 = 100;
/// The target: the wall time within this many times the limit's floor plus one job.
const WALL_FACTOR: f64 = 2.0;
/// A run that takes longer than this is stopped (and the part says why).
const TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The prose of the part, before its markers (it names the settings).
pub(crate) fn prose() -> String {
    format!(
        "`reimage fleet apply` (release build) on {} ECS targets to reinstall, against \
         `reimage emulator --rate-limit {LIMIT}/5m` (at most {LIMIT} calls per user in each \
         5-minute window, then 429 `APIGW.0308` without `Retry-After`, as real answers come) at \
         time scale {TIME_SCALE} (a window is {:.1} s, a reinstall job {:.2} s), with \
         `--concurrency {CONCURRENCY} --rate {RATE} --poll-ms {POLL_MS}`: the fleet's own rate \
         is far above the gateway's, so the gateway's refusals are what slow it. A throttled \
         call is retried after a backoff with jitter that holds every worker (the transport's \
         gate), up to 8 attempts. The floor is the calls the gateway answered, in windows of \
         {LIMIT}; the target is a wall time within {WALL_FACTOR}× of that floor plus one job, \
         every target done, and every server re-imaged exactly once.",
        thousands(TARGETS as f64),
        WINDOW_SECS * TIME_SCALE,
        90.0 * TIME_SCALE
    )
}

/// Runs it; gives the part and whether its target was met.
pub(crate) fn throttle(root: &Path) -> Result<(String, bool), String> {
    let run = match run(root) {
        Ok(run) => run,
        Err(why) => {
            return Ok((
                format!(
                    "Measured on {}: **not measured**: {}\n",
                    today(),
                    why.replace('\n', " ")
                ),
                false,
            ));
        }
    };
    let window = Duration::from_secs_f64(WINDOW_SECS * TIME_SCALE);
    let windows = run.answered.div_ceil(LIMIT);
    let floor = window.mul_f64(windows as f64);
    let job = Duration::from_secs_f64(90.0 * TIME_SCALE);
    let budget = (floor + job).mul_f64(WALL_FACTOR);
    let met = run.wall <= budget;
    let verdict = if met { "met" } else { "**missed**" };
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let real = |d: Duration| {
        let s = d.as_secs_f64() / TIME_SCALE;
        format!("{:.1} h", s / 3600.0)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on {}: {} targets, every one done, and by the emulator's admin state every \
         server re-imaged exactly once.\n",
        today(),
        thousands(run.done as f64)
    );
    let _ = writeln!(out, "| figure | value | at time scale 1 |");
    let _ = writeln!(out, "|---|---:|---:|");
    let _ = writeln!(
        out,
        "| wall time of `reimage fleet apply` | {} | {} |",
        secs(run.wall),
        real(run.wall)
    );
    let _ = writeln!(
        out,
        "| the limit's floor ({} calls answered ÷ {LIMIT}, rounded up, × the window) | {} | {} |",
        thousands(run.answered as f64),
        secs(floor),
        real(floor)
    );
    let _ = writeln!(
        out,
        "| calls answered per target | {:.1} | |",
        run.answered as f64 / TARGETS as f64
    );
    let _ = writeln!(
        out,
        "| calls refused (429) | {} ({:.1} per answered call) | |",
        thousands(run.throttled as f64),
        run.throttled as f64 / run.answered.max(1) as f64
    );
    let _ = writeln!(
        out,
        "\nWall time within {WALL_FACTOR}× of the floor plus one job ({}): {verdict} \
         ({:.2}× the floor).",
        secs(budget),
        run.wall.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON)
    );
    Ok((out, met))
}

/// What the run measured.
struct Run {
    wall: Duration,
    done: u64,
    answered: u64,
    throttled: u64,
}

fn run(root: &Path) -> Result<Run, String> {
    run_cmd(util::cargo().args(["build", "--release", "--locked", "-p", "reimage-cli"]))?;
    let reimage = target_dir(root).join("release").join("reimage");
    let dir = target_dir(root).join("bench-throttle");
    let _ = fs::remove_dir_all(&dir);
    let config_home = dir.join("config");
    let home = dir.join("home");
    for d in [config_home.join("reimage"), home.clone()] {
        fs::create_dir_all(&d).map_err(|e| format!("could not create {}: {e}", d.display()))?;
    }
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("could not write {}: {e}", path.display()))?;
        Ok(path)
    };
    let fixtures = write("fixtures.toml", &fixtures())?;
    write("admin.pw", "Reimage-Bench-Pw1!")?;
    let plan = write("plan.toml", &plan())?;
    let emulator = Server::start(
        &reimage,
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            &TIME_SCALE.to_string(),
            "--fixtures",
            &fixtures.to_string_lossy(),
            "--rate-limit",
            &format!("{LIMIT}/5m"),
        ],
    )?;
    let config = config_home.join("reimage").join("config.toml");
    fs::write(
        &config,
        format!(
            "[profiles.default]\nendpoint = \"{}\"\n\
             project_id = \"0123456789abcdef0123456789abcdef\"\n\
             access_key = \"REIMAGEEMULATORAK\"\nsecret_key = \"reimage-emulator-sk\"\n",
            emulator.base_url
        ),
    )
    .map_err(|e| format!("could not write {}: {e}", config.display()))?;
    restrict(&config)?;
    let stderr_path = dir.join("apply.stderr");
    let stderr = fs::File::create(&stderr_path)
        .map_err(|e| format!("could not create {}: {e}", stderr_path.display()))?;
    let mut cmd = Command::new(&reimage);
    cmd.args(["fleet", "apply"])
        .arg(&plan)
        .args([
            "--yes",
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--rate",
            &RATE.to_string(),
            "--poll-ms",
            &POLL_MS.to_string(),
            "--output",
            "json",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &config_home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    util::say(&format!("$ {}", util::describe(&cmd)));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", util::describe(&cmd)))?;
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let begun = Instant::now();
        while begun.elapsed() < TIMEOUT {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("could not wait for `reimage fleet apply`: {e}"))?;
    let wall = started.elapsed();
    let _ = watchdog.join();
    if !output.status.success() {
        return Err(format!(
            "`reimage fleet apply` failed with {} after {:.0} s; see {}",
            output.status,
            wall.as_secs_f64(),
            stderr_path.display()
        ));
    }
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`reimage fleet apply --output json` printed no JSON: {e}"))?;
    let done = summary["done"].as_u64().unwrap_or(0);
    if done != TARGETS as u64 {
        return Err(format!("{done} of {TARGETS} targets done"));
    }
    let requests = admin_json(&emulator.addr, "/_emulator/requests")?;
    let calls = requests["requests"]
        .as_array()
        .and_then(|log| log.iter().filter_map(|r| r["seq"].as_u64()).max())
        .ok_or("the emulator's request log is empty")?;
    let state = admin_json(&emulator.addr, "/_emulator/state")?;
    let throttled = state["ecs"]["throttled_calls"]
        .as_u64()
        .ok_or("the emulator's state has no ecs.throttled_calls")?;
    let servers = state["ecs"]["servers"].as_array().ok_or("no servers")?;
    let twice: Vec<String> = servers
        .iter()
        .filter(|s| s["reinstalls_applied"] != 1)
        .map(|s| format!("{} ({})", s["id"], s["reinstalls_applied"]))
        .collect();
    if servers.len() != TARGETS || !twice.is_empty() {
        return Err(format!(
            "{} servers; not re-imaged exactly once: {}",
            servers.len(),
            twice.join(", ")
        ));
    }
    drop(emulator);
    let _ = fs::remove_dir_all(&dir);
    util::say(&format!(
        "throttle: {TARGETS} targets done in {:.1} s; {calls} calls, {throttled} throttled",
        wall.as_secs_f64()
    ));
    Ok(Run {
        wall,
        done,
        answered: calls.saturating_sub(throttled),
        throttled,
    })
}

/// The default account, project and image, and the fleet's servers (stopped).
fn fixtures() -> String {
    let mut out = String::from(
        "[iam]\ndomain_name = \"emulator\"\ndomain_id = \"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"\n\n\
         [[iam.users]]\nname = \"admin\"\nid = \"7e25b1da389f4697a79df3a0e5bd494e\"\n\
         password = \"Emulator-Passw0rd!\"\nkey_pairs = [\"KeyPair-350b\"]\n\n\
         [[iam.access_keys]]\naccess_key = \"REIMAGEEMULATORAK\"\n\
         secret_key = \"reimage-emulator-sk\"\nuser = \"7e25b1da389f4697a79df3a0e5bd494e\"\n\n\
         [ecs]\nproject_id = \"0123456789abcdef0123456789abcdef\"\nproject_name = \"eu-de\"\n\n\
         [[ecs.images]]\nid = \"e215580f-73ad-429d-b6f2-5433947433b0\"\nname = \"Debian 12\"\n\
         cloud_init = true\n",
    );
    for n in 0..TARGETS {
        let _ = write!(
            out,
            "\n[[ecs.servers]]\nid = \"{}\"\nname = \"fleet-{n}\"\n\
             image = \"e215580f-73ad-429d-b6f2-5433947433b0\"\nrunning = false\n\
             created = \"2024-06-01T08:00:00Z\"\n",
            fleet_server(n)
        );
    }
    out.push_str(
        "\n[edis]\nemail = \"demo@example.com\"\npassword = \"emulator-pw\"\n\
         images = [\"cloudinit_debian-bookworm\"]\n",
    );
    out
}

/// The plan: every server reinstalled, with a password.
fn plan() -> String {
    let mut out = String::from("[defaults]\nadmin_password_file = \"admin.pw\"\n");
    for n in 0..TARGETS {
        let _ = write!(out, "\n[[targets]]\necs = \"{}\"\n", fleet_server(n));
    }
    out
}
