//! ECS behind its API gateway: authentication (IAM token or AK/SK), reinstall and change of OS
//! with their documented constraints, batch stop and start, server details and the job query.
//!
//! Requests are read with `reimage-wire`'s own definitions: [`EcsRoute::parse`] for the path,
//! [`ReinstallBody`], [`ChangeOsBody`] and [`ActionBody`] for the bodies,
//! [`Metadata::decode_user_data`] for the user data, and [`AdminPassword`] for the password rules.

use http::{HeaderMap, StatusCode};
use reimage_auth::aksk::{self, VerifyError};
use reimage_core::{AdminPassword, ImageId, KeyPairName, ServerId, Timestamp, UserId};
use reimage_wire::Operation;
use reimage_wire::ecs::{
    ActionBody, BatchStart, BatchStop, ChangeOs, ChangeOsBody, ChangeOsWithoutCloudInit,
    ConsoleLength, EcsRoute, ImsRoute, ListServers, MODE_WITH_STOP_SERVER, Metadata, ReinstallBody,
    ReinstallOs, ReinstallOsWithoutCloudInit, SUPPORT_FC_INJECT, ShowConsoleOutput, ShowImage,
    ShowJob, ShowServer,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::handler::{Ctx, Handled, LogAuth};
use crate::reply::{HUAWEI_JSON, Reply, ecs_error, gateway_error};
use crate::server_doc::{ListServersDoc, ServerDoc, ShowServerDoc, server_doc};
use crate::state::{Job, JobAnswer, JobKind, OsEffect, Phase, Server, World};
use crate::util::{same_secret, sdk_time};

/// The most servers one batch action takes.
const MAX_BATCH: usize = 1000;

const INVALID: &str = "Invalid parameter values. Contact customer service.";

/// How long an unpaid order of a yearly/monthly server's change of OS waits before someone pays
/// it (the emulator's own choice), before the time scale.
const PAYMENT_DELAY: std::time::Duration = std::time::Duration::from_secs(60);

/// The refusal of a password in a region that takes only key pairs with cloud-init images.
pub(crate) const KEYPAIR_ONLY: &str = "Invalid parameter values. Contact customer service. (this \
     region does not support the password mode for a server with Cloud-Init: use the keypair \
     mode, keyname and userid)";

/// The operation a call to `path` (`route` is [`EcsRoute::parse`] of it) is, by `reimage-wire`'s
/// names; the body tells stop from start.
pub(crate) fn operation_name(path: &str, route: Option<&EcsRoute>, body: &[u8]) -> &'static str {
    if route.is_none() && ImsRoute::parse(path).is_some() {
        return ShowImage::NAME;
    }
    match route {
        Some(EcsRoute::ReinstallOs { .. }) => ReinstallOs::NAME,
        Some(EcsRoute::ChangeOs { .. }) => ChangeOs::NAME,
        Some(EcsRoute::ReinstallOsWithoutCloudInit { .. }) => ReinstallOsWithoutCloudInit::NAME,
        Some(EcsRoute::ChangeOsWithoutCloudInit { .. }) => ChangeOsWithoutCloudInit::NAME,
        Some(EcsRoute::ShowJob { .. }) => ShowJob::NAME,
        Some(EcsRoute::ShowServer { .. }) => ShowServer::NAME,
        Some(EcsRoute::ListServers { .. }) => ListServers::NAME,
        Some(EcsRoute::ConsoleOutput { .. }) => ShowConsoleOutput::NAME,
        Some(EcsRoute::ServerAction { .. }) => match serde_json::from_slice::<ActionBody>(body) {
            Ok(ActionBody::Stop(_)) => BatchStop::NAME,
            Ok(ActionBody::Start(_)) => BatchStart::NAME,
            _ => "ecs.server_action",
        },
        _ => "ecs.unknown",
    }
}

/// Who called, once authenticated.
struct Caller {
    user_id: std::sync::Arc<str>,
    auth: LogAuth,
}

