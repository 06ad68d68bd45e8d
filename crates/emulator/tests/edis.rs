//! EDIS over real HTTP: the auth session pointing back at the emulator, the session checks and
//! their documented error bodies, images, power, details and the mounted ISO, and a reinstall that
//! powers the KVM off while it installs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::Method;
use reimage_auth::EdisCredentials;
use reimage_auth::edis::{DEFAULT_FRESHNESS_MARGIN, EdisSession};
use reimage_core::{EdisImage, EdisReinstall, KvmId, RootPassword};
use reimage_wire::edis::{
    CreateSession, GetDetails, GetImages, GetMount, GetPower, HardReset, MountStatus, PowerOff,
    PowerOn, PowerState, Reinstall,
};
use reimage_wire::{Endpoint, Operation};
use serde_json::json;

const KVM1: &str = "kvm_100001_200001";
const KVM2: &str = "kvm_100002_200002";

async fn sessions(emu: &Emu, kvm: Option<&str>) -> reimage_wire::edis::EdisSessions {
    let mut op =
        CreateSession::new(EdisCredentials::new("demo@example.com", "emulator-pw").unwrap());
    if let Some(kvm) = kvm {
        op = op.with_kvm_id(KvmId::new(kvm).unwrap());
    }
    let raw = emu.send(&op.to_request(&emu.endpoint()).unwrap()).await;
    op.decode_response(raw.response()).unwrap()
}

async fn session(emu: &Emu, kvm: &str) -> EdisSession {
    sessions(emu, Some(kvm))
        .await
        .get(&KvmId::new(kvm).unwrap())
        .unwrap()
        .clone()
}

/// Where the session's calls go: its `api_host`, over plain HTTP.
fn api(session: &EdisSession) -> Endpoint {
    Endpoint::from_host(false, session.api_host()).unwrap()
}

/// A session form body by hand, for the refusals the wire types cannot encode.
fn form(signature: &str, kvm: &str, valid_until: &str, rest: &str) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("signature", signature)
        .append_pair("kvm_id", kvm)
        .append_pair("valid_until", valid_until);
    let mut body = body.finish();
    if !rest.is_empty() {
        body.push('&');
        body.push_str(rest);
    }
    body
}

#[tokio::test]
async fn sessions_point_back_at_the_emulator() {
    let emu = Emu::start().await;
    let all = sessions(&emu, None).await;
    assert_eq!(all.len(), 2);
    for s in all.iter() {
        assert_eq!(s.api_host(), emu.addr.to_string());
        assert_eq!(s.valid_until().to_string(), "2025-01-01T01:00:00Z");
        assert!(s.ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN).is_ok());
    }
    let one = sessions(&emu, Some(KVM2)).await;
    assert_eq!(one.len(), 1);
    assert!(one.get(&KvmId::new(KVM2).unwrap()).is_some());

    // The raw answer: one entry per KVM.
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/kvm/v2/get/auth",
            "email=demo%40example.com&pw=emulator-pw",
        ))
        .await;
    assert_eq!(raw.status, 200);
    let body = raw.json();
    assert_eq!(body["status"], "success");
    let entry = &body["data"][KVM1];
    assert_eq!(entry["kvm_id"], KVM1);
    assert_eq!(entry["valid_until"], 1_735_693_200);
    assert!(entry["signature"].as_str().unwrap().len() >= 32);
    assert!(raw.header("x-request-id").is_some());
}

#[tokio::test]
async fn auth_refusals() {
    let emu = Emu::start().await;
    let cases = [
        ("email=demo%40example.com&pw=wrong", 401, "Unauthorized"),
        (
            "email=other%40example.com&pw=emulator-pw",
            401,
            "Unauthorized",
        ),
        (
            "email=demo%40example.com",
            400,
            "Invalid credentials or missing parameters.",
        ),
        (
            "email=demo%40example.com&pw=emulator-pw&kvm_id=kvm_9_9",
            400,
            "Invalid credentials or missing parameters.",
        ),
        (
            "email=demo%40example.com&pw=emulator-pw&extra=1",
            400,
            "Invalid credentials or missing parameters.",
        ),
    ];
    for (body, status, error) in cases {
        let raw = emu
            .send(&plain(Method::POST, emu.addr, "/kvm/v2/get/auth", body))
            .await;
        assert_eq!(raw.status, status, "{body}: {}", raw.text());
        let json = raw.json();
        assert_eq!(json["error"], error, "{body}");
        assert_eq!(json["code"], status, "{body}");
        assert!(json["message"].is_string(), "{body}");
    }
    let raw = emu
        .send(&plain(
            Method::POST,
            emu.addr,
            "/kvm/v2/get/auth",
            "email=demo%40example.com&pw=wrong",
        ))
        .await;
    assert_eq!(
        raw.json()["message"],
        "Invalid WHMCS credentials. Please provide correct credentials."
    );
}

