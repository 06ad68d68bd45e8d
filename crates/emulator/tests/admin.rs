//! The admin API and the server itself: no secret ever reaches the state or the request log
//! (sentinel secrets), reset, the loopback rule, graceful shutdown, body limits, and hostile input
//! that must never bring the server down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use http::Method;
use reimage_auth::EdisCredentials;
use reimage_auth::edis::DEFAULT_FRESHNESS_MARGIN;
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_core::{
    AdminPassword, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, KvmId, RootPassword,
};
use reimage_emulator::{Config, ConfigError, FaultKind, FaultRule, Fixtures, StartError};
use reimage_wire::ecs::{ReinstallOs, ShowServer};
use reimage_wire::edis::{CreateSession, Reinstall};
use reimage_wire::iam::CreateToken;
use reimage_wire::{Endpoint, Operation};
use secrecy::ExposeSecret;
use serde_json::json;

#[tokio::test]
async fn no_secret_reaches_the_state_or_the_log() {
    let fixtures = Fixtures::from_toml_str(
        &Fixtures::default_toml()
            .replace("Emulator-Passw0rd!", "SENTINEL-iam-Passw0rd")
            .replace("reimage-emulator-sk", "SENTINEL-secret-key")
            .replace("\"emulator-pw\"", "\"SENTINEL-edis-pw\""),
    )
    .unwrap();
    let emu = Emu::with(Config::builder().fixtures(fixtures)).await;
    let mut secrets: Vec<String> = [
        "SENTINEL-iam-Passw0rd",
        "SENTINEL-secret-key",
        "SENTINEL-edis-pw",
        "SENTINEL-wrong-pw",
        "Sntnl-Adm1n-pw",
        "SENTINEL-ud",
        "SENTINEL-root-pw",
        "SENTINEL-edis-ud",
        "SENTINEL-unexpected",
        "SENTINEL-header",
        "SENTINEL-garbage",
        "SENTINEL-form",
    ]
    .map(str::to_owned)
    .to_vec();

    // IAM: a good password and a wrong one.
    let op = CreateToken::new(
        PasswordCredentials::new("admin", "emulator", "SENTINEL-iam-Passw0rd".into()).unwrap(),
        TokenScope::ProjectId(project()),
    );
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    let token = op.decode_response(raw.response()).unwrap();
    secrets.push(token.secret().expose_secret().to_owned());
    let bad = CreateToken::new(
        PasswordCredentials::new("admin", "emulator", "SENTINEL-wrong-pw".into()).unwrap(),
        TokenScope::ProjectId(project()),
    );
    assert_eq!(
        emu.send(&bad.to_request(&emu.endpoint()).unwrap())
            .await
            .status,
        401
    );

    // ECS: a reinstall with a password and user data, by token.
    let user_data = "#cloud-config\npassword: SENTINEL-ud\n";
    secrets.push(STANDARD.encode(user_data));
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Sntnl-Adm1n-pw").unwrap())
        .user_data(user_data.into())
        .build()
        .unwrap();
    let reinstall = ReinstallOs::new(project(), server(STOPPED), EcsReinstall::new(spec));
    emu.call(&reinstall, &token).await.unwrap();
    // A secret in a field nobody expects, and a header nobody expects.
    let mut r = plain(
        Method::POST,
        emu.addr,
        &format!("/v2/{PROJECT}/cloudservers/{STOPPED_2}/reinstallos"),
        r#"{"os-reinstall":{"adminpass":"Sntnl-Adm1n-pw","passwd":"SENTINEL-unexpected"}}"#,
    );
    with_token(&mut r, &token);
    r.headers_mut()
        .insert("x-custom-secret", "SENTINEL-header".parse().unwrap());
    // ECS refuses the unknown field; the refused request is logged, and must not leak either.
    assert_eq!(emu.send(&r).await.status, 400);
    let mut r = plain(
        Method::POST,
        emu.addr,
        &format!("/v1/{PROJECT}/cloudservers/action"),
        "SENTINEL-garbage",
    );
    with_token(&mut r, &token);
    assert_eq!(emu.send(&r).await.status, 400);

    // ECS by AK/SK.
    let mut r = ShowServer::new(project(), server(STOPPED))
        .to_request(&emu.endpoint())
        .unwrap();
    sign_with(&mut r, AK, "SENTINEL-secret-key", emu.now());
    let authorization = r.headers()["authorization"].to_str().unwrap().to_owned();
    secrets.push(
        authorization
            .rsplit("Signature=")
            .next()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(emu.send(&r).await.status, 200);

    // EDIS: a session, a reinstall with a root password and user data, a stray field.
    let op =
        CreateSession::new(EdisCredentials::new("demo@example.com", "SENTINEL-edis-pw").unwrap());
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    let sessions = op.decode_response(raw.response()).unwrap();
    for s in sessions.iter() {
        secrets.push(s.signature().expose_secret().to_owned());
    }
    let session = sessions
        .get(&KvmId::new("kvm_100001_200001").unwrap())
        .unwrap();
    let fresh = session
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let input = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new("SENTINEL-root-pw").unwrap(),
    )
    .with_user_data("#cloud-config\n# SENTINEL-edis-ud\n".into());
    let api = Endpoint::from_host(false, session.api_host()).unwrap();
    let raw = emu
        .send(&Reinstall::new(fresh, input).to_request(&api).unwrap())
        .await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/kvm/v2/get/power",
            "secret=SENTINEL-form",
        ))
        .await;
    assert_eq!(raw.status, 400);

    let log = emu
        .send(&plain(Method::GET, emu.addr, "/_emulator/requests", ""))
        .await
        .text();
    let state = emu
        .send(&plain(Method::GET, emu.addr, "/_emulator/state", ""))
        .await
        .text();
    let in_process = format!("{} {}", emu.running.requests(), emu.running.state());
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log shows {secret}");
        assert!(!state.contains(secret.as_str()), "the state shows {secret}");
        assert!(
            !in_process.contains(secret.as_str()),
            "the in-process view shows {secret}"
        );
    }
    assert!(!log.contains("SENTINEL") && !state.contains("SENTINEL"));
    // Yet the log says what happened.
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let entries = log["requests"].as_array().unwrap();
    let ops: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    for op in [
        "iam.create_token",
        "ecs.reinstallos",
        "ecs.show_server",
        "edis.create_session",
        "edis.reinstall",
    ] {
        assert!(ops.contains(&op), "{op} not in {ops:?}");
    }
    let edis = entries
        .iter()
        .find(|e| e["operation"] == "edis.reinstall")
        .unwrap();
    assert_eq!(edis["body"]["image"], "debian-bullseye");
    assert_eq!(edis["body"]["kvm_id"], "kvm_100001_200001");
    assert_eq!(edis["auth"]["kvm_id"], "kvm_100001_200001");
    let aksk = entries
        .iter()
        .find(|e| e["auth"]["scheme"] == "aksk")
        .unwrap();
    assert_eq!(aksk["auth"]["access_key"], AK);
    assert_eq!(aksk["headers"]["authorization"], "[REDACTED]");
    assert!(
        entries
            .iter()
            .all(|e| e["request_id"].is_string() && e["seq"].is_u64())
    );
}