/// Handles every ECS path; `route` is [`EcsRoute::parse`] of it.
pub(crate) fn handle(world: &mut World, ctx: &Ctx<'_>, route: Option<EcsRoute>) -> Handled {
    if route.is_none()
        && let Some(ims) = ImsRoute::parse(ctx.request.uri().path())
    {
        return handle_ims(world, ctx, &ims);
    }
    let Some(route) = route else {
        return Handled::new(gateway_error(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment.",
            ctx.request_id,
        ));
    };
    if ctx.request.method() != route.method() {
        return Handled::new(gateway_error(
            404,
            "APIGW.0101",
            "The API does not exist.",
            ctx.request_id,
        ));
    }
    let caller = match authenticate(world, ctx, Some(&route)) {
        Ok(caller) => caller,
        Err(handled) => return *handled,
    };
    let reply = match &route {
        EcsRoute::ReinstallOs { server_id, .. } => {
            reinstall(world, ctx, &caller, server_id, Api::CloudInit)
        }
        EcsRoute::ReinstallOsWithoutCloudInit { server_id, .. } => {
            reinstall(world, ctx, &caller, server_id, Api::WithoutCloudInit)
        }
        EcsRoute::ChangeOs { server_id, .. } => {
            change_os(world, ctx, &caller, server_id, Api::CloudInit)
        }
        EcsRoute::ChangeOsWithoutCloudInit { server_id, .. } => {
            change_os(world, ctx, &caller, server_id, Api::WithoutCloudInit)
        }
        EcsRoute::ShowServer { server_id, .. } => show_server(world, ctx, server_id),
        EcsRoute::ListServers { .. } => list_servers(world, ctx),
        EcsRoute::ShowJob { project_id, job_id } => {
            show_job(world, ctx, project_id.as_str(), job_id.as_str())
        }
        EcsRoute::ServerAction { .. } => action(world, ctx),
        EcsRoute::ConsoleOutput { server_id, .. } => console_output(world, ctx, server_id),
        _ => gateway_error(404, "APIGW.0101", "The API does not exist.", ctx.request_id),
    };
    Handled {
        reply,
        auth: caller.auth,
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication, as the API gateway does it.
// ---------------------------------------------------------------------------------------------

fn unauthorized(ctx: &Ctx<'_>, code: &str, message: impl Into<String>) -> Box<Handled> {
    Box::new(Handled::new(gateway_error(
        401,
        code,
        message,
        ctx.request_id,
    )))
}

fn refused(reply: Reply, auth: LogAuth) -> Box<Handled> {
    Box::new(Handled::new(reply).with_auth(auth))
}

/// The project mismatch: `Common.0018` on the job query, `Ecs.0023` elsewhere.
fn wrong_project(route: Option<&EcsRoute>) -> Reply {
    if matches!(route, Some(EcsRoute::ShowJob { .. })) {
        ecs_error(
            400,
            "Common.0018",
            "The project ID in the URL is different from that in the token.",
        )
    } else {
        ecs_error(
            400,
            "Ecs.0023",
            "project_id in token mismatches with project_id in url.",
        )
    }
}

/// Who calls, as the gateway checks it. `route` is the ECS route, whose path names the project;
/// `None` is the image service, whose paths name none: the token's project or `X-Project-Id`
/// is the project then.
fn authenticate(
    world: &mut World,
    ctx: &Ctx<'_>,
    route: Option<&EcsRoute>,
) -> Result<Caller, Box<Handled>> {
    #[allow(clippy::declare_interior_mutable_const)] // a static name: nothing in it changes
    const X_AUTH_TOKEN: http::HeaderName =
        http::HeaderName::from_static(reimage_auth::iam::X_AUTH_TOKEN);
    let headers = ctx.request.headers();
    let fixtures = &world.fixtures;
    let path_project = route.map_or(fixtures.ecs.project_id.as_str(), |r| {
        r.project_id().as_str()
    });

    if let Some(value) = headers.get(X_AUTH_TOKEN) {
        let presented = value.as_bytes();
        let Some(token) = world
            .tokens
            .iter_mut()
            .find(|t| same_secret(t.token.as_bytes(), presented))
        else {
            return Err(unauthorized(
                ctx,
                "APIGW.0301",
                "Incorrect IAM authentication information: decrypt token fail",
            ));
        };
        if ctx.flags.expire_credentials && token.expires_at > ctx.now {
            token.expires_at = ctx.now;
        }
        let auth = LogAuth::scheme("token")
            .number("token_serial", token.serial)
            .shared("user_id", &token.user_id);
        if token.expires_at <= ctx.now {
            let reply = gateway_error(
                401,
                "APIGW.0307",
                "The token must be updated.",
                ctx.request_id,
            );
            return Err(refused(reply, auth));
        }
        let scoped = token
            .project_id
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(path_project));
        if !scoped {
            return Err(refused(wrong_project(route), auth));
        }
        return Ok(Caller {
            user_id: std::sync::Arc::clone(&token.user_id),
            auth,
        });
    }

    if headers.contains_key(http::header::AUTHORIZATION) {
        let now = Timestamp::from(ctx.now);
        let verified = aksk::verify(
            ctx.request,
            |ak| fixtures.secret_key(ak).map(|(sk, _)| sk),
            now,
            aksk::MAX_SKEW,
        );
        let access_key = match verified {
            Ok(ak) => ak,
            Err(e) => {
                return Err(unauthorized(
                    ctx,
                    "APIGW.0301",
                    aksk_message(&e, headers, ctx),
                ));
            }
        };
        let Some((_, owner)) = fixtures.secret_key(&access_key) else {
            return Err(unauthorized(
                ctx,
                "APIGW.0301",
                "Incorrect IAM authentication information: ak not exist",
            ));
        };
        let auth = LogAuth::scheme("aksk")
            .text("access_key", access_key.as_str())
            .text("user_id", owner.as_str());
        let project = headers
            .get(aksk::X_PROJECT_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(path_project)
            .to_owned();
        if !project.eq_ignore_ascii_case(&fixtures.ecs.project_id) {
            let reply = gateway_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: the project of the request is not \
                 found, or the access key's user has no access to it",
                ctx.request_id,
            );
            return Err(refused(reply, auth));
        }
        if !project.eq_ignore_ascii_case(path_project) {
            return Err(refused(wrong_project(route), auth));
        }
        return Ok(Caller {
            user_id: std::sync::Arc::from(owner.as_str()),
            auth,
        });
    }

    Err(unauthorized(
        ctx,
        "APIGW.0301",
        "Incorrect IAM authentication information: x-auth-token not found",
    ))
}

/// The gateway's message for each AK/SK refusal. None quotes the signature or the SK.
fn aksk_message(error: &VerifyError, headers: &HeaderMap, ctx: &Ctx<'_>) -> String {
    const PREFIX: &str = "Incorrect IAM authentication information";
    match error {
        VerifyError::UnknownAccessKey { access_key } => {
            let ak: String = access_key.chars().take(128).collect();
            format!("{PREFIX}: Get secretKey failed,ak:{ak},err:ak not exist")
        }
        VerifyError::BadSignature => format!("{PREFIX}: verify aksk signature fail"),
        VerifyError::ClockSkew { .. } => {
            let signed = headers
                .get(aksk::X_SDK_DATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let signed: String = signed.chars().take(16).collect();
            format!(
                "{PREFIX}: signature expired, signature time:{signed},server time:{}",
                sdk_time(ctx.now)
            )
        }
        VerifyError::MissingDate | VerifyError::BadDate => {
            format!("{PREFIX}: x-sdk-date is missing or is not of the form YYYYMMDDTHHMMSSZ")
        }
        other => format!("{PREFIX}: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reinstall and change of OS.
// ---------------------------------------------------------------------------------------------

/// Which API a reinstall came by: the cloud-init one (`/v2/…`, which refuses images without
/// cloud-init) or the one for images without it (`/v1/…`, which takes no user data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    CloudInit,
    WithoutCloudInit,
}

/// The fields `os-reinstall` and `os-change` share, as the wire types decoded them.
struct OsFields<'a> {
    kind: JobKind,
    api: Api,
    adminpass: Option<&'a SecretString>,
    keyname: Option<&'a str>,
    userid: Option<&'a str>,
    metadata: Option<&'a Metadata>,
    mode: Option<&'a str>,
    imageid: Option<&'a str>,
    /// `isAutoPay` (change of OS only).
    is_auto_pay: Option<&'a str>,
    /// reimage's own cross-field rules (`to_input`), for `strict_inputs`.
    strict: Result<(), reimage_core::ValidationError>,
}

/// Reads a JSON request body with the wire crate's definitions: an empty body and an unreadable
/// one get their documented answers.
fn parse_body<T: serde::de::DeserializeOwned>(ctx: &Ctx<'_>) -> Result<T, Reply> {
    let body = ctx.request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty_body());
    }
    serde_json::from_slice(body).map_err(|e| invalid(reimage_wire::decode::json_problem(&e)))
}

/// The fields the ECS API (and the official SDK's models) define for a reinstall or change of
/// OS body: anything else is refused, as ECS does.
struct KnownFields {
    root: &'static str,
    option: &'static [&'static str],
    metadata: &'static [&'static str],
}

