//! The console log (`EcsClient::console_output`) against the emulator: the boot of each install
//! with its own host keys, in cloud-init's formats, only the last boot counting, and `length`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reimage_auth::aksk::AkSk;
use reimage_client::wire::Endpoint;
use reimage_client::wire::ecs::ConsoleLength;
use reimage_client::{EcsAuth, EcsClient, PollSchedule, RetryPolicy, Transport, TransportConfig};
use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, ProjectId, ServerId};
use reimage_emulator::{Config, Running};
use reimage_hostkeys::console;
use reimage_hostkeys::keys::fingerprint;
use secrecy::SecretString;

const STOPPED: &str = "11111111-2222-3333-4444-555555555555";

fn client(emu: &Running) -> EcsClient {
    let transport = Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(5))
            .retry(RetryPolicy::new(
                2,
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .proxy_from_env(false),
    )
    .unwrap();
    EcsClient::new(
        transport,
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new("0123456789abcdef0123456789abcdef").unwrap(),
        EcsAuth::AkSk(
            AkSk::new(
                "REIMAGEEMULATORAK",
                SecretString::from("reimage-emulator-sk"),
            )
            .unwrap(),
        ),
    )
    .unwrap()
}

fn host_key(emu: &Running) -> String {
    let state = emu.state();
    let servers = state["ecs"]["servers"].as_array().unwrap();
    let server = servers.iter().find(|s| s["id"] == STOPPED).unwrap();
    server["host_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_install_boots_with_new_keys_and_only_the_last_boot_counts() {
    let emu = reimage_emulator::start(Config::builder().time_scale(0.002).build().unwrap())
        .await
        .unwrap();
    let client = client(&emu);
    let server = ServerId::new(STOPPED).unwrap();

    // The fixture's install: booted long ago, its keys and final message on the console.
    let first = console::read(
        &client
            .console_output(&server, ConsoleLength::All)
            .await
            .unwrap(),
    );
    assert!(first.boot_seen && first.blocks_complete);
    assert!(first.finished.is_some());
    let old = host_key(&emu);
    assert_eq!(
        first.keys.iter().map(fingerprint).collect::<Vec<_>>(),
        vec![old.clone()]
    );
    assert_eq!(first.fingerprints[0].fingerprint, old);

    // The last 5 lines are the end of the log.
    let whole = client
        .console_output(&server, ConsoleLength::All)
        .await
        .unwrap();
    let tail = client
        .console_output(&server, ConsoleLength::Lines(5))
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 5);
    assert!(whole.ends_with(&tail));

    // A reinstall: a new boot, new keys once cloud-init wrote them.
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Sup3r-secret!").unwrap())
        .build()
        .unwrap();
    let started = client
        .reinstall(&server, EcsReinstall::new(spec))
        .await
        .unwrap();
    client
        .follow(
            &started,
            &PollSchedule::fast(Duration::from_secs(20)),
            &mut |_| {},
        )
        .await
        .unwrap();
    let new = host_key(&emu);
    assert_ne!(new, old, "a new install has new host keys");
    let waited = Instant::now();
    let boot = loop {
        let text = client
            .console_output(&server, ConsoleLength::All)
            .await
            .unwrap();
        let boot = console::read(&text);
        if boot.finished.is_some() {
            // The earlier boot is still in the log, but does not count.
            assert!(text.contains(&old));
            break boot;
        }
        // Until then, nothing of the earlier boot is taken for this one.
        assert!(boot.keys.is_empty(), "{:?}", boot.keys);
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the boot never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        boot.keys.iter().map(fingerprint).collect::<Vec<_>>(),
        vec![new]
    );
    assert!(boot.errors().is_empty());

    // A server that does not exist: ECS's own answer.
    let nobody = ServerId::new("abcdefab-cdef-4abc-8def-abcdefabcdef").unwrap();
    let e = client
        .console_output(&nobody, ConsoleLength::All)
        .await
        .unwrap_err();
    assert_eq!(
        e.provider_error().and_then(|p| p.code.as_deref()),
        Some("Ecs.0114")
    );
    emu.shutdown().await;
}
