//! The client under throttling as the API gateway does it (the emulator's rate limit: a count
//! per user in a window, and 429 `APIGW.0308` without `Retry-After` until the window ends):
//! a patient retry policy waits the window out, with jitter, for reads and a reinstall alike
//! (applied once); a short one gives up with the gateway's code and message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reimage_auth::aksk::AkSk;
use reimage_client::{EcsAuth, EcsClient, RetryPolicy, Transport, TransportConfig};
use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, ProjectId, ServerId};
use reimage_emulator::{Config, RateLimit, Running};
use reimage_wire::Endpoint;
use secrecy::SecretString;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const STOPPED: &str = "11111111-2222-3333-4444-555555555555";

/// At most 3 calls per user in each second.
async fn throttled_emulator() -> Running {
    let config = Config::builder()
        .rate_limit(RateLimit::new(3, Duration::from_secs(1)))
        .build()
        .unwrap();
    reimage_emulator::start(config).await.unwrap()
}

fn client(emu: &Running, policy: RetryPolicy) -> EcsClient {
    let transport = Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(5))
            .retry(policy)
            .proxy_from_env(false),
    )
    .unwrap();
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    EcsClient::new(
        transport,
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap()
}

/// The calls of `operation` the emulator refused for the rate limit, and those it answered.
fn outcomes(emu: &Running, operation: &str) -> (usize, usize) {
    let log = emu.requests();
    let entries = log
        .as_array()
        .or_else(|| log["requests"].as_array())
        .expect("the request log is a list");
    let calls: Vec<_> = entries
        .iter()
        .filter(|c| c["operation"] == operation)
        .collect();
    let throttled = calls.iter().filter(|c| c["status"] == 429).count();
    (throttled, calls.len() - throttled)
}

#[tokio::test]
async fn a_patient_policy_waits_out_the_window_without_retry_after() {
    let emu = throttled_emulator().await;
    // 20 ms growing to 200 ms with jitter, 12 attempts for a throttled call: well over a second.
    let policy = RetryPolicy::new(3, Duration::from_millis(20), Duration::from_millis(200))
        .with_max_throttled_attempts(12);
    let ecs = client(&emu, policy);
    let server = ServerId::new(STOPPED).unwrap();
    for _ in 0..7 {
        ecs.server(&server).await.unwrap();
    }
    let (throttled, answered) = outcomes(&emu, "ecs.show_server");
    assert_eq!(answered, 7);
    assert!(throttled >= 1, "7 reads in a window of 3 were throttled");

    // A reinstall is refused before anything runs: it waits too, and is applied once.
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Sup3r-secret!").unwrap())
        .build()
        .unwrap();
    let started = ecs
        .reinstall(&server, EcsReinstall::new(spec))
        .await
        .unwrap();
    assert!(started.job_id.is_some());
    let state = emu.state();
    let s = state["ecs"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == STOPPED)
        .unwrap()
        .clone();
    assert_eq!(s["reinstalls_applied"], 1, "{s}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_short_policy_gives_up_with_the_gateways_code_and_message() {
    let emu = throttled_emulator().await;
    let ecs = client(
        &emu,
        RetryPolicy::new(2, Duration::from_millis(1), Duration::from_millis(2)),
    );
    let server = ServerId::new(STOPPED).unwrap();
    for _ in 0..3 {
        ecs.server(&server).await.unwrap();
    }
    let err = ecs.server(&server).await.unwrap_err();
    let provider = err.provider_error().expect("the gateway's refusal");
    assert_eq!(provider.status, 429, "{err}");
    assert_eq!(provider.code.as_deref(), Some("APIGW.0308"), "{err}");
    assert!(provider.message.contains("limit:3"), "{}", provider.message);
    emu.shutdown().await;
}
