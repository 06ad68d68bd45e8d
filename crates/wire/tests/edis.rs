//! EDIS golden and property tests: the exact bytes of every request (`tests/golden/edis/`), every
//! documented example answer of the spec decoded (`tests/specs/edis/`), the form round trip the
//! emulator relies on, and decoders that never panic.
//!
//! `UPDATE_EXPECT=1 cargo test -p reimage-wire --test edis` rewrites the golden files.

// The helpers below are test code too, though not `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{read_test_file, render_request, response};
use expect_test::{ExpectFile, expect_file};
use proptest::prelude::*;
use reimage_auth::EdisCredentials;
use reimage_auth::edis::{DEFAULT_FRESHNESS_MARGIN, EdisSession};
use reimage_core::{
    EdisImage, EdisReinstall, KvmId, ProviderError, ResponseError, RootPassword, Timestamp,
    UserData,
};
use reimage_wire::edis::{
    CreateSession, GetDetails, GetImages, GetMount, GetPower, HardReset, Hardware, KvmDetails,
    MountStatus, Network, PowerOff, PowerOn, PowerState, PowerStatus, Reinstall, api_endpoint,
    session_endpoint,
};
use reimage_wire::{AuthScheme, Endpoint, Operation};
use secrecy::ExposeSecret;

const KVM: &str = "kvm_12345_67890";
const SIGNATURE: &str = "session_signature_12345";
const VALID_UNTIL: &str = "1737476000";
const API_HOST: &str = "12345.edisglobal.com";
/// A password that needs escaping: `+`, `&`, `=` and a space.
const PASSWORD: &str = "p@ss +&= word";
/// User data with new lines, quotes, brackets, `#`, `*` and the password again.
const USER_DATA: &str = "#cloud-config
set_hostname: kvmtest
password: 'p@ss +&= word'
runcmd:
  - [ /usr/bin/sed, -i, -E, 's/#PermitRootLogin.*/PermitRootLogin yes/i', /etc/ssh/sshd_config ]
";

fn kvm() -> KvmId {
    KvmId::new(KVM).unwrap()
}

fn session() -> EdisSession {
    EdisSession::new(API_HOST, kvm(), SIGNATURE, VALID_UNTIL).unwrap()
}

/// A day before the example session expires.
fn now() -> Timestamp {
    Timestamp::from_unix_seconds(1_737_476_000 - 86_400).unwrap()
}

fn endpoint() -> Endpoint {
    api_endpoint(&session()).unwrap()
}

fn spec(file: &str) -> Bytes {
    Bytes::from(read_test_file(&format!("specs/edis/{file}")))
}

fn check_golden(request: http::Request<Bytes>, golden: ExpectFile) {
    golden.assert_eq(&render_request(&request));
}

// ---------------------------------------------------------------------------------------------
// Golden requests.

#[test]
fn golden_create_session() {
    let creds = EdisCredentials::new("ops@example.com", PASSWORD).unwrap();
    let op = CreateSession::new(creds.clone()).with_kvm_id(kvm());
    check_golden(
        op.to_request(&session_endpoint()).unwrap(),
        expect_file!["../../../tests/golden/edis/create_session.txt"],
    );
    let all = CreateSession::new(creds);
    check_golden(
        all.to_request(&session_endpoint()).unwrap(),
        expect_file!["../../../tests/golden/edis/create_session.all_kvms.txt"],
    );
}

#[test]
fn golden_reinstall() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let input = EdisReinstall::new(
        EdisImage::new("cloudinit_debian-bookworm").unwrap(),
        RootPassword::new(PASSWORD).unwrap(),
    )
    .with_user_data(UserData::from(USER_DATA));
    check_golden(
        Reinstall::new(fresh, input)
            .to_request(&endpoint())
            .unwrap(),
        expect_file!["../../../tests/golden/edis/reinstall.txt"],
    );
    let plain = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new(PASSWORD).unwrap(),
    );
    check_golden(
        Reinstall::new(fresh, plain)
            .to_request(&endpoint())
            .unwrap(),
        expect_file!["../../../tests/golden/edis/reinstall.no_user_data.txt"],
    );
}

