//! `reimage demo`: the main job, end to end, on the built-in emulator.
//!
//! It starts the emulator in-process on a free loopback port and runs, with progress shown:
//! validate a cloud-config; EDIS auth → images → reinstall → wait; ECS token → reinstall → wait
//! for the job; ECS change of OS (signed with AK/SK) → wait. After each ECS job it runs the
//! stages after the job (`--wait=cloud-init`): with OpenSSH installed, each server gets a real
//! `sshd` on loopback from the emulator, and the host key it presents is checked against the
//! console and written to a known_hosts of the demo's own (a temporary file, removed at the
//! end; never the user's); without it, the console's key is shown as not checked. Then it
//! prints a summary table.

use std::time::{Duration, Instant};

use reimage_client::auth::aksk::AkSk;
use reimage_client::auth::edis::EdisCredentials;
use reimage_client::auth::iam::{PasswordCredentials, TokenScope};
use reimage_client::wire::Endpoint;
use reimage_client::{
    EcsAuth, EcsClient, EdisClient, PollSchedule, RetryPolicy, Transport, TransportConfig,
};
use reimage_cloudinit::Options;
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId, KvmId,
    ProjectId, RootPassword, ServerId, UserData,
};
use secrecy::SecretString;
use serde_json::json;

use crate::common::{self, Failure, Output, Progress, exit};

/// The cloud-config the demo validates and sends.
const USER_DATA: &str = include_str!("../assets/demo-user-data.yaml");

// The emulator's default fixtures (crates/emulator/fixtures/default.toml): well-known test
// values, printed in the docs.
const EDIS_EMAIL: &str = "demo@example.com";
const EDIS_PASSWORD: &str = "emulator-pw";
const KVM: &str = "kvm_100001_200001";
const EDIS_IMAGE: &str = "cloudinit_debian-bookworm";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const IAM_USER: &str = "admin";
const IAM_DOMAIN: &str = "emulator";
const IAM_PASSWORD: &str = "Emulator-Passw0rd!";
const AK: &str = "REIMAGEEMULATORAK";
const SK: &str = "reimage-emulator-sk";
const SERVER: &str = "11111111-2222-3333-4444-555555555555";
const SERVER_2: &str = "22222222-3333-4444-5555-666666666666";
const UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How fast the emulator's clock runs: 0.01 makes an ECS reinstall (90 s) take 0.9 s.
    #[arg(long = "time-scale", value_name = "F", default_value_t = 0.01)]
    time_scale: f64,

    /// `text`: progress and a summary table; `json`: the summary as one JSON document.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// One row of the summary.
struct Row {
    step: &'static str,
    target: String,
    result: String,
    took: Duration,
    /// ECS: the host key checked after the job, and cloud-init's verdict.
    after: Option<AfterRow>,
}

/// What the stages after an ECS job found.
struct AfterRow {
    host_key: String,
    verified: bool,
    cloud_init: String,
}

/// Runs `reimage demo`.
pub(crate) fn run(args: &Args) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return Failure::new(exit::FAILED, format!("could not start the runtime: {e}"))
                .report("demo", args.output);
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => exit::OK,
        Err(failure) => failure.report("demo", args.output),
    }
}

