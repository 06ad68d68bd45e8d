//! The clients against the emulator as a real HTTP server: the happy paths, and the faults a
//! real provider shows (throttling, gateway errors, a lost answer, a reset, credentials that
//! expire mid-wait), each checked against the emulator's own count of what it applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reimage_auth::aksk::AkSk;
use reimage_auth::edis::EdisCredentials;
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_client::{
    EcsAuth, EcsClient, EdisClient, Error, ErrorKind, PollSchedule, ProgressEvent, RetryPolicy,
    Transport, TransportConfig,
};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId, KvmId,
    ProjectId, RootPassword, ServerId,
};
use reimage_emulator::{Config, FaultKind, FaultRule, Running};
use reimage_wire::Endpoint;
use reimage_wire::ecs::{ServerStatus, StopType};
use reimage_wire::edis::PowerState;
use secrecy::SecretString;
use serde_json::Value;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const STOPPED: &str = "11111111-2222-3333-4444-555555555555";
const STOPPED_2: &str = "22222222-3333-4444-5555-666666666666";
const RUNNING: &str = "33333333-4444-5555-6666-777777777777";
const UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";
const KVM: &str = "kvm_100001_200001";

async fn emulator() -> Running {
    let config = Config::builder().time_scale(0.002).build().unwrap();
    reimage_emulator::start(config).await.unwrap()
}

fn transport() -> Transport {
    Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(5))
            .retry(RetryPolicy::new(
                4,
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .proxy_from_env(false),
    )
    .unwrap()
}

fn schedule() -> PollSchedule {
    PollSchedule::fast(Duration::from_secs(20))
}

