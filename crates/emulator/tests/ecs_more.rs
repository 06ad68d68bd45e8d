//! More of ECS as the real service behaves: the image service's query of one image
//! (`__support_fc_inject`), a system disk's encryption passed through to the server's metadata,
//! `enterprise_project_id` and a failed server's `fault` in its details, a yearly/monthly
//! server's change of OS through `PENDING_PAYMENT`, and an early `SUCCESS` whose `end_time` is
//! never a time still to come.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::Method;
use reimage_core::{EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, JobStatus, KeyPairName, UserId};
use reimage_emulator::{Config, FaultKind, FaultRule, Fixtures};
use reimage_wire::ecs::{ChangeOs, RebuildApi, ReinstallOs, ShowImage, ShowJob};

fn key_spec() -> EcsOsSpec {
    EcsOsSpec::builder()
        .keyname(KeyPairName::new("KeyPair-350b").unwrap())
        .userid(UserId::new(USER_ID).unwrap())
        .build()
        .unwrap()
}

/// The server's details as raw JSON (`server`).
async fn details(emu: &Emu, id: &str, token: &reimage_auth::Token) -> serde_json::Value {
    let mut request = plain(
        Method::GET,
        emu.addr,
        &format!("/v1/{PROJECT}/cloudservers/{id}"),
        "",
    );
    with_token(&mut request, token);
    let raw = emu.send(&request).await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    raw.json()["server"].clone()
}

#[tokio::test]
async fn the_image_service_says_which_images_have_cloud_init() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    for (id, api) in [
        (DEBIAN, RebuildApi::CloudInit),
        (NO_CLOUD_INIT, RebuildApi::Plain),
    ] {
        let image = emu
            .call(&ShowImage::new(ImageId::new(id).unwrap()), &token)
            .await
            .unwrap();
        assert_eq!(image.rebuild_api(), api, "{image:?}");
        assert_eq!(image.status.as_deref(), Some("active"));
    }
    // With AK/SK, the project comes from X-Project-Id; without credentials, the gateway refuses.
    let mut signed = plain(
        Method::GET,
        emu.addr,
        &format!("/v2/images/{NO_CLOUD_INIT}"),
        "",
    );
    emu.sign(&mut signed);
    let raw = emu.send(&signed).await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert_eq!(raw.json()["__support_fc_inject"], "true");
    let raw = emu
        .send(&plain(
            Method::GET,
            emu.addr,
            &format!("/v2/images/{DEBIAN}"),
            "",
        ))
        .await;
    assert_eq!(raw.status, 401, "{}", raw.text());
    let err = emu
        .call(
            &ShowImage::new(ImageId::new(UNKNOWN_SERVER).unwrap()),
            &token,
        )
        .await
        .unwrap_err();
    assert_eq!(err.provider_error().map(|p| p.status), Some(404), "{err}");
    let log = emu.admin_get("/_emulator/requests").await;
    assert!(
        log["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["operation"] == "ims.show_image"),
        "{log}"
    );
}

#[tokio::test]
async fn encryption_reaches_the_metadata_and_a_failed_server_shows_its_fault() {
    let emu = Emu::start().await;
    let token = emu.token().await;
    let cmk = "83cdb52d-9ebf-4469-9cfa-e7b5b80da846";
    let body = format!(
        r#"{{"os-change":{{"keyname":"KeyPair-350b","userid":"{USER_ID}","imageid":"{UBUNTU}","metadata":{{"__system__encrypted":"1","__system__cmkid":"{cmk}"}}}}}}"#
    );
    let mut request = plain(
        Method::POST,
        emu.addr,
        &format!("/v2/{PROJECT}/cloudservers/{STOPPED}/changeos"),
        &body,
    );
    with_token(&mut request, &token);
    let raw = emu.send(&request).await;
    assert_eq!(raw.status, 200, "{}", raw.text());
    let before = details(&emu, STOPPED, &token).await;
    assert!(before["metadata"].get("__system__encrypted").is_none());
    emu.advance(3600);
    let after = details(&emu, STOPPED, &token).await;
    assert_eq!(after["metadata"]["__system__encrypted"], "1", "{after}");
    assert_eq!(after["metadata"]["__system__cmkid"], cmk, "{after}");
    assert_eq!(after["enterprise_project_id"], "0", "{after}");
    assert!(after.get("fault").is_none(), "{after}");

    // A reinstall that fails leaves the server in ERROR, with the reason as its fault.
    emu.running.add_fault(
        FaultRule::new(FaultKind::JobFail {
            error_code: Some("Ecs.0010".to_owned()),
            fail_reason: Some("the disk could not be attached".to_owned()),
        })
        .operation("ecs.reinstallos"),
    );
    let op = ReinstallOs::new(project(), server(STOPPED_2), EcsReinstall::new(key_spec()));
    emu.call(&op, &token).await.unwrap();
    emu.advance(3600);
    let failed = details(&emu, STOPPED_2, &token).await;
    assert_eq!(failed["status"], "ERROR", "{failed}");
    assert_eq!(
        failed["fault"]["message"], "the disk could not be attached",
        "{failed}"
    );
    assert_eq!(failed["fault"]["code"], 500, "{failed}");
    assert!(failed["fault"]["created"].is_string(), "{failed}");
}