async fn demo(args: &Args) -> Result<(), Failure> {
    let started = Instant::now();
    let config = reimage_emulator::Config::builder()
        .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .time_scale(args.time_scale)
        .build()
        .map_err(|e| Failure::usage(format!("--time-scale: {e}")))?;
    let emulator = reimage_emulator::start(config)
        .await
        .map_err(|e| Failure::new(exit::FAILED, format!("the emulator did not start: {e}")))?;
    let base = emulator.base_url();
    crate::note(&format!(
        "reimage demo: emulator listening on {base} (time scale {})",
        args.time_scale
    ));
    // The demo's own known_hosts, never the user's.
    let known_hosts = std::env::temp_dir().join(format!("reimage-demo-{}", std::process::id()));
    let result = steps(&base, &emulator, &known_hosts.join("known_hosts")).await;
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&known_hosts);
    let rows = result?;
    let total = started.elapsed();
    match args.output {
        Output::Json => common::print_json(&json!({
            "emulator": base,
            "steps": rows.iter().map(|r| json!({
                "step": r.step,
                "target": r.target,
                "result": r.result,
                "seconds": r.took.as_secs_f64(),
                "host_key": r.after.as_ref().map(|a| json!({
                    "fingerprint": a.host_key,
                    "verified": a.verified,
                })),
                "cloud_init": r.after.as_ref().map(|a| a.cloud_init.clone()),
            })).collect::<Vec<_>>(),
            "total_seconds": total.as_secs_f64(),
        })),
        Output::Text => print_table(&rows, total),
    }
    Ok(())
}

fn print_table(rows: &[Row], total: Duration) {
    let widths = [
        rows.iter().map(|r| r.step.len()).max().unwrap_or(0).max(4),
        rows.iter()
            .map(|r| r.target.len())
            .max()
            .unwrap_or(0)
            .max(6),
        rows.iter()
            .map(|r| r.result.len())
            .max()
            .unwrap_or(0)
            .max(6),
    ];
    let line = |a: &str, b: &str, c: &str, d: &str| {
        format!(
            "{a:<w0$}  {b:<w1$}  {c:<w2$}  {d:>7}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    crate::say("");
    crate::say(&line("step", "target", "result", "time"));
    crate::say(&line(
        &"-".repeat(widths[0]),
        &"-".repeat(widths[1]),
        &"-".repeat(widths[2]),
        "-------",
    ));
    for r in rows {
        crate::say(&line(
            r.step,
            &r.target,
            &r.result,
            &format!("{:.1} s", r.took.as_secs_f64()),
        ));
    }
    crate::say("");
    crate::say(&format!(
        "all {} steps done in {:.1} s, on the built-in emulator",
        rows.len(),
        total.as_secs_f64()
    ));
}

fn transport() -> Result<Transport, Failure> {
    Ok(Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(10))
            .retry(RetryPolicy::new(
                4,
                Duration::from_millis(50),
                Duration::from_secs(1),
            ))
            .proxy_from_env(false),
    )?)
}

/// A value the demo knows to be valid; an error here is a bug in the demo itself.
fn known<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(|e| Failure::new(exit::FAILED, format!("demo {what}: {e}")))
}