const METADATA_FIELDS: &[&str] = &[
    "user_data",
    "BYOL",
    "__system__encrypted",
    "__system__cmkid",
];
const METADATA_FIELDS_V1: &[&str] = &["BYOL", "__system__encrypted", "__system__cmkid"];
const REINSTALL_FIELDS: &[&str] = &["adminpass", "keyname", "userid", "metadata", "mode"];
const CHANGE_OS_FIELDS: &[&str] = &[
    "adminpass",
    "keyname",
    "userid",
    "imageid",
    "metadata",
    "mode",
    "isAutoPay",
];

impl KnownFields {
    fn of(kind: JobKind, api: Api) -> Self {
        let metadata = if api == Api::WithoutCloudInit {
            METADATA_FIELDS_V1
        } else {
            METADATA_FIELDS
        };
        match kind {
            JobKind::ChangeOs => Self {
                root: "os-change",
                option: CHANGE_OS_FIELDS,
                metadata,
            },
            _ => Self {
                root: "os-reinstall",
                option: REINSTALL_FIELDS,
                metadata,
            },
        }
    }

    /// The first field of `body` (already read by the wire types) that the API does not define,
    /// as a path (`os-reinstall.metadata.foo`).
    fn unknown(&self, body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let top = value.as_object()?;
        if let Some(key) = top.keys().find(|k| *k != self.root) {
            return Some(key.clone());
        }
        let option = top.get(self.root)?.as_object()?;
        if let Some(key) = option.keys().find(|k| !self.option.contains(&k.as_str())) {
            return Some(format!("{}.{key}", self.root));
        }
        let metadata = option.get("metadata")?.as_object()?;
        metadata
            .keys()
            .find(|k| !self.metadata.contains(&k.as_str()))
            .map(|key| format!("{}.metadata.{key}", self.root))
    }
}

/// Refuses a body with a field the API does not define (`Ecs.0005`).
fn refuse_unknown(ctx: &Ctx<'_>, kind: JobKind, api: Api) -> Option<Reply> {
    KnownFields::of(kind, api)
        .unknown(ctx.request.body())
        .map(|path| invalid(format!("{path} is not a parameter of this API")))
}

fn reinstall(
    world: &mut World,
    ctx: &Ctx<'_>,
    caller: &Caller,
    server_id: &ServerId,
    api: Api,
) -> Reply {
    let parsed: ReinstallBody = match parse_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let o = &parsed.os_reinstall;
    if api == Api::WithoutCloudInit && o.metadata.as_ref().is_some_and(|m| m.user_data.is_some()) {
        // The `/v1/` API documents no user data: only BYOL in metadata.
        return invalid("metadata.user_data is not a parameter of this API");
    }
    if let Some(reply) = refuse_unknown(ctx, JobKind::Reinstall, api) {
        return reply;
    }
    let fields = OsFields {
        kind: JobKind::Reinstall,
        api,
        adminpass: o.adminpass.as_ref(),
        keyname: o.keyname.as_deref(),
        userid: o.userid.as_deref(),
        metadata: o.metadata.as_ref(),
        mode: o.mode.as_deref(),
        imageid: None,
        is_auto_pay: None,
        strict: parsed.to_input().map(drop),
    };
    os_job(world, ctx, caller, server_id, fields)
}

fn change_os(
    world: &mut World,
    ctx: &Ctx<'_>,
    caller: &Caller,
    server_id: &ServerId,
    api: Api,
) -> Reply {
    let parsed: ChangeOsBody = match parse_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let o = &parsed.os_change;
    if api == Api::WithoutCloudInit && o.metadata.as_ref().is_some_and(|m| m.user_data.is_some()) {
        // The `/v1/` API documents no user data: only BYOL in metadata.
        return invalid("metadata.user_data is not a parameter of this API");
    }
    if let Some(reply) = refuse_unknown(ctx, JobKind::ChangeOs, api) {
        return reply;
    }
    let fields = OsFields {
        kind: JobKind::ChangeOs,
        api,
        adminpass: o.adminpass.as_ref(),
        keyname: o.keyname.as_deref(),
        userid: o.userid.as_deref(),
        metadata: o.metadata.as_ref(),
        mode: o.mode.as_deref(),
        imageid: Some(o.imageid.as_str()),
        is_auto_pay: o.is_auto_pay.as_deref(),
        strict: parsed.to_input().map(drop),
    };
    os_job(world, ctx, caller, server_id, fields)
}

