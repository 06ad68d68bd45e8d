//! Every fault kind over real HTTP, switched on through the admin API, the config, a fixture file
//! or `Running::add_fault`; and the exactly-once proof after a lost answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use reimage_auth::EdisCredentials;
use reimage_auth::edis::DEFAULT_FRESHNESS_MARGIN;
use reimage_core::{EcsOsSpec, EcsReinstall, JobStatus, KeyPairName, KvmId, UserId};
use reimage_emulator::{Config, FaultKind, FaultRule, Fixtures};
use reimage_wire::ecs::{ReinstallOs, ServerStatus, ShowJob, ShowServer};
use reimage_wire::edis::{CreateSession, GetPower};
use reimage_wire::{Endpoint, Operation, ResponseError};
use serde_json::{Value, json};

fn reinstall() -> ReinstallOs {
    let spec = EcsOsSpec::builder()
        .keyname(KeyPairName::new("KeyPair-350b").unwrap())
        .userid(UserId::new(USER_ID).unwrap())
        .user_data("#cloud-config\n".into())
        .build()
        .unwrap();
    ReinstallOs::new(project(), server(STOPPED), EcsReinstall::new(spec))
}

async fn fault(emu: &Emu, rule: Value) -> u64 {
    let (status, body) = emu
        .admin(Method::POST, "/_emulator/faults", &rule.to_string())
        .await;
    assert_eq!(status, 201, "{body}");
    body["ids"][0].as_u64().unwrap()
}

async fn last_log(emu: &Emu) -> Value {
    let log = emu.admin_get("/_emulator/requests").await;
    log["requests"].as_array().unwrap().last().cloned().unwrap()
}

async fn reinstalls(emu: &Emu) -> u64 {
    emu.server_state(STOPPED).await["reinstalls_applied"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn latency_delays_and_still_answers() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    fault(
        &emu,
        json!({"operation": "ecs.show_server", "kind": "latency", "params": {"ms": 50}}),
    )
    .await;
    let details = emu
        .call(&ShowServer::new(project(), server(STOPPED)), &token)
        .await
        .unwrap();
    assert_eq!(details.status, Some(ServerStatus::Shutoff));
    let entry = last_log(&emu).await;
    assert_eq!(entry["faults"], json!(["latency"]));
    assert_eq!(entry["outcome"], "answered");
}

#[tokio::test]
async fn throttle_and_server_errors_apply_nothing() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    fault(&emu, json!({"operation": "ecs.reinstallos", "kind": "throttle", "params": {"retry_after_secs": 2}, "calls": [1]})).await;
    let mut request = reinstall().to_request(&emu.endpoint()).unwrap();
    with_token(&mut request, &token);
    let raw = emu.send(&request).await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (429, Some("APIGW.0308"))
    );
    assert_eq!(raw.header("retry-after"), Some("2"));
    assert!(raw.header("x-request-id").is_some());
    assert_eq!(reinstalls(&emu).await, 0);

    for (status, code) in [
        (500, "Common.0001"),
        (502, "APIGW.0202"),
        (503, "APIGW.0202"),
        (504, "APIGW.0203"),
    ] {
        emu.running.clear_faults();
        fault(
            &emu,
            json!({"operation": "ecs.*", "kind": "server_error", "params": {"status": status}}),
        )
        .await;
        let raw = emu.send(&request).await;
        assert_eq!((raw.status, raw.code().as_deref()), (status, Some(code)));
        let err = reinstall().decode_response(raw.response()).unwrap_err();
        assert_eq!(err.provider_error().unwrap().status, status);
    }
    assert_eq!(reinstalls(&emu).await, 0);

    // EDIS answers in its own form.
    emu.running.clear_faults();
    fault(
        &emu,
        json!({"path": "/kvm/v2/*/*", "kind": "server_error", "params": {"status": 500}}),
    )
    .await;
    fault(
        &emu,
        json!({"operation": "edis.get_images", "kind": "throttle"}),
    )
    .await;
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/kvm/v2/get/auth",
            "email=demo%40example.com&pw=emulator-pw",
        ))
        .await;
    assert_eq!(raw.status, 500);
    assert_eq!(
        raw.json(),
        json!({"error": "An unexpected error occurred on the server.", "code": 500})
    );
    for (status, error) in [
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    ] {
        emu.running.clear_faults();
        let rule = json!({"operation": "edis.create_session", "kind": "server_error", "params": {"status": status}});
        fault(&emu, rule).await;
        let raw = emu
            .send(&plain(
                Method::POST,
                emu.addr,
                "/kvm/v2/get/auth",
                "email=demo%40example.com&pw=emulator-pw",
            ))
            .await;
        assert_eq!(raw.json(), json!({"error": error, "code": status}));
    }
    let sessions = emu.admin_get("/_emulator/state").await["edis"]["sessions"].clone();
    assert_eq!(sessions, json!([]));
    emu.running.clear_faults();
    fault(
        &emu,
        json!({"operation": "edis.get_images", "kind": "throttle"}),
    )
    .await;
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/kvm/v2/get/images",
            "signature=x&kvm_id=kvm_1_1&valid_until=1",
        ))
        .await;
    assert_eq!((raw.status, raw.header("retry-after")), (429, Some("1")));
}