#[tokio::test]
async fn an_early_success_never_shows_an_end_time_still_to_come() {
    for kind in [FaultKind::EarlySuccess, FaultKind::SuccessFlap] {
        let emu = Emu::start().await;
        let token = emu.token().await;
        emu.running
            .add_fault(FaultRule::new(kind.clone()).operation("ecs.reinstallos"));
        let op = ReinstallOs::new(project(), server(STOPPED), EcsReinstall::new(key_spec()));
        let job_id = emu.call(&op, &token).await.unwrap();
        // A reinstall takes about 90 s at time scale 1: 55% of it reads SUCCESS under both.
        let mut seen = false;
        for _ in 0..120 {
            emu.advance(1);
            let job = emu
                .call(&ShowJob::new(project(), job_id.clone()), &token)
                .await
                .unwrap();
            if job.status == JobStatus::Success {
                seen = true;
                let end = job.end_time.expect("a finished job has an end_time");
                assert!(
                    end <= emu.now(),
                    "{kind:?}: end_time {end} after now {}",
                    emu.now()
                );
            }
        }
        assert!(seen, "{kind:?}: the job read SUCCESS");
    }
}

#[tokio::test]
async fn a_prepaid_servers_change_of_os_waits_for_payment_unless_auto_pay() {
    let text = include_str!("../fixtures/default.toml").replace(
        &format!("id = \"{STOPPED}\"\n"),
        &format!("id = \"{STOPPED}\"\nprepaid = true\n"),
    );
    let fixtures = Fixtures::from_toml_str(&text).unwrap();
    let emu = Emu::with(Config::builder().fixtures(fixtures)).await;
    let token = emu.token().await;
    for auto_pay in [false, true] {
        let image = if auto_pay { DEBIAN } else { UBUNTU };
        let input =
            EcsChangeOs::new(ImageId::new(image).unwrap(), key_spec()).with_auto_pay(auto_pay);
        let op = ChangeOs::new(project(), server(STOPPED), input);
        let job_id = emu.call(&op, &token).await.unwrap();
        let job = emu
            .call(&ShowJob::new(project(), job_id.clone()), &token)
            .await
            .unwrap();
        let server_now = details(&emu, STOPPED, &token).await;
        if auto_pay {
            assert_ne!(job.status, JobStatus::PendingPayment, "{job:?}");
        } else {
            assert_eq!(job.status, JobStatus::PendingPayment, "{job:?}");
            // Nothing happens to the server until the order is paid.
            assert_eq!(server_now["status"], "SHUTOFF", "{server_now}");
            assert_eq!(server_now["metadata"]["charging_mode"], "1");
        }
        emu.advance(3600);
        let job = emu
            .call(&ShowJob::new(project(), job_id), &token)
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Success, "{job:?}");
        let done = details(&emu, STOPPED, &token).await;
        assert_eq!(done["image"]["id"], image, "{done}");
        // Stop it again for the next round: the change of OS leaves it running.
        emu.call(
            &reimage_wire::ecs::BatchStop::new(
                project(),
                vec![server(STOPPED)],
                reimage_wire::ecs::StopType::Soft,
            ),
            &token,
        )
        .await
        .unwrap();
        emu.advance(3600);
    }
}
