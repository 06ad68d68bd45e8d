//! The ECS and IAM operations against the provider's documentation: golden requests
//! (`tests/golden/ecs/`), every documented example answer and request (`tests/specs/ecs/`, copied
//! byte for byte from the spec pages), error bodies, the user data limit, and properties (bodies
//! round-trip through the same definitions; no answer makes a decoder panic).
//!
//! Refresh the golden files with `UPDATE_EXPECT=1 cargo test -p reimage-wire --test ecs`, then
//! review them like code.

// Helpers outside `#[test]` functions (and `common`) panic on a broken fixture; that is what a
// test should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use expect_test::expect_file;
use proptest::prelude::*;
use reimage_auth::iam::{PasswordCredentials, ProjectName, TokenScope};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, Job, JobId, JobStatus,
    KeyPairName, Login, ProjectId, ServerId, SubJob, Timestamp, UserData, UserId,
};
use reimage_wire::ecs::{
    ActionBody, BatchStart, BatchStartBody, BatchStop, BatchStopBody, ChangeOs, ChangeOsBody,
    EcsRoute, PowerState, ReinstallBody, ReinstallOs, ServerAddress, ServerDetails, ServerStatus,
    ShowJob, ShowServer, StopType, USER_DATA_LIMIT,
};
use reimage_wire::iam::CreateToken;
use reimage_wire::{
    AuthScheme, DecodeError, EncodeError, Endpoint, Operation, Provider, ProviderError,
    ResponseError,
};
use secrecy::ExposeSecret;
use serde_json::Value;

use common::{read_test_file, render_request, response};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SERVER: &str = "616fb98f-46ca-475e-917e-2563e5a8cd19";
const SERVER_2: &str = "726fb98f-46ca-475e-917e-2563e5a8cd20";
const IMAGE: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
const USER: &str = "7e25b1da389f4697a79df3a0e5bd494e";
const KEY: &str = "KeyPair-350b";
/// The password of seed 003's first example.
const PASSWORD: &str = "!QAZxsw2";
const JOB: &str = "ff80808288d41e1b018990260955686a";

/// The spec's user data examples (the `user_data` rows of the reinstallos and changeos pages):
/// before and after base64.
const LINUX_USER_DATA: &str = "#!/bin/bash\necho user_test > /home/user.txt";
const LINUX_USER_DATA_B64: &str = "IyEvYmluL2Jhc2gKZWNobyB1c2VyX3Rlc3QgPiAvaG9tZS91c2VyLnR4dA==";
const WINDOWS_USER_DATA: &str = "rem cmd\necho 111 > c:\\aaa.txt";
const WINDOWS_USER_DATA_B64: &str = "cmVtIGNtZAplY2hvIDExMSA+IGM6XGFhYS50eHQ=";

fn project() -> ProjectId {
    ProjectId::new(PROJECT).unwrap()
}
fn server() -> ServerId {
    ServerId::new(SERVER).unwrap()
}
fn server_2() -> ServerId {
    ServerId::new(SERVER_2).unwrap()
}
fn image() -> ImageId {
    ImageId::new(IMAGE).unwrap()
}
fn job() -> JobId {
    JobId::new(JOB).unwrap()
}
fn endpoint() -> Endpoint {
    Endpoint::parse("https://ecs.eu-de.otc.t-systems.com").unwrap()
}
fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn password_spec() -> EcsOsSpec {
    EcsOsSpec::builder()
        .adminpass(AdminPassword::new(PASSWORD).unwrap())
        .stop_server(true)
        .build()
        .unwrap()
}
fn key_pair_spec() -> EcsOsSpec {
    EcsOsSpec::builder()
        .keyname(KeyPairName::new(KEY).unwrap())
        .userid(UserId::new(USER).unwrap())
        .build()
        .unwrap()
}
fn user_data_spec(user_data: &str) -> EcsOsSpec {
    EcsOsSpec::builder()
        .user_data(user_data.into())
        .stop_server(true)
        .byol(true)
        .build()
        .unwrap()
}
fn user_data_of(len: usize) -> UserData {
    UserData::from(vec![b'#'; len])
}

fn reinstall(spec: EcsOsSpec) -> ReinstallOs {
    ReinstallOs::new(project(), server(), EcsReinstall::new(spec))
}
fn change_os(spec: EcsOsSpec) -> ChangeOs {
    ChangeOs::new(project(), server(), EcsChangeOs::new(image(), spec))
}
fn iam_credentials() -> PasswordCredentials {
    PasswordCredentials::new("alice", "example-domain", "Sentinel-Pw-42".into()).unwrap()
}
fn create_token(scope: TokenScope) -> CreateToken {
    CreateToken::new(iam_credentials(), scope)
}

/// Compares `request` with `tests/golden/ecs/{name}.txt`.
fn golden(name: &str, request: &http::Request<Bytes>) {
    expect_file![format!("../../../tests/golden/ecs/{name}.txt")]
        .assert_eq(&render_request(request));
}

/// An answer with the given headers and body.
fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> http::Response<Bytes> {
    let mut b = http::Response::builder().status(status);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(body.into()).unwrap()
}

fn spec_file(name: &str) -> Bytes {
    Bytes::from(read_test_file(&format!("specs/ecs/{name}")))
}

/// A request example from the spec: the `METHOD URL` line, and the JSON body after a blank line.
fn spec_request(name: &str) -> (String, String, Option<Value>) {
    let text = String::from_utf8(read_test_file(&format!("specs/ecs/{name}"))).unwrap();
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (method, url) = first.split_once(' ').unwrap();
    let body = (!rest.trim().is_empty()).then(|| serde_json::from_str(rest).unwrap());
    (method.to_owned(), url.to_owned(), body)
}

/// Our request's path with the ids replaced by the spec's `{placeholders}`.
fn templated(request: &http::Request<Bytes>) -> String {
    format!("https://{{endpoint}}{}", request.uri().path())
        .replace(PROJECT, "{project_id}")
        .replace(SERVER, "{server_id}")
        .replace(JOB, "{job_id}")
}