/// The redacted encodings: the password and the session signature are `[REDACTED]`, and the
/// rest is the real request.
#[test]
fn golden_redacted_requests() {
    let creds = EdisCredentials::new("ops@example.com", PASSWORD).unwrap();
    let op = CreateSession::new(creds).with_kvm_id(kvm());
    let shown = op.to_redacted_request(&session_endpoint()).unwrap();
    check_golden(
        shown.clone(),
        expect_file!["../../../tests/golden/edis/create_session.redacted.txt"],
    );
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let input = EdisReinstall::new(
        EdisImage::new("cloudinit_debian-bookworm").unwrap(),
        RootPassword::new("Root-Secret-42").unwrap(),
    )
    .with_user_data(UserData::from("#cloud-config\nhostname: web\n"));
    let op = Reinstall::new(fresh, input);
    let real = op.to_request(&endpoint()).unwrap();
    let shown = op.to_redacted_request(&endpoint()).unwrap();
    assert_eq!(real.uri(), shown.uri());
    assert_eq!(real.headers(), shown.headers());
    let text = String::from_utf8(shown.body().to_vec()).unwrap();
    assert!(
        !text.contains("Root-Secret-42") && !text.contains(SIGNATURE),
        "{text}"
    );
    check_golden(
        shown,
        expect_file!["../../../tests/golden/edis/reinstall.redacted.txt"],
    );
    let images = GetImages::new(fresh)
        .to_redacted_request(&endpoint())
        .unwrap();
    let text = String::from_utf8(images.body().to_vec()).unwrap();
    assert!(
        text.starts_with("signature=%5BREDACTED%5D&kvm_id="),
        "{text}"
    );
}

#[test]
fn golden_session_calls() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let e = endpoint();
    check_golden(
        GetImages::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/get_images.txt"],
    );
    check_golden(
        GetPower::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/get_power.txt"],
    );
    check_golden(
        PowerOn::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/power_on.txt"],
    );
    check_golden(
        PowerOff::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/power_off.txt"],
    );
    check_golden(
        HardReset::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/hard_reset.txt"],
    );
    check_golden(
        GetDetails::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/get_details.txt"],
    );
    check_golden(
        GetMount::new(fresh).to_request(&e).unwrap(),
        expect_file!["../../../tests/golden/edis/get_mount.txt"],
    );
}

#[test]
fn an_emulator_endpoint_is_honoured() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let emulator = Endpoint::parse("http://127.0.0.1:8080/edis").unwrap();
    let request = GetPower::new(fresh).to_request(&emulator).unwrap();
    assert_eq!(request.uri(), "http://127.0.0.1:8080/edis/kvm/v2/get/power");
    let request = CreateSession::new(EdisCredentials::new("a@b", "c").unwrap())
        .to_request(&emulator)
        .unwrap();
    assert_eq!(request.uri(), "http://127.0.0.1:8080/edis/kvm/v2/get/auth");
}

#[test]
fn declarations() {
    assert_eq!(
        [
            (
                CreateSession::NAME,
                CreateSession::AUTH,
                CreateSession::IDEMPOTENT
            ),
            (GetImages::NAME, GetImages::AUTH, GetImages::IDEMPOTENT),
            (Reinstall::NAME, Reinstall::AUTH, Reinstall::IDEMPOTENT),
            (GetPower::NAME, GetPower::AUTH, GetPower::IDEMPOTENT),
            (PowerOn::NAME, PowerOn::AUTH, PowerOn::IDEMPOTENT),
            (PowerOff::NAME, PowerOff::AUTH, PowerOff::IDEMPOTENT),
            (HardReset::NAME, HardReset::AUTH, HardReset::IDEMPOTENT),
            (GetDetails::NAME, GetDetails::AUTH, GetDetails::IDEMPOTENT),
            (GetMount::NAME, GetMount::AUTH, GetMount::IDEMPOTENT),
        ],
        [
            ("edis.create_session", AuthScheme::Credentials, true),
            ("edis.get_images", AuthScheme::EdisSession, true),
            ("edis.reinstall", AuthScheme::EdisSession, false),
            ("edis.get_power", AuthScheme::EdisSession, true),
            ("edis.power_on", AuthScheme::EdisSession, true),
            ("edis.power_off", AuthScheme::EdisSession, true),
            ("edis.hard_reset", AuthScheme::EdisSession, false),
            ("edis.get_details", AuthScheme::EdisSession, true),
            ("edis.get_mount", AuthScheme::EdisSession, true),
        ]
    );
}

