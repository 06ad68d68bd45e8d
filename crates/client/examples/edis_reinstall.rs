//! Reinstall an EDIS KVM with a cloud-init image and wait until the new system runs.
//!
//! ```sh
//! cargo run -p reimage-client --example edis_reinstall            # against an in-process emulator
//! cargo run -p reimage-client --example edis_reinstall -- https://session.edisglobal.com
//! ```
//!
//! With an auth URL, it reads `EDIS_EMAIL`, `EDIS_PASSWORD`, `KVM_ID` and `ROOT_PASSWORD` from
//! the environment: it really reinstalls that KVM. Without one, it starts the emulator on a free
//! loopback port and uses its default fixtures.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::time::Duration;

use reimage_auth::EdisCredentials;
use reimage_client::{EdisClient, PollSchedule, Transport, TransportConfig};
use reimage_core::{EdisImage, EdisReinstall, KvmId, RootPassword, UserData};
use reimage_wire::Endpoint;
use secrecy::SecretString;

const IMAGE: &str = "cloudinit_debian-bookworm";
const USER_DATA: &str = "#cloud-config\nssh_pwauth: false\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (emulator, auth_url, email, password, kvm, root) = match std::env::args().nth(1) {
        Some(url) => (
            None,
            url,
            std::env::var("EDIS_EMAIL")?,
            std::env::var("EDIS_PASSWORD")?,
            std::env::var("KVM_ID")?,
            std::env::var("ROOT_PASSWORD")?,
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
                "demo@example.com".to_owned(),
                "emulator-pw".to_owned(),
                "kvm_100001_200001".to_owned(),
                "Example-Root-Passw0rd".to_owned(),
            )
        }
    };
    let credentials = EdisCredentials::new(email, SecretString::from(password))?;
    let client = EdisClient::new(Transport::new(TransportConfig::default())?, credentials)
        .with_auth_endpoint(Endpoint::parse(&auth_url)?)?;
    let kvm = KvmId::new(kvm)?;
    let image = EdisImage::new(IMAGE)?;
    if !client.images(&kvm).await?.contains(&image) {
        return Err(format!("{kvm} does not offer {image}").into());
    }
    let input = EdisReinstall::new(image, RootPassword::new(root)?)
        .with_user_data(UserData::from(USER_DATA));
    let started = client.reinstall(&kvm, input).await?;
    let details = client
        .wait_reinstalled(
            &started,
            &PollSchedule::fast(Duration::from_secs(900)),
            &mut |event| eprintln!("{event}"),
        )
        .await?;
    println!(
        "done: {kvm} ({:?}) runs {IMAGE}, at {:?}",
        details.hostname, details.network.ipv4
    );
    if let Some(running) = emulator {
        running.shutdown().await;
    }
    Ok(())
}