#[tokio::test]
async fn reset_and_the_admin_endpoints() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new("Sup3r-secret").unwrap())
        .build()
        .unwrap();
    emu.call(
        &ReinstallOs::new(project(), server(STOPPED), EcsReinstall::new(spec)),
        &token,
    )
    .await
    .unwrap();
    emu.running
        .add_fault(FaultRule::new(FaultKind::Reset).operation("nothing"));
    let state = emu.admin_get("/_emulator/state").await;
    assert_eq!(state["ecs"]["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(state["iam"]["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(state["faults"].as_array().unwrap().len(), 1);
    assert_eq!(state["now"], "2025-01-01T00:00:00.000Z");

    let (status, _) = emu.admin(Method::POST, "/_emulator/reset", "").await;
    assert_eq!(status, 200);
    let state = emu.admin_get("/_emulator/state").await;
    assert_eq!(state["ecs"]["jobs"], json!([]));
    assert_eq!(state["iam"]["tokens"], json!([]));
    assert_eq!(state["faults"], json!([]));
    assert_eq!(emu.server_state(STOPPED).await["reinstalls_applied"], 0);
    assert_eq!(emu.server_state(STOPPED).await["status"], "SHUTOFF");
    assert_eq!(
        emu.admin_get("/_emulator/requests").await["requests"],
        json!([])
    );
    // The old token is gone.
    let err = emu
        .call(&ShowServer::new(project(), server(STOPPED)), &token)
        .await
        .unwrap_err();
    assert_eq!(
        err.provider_error().unwrap().code.as_deref(),
        Some("APIGW.0301")
    );
    let (status, _) = emu.admin(Method::DELETE, "/_emulator/requests", "").await;
    assert_eq!(status, 200);

    let index = emu.admin_get("/_emulator").await;
    assert!(index["endpoints"].as_array().unwrap().len() >= 8);
    for (method, path, status) in [
        (Method::GET, "/_emulator/nothing", 404),
        (Method::PUT, "/_emulator/state", 405),
        (Method::GET, "/_emulator/reset", 405),
    ] {
        let raw = emu.send(&plain(method, emu.addr, path, "")).await;
        assert_eq!(raw.status, status, "{path}");
        assert!(raw.json()["error"].is_string());
        assert!(raw.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn only_loopback_unless_allowed() {
    let err = Config::builder()
        .listen("0.0.0.0:0".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::NotLoopback { .. }), "{err}");
    assert!(err.to_string().contains("--allow-remote"));
    let config = Config::builder()
        .listen("0.0.0.0:0".parse().unwrap())
        .allow_remote(true)
        .build()
        .unwrap();
    assert!(config.allow_remote());
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Config::builder().time_scale(scale).build(),
            Err(ConfigError::TimeScale { .. })
        ));
    }
    assert!(Config::builder().max_body_bytes(0).build().is_err());
    assert!(Config::builder().edis_api_host("a/b").build().is_err());

    // The port in use: a bind error, not a panic.
    let first = reimage_emulator::start(Config::default()).await.unwrap();
    let taken = Config::builder()
        .listen(first.local_addr())
        .build()
        .unwrap();
    match reimage_emulator::start(taken).await {
        Err(StartError::Bind { addr, .. }) => assert_eq!(addr, first.local_addr()),
        other => panic!("{other:?}"),
    }
    first.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_calls_under_way_finish() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    emu.running.add_fault(
        FaultRule::new(FaultKind::Latency {
            delay: std::time::Duration::from_millis(300),
        })
        .operation("ecs.show_server"),
    );
    let mut request = ShowServer::new(project(), server(STOPPED))
        .to_request(&emu.endpoint())
        .unwrap();
    with_token(&mut request, &token);
    let addr = emu.addr;
    let call = tokio::spawn(async move { send(addr, &request).await });
    // Wait until the call has reached the emulator (its fault rule counted it).
    loop {
        let faults = emu.admin_get("/_emulator/faults").await;
        if faults["faults"][0]["seen"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    emu.running.shutdown().await;
    match call.await.unwrap() {
        Sent::Answer(raw) => assert_eq!(raw.status, 200),
        other => panic!("{other:?}"),
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let emu = Emu::with(Config::builder().max_body_bytes(1024)).await;
    // Declared too large.
    let head = format!(
        "POST /v2/{PROJECT}/cloudservers/{STOPPED}/reinstallos HTTP/1.1\r\nhost: x\r\ncontent-length: 2097152\r\n\r\n{{}}"
    );
    match send_bytes(emu.addr, head.as_bytes()).await {
        Sent::Answer(raw) => {
            assert_eq!(
                (raw.status, raw.code().as_deref()),
                (413, Some("APIGW.0201"))
            );
            assert!(raw.header("x-request-id").is_some());
        }
        other => panic!("{other:?}"),
    }
    // Chunked, and over the limit only as it arrives.
    let chunk = "a".repeat(600);
    let body = format!("258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    let request = format!(
        "POST /kvm/v2/get/auth HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{body}"
    );
    match send_bytes(emu.addr, request.as_bytes()).await {
        Sent::Answer(raw) => {
            assert_eq!(raw.status, 413);
            assert_eq!(
                raw.json(),
                json!({"error": "Request entity too large.", "code": 413})
            );
        }
        other => panic!("{other:?}"),
    }
    // Still serving.
    assert_eq!(
        emu.admin_get("/_emulator/state").await["ecs"]["project_id"],
        PROJECT
    );
}

/// A tiny deterministic generator for hostile bodies.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn hostile_input_never_brings_the_server_down() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let paths = [
        format!("/v2/{PROJECT}/cloudservers/{STOPPED}/reinstallos"),
        format!("/v2/{PROJECT}/cloudservers/{STOPPED}/changeos"),
        format!("/v1/{PROJECT}/cloudservers/action"),
        format!("/v1/{PROJECT}/jobs/%00%ff"),
        "/v3/auth/tokens".to_owned(),
        "/kvm/v2/get/auth".to_owned(),
        "/kvm/v2/set/reinstall".to_owned(),
        "/kvm/v2/get/power".to_owned(),
        "/_emulator/faults".to_owned(),
        "/%ff%fe/../..//".to_owned(),
    ];
    let mut noise = Noise(7);
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut bodies: Vec<Vec<u8>> = vec![
        nested.into_bytes(),
        br#"{"os-reinstall":{"adminpass":"\ud800","metadata":{"user_data":"===="}}}"#.to_vec(),
        br#"{"os-change":{"imageid":1e999999}}"#.to_vec(),
        br#"{"os-stop":{"servers":[{"id":null}]}}"#.to_vec(),
        b"email=%ff%fe&pw=%00&kvm_id=kvm_1_%ff".to_vec(),
        b"signature=a&signature=b&kvm_id=kvm_1_2&valid_until=99999999999999999999999".to_vec(),
        br#"{"kind":"latency","params":{"ms":18446744073709551615}}"#.to_vec(),
    ];
    for _ in 0..20 {
        let n = (noise.next() % 300) as usize;
        bodies.push(noise.bytes(n));
    }
    for path in &paths {
        for body in &bodies {
            for content_type in ["application/json", "application/x-www-form-urlencoded"] {
                let mut request = http::Request::post(format!("http://{}{path}", emu.addr))
                    .header("content-type", content_type)
                    .body(bytes::Bytes::from(body.clone()))
                    .unwrap();
                with_token(&mut request, &token);
                if path.starts_with("/_emulator") && body.starts_with(b"{\"kind\":\"latency\"") {
                    continue; // a valid rule would slow every later call down
                }
                match send(emu.addr, &request).await {
                    Sent::Answer(raw) => {
                        assert!(
                            raw.status < 500 || raw.status == 501,
                            "{path}: {}",
                            raw.status
                        );
                        assert!(raw.header("x-request-id").is_some());
                    }
                    other => panic!("{path}: {other:?}"),
                }
            }
        }
    }
    // Garbage on the wire, and a header value that is not text.
    for raw in [
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        [
            b"GET /v1/x HTTP/1.1\r\nhost: x\r\nx-auth-token: \xff\xfe\r\nconnection: close\r\n\r\n"
                .as_slice(),
        ]
        .concat(),
    ] {
        let _ = send_bytes(emu.addr, &raw).await;
    }
    // Still serving, and still right.
    let details = emu
        .call(&ShowServer::new(project(), server(RUNNING)), &token)
        .await
        .unwrap();
    assert!(details.unreadable.is_empty());
    let state = emu.admin_get("/_emulator/state").await;
    assert!(state["ecs"]["servers"].is_array());
}