#[tokio::test]
async fn images_power_and_details() {
    let emu = Emu::start().await;
    let s2 = session(&emu, KVM2).await;
    let fresh = s2
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let send = |op_request: http::Request<bytes::Bytes>| {
        let emu = &emu;
        async move { emu.send(&op_request).await.response() }
    };

    let op = GetImages::new(fresh);
    let images = op
        .decode_response(send(op.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    for name in [
        "debian-bullseye",
        "cloudinit_debian-bookworm",
        "cloudinit_ubuntu-lts-24-04",
        "windows-11",
    ] {
        assert!(images.contains(&EdisImage::new(name).unwrap()), "{name}");
    }
    assert!(images.unusable.is_empty());

    let power = GetPower::new(fresh);
    let state = power
        .decode_response(send(power.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    assert_eq!(state.state, PowerState::Off);
    assert_eq!(state.traffic_suspended, Some(false));
    let on = PowerOn::new(fresh);
    on.decode_response(send(on.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    let state = power
        .decode_response(send(power.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    assert_eq!(state.state, PowerState::On);
    let off = PowerOff::new(fresh);
    off.decode_response(send(off.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    let state = power
        .decode_response(send(power.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    assert_eq!(state.state, PowerState::Off);

    let details = GetDetails::new(fresh);
    let d = details
        .decode_response(send(details.to_request(&api(&s2)).unwrap()).await)
        .unwrap();
    assert_eq!(d.hostname.as_deref(), Some("emulator-kvm-2"));
    assert_eq!(d.suspended, Some(false));
    assert_eq!(d.hardware.ram, Some(4096));
    assert_eq!(d.network.ipv4, ["198.51.100.22/255.255.255.0"]);

    let state = emu.admin_get("/_emulator/state").await;
    let kvm = &state["edis"]["kvms"][1];
    assert_eq!(
        (
            kvm["power_ons_applied"].as_u64(),
            kvm["power_offs_applied"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_hard_reset_power_cycles_the_kvm() {
    let emu = Emu::start().await;
    let s2 = session(&emu, KVM2).await;
    let fresh = s2
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let reset = HardReset::new(fresh);
    let at = reset
        .decode_response(
            emu.send(&reset.to_request(&api(&s2)).unwrap())
                .await
                .response(),
        )
        .unwrap();
    assert_eq!(at, Some(emu.now()));
    let power = GetPower::new(fresh);
    let state = power
        .decode_response(
            emu.send(&power.to_request(&api(&s2)).unwrap())
                .await
                .response(),
        )
        .unwrap();
    assert_eq!(state.state, PowerState::On, "a reset KVM runs");
    let kvm = emu.admin_get("/_emulator/state").await["edis"]["kvms"][1].clone();
    assert_eq!(kvm["resets_applied"], 1);
}

#[tokio::test]
async fn mount_details_say_no_iso_is_mounted() {
    let emu = Emu::start().await;
    let s1 = session(&emu, KVM1).await;
    let fresh = s1
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let mount = GetMount::new(fresh);
    let raw = emu.send(&mount.to_request(&api(&s1)).unwrap()).await;
    assert_eq!(raw.status, 200);
    // The spec's example answer, word for word.
    assert_eq!(
        raw.json(),
        json!({"status": "success", "current_iso": "empty"})
    );
    assert_eq!(
        mount.decode_response(raw.response()).unwrap(),
        MountStatus::new(None)
    );
    let kvm = emu.admin_get("/_emulator/state").await["edis"]["kvms"][0].clone();
    assert_eq!(kvm["kvm_id"], KVM1);
    assert_eq!(kvm["mounted_iso"], json!(null));
    let log = emu.admin_get("/_emulator/requests").await;
    let last = log["requests"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["operation"], "edis.get_mount");

    // Another KVM's session is denied, as for every session call.
    let s2 = session(&emu, KVM2).await;
    let body = form(
        secrecy::ExposeSecret::expose_secret(s2.signature()),
        KVM1,
        s2.valid_until_text(),
        "",
    );
    let raw = emu
        .send(&plain(Method::POST, emu.addr, GetMount::PATH, &body))
        .await;
    assert_eq!(raw.status, 403, "{}", raw.text());
}

#[tokio::test]
async fn a_reinstall_powers_off_then_runs_the_new_image() {
    let emu = Emu::start().await;
    let s1 = session(&emu, KVM1).await;
    let fresh = s1
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let user_data = "#cloud-config\nssh_pwauth: false\n";
    let input = EdisReinstall::new(
        EdisImage::new("cloudinit_ubuntu-lts-24-04").unwrap(),
        RootPassword::new("a root password").unwrap(),
    )
    .with_user_data(user_data.into());
    let op = Reinstall::new(fresh, input.clone());
    let raw = emu.send(&op.to_request(&api(&s1)).unwrap()).await;
    assert_eq!(raw.json(), json!({"status": "success"}));
    op.decode_response(raw.response()).unwrap();

    let power = GetPower::new(fresh);
    let state = power
        .decode_response(
            emu.send(&power.to_request(&api(&s1)).unwrap())
                .await
                .response(),
        )
        .unwrap();
    assert_eq!(state.state, PowerState::Off);
    // Busy while it installs.
    for request in [
        op.to_request(&api(&s1)).unwrap(),
        PowerOn::new(fresh).to_request(&api(&s1)).unwrap(),
    ] {
        let raw = emu.send(&request).await;
        assert_eq!(
            (raw.status, raw.json()["code"].as_u64()),
            (400, Some(400)),
            "{}",
            raw.text()
        );
    }
    let kvm = emu.admin_get("/_emulator/state").await["edis"]["kvms"][0].clone();
    assert_eq!(kvm["image"], "cloudinit_debian-bookworm");
    assert_eq!(kvm["installing"]["image"], "cloudinit_ubuntu-lts-24-04");

    emu.advance(300);
    let fresh = s1
        .ensure_fresh(emu.now(), DEFAULT_FRESHNESS_MARGIN)
        .unwrap();
    let power = GetPower::new(fresh);
    let state = power
        .decode_response(
            emu.send(&power.to_request(&api(&s1)).unwrap())
                .await
                .response(),
        )
        .unwrap();
    assert_eq!(state.state, PowerState::On);
    let kvm = emu.admin_get("/_emulator/state").await["edis"]["kvms"][0].clone();
    assert_eq!(kvm["image"], "cloudinit_ubuntu-lts-24-04");
    assert_eq!(kvm["installing"], serde_json::Value::Null);
    assert_eq!(kvm["reinstalls_applied"], 1);
    assert_eq!(kvm["user_data_bytes"], user_data.len());
}

#[tokio::test]
async fn session_refusals() {
    let emu = Emu::start().await;
    let s1 = session(&emu, KVM1).await;
    let s2 = session(&emu, KVM2).await;
    let sig = secrecy::ExposeSecret::expose_secret(s1.signature()).to_owned();
    let until = s1.valid_until_text().to_owned();
    let power = "/kvm/v2/get/power";
    let reinstall = "/kvm/v2/set/reinstall";
    let expired = r#"{"error":"Invalid or expired session signature.","code":401}"#;
    let denied = r#"{"error":"Access to this resource is denied.","code":403}"#;
    // (what, path, body, status, exact body or an error text)
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "wrong signature",
            power,
            form("not-a-signature", KVM1, &until, ""),
            401,
            expired,
        ),
        (
            "changed valid_until",
            power,
            form(&sig, KVM1, "1999999999", ""),
            401,
            expired,
        ),
        (
            "another KVM's session",
            power,
            form(&sig, KVM2, &until, ""),
            403,
            denied,
        ),
        (
            "an unknown KVM",
            power,
            form(&sig, "kvm_999_999", &until, ""),
            403,
            denied,
        ),
        (
            "missing signature",
            power,
            format!("kvm_id={KVM1}&valid_until={until}"),
            400,
            r#"{"error":"Missing required parameter: signature","code":400}"#,
        ),
        (
            "unknown field",
            power,
            form(&sig, KVM1, &until, "image=x"),
            400,
            "Invalid parameters provided.",
        ),
        (
            "malformed kvm_id",
            power,
            form(&sig, "kvm-1", &until, ""),
            400,
            "Invalid parameters provided.",
        ),
        (
            "an image not offered",
            reinstall,
            form(&sig, KVM1, &until, "image=freebsd-14&password=pw"),
            400,
            "Invalid parameters provided.",
        ),
        (
            "missing password",
            reinstall,
            form(&sig, KVM1, &until, "image=debian-bullseye"),
            400,
            r#"{"error":"Missing required parameter: password","code":400}"#,
        ),
    ];
    for (what, path, body, status, expected) in cases {
        let raw = emu.send(&plain(Method::POST, emu.addr, path, &body)).await;
        assert_eq!(raw.status, status, "{what}: {}", raw.text());
        if expected.starts_with('{') {
            assert_eq!(
                raw.json(),
                serde_json::from_str::<serde_json::Value>(expected).unwrap(),
                "{what}"
            );
        } else {
            assert_eq!(raw.json()["error"], expected, "{what}");
        }
        assert!(raw.header("x-request-id").is_some(), "{what}");
    }
    let raw = emu.send(&plain(Method::GET, emu.addr, power, "")).await;
    assert_eq!(raw.status, 405);
    let raw = emu
        .send(&plain(Method::POST, emu.addr, "/kvm/v2/get/nothing", ""))
        .await;
    assert_eq!(raw.status, 404);

    // An expired session, through the wire decoder.
    emu.advance(3600);
    let fresh = s2
        .ensure_fresh(emu.now().plus_seconds(-3600), std::time::Duration::ZERO)
        .unwrap();
    let op = GetPower::new(fresh);
    let raw = emu.send(&op.to_request(&api(&s2)).unwrap()).await;
    assert_eq!(raw.status, 401);
    assert_eq!(
        raw.json(),
        serde_json::from_str::<serde_json::Value>(expired).unwrap()
    );
    let err = op.decode_response(raw.response()).unwrap_err();
    let provider = err.provider_error().unwrap();
    assert_eq!(
        (provider.status, provider.code.as_deref()),
        (401, Some("401"))
    );
    assert_eq!(provider.message, "Invalid or expired session signature.");
    // Nothing was applied.
    let state = emu.admin_get("/_emulator/state").await;
    assert_eq!(state["edis"]["kvms"][0]["reinstalls_applied"], 0);
}
