//! ECS and IAM over real HTTP: tokens, the gateway's authentication answers, every documented
//! refusal of reinstall and change of OS, the job lifecycle on a manual clock, batch stop and
//! start, and server details that `reimage-wire` reads completely.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::*;
use http::{Method, Request};
use reimage_auth::iam::{ProjectName, TokenScope};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, JobId, JobStatus, KeyPairName,
    Timestamp, UserId,
};
use reimage_emulator::{Config, Fixtures, Timings};
use reimage_wire::ecs::{
    BatchStart, BatchStop, ChangeOs, PowerState, ReinstallOs, ServerStatus, ShowJob, ShowServer,
    StopType,
};
use reimage_wire::{Operation, ResponseError};
use serde_json::json;

fn key_spec(user_data: &str) -> EcsOsSpec {
    EcsOsSpec::builder()
        .keyname(KeyPairName::new("KeyPair-350b").unwrap())
        .userid(UserId::new(USER_ID).unwrap())
        .user_data(user_data.into())
        .build()
        .unwrap()
}

/// A JSON request to ECS with a token.
fn ecs(
    emu: &Emu,
    method: Method,
    path: &str,
    body: &str,
    token: &reimage_auth::Token,
) -> Request<Bytes> {
    let mut request = plain(method, emu.addr, path, body);
    with_token(&mut request, token);
    request
}

fn reinstall_path(server: &str) -> String {
    format!("/v2/{PROJECT}/cloudservers/{server}/reinstallos")
}

fn changeos_path(server: &str) -> String {
    format!("/v2/{PROJECT}/cloudservers/{server}/changeos")
}

#[tokio::test]
async fn iam_password_gives_a_scoped_token() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    assert_eq!(token.expires_at().to_string(), "2025-01-02T00:00:00Z");
    assert_eq!(token.issued_at().unwrap().to_string(), T0);

    // The raw answer, as IAM documents it.
    let op = reimage_wire::iam::CreateToken::new(
        reimage_auth::iam::PasswordCredentials::new(
            "admin",
            "emulator",
            "Emulator-Passw0rd!".into(),
        )
        .unwrap(),
        TokenScope::ProjectName(ProjectName::new("eu-de").unwrap()),
    );
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    assert_eq!(raw.status, 201);
    assert!(raw.header("x-subject-token").unwrap().starts_with("MII"));
    assert!(raw.header("x-request-id").is_some());
    let body = raw.json();
    let t = &body["token"];
    assert_eq!(t["expires_at"], "2025-01-02T00:00:00.000000Z");
    assert_eq!(t["issued_at"], "2025-01-01T00:00:00.000000Z");
    assert_eq!(t["project"]["id"], PROJECT);
    assert_eq!(t["project"]["name"], "eu-de");
    assert_eq!(t["user"]["id"], USER_ID);
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["user"]["domain"]["name"], "emulator");
    assert!(
        !body
            .to_string()
            .contains(raw.header("x-subject-token").unwrap())
    );
}

#[tokio::test]
async fn iam_refusals() {
    let emu = Emu::start().await;
    let body = |user: &str, domain: &str, password: &str, project: &str| {
        json!({"auth":{"identity":{"methods":["password"],"password":{"user":{
            "name": user, "password": password, "domain": {"name": domain}}}},
            "scope":{"project":{"id": project}}}})
        .to_string()
    };
    let cases = [
        (body("admin", "emulator", "wrong", PROJECT), 401),
        (
            body("nobody", "emulator", "Emulator-Passw0rd!", PROJECT),
            401,
        ),
        (
            body("admin", "other-domain", "Emulator-Passw0rd!", PROJECT),
            401,
        ),
        (
            body("admin", "emulator", "Emulator-Passw0rd!", OTHER_PROJECT),
            401,
        ),
        ("{\"auth\":".to_owned(), 400),
        (
            r#"{"auth":{"identity":{"methods":["token"]}}}"#.to_owned(),
            400,
        ),
    ];
    for (text, status) in cases {
        let raw = emu
            .send(&plain(Method::POST, emu.addr, "/v3/auth/tokens", &text))
            .await;
        assert_eq!(raw.status, status, "{text}: {}", raw.text());
        let error = &raw.json()["error"];
        assert_eq!(error["code"], status, "{text}");
        assert!(error["title"].is_string() && error["message"].is_string());
        assert!(raw.header("x-subject-token").is_none());
    }
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/v3/auth/tokens",
            &body("admin", "emulator", "wrong", PROJECT),
        ))
        .await;
    assert_eq!(
        raw.json()["error"]["message"],
        "The username or password is wrong."
    );
    let raw = emu
        .send(&plain(Method::GET, emu.addr, "/v3/auth/tokens", ""))
        .await;
    assert_eq!(
        (raw.status, raw.json()["error"]["code"].as_u64()),
        (405, Some(405))
    );
    let raw = emu
        .send(&plain(Method::POST, emu.addr, "/v3/projects", "{}"))
        .await;
    assert_eq!(
        (raw.status, raw.json()["error"]["code"].as_u64()),
        (404, Some(404))
    );
    // Through the wire decoder: what IAM said.
    let op = reimage_wire::iam::CreateToken::new(
        reimage_auth::iam::PasswordCredentials::new("admin", "emulator", "nope".into()).unwrap(),
        TokenScope::ProjectId(project()),
    );
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    let err = op.decode_response(raw.response()).unwrap_err();
    let provider = err.provider_error().unwrap();
    assert_eq!(
        (provider.status, provider.code.as_deref()),
        (401, Some("401"))
    );
}