#[test]
fn an_expired_session_cannot_make_an_operation() {
    let session = session();
    let late = Timestamp::from_unix_seconds(1_737_476_000 - 59).unwrap();
    let err = session
        .ensure_fresh(late, DEFAULT_FRESHNESS_MARGIN)
        .unwrap_err();
    assert!(err.to_string().contains("create a new session"), "{err}");
    assert!(session.ensure_fresh(late, Duration::from_secs(58)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// The spec's example answers.

#[test]
fn spec_create_session_answers() {
    let op = CreateSession::new(
        EdisCredentials::new("your-email@example.com", "your-password").unwrap(),
    );
    let sessions = op
        .decode_response(response(200, None, spec("create_session.200.json")))
        .unwrap();
    let got: Vec<(&str, &str, &str, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s.kvm_id().as_str(),
                s.api_host(),
                s.valid_until_text(),
                s.signature().expose_secret(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "kvm_123456_789012",
                "123456.edisglobal.com",
                "1737476000",
                "12345678901234567890123456789012345678901234567890"
            ),
            (
                "kvm_234567_890123",
                "234567.edisglobal.com",
                "1737479000",
                "23456789012345678901234567890123456789012345678901"
            ),
        ]
    );
    for file in [
        "create_session.200.guide.json",
        "create_session.200.guide-full.json",
    ] {
        let sessions = op.decode_response(response(200, None, spec(file))).unwrap();
        assert_eq!(sessions.len(), 1, "{file}");
        let s = sessions
            .pick(&KvmId::new("kvm_847362_918273").unwrap())
            .unwrap();
        assert_eq!(
            (s.api_host(), s.valid_until_text()),
            ("7f3a21.edisglobal.com", "1789456123"),
            "{file}"
        );
        assert_eq!(s.valid_until().to_string(), "2026-09-15T07:08:43Z");
        assert_eq!(
            s.signature().expose_secret(),
            "12345678901234567890123456789012345678901234567890"
        );
    }
}

#[test]
fn auth_answer_valid_until_as_int_and_as_string() {
    let op = CreateSession::new(EdisCredentials::new("a@b", "c").unwrap());
    for valid_until in ["1737476000", "\"1737476000\""] {
        let body = format!(
            r#"{{"data":{{"{KVM}":{{"api_host":"{API_HOST}","kvm_id":"{KVM}","valid_until":{valid_until},"signature":"{SIGNATURE}"}}}},"status":"success"}}"#
        );
        let sessions = op.decode_response(response(200, None, body)).unwrap();
        let s = sessions.pick(&kvm()).unwrap();
        assert_eq!(s.valid_until_text(), VALID_UNTIL, "{valid_until}");
        assert_eq!(
            s.valid_until().unix_seconds(),
            1_737_476_000,
            "{valid_until}"
        );
        // And it goes back verbatim.
        let fresh = s.ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN).unwrap();
        let request = GetPower::new(fresh)
            .to_request(&api_endpoint(s).unwrap())
            .unwrap();
        assert_eq!(
            request.body().as_ref(),
            b"signature=session_signature_12345&kvm_id=kvm_12345_67890&valid_until=1737476000"
        );
    }
}

#[test]
fn spec_success_answers() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();

    let images = GetImages::new(fresh)
        .decode_response(response(200, None, spec("get_images.200.json")))
        .unwrap();
    let names: Vec<&str> = images.images.iter().map(EdisImage::as_str).collect();
    assert_eq!(names.len(), 23);
    assert_eq!(
        names[..3],
        [
            "cloudinit_almalinux-8",
            "cloudinit_almalinux-9",
            "cloudinit_arch-linux_20231115"
        ]
    );
    assert_eq!(
        names[names.len() - 2..],
        ["windows-server-2022", "windows-server-2025"]
    );
    assert!(images.unusable.is_empty());
    assert!(images.contains(&EdisImage::new("debian-bullseye").unwrap()));
    let guide = GetImages::new(fresh)
        .decode_response(response(200, None, spec("get_images.200.guide.json")))
        .unwrap();
    let names: Vec<&str> = guide.images.iter().map(EdisImage::as_str).collect();
    assert_eq!(
        names,
        [
            "cloudinit_almalinux-9",
            "cloudinit_debian-bookworm",
            "cloudinit_debian-trixie",
            "cloudinit_ubuntu-lts-22-04",
            "cloudinit_ubuntu-lts-24-04",
            "windows-server-2022"
        ]
    );

    let input = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new("your-password").unwrap(),
    );
    let reinstall = Reinstall::new(fresh, input);
    for file in ["reinstall.200.json", "reinstall.200.guide.json"] {
        assert_eq!(
            reinstall.decode_response(response(200, None, spec(file))),
            Ok(()),
            "{file}"
        );
    }

    for file in ["get_power.200.json", "get_power.200.guide.json"] {
        let power = GetPower::new(fresh)
            .decode_response(response(200, None, spec(file)))
            .unwrap();
        let mut want = PowerStatus::new(PowerState::On);
        want.traffic_suspended = Some(false);
        assert_eq!(power, want, "{file}");
    }
    assert_eq!(
        PowerOn::new(fresh).decode_response(response(200, None, spec("power_on.200.json"))),
        Ok(())
    );
    assert_eq!(
        PowerOff::new(fresh).decode_response(response(200, None, spec("power_off.200.json"))),
        Ok(())
    );
    assert_eq!(
        HardReset::new(fresh).decode_response(response(200, None, spec("hard_reset.200.json"))),
        Ok(Some(Timestamp::parse("2025-01-12T15:31:00Z").unwrap()))
    );

    let details = GetDetails::new(fresh)
        .decode_response(response(200, None, spec("get_details.200.json")))
        .unwrap();
    let mut hardware = Hardware::default();
    hardware.ram = Some(5120);
    hardware.disk = Some(46080);
    hardware.cpu_set_cores = Some("socket".into());
    hardware.drive_boost = Some(102_400);
    let mut network = Network::default();
    network.ipv4 = vec![
        "192.168.0.101/255.255.255.0".into(),
        "192.168.0.102/255.255.255.0".into(),
    ];
    network.ipv4_gateway = Some("192.168.0.1".into());
    network.ipv4_netmask = Some("255.255.255.0".into());
    network.ipv6_gateway = Some("fe80::1".into());
    network.ipv6_64 = Some("fe80::/64".into());
    let mut want = KvmDetails::default();
    want.hostname = Some("example-host".into());
    want.suspended = Some(false);
    want.hardware = hardware;
    want.network = network;
    assert_eq!(details, want);

    // `"current_iso": "empty"` is EDIS's way of saying that no ISO is mounted.
    let mount = GetMount::new(fresh)
        .decode_response(response(200, None, spec("get_mount.200.json")))
        .unwrap();
    assert_eq!(mount, MountStatus::new(None));
    assert!(!mount.is_mounted());
    assert_eq!(mount.current_iso_text(), "empty");
    let mounted = GetMount::new(fresh)
        .decode_response(response(
            200,
            None,
            r#"{"status":"success","current_iso":"debian-12.5.0-amd64-netinst.iso"}"#,
        ))
        .unwrap();
    assert_eq!(
        mounted.current_iso.as_deref(),
        Some("debian-12.5.0-amd64-netinst.iso")
    );
}