#[tokio::test]
async fn a_reset_comes_before_anything_is_applied() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    fault(
        &emu,
        json!({"operation": "ecs.reinstallos", "kind": "reset", "calls": [1]}),
    )
    .await;
    let mut request = reinstall().to_request(&emu.endpoint()).unwrap();
    with_token(&mut request, &token);
    // SO_LINGER 0: the client sees a reset, not an orderly close.
    match send(emu.addr, &request).await {
        Sent::Reset => {}
        other => panic!("expected a reset, got {other:?}"),
    }
    assert_eq!(reinstalls(&emu).await, 0);
    assert_eq!(last_log(&emu).await["outcome"], "reset");
    // The second call is not hit.
    let raw = emu.send(&request).await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert_eq!(reinstalls(&emu).await, 1);
}

#[tokio::test]
async fn a_lost_answer_is_applied_exactly_once() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    fault(
        &emu,
        json!({"operation": "ecs.reinstallos", "kind": "lost_answer", "calls": [1]}),
    )
    .await;
    let mut request = reinstall().to_request(&emu.endpoint()).unwrap();
    with_token(&mut request, &token);
    match send(emu.addr, &request).await {
        Sent::Closed => {}
        other => panic!("expected a closed connection, got {other:?}"),
    }
    // Applied, though the client never heard of it.
    assert_eq!(reinstalls(&emu).await, 1);
    let server = emu.server_state(STOPPED).await;
    assert_eq!(server["status"], "REBUILD");
    let job_id = server["job_id"].as_str().unwrap().to_owned();
    assert_eq!(last_log(&emu).await["outcome"], "lost_answer");

    // A blind retry while the job runs is refused as busy; nothing more is applied.
    let raw = emu.send(&request).await;
    assert_eq!((raw.status, raw.code().as_deref()), (501, Some("Ecs.0603")));
    // And once the job is done, the server runs: without withStopServer, refused again.
    emu.advance(90);
    let job = emu
        .call(
            &ShowJob::new(project(), reimage_core::JobId::new(job_id).unwrap()),
            &token,
        )
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Success);
    let raw = emu.send(&request).await;
    assert_eq!((raw.status, raw.code().as_deref()), (400, Some("Ecs.0100")));
    assert_eq!(reinstalls(&emu).await, 1);
}

#[tokio::test]
async fn truncated_and_invalid_answers_of_applied_calls() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let op = reinstall();
    let mut request = op.to_request(&emu.endpoint()).unwrap();
    with_token(&mut request, &token);

    emu.running.add_fault(
        FaultRule::new(FaultKind::TruncatedBody)
            .operation("ecs.reinstallos")
            .calls([1]),
    );
    match send(emu.addr, &request).await {
        Sent::Answer(raw) => {
            assert_eq!(raw.status, 200);
            assert!(!raw.complete, "the body should be cut: {}", raw.text());
            assert!(serde_json::from_slice::<Value>(&raw.body).is_err());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reinstalls(&emu).await, 1);
    assert_eq!(last_log(&emu).await["outcome"], "truncated_body");

    emu.running.reset();
    let token = emu.token().await;
    let mut request = op.to_request(&emu.endpoint()).unwrap();
    with_token(&mut request, &token);
    emu.running
        .add_fault(FaultRule::new(FaultKind::InvalidJson).operation("ecs.reinstallos"));
    let raw = emu.send(&request).await;
    assert_eq!(raw.status, 200);
    assert!(raw.complete);
    match op.decode_response(raw.response()) {
        Err(ResponseError::Decode(e)) => assert!(e.request_id.is_some()),
        other => panic!("{other:?}"),
    }
    assert_eq!(reinstalls(&emu).await, 1);
}

