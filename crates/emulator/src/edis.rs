//! EDIS Global KVM: the auth session, and the session calls (images, reinstall, power, details,
//! mount) that check it.
//!
//! Bodies are read with `reimage-wire`'s `from_form` readers, which refuse missing, repeated and
//! unknown fields. The session a call carries must be one the emulator issued: the same
//! `signature`, the same `valid_until` text, not expired, for the same `kvm_id`.

use http::{Method, StatusCode};
use reimage_core::ValidationError;
use reimage_wire::edis::{
    CreateSession, EdisRoute, GetPower, MountStatus, Reinstall, SessionFields,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::config::valid_host;
use crate::handler::{Ctx, Handled, LogAuth};
use crate::reply::{PLAIN_JSON, Reply, edis_error};
use crate::state::{Install, KEEP, SessionRecord, World};
use crate::util::{after, same_secret};

/// The operation a path is, by `reimage-wire`'s names (`edis.unknown` for no route).
pub(crate) fn operation_name(path: &str) -> &'static str {
    EdisRoute::parse(path).map_or("edis.unknown", EdisRoute::name)
}

/// Handles every `/kvm/...` path.
pub(crate) fn handle(world: &mut World, ctx: &Ctx<'_>) -> Handled {
    let Some(route) = EdisRoute::parse(ctx.request.uri().path()) else {
        return Handled::new(edis_error(404, "Not Found", None));
    };
    if ctx.request.method() != Method::POST {
        return Handled::new(edis_error(405, "Method Not Allowed", None));
    }
    if route == EdisRoute::CreateSession {
        return create_session(world, ctx);
    }
    let body = ctx.request.body();
    let (fields, reinstall) = if route == EdisRoute::Reinstall {
        match Reinstall::from_form(body) {
            Ok((fields, input)) => (fields, Some(input)),
            Err(e) => return Handled::new(bad_form(&e)),
        }
    } else {
        // Every other session call takes the session alone.
        match GetPower::from_form(body) {
            Ok(fields) => (fields, None),
            Err(e) => return Handled::new(bad_form(&e)),
        }
    };
    let auth = LogAuth::scheme("edis_session").text("kvm_id", fields.kvm_id().as_str());
    let index = match check_session(world, ctx, &fields) {
        Ok(index) => index,
        Err(reply) => return Handled::new(reply).with_auth(auth),
    };
    let reply = match (route, reinstall) {
        (_, Some(input)) => reinstall_kvm(world, ctx, index, &input),
        (EdisRoute::GetImages, None) => {
            let images: Vec<&str> = world
                .fixtures
                .edis
                .images
                .iter()
                .map(|i| i.as_str())
                .collect();
            success(json!({ "data": images }))
        }
        (EdisRoute::GetPower, None) => {
            let kvm = &world.kvms[index];
            let on = kvm.powered_on && kvm.install.is_none();
            success(json!({
                "data": if on { "server powered on" } else { "server powered off" },
                "traffic_suspended": false,
            }))
        }
        (EdisRoute::PowerOn | EdisRoute::PowerOff, None) => {
            let kvm = &mut world.kvms[index];
            if kvm.install.is_some() {
                edis_error(
                    400,
                    "A reinstall is in progress; try again when it is done.",
                    None,
                )
            } else if route == EdisRoute::PowerOn {
                kvm.powered_on = true;
                kvm.counters.power_ons += 1;
                success(json!({}))
            } else {
                kvm.powered_on = false;
                kvm.counters.power_offs += 1;
                success(json!({}))
            }
        }
        (EdisRoute::HardReset, None) => {
            let kvm = &mut world.kvms[index];
            if kvm.install.is_some() {
                edis_error(
                    400,
                    "A reinstall is in progress; try again when it is done.",
                    None,
                )
            } else {
                // A hard reset is a power cycle: the KVM runs afterwards.
                kvm.powered_on = true;
                kvm.counters.resets += 1;
                let at = ctx
                    .now
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                success(json!({ "reset_time": at }))
            }
        }
        (EdisRoute::GetMount, None) => {
            // EDIS writes `"empty"` when no ISO is mounted, as its example answer does.
            let mount = MountStatus::new(world.kvms[index].mounted_iso.clone());
            success(json!({ "current_iso": mount.current_iso_text() }))
        }
        (EdisRoute::GetDetails, None) => details(world, index),
        // Every route has its arm above; a new one without an arm is answered as what it is,
        // not as another operation's answer.
        (other, _) => edis_error(
            501,
            &format!("the emulator does not implement {} yet", other.name()),
            None,
        ),
    };
    Handled::new(reply).with_auth(auth)
}