fn empty_body() -> Reply {
    ecs_error(400, "Common.0002", "The request body cannot be left blank.")
}

/// `Ecs.0005` with what is wrong.
fn invalid(detail: impl std::fmt::Display) -> Reply {
    ecs_error(400, "Ecs.0005", format!("{INVALID} ({detail})"))
}

fn no_server(server_id: &str) -> Reply {
    ecs_error(
        404,
        "Ecs.0114",
        format!("The ECS does not exist. (server {server_id})"),
    )
}

fn find_server<'a>(world: &'a World, id: &str) -> Option<&'a Server> {
    world.server(id)
}

/// The checks of a reinstall or change of OS, in this order: the server exists; `mode`;
/// `adminpass` complexity; the login fields; the user data; (reimage's rules when strict); the
/// image exists, is active, has cloud-init (for the cloud-init API); the server is not locked, not busy, and stopped (or
/// its last OS job failed) unless `mode` is `withStopServer`.
fn os_job(
    world: &mut World,
    ctx: &Ctx<'_>,
    caller: &Caller,
    server_id: &ServerId,
    fields: OsFields<'_>,
) -> Reply {
    let Some(server) = find_server(world, server_id.as_str()) else {
        return no_server(server_id.as_str());
    };
    let stop_first = match fields.mode {
        None => false,
        Some(MODE_WITH_STOP_SERVER) => true,
        Some(_) => return invalid("mode must be withStopServer or absent"),
    };
    if let Some(password) = fields.adminpass
        && AdminPassword::new(secrecy::ExposeSecret::expose_secret(password)).is_err()
    {
        return ecs_error(
            400,
            "Ecs.0011",
            "Ensure the password meets the password complexity requirements.",
        );
    }
    if fields.adminpass.is_some() && fields.keyname.is_some() {
        return invalid("adminpass and keyname cannot both be set");
    }
    let key_name = match fields.keyname {
        None => None,
        Some(name) => {
            let Ok(name) = KeyPairName::new(name) else {
                return invalid("keyname is not a key pair name");
            };
            let owner = match (fields.userid, fields.kind) {
                (Some(id), _) => id.to_owned(),
                (None, JobKind::Reinstall) => {
                    return invalid("userid is mandatory when keyname is used");
                }
                // os-change: "If this parameter is left blank, the user ID in the token is used".
                (None, _) => caller.user_id.to_string(),
            };
            if UserId::new(owner.as_str()).is_err() {
                return invalid("userid is not a user id");
            }
            let owns = world
                .fixtures
                .user_by_id(&owner)
                .is_some_and(|u| u.key_pairs.contains(&name));
            if !owns {
                return ecs_error(
                    400,
                    "Ecs.0314",
                    "The key pair does not exist. Refresh the key pair list and check the key pair.",
                );
            }
            Some(String::from(name))
        }
    };
    if fields
        .metadata
        .and_then(|m| m.byol.as_deref())
        .is_some_and(|b| b != "true")
    {
        // ECS documents `BYOL: "true"` only; anything else is refused, not read as false.
        return invalid("metadata.BYOL must be \"true\" or absent");
    }
    let user_data = match fields.metadata.map(Metadata::decode_user_data).transpose() {
        Ok(data) => data.flatten(),
        Err(e) => return invalid(format!("{}: {}", e.field(), e.problem())),
    };
    if fields.adminpass.is_none()
        && fields.keyname.is_none()
        && user_data.as_ref().is_none_or(|d| d.is_empty())
    {
        // Nothing to log in with: ECS refuses such a body (`{"os-reinstall":{}}`).
        return invalid("one of adminpass, keyname or metadata.user_data is required");
    }
    if ctx.config.strict_inputs
        && let Err(e) = &fields.strict
    {
        return invalid(e);
    }
    let image_id = match fields.imageid {
        None => server.image.clone(),
        Some(text) => match ImageId::new(text) {
            Ok(id) => id,
            Err(_) => return invalid("imageid is not a UUID"),
        },
    };
    let Some(image) = world.fixtures.image(image_id.as_str()) else {
        return ecs_error(400, "Ecs.0031", "The image does not exist.");
    };
    if image.status != "active" {
        return ecs_error(400, "Ecs.0032", "The image is not in Active state.");
    }
    if !image.cloud_init && fields.api == Api::CloudInit {
        // No code of its own: "Invalid image attributes" is the closest documented one.
        return ecs_error(
            400,
            "Ecs.0007",
            "A system exception occurred. Try again later or contact customer service. (the \
             image has no Cloud-Init or Cloudbase-Init)",
        );
    }
    if fields.api == Api::CloudInit && fields.adminpass.is_some() && world.fixtures.ecs.keypair_only
    {
        // The SDK's docs: where a region takes no password for a server with cloud-init, the
        // service asks for a key pair. No code of its own is documented: Ecs.0005 is the closest.
        return ecs_error(400, "Ecs.0005", KEYPAIR_ONLY);
    }
    let image_id = image.id.clone();
    if server.locked {
        return ecs_error(400, "Ecs.0605", "ECS locked.");
    }
    if let Some(job) = server.job.clone() {
        return busy(world, ctx, &job);
    }
    if server.running && !server.failed_os_job && !stop_first {
        return ecs_error(
            400,
            "Ecs.0100",
            "The ECS status does not meet requirements. Make the ECS in the required status and \
             try again. (stop it first, or send mode withStopServer)",
        );
    }

    let server_id = server.fixture.id.as_str().to_owned();
    let timing = match fields.kind {
        JobKind::ChangeOs => ctx.config.timings.ecs_change_os,
        _ => ctx.config.timings.ecs_reinstall,
    };
    let failure = failure(ctx, fields.kind);
    let effect = OsEffect {
        image: image_id,
        key_name,
        user_data: user_data.map(|d| d.as_bytes().to_vec()),
        stops_first: stop_first && server.running && !server.failed_os_job,
        quirk: ctx.flags.job_quirk,
        keep_timestamps: ctx.flags.frozen_timestamps,
        system_encrypted: fields.metadata.and_then(|m| m.system_encrypted.clone()),
        system_cmkid: fields.metadata.and_then(|m| m.system_cmkid.clone()),
        cloud_init: matches!(fields.api, Api::CloudInit),
        boot_takes: ctx.config.scaled(crate::console::CLOUD_INIT_BOOT),
        boot_faults: ctx.flags.boot_faults.clone(),
    };
    // A yearly/monthly server's change of OS makes an order: without `isAutoPay: "true"` its
    // job waits in PENDING_PAYMENT until someone pays (here, a minute later, scaled).
    let payment = (fields.kind == JobKind::ChangeOs
        && server.fixture.prepaid
        && fields.is_auto_pay != Some("true"))
    .then(|| ctx.config.scaled(PAYMENT_DELAY));
    let project = world.fixtures.ecs.project_id.clone();
    let job_id = world.start_job(
        fields.kind,
        &project,
        &[server_id],
        ctx.now,
        ctx.config.scaled(timing),
        failure,
        Some(effect),
        payment,
    );
    Reply::json(StatusCode::OK, HUAWEI_JSON, &json!({ "job_id": job_id }))
}