/// Decodes `file` as the answer to `op` with `status` and returns what the provider said.
fn provider_error<O: Operation>(op: &O, status: u16, file: &str) -> ProviderError
where
    O::Output: std::fmt::Debug,
{
    match op.decode_response(response(status, Some("req-1"), spec(file))) {
        Err(ResponseError::Provider(e)) => e,
        other => panic!("{file}: expected a provider error, got {other:?}"),
    }
}

#[test]
fn spec_error_answers() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let create = CreateSession::new(EdisCredentials::new("a@b", "c").unwrap());
    let input = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new("x").unwrap(),
    );
    let reinstall = Reinstall::new(fresh, input);
    let images = GetImages::new(fresh);
    let power = GetPower::new(fresh);
    let on = PowerOn::new(fresh);
    let off = PowerOff::new(fresh);
    let details = GetDetails::new(fresh);
    let reset = HardReset::new(fresh);
    let mount = GetMount::new(fresh);

    // (operation, status, expected code, expected message)
    let session_errors = [
        (400, "Invalid parameters provided."),
        (401, "Invalid or expired session signature."),
        (403, "Access to this resource is denied."),
        (500, "An unexpected error occurred on the server."),
    ];
    let power_errors = [
        (400, "Missing required parameter: kvm_id"),
        (401, "Invalid authentication token"),
        (403, "Access to this resource is denied"),
        (500, "An unexpected error occurred on the server"),
    ];
    let mut cases: Vec<(String, u16, Option<String>, String, ProviderError)> = Vec::new();
    let mut add = |name: &str, status: u16, code: bool, message: &str, err: ProviderError| {
        cases.push((
            name.to_owned(),
            status,
            code.then(|| status.to_string()),
            message.to_owned(),
            err,
        ));
    };
    for (status, message) in [
        (
            400,
            "Invalid credentials or missing parameters.: Please check your input and try again.",
        ),
        (
            401,
            "Unauthorized: Invalid WHMCS credentials. Please provide correct credentials.",
        ),
        (
            500,
            "Internal Server Error: An unexpected error occurred. Please try again later.",
        ),
    ] {
        let file = format!("create_session.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&create, status, &file),
        );
    }
    for (status, message) in session_errors {
        let file = format!("get_images.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&images, status, &file),
        );
        let file = format!("reinstall.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&reinstall, status, &file),
        );
    }
    for (status, message) in power_errors {
        let file = format!("get_power.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&power, status, &file),
        );
        let file = format!("power_on.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&on, status, &file),
        );
        let file = format!("power_off.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&off, status, &file),
        );
    }
    for (status, message) in [
        (400, "Missing required parameter: kvm_id"),
        (401, "Invalid session signature"),
        (403, "Access to this resource is denied"),
        (500, "An unexpected error occurred. Please try again later"),
    ] {
        let file = format!("get_details.{status}.json");
        add(
            &file,
            status,
            false,
            message,
            provider_error(&details, status, &file),
        );
    }
    for (status, message) in [
        (400, "Missing or invalid parameters."),
        (401, "Invalid or expired session."),
        (403, "You do not have permission to access this resource."),
        (500, "An unexpected error occurred."),
    ] {
        let file = format!("hard_reset.{status}.json");
        add(
            &file,
            status,
            true,
            message,
            provider_error(&reset, status, &file),
        );
    }
    for (status, message) in [
        (400, "Invalid input: 'kvm_id' is required"),
        (401, "Session signature expired or invalid"),
        (403, "You do not have permission to access this resource"),
        (500, "An unexpected error occurred. Please try again later"),
    ] {
        let file = format!("get_mount.{status}.json");
        add(
            &file,
            status,
            false,
            message,
            provider_error(&mount, status, &file),
        );
    }
    assert_eq!(cases.len(), 35);
    for (file, status, code, message, err) in cases {
        assert_eq!(err.status, status, "{file}");
        assert_eq!(err.code, code, "{file}");
        assert_eq!(err.message, message, "{file}");
        assert_eq!(err.request_id.as_deref(), Some("req-1"), "{file}");
        assert_eq!(err.provider, reimage_core::Provider::Edis, "{file}");
    }
}