/// `{"status":"success", ...}` with the fields of `rest`.
fn success(rest: Value) -> Reply {
    let mut map = match rest {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    map.insert("status".into(), json!("success"));
    Reply::json(StatusCode::OK, PLAIN_JSON, &Value::Object(map))
}

/// 400 for a form `from_form` refused; the message names the field, never a value.
fn bad_form(error: &ValidationError) -> Reply {
    if error.problem().starts_with("is missing") {
        edis_error(
            400,
            &format!("Missing required parameter: {}", error.field()),
            None,
        )
    } else {
        edis_error(400, "Invalid parameters provided.", Some(error.to_string()))
    }
}

fn create_session(world: &mut World, ctx: &Ctx<'_>) -> Handled {
    let op = match CreateSession::from_form(ctx.request.body()) {
        Ok(op) => op,
        Err(e) => {
            return Handled::new(edis_error(
                400,
                "Invalid credentials or missing parameters.",
                Some(e.to_string()),
            ));
        }
    };
    let account = &world.fixtures.edis;
    let email_ok = op
        .credentials()
        .email()
        .eq_ignore_ascii_case(&account.email);
    let pw_ok = same_secret(
        op.credentials().pw().expose_secret().as_bytes(),
        account.password.expose_secret().as_bytes(),
    );
    if !(email_ok && pw_ok) {
        return Handled::new(edis_error(
            401,
            "Unauthorized",
            Some("Invalid WHMCS credentials. Please provide correct credentials.".into()),
        ))
        .with_auth(LogAuth::scheme("password").flag("verified", false));
    }
    let auth = LogAuth::scheme("password").text("email", account.email.as_str());
    let wanted: Vec<usize> = match op.kvm_id() {
        Some(kvm) => match world.kvms.iter().position(|k| &k.fixture.id == kvm) {
            Some(i) => vec![i],
            None => {
                return Handled::new(edis_error(
                    400,
                    "Invalid credentials or missing parameters.",
                    Some(format!("{kvm} is not a KVM of this account.")),
                ))
                .with_auth(auth);
            }
        },
        None => (0..world.kvms.len()).collect(),
    };
    let api_host = api_host(ctx);
    let lifetime = ctx
        .flags
        .short_lived
        .unwrap_or(ctx.config.edis_session_lifetime);
    let valid_until = after(ctx.now, lifetime).unix_timestamp();
    let expires_at =
        OffsetDateTime::from_unix_timestamp(valid_until).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut data = Map::new();
    for i in wanted {
        let signature = format!("{}{}", world.ids.hex32(), world.ids.hex32());
        let serial = world.next_serial();
        let kvm = &world.kvms[i];
        let kvm_id = kvm.fixture.id.as_str().to_owned();
        data.insert(
            kvm_id.clone(),
            json!({
                "api_host": api_host,
                "api_rdns": api_host,
                "kvm_id": kvm_id,
                "valid_until": valid_until,
                "signature": signature,
                "suspended": if kvm.fixture.suspended { "y" } else { "n" },
                "description": kvm.fixture.description,
                "lps": "01",
                "lps_ispremium": false,
            }),
        );
        if world.sessions.len() >= KEEP {
            world.sessions.remove(0);
        }
        world.sessions.push(SessionRecord {
            serial,
            signature,
            kvm_id,
            valid_until_text: valid_until.to_string(),
            issued_at: ctx.now,
            expires_at,
        });
    }
    Handled::new(success(json!({ "data": data }))).with_auth(auth)
}

/// Where the sessions point: the configured host, else the `Host` the call came to, else the
/// listen address.
fn api_host(ctx: &Ctx<'_>) -> String {
    if let Some(host) = &ctx.config.edis_api_host {
        return host.clone();
    }
    ctx.request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| valid_host(h))
        .map(str::to_owned)
        .unwrap_or_else(|| ctx.local_addr.to_string())
}