/// The answer to an operation on a server whose job `job_id` runs: 501 `Ecs.0603`. With
/// [`interruptions_fail_rebuilds`](crate::ConfigBuilder::interruptions_fail_rebuilds), a running
/// reinstall or change of OS also ends now, in `FAIL`.
fn busy(world: &mut World, ctx: &Ctx<'_>, job_id: &str) -> Reply {
    if ctx.config.interruptions_fail_rebuilds {
        let now = ctx.now;
        world.jobs.update(job_id, |job| {
            if job.id == job_id
                && !job.settled
                && matches!(job.kind, JobKind::Reinstall | JobKind::ChangeOs)
                && job.failure.is_none()
            {
                job.failure = Some((
                    job.kind.default_failure().0.to_owned(),
                    "The operation was interrupted by another operation on the ECS.".to_owned(),
                ));
                job.running_at = job.running_at.min(now);
                job.end = job.end.min(now);
            }
        });
    }
    ecs_error(
        501,
        "Ecs.0603",
        "The commands are being executed. Try again later.",
    )
}

/// The failure a `job_fail` fault asks for, with the kind's defaults.
fn failure(ctx: &Ctx<'_>, kind: JobKind) -> Option<(String, String)> {
    ctx.flags.job_fail.as_ref().map(|(code, reason)| {
        let (default_code, default_reason) = kind.default_failure();
        (
            code.clone().unwrap_or_else(|| default_code.to_owned()),
            reason.clone().unwrap_or_else(|| default_reason.to_owned()),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Batch stop and start.
// ---------------------------------------------------------------------------------------------

fn action(world: &mut World, ctx: &Ctx<'_>) -> Reply {
    let body = ctx.request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return empty_body();
    }
    let (kind, ids) = match serde_json::from_slice::<ActionBody>(body) {
        Ok(ActionBody::Stop(b)) => (JobKind::Stop, b.os_stop.servers),
        Ok(ActionBody::Start(b)) => (JobKind::Start, b.os_start.servers),
        Ok(_) | Err(_) => {
            return invalid("the body must be {\"os-stop\":{...}} or {\"os-start\":{...}}");
        }
    };
    if ids.is_empty() {
        return invalid("servers is empty");
    }
    if ids.len() > MAX_BATCH {
        return ecs_error(
            400,
            "Ecs.0118",
            "The number of ECSs exceeds the maximum allowed limit.",
        );
    }
    let mut servers: Vec<String> = Vec::new();
    for r in &ids {
        if ServerId::new(r.id.as_str()).is_err() {
            return invalid("a server id is not a UUID");
        }
        let Some(server) = find_server(world, &r.id) else {
            return ecs_error(
                404,
                "Ecs.0614",
                format!("The ECS does not exist. (server {})", r.id),
            );
        };
        if server.locked {
            return ecs_error(400, "Ecs.0605", "ECS locked.");
        }
        if let Some(job) = server.job.clone() {
            return busy(world, ctx, &job);
        }
        let id = server.fixture.id.as_str().to_owned();
        if !servers.contains(&id) {
            servers.push(id);
        }
    }
    let timing = match kind {
        JobKind::Stop => ctx.config.timings.ecs_stop,
        _ => ctx.config.timings.ecs_start,
    };
    let project = world.fixtures.ecs.project_id.clone();
    let failure = failure(ctx, kind);
    let job_id = world.start_job(
        kind,
        &project,
        &servers,
        ctx.now,
        ctx.config.scaled(timing),
        failure,
        None,
        None,
    );
    Reply::json(StatusCode::OK, HUAWEI_JSON, &json!({ "job_id": job_id }))
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// The image service (IMS) behind the same gateway: `GET /v2/images/{image_id}`.
fn handle_ims(world: &mut World, ctx: &Ctx<'_>, route: &ImsRoute) -> Handled {
    if ctx.request.method() != route.method() {
        return Handled::new(gateway_error(
            404,
            "APIGW.0101",
            "The API does not exist.",
            ctx.request_id,
        ));
    }
    let caller = match authenticate(world, ctx, None) {
        Ok(caller) => caller,
        Err(handled) => return *handled,
    };
    let reply = match route {
        ImsRoute::ShowImage { image_id } => show_image(world, image_id.as_str()),
        _ => gateway_error(404, "APIGW.0101", "The API does not exist.", ctx.request_id),
    };
    Handled {
        reply,
        auth: caller.auth,
    }
}

/// One image as IMS's query shows it (Glance's fields and IMS's `__…` attributes). An image
/// without cloud-init carries `__support_fc_inject: "true"`, the others `"false"`.
fn show_image(world: &World, image_id: &str) -> Reply {
    let Some(image) = world.fixtures.image(image_id) else {
        // The code is the emulator's own: IMS's error table was not at hand.
        return ecs_error(404, "IMG.0001", "The image does not exist.");
    };
    let id = image.id.as_str();
    let platform = image.name.split_whitespace().next().unwrap_or("Other");
    let mut body = serde_json::Map::new();
    body.insert("id".into(), json!(id));
    body.insert("name".into(), json!(image.name));
    body.insert("status".into(), json!(image.status));
    body.insert("visibility".into(), json!("public"));
    body.insert("__imagetype".into(), json!("gold"));
    body.insert("__os_type".into(), json!(image.os_type));
    body.insert("__platform".into(), json!(platform));
    body.insert("__os_bit".into(), json!("64"));
    body.insert("__support_kvm".into(), json!("true"));
    body.insert(
        SUPPORT_FC_INJECT.into(),
        json!(if image.cloud_init { "false" } else { "true" }),
    );
    body.insert("disk_format".into(), json!("zvhd2"));
    body.insert("container_format".into(), json!("bare"));
    body.insert("min_disk".into(), json!(40));
    body.insert("min_ram".into(), json!(0));
    body.insert("protected".into(), json!(true));
    body.insert("tags".into(), json!([]));
    body.insert("self".into(), json!(format!("/v2/images/{id}")));
    body.insert("file".into(), json!(format!("/v2/images/{id}/file")));
    body.insert("schema".into(), json!("/v2/schemas/image"));
    Reply::json(StatusCode::OK, HUAWEI_JSON, &Value::Object(body))
}

fn show_server(world: &World, ctx: &Ctx<'_>, server_id: &ServerId) -> Reply {
    let Some(server) = find_server(world, server_id.as_str()) else {
        return no_server(server_id.as_str());
    };
    let body = ShowServerDoc {
        server: server_doc(world, server, ctx.now),
    };
    Reply::bytes(StatusCode::OK, HUAWEI_JSON, body.to_json())
}

/// `GET /v1/{project_id}/cloudservers/{server_id}/console-output?length=N`: the last `N` lines
/// of the server's console log (`-1`: all of it; no `length`: 50, as the SDK documents).
fn console_output(world: &World, ctx: &Ctx<'_>, server_id: &ServerId) -> Reply {
    let Some(server) = find_server(world, server_id.as_str()) else {
        return no_server(server_id.as_str());
    };
    let length = ctx.request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "length")
            .map(|(_, v)| v.into_owned())
    });
    let length = match length.as_deref().map(ConsoleLength::parse) {
        None => ConsoleLength::Lines(50),
        Some(Some(length)) => length,
        Some(None) => return invalid("length must be -1 or a whole number"),
    };
    let log = server.console.render(&server.fixture.name, ctx.now);
    let output = match length {
        ConsoleLength::Lines(n) => {
            let lines: Vec<&str> = log.split_inclusive('\n').collect();
            let from = lines.len().saturating_sub(n as usize);
            lines[from..].concat()
        }
        _ => log,
    };
    Reply::json(StatusCode::OK, HUAWEI_JSON, &json!({ "output": output }))
}

/// `GET /v1/{project_id}/cloudservers/detail[?name=…]`: every server whose name holds `name` (ECS
/// matches names loosely), with `count`.
fn list_servers(world: &World, ctx: &Ctx<'_>) -> Reply {
    let name = ctx.request.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.into_owned())
    });
    let servers: Vec<ServerDoc<'_>> = world
        .servers
        .iter()
        .filter(|s| name.as_deref().is_none_or(|n| s.fixture.name.contains(n)))
        .map(|s| server_doc(world, s, ctx.now))
        .collect();
    let body = ListServersDoc {
        count: servers.len(),
        servers,
    };
    Reply::bytes(StatusCode::OK, HUAWEI_JSON, body.to_json())
}