#[test]
fn a_200_that_is_not_a_success_is_a_provider_error() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let err = provider_error(&GetDetails::new(fresh), 200, "get_details.401.json");
    assert_eq!(
        (err.status, err.message.as_str()),
        (200, "Invalid session signature")
    );
    let err = provider_error(&PowerOn::new(fresh), 200, "power_on.403.json");
    assert_eq!((err.status, err.code.as_deref()), (200, Some("403")));
    let err = GetPower::new(fresh)
        .decode_response(response(200, None, r#"{"status":"busy"}"#))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "EDIS answered 200: the answer's status is \"busy\", not \"success\""
    );
}

#[test]
fn an_unreadable_success_is_a_decode_error() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let cases: [(&str, Result<(), ResponseError>); 7] = [
        (
            r#"{"status":"success","data":"debian"}"#,
            GetImages::new(fresh)
                .decode_response(response(
                    200,
                    None,
                    r#"{"status":"success","data":"debian"}"#,
                ))
                .map(drop),
        ),
        (
            r#"{"status":"success"}"#,
            GetPower::new(fresh)
                .decode_response(response(200, None, r#"{"status":"success"}"#))
                .map(drop),
        ),
        (
            r#"{"status":"success","data":{"suspended":"maybe"}}"#,
            GetDetails::new(fresh)
                .decode_response(response(
                    200,
                    None,
                    r#"{"status":"success","data":{"suspended":"maybe"}}"#,
                ))
                .map(drop),
        ),
        (
            r#"{"status":"success"}"#,
            GetMount::new(fresh)
                .decode_response(response(200, None, r#"{"status":"success"}"#))
                .map(drop),
        ),
        (
            r#"{"status":"success","reset_time":5}"#,
            HardReset::new(fresh)
                .decode_response(response(
                    200,
                    None,
                    r#"{"status":"success","reset_time":5}"#,
                ))
                .map(drop),
        ),
        (
            "<html>ok</html>",
            PowerOn::new(fresh).decode_response(response(200, None, "<html>ok</html>")),
        ),
        (
            r#"{"data":[]}"#,
            PowerOff::new(fresh).decode_response(response(204, None, r#"{"data":[]}"#)),
        ),
    ];
    for (body, got) in cases {
        match got {
            Err(ResponseError::Decode(e)) => assert!(e.problem.len() > 5, "{body}: {e}"),
            other => panic!("{body}: expected a decode error, got {other:?}"),
        }
    }
    let err = GetImages::new(fresh)
        .decode_response(response(
            200,
            Some("r-9"),
            r#"{"status":"success","data":"debian"}"#,
        ))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "edis.get_images: the EDIS answer (HTTP 200) could not be read: JSON of an unexpected shape \
         (invalid type: string \"…\", expected a sequence) at line 1 column 35 (request id r-9)"
    );
}

#[test]
fn every_request_reads_back() {
    let session = session();
    let fresh = session
        .ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let e = endpoint();
    for body in [
        GetImages::new(fresh).to_request(&e).unwrap().into_body(),
        GetPower::new(fresh).to_request(&e).unwrap().into_body(),
        PowerOn::new(fresh).to_request(&e).unwrap().into_body(),
        PowerOff::new(fresh).to_request(&e).unwrap().into_body(),
        GetDetails::new(fresh).to_request(&e).unwrap().into_body(),
        GetMount::new(fresh).to_request(&e).unwrap().into_body(),
        HardReset::new(fresh).to_request(&e).unwrap().into_body(),
    ] {
        let fields = GetDetails::from_form(&body).unwrap();
        assert_eq!(
            (
                fields.signature().expose_secret(),
                fields.kvm_id().as_str(),
                fields.valid_until_text()
            ),
            (SIGNATURE, KVM, VALID_UNTIL)
        );
        assert_eq!(fields.valid_until(), session.valid_until());
    }
    let op = CreateSession::new(EdisCredentials::new("ops@example.com", PASSWORD).unwrap())
        .with_kvm_id(kvm());
    let back =
        CreateSession::from_form(op.to_request(&session_endpoint()).unwrap().body()).unwrap();
    assert_eq!(back.credentials().email(), "ops@example.com");
    assert_eq!(back.credentials().pw().expose_secret(), PASSWORD);
    assert_eq!(back.kvm_id(), Some(&kvm()));
    // A reinstall form is not a power form.
    let input = EdisReinstall::new(
        EdisImage::new("debian-bullseye").unwrap(),
        RootPassword::new("x").unwrap(),
    );
    let body = Reinstall::new(fresh, input)
        .to_request(&e)
        .unwrap()
        .into_body();
    assert_eq!(GetPower::from_form(&body).unwrap_err().field(), "form");
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn image() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,40}"
}

/// Any password `RootPassword` takes: 1 to 40 characters that are not control characters.
fn password() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,40}"
}

proptest! {
    #[test]
    fn reinstall_round_trips(
        image in image(),
        password in password(),
        user_data in proptest::option::of("(\\PC|[\n\r\t]){0,200}"),
        signature in "[^\\p{Cc}]{1,40}",
        valid_until in "[0-9]{1,10}",
    ) {
        let session =
            EdisSession::new(API_HOST, kvm(), signature.as_str(), valid_until.as_str()).unwrap();
        let before = Timestamp::UNIX_EPOCH.plus_seconds(-100);
        let fresh = session.ensure_fresh(before, Duration::ZERO).unwrap();
        let mut input = EdisReinstall::new(
            EdisImage::new(image.as_str()).unwrap(),
            RootPassword::new(password.as_str()).unwrap(),
        );
        if let Some(user_data) = &user_data {
            input = input.with_user_data(UserData::from(user_data.as_str()));
        }
        let request = Reinstall::new(fresh, input).to_request(&endpoint()).unwrap();
        let (fields, back) = Reinstall::from_form(request.body()).unwrap();
        prop_assert_eq!(fields.signature().expose_secret(), signature.as_str());
        prop_assert_eq!(fields.kvm_id(), &kvm());
        prop_assert_eq!(fields.valid_until_text(), valid_until.as_str());
        prop_assert_eq!(back.image().as_str(), image.as_str());
        prop_assert_eq!(back.password().secret().expose_secret(), password.as_str());
        prop_assert_eq!(
            back.user_data().map(UserData::as_bytes),
            user_data.as_deref().map(str::as_bytes)
        );
    }

    #[test]
    fn create_session_round_trips(
        local in "[^\\p{Cc}\\s@]{1,20}",
        pw in "[^\\p{Cc}]{1,40}",
        with_kvm in any::<bool>(),
    ) {
        let email = format!("{local}@example.com");
        let creds = EdisCredentials::new(email.as_str(), pw.as_str()).unwrap();
        let mut op = CreateSession::new(creds);
        if with_kvm {
            op = op.with_kvm_id(kvm());
        }
        let request = op.to_request(&session_endpoint()).unwrap();
        let back = CreateSession::from_form(request.body()).unwrap();
        prop_assert_eq!(back.credentials().email(), email.as_str());
        prop_assert_eq!(back.credentials().pw().expose_secret(), pw.as_str());
        prop_assert_eq!(back.kvm_id().is_some(), with_kvm);
    }

    #[test]
    fn no_answer_makes_a_decoder_panic(
        status in 100u16..1000,
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "\\{\"status\":\"success\",\"data\":[\\[\\]{}\":,0-9a-z_ .-]{0,80}"
                .prop_map(String::into_bytes),
            "[\\[\\]{}\":,0-9a-z_ .-]{0,80}".prop_map(String::into_bytes),
        ],
    ) {
        let session = session();
        let fresh = session.ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN).unwrap();
        let answer = || response(status, None, body.clone());
        let creds = EdisCredentials::new("a@b", "c").unwrap();
        let _ = CreateSession::new(creds).decode_response(answer());
        let input = EdisReinstall::new(
            EdisImage::new("debian-bullseye").unwrap(),
            RootPassword::new("x").unwrap(),
        );
        let _ = Reinstall::new(fresh, input).decode_response(answer());
        let _ = GetImages::new(fresh).decode_response(answer());
        let _ = GetPower::new(fresh).decode_response(answer());
        let _ = PowerOn::new(fresh).decode_response(answer());
        let _ = PowerOff::new(fresh).decode_response(answer());
        let _ = GetDetails::new(fresh).decode_response(answer());
        let _ = GetMount::new(fresh).decode_response(answer());
        let _ = HardReset::new(fresh).decode_response(answer());
    }

    #[test]
    fn no_form_makes_a_reader_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = CreateSession::from_form(&body);
        let _ = Reinstall::from_form(&body);
        let _ = GetImages::from_form(&body);
        let _ = GetPower::from_form(&body);
        let _ = PowerOn::from_form(&body);
        let _ = PowerOff::from_form(&body);
        let _ = GetDetails::from_form(&body);
        let _ = GetMount::from_form(&body);
        let _ = HardReset::from_form(&body);
    }
}