fn token_client(emu: &Running) -> EcsClient {
    let endpoint = Endpoint::parse(&emu.base_url()).unwrap();
    let credentials = PasswordCredentials::new(
        "admin",
        "emulator",
        SecretString::from("Emulator-Passw0rd!"),
    )
    .unwrap();
    EcsClient::new(
        transport(),
        endpoint.clone(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::Password {
            credentials,
            scope: TokenScope::ProjectId(ProjectId::new(PROJECT).unwrap()),
            iam_endpoint: endpoint,
        },
    )
    .unwrap()
}

fn aksk_client(emu: &Running) -> EcsClient {
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    EcsClient::new(
        transport(),
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap()
}

fn edis_client(emu: &Running) -> EdisClient {
    let credentials =
        EdisCredentials::new("demo@example.com", SecretString::from("emulator-pw")).unwrap();
    EdisClient::new(transport(), credentials)
        .with_auth_endpoint(Endpoint::parse(&emu.base_url()).unwrap())
        .unwrap()
}

fn reinstall_input() -> EcsReinstall {
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Reimage-Test-Pw1!").unwrap())
        .build()
        .unwrap();
    EcsReinstall::new(spec)
}

fn server_state(emu: &Running, id: &str) -> Value {
    let state = emu.state();
    state["ecs"]["servers"]
        .as_array()
        .or_else(|| state["servers"].as_array())
        .expect("the state lists servers")
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .expect("the server is in the state")
}

fn kvm_state(emu: &Running, id: &str) -> Value {
    let state = emu.state();
    state["edis"]["kvms"]
        .as_array()
        .or_else(|| state["kvms"].as_array())
        .expect("the state lists KVMs")
        .iter()
        .find(|k| k["kvm_id"] == id)
        .cloned()
        .expect("the KVM is in the state")
}

/// How many requests of `operation` reached the emulator.
fn sent(emu: &Running, operation: &str) -> usize {
    emu.requests()
        .as_array()
        .expect("the request log is a list")
        .iter()
        .filter(|r| r["operation"] == operation)
        .count()
}

fn reinstalls(emu: &Running, id: &str) -> u64 {
    server_state(emu, id)["reinstalls_applied"]
        .as_u64()
        .unwrap()
}

fn record(events: &mut Vec<String>) -> impl FnMut(&ProgressEvent) + Send + '_ {
    move |e| events.push(e.to_string())
}

#[tokio::test]
async fn a_token_reinstall_is_followed_to_the_end() {
    let emu = emulator().await;
    let client = token_client(&emu);
    let server = ServerId::new(STOPPED).unwrap();
    let started = client.reinstall(&server, reinstall_input()).await.unwrap();
    assert!(started.job_id.is_some() && started.evidence.is_none());
    let mut events = Vec::new();
    let after = client
        .follow(&started, &schedule(), &mut record(&mut events))
        .await
        .unwrap();
    assert_ne!(after.status, Some(ServerStatus::Rebuild));
    assert!(after.launched_at > started.before.launched_at);
    assert!(events.iter().any(|e| e.contains("SUCCESS")), "{events:?}");
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    // The token was fetched once and reused.
    let tokens = emu.state()["iam"]["tokens"].as_array().map_or(0, Vec::len);
    assert_eq!(tokens, 1, "{}", emu.state()["iam"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_aksk_change_of_os_lands_on_the_new_image() {
    let emu = emulator().await;
    let client = aksk_client(&emu);
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Reimage-Test-Pw1!").unwrap())
        .build()
        .unwrap();
    let input = EcsChangeOs::new(ImageId::new(UBUNTU).unwrap(), spec);
    let started = client
        .change_os(&ServerId::new(STOPPED_2).unwrap(), input)
        .await
        .unwrap();
    let after = client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(after.image_id, Some(ImageId::new(UBUNTU).unwrap()));
    assert_eq!(server_state(&emu, STOPPED_2)["os_changes_applied"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_followed_and_never_resent() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::LostAnswer)
            .operation("ecs.reinstallos")
            .calls([1]),
    );
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    assert_eq!(started.job_id, None);
    assert!(started.evidence.is_some(), "{started:?}");
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    emu.shutdown().await;
}

/// Real ECS has reported a job's SUCCESS while the work still ran, and SUCCESS then RUNNING
/// again: the follow ends only when the server is out of REBUILD on its new system disk.
#[tokio::test]
async fn a_job_that_reports_success_early_is_followed_to_the_end() {
    for kind in [FaultKind::EarlySuccess, FaultKind::SuccessFlap] {
        let emu = emulator().await;
        emu.add_fault(
            FaultRule::new(kind.clone())
                .operation("ecs.reinstallos")
                .calls([1]),
        );
        let client = aksk_client(&emu);
        let server = ServerId::new(STOPPED).unwrap();
        let before = client.server(&server).await.unwrap();
        let started = client.reinstall(&server, reinstall_input()).await.unwrap();
        client
            .follow(&started, &schedule(), &mut |_| {})
            .await
            .unwrap();
        let after = client.server(&server).await.unwrap();
        assert_eq!(after.status, Some(ServerStatus::Active), "{kind:?}");
        assert!(!after.is_rebuilding(), "{kind:?}");
        assert_ne!(after.system_disk, before.system_disk, "{kind:?}");
        assert_eq!(reinstalls(&emu, STOPPED), 1, "{kind:?}");
        emu.shutdown().await;
    }
}

/// A reinstall that swaps the system disk may leave `updated` and `launched_at` as they were:
/// after a lost answer, the new system disk is the evidence that it ended, and the reinstall is
/// neither sent again nor left waiting until the deadline.
#[tokio::test]
async fn a_lost_answer_with_frozen_timestamps_is_followed_by_the_system_disk() {
    let emu = emulator().await;
    for kind in [FaultKind::LostAnswer, FaultKind::FrozenTimestamps] {
        emu.add_fault(FaultRule::new(kind).operation("ecs.reinstallos").calls([1]));
    }
    let client = aksk_client(&emu);
    let server = ServerId::new(STOPPED).unwrap();
    let before = client.server(&server).await.unwrap();
    assert!(before.system_disk.is_some(), "{before:?}");
    let started = client.reinstall(&server, reinstall_input()).await.unwrap();
    assert_eq!(started.job_id, None);
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    let after = client.server(&server).await.unwrap();
    assert_eq!(after.launched_at, before.launched_at, "the fault froze it");
    assert_eq!(after.updated, before.updated, "the fault froze it");
    assert_ne!(after.system_disk, before.system_disk);
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    emu.shutdown().await;
}

/// A `withStopServer` reinstall of a running server first powers it off (`ACTIVE`,
/// `powering-off`, then `SHUTOFF`), as ECS does: an answer lost then is followed on that
/// evidence, never sent again (which ECS would refuse with `Ecs.0603`, or, after the job, run
/// twice).
#[tokio::test]
async fn a_lost_answer_while_a_running_server_powers_off_is_never_resent() {
    // A manual clock (at the real time, for the AK/SK window) holds the server in its power-off
    // while the client reads it again after the lost answer, however busy the machine is.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = reimage_emulator::ManualClock::new(
        reimage_core::Timestamp::from_unix_seconds(i64::try_from(unix).unwrap()).unwrap(),
    );
    let config = Config::builder()
        .clock(std::sync::Arc::new(clock.clone()))
        .build()
        .unwrap();
    let emu = reimage_emulator::start(config).await.unwrap();
    emu.add_fault(
        FaultRule::new(FaultKind::LostAnswer)
            .operation("ecs.reinstallos")
            .calls([1]),
    );
    let client = aksk_client(&emu);
    let server = ServerId::new(RUNNING).unwrap();
    let before = client.server(&server).await.unwrap();
    assert_eq!(before.status, Some(ServerStatus::Active));
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Reimage-Test-Pw1!").unwrap())
        .stop_server(true)
        .build()
        .unwrap();
    let started = client
        .reinstall(&server, EcsReinstall::new(spec))
        .await
        .unwrap();
    assert_eq!(started.job_id, None);
    assert_eq!(
        started.evidence,
        Some(reimage_client::Evidence::StoppingForRebuild),
        "{started:?}"
    );
    // Followed to its end: rebuilt once, on a new system disk, running again.
    clock.advance(Duration::from_secs(90));
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    let after = client.server(&server).await.unwrap();
    assert_eq!(after.status, Some(ServerStatus::Active));
    assert_ne!(after.system_disk, before.system_disk);
    assert_eq!(
        sent(&emu, "ecs.reinstallos"),
        1,
        "the reinstall was sent once"
    );
    assert_eq!(reinstalls(&emu, RUNNING), 1);
    emu.shutdown().await;
}

/// The evidence of a `withStopServer` rebuild's first step (a running server powering off) is
/// also what a stop by someone else looks like: following it must not end in success when only
/// a stop happened (a stop moves `updated`, but not the system disk or `launched_at`).
#[tokio::test]
async fn a_stop_is_not_taken_for_a_finished_rebuild() {
    let emu = emulator().await;
    let client = aksk_client(&emu);
    let server = ServerId::new(RUNNING).unwrap();
    let before = client.server(&server).await.unwrap();
    let job = client
        .stop(vec![server.clone()], StopType::Soft)
        .await
        .unwrap();
    client
        .wait_job(&job, Some(&server), &schedule(), &mut |_| {})
        .await
        .unwrap();
    let stopped = client.server(&server).await.unwrap();
    assert_eq!(stopped.status, Some(ServerStatus::Shutoff));
    assert_ne!(stopped.updated, before.updated, "a stop moves `updated`");
    let error = client
        .wait_rebuilt(
            &before,
            &PollSchedule::fast(Duration::from_millis(500)),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    emu.shutdown().await;
}

/// The reinstall for an image without cloud-init goes by `/v1/…/reinstallos`, is followed by
/// its job like the others, and is applied once.
#[tokio::test]
async fn a_reinstall_without_cloud_init_takes_the_v1_call() {
    let emu = emulator().await;
    let client = aksk_client(&emu);
    let spec = EcsOsSpec::builder()
        .keyname(reimage_core::KeyPairName::new("KeyPair-350b").unwrap())
        .userid(reimage_core::UserId::new("7e25b1da389f4697a79df3a0e5bd494e").unwrap())
        .build()
        .unwrap();
    let before = client
        .server(&ServerId::new(STOPPED).unwrap())
        .await
        .unwrap();
    let started = client
        .reinstall_without_cloud_init_from(before, EcsReinstall::new(spec))
        .await
        .unwrap();
    assert_eq!(
        started.operation.name(),
        "ecs.reinstallos_without_cloud_init"
    );
    assert!(started.job_id.is_some(), "{started:?}");
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    let sent: Vec<Value> = emu
        .requests()
        .as_array()
        .expect("the request log is a list")
        .iter()
        .filter(|r| r["operation"] == "ecs.reinstallos_without_cloud_init")
        .cloned()
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/v1/")),
        "{sent:?}"
    );
    emu.shutdown().await;
}

/// A second reinstall while the first runs: ECS answers 501 `Ecs.0603`, the provider's refusal,
/// which is returned with its code and never retried.
#[tokio::test]
async fn a_busy_server_is_refused_and_not_retried() {
    let config = Config::builder().time_scale(1.0).build().unwrap();
    let emu = reimage_emulator::start(config).await.unwrap();
    let client = aksk_client(&emu);
    let server = ServerId::new(STOPPED).unwrap();
    client.reinstall(&server, reinstall_input()).await.unwrap();
    let before = client.server(&server).await.unwrap();
    let error = client
        .reinstall_from(before, reinstall_input())
        .await
        .unwrap_err();
    let provider = error
        .provider_error()
        .unwrap_or_else(|| panic!("{error:?}"));
    assert_eq!(provider.status, 501, "{error}");
    assert_eq!(provider.code.as_deref(), Some("Ecs.0603"), "{error}");
    let sent = sent(&emu, "ecs.reinstallos");
    assert_eq!(sent, 2, "one each, the 501 not retried");
    emu.shutdown().await;
}

/// ECS deletes a finished job a day later: a reinstall followed again after that (a fleet
/// resumed the next day) finds the job gone (`Common.0011`) and follows the server instead.
#[tokio::test]
async fn a_job_gone_a_day_later_is_followed_by_the_server() {
    let mut timings = reimage_emulator::Timings::default();
    // At time scale 0.002: the job runs 180 ms, and is deleted 2 ms after it ends.
    timings.job_retention = Duration::from_secs(1);
    let config = Config::builder()
        .time_scale(0.002)
        .timings(timings)
        .build()
        .unwrap();
    let emu = reimage_emulator::start(config).await.unwrap();
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    let job = started.job_id.clone().unwrap();
    // Wait (bounded) until the job has ended and been deleted.
    let mut tries = 0;
    loop {
        match client.job(&job).await {
            Err(Error::Provider(e)) if e.code.as_deref() == Some("Common.0011") => break,
            _ => {}
        }
        tries += 1;
        assert!(tries < 500, "the job was never deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(after.id.as_str(), STOPPED);
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    emu.shutdown().await;
}

/// ECS's back end over its flow limit answers `202` with `Common.0024` and no job: nothing ran,
/// so the reinstall waits and goes again, and is applied once.
#[tokio::test]
async fn a_flow_limit_is_waited_out_and_the_reinstall_applied_once() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::FlowLimit)
            .operation("ecs.reinstallos")
            .calls([1, 2]),
    );
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    assert!(started.job_id.is_some(), "{started:?}");
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    let sent: Vec<Value> = emu
        .requests()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "ecs.reinstallos")
        .cloned()
        .collect();
    assert_eq!(
        sent.len(),
        3,
        "two refusals, then the one that ran: {sent:?}"
    );
    assert_eq!(sent[0]["status"], 202, "{sent:?}");
    assert_eq!(sent[0]["error_code"], "Common.0024", "{sent:?}");
    emu.shutdown().await;
}

/// A rebuild followed without its job (the answer was lost) that leaves the server in ERROR is
/// reported as the ECS operation it was, on the server, not as an EDIS reinstall.
#[tokio::test]
async fn a_rebuild_that_ends_in_error_names_the_ecs_operation() {
    let emu = emulator().await;
    for kind in [
        FaultKind::JobFail {
            error_code: None,
            fail_reason: None,
        },
        FaultKind::LostAnswer,
    ] {
        emu.add_fault(FaultRule::new(kind).operation("ecs.reinstallos").calls([1]));
    }
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    assert_eq!(started.job_id, None);
    let error = client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ReinstallFailed { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("ecs.reinstallos of server {STOPPED}: the server is in ERROR after the rebuild")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_reset_before_anything_ran_is_outcome_unknown_and_not_resent() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::Reset)
            .operation("ecs.reinstallos")
            .calls([1]),
    );
    let client = aksk_client(&emu);
    let err = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err}");
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reinstalls(&emu, STOPPED), 0);
    let jobs = emu.state()["ecs"]["jobs"].as_array().map_or(0, Vec::len);
    assert_eq!(jobs, 0, "no job was started");
    emu.shutdown().await;
}