#[tokio::test]
async fn the_gateway_refuses_bad_credentials() {
    let emu = Emu::start().await;
    let show = ShowServer::new(project(), server(STOPPED));
    let good_token = emu.token().await;
    let path = format!("/v1/{PROJECT}/cloudservers/{STOPPED}");

    // (what, request, status, code, message part)
    let mut cases: Vec<(&str, Request<Bytes>, u16, &str, &str)> = Vec::new();
    cases.push((
        "no credentials",
        show.to_request(&emu.endpoint()).unwrap(),
        401,
        "APIGW.0301",
        "x-auth-token not found",
    ));
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    r.headers_mut()
        .insert("x-auth-token", "MIInot-a-token".parse().unwrap());
    cases.push(("unknown token", r, 401, "APIGW.0301", "decrypt token fail"));
    let r = ecs(
        &emu,
        Method::GET,
        &format!("/v1/{OTHER_PROJECT}/cloudservers/{STOPPED}"),
        "",
        &good_token,
    );
    cases.push((
        "token of another project",
        r,
        400,
        "Ecs.0023",
        "project_id in token",
    ));
    let r = ecs(
        &emu,
        Method::GET,
        &format!("/v1/{OTHER_PROJECT}/jobs/abc"),
        "",
        &good_token,
    );
    cases.push((
        "token of another project, job query",
        r,
        400,
        "Common.0018",
        "different",
    ));

    let mut r = show.to_request(&emu.endpoint()).unwrap();
    sign_with(&mut r, AK, "not-the-sk", emu.now());
    cases.push((
        "wrong signature",
        r,
        401,
        "APIGW.0301",
        "verify aksk signature fail",
    ));
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    sign_with(&mut r, "UNKNOWNAK", SK, emu.now());
    cases.push((
        "unknown AK",
        r,
        401,
        "APIGW.0301",
        "ak:UNKNOWNAK,err:ak not exist",
    ));
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    sign_with(&mut r, AK, SK, emu.now().plus_seconds(-16 * 60));
    cases.push((
        "X-Sdk-Date 16 min old",
        r,
        401,
        "APIGW.0301",
        "signature expired",
    ));
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    sign_with(&mut r, AK, SK, emu.now().plus_seconds(16 * 60));
    cases.push((
        "X-Sdk-Date 16 min ahead",
        r,
        401,
        "APIGW.0301",
        "signature expired",
    ));
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    emu.sign(&mut r);
    r.headers_mut()
        .insert("x-sdk-date", "2025-01-01".parse().unwrap());
    cases.push(("malformed date", r, 401, "APIGW.0301", "x-sdk-date"));
    let mut r = plain(
        Method::GET,
        emu.addr,
        &format!("/v1/{OTHER_PROJECT}/cloudservers/{STOPPED}"),
        "",
    );
    emu.sign(&mut r);
    cases.push((
        "AK/SK for another project",
        r,
        400,
        "Ecs.0023",
        "mismatches",
    ));
    let mut r = plain(Method::GET, emu.addr, &path, "");
    r.headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    let mut foreign = plain(
        Method::GET,
        emu.addr,
        &format!("/v1/{OTHER_PROJECT}/cloudservers/{STOPPED}"),
        "",
    );
    let creds = reimage_auth::AkSk::new(AK, secrecy::SecretString::from(SK)).unwrap();
    let other = reimage_core::ProjectId::new(OTHER_PROJECT).unwrap();
    reimage_auth::aksk::sign(&mut foreign, &creds, &other, emu.now()).unwrap();
    cases.push((
        "AK/SK for a project the user has no access to",
        foreign,
        401,
        "APIGW.0301",
        "no access",
    ));
    cases.push((
        "malformed Authorization",
        r,
        401,
        "APIGW.0301",
        "SDK-HMAC-SHA256",
    ));

    for (what, request, status, code, part) in cases {
        let raw = emu.send(&request).await;
        assert_eq!(raw.status, status, "{what}: {}", raw.text());
        assert_eq!(raw.code().as_deref(), Some(code), "{what}");
        assert!(raw.text().contains(part), "{what}: {}", raw.text());
        assert!(raw.header("x-request-id").is_some(), "{what}");
        if code.starts_with("APIGW") {
            let body = raw.json();
            assert_eq!(
                body["request_id"],
                raw.header("x-request-id").unwrap(),
                "{what}"
            );
            assert!(body["error_msg"].is_string(), "{what}");
        } else {
            assert!(raw.json()["error"]["message"].is_string(), "{what}");
        }
    }

    // Within the 15 minutes, AK/SK is accepted; so is the token.
    let mut r = show.to_request(&emu.endpoint()).unwrap();
    sign_with(&mut r, AK, SK, emu.now().plus_seconds(-14 * 60));
    let raw = emu.send(&r).await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert!(emu.call(&show, &good_token).await.is_ok());

    // An expired token.
    emu.advance(24 * 60 * 60);
    let raw = emu
        .send(&ecs(&emu, Method::GET, &path, "", &good_token))
        .await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (401, Some("APIGW.0307"))
    );
    assert_eq!(raw.json()["error_msg"], "The token must be updated.");
}