fn body_json(request: &http::Request<Bytes>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

fn provider_error(result: Result<impl std::fmt::Debug, ResponseError>) -> ProviderError {
    match result {
        Err(ResponseError::Provider(e)) => e,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

fn decode_error(result: Result<impl std::fmt::Debug, ResponseError>) -> DecodeError {
    match result {
        Err(ResponseError::Decode(e)) => e,
        other => panic!("expected a decode error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Golden requests.
// ---------------------------------------------------------------------------------------------

#[test]
fn golden_reinstallos() {
    let e = endpoint();
    golden(
        "reinstallos.password",
        &reinstall(password_spec()).to_request(&e).unwrap(),
    );
    golden(
        "reinstallos.key_pair",
        &reinstall(key_pair_spec()).to_request(&e).unwrap(),
    );
    let request = reinstall(user_data_spec(LINUX_USER_DATA))
        .to_request(&e)
        .unwrap();
    golden("reinstallos.user_data", &request);
    assert_eq!(
        body_json(&request)["os-reinstall"]["metadata"]["user_data"],
        LINUX_USER_DATA_B64
    );
}

#[test]
fn golden_changeos() {
    let e = endpoint();
    golden(
        "changeos.password",
        &change_os(password_spec()).to_request(&e).unwrap(),
    );
    golden(
        "changeos.key_pair",
        &change_os(key_pair_spec()).to_request(&e).unwrap(),
    );
    let request = change_os(user_data_spec(WINDOWS_USER_DATA))
        .to_request(&e)
        .unwrap();
    golden("changeos.user_data", &request);
    assert_eq!(
        body_json(&request)["os-change"]["metadata"]["user_data"],
        WINDOWS_USER_DATA_B64
    );
}

/// The reinstall for images without cloud-init: `/v1/`, the same `os-reinstall` object with a
/// key pair or a password, and never user data.
#[test]
fn golden_reinstallos_without_cloud_init() {
    use reimage_wire::ecs::ReinstallOsWithoutCloudInit;
    let e = endpoint();
    let op = |spec| ReinstallOsWithoutCloudInit::new(project(), server(), EcsReinstall::new(spec));
    let request = op(key_pair_spec()).to_request(&e).unwrap();
    golden("reinstallos_without_cloud_init.key_pair", &request);
    assert_eq!(
        body_json(&request),
        serde_json::json!({"os-reinstall": {"keyname": KEY, "userid": USER}})
    );
    let with_password = op(password_spec());
    let shown = with_password.to_redacted_request(&e).unwrap();
    assert_eq!(body_json(&shown)["os-reinstall"]["adminpass"], "[REDACTED]");
    assert!(!String::from_utf8_lossy(shown.body()).contains(PASSWORD));
    let refused = op(user_data_spec(LINUX_USER_DATA))
        .to_request(&e)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("user_data: cannot go with a reinstall for an image without cloud-init"),
        "{refused}"
    );
}

/// The change of OS to an image without cloud-init: `/v1/`, the spec's example body byte for
/// byte, and never user data.
#[test]
fn golden_changeos_without_cloud_init() {
    use reimage_wire::ecs::ChangeOsWithoutCloudInit;
    let e = endpoint();
    let op =
        |spec| ChangeOsWithoutCloudInit::new(project(), server(), EcsChangeOs::new(image(), spec));
    let with_stop = EcsOsSpec::builder()
        .keyname(KeyPairName::new(KEY).unwrap())
        .userid(UserId::new(USER).unwrap())
        .stop_server(true)
        .build()
        .unwrap();
    let request = op(with_stop).to_request(&e).unwrap();
    golden("changeos_without_cloud_init.key_pair", &request);
    assert_eq!(
        body_json(&request),
        serde_json::json!({"os-change": {
            "keyname": KEY, "userid": USER, "imageid": IMAGE, "mode": "withStopServer"
        }})
    );
    let shown = op(password_spec()).to_redacted_request(&e).unwrap();
    assert_eq!(body_json(&shown)["os-change"]["adminpass"], "[REDACTED]");
    let refused = op(user_data_spec(LINUX_USER_DATA))
        .to_request(&e)
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("user_data: cannot go with a change of OS to an image without cloud-init"),
        "{refused}"
    );
}

#[test]
fn golden_queries() {
    let e = endpoint();
    golden(
        "show_job",
        &ShowJob::new(project(), job()).to_request(&e).unwrap(),
    );
    golden(
        "show_server",
        &ShowServer::new(project(), server()).to_request(&e).unwrap(),
    );
}

#[test]
fn golden_batch_actions() {
    let e = endpoint();
    let servers = vec![server(), server_2()];
    let soft = BatchStop::new(project(), servers.clone(), StopType::Soft);
    golden("batch_stop.soft", &soft.to_request(&e).unwrap());
    let hard = BatchStop::new(project(), servers.clone(), StopType::Hard);
    golden("batch_stop.hard", &hard.to_request(&e).unwrap());
    golden(
        "batch_start",
        &BatchStart::new(project(), servers).to_request(&e).unwrap(),
    );
}

/// The redacted encodings: only the secret fields differ from the real request, and no secret
/// is left in them; operations without a secret give the real request.
#[test]
fn golden_redacted_requests() {
    let e = endpoint();
    let same_but_secrets = |real: &http::Request<Bytes>, shown: &http::Request<Bytes>| {
        assert_eq!(real.method(), shown.method());
        assert_eq!(real.uri(), shown.uri());
        assert_eq!(real.headers(), shown.headers());
        let text = String::from_utf8_lossy(shown.body());
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains("Sentinel-Pw-42"), "{text}");
    };
    let op = reinstall(password_spec());
    let shown = op.to_redacted_request(&e).unwrap();
    same_but_secrets(&op.to_request(&e).unwrap(), &shown);
    assert_eq!(body_json(&shown)["os-reinstall"]["adminpass"], "[REDACTED]");
    golden("reinstallos.password.redacted", &shown);
    let op = change_os(password_spec());
    let shown = op.to_redacted_request(&e).unwrap();
    same_but_secrets(&op.to_request(&e).unwrap(), &shown);
    assert_eq!(body_json(&shown)["os-change"]["adminpass"], "[REDACTED]");
    golden("changeos.password.redacted", &shown);
    // A key pair has no secret: the redacted request is the request.
    let op = reinstall(key_pair_spec());
    assert_eq!(
        op.to_redacted_request(&e).unwrap().body(),
        op.to_request(&e).unwrap().body()
    );
    let iam = Endpoint::parse("https://iam.eu-de.otc.t-systems.com").unwrap();
    let op = create_token(TokenScope::ProjectId(project()));
    let shown = op.to_redacted_request(&iam).unwrap();
    same_but_secrets(&op.to_request(&iam).unwrap(), &shown);
    golden("iam_create_token.redacted", &shown);
    for op_shown in [
        ShowJob::new(project(), job())
            .to_redacted_request(&e)
            .unwrap(),
        ShowServer::new(project(), server())
            .to_redacted_request(&e)
            .unwrap(),
    ] {
        assert!(op_shown.body().is_empty());
    }
}

#[test]
fn golden_iam_create_token() {
    let e = Endpoint::parse("https://iam.eu-de.otc.t-systems.com").unwrap();
    let by_id = create_token(TokenScope::ProjectId(project()));
    golden(
        "iam_create_token.project_id",
        &by_id.to_request(&e).unwrap(),
    );
    let by_name = create_token(TokenScope::ProjectName(ProjectName::new("eu-de").unwrap()));
    golden(
        "iam_create_token.project_name",
        &by_name.to_request(&e).unwrap(),
    );
}

#[test]
fn operation_constants() {
    assert_eq!(
        (
            ReinstallOs::NAME,
            ReinstallOs::AUTH,
            ReinstallOs::IDEMPOTENT
        ),
        ("ecs.reinstallos", AuthScheme::EcsProject, false)
    );
    assert_eq!(
        (ChangeOs::NAME, ChangeOs::AUTH, ChangeOs::IDEMPOTENT),
        ("ecs.changeos", AuthScheme::EcsProject, false)
    );
    {
        use reimage_wire::ecs::ReinstallOsWithoutCloudInit as V1;
        assert_eq!(
            (V1::NAME, V1::AUTH, V1::IDEMPOTENT),
            (
                "ecs.reinstallos_without_cloud_init",
                AuthScheme::EcsProject,
                false
            )
        );
    }
    assert_eq!(
        (ShowJob::NAME, ShowJob::AUTH, ShowJob::IDEMPOTENT),
        ("ecs.show_job", AuthScheme::EcsProject, true)
    );
    assert_eq!(
        (ShowServer::NAME, ShowServer::AUTH, ShowServer::IDEMPOTENT),
        ("ecs.show_server", AuthScheme::EcsProject, true)
    );
    assert_eq!(
        (BatchStop::NAME, BatchStop::AUTH, BatchStop::IDEMPOTENT),
        ("ecs.batch_stop", AuthScheme::EcsProject, false)
    );
    assert_eq!(
        (BatchStart::NAME, BatchStart::AUTH, BatchStart::IDEMPOTENT),
        ("ecs.batch_start", AuthScheme::EcsProject, false)
    );
    assert_eq!(
        (
            CreateToken::NAME,
            CreateToken::AUTH,
            CreateToken::IDEMPOTENT
        ),
        ("iam.create_token", AuthScheme::Credentials, true)
    );
}

// ---------------------------------------------------------------------------------------------
// The spec's request examples: our paths match, our bodies equal them, and the same definitions
// decode them.
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_reinstallos_requests() {
    let ours = reinstall(key_pair_spec()).to_request(&endpoint()).unwrap();
    for n in 1..=3 {
        let (method, url, body) = spec_request(&format!("reinstallos.request.{n}.txt"));
        assert_eq!(
            (method.as_str(), url),
            (ours.method().as_str(), templated(&ours)),
            "{n}"
        );
        let body: ReinstallBody = serde_json::from_value(body.unwrap()).unwrap();
        let o = &body.os_reinstall;
        assert_eq!(o.userid.as_deref(), Some(USER));
        match n {
            // userid with neither adminpass nor keyname: reimage refuses what this example sends.
            1 => {
                assert_eq!(o.mode.as_deref(), Some("withStopServer"));
                assert_eq!(body.to_input().unwrap_err().field(), "userid");
            }
            2 => {
                assert_eq!(o.keyname.as_deref(), Some(KEY));
                assert!(body.to_input().is_ok());
            }
            _ => {
                let metadata = o.metadata.as_ref().unwrap();
                assert_eq!(metadata.system_encrypted.as_deref(), Some("1"));
                assert_eq!(
                    metadata.system_cmkid.as_deref(),
                    Some("83cdb52d-9ebf-4469-9cfa-e7b5b80da846")
                );
                assert_eq!(body.to_input().unwrap_err().field(), "userid");
            }
        }
    }
    // Example 2 is exactly what reimage sends for a key pair login.
    let (_, _, spec_body) = spec_request("reinstallos.request.2.txt");
    assert_eq!(body_json(&ours), spec_body.unwrap());
}

#[test]
fn spec_changeos_requests() {
    let ours = change_os(key_pair_spec()).to_request(&endpoint()).unwrap();
    for n in 1..=3 {
        let (method, url, body) = spec_request(&format!("changeos.request.{n}.txt"));
        assert_eq!(
            (method.as_str(), url),
            (ours.method().as_str(), templated(&ours)),
            "{n}"
        );
        let body: ChangeOsBody = serde_json::from_value(body.unwrap()).unwrap();
        assert_eq!(body.os_change.imageid, IMAGE);
        assert_eq!(body.os_change.userid.as_deref(), Some(USER));
        if n == 2 {
            let input = body.to_input().unwrap();
            assert_eq!(input.image_id(), &image());
        } else {
            assert_eq!(body.to_input().unwrap_err().field(), "userid");
        }
        if n == 3 {
            let metadata = body.os_change.metadata.as_ref().unwrap();
            assert_eq!(metadata.system_encrypted.as_deref(), Some("1"));
        }
    }
    let (_, _, spec_body) = spec_request("changeos.request.2.txt");
    assert_eq!(body_json(&ours), spec_body.unwrap());
}

#[test]
fn spec_batch_requests() {
    let servers = vec![server(), server_2()];
    let stop = BatchStop::new(project(), servers.clone(), StopType::Hard)
        .to_request(&endpoint())
        .unwrap();
    let (method, url, body) = spec_request("batch_stop.request.txt");
    assert_eq!(
        (method.as_str(), url),
        (stop.method().as_str(), templated(&stop))
    );
    let body = body.unwrap();
    assert_eq!(body_json(&stop), body);
    let decoded: BatchStopBody = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(decoded.os_stop.stop_type, Some(StopType::Hard));
    assert!(matches!(
        serde_json::from_value(body).unwrap(),
        ActionBody::Stop(_)
    ));

    let start = BatchStart::new(project(), servers)
        .to_request(&endpoint())
        .unwrap();
    let (method, url, body) = spec_request("batch_start.request.txt");
    assert_eq!(
        (method.as_str(), url),
        (start.method().as_str(), templated(&start))
    );
    let body = body.unwrap();
    assert_eq!(body_json(&start), body);
    let decoded: BatchStartBody = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(decoded.os_start.servers.len(), 2);
    assert!(matches!(
        serde_json::from_value(body).unwrap(),
        ActionBody::Start(_)
    ));

    // `type` is optional: ECS stops softly without it.
    let no_type: BatchStopBody =
        serde_json::from_str(r#"{"os-stop":{"servers":[{"id":"x"}]}}"#).unwrap();
    assert_eq!(no_type.os_stop.stop_type, None);
    assert_eq!(StopType::default(), StopType::Soft);
}

#[test]
fn spec_query_requests() {
    let show_job = ShowJob::new(project(), job())
        .to_request(&endpoint())
        .unwrap();
    let (method, url, body) = spec_request("show_job.request.txt");
    assert_eq!(
        (method.as_str(), url),
        (show_job.method().as_str(), templated(&show_job))
    );
    assert!(body.is_none() && show_job.body().is_empty());
    let show_server = ShowServer::new(project(), server())
        .to_request(&endpoint())
        .unwrap();
    let (method, url, body) = spec_request("show_server.request.txt");
    assert_eq!(
        (method.as_str(), url),
        (show_server.method().as_str(), templated(&show_server))
    );
    assert!(body.is_none() && show_server.body().is_empty());
}

#[test]
fn routes_read_back_every_request() {
    let e = endpoint();
    let requests = [
        reinstall(password_spec()).to_request(&e).unwrap(),
        change_os(password_spec()).to_request(&e).unwrap(),
        ShowJob::new(project(), job()).to_request(&e).unwrap(),
        ShowServer::new(project(), server()).to_request(&e).unwrap(),
        BatchStop::new(project(), vec![server()], StopType::Soft)
            .to_request(&e)
            .unwrap(),
        BatchStart::new(project(), vec![server()])
            .to_request(&e)
            .unwrap(),
    ];
    let expected = [
        EcsRoute::ReinstallOs {
            project_id: project(),
            server_id: server(),
        },
        EcsRoute::ChangeOs {
            project_id: project(),
            server_id: server(),
        },
        EcsRoute::ShowJob {
            project_id: project(),
            job_id: job(),
        },
        EcsRoute::ShowServer {
            project_id: project(),
            server_id: server(),
        },
        EcsRoute::ServerAction {
            project_id: project(),
        },
        EcsRoute::ServerAction {
            project_id: project(),
        },
    ];
    for (request, want) in requests.iter().zip(expected) {
        let route = EcsRoute::parse(request.uri().path()).unwrap();
        assert_eq!(route.method(), request.method());
        assert_eq!(route.project_id(), &project());
        assert_eq!(route, want);
    }
    let with_query = format!("/v1/{PROJECT}/jobs/{JOB}/?x=1");
    assert!(matches!(
        EcsRoute::parse(&with_query),
        Some(EcsRoute::ShowJob { .. })
    ));
    for bad in [
        "",
        "/",
        "v1/0123456789abcdef0123456789abcdef/jobs/x",
        "/v1/not-a-project/jobs/x",
        "/v1/0123456789abcdef0123456789abcdef/jobs/a/b",
        "/v1/0123456789abcdef0123456789abcdef/jobs/bad_id",
        "/v2/0123456789abcdef0123456789abcdef/cloudservers/not-a-uuid/reinstallos",
        "/v2/0123456789abcdef0123456789abcdef/cloudservers/616fb98f-46ca-475e-917e-2563e5a8cd19/rebuild",
        "/v3/0123456789abcdef0123456789abcdef/cloudservers/action",
    ] {
        assert_eq!(EcsRoute::parse(bad), None, "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The spec's example answers.
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_job_id_answers() {
    let cases: &[(&str, &str)] = &[
        ("reinstallos.200.json", "ff80808288d41e1b018990260955686a"),
        ("changeos.200.json", "ff80808288d41e1b018990260955686a"),
        (
            "responses_jobs.normal.json",
            "ff80808288d41e1b018990260955686a",
        ),
        ("batch_start.200.json", "ff808082889bd9690189061140c235fe"),
        ("batch_stop.200.json", "ff808082889bd9690189061140c235fe"),
    ];
    let servers = vec![server()];
    for (file, id) in cases {
        let want = JobId::new(*id).unwrap();
        let body = spec_file(file);
        let answer = || response(200, Some("req-1"), body.clone());
        assert_eq!(
            reinstall(password_spec())
                .decode_response(answer())
                .unwrap(),
            want,
            "{file}"
        );
        assert_eq!(
            change_os(password_spec())
                .decode_response(answer())
                .unwrap(),
            want,
            "{file}"
        );
        let stop = BatchStop::new(project(), servers.clone(), StopType::Soft);
        assert_eq!(stop.decode_response(answer()).unwrap(), want, "{file}");
        let start = BatchStart::new(project(), servers.clone());
        assert_eq!(start.decode_response(answer()).unwrap(), want, "{file}");
    }
}

#[test]
fn spec_abnormal_job_answer_is_not_json() {
    // `{"error": {"message": "", "code": XXX,""}}`: the spec's placeholder, not JSON.
    let body = spec_file("responses_jobs.abnormal.json");
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    let refused = provider_error(reinstall(password_spec()).decode_response(response(
        400,
        Some("req-abn"),
        body.clone(),
    )));
    assert_eq!(
        refused,
        ProviderError::new(
            Provider::Ecs,
            400,
            None,
            "a body that is not JSON (application/json, 49 bytes)"
        )
        .with_request_id(Some("req-abn".into()))
    );
    // As a success it cannot be read, and says where, without quoting it.
    let e = decode_error(reinstall(password_spec()).decode_response(response(200, None, body)));
    assert_eq!(e.operation, "ecs.reinstallos");
    assert_eq!(e.problem, "invalid JSON at line 2 column 38");
}

fn spec_job() -> Job {
    let mut sub = SubJob::new(JobStatus::Success);
    sub.id = Some(JobId::new("2c9eb2c5544cbf6101544f0635672b60").unwrap());
    sub.job_type = Some("createSingleServer".into());
    sub.begin_time = Some(at("2016-04-25T20:04:47.591Z"));
    sub.end_time = Some(at("2016-04-25T20:08:21.328Z"));
    sub.server_id = Some("bae51750-0089-41a1-9b18-5c777978ff6d".into());
    let mut job = Job::new(
        JobId::new("2c9eb2c5544cbf6101544f0602af2b4f").unwrap(),
        JobStatus::Success,
    );
    job.job_type = Some("createServer".into());
    job.begin_time = Some(at("2016-04-25T20:04:34.604Z"));
    job.end_time = Some(at("2016-04-25T20:08:41.593Z"));
    job.sub_jobs_total = Some(1);
    job.sub_jobs = vec![sub];
    job
}

#[test]
fn spec_show_job_answer() {
    let got = ShowJob::new(project(), job())
        .decode_response(response(200, None, spec_file("show_job.200.json")))
        .unwrap();
    assert_eq!(got, spec_job());
    assert_eq!(got.progress(), (1, 1));
}

/// The spec's server details example lacks one comma (after `"name": "s3.large.1"` in `flavor`).
/// As published it cannot be read; with that comma it gives these details.
#[test]
fn spec_show_server_answer() {
    let published = spec_file("show_server.200.json");
    let op = ShowServer::new(project(), server());
    let e = decode_error(op.decode_response(response(200, Some("req-s"), published.clone())));
    assert_eq!(e.problem, "invalid JSON at line 23 column 13");
    assert_eq!(e.request_id.as_deref(), Some("req-s"));

    let text = std::str::from_utf8(&published).unwrap();
    let missing = "\"name\": \"s3.large.1\"\n";
    assert_eq!(text.matches(missing).count(), 1);
    let repaired = text.replacen(missing, "\"name\": \"s3.large.1\",\n", 1);
    let got = op.decode_response(response(200, None, repaired)).unwrap();

    let mut want =
        ServerDetails::new(ServerId::new("4f4b3dfa-eb70-47cf-a60a-998a53bd598a").unwrap());
    want.name = Some("ecs-2ecf".into());
    want.status = Some(ServerStatus::Active);
    want.task_state = None;
    want.vm_state = Some("active".into());
    want.power_state = Some(PowerState::Running);
    want.image_id = Some(ImageId::new("c71b64e7-4767-4406-afde-2c7c7ac2242c").unwrap());
    want.flavor_id = Some("s3.large.1".into());
    want.key_name = Some("KeyPair-d750".into());
    want.locked = Some(false);
    want.progress = Some(0);
    want.created = Some(at("2018-09-13T07:03:44Z"));
    want.updated = Some(at("2018-09-13T07:06:51Z"));
    want.launched_at = Some(at("2018-09-13T07:04:09.197749Z"));
    want.system_disk = Some("80c15cff-2473-4982-a816-d760cad6c42c".into());
    want.user_data = None;
    let mut address = ServerAddress::new("192.168.1.99");
    address.version = Some(4);
    address.kind = Some("fixed".into());
    address.mac = Some("fa:16:3e:df:18:6d".into());
    address.port_id = Some("23037c18-027a-44e5-b6b9-f8d8f113fe02".into());
    address.primary = Some(true);
    want.addresses
        .insert("0431c5e5-bc94-4a44-8263-15da2a642435".into(), vec![address]);
    want.metadata = [
        ("metering.order_id", "CS1809131459IGC24"),
        ("image_name", "Public_Cloudinit_Oracle_Linux_7.4_64bit_40G"),
        ("metering.resourcespeccode", "s3.large.1"),
        ("charging_mode", "1"),
        ("vpc_id", "0431c5e5-bc94-4a44-8263-15da2a642435"),
        ("os_type", "Linux"),
        ("metering.resourcetype", "1"),
        ("metering.image_id", "c71b64e7-4767-4406-afde-2c7c7ac2242c"),
        ("os_bit", "64"),
        ("__support_agent_list", "hss,ces"),
        ("cascaded.instance_extrainfo", "pcibridge:2"),
        ("metering.imagetype", "gold"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect::<BTreeMap<_, _>>();
    assert_eq!(got, want);
    assert!(got.unreadable.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

/// Every operation's decoder, as a function of the answer.
type Decoder = Box<dyn Fn(http::Response<Bytes>) -> Result<String, ResponseError>>;

fn every_ecs_decoder() -> Vec<(&'static str, Decoder)> {
    fn boxed<O: Operation + 'static>(op: O) -> (&'static str, Decoder)
    where
        O::Output: std::fmt::Debug,
    {
        (
            O::NAME,
            Box::new(move |r| op.decode_response(r).map(|out| format!("{out:?}"))),
        )
    }
    vec![
        boxed(reinstall(password_spec())),
        boxed(change_os(key_pair_spec())),
        boxed(ShowJob::new(project(), job())),
        boxed(ShowServer::new(project(), server())),
        boxed(BatchStop::new(project(), vec![server()], StopType::Hard)),
        boxed(BatchStart::new(project(), vec![server()])),
    ]
}

fn every_decoder() -> Vec<(&'static str, Decoder)> {
    let mut all = every_ecs_decoder();
    let token = create_token(TokenScope::ProjectId(project()));
    all.push((
        CreateToken::NAME,
        Box::new(move |r| token.decode_response(r).map(|t| format!("{t:?}"))),
    ));
    all
}

#[test]
fn nested_ecs_error_with_request_id() {
    let body = r#"{"error":{"code":"Ecs.0011","message":"Ensure the password meets the password complexity requirements.","details":[{"code":"Ecs.0011","message":"x"}]}}"#;
    for (name, decode) in every_ecs_decoder() {
        let e = provider_error(decode(response(400, Some("req-ecs-11"), body)));
        assert_eq!(
            e,
            ProviderError::new(
                Provider::Ecs,
                400,
                Some("Ecs.0011".into()),
                "Ensure the password meets the password complexity requirements."
            )
            .with_request_id(Some("req-ecs-11".into())),
            "{name}"
        );
        assert_eq!(
            e.to_string(),
            "ECS answered 400 Ecs.0011: Ensure the password meets the password complexity \
             requirements. (request id req-ecs-11)"
        );
    }
}

#[test]
fn flat_gateway_error() {
    let body = r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail","request_id":"gw-0301"}"#;
    for (name, decode) in every_decoder() {
        let e = provider_error(decode(response(401, None, body)));
        assert_eq!(e.status, 401, "{name}");
        assert_eq!(e.code.as_deref(), Some("APIGW.0301"), "{name}");
        assert_eq!(
            e.message, "Incorrect IAM authentication information: verify aksk signature fail",
            "{name}"
        );
        assert_eq!(e.request_id.as_deref(), Some("gw-0301"), "{name}");
        let want = if name == CreateToken::NAME {
            Provider::Iam
        } else {
            Provider::Ecs
        };
        assert_eq!(e.provider, want, "{name}");
    }
}

#[test]
fn html_bad_gateway() {
    let html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    for (name, decode) in every_decoder() {
        let e = provider_error(decode(answer(
            502,
            &[("content-type", "text/html"), ("x-request-id", "req-502")],
            html,
        )));
        assert_eq!(e.status, 502, "{name}");
        assert_eq!(e.code, None, "{name}");
        assert_eq!(
            e.message, "a body that is not JSON (text/html, 74 bytes)",
            "{name}"
        );
        assert_eq!(e.request_id.as_deref(), Some("req-502"), "{name}");
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let body = r#"{"error":{"code":"Ecs.0005","message":"Invalid parameter values.","title":"x","extra":{"a":[1]}},"more":true}"#;
    for (name, decode) in every_decoder() {
        let e = provider_error(decode(response(400, None, body)));
        assert_eq!(e.code.as_deref(), Some("Ecs.0005"), "{name}");
        assert_eq!(e.message, "Invalid parameter values.", "{name}");
    }
    let ok = format!(r#"{{"job_id":"{JOB}","surprise":{{"nested":[null,1]}},"x":null}}"#);
    let id = reinstall(password_spec())
        .decode_response(response(202, None, ok))
        .unwrap();
    assert_eq!(id, job());
}

#[test]
fn success_answers_that_cannot_be_read() {
    let op = reinstall(password_spec());
    let cases: &[(&str, &str)] = &[
        ("", "JSON that ends too early at line 1 column 0"),
        ("{}", "the answer has no `job_id`"),
        (r#"{"job_id":null}"#, "the answer has no `job_id`"),
        (r#"{"job_id":["x"]}"#, "job_id is a list, not a string"),
        (
            r#"{"job_id":"no/slashes/secret"}"#,
            "job_id is not a job id (17 characters)",
        ),
        ("[]", "the answer is a list, not an object"),
    ];
    for (body, problem) in cases {
        let e = decode_error(op.decode_response(response(200, Some("r-1"), *body)));
        assert!(e.problem.starts_with(problem), "{body}: {}", e.problem);
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(
            (e.provider, e.status, e.request_id.as_deref()),
            (Provider::Ecs, 200, Some("r-1"))
        );
    }
    // A success that holds only an error is what ECS said.
    let e = provider_error(op.decode_response(response(
        200,
        None,
        r#"{"error":{"code":"Ecs.0000","message":"Request error."}}"#,
    )));
    assert_eq!((e.status, e.code.as_deref()), (200, Some("Ecs.0000")));
}

#[test]
fn job_answers() {
    let op = ShowJob::new(project(), job());
    // Nulls everywhere: the job asked about, with an unknown status.
    let nulls = r#"{"status":null,"entities":null,"job_id":null,"job_type":null,"begin_time":null,"end_time":null,"error_code":null,"fail_reason":null}"#;
    let got = op.decode_response(response(200, None, nulls)).unwrap();
    assert_eq!(got, Job::new(job(), JobStatus::Unknown(String::new())));

    let failed = r#"{"status":"FAIL","job_id":"ff80808288d41e1b018990260955686a","job_type":"reinstallOS",
        "begin_time":"2024-05-01T10:00:00.000Z","end_time":"","error_code":"Ecs.0011",
        "fail_reason":"password too weak","entities":{"server_id":"616fb98f-46ca-475e-917e-2563e5a8cd19",
        "sub_jobs_total":"2","sub_jobs":[{"status":"FAIL","entities":{"server_id":"s","errorcode_message":"bad"}},
        {"status":"PENDING_PAYMENT","job_id":null}]},"new_field":{"x":1}}"#;
    let got = op.decode_response(response(200, None, failed)).unwrap();
    assert_eq!(got.status, JobStatus::Fail);
    assert_eq!(got.job_type.as_deref(), Some("reinstallOS"));
    assert_eq!(got.begin_time, Some(at("2024-05-01T10:00:00Z")));
    assert_eq!(got.end_time, None);
    assert_eq!(got.error_code.as_deref(), Some("Ecs.0011"));
    assert_eq!(got.fail_reason.as_deref(), Some("password too weak"));
    assert_eq!(got.server_id.as_deref(), Some(SERVER));
    assert_eq!(got.sub_jobs_total, Some(2));
    assert_eq!(got.sub_jobs[0].status, JobStatus::Fail);
    assert_eq!(got.sub_jobs[0].errorcode_message.as_deref(), Some("bad"));
    assert_eq!(got.sub_jobs[1].status, JobStatus::PendingPayment);
    assert_eq!(got.progress(), (0, 2));

    // The job query's documented error fields, in a success.
    let e = provider_error(op.decode_response(response(
        200,
        Some("rq"),
        r#"{"code":"Ecs.0103","message":"The job does not exist."}"#,
    )));
    assert_eq!(
        (e.code.as_deref(), e.message.as_str()),
        (Some("Ecs.0103"), "The job does not exist.")
    );

    let cases: &[(&str, &str)] = &[
        (
            r#"{"status":"RUNNING","begin_time":"yesterday"}"#,
            "begin_time is not a date and time (9 characters)",
        ),
        (r#"{"status":{"a":1}}"#, "status is an object, not a string"),
        (
            r#"{"status":"RUNNING","entities":[]}"#,
            "entities is a list, not an object",
        ),
        (
            r#"{"status":"RUNNING","entities":{"sub_jobs":[1]}}"#,
            "entities.sub_jobs[0] is not an object",
        ),
        (
            r#"{"status":"RUNNING","entities":{"sub_jobs":[{"end_time":"later"}]}}"#,
            "entities.sub_jobs[0].end_time is not a date and time (5 characters)",
        ),
        (
            r#"{"status":"RUNNING","entities":{"sub_jobs_total":-1}}"#,
            "entities.sub_jobs_total is a number, not a whole number",
        ),
        (
            r#"{"status":"RUNNING","job_id":"a b"}"#,
            "job_id is not a job id (3 characters)",
        ),
    ];
    for (body, problem) in cases {
        let e = decode_error(op.decode_response(response(200, None, *body)));
        assert!(e.problem.starts_with(problem), "{body}: {}", e.problem);
        assert!(
            !e.problem.contains("yesterday") && !e.problem.contains("later"),
            "{}",
            e.problem
        );
    }
}

#[test]
fn server_answers_are_read_field_by_field() {
    let op = ShowServer::new(project(), server());
    let body = format!(
        r#"{{"server":{{"id":"{SERVER}","status":"UNKNOWN","image":"","locked":"maybe","updated":"soon",
        "OS-EXT-STS:power_state":"4","OS-EXT-STS:task_state":"rebuilding","flavor":null,
        "OS-EXT-SRV-ATTR:user_data":"I2Nsb3VkLWNvbmZp\nZwo=","metadata":{{"a":"b","n":1}},
        "addresses":{{"net":[{{"addr":"10.0.0.5","version":4}}],"bad":[{{"version":4}}]}}}}}}"#
    );
    let got = op.decode_response(response(200, None, body)).unwrap();
    assert_eq!(got.status, Some(ServerStatus::Unknown("UNKNOWN".into())));
    assert_eq!(got.image_id, None);
    assert_eq!(got.power_state, Some(PowerState::Shutdown));
    assert_eq!(got.task_state.as_deref(), Some("rebuilding"));
    assert_eq!(got.locked, None);
    assert_eq!(got.updated, None);
    assert_eq!(got.user_data, Some(UserData::from("#cloud-config\n")));
    assert_eq!(
        got.metadata,
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );
    let mut address = ServerAddress::new("10.0.0.5");
    address.version = Some(4);
    assert_eq!(
        got.addresses,
        BTreeMap::from([("net".to_owned(), vec![address])])
    );
    assert_eq!(got.unreadable, ["locked", "updated", "addresses.bad"]);
    assert!(format!("{got:?}").contains("user_data: Some(UserData(14 bytes))"));
    assert!(!format!("{got:?}").contains("cloud-config"));

    let odd_image =
        format!(r#"{{"server":{{"id":"{SERVER}","image":{{"id":"ami-1"}},"flavor":"x"}}}}"#);
    let got = op.decode_response(response(200, None, odd_image)).unwrap();
    assert_eq!((got.image_id, got.flavor_id), (None, None));
    assert_eq!(got.unreadable, ["image.id", "flavor"]);

    let cases: &[(&str, &str)] = &[
        ("{}", "the answer has no `server` object"),
        (r#"{"server":null}"#, "the answer has no `server` object"),
        (r#"{"server":[]}"#, "server is a list, not an object"),
        (r#"{"server":{"name":"x"}}"#, "server.id is missing"),
        (
            r#"{"server":{"id":"not-a-uuid"}}"#,
            "server.id is not a server id (10 characters)",
        ),
    ];
    for (body, problem) in cases {
        let e = decode_error(op.decode_response(response(200, None, *body)));
        assert!(e.problem.starts_with(problem), "{body}: {}", e.problem);
    }
    let e = provider_error(op.decode_response(response(
        200,
        None,
        r#"{"error":{"code":"Ecs.0114","message":"Invalid server."}}"#,
    )));
    assert_eq!(e.code.as_deref(), Some("Ecs.0114"));
}

#[test]
fn iam_token_answer() {
    let op = create_token(TokenScope::ProjectId(project()));
    let token = op
        .decode_response(answer(
            201,
            &[("x-subject-token", "MIIexampletoken")],
            r#"{"token":{"expires_at":"2025-01-02T03:04:05.678000Z","issued_at":"2025-01-01T03:04:05.678000Z","methods":["password"]}}"#,
        ))
        .unwrap();
    assert_eq!(token.expires_at(), at("2025-01-02T03:04:05.678Z"));
    assert_eq!(token.issued_at(), Some(at("2025-01-01T03:04:05.678Z")));
    assert_eq!(token.secret().expose_secret(), "MIIexampletoken");
    assert!(token.header_value().is_sensitive());
    let e = decode_error(op.decode_response(answer(
        201,
        &[],
        r#"{"token":{"expires_at":"2025-01-02T00:00:00Z"}}"#,
    )));
    assert_eq!(
        (e.operation, e.provider),
        ("iam.create_token", Provider::Iam)
    );
}

// ---------------------------------------------------------------------------------------------
// User data limit, empty lists, and what Debug shows.
// ---------------------------------------------------------------------------------------------

#[test]
fn user_data_limit_is_32768_bytes_before_base64() {
    assert_eq!(USER_DATA_LIMIT, 32768);
    let spec = |len| {
        EcsOsSpec::builder()
            .adminpass(AdminPassword::new(PASSWORD).unwrap())
            .user_data(user_data_of(len))
            .build()
            .unwrap()
    };
    let e = endpoint();
    let at_limit = reinstall(spec(32768)).to_request(&e).unwrap();
    let b64 = body_json(&at_limit)["os-reinstall"]["metadata"]["user_data"]
        .as_str()
        .unwrap()
        .len();
    assert_eq!(b64, 43692, "32768 bytes are 43692 base64 characters");
    assert!(change_os(spec(32768)).to_request(&e).is_ok());

    for err in [
        reinstall(spec(32769)).to_request(&e).unwrap_err(),
        change_os(spec(32769)).to_request(&e).unwrap_err(),
    ] {
        let EncodeError::Invalid(v) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(v.field(), "user_data");
        assert_eq!(
            err.to_string(),
            "user_data: is 32769 bytes before base64, over the ECS limit of 32768 bytes (32 KB); \
             shorten it, or gzip it (cloud-init reads gzip-compressed user data)"
        );
    }

    // The decode direction applies the same limit.
    let over: ReinstallBody = serde_json::from_value(serde_json::json!({
        "os-reinstall": {"metadata": {"user_data": base64_of(&[b'#'; 32769])}}
    }))
    .unwrap();
    assert_eq!(over.to_input().unwrap_err().field(), "user_data");
    let not_b64: ReinstallBody =
        serde_json::from_str(r#"{"os-reinstall":{"metadata":{"user_data":"***"}}}"#).unwrap();
    let err = not_b64.to_input().unwrap_err();
    assert_eq!(
        err.to_string(),
        "user_data: is not base64 (3 characters); encode the user data with standard, padded base64"
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn empty_server_lists_are_refused() {
    for err in [
        BatchStop::new(project(), vec![], StopType::Soft)
            .to_request(&endpoint())
            .unwrap_err(),
        BatchStart::new(project(), vec![])
            .to_request(&endpoint())
            .unwrap_err(),
    ] {
        assert_eq!(
            err.to_string(),
            "servers: is empty; give at least one server id"
        );
    }
}

#[test]
fn optional_fields_are_absent_not_null() {
    let password_only = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(PASSWORD).unwrap())
        .build()
        .unwrap();
    let request = reinstall(password_only).to_request(&endpoint()).unwrap();
    assert_eq!(
        request.body().as_ref(),
        br#"{"os-reinstall":{"adminpass":"!QAZxsw2"}}"#
    );
    // Empty user data is no user data.
    let empty_ud = EcsOsSpec::builder()
        .keyname(KeyPairName::new(KEY).unwrap())
        .userid(UserId::new(USER).unwrap())
        .user_data(UserData::from(""))
        .build()
        .unwrap();
    let request = change_os(empty_ud).to_request(&endpoint()).unwrap();
    assert_eq!(
        std::str::from_utf8(request.body()).unwrap(),
        format!(r#"{{"os-change":{{"keyname":"{KEY}","userid":"{USER}","imageid":"{IMAGE}"}}}}"#)
    );
}

#[test]
fn debug_never_shows_secrets() {
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(PASSWORD).unwrap())
        .user_data("#cloud-config\npassword: Sentinel-Pw-42\n".into())
        .byol(true)
        .build()
        .unwrap();
    let op = reinstall(spec.clone());
    assert_eq!(
        format!("{op:?}"),
        "ReinstallOs { project_id: ProjectId(\"0123456789abcdef0123456789abcdef\"), \
         server_id: ServerId(\"616fb98f-46ca-475e-917e-2563e5a8cd19\"), input: EcsReinstall { \
         spec: EcsOsSpec { login: Password(AdminPassword([REDACTED])), \
         user_data: Some(UserData(39 bytes)), stop_server: false, byol: true } } }"
    );
    assert_eq!(
        format!("{:?}", op.body().unwrap()),
        "ReinstallBody { os_reinstall: OsReinstall { adminpass: Some(SecretBox<str>([REDACTED])), \
         keyname: None, userid: None, metadata: Some(Metadata { byol: Some(\"true\"), \
         user_data: Some([52 base64 characters]), system_encrypted: None, system_cmkid: None }), \
         mode: None } }"
    );
    assert_eq!(
        format!("{:?}", change_os(spec).body().unwrap()),
        "ChangeOsBody { os_change: OsChange { adminpass: Some(SecretBox<str>([REDACTED])), \
         keyname: None, userid: None, imageid: \"e215580f-73ad-429d-b6f2-5433947433b0\", \
         metadata: Some(Metadata { byol: Some(\"true\"), user_data: Some([52 base64 characters]), \
         system_encrypted: None, system_cmkid: None }), mode: None, is_auto_pay: None } }"
    );
    assert_eq!(
        format!(
            "{:?}",
            create_token(TokenScope::ProjectName(ProjectName::new("eu-de").unwrap()))
        ),
        "CreateToken { credentials: PasswordCredentials { user_name: \"alice\", \
         domain_name: \"example-domain\", password: [REDACTED] }, \
         scope: ProjectName(ProjectName(\"eu-de\")) }"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

/// A valid ECS spec: a login (password, key pair, or user data alone), optional user data up to
/// the limit, mode and BYOL.
fn any_spec() -> impl Strategy<Value = EcsOsSpec> {
    let password = "[A-Z][a-z][0-9][A-Za-z0-9!@$%^\\-_=+\\[{}\\]:,./?~#*]{5,23}";
    let user_data = prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..2048).prop_map(Some),
        Just(Some(vec![0xff; USER_DATA_LIMIT])),
    ];
    (
        0..3u8,
        password,
        "[A-Za-z0-9_-]{1,64}",
        "[0-9a-f]{32}",
        user_data,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(login, password, key, user, user_data, stop, byol)| {
            let mut b = EcsOsSpec::builder().stop_server(stop).byol(byol);
            match login {
                0 => b = b.adminpass(AdminPassword::new(password).unwrap()),
                1 => {
                    b = b
                        .keyname(KeyPairName::new(key).unwrap())
                        .userid(UserId::new(user).unwrap());
                }
                _ => {}
            }
            let user_data = match (login, user_data) {
                (2, None) => Some(vec![b'#']),
                (2, Some(d)) if d.is_empty() => Some(vec![b'#']),
                (_, d) => d,
            };
            if let Some(d) = user_data {
                b = b.user_data(UserData::from(d));
            }
            b.build().unwrap()
        })
}

/// Asserts that `got` says what `want` says, with empty user data as none.
fn same_spec(got: &EcsOsSpec, want: &EcsOsSpec) -> Result<(), TestCaseError> {
    match (got.login(), want.login()) {
        (Login::Password(a), Login::Password(b)) => {
            prop_assert_eq!(a.secret().expose_secret(), b.secret().expose_secret());
        }
        (
            Login::KeyPair {
                name: a,
                user_id: x,
            },
            Login::KeyPair {
                name: b,
                user_id: y,
            },
        ) => {
            prop_assert_eq!(a, b);
            prop_assert_eq!(x, y);
        }
        (Login::UserData, Login::UserData) => {}
        (a, b) => prop_assert!(false, "login {a:?} != {b:?}"),
    }
    let non_empty = |s: &EcsOsSpec| s.user_data().filter(|d| !d.is_empty()).cloned();
    prop_assert_eq!(non_empty(got), non_empty(want));
    prop_assert_eq!(got.stop_server(), want.stop_server());
    prop_assert_eq!(got.byol(), want.byol());
    Ok(())
}

/// Any JSON value, a few levels deep, with the field names ECS answers use.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("job_id".to_owned()),
        Just("status".to_owned()),
        Just("entities".to_owned()),
        Just("sub_jobs".to_owned()),
        Just("sub_jobs_total".to_owned()),
        Just("begin_time".to_owned()),
        Just("server".to_owned()),
        Just("id".to_owned()),
        Just("image".to_owned()),
        Just("addresses".to_owned()),
        Just("addr".to_owned()),
        Just("version".to_owned()),
        Just("locked".to_owned()),
        Just("OS-EXT-SRV-ATTR:user_data".to_owned()),
        Just("OS-EXT-STS:power_state".to_owned()),
        Just("error".to_owned()),
        Just("code".to_owned()),
        Just("token".to_owned()),
        Just("expires_at".to_owned()),
        "[a-z_:-]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(SERVER)),
        Just(Value::from(JOB)),
        Just(Value::from("2016-04-25T20:04:47.591Z")),
        Just(Value::from("SUCCESS")),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn spec_examples() -> Vec<Bytes> {
    [
        "show_job.200.json",
        "show_server.200.json",
        "reinstallos.200.json",
        "batch_stop.200.json",
        "responses_jobs.abnormal.json",
    ]
    .iter()
    .map(|f| spec_file(f))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn reinstall_round_trips(spec in any_spec()) {
        let request = reinstall(spec.clone()).to_request(&endpoint()).unwrap();
        let body: ReinstallBody = serde_json::from_slice(request.body()).unwrap();
        same_spec(body.to_input().unwrap().spec(), &spec)?;
        // The emulator's definitions write back the very same bytes.
        prop_assert_eq!(serde_json::to_vec(&body).unwrap(), request.body().to_vec());
    }

    #[test]
    fn changeos_round_trips(spec in any_spec(), image in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}") {
        let image = ImageId::new(image).unwrap();
        let op = ChangeOs::new(project(), server(), EcsChangeOs::new(image.clone(), spec.clone()));
        let request = op.to_request(&endpoint()).unwrap();
        let body: ChangeOsBody = serde_json::from_slice(request.body()).unwrap();
        let input = body.to_input().unwrap();
        prop_assert_eq!(input.image_id(), &image);
        same_spec(input.spec(), &spec)?;
        prop_assert_eq!(serde_json::to_vec(&body).unwrap(), request.body().to_vec());
    }

    #[test]
    fn decoders_never_panic_on_bytes(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        status in 100u16..600,
        token in proptest::option::of("[!-~]{0,24}"),
    ) {
        for (_, decode) in every_decoder() {
            let mut headers = vec![("x-request-id", "r")];
            if let Some(t) = token.as_deref() {
                headers.push(("x-subject-token", t));
            }
            let _ = decode(answer(status, &headers, body.clone()));
        }
    }

    #[test]
    fn decoders_never_panic_on_json(value in any_json(), wrap in 0..4usize, status in prop_oneof![Just(200u16), Just(201), Just(400), 100u16..600]) {
        let value = match wrap {
            0 => value,
            1 => serde_json::json!({ "server": value }),
            2 => serde_json::json!({ "status": "RUNNING", "entities": value }),
            _ => serde_json::json!({ "token": value }),
        };
        let body = serde_json::to_vec(&value).unwrap();
        for (_, decode) in every_decoder() {
            let _ = decode(answer(status, &[("x-subject-token", "t")], body.clone()));
        }
    }

    #[test]
    fn decoders_never_panic_on_damaged_examples(
        which in 0..5usize,
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut body = spec_examples()[which].to_vec();
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        for (_, decode) in every_decoder() {
            let _ = decode(answer(200, &[("x-subject-token", "t")], body.clone()));
        }
    }
}

/// The route of each operation is declared once: the path each operation sends is
/// `EcsRoute::path`, and `EcsRoute::parse` (the emulator's dispatch) reads it back to the same
/// route.
#[test]
fn every_operation_path_reads_back_to_its_route() {
    use reimage_wire::ecs::EcsRoute;
    let e = endpoint();
    let servers = vec![server(), server_2()];
    let cases: Vec<(http::Request<Bytes>, EcsRoute)> = vec![
        (
            reinstall(password_spec()).to_request(&e).unwrap(),
            EcsRoute::ReinstallOs {
                project_id: project(),
                server_id: server(),
            },
        ),
        (
            change_os(password_spec()).to_request(&e).unwrap(),
            EcsRoute::ChangeOs {
                project_id: project(),
                server_id: server(),
            },
        ),
        (
            reimage_wire::ecs::ReinstallOsWithoutCloudInit::new(
                project(),
                server(),
                EcsReinstall::new(key_pair_spec()),
            )
            .to_request(&e)
            .unwrap(),
            EcsRoute::ReinstallOsWithoutCloudInit {
                project_id: project(),
                server_id: server(),
            },
        ),
        (
            reimage_wire::ecs::ChangeOsWithoutCloudInit::new(
                project(),
                server(),
                EcsChangeOs::new(image(), key_pair_spec()),
            )
            .to_request(&e)
            .unwrap(),
            EcsRoute::ChangeOsWithoutCloudInit {
                project_id: project(),
                server_id: server(),
            },
        ),
        (
            reimage_wire::ecs::ListServers::new(project())
                .to_request(&e)
                .unwrap(),
            EcsRoute::ListServers {
                project_id: project(),
            },
        ),
        (
            ShowJob::new(project(), job()).to_request(&e).unwrap(),
            EcsRoute::ShowJob {
                project_id: project(),
                job_id: job(),
            },
        ),
        (
            ShowServer::new(project(), server()).to_request(&e).unwrap(),
            EcsRoute::ShowServer {
                project_id: project(),
                server_id: server(),
            },
        ),
        (
            BatchStop::new(project(), servers.clone(), StopType::Soft)
                .to_request(&e)
                .unwrap(),
            EcsRoute::ServerAction {
                project_id: project(),
            },
        ),
        (
            BatchStart::new(project(), servers).to_request(&e).unwrap(),
            EcsRoute::ServerAction {
                project_id: project(),
            },
        ),
    ];
    for (request, route) in cases {
        assert_eq!(request.uri().path(), route.path());
        assert_eq!(EcsRoute::parse(request.uri().path()).as_ref(), Some(&route));
        assert_eq!(request.method(), route.method());
    }
}

/// `--auto-pay`: `isAutoPay: "true"` inside `os-change`, where the official SDK's change-of-OS
/// options carry it, and read back by the emulator's decoder; absent otherwise.
#[test]
fn auto_pay_is_sent_in_os_change_and_read_back() {
    let spec = || {
        reimage_core::EcsOsSpec::builder()
            .keyname(reimage_core::KeyPairName::new("KeyPair-350b").unwrap())
            .userid(reimage_core::UserId::new("7e25b1da389f4697a79df3a0e5bd494e").unwrap())
            .build()
            .unwrap()
    };
    let image = reimage_core::ImageId::new("e215580f-73ad-429d-b6f2-5433947433b0").unwrap();
    let paid = reimage_core::EcsChangeOs::new(image.clone(), spec()).with_auto_pay(true);
    let body = reimage_wire::ecs::ChangeOsBody::new(&paid).unwrap();
    let json = serde_json::to_string(&body).unwrap();
    assert!(json.contains(r#""isAutoPay":"true""#), "{json}");
    let back: reimage_wire::ecs::ChangeOsBody = serde_json::from_str(&json).unwrap();
    assert!(back.to_input().unwrap().auto_pay());
    let unpaid = reimage_core::EcsChangeOs::new(image, spec());
    let json =
        serde_json::to_string(&reimage_wire::ecs::ChangeOsBody::new(&unpaid).unwrap()).unwrap();
    assert!(!json.contains("isAutoPay"), "{json}");
}