fn show_job(world: &World, ctx: &Ctx<'_>, project: &str, job_id: &str) -> Reply {
    // A finished job is deleted after the retention (scaled like every duration): ECS then
    // answers as for a job it never had.
    let retention = ctx.config.scaled(ctx.config.timings.job_retention);
    let Some(job) = world.jobs.get(job_id).filter(|j| {
        j.project_id.eq_ignore_ascii_case(project)
            && (ctx.now - j.end)
                .try_into()
                .map_or(true, |ended: std::time::Duration| ended < retention)
    }) else {
        return ecs_error(400, "Common.0011", "Failed to query system tasks.");
    };
    Reply::shared(StatusCode::OK, HUAWEI_JSON, job_answer(job, ctx.now))
}

/// The job query's answer for `job` at `now`: the one kept in the job when it was written for
/// the same phase (and, once the job is done, the same end time), which is all of `now` that
/// [`job_body`] reads; else written now, and kept.
fn job_answer(job: &Job, now: OffsetDateTime) -> bytes::Bytes {
    let phase = job.phase(now);
    let end = matches!(phase, Phase::Success | Phase::Fail).then(|| job.end_time(now));
    // The world's lock is held and nothing else borrows the job's answer: this always succeeds.
    let Ok(mut kept) = job.answer.try_borrow_mut() else {
        return job_body(job, now).into();
    };
    if let Some(answer) = kept.as_ref().filter(|a| a.phase == phase && a.end == end) {
        return answer.body.clone();
    }
    let body = bytes::Bytes::from(job_body(job, now));
    *kept = Some(JobAnswer {
        phase,
        end,
        body: body.clone(),
    });
    body
}