#[tokio::test]
async fn a_job_that_fails() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    fault(
        &emu,
        json!({"operation": "ecs.reinstallos", "kind": "job_fail", "calls": [1]}),
    )
    .await;
    let job_id = emu.call(&reinstall(), &token).await.unwrap();
    let query = ShowJob::new(project(), job_id);
    assert_eq!(
        emu.call(&query, &token).await.unwrap().status,
        JobStatus::Init
    );
    emu.advance(90);
    let job = emu.call(&query, &token).await.unwrap();
    assert_eq!(job.status, JobStatus::Fail);
    assert_eq!(job.error_code.as_deref(), Some("Ecs.0202"));
    assert!(job.fail_reason.is_some());
    assert!(job.end_time.is_some());
    assert_eq!(job.sub_jobs[0].status, JobStatus::Fail);
    assert_eq!(job.sub_jobs[0].error_code.as_deref(), Some("Ecs.0202"));
    assert!(job.sub_jobs[0].errorcode_message.is_some());
    let details = emu
        .call(&ShowServer::new(project(), server(STOPPED)), &token)
        .await
        .unwrap();
    assert_eq!(details.status, Some(ServerStatus::Error));
    assert_eq!(details.vm_state.as_deref(), Some("error"));

    // A failed OS job may be retried, and this time the fault asks for its own code.
    fault(&emu, json!({"operation": "ecs.reinstallos", "kind": "job_fail", "params": {"error_code": "Ecs.0301", "fail_reason": "disk"}})).await;
    let job_id = emu.call(&reinstall(), &token).await.unwrap();
    emu.advance(90);
    let job = emu
        .call(&ShowJob::new(project(), job_id), &token)
        .await
        .unwrap();
    assert_eq!(
        (job.error_code.as_deref(), job.fail_reason.as_deref()),
        (Some("Ecs.0301"), Some("disk"))
    );
    assert_eq!(reinstalls(&emu).await, 2);
}

#[tokio::test]
async fn credentials_that_expire_now_or_soon() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let show = ShowServer::new(project(), server(STOPPED));
    fault(
        &emu,
        json!({"operation": "ecs.show_server", "kind": "expire_credentials", "calls": [2]}),
    )
    .await;
    assert!(emu.call(&show, &token).await.is_ok());
    let err = emu.call(&show, &token).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("APIGW.0307")
    );
    let err = emu.call(&show, &token).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("APIGW.0307")
    );

    // A token issued with a short life.
    fault(&emu, json!({"operation": "iam.create_token", "kind": "short_lived_credentials", "params": {"lifetime_ms": 2000}})).await;
    let short = emu.token().await;
    assert_eq!(short.expires_at().to_string(), "2025-01-01T00:00:02Z");
    assert!(emu.call(&show, &short).await.is_ok());
    emu.advance(2);
    let err = emu.call(&show, &short).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("APIGW.0307")
    );

    // EDIS: a session issued for 30 s, and one that expires on its second use.
    fault(&emu, json!({"operation": "edis.create_session", "kind": "short_lived_credentials", "params": {"lifetime_ms": 30000}})).await;
    fault(
        &emu,
        json!({"operation": "edis.get_power", "kind": "expire_credentials", "calls": [2]}),
    )
    .await;
    let op = CreateSession::new(EdisCredentials::new("demo@example.com", "emulator-pw").unwrap());
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    let sessions = op.decode_response(raw.response()).unwrap();
    let session = sessions
        .get(&KvmId::new("kvm_100001_200001").unwrap())
        .unwrap();
    assert_eq!(session.valid_until().to_string(), "2025-01-01T00:00:32Z");
    let fresh = session.ensure_fresh(emu.now(), Duration::ZERO).unwrap();
    let power = GetPower::new(fresh);
    let api = Endpoint::from_host(false, session.api_host()).unwrap();
    let raw = emu.send(&power.to_request(&api).unwrap()).await;
    assert_eq!(raw.status, 200);
    let raw = emu.send(&power.to_request(&api).unwrap()).await;
    assert_eq!(raw.status, 401);
    assert_eq!(
        raw.json(),
        json!({"error": "Invalid or expired session signature.", "code": 401})
    );
    assert!(
        session
            .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
            .is_err()
    );

    // The admin API expires everything at once.
    let fresh_token = emu.token().await;
    let (status, body) = emu
        .admin(Method::POST, "/_emulator/expire-credentials", "")
        .await;
    assert_eq!(status, 200);
    assert!(body["tokens_expired"].as_u64().unwrap() >= 1);
    let err = emu.call(&show, &fresh_token).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("APIGW.0307")
    );
}