/// The stages after an ECS job. With OpenSSH here (`sshd` and `ssh-keyscan`), the server has a
/// real `sshd` on loopback ([`prepare_ssh`]) and the whole chain runs: console, key presented,
/// check, known_hosts, cloud-init's verdict. Without it, only the console is read, and the row
/// says the key was not checked.
async fn after_job(
    ecs: &EcsClient,
    server: &ServerId,
    ssh_port: Option<u16>,
    known_hosts: &std::path::Path,
) -> Result<AfterRow, Failure> {
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Some(port) = ssh_port {
        let args = crate::after::AfterArgs {
            known_hosts: Some(known_hosts.display().to_string()),
            ssh_port: port,
        };
        let outcome = crate::after::ecs_stages(
            ecs,
            server,
            reimage_emulator::SSH_ADDRESS,
            common::WaitFor::CloudInit,
            &args,
            deadline,
        )
        .await?;
        for line in outcome.lines() {
            crate::note(&format!("  {line}"));
        }
        let verdict = outcome
            .cloud_init
            .as_ref()
            .map_or_else(String::new, |boot| {
                if boot.errors().is_empty() {
                    "done".to_owned()
                } else {
                    format!("errors: {}", boot.failed_modules().join(", "))
                }
            });
        return Ok(AfterRow {
            host_key: outcome
                .keys
                .first()
                .map(reimage_hostkeys::keys::fingerprint)
                .unwrap_or_default(),
            verified: true,
            cloud_init: verdict,
        });
    }
    // No OpenSSH here: what the console says, unchecked.
    let boot = loop {
        let text = ecs
            .console_output(server, reimage_client::wire::ecs::ConsoleLength::All)
            .await?;
        let boot = reimage_hostkeys::console::read(&text);
        if boot.finished.is_some() || Instant::now() >= deadline {
            break boot;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    crate::note("  OpenSSH (sshd, ssh-keyscan) is not installed here: the key was not checked");
    Ok(AfterRow {
        host_key: boot
            .keys
            .first()
            .map(reimage_hostkeys::keys::fingerprint)
            .unwrap_or_default(),
        verified: false,
        cloud_init: if boot.finished.is_some() && boot.errors().is_empty() {
            "done".to_owned()
        } else {
            "not finished".to_owned()
        },
    })
}

/// Gives `server` a real `sshd` when OpenSSH is installed; its port.
fn prepare_ssh(emulator: &reimage_emulator::Running, server: &str) -> Option<u16> {
    let sshd = std::path::Path::new("/usr/sbin/sshd");
    let keyscan = std::process::Command::new("ssh-keyscan")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !sshd.exists() || !keyscan {
        return None;
    }
    match emulator.attach_sshd(server, sshd, "") {
        Ok((port, _)) => Some(port),
        Err(e) => {
            crate::note(&format!("  no sshd for server {server}: {e}"));
            None
        }
    }
}

fn after_text(after: &AfterRow) -> String {
    format!(
        "; host key {} {}; cloud-init {}",
        after.host_key,
        if after.verified {
            "verified"
        } else {
            "NOT checked"
        },
        after.cloud_init
    )
}

async fn steps(
    base: &str,
    emulator: &reimage_emulator::Running,
    known_hosts: &std::path::Path,
) -> Result<Vec<Row>, Failure> {
    let mut rows = Vec::new();
    let schedule = PollSchedule::fast(Duration::from_secs(60));
    let endpoint = known("endpoint", Endpoint::parse(base))?;

    // 1. Validate the cloud-config, with the provider's password counted as a way in.
    let t = Instant::now();
    let progress = Progress::new("1/4 validate the cloud-config");
    let report = reimage_cloudinit::validate(
        USER_DATA.as_bytes(),
        &Options::default().with_provider_login(true),
    );
    let warnings = report.warnings().count();
    if !report.valid() || report.lockout().is_some() {
        return Err(Failure::new(
            exit::REFUSED,
            "the demo's own cloud-config is invalid",
        ));
    }
    progress.finish(&format!("valid cloud-config, {warnings} warning(s)"));
    rows.push(Row {
        step: "validate",
        target: "demo cloud-config".to_owned(),
        result: format!("valid, {warnings} warning(s)"),
        took: t.elapsed(),
        after: None,
    });
    let user_data = UserData::from(USER_DATA);

    // 2. EDIS: auth → images → reinstall → wait.
    let t = Instant::now();
    let mut progress = Progress::new("2/4 EDIS: session, images, reinstall, wait");
    let credentials = known(
        "EDIS credentials",
        EdisCredentials::new(EDIS_EMAIL, SecretString::from(EDIS_PASSWORD)),
    )?;
    let edis = EdisClient::new(transport()?, credentials).with_auth_endpoint(endpoint.clone())?;
    let kvm = known("KVM", KvmId::new(KVM))?;
    edis.session(&kvm).await?;
    let images = edis.images(&kvm).await?;
    let image = known("image", EdisImage::new(EDIS_IMAGE))?;
    if !images.contains(&image) {
        return Err(Failure::new(
            exit::FAILED,
            format!("the emulator does not offer {image}"),
        ));
    }
    let input = EdisReinstall::new(
        image.clone(),
        known("root password", RootPassword::new("Demo-Root-Passw0rd"))?,
    )
    .with_user_data(user_data.clone());
    let started = edis.reinstall(&kvm, input).await?;
    let details = edis
        .wait_reinstalled(&started, &schedule, &mut |e| progress.event(e))
        .await?;
    progress.finish(&format!(
        "KVM {kvm} ({}) runs {image}",
        details.hostname.as_deref().unwrap_or("?")
    ));
    rows.push(Row {
        step: "EDIS reinstall",
        target: format!("KVM {kvm}"),
        result: format!("running {image} ({} images offered)", images.images.len()),
        took: t.elapsed(),
        after: None,
    });

    // 3. ECS with an IAM token: token → reinstall → wait for the job.
    let t = Instant::now();
    let mut progress = Progress::new("3/4 ECS: token, reinstall, wait for the job");
    let project = known("project", ProjectId::new(PROJECT))?;
    let ecs = EcsClient::new(
        transport()?,
        endpoint.clone(),
        project.clone(),
        EcsAuth::Password {
            credentials: known(
                "IAM credentials",
                PasswordCredentials::new(IAM_USER, IAM_DOMAIN, SecretString::from(IAM_PASSWORD)),
            )?,
            scope: TokenScope::ProjectId(project.clone()),
            iam_endpoint: endpoint.clone(),
        },
    )?;
    ecs.token().await?;
    let spec = known(
        "spec",
        EcsOsSpec::builder()
            .adminpass(known(
                "admin password",
                AdminPassword::new("Demo-Admin-Passw0rd!"),
            )?)
            .user_data(user_data.clone())
            .build(),
    )?;
    let server = known("server", ServerId::new(SERVER))?;
    let ssh_port = prepare_ssh(emulator, SERVER);
    let started = ecs
        .reinstall(&server, EcsReinstall::new(spec.clone()))
        .await?;
    let job = started.job_id.clone();
    let after = ecs
        .follow(&started, &schedule, &mut |e| progress.event(e))
        .await?;
    progress.finish(&crate::ecs::summary(&after));
    let stages = after_job(&ecs, &server, ssh_port, known_hosts).await?;
    rows.push(Row {
        step: "ECS reinstall (token)",
        target: format!("server {}", after.name.as_deref().unwrap_or(SERVER)),
        result: format!(
            "{}, job {}{}",
            after.status.as_ref().map_or("?", |s| s.as_str()),
            job.as_ref().map_or("?", |j| j.as_str()),
            after_text(&stages),
        ),
        took: t.elapsed(),
        after: Some(stages),
    });

    // 4. ECS signed with AK/SK: change OS → wait.
    let t = Instant::now();
    let mut progress = Progress::new("4/4 ECS: change OS (AK/SK), wait");
    let keys = known("AK/SK", AkSk::new(AK, SecretString::from(SK)))?;
    let signed = EcsClient::new(transport()?, endpoint, project, EcsAuth::AkSk(keys))?;
    let server = known("server", ServerId::new(SERVER_2))?;
    let image = known("image", ImageId::new(UBUNTU))?;
    let ssh_port = prepare_ssh(emulator, SERVER_2);
    let started = signed
        .change_os(&server, EcsChangeOs::new(image.clone(), spec))
        .await?;
    let after = signed
        .follow(&started, &schedule, &mut |e| progress.event(e))
        .await?;
    if after.image_id.as_ref() != Some(&image) {
        return Err(Failure::new(
            exit::FAILED,
            format!("server {server} did not end on image {image}"),
        ));
    }
    progress.finish(&crate::ecs::summary(&after));
    let stages = after_job(&signed, &server, ssh_port, known_hosts).await?;
    rows.push(Row {
        step: "ECS change OS (AK/SK)",
        target: format!("server {}", after.name.as_deref().unwrap_or(SERVER_2)),
        result: format!(
            "{} on image {image}{}",
            after.status.as_ref().map_or("?", |s| s.as_str()),
            after_text(&stages),
        ),
        took: t.elapsed(),
        after: Some(stages),
    });
    Ok(rows)
}