/// The job query's answer, written straight to bytes: clients poll it while a job runs, so it
/// is the emulator's hottest call, and it is written under the world's lock. The fields are in
/// the order of their names, as a JSON object built with `json!` has them; a test holds it to
/// the bytes `serde_json` writes for the same view.
fn job_body(job: &Job, now: OffsetDateTime) -> Vec<u8> {
    use crate::util::{push_job_time, push_json_name, push_json_opt, push_json_str, push_number};
    let phase = job.phase(now);
    let done = matches!(phase, Phase::Success | Phase::Fail);
    let (error_code, fail_reason) = match (&job.failure, phase) {
        (Some((code, reason)), Phase::Fail) => (Some(code.as_str()), Some(reason.as_str())),
        _ => (None, None),
    };
    let texts = error_code.map_or(0, str::len) + fail_reason.map_or(0, str::len);
    let mut out = Vec::with_capacity(320 + (job.servers.len() + 1) * (320 + 2 * texts));
    out.extend_from_slice(b"{\"begin_time\":\"");
    push_job_time(&mut out, job.begin);
    out.extend_from_slice(b"\",\"end_time\":\"");
    let end_at = out.len();
    if done {
        push_job_time(&mut out, job.end_time(now));
    }
    let end = end_at..out.len();
    out.extend_from_slice(b"\",\"entities\":{");
    if let [(server_id, _)] = job.servers.as_slice() {
        out.extend_from_slice(b"\"server_id\":");
        push_json_str(&mut out, server_id);
        out.push(b',');
    }
    out.extend_from_slice(b"\"sub_jobs\":[");
    // Where the sub-jobs' begin time is, once written for the first.
    let mut sub_begin: Option<std::ops::Range<usize>> = None;
    for (i, (server_id, sub_id)) in job.servers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"begin_time\":\"");
        match &sub_begin {
            Some(range) => out.extend_from_within(range.clone()),
            None => {
                let at = out.len();
                if !matches!(phase, Phase::Init | Phase::PendingPayment) {
                    push_job_time(&mut out, job.running_at);
                }
                sub_begin = Some(at..out.len());
            }
        }
        out.extend_from_slice(b"\",\"end_time\":\"");
        out.extend_from_within(end.clone());
        out.extend_from_slice(b"\",\"entities\":{");
        if phase == Phase::Fail {
            out.extend_from_slice(b"\"errorcode_message\":");
            push_json_opt(&mut out, fail_reason);
            out.push(b',');
        }
        out.extend_from_slice(b"\"server_id\":");
        push_json_str(&mut out, server_id);
        out.extend_from_slice(b"},\"error_code\":");
        push_json_opt(&mut out, error_code);
        out.extend_from_slice(b",\"fail_reason\":");
        push_json_opt(&mut out, fail_reason);
        out.extend_from_slice(b",\"job_id\":");
        push_json_str(&mut out, sub_id);
        out.extend_from_slice(b",\"job_type\":");
        push_json_name(&mut out, job.kind.sub_job_type());
        out.extend_from_slice(b",\"status\":");
        push_json_name(&mut out, phase.as_str());
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"sub_jobs_total\":");
    push_number(&mut out, job.servers.len());
    out.extend_from_slice(b"},\"error_code\":");
    push_json_opt(&mut out, error_code);
    out.extend_from_slice(b",\"fail_reason\":");
    push_json_opt(&mut out, fail_reason);
    out.extend_from_slice(b",\"job_id\":");
    push_json_str(&mut out, &job.id);
    out.extend_from_slice(b",\"job_type\":");
    push_json_name(&mut out, job.kind.job_type());
    out.extend_from_slice(b",\"status\":");
    push_json_name(&mut out, phase.as_str());
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    //! The job query's answer as `serde_json` writes it from a view, which [`job_body`] must
    //! give byte for byte. The fields are in the order of their names, as a JSON object built
    //! with `json!` has them.

    use super::*;
    use crate::state::JobQuirk;
    use crate::util::job_time;

    /// `GET /v1/{project_id}/jobs/{job_id}`.
    #[derive(serde::Serialize)]
    struct JobView<'a> {
        begin_time: String,
        end_time: &'a str,
        entities: JobEntities<'a>,
        error_code: Option<&'a str>,
        fail_reason: Option<&'a str>,
        job_id: &'a str,
        job_type: &'a str,
        status: &'a str,
    }

    /// The job's `entities`: `server_id` only for a job of one server.
    #[derive(serde::Serialize)]
    struct JobEntities<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        server_id: Option<&'a str>,
        sub_jobs: Vec<SubJobView<'a>>,
        sub_jobs_total: usize,
    }

    /// One server's sub-job.
    #[derive(serde::Serialize)]
    struct SubJobView<'a> {
        begin_time: &'a str,
        end_time: &'a str,
        entities: SubJobEntities<'a>,
        error_code: Option<&'a str>,
        fail_reason: Option<&'a str>,
        job_id: &'a str,
        job_type: &'a str,
        status: &'a str,
    }

    /// A sub-job's `entities`: `errorcode_message` only once it failed.
    #[derive(serde::Serialize)]
    struct SubJobEntities<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        errorcode_message: Option<Option<&'a str>>,
        server_id: &'a str,
    }

    fn job_body_serde(job: &Job, now: OffsetDateTime) -> Vec<u8> {
        let phase = job.phase(now);
        let done = matches!(phase, Phase::Success | Phase::Fail);
        let (error_code, fail_reason) = match (&job.failure, phase) {
            (Some((code, reason)), Phase::Fail) => (Some(code.as_str()), Some(reason.as_str())),
            _ => (None, None),
        };
        let begin_time = if matches!(phase, Phase::Init | Phase::PendingPayment) {
            String::new()
        } else {
            job_time(job.running_at)
        };
        let end_time = if done {
            job_time(job.end_time(now))
        } else {
            String::new()
        };
        let sub_jobs = job
            .servers
            .iter()
            .map(|(server_id, sub_id)| SubJobView {
                begin_time: &begin_time,
                end_time: &end_time,
                entities: SubJobEntities {
                    errorcode_message: (phase == Phase::Fail).then_some(fail_reason),
                    server_id,
                },
                error_code,
                fail_reason,
                job_id: sub_id,
                job_type: job.kind.sub_job_type(),
                status: phase.as_str(),
            })
            .collect::<Vec<_>>();
        let view = JobView {
            begin_time: job_time(job.begin),
            end_time: &end_time,
            entities: JobEntities {
                server_id: match job.servers.as_slice() {
                    [(server_id, _)] => Some(server_id),
                    _ => None,
                },
                sub_jobs_total: sub_jobs.len(),
                sub_jobs,
            },
            error_code,
            fail_reason,
            job_id: &job.id,
            job_type: job.kind.job_type(),
            status: phase.as_str(),
        };
        serde_json::to_vec(&view).unwrap()
    }

    /// The answer [`job_answer`] keeps is the one [`job_body`] writes at every time, whether
    /// the clock goes forward (each time asked twice) or back, with each way its status may run
    /// ahead of the work.
    fn kept_answers_are_written_ones(job: &Job) {
        let image = ImageId::new("e215580f-73ad-429d-b6f2-5433947433b0").unwrap();
        for quirk in [
            None,
            Some(JobQuirk::EarlySuccess),
            Some(JobQuirk::SuccessFlap),
        ] {
            let mut job = job.clone();
            job.answer = std::cell::RefCell::new(None);
            job.effect = quirk.map(|quirk| OsEffect {
                image: image.clone(),
                key_name: None,
                user_data: None,
                stops_first: false,
                quirk,
                keep_timestamps: false,
                system_encrypted: None,
                system_cmkid: None,
                cloud_init: true,
                boot_takes: std::time::Duration::ZERO,
                boot_faults: crate::console::BootFaults::default(),
            });
            let seconds: Vec<i64> = (0..=120).chain((0..=120).rev()).collect();
            for secs in seconds {
                for _ in 0..2 {
                    let now = job.begin + time::Duration::milliseconds(secs * 1000 + 250);
                    assert_eq!(
                        job_answer(&job, now).to_vec(),
                        job_body(&job, now),
                        "{quirk:?} at {secs} s"
                    );
                }
            }
        }
    }

    /// A change of the job drops the answer it kept: one that leaves its phase as it was (an
    /// earlier start of its work), and one that fails it now (an interruption).
    #[test]
    fn a_changed_job_answers_anew() {
        let begin = OffsetDateTime::from_unix_timestamp(1_461_614_687).unwrap();
        let mut jobs = crate::state::Jobs::default();
        jobs.push(Job {
            id: "0123456789abcdef0123456789abcdef".to_owned(),
            kind: JobKind::Reinstall,
            project_id: "p".to_owned(),
            servers: vec![("s".to_owned(), "f".repeat(32))],
            begin,
            running_at: begin + time::Duration::seconds(9),
            end: begin + time::Duration::seconds(90),
            failure: None,
            effect: None,
            settled: false,
            paid_at: None,
            answer: std::cell::RefCell::new(None),
        });
        let id = "0123456789ABCDEF0123456789ABCDEF";
        let now = begin + time::Duration::seconds(30);
        let running = job_answer(jobs.get(id).unwrap(), now);
        assert!(running.ends_with(br#""status":"RUNNING"}"#));
        jobs.update(id, |job| {
            job.running_at = begin + time::Duration::seconds(5)
        });
        let job = jobs.get(id).unwrap();
        let earlier = job_answer(job, now);
        assert_eq!(earlier.to_vec(), job_body(job, now));
        assert_ne!(earlier, running);
        jobs.update(id, |job| {
            job.failure = Some(("Ecs.0203".to_owned(), "interrupted".to_owned()));
            job.end = now;
        });
        let job = jobs.get(id).unwrap();
        let failed = job_answer(job, now);
        assert_eq!(failed.to_vec(), job_body(job, now));
        assert!(failed.ends_with(br#""status":"FAIL"}"#), "{failed:?}");
    }

    #[test]
    fn the_job_body_is_what_serde_json_writes() {
        let begin = OffsetDateTime::from_unix_timestamp_nanos(1_461_614_687_591_123_456).unwrap();
        let servers = |n: usize| -> Vec<(String, String)> {
            (0..n)
                .map(|i| (format!("server-{i}\"\\\u{1}é"), format!("{i:032x}")))
                .collect()
        };
        for kind in [
            JobKind::Reinstall,
            JobKind::ChangeOs,
            JobKind::Stop,
            JobKind::Start,
        ] {
            for n in [0, 1, 2, 3] {
                for failure in [
                    None,
                    Some(("Ecs.0202".to_owned(), "Failed \"quoted\"\n".to_owned())),
                ] {
                    for paid_at in [None, Some(begin + time::Duration::seconds(5))] {
                        let work = paid_at.unwrap_or(begin);
                        let job = Job {
                            id: "0123456789abcdef0123456789abcdef".to_owned(),
                            kind,
                            project_id: "p".to_owned(),
                            servers: servers(n),
                            begin,
                            running_at: work + time::Duration::seconds(9),
                            end: work + time::Duration::seconds(90),
                            failure: failure.clone(),
                            effect: None,
                            settled: false,
                            paid_at,
                            answer: std::cell::RefCell::new(None),
                        };
                        for secs in [0, 4, 9, 10, 14, 89, 90, 95, 1000] {
                            let now = begin + time::Duration::seconds(secs);
                            assert_eq!(
                                String::from_utf8(job_body(&job, now)).unwrap(),
                                String::from_utf8(job_body_serde(&job, now)).unwrap()
                            );
                        }
                        kept_answers_are_written_ones(&job);
                    }
                }
            }
        }
    }
}