const BAD_SESSION: &str = "Invalid or expired session signature.";

/// The KVM of a valid session, or the answer that refuses it.
fn check_session(world: &mut World, ctx: &Ctx<'_>, fields: &SessionFields) -> Result<usize, Reply> {
    let presented = fields.signature().expose_secret().as_bytes();
    let Some(session) = world
        .sessions
        .iter_mut()
        .find(|s| same_secret(s.signature.as_bytes(), presented))
    else {
        return Err(edis_error(401, BAD_SESSION, None));
    };
    if session.valid_until_text != fields.valid_until_text() {
        return Err(edis_error(401, BAD_SESSION, None));
    }
    if ctx.flags.expire_credentials && session.expires_at > ctx.now {
        session.expires_at = ctx.now;
    }
    if session.expires_at <= ctx.now {
        return Err(edis_error(401, BAD_SESSION, None));
    }
    if session.kvm_id != fields.kvm_id().as_str() {
        return Err(edis_error(403, "Access to this resource is denied.", None));
    }
    world
        .kvms
        .iter()
        .position(|k| k.fixture.id == *fields.kvm_id())
        .ok_or_else(|| edis_error(403, "Access to this resource is denied.", None))
}

fn reinstall_kvm(
    world: &mut World,
    ctx: &Ctx<'_>,
    index: usize,
    input: &reimage_core::EdisReinstall,
) -> Reply {
    if !world.fixtures.edis.images.contains(input.image()) {
        return edis_error(
            400,
            "Invalid parameters provided.",
            Some(format!(
                "image {} is not available for this KVM; list the images with /kvm/v2/get/images",
                input.image()
            )),
        );
    }
    let until = after(
        ctx.now,
        ctx.config.scaled(ctx.config.timings.edis_reinstall),
    );
    let kvm = &mut world.kvms[index];
    if kvm.install.is_some() {
        return edis_error(
            400,
            "A reinstall is already in progress; try again when it is done.",
            None,
        );
    }
    kvm.install = Some(Install {
        image: input.image().clone(),
        started: ctx.now,
        until,
        fail: ctx.flags.job_fail.is_some(),
        user_data_bytes: input.user_data().map(reimage_core::UserData::len),
        // cloud-init installs the host key that `ssh_keys` gives; else the system makes one.
        host_key: input
            .user_data()
            .filter(|_| input.image().runs_cloud_init())
            .and_then(|d| std::str::from_utf8(d.as_bytes()).ok())
            .and_then(reimage_hostkeys::inject::injected_key)
            .map_or_else(
                || crate::console::HostKey::new(&kvm.fixture.hostname),
                crate::console::HostKey::given,
            ),
    });
    kvm.powered_on = false;
    kvm.counters.reinstalls += 1;
    world.installs.insert((until, index));
    success(json!({}))
}

fn details(world: &World, index: usize) -> Reply {
    let k = &world.kvms[index].fixture;
    success(json!({
        "data": {
            "hw": {
                "ram": k.ram_mib.to_string(),
                "disk": k.disk_mib.to_string(),
                "cpu_set_cores": "socket",
                "drive_boost": "102400",
            },
            "suspended": if k.suspended { "y" } else { "n" },
            "ip": {
                // A KVM with a real SSH endpoint is reached on loopback, never on its fixture
                // address.
                "ipv4": if world.ssh.iter().any(|e| e.server_id == k.id.as_str()) {
                    vec![format!("{}/255.255.255.0", crate::sshd::LOOPBACK)]
                } else {
                    k.ipv4.clone()
                },
                "ipv4_gw": k.ipv4_gateway,
                "ipv4_nm": k.ipv4_netmask.clone().unwrap_or_else(|| "255.255.255.0".to_owned()),
                "ipv6_gw": k.ipv6_gateway,
                "ipv6_64": k.ipv6_64,
            },
            "hostname": k.hostname,
        }
    }))
}
