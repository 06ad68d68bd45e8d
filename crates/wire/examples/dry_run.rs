//! The main job without the network: prints, byte for byte, the requests that an EDIS reinstall
//! and an ECS change of OS send, with every secret replaced by `[REDACTED]`.
//!
//! Run it with `cargo run -q -p reimage-wire --example dry_run`. The session answer, the ids and
//! the credentials are the documented examples; the clock is fixed, so the output is the same on
//! every machine.

use std::error::Error;

use bytes::Bytes;
use reimage_auth::aksk::{self, AkSk};
use reimage_auth::edis::DEFAULT_FRESHNESS_MARGIN;
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EdisImage, EdisReinstall, ImageId, KvmId, ProjectId,
    RootPassword, ServerId, Timestamp, UserData,
};
use reimage_wire::{Endpoint, Operation, ecs, edis};
use secrecy::SecretString;

const USER_DATA: &str = "#cloud-config\nssh_pwauth: false\nusers:\n  - name: ops\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@example\n";

const EDIS_ROOT_PASSWORD: &str = "p@ss +&= word";
const ECS_ADMIN_PASSWORD: &str = "Sup3r-secret";

fn main() -> Result<(), Box<dyn Error>> {
    let now = Timestamp::parse("2025-01-21T16:00:00Z")?;

    // EDIS: the auth answer gives a session; it is checked fresh before anything is encoded.
    let auth_answer = http::Response::builder().status(200).body(Bytes::from_static(
        br#"{"data":{"kvm_12345_67890":{"api_host":"12345.edisglobal.com","kvm_id":"kvm_12345_67890","valid_until":1737476000,"signature":"session_signature_12345"}},"status":"success"}"#,
    ))?;
    let sessions = edis::decode_sessions(&auth_answer)?;
    let session = sessions.pick(&KvmId::new("kvm_12345_67890")?)?;
    let fresh = session.ensure_fresh(now, DEFAULT_FRESHNESS_MARGIN)?;
    let input = EdisReinstall::new(
        EdisImage::new("cloudinit_debian-bookworm")?,
        RootPassword::new(EDIS_ROOT_PASSWORD)?,
    )
    .with_user_data(UserData::from(USER_DATA));
    let reinstall = edis::Reinstall::new(fresh, input);
    let request = reinstall.to_request(&edis::api_endpoint(session)?)?;
    print_request(
        edis::Reinstall::NAME,
        &request,
        &["session_signature_12345", EDIS_ROOT_PASSWORD],
    );

    // ECS: a change of OS with a password, stopping the server first, signed with AK/SK.
    let project = ProjectId::new("0123456789abcdef0123456789abcdef")?;
    let spec = EcsOsSpec::builder()
        .adminpass(AdminPassword::new(ECS_ADMIN_PASSWORD)?)
        .user_data(UserData::from(USER_DATA))
        .stop_server(true)
        .build()?;
    let change = ecs::ChangeOs::new(
        project.clone(),
        ServerId::new("11111111-2222-3333-4444-555555555555")?,
        EcsChangeOs::new(ImageId::new("e215580f-73ad-429d-b6f2-5433947433b0")?, spec),
    );
    let mut request =
        change.to_request(&Endpoint::parse("https://ecs.eu-de.otc.t-systems.com")?)?;
    let creds = AkSk::new("AKEXAMPLE", SecretString::from("SKEXAMPLE"))?;
    aksk::sign(&mut request, &creds, &project, now)?;
    print_request(ecs::ChangeOs::NAME, &request, &[ECS_ADMIN_PASSWORD]);
    Ok(())
}

/// Prints a request with sensitive headers redacted, and in the body each of `secrets` (as it
/// stands on the wire: plain in JSON, form-encoded in a form) replaced by `[REDACTED]`. Every other
/// byte is printed as it is sent.
#[allow(clippy::print_stdout)]
fn print_request(name: &str, request: &http::Request<Bytes>, secrets: &[&str]) {
    println!("# {name}");
    println!("{} {}", request.method(), request.uri());
    for (header, value) in request.headers() {
        let shown = if value.is_sensitive() {
            "[REDACTED]"
        } else {
            value.to_str().unwrap_or("[binary]")
        };
        println!("{header}: {shown}");
    }
    println!();
    let mut body = String::from_utf8_lossy(request.body()).into_owned();
    for secret in secrets {
        let form_encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        body = body
            .replace(&form_encoded, "[REDACTED]")
            .replace(secret, "[REDACTED]");
    }
    println!("{body}");
    println!();
}
