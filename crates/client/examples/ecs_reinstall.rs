//! Reinstall an ECS server with AK/SK signing and follow its job, with user data checked first.
//!
//! ```sh
//! cargo run -p reimage-client --example ecs_reinstall                 # against an in-process emulator
//! cargo run -p reimage-client --example ecs_reinstall -- https://ecs.eu-de.otc.t-systems.com
//! ```
//!
//! With an endpoint, it reads `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`,
//! `HUAWEICLOUD_SDK_PROJECT_ID`, `SERVER_ID` and `ADMIN_PASSWORD` from the environment: it really
//! reinstalls that server. Without one, it starts the emulator on a free loopback port and uses
//! its default fixtures.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::time::Duration;

use reimage_auth::AkSk;
use reimage_client::{EcsAuth, EcsClient, PollSchedule, Transport, TransportConfig};
use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, ProjectId, ServerId, UserData};
use reimage_wire::Endpoint;
use secrecy::SecretString;

const USER_DATA: &str = "#cloud-config\nssh_pwauth: false\npackages: [htop]\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let target = std::env::args().nth(1);
    // The emulator's well-known test values, or the real thing from the environment.
    let (emulator, endpoint, ak, sk, project, server, password) = match target {
        Some(url) => (
            None,
            url,
            std::env::var("HUAWEICLOUD_SDK_AK")?,
            std::env::var("HUAWEICLOUD_SDK_SK")?,
            std::env::var("HUAWEICLOUD_SDK_PROJECT_ID")?,
            std::env::var("SERVER_ID")?,
            std::env::var("ADMIN_PASSWORD")?,
        ),
        None => {
            let config = reimage_emulator::Config::builder()
                .time_scale(0.01)
                .build()?;
            let running = reimage_emulator::start(config).await?;
            let url = running.base_url();
            (
                Some(running),
                url,
                "REIMAGEEMULATORAK".to_owned(),
                "reimage-emulator-sk".to_owned(),
                "0123456789abcdef0123456789abcdef".to_owned(),
                "11111111-2222-3333-4444-555555555555".to_owned(),
                "Example-Passw0rd!".to_owned(),
            )
        }
    };

    // Refuse user data that cloud-init would refuse, before anything is sent.
    let report = reimage_cloudinit::validate(
        USER_DATA.as_bytes(),
        &reimage_cloudinit::Options::default().with_provider_login(true),
    );
    if !report.valid() {
        return Err(format!("the user data is invalid: {:?}", report.findings).into());
    }

    let client = EcsClient::new(
        Transport::new(TransportConfig::default())?,
        Endpoint::parse(&endpoint)?,
        ProjectId::new(project)?,
        EcsAuth::AkSk(AkSk::new(ak, SecretString::from(sk))?),
    )?;
    let server = ServerId::new(server)?;
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(password)?)
        .user_data(UserData::from(USER_DATA))
        .build()?;
    let before = client.server(&server).await?;
    println!("reinstalling {} ({:?})", server, before.name);
    let started = client
        .reinstall_from(before, EcsReinstall::new(spec))
        .await?;
    let schedule = PollSchedule::fast(Duration::from_secs(1800));
    let after = client
        .follow(&started, &schedule, &mut |event| eprintln!("{event}"))
        .await?;
    println!(
        "done: {} is {:?}, launched at {:?}",
        after.id,
        after.status.as_ref().map(|s| s.as_str()),
        after.launched_at.map(|t| t.to_string())
    );
    if let Some(running) = emulator {
        running.shutdown().await;
    }
    Ok(())
}