#[tokio::test]
async fn throttling_and_gateway_errors_are_retried_once_it_is_safe() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::Throttle {
            retry_after: Duration::from_secs(1),
        })
        .operation("ecs.reinstallos")
        .calls([1]),
    );
    emu.add_fault(
        FaultRule::new(FaultKind::ServerError { status: 503 })
            .operation("ecs.reinstallos")
            .calls([2]),
    );
    emu.add_fault(
        FaultRule::new(FaultKind::ServerError { status: 503 })
            .operation("ecs.show_job")
            .times(2),
    );
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    assert!(started.job_id.is_some(), "{started:?}");
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reinstalls(&emu, STOPPED), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_failed_job_is_an_error_with_its_code() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::JobFail {
            error_code: Some("Ecs.0013".into()),
            fail_reason: Some("insufficient capacity".into()),
        })
        .operation("ecs.reinstallos"),
    );
    let client = aksk_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    let err = client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::JobFailed { .. }), "{text}");
    assert!(
        text.contains("Ecs.0013") && text.contains("insufficient capacity"),
        "{text}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_token_that_expires_mid_wait_is_renewed() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::ExpireCredentials)
            .operation("ecs.show_job")
            .calls([2]),
    );
    let client = token_client(&emu);
    let started = client
        .reinstall(&ServerId::new(STOPPED).unwrap(), reinstall_input())
        .await
        .unwrap();
    client
        .follow(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    let tokens = emu.state()["iam"]["tokens"].as_array().map_or(0, Vec::len);
    assert_eq!(tokens, 2, "one token, then one more after it expired");
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error() {
    let emu = emulator().await;
    let keys = AkSk::new("REIMAGEEMULATORAK", SecretString::from("wrong-sk")).unwrap();
    let client = EcsClient::new(
        transport(),
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap();
    let err = client
        .server(&ServerId::new(STOPPED).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let provider = err.provider_error().unwrap();
    assert_eq!(provider.code.as_deref(), Some("APIGW.0301"));
    emu.shutdown().await;
}

#[tokio::test]
async fn slow_answers_time_out_and_large_answers_are_refused() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::Latency {
            delay: Duration::from_millis(800),
        })
        .operation("ecs.show_server"),
    );
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    let slow = Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_millis(200))
            .retry(RetryPolicy::new(
                2,
                Duration::from_millis(10),
                Duration::from_millis(10),
            )),
    )
    .unwrap();
    let client = EcsClient::new(
        slow,
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys.clone()),
    )
    .unwrap();
    let err = client
        .server(&ServerId::new(STOPPED).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    emu.clear_faults();

    let small = Transport::new(TransportConfig::default().max_response_bytes(64)).unwrap();
    let client = EcsClient::new(
        small,
        Endpoint::parse(&emu.base_url()).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap();
    let err = client
        .server(&ServerId::new(STOPPED).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than the limit of 64 bytes"),
        "{err}"
    );
    emu.shutdown().await;
}

fn edis_input(image: &str) -> EdisReinstall {
    EdisReinstall::new(
        EdisImage::new(image).unwrap(),
        RootPassword::new("Root-Test-Pw-1").unwrap(),
    )
}

#[tokio::test]
async fn an_edis_reinstall_runs_to_the_new_system() {
    let emu = emulator().await;
    let client = edis_client(&emu);
    let kvm = KvmId::new(KVM).unwrap();
    let images = client.images(&kvm).await.unwrap();
    assert!(images.contains(&EdisImage::new("cloudinit_debian-bookworm").unwrap()));
    assert_eq!(client.power(&kvm).await.unwrap().state, PowerState::On);
    let started = client
        .reinstall(&kvm, edis_input("cloudinit_debian-bookworm"))
        .await
        .unwrap();
    let mut events = Vec::new();
    let details = client
        .wait_reinstalled(&started, &schedule(), &mut record(&mut events))
        .await
        .unwrap();
    assert!(details.hostname.is_some());
    assert!(
        events.iter().any(|e| e.contains("powered off")),
        "{events:?}"
    );
    let state = kvm_state(&emu, KVM);
    assert_eq!(state["image"], "cloudinit_debian-bookworm");
    assert_eq!(state["reinstalls_applied"], 1);
    assert_eq!(state["powered_on"], true);
    // One session served every call.
    let sessions = emu.state()["edis"]["sessions"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(sessions, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn edis_sessions_are_renewed_before_and_after_they_expire() {
    let emu = emulator().await;
    // Sessions that live 3 s (`valid_until` has whole seconds), with a freshness margin of
    // 1 s: each is used for a second or two, and renewed before it is sent stale.
    emu.add_fault(
        FaultRule::new(FaultKind::ShortLivedCredentials {
            lifetime: Duration::from_millis(3000),
        })
        .operation("edis.create_session"),
    );
    let client = edis_client(&emu).with_freshness_margin(Duration::from_secs(1));
    let kvm = KvmId::new(KVM).unwrap();
    for _ in 0..6 {
        client.power(&kvm).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let sessions = emu.state()["edis"]["sessions"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        sessions >= 2,
        "the session was renewed ({sessions} sessions)"
    );
    emu.clear_faults();

    // A session that expires while in use (mid-wait) is renewed and the call repeated.
    emu.add_fault(
        FaultRule::new(FaultKind::ExpireCredentials)
            .operation("edis.get_power")
            .calls([1]),
    );
    assert_eq!(client.power(&kvm).await.unwrap().state, PowerState::On);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_edis_lost_answer_is_followed_when_the_kvm_powered_off() {
    let emu = emulator().await;
    emu.add_fault(
        FaultRule::new(FaultKind::LostAnswer)
            .operation("edis.reinstall")
            .calls([1]),
    );
    let client = edis_client(&emu);
    let kvm = KvmId::new(KVM).unwrap();
    let started = client
        .reinstall(&kvm, edis_input("cloudinit_ubuntu-lts-24-04"))
        .await
        .unwrap();
    assert!(started.evidence.is_some(), "{started:?}");
    client
        .wait_reinstalled(&started, &schedule(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(kvm_state(&emu, KVM)["reinstalls_applied"], 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_edis_credentials_are_an_auth_error() {
    let emu = emulator().await;
    let credentials =
        EdisCredentials::new("demo@example.com", SecretString::from("not-the-pw")).unwrap();
    let client = EdisClient::new(transport(), credentials)
        .with_auth_endpoint(Endpoint::parse(&emu.base_url()).unwrap())
        .unwrap();
    let err = client.power(&KvmId::new(KVM).unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-pw"));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_hard_reset_is_sent_once_even_when_its_answer_is_lost() {
    let emu = emulator().await;
    let client = edis_client(&emu);
    let kvm = KvmId::new(KVM).unwrap();
    assert!(client.hard_reset(&kvm).await.unwrap().is_some());
    assert_eq!(kvm_state(&emu, KVM)["resets_applied"], 1);

    emu.add_fault(
        FaultRule::new(FaultKind::LostAnswer)
            .operation("edis.hard_reset")
            .calls([1]),
    );
    let err = client.hard_reset(&kvm).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err}");
    assert_eq!(
        kvm_state(&emu, KVM)["resets_applied"],
        2,
        "applied once, not retried"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn mount_details_are_a_read_retried_after_a_lost_answer() {
    let emu = emulator().await;
    let client = edis_client(&emu);
    let kvm = KvmId::new(KVM).unwrap();
    let mount = client.mount(&kvm).await.unwrap();
    assert_eq!(mount.current_iso, None, "no ISO is mounted");

    // A read is safe to send again: a lost answer and a 503 are retried, not reported. (Calls
    // are counted from when a rule is added.)
    emu.add_fault(
        FaultRule::new(FaultKind::LostAnswer)
            .operation("edis.get_mount")
            .calls([1]),
    );
    emu.add_fault(
        FaultRule::new(FaultKind::ServerError { status: 503 })
            .operation("edis.get_mount")
            .calls([2]),
    );
    assert!(!client.mount(&kvm).await.unwrap().is_mounted());
    let sent = emu
        .requests()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "edis.get_mount")
        .count();
    assert_eq!(sent, 4, "one, then one lost, one refused and one answered");
    emu.shutdown().await;
}