#[tokio::test]
async fn reinstall_and_change_os_refusals() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let big = STANDARD.encode(vec![b'x'; 32 * 1024 + 1]);
    let good_ud = STANDARD.encode("#cloud-config\n");
    // (what, path, body, status, code)
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        ("empty body", reinstall_path(STOPPED), String::new(), 400, "Common.0002"),
        ("not JSON", reinstall_path(STOPPED), "{\"os-reinstall\":".into(), 400, "Ecs.0005"),
        ("wrong shape", reinstall_path(STOPPED), r#"{"os-change":{}}"#.into(), 400, "Ecs.0005"),
        ("unknown server", reinstall_path(UNKNOWN_SERVER), r#"{"os-reinstall":{"adminpass":"Sup3r-secret"}}"#.into(), 404, "Ecs.0114"),
        ("unknown mode", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","mode":"now"}}"#.into(), 400, "Ecs.0005"),
        ("weak adminpass", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"password"}}"#.into(), 400, "Ecs.0011"),
        ("short adminpass", changeos_path(STOPPED), format!(r#"{{"os-change":{{"adminpass":"Aa1!","imageid":"{UBUNTU}"}}}}"#), 400, "Ecs.0011"),
        ("adminpass and keyname", reinstall_path(STOPPED), format!(r#"{{"os-reinstall":{{"adminpass":"Sup3r-secret","keyname":"KeyPair-350b","userid":"{USER_ID}"}}}}"#), 400, "Ecs.0005"),
        ("keyname without userid", reinstall_path(STOPPED), r#"{"os-reinstall":{"keyname":"KeyPair-350b"}}"#.into(), 400, "Ecs.0005"),
        ("unknown key pair", reinstall_path(STOPPED), format!(r#"{{"os-reinstall":{{"keyname":"KeyPair-nope","userid":"{USER_ID}"}}}}"#), 400, "Ecs.0314"),
        ("key pair of another user", reinstall_path(STOPPED), r#"{"os-reinstall":{"keyname":"KeyPair-350b","userid":"00000000000000000000000000000001"}}"#.into(), 400, "Ecs.0314"),
        ("user data not base64", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","metadata":{"user_data":"%%%"}}}"#.into(), 400, "Ecs.0005"),
        ("user data over 32 KB", reinstall_path(STOPPED), format!(r#"{{"os-reinstall":{{"adminpass":"Sup3r-secret","metadata":{{"user_data":"{big}"}}}}}}"#), 400, "Ecs.0005"),
        ("nothing to log in with", reinstall_path(STOPPED), r#"{"os-reinstall":{}}"#.into(), 400, "Ecs.0005"),
        ("nothing to log in with, change OS", changeos_path(STOPPED), format!(r#"{{"os-change":{{"imageid":"{UBUNTU}"}}}}"#), 400, "Ecs.0005"),
        ("BYOL not \"true\"", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","metadata":{"BYOL":"false"}}}"#.into(), 400, "Ecs.0005"),
        ("unknown field", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","password":"x"}}"#.into(), 400, "Ecs.0005"),
        ("unknown metadata field", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","metadata":{"userdata":"eA=="}}}"#.into(), 400, "Ecs.0005"),
        ("unknown top-level field", changeos_path(STOPPED), format!(r#"{{"os-change":{{"adminpass":"Sup3r-secret","imageid":"{UBUNTU}"}},"dry_run":true}}"#), 400, "Ecs.0005"),
        ("isAutoPay is for a change of OS only", reinstall_path(STOPPED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","isAutoPay":"true"}}"#.into(), 400, "Ecs.0005"),
        ("malformed imageid", changeos_path(STOPPED), r#"{"os-change":{"adminpass":"Sup3r-secret","imageid":"debian"}}"#.into(), 400, "Ecs.0005"),
        ("unknown image", changeos_path(STOPPED), r#"{"os-change":{"adminpass":"Sup3r-secret","imageid":"0a0a0a0a-0000-4000-8000-000000000000"}}"#.into(), 400, "Ecs.0031"),
        ("image not active", changeos_path(STOPPED), format!(r#"{{"os-change":{{"adminpass":"Sup3r-secret","imageid":"{QUEUED}"}}}}"#), 400, "Ecs.0032"),
        ("image without cloud-init", changeos_path(STOPPED), format!(r#"{{"os-change":{{"adminpass":"Sup3r-secret","imageid":"{NO_CLOUD_INIT}"}}}}"#), 400, "Ecs.0007"),
        ("locked server", reinstall_path(LOCKED), r#"{"os-reinstall":{"adminpass":"Sup3r-secret","mode":"withStopServer"}}"#.into(), 400, "Ecs.0605"),
        ("running server without withStopServer", reinstall_path(RUNNING), format!(r#"{{"os-reinstall":{{"adminpass":"Sup3r-secret","metadata":{{"user_data":"{good_ud}"}}}}}}"#), 400, "Ecs.0100"),
        ("change OS of a running server", changeos_path(RUNNING), format!(r#"{{"os-change":{{"adminpass":"Sup3r-secret","imageid":"{DEBIAN}"}}}}"#), 400, "Ecs.0100"),
        ("unknown route", format!("/v2/{PROJECT}/cloudservers/{STOPPED}/rebuild"), "{}".into(), 404, "APIGW.0101"),
    ];
    for (what, path, body, status, code) in cases {
        let raw = emu
            .send(&ecs(&emu, Method::POST, &path, &body, &token))
            .await;
        assert_eq!(raw.status, status, "{what}: {}", raw.text());
        assert_eq!(raw.code().as_deref(), Some(code), "{what}: {}", raw.text());
        assert!(raw.header("x-request-id").is_some(), "{what}");
    }
    // A wrong method, an unknown job.
    let raw = emu
        .send(&ecs(
            &emu,
            Method::GET,
            &reinstall_path(STOPPED),
            "",
            &token,
        ))
        .await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (404, Some("APIGW.0101"))
    );
    let raw = emu
        .send(&ecs(
            &emu,
            Method::GET,
            &format!("/v1/{PROJECT}/jobs/ff80808288d41e1b018990260955686a"),
            "",
            &token,
        ))
        .await;
    assert_eq!(
        (raw.status, raw.code().as_deref()),
        (400, Some("Common.0011"))
    );
    let raw = emu
        .send(&ecs(
            &emu,
            Method::GET,
            &format!("/v1/{PROJECT}/cloudservers/{UNKNOWN_SERVER}"),
            "",
            &token,
        ))
        .await;
    assert_eq!((raw.status, raw.code().as_deref()), (404, Some("Ecs.0114")));

    // Nothing was applied by any of them.
    let state = emu.admin_get("/_emulator/state").await;
    for s in state["ecs"]["servers"].as_array().unwrap() {
        assert_eq!(s["reinstalls_applied"], 0);
        assert_eq!(s["os_changes_applied"], 0);
    }

    // Busy: a second reinstall while the first runs.
    let op = ReinstallOs::new(
        project(),
        server(STOPPED),
        EcsReinstall::new(key_spec("#cloud-config\n")),
    );
    emu.call(&op, &token).await.unwrap();
    let err = emu.call(&op, &token).await.unwrap_err();
    let provider = err.provider_error().unwrap();
    assert_eq!(
        (provider.status, provider.code.as_deref()),
        (501, Some("Ecs.0603"))
    );
    let change = ChangeOs::new(
        project(),
        server(STOPPED),
        EcsChangeOs::new(ImageId::new(UBUNTU).unwrap(), key_spec("#cloud-config\n")),
    );
    let err = emu.call(&change, &token).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("Ecs.0603")
    );
    assert_eq!(emu.server_state(STOPPED).await["reinstalls_applied"], 1);
}

/// The ECS pages warn that another operation interrupts a rebuild. By default the emulator
/// answers it 501 `Ecs.0603` and lets the rebuild go on; set to, it also fails the rebuild at
/// once, leaving the server in ERROR.
#[tokio::test]
async fn an_operation_during_a_rebuild_can_be_set_to_fail_it() {
    for fail in [false, true] {
        let emu = Emu::with(Config::builder().interruptions_fail_rebuilds(fail)).await;
        let token = emu.token().await;
        let op = ReinstallOs::new(
            project(),
            server(STOPPED),
            EcsReinstall::new(key_spec("#cloud-config\n")),
        );
        let job_id = emu.call(&op, &token).await.unwrap();
        emu.advance(30);
        let err = emu.call(&op, &token).await.unwrap_err();
        assert_eq!(
            err.provider_error().and_then(|p| p.code.as_deref()),
            Some("Ecs.0603"),
            "{err}"
        );
        let job = emu
            .call(&ShowJob::new(project(), job_id), &token)
            .await
            .unwrap();
        let details = emu
            .call(&ShowServer::new(project(), server(STOPPED)), &token)
            .await
            .unwrap();
        if fail {
            assert_eq!(job.status, JobStatus::Fail);
            assert_eq!(job.error_code.as_deref(), Some("Ecs.0202"));
            assert_eq!(details.status, Some(ServerStatus::Error));
        } else {
            assert_eq!(job.status, JobStatus::Running);
            assert_eq!(details.status, Some(ServerStatus::Rebuild));
        }
    }
}

/// Every field the official SDK's models define for a change of OS is accepted (the emulator
/// refuses only what the API does not define).
#[tokio::test]
async fn every_field_the_sdk_defines_is_accepted() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let good_ud = STANDARD.encode("#cloud-config\n");
    // Every field the official SDK's models define is accepted.
    let sdk_fields = format!(
        r#"{{"os-change":{{"adminpass":"Sup3r-secret","imageid":"{UBUNTU}","isAutoPay":"true","metadata":{{"BYOL":"true","__system__encrypted":"0","user_data":"{good_ud}"}}}}}}"#
    );
    let raw = emu
        .send(&ecs(
            &emu,
            Method::POST,
            &changeos_path(STOPPED),
            &sdk_fields,
            &token,
        ))
        .await;
    assert_eq!(raw.status, 200, "{}", raw.text());
}

#[tokio::test]
async fn the_provider_is_more_lenient_than_reimage_unless_strict() {
    // The provider's own example: userid with adminpass. And changeos with keyname alone.
    let lenient = [
        (
            reinstall_path(STOPPED),
            format!(
                r#"{{"os-reinstall":{{"adminpass":"!QAZxsw2","userid":"{USER_ID}","mode":"withStopServer"}}}}"#
            ),
        ),
        (
            changeos_path(STOPPED_2),
            format!(r#"{{"os-change":{{"keyname":"KeyPair-350b","imageid":"{UBUNTU}"}}}}"#),
        ),
    ];
    let emu = Emu::start().await;
    let token = emu.token().await;
    for (path, body) in &lenient {
        let raw = emu.send(&ecs(&emu, Method::POST, path, body, &token)).await;
        assert_eq!(raw.status, 200, "{body}: {}", raw.text());
        assert!(raw.json()["job_id"].is_string());
    }
    let strict = Emu::with(Config::builder().strict_inputs(true)).await;
    let token = strict.token().await;
    for (path, body) in &lenient {
        let raw = strict
            .send(&ecs(&strict, Method::POST, path, body, &token))
            .await;
        assert_eq!(
            (raw.status, raw.code().as_deref()),
            (400, Some("Ecs.0005")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn reinstalling_a_server_whose_image_has_no_cloud_init() {
    let text = Fixtures::default_toml().replace(
        "name = \"emulator-debian-2\"\nimage = \"e215580f-73ad-429d-b6f2-5433947433b0\"",
        "name = \"emulator-debian-2\"\nimage = \"1a2b3c4d-0000-4000-8000-000000000002\"",
    );
    let emu = Emu::with(Config::builder().fixtures(Fixtures::from_toml_str(&text).unwrap())).await;
    let token = emu.token().await;
    let op = ReinstallOs::new(
        project(),
        server(STOPPED_2),
        EcsReinstall::new(key_spec("#cloud-config\n")),
    );
    let err = emu.call(&op, &token).await.unwrap_err();
    let provider = err.provider_error().unwrap();
    assert_eq!(
        (provider.status, provider.code.as_deref()),
        (400, Some("Ecs.0007"))
    );
}

#[tokio::test]
async fn a_reinstall_job_runs_its_course() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let show = ShowServer::new(project(), server(STOPPED));
    let before = emu.call(&show, &token).await.unwrap();
    assert!(before.unreadable.is_empty(), "{:?}", before.unreadable);
    assert_eq!(before.status, Some(ServerStatus::Shutoff));
    assert_eq!(before.power_state, Some(PowerState::Shutdown));
    assert_eq!(before.name.as_deref(), Some("emulator-debian-1"));
    assert!(!before.addresses.is_empty());

    let user_data = "#cloud-config\nruncmd:\n  - echo hello\n";
    let op = ReinstallOs::new(
        project(),
        server(STOPPED),
        EcsReinstall::new(key_spec(user_data)),
    );
    let job_id: JobId = emu.call(&op, &token).await.unwrap();
    let query = ShowJob::new(project(), job_id.clone());

    let job = emu.call(&query, &token).await.unwrap();
    assert_eq!(job.status, JobStatus::Init);
    assert_eq!(job.job_type.as_deref(), Some("reinstallOS"));
    assert_eq!(job.begin_time.unwrap().to_string(), T0);
    assert_eq!(job.end_time, None);
    assert_eq!(job.server_id.as_deref(), Some(STOPPED));
    let during = emu.call(&show, &token).await.unwrap();
    assert_eq!(during.status, Some(ServerStatus::Rebuild));
    // A stopped server goes straight to REBUILD; its disks are prepared first.
    assert_eq!(
        during.task_state.as_deref(),
        Some("rebuild_block_device_mapping")
    );
    assert!(during.is_rebuilding());
    assert!(during.unreadable.is_empty(), "{:?}", during.unreadable);

    emu.advance(45);
    let job = emu.call(&query, &token).await.unwrap();
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.sub_jobs.len(), 1);
    assert_eq!(job.sub_jobs[0].status, JobStatus::Running);
    assert_eq!(job.progress(), (0, 1));
    let during = emu.call(&show, &token).await.unwrap();
    assert_eq!(during.status, Some(ServerStatus::Rebuild));
    assert_eq!(during.task_state.as_deref(), Some("rebuilding"));
    assert_eq!(during.progress, Some(50));

    emu.advance(30);
    let during = emu.call(&show, &token).await.unwrap();
    assert_eq!(during.task_state.as_deref(), Some("rebuild_spawning"));
    assert!(during.is_rebuilding());

    emu.advance(15);
    let job = emu.call(&query, &token).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert_eq!(job.end_time.unwrap().to_string(), "2025-01-01T00:01:30Z");
    assert_eq!(job.error_code, None);
    assert_eq!(job.progress(), (1, 1));
    let after = emu.call(&show, &token).await.unwrap();
    assert!(after.unreadable.is_empty(), "{:?}", after.unreadable);
    assert_eq!(after.status, Some(ServerStatus::Active));
    assert_eq!(after.power_state, Some(PowerState::Running));
    assert_eq!(after.task_state, None);
    assert_eq!(after.image_id.as_ref().map(ImageId::as_str), Some(DEBIAN));
    assert_eq!(
        after.user_data.as_ref().map(|u| u.as_bytes()),
        Some(user_data.as_bytes())
    );
    assert_eq!(after.key_name.as_deref(), Some("KeyPair-350b"));
    assert_eq!(
        after.launched_at.unwrap().to_string(),
        "2025-01-01T00:01:30Z"
    );
    assert!(after.updated.unwrap() > before.updated.unwrap());
    assert_eq!(after.created, before.created);

    let state = emu.server_state(STOPPED).await;
    assert_eq!(state["reinstalls_applied"], 1);
    assert_eq!(state["os_changes_applied"], 0);
    assert_eq!(state["user_data_bytes"], user_data.len());
}

#[tokio::test]
async fn a_change_of_os_with_stop_server_on_a_running_server() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Sup3r-secret").unwrap())
        .stop_server(true)
        .build()
        .unwrap();
    let op = ChangeOs::new(
        project(),
        server(RUNNING),
        EcsChangeOs::new(ImageId::new(DEBIAN).unwrap(), spec),
    );
    let job_id = emu.call(&op, &token).await.unwrap();
    let query = ShowJob::new(project(), job_id);
    // ACTIVE → powering-off → SHUTOFF → REBUILD (its three task states) over the job's 150 s,
    // as the ECS statuses page maps them.
    let show = ShowServer::new(project(), server(RUNNING));
    let mut seen = Vec::new();
    for (at, step) in [(0, 0), (20, 20), (30, 10), (120, 90), (149, 29)] {
        emu.advance(step);
        let now = emu.call(&show, &token).await.unwrap();
        seen.push((
            at,
            now.status.map(|s| s.as_str().to_owned()),
            now.task_state,
            now.vm_state,
        ));
    }
    let want = |at, status: &str, task: Option<&str>, vm: &str| {
        (
            at,
            Some(status.to_owned()),
            task.map(str::to_owned),
            Some(vm.to_owned()),
        )
    };
    assert_eq!(
        seen,
        vec![
            want(0, "ACTIVE", Some("powering-off"), "active"),
            want(20, "SHUTOFF", None, "stopped"),
            want(
                30,
                "REBUILD",
                Some("rebuild_block_device_mapping"),
                "stopped"
            ),
            want(120, "REBUILD", Some("rebuilding"), "stopped"),
            want(149, "REBUILD", Some("rebuild_spawning"), "stopped"),
        ]
    );
    assert_eq!(
        emu.call(&query, &token).await.unwrap().status,
        JobStatus::Running
    );
    emu.advance(1);
    let job = emu.call(&query, &token).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert_eq!(job.job_type.as_deref(), Some("changeOS"));
    let details = emu
        .call(&ShowServer::new(project(), server(RUNNING)), &token)
        .await
        .unwrap();
    assert_eq!(details.status, Some(ServerStatus::Active));
    assert_eq!(details.image_id.as_ref().map(ImageId::as_str), Some(DEBIAN));
    assert_eq!(
        details.metadata.get("image_name").map(String::as_str),
        Some("Debian 12")
    );
    assert_eq!(details.user_data, None);
    assert_eq!(details.key_name, None);
    assert!(details.unreadable.is_empty());
    let state = emu.server_state(RUNNING).await;
    assert_eq!(
        (
            state["reinstalls_applied"].as_u64(),
            state["os_changes_applied"].as_u64()
        ),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn batch_stop_and_start_are_jobs() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let stop = BatchStop::new(project(), vec![server(RUNNING)], StopType::Soft);
    let job_id = emu.call(&stop, &token).await.unwrap();
    let show = ShowServer::new(project(), server(RUNNING));
    let during = emu.call(&show, &token).await.unwrap();
    assert_eq!(during.status, Some(ServerStatus::Active));
    assert_eq!(during.task_state.as_deref(), Some("powering-off"));
    // Busy while it stops.
    let err = emu.call(&stop, &token).await.unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("Ecs.0603")
    );
    emu.advance(10);
    let job = emu
        .call(&ShowJob::new(project(), job_id), &token)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert_eq!(job.sub_jobs[0].job_type.as_deref(), Some("stopServer"));
    assert_eq!(
        emu.call(&show, &token).await.unwrap().status,
        Some(ServerStatus::Shutoff)
    );

    let start = BatchStart::new(project(), vec![server(RUNNING), server(STOPPED_2)]);
    let job_id = emu.call(&start, &token).await.unwrap();
    emu.advance(15);
    let job = emu
        .call(&ShowJob::new(project(), job_id), &token)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert_eq!(job.sub_jobs_total, Some(2));
    assert_eq!(job.progress(), (2, 2));
    for id in [RUNNING, STOPPED_2] {
        let details = emu
            .call(&ShowServer::new(project(), server(id)), &token)
            .await
            .unwrap();
        assert_eq!(details.status, Some(ServerStatus::Active), "{id}");
        let state = emu.server_state(id).await;
        assert_eq!(state["starts_applied"], 1);
    }
    assert_eq!(emu.server_state(RUNNING).await["stops_applied"], 1);

    // Refusals.
    let action = format!("/v1/{PROJECT}/cloudservers/action");
    let many: Vec<_> = (0..1001).map(|_| json!({"id": STOPPED})).collect();
    let cases = [
        (
            json!({"os-stop":{"servers":[]}}).to_string(),
            400,
            "Ecs.0005",
        ),
        (
            json!({"os-reboot":{"servers":[{"id": STOPPED}]}}).to_string(),
            400,
            "Ecs.0005",
        ),
        (
            json!({"os-stop":{"servers":[{"id": "x"}]}}).to_string(),
            400,
            "Ecs.0005",
        ),
        (
            json!({"os-start":{"servers": many}}).to_string(),
            400,
            "Ecs.0118",
        ),
        (
            json!({"os-stop":{"servers":[{"id": UNKNOWN_SERVER}]}}).to_string(),
            404,
            "Ecs.0614",
        ),
        (
            json!({"os-start":{"servers":[{"id": LOCKED}]}}).to_string(),
            400,
            "Ecs.0605",
        ),
        (String::new(), 400, "Common.0002"),
    ];
    for (body, status, code) in cases {
        let raw = emu
            .send(&ecs(&emu, Method::POST, &action, &body, &token))
            .await;
        assert_eq!(
            (raw.status, raw.code().as_deref()),
            (status, Some(code)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_time_scale_speeds_jobs_up_on_the_system_clock() {
    let mut timings = Timings::default();
    timings.ecs_reinstall = Duration::from_secs(90);
    let config = Config::builder()
        .time_scale(0.001)
        .timings(timings)
        .build()
        .unwrap();
    let running = reimage_emulator::start(config).await.unwrap();
    let endpoint = reimage_wire::Endpoint::parse(&running.base_url()).unwrap();
    let addr = running.local_addr();
    let call = |request: Request<Bytes>| async move {
        match send(addr, &request).await {
            Sent::Answer(raw) => raw.response(),
            other => panic!("{other:?}"),
        }
    };
    let op = ReinstallOs::new(
        project(),
        server(STOPPED),
        EcsReinstall::new(key_spec("#cloud-config\n")),
    );
    let mut request = op.to_request(&endpoint).unwrap();
    sign_with(
        &mut request,
        AK,
        SK,
        Timestamp::from(std::time::SystemTime::now()),
    );
    let job_id = op.decode_response(call(request).await).unwrap();
    let query = ShowJob::new(project(), job_id);
    let mut status = JobStatus::Init;
    for _ in 0..3000 {
        let mut request = query.to_request(&endpoint).unwrap();
        sign_with(
            &mut request,
            AK,
            SK,
            Timestamp::from(std::time::SystemTime::now()),
        );
        status = query.decode_response(call(request).await).unwrap().status;
        if status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, JobStatus::Success);
    running.shutdown().await;
}

#[tokio::test]
async fn answers_decode_with_the_wire_decoders() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let op = ReinstallOs::new(
        project(),
        server(UNKNOWN_SERVER),
        EcsReinstall::new(key_spec("#cloud-config\n")),
    );
    match emu.call(&op, &token).await {
        Err(ResponseError::Provider(e)) => {
            assert_eq!(e.status, 404);
            assert_eq!(e.code.as_deref(), Some("Ecs.0114"));
            assert!(e.request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
}