#[tokio::test]
async fn rules_by_call_number_and_path_and_their_admin_api() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let show = ShowServer::new(project(), server(STOPPED));
    let id = fault(&emu, json!({"path": "/v1/*/cloudservers/*", "method": "get", "kind": "server_error", "calls": [2]})).await;
    assert!(emu.call(&show, &token).await.is_ok());
    let err = emu.call(&show, &token).await.unwrap_err();
    assert_eq!(err.provider_error().unwrap().status, 503);
    assert!(emu.call(&show, &token).await.is_ok());
    let listed = emu.admin_get("/_emulator/faults").await;
    let rule = &listed["faults"][0];
    assert_eq!(
        (
            rule["id"].as_u64(),
            rule["seen"].as_u64(),
            rule["fired"].as_u64()
        ),
        (Some(id), Some(3), Some(1))
    );
    assert_eq!(rule["rule"]["kind"], "server_error");

    // from_call and times.
    let (status, body) = emu
        .admin(Method::POST, "/_emulator/faults", &json!([{"operation": "ecs.show_server", "kind": "throttle", "from_call": 2, "times": 1}]).to_string())
        .await;
    assert_eq!(status, 201, "{body}");
    let throttle = body["ids"][0].as_u64().unwrap();
    let statuses: Vec<bool> = futures_like_seq(&emu, &show, &token, 3).await;
    assert_eq!(statuses, [true, false, true]);

    let (status, _) = emu
        .admin(Method::DELETE, &format!("/_emulator/faults/{throttle}"), "")
        .await;
    assert_eq!(status, 200);
    let (status, _) = emu
        .admin(Method::DELETE, &format!("/_emulator/faults/{throttle}"), "")
        .await;
    assert_eq!(status, 404);
    let (status, _) = emu.admin(Method::DELETE, "/_emulator/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        emu.admin_get("/_emulator/faults").await["faults"],
        json!([])
    );
    for bad in [
        r#"{"kind":"explode"}"#,
        r#"{"kind":"latency"}"#,
        "not json",
        r#"[{"kind":"reset"},{"kind":"nope"}]"#,
    ] {
        let (status, body) = emu.admin(Method::POST, "/_emulator/faults", bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            body["error"].as_str().unwrap().contains("fault")
                || body["error"].as_str().unwrap().contains("JSON"),
            "{body}"
        );
    }
    assert_eq!(
        emu.admin_get("/_emulator/faults").await["faults"],
        json!([])
    );
}

async fn futures_like_seq(
    emu: &Emu,
    show: &ShowServer,
    token: &reimage_auth::Token,
    n: usize,
) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(emu.call(show, token).await.is_ok());
    }
    out
}

#[tokio::test]
async fn faults_from_the_config_and_from_fixtures() {
    let emu =
        Emu::with(Config::builder().fault(
            FaultRule::new(FaultKind::ServerError { status: 502 }).operation("ecs.show_job"),
        ))
        .await;
    let token = emu.token().await;
    let raw = emu
        .send(&{
            let mut r = plain(
                Method::GET,
                emu.addr,
                &format!("/v1/{PROJECT}/jobs/abc"),
                "",
            );
            with_token(&mut r, &token);
            r
        })
        .await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (502, Some("APIGW.0202"))
    );
    // A reset keeps the configured faults.
    emu.running.reset();
    assert_eq!(
        emu.admin_get("/_emulator/faults").await["faults"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let text = format!(
        "{}\n[[faults]]\noperation = \"iam.create_token\"\nkind = \"server_error\"\nparams = {{ status = 500 }}\n",
        Fixtures::default_toml()
    );
    let emu = Emu::with(Config::builder().fixtures(Fixtures::from_toml_str(&text).unwrap())).await;
    let raw = emu
        .send(&plain(Method::POST, emu.addr, "/v3/auth/tokens", "{}"))
        .await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (500, Some("Common.0001"))
    );
}

#[tokio::test]
async fn an_edis_install_that_fails_leaves_the_kvm_off() {
    let emu = Emu::start().await;
    fault(
        &emu,
        json!({"operation": "edis.reinstall", "kind": "job_fail"}),
    )
    .await;
    let op = CreateSession::new(EdisCredentials::new("demo@example.com", "emulator-pw").unwrap());
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    let sessions = op.decode_response(raw.response()).unwrap();
    let session = sessions
        .get(&KvmId::new("kvm_100001_200001").unwrap())
        .unwrap();
    let fresh = session
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let api = Endpoint::from_host(false, session.api_host()).unwrap();
    let input = reimage_core::EdisReinstall::new(
        reimage_core::EdisImage::new("debian-bullseye").unwrap(),
        reimage_core::RootPassword::new("pw").unwrap(),
    );
    let raw = emu
        .send(
            &reimage_wire::edis::Reinstall::new(fresh, input)
                .to_request(&api)
                .unwrap(),
        )
        .await;
    assert_eq!(raw.status, 200);
    emu.advance(300);
    let kvm = emu.admin_get("/_emulator/state").await["edis"]["kvms"][0].clone();
    assert_eq!(kvm["powered_on"], false);
    assert_eq!(kvm["last_install_failed"], true);
    assert_eq!(kvm["image"], "cloudinit_debian-bookworm");
    assert_eq!(kvm["reinstalls_applied"], 1);
}
