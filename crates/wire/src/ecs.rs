//! ECS: reinstall and change of OS with cloud-init, the job query, server details, and batch stop
//! and start. Bodies are JSON; the client adds `X-Auth-Token` (or signs with AK/SK) afterwards.
//!
//! | operation | request | answer |
//! |---|---|---|
//! | [`ReinstallOs`] | `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos`, [`ReinstallBody`] | [`JobId`] |
//! | [`ChangeOs`] | `POST /v2/{project_id}/cloudservers/{server_id}/changeos`, [`ChangeOsBody`] | [`JobId`] |
//! | [`ShowJob`] | `GET /v1/{project_id}/jobs/{job_id}` | [`Job`] |
//! | [`ShowServer`] | `GET /v1/{project_id}/cloudservers/{server_id}` | [`ServerDetails`] |
//! | [`BatchStop`] | `POST /v1/{project_id}/cloudservers/action`, [`BatchStopBody`] | [`JobId`] |
//! | [`BatchStart`] | `POST /v1/{project_id}/cloudservers/action`, [`BatchStartBody`] | [`JobId`] |
//!
//! **One definition per body, both ways.** The body types derive `Serialize` *and*
//! `Deserialize`: the client encodes with them and the emulator decodes with them, and
//! [`EcsRoute::parse`] reads the ids back out of a path. An option that is not set is absent from
//! the JSON, never `null`; keys come in the order of the struct fields, so the bytes are
//! deterministic.
//!
//! Answers: any non-2xx status is what ECS said ([`ResponseError::Provider`], with the HTTP
//! status, the code such as `Ecs.0011`, the message and the `X-Request-Id`); a 2xx answer that
//! cannot be read is a [`ResponseError::Decode`] that never quotes the body. Unknown fields are
//! ignored and `null` is accepted wherever a value may be missing. A job answer that breaks its
//! contract (a time that is not a time, a field of the wrong type) is an error; server details,
//! a large object with many extensions, are read field by field instead, and a field that cannot
//! be read is left empty and named in [`ServerDetails::unreadable`].

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use reimage_auth::decode::{huawei_error, json_problem, request_id};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, Job, JobId, JobStatus,
    KeyPairName, Login, ProjectId, ServerId, SubJob, Timestamp, UserData, UserId, ValidationError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    AuthScheme, DecodeError, EncodeError, Endpoint, JSON_CONTENT_TYPE, Operation, Provider,
    ResponseError, build_request,
};

/// The most user data ECS takes, in bytes before base64: 32 KB ([`reimage_core::ECS_USER_DATA_LIMIT`],
/// where the limit lives).
pub const USER_DATA_LIMIT: usize = reimage_core::ECS_USER_DATA_LIMIT;

/// The `mode` that makes ECS stop a running server before it reinstalls or changes the OS.
pub const MODE_WITH_STOP_SERVER: &str = "withStopServer";

// ---------------------------------------------------------------------------------------------
// Request bodies, both ways.
// ---------------------------------------------------------------------------------------------

/// `metadata` of `os-reinstall` and `os-change`.
///
/// `Debug` shows the length of `user_data`, never its content (user data often holds passwords).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// `BYOL`: `"true"` when the user brings the image's licence; any other value means no.
    #[serde(rename = "BYOL", default, skip_serializing_if = "Option::is_none")]
    pub byol: Option<String>,
    /// `user_data`: the user data, base64-encoded (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// `__system__encrypted`: `"1"` for an encrypted system disk. reimage never sets it; it is
    /// here so that a decoded body keeps it.
    #[serde(
        rename = "__system__encrypted",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_encrypted: Option<String>,
    /// `__system__cmkid`: the KMS key of an encrypted system disk. reimage never sets it.
    #[serde(
        rename = "__system__cmkid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_cmkid: Option<String>,
}

impl Metadata {
    /// The metadata of `spec`, or `None` when it would be empty (no `metadata` object is sent
    /// then). User data over [`USER_DATA_LIMIT`] is refused before it is encoded.
    pub fn from_spec(spec: &EcsOsSpec) -> Result<Option<Self>, EncodeError> {
        let user_data = match spec.user_data() {
            Some(data) if !data.is_empty() => {
                check_user_data(data)?;
                Some(STANDARD.encode(data.as_bytes()))
            }
            _ => None,
        };
        let metadata = Self {
            byol: spec.byol().then(|| "true".to_owned()),
            user_data,
            system_encrypted: None,
            system_cmkid: None,
        };
        Ok((!metadata.is_empty()).then_some(metadata))
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.byol.is_none()
            && self.user_data.is_none()
            && self.system_encrypted.is_none()
            && self.system_cmkid.is_none()
    }

    /// Whether `BYOL` is `"true"`, as ECS reads it.
    pub fn is_byol(&self) -> bool {
        self.byol.as_deref() == Some("true")
    }

    /// The user data, base64-decoded (and checked against [`USER_DATA_LIMIT`]), or `None` when
    /// there is none.
    pub fn decode_user_data(&self) -> Result<Option<UserData>, ValidationError> {
        let Some(text) = self.user_data.as_deref() else {
            return Ok(None);
        };
        let bytes = STANDARD.decode(text).map_err(|_| {
            ValidationError::new(
                "user_data",
                format!("is not base64 ({} characters)", text.chars().count()),
                "encode the user data with standard, padded base64",
            )
        })?;
        let data = UserData::from(bytes);
        check_user_data(&data)?;
        Ok(Some(data))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("byol", &self.byol)
            .field("user_data", &self.user_data.as_deref().map(Base64Len))
            .field("system_encrypted", &self.system_encrypted)
            .field("system_cmkid", &self.system_cmkid)
            .finish()
    }
}

/// Shows base64 text by its length only.
struct Base64Len<'a>(&'a str);

impl fmt::Debug for Base64Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} base64 characters]", self.0.len())
    }
}

/// Refuses user data over [`USER_DATA_LIMIT`], naming the field, the size and the limit.
fn check_user_data(data: &UserData) -> Result<(), ValidationError> {
    data.check_limit(reimage_core::Provider::Ecs)
}

/// `adminpass` on the wire: the secret is exposed only while it is serialised.
mod secret_opt {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => serializer.serialize_some(secret.expose_secret()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(SecretString::from))
    }
}

/// The fields `os-reinstall` and `os-change` share, from an [`EcsOsSpec`].
struct Common {
    adminpass: Option<SecretString>,
    keyname: Option<String>,
    userid: Option<String>,
    metadata: Option<Metadata>,
    mode: Option<String>,
}

impl Common {
    fn from_spec(spec: &EcsOsSpec) -> Result<Self, EncodeError> {
        let (adminpass, keyname, userid) = match spec.login() {
            Login::Password(password) => (Some(password.secret().clone()), None, None),
            Login::KeyPair { name, user_id } => (
                None,
                Some(name.as_str().to_owned()),
                Some(user_id.as_str().to_owned()),
            ),
            Login::UserData => (None, None, None),
            _ => {
                return Err(EncodeError::Invalid(ValidationError::new(
                    "login",
                    "is a kind of login this version of reimage-wire cannot send to ECS",
                    "use a password, a key pair or user data, or update reimage-wire",
                )));
            }
        };
        Ok(Self {
            adminpass,
            keyname,
            userid,
            metadata: Metadata::from_spec(spec)?,
            mode: spec.stop_server().then(|| MODE_WITH_STOP_SERVER.to_owned()),
        })
    }
}

/// Reads the shared fields back into an [`EcsOsSpec`], with every rule checked again.
fn spec_from_wire(
    adminpass: Option<&SecretString>,
    keyname: Option<&str>,
    userid: Option<&str>,
    metadata: Option<&Metadata>,
    mode: Option<&str>,
) -> Result<EcsOsSpec, ValidationError> {
    let mut builder = EcsOsSpec::builder();
    if let Some(password) = adminpass {
        builder = builder.adminpass(AdminPassword::new(password.expose_secret())?);
    }
    if let Some(name) = keyname {
        builder = builder.keyname(KeyPairName::new(name)?);
    }
    if let Some(id) = userid {
        builder = builder.userid(UserId::new(id)?);
    }
    if let Some(metadata) = metadata {
        if let Some(data) = metadata.decode_user_data()? {
            builder = builder.user_data(data);
        }
        builder = builder.byol(metadata.is_byol());
    }
    match mode {
        None => {}
        Some(MODE_WITH_STOP_SERVER) => builder = builder.stop_server(true),
        Some(other) => {
            return Err(ValidationError::new(
                "mode",
                format!("is {other:?}, which ECS does not document"),
                "use withStopServer, or leave mode out",
            ));
        }
    }
    builder.build()
}

/// The fields of `os-reinstall`.
///
/// `Debug` never shows the password or the user data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsReinstall {
    /// `adminpass`: the new administrator password.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub adminpass: Option<SecretString>,
    /// `keyname`: the key pair to log in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyname: Option<String>,
    /// `userid`: the IAM user that owns the key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// `metadata`: BYOL and user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// `mode`: [`MODE_WITH_STOP_SERVER`] to stop a running server first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The body of `reinstallos`: `{"os-reinstall":{...}}`.
///
/// ```
/// use reimage_wire::ecs::ReinstallBody;
///
/// let body: ReinstallBody = serde_json::from_str(
///     r#"{"os-reinstall":{"keyname":"KeyPair-350b","userid":"7e25b1da389f4697a79df3a0e5bd494e"}}"#,
/// )?;
/// assert_eq!(body.os_reinstall.keyname.as_deref(), Some("KeyPair-350b"));
/// assert!(body.to_input().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReinstallBody {
    /// `os-reinstall`.
    #[serde(rename = "os-reinstall")]
    pub os_reinstall: OsReinstall,
}

impl ReinstallBody {
    /// The body for `input`. User data over [`USER_DATA_LIMIT`] is refused.
    pub fn new(input: &EcsReinstall) -> Result<Self, EncodeError> {
        let c = Common::from_spec(input.spec())?;
        Ok(Self {
            os_reinstall: OsReinstall {
                adminpass: c.adminpass,
                keyname: c.keyname,
                userid: c.userid,
                metadata: c.metadata,
                mode: c.mode,
            },
        })
    }

    /// Reads the body back into the input it encodes, checking every rule reimage checks (the
    /// emulator's view of the request).
    pub fn to_input(&self) -> Result<EcsReinstall, ValidationError> {
        let o = &self.os_reinstall;
        spec_from_wire(
            o.adminpass.as_ref(),
            o.keyname.as_deref(),
            o.userid.as_deref(),
            o.metadata.as_ref(),
            o.mode.as_deref(),
        )
        .map(EcsReinstall::new)
    }
}

/// The fields of `os-change`.
///
/// `Debug` never shows the password or the user data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsChange {
    /// `adminpass`: the new administrator password.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub adminpass: Option<SecretString>,
    /// `keyname`: the key pair to log in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyname: Option<String>,
    /// `userid`: the IAM user that owns the key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// `imageid`: the new image.
    pub imageid: String,
    /// `metadata`: BYOL and user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// `mode`: [`MODE_WITH_STOP_SERVER`] to stop a running server first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The body of `changeos`: `{"os-change":{...,"imageid":...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeOsBody {
    /// `os-change`.
    #[serde(rename = "os-change")]
    pub os_change: OsChange,
}

impl ChangeOsBody {
    /// The body for `input`. User data over [`USER_DATA_LIMIT`] is refused.
    pub fn new(input: &EcsChangeOs) -> Result<Self, EncodeError> {
        let c = Common::from_spec(input.spec())?;
        Ok(Self {
            os_change: OsChange {
                adminpass: c.adminpass,
                keyname: c.keyname,
                userid: c.userid,
                imageid: input.image_id().as_str().to_owned(),
                metadata: c.metadata,
                mode: c.mode,
            },
        })
    }

    /// Reads the body back into the input it encodes, checking every rule reimage checks.
    pub fn to_input(&self) -> Result<EcsChangeOs, ValidationError> {
        let o = &self.os_change;
        let image_id = ImageId::new(o.imageid.as_str())?;
        spec_from_wire(
            o.adminpass.as_ref(),
            o.keyname.as_deref(),
            o.userid.as_deref(),
            o.metadata.as_ref(),
            o.mode.as_deref(),
        )
        .map(|spec| EcsChangeOs::new(image_id, spec))
    }
}

/// How [`BatchStop`] stops the servers (`os-stop.type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StopType {
    /// `SOFT`: a normal shutdown (the default).
    #[default]
    #[serde(rename = "SOFT")]
    Soft,
    /// `HARD`: a forced power-off.
    #[serde(rename = "HARD")]
    Hard,
}

impl StopType {
    /// The value as ECS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Soft => "SOFT",
            Self::Hard => "HARD",
        }
    }
}

/// One entry of `servers` in `os-stop` and `os-start`: `{"id":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerRef {
    /// `id`: the server id.
    pub id: String,
}

impl ServerRef {
    /// The entry for `id`.
    pub fn new(id: &ServerId) -> Self {
        Self {
            id: id.as_str().to_owned(),
        }
    }
}

fn server_refs(servers: &[ServerId]) -> Result<Vec<ServerRef>, EncodeError> {
    if servers.is_empty() {
        return Err(EncodeError::Invalid(ValidationError::new(
            "servers",
            "is empty",
            "give at least one server id",
        )));
    }
    Ok(servers.iter().map(ServerRef::new).collect())
}

/// The fields of `os-stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsStop {
    /// `type`: SOFT or HARD; ECS takes SOFT when it is absent. reimage always sends it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub stop_type: Option<StopType>,
    /// `servers`.
    pub servers: Vec<ServerRef>,
}

/// The body of a batch stop: `{"os-stop":{"type":...,"servers":[{"id":...}]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchStopBody {
    /// `os-stop`.
    #[serde(rename = "os-stop")]
    pub os_stop: OsStop,
}

impl BatchStopBody {
    /// The body that stops `servers` (at least one) the `stop_type` way.
    pub fn new(servers: &[ServerId], stop_type: StopType) -> Result<Self, EncodeError> {
        Ok(Self {
            os_stop: OsStop {
                stop_type: Some(stop_type),
                servers: server_refs(servers)?,
            },
        })
    }
}

/// The fields of `os-start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsStart {
    /// `servers`.
    pub servers: Vec<ServerRef>,
}

/// The body of a batch start: `{"os-start":{"servers":[{"id":...}]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchStartBody {
    /// `os-start`.
    #[serde(rename = "os-start")]
    pub os_start: OsStart,
}

impl BatchStartBody {
    /// The body that starts `servers` (at least one).
    pub fn new(servers: &[ServerId]) -> Result<Self, EncodeError> {
        Ok(Self {
            os_start: OsStart {
                servers: server_refs(servers)?,
            },
        })
    }
}

/// The body of an ECS action call (`/v1/{project_id}/cloudservers/action`), whichever it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ActionBody {
    /// `os-stop`.
    Stop(BatchStopBody),
    /// `os-start`.
    Start(BatchStartBody),
}

// ---------------------------------------------------------------------------------------------
// Paths, both ways.
// ---------------------------------------------------------------------------------------------

/// An ECS path with its ids, as the emulator reads it back.
///
/// ```
/// use reimage_wire::ecs::EcsRoute;
///
/// let route = EcsRoute::parse(
///     "/v2/0123456789abcdef0123456789abcdef/cloudservers/11111111-2222-3333-4444-555555555555/reinstallos",
/// );
/// assert!(matches!(route, Some(EcsRoute::ReinstallOs { .. })));
/// assert_eq!(route.map(|r| r.method()), Some(http::Method::POST));
/// assert_eq!(EcsRoute::parse("/v2/nope/cloudservers"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EcsRoute {
    /// `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos`.
    ReinstallOs {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `POST /v2/{project_id}/cloudservers/{server_id}/changeos`.
    ChangeOs {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `GET /v1/{project_id}/jobs/{job_id}`.
    ShowJob {
        /// The project.
        project_id: ProjectId,
        /// The job.
        job_id: JobId,
    },
    /// `GET /v1/{project_id}/cloudservers/{server_id}`.
    ShowServer {
        /// The project.
        project_id: ProjectId,
        /// The server.
        server_id: ServerId,
    },
    /// `POST /v1/{project_id}/cloudservers/action`: batch stop or start, as [`ActionBody`] says.
    ServerAction {
        /// The project.
        project_id: ProjectId,
    },
}

impl EcsRoute {
    /// Reads a path (a query string is ignored, one trailing `/` allowed). `None` when it is not
    /// one of these routes or an id is not of the right form.
    pub fn parse(path: &str) -> Option<Self> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let project = |s: &str| ProjectId::new(s).ok();
        let server = |s: &str| ServerId::new(s).ok();
        Some(match segments.as_slice() {
            ["v2", p, "cloudservers", s, "reinstallos"] => Self::ReinstallOs {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v2", p, "cloudservers", s, "changeos"] => Self::ChangeOs {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            ["v1", p, "jobs", j] => Self::ShowJob {
                project_id: project(p)?,
                job_id: JobId::new(*j).ok()?,
            },
            ["v1", p, "cloudservers", "action"] => Self::ServerAction {
                project_id: project(p)?,
            },
            ["v1", p, "cloudservers", s] => Self::ShowServer {
                project_id: project(p)?,
                server_id: server(s)?,
            },
            _ => return None,
        })
    }

    /// The method the route takes.
    pub fn method(&self) -> Method {
        match self {
            Self::ShowJob { .. } | Self::ShowServer { .. } => Method::GET,
            Self::ReinstallOs { .. } | Self::ChangeOs { .. } | Self::ServerAction { .. } => {
                Method::POST
            }
        }
    }

    /// The project in the path.
    pub fn project_id(&self) -> &ProjectId {
        match self {
            Self::ReinstallOs { project_id, .. }
            | Self::ChangeOs { project_id, .. }
            | Self::ShowJob { project_id, .. }
            | Self::ShowServer { project_id, .. }
            | Self::ServerAction { project_id } => project_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

fn json_body<T: Serialize>(operation: &'static str, body: &T) -> Result<Bytes, EncodeError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| EncodeError::Build {
            operation,
            problem: format!("the JSON body could not be written: {e}"),
        })
}

/// A `GET` of `path` under `endpoint`, with no body: the shape of every ECS query.
fn get(
    operation: &'static str,
    endpoint: &Endpoint,
    path: &str,
) -> Result<Request<Bytes>, EncodeError> {
    build_request(
        operation,
        Method::GET,
        endpoint.uri(operation, path)?,
        None,
        Bytes::new(),
    )
}

/// A `POST` of `body` as JSON to `path` under `endpoint`: the shape of every ECS call that
/// changes something.
fn post_json<T: Serialize>(
    operation: &'static str,
    endpoint: &Endpoint,
    path: &str,
    body: &T,
) -> Result<Request<Bytes>, EncodeError> {
    build_request(
        operation,
        Method::POST,
        endpoint.uri(operation, path)?,
        Some(JSON_CONTENT_TYPE),
        json_body(operation, body)?,
    )
}

/// Reinstalls a server's OS from its current image, with cloud-init: `POST
/// /v2/{project_id}/cloudservers/{server_id}/reinstallos`, answered by the job id.
///
/// Not idempotent: a second reinstall wipes the system disk again, so it is never re-sent blindly.
///
/// ```
/// use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, ProjectId, ServerId};
/// use reimage_wire::{Endpoint, Operation, ecs::ReinstallOs};
///
/// let spec = EcsOsSpec::builder()
///     .adminpass(AdminPassword::new("!QAZxsw2")?)
///     .user_data("#cloud-config\n".into())
///     .stop_server(true)
///     .build()?;
/// let op = ReinstallOs::new(
///     ProjectId::new("0123456789abcdef0123456789abcdef")?,
///     ServerId::new("11111111-2222-3333-4444-555555555555")?,
///     EcsReinstall::new(spec),
/// );
/// let request = op.to_request(&Endpoint::parse("https://ecs.example.com")?)?;
/// assert_eq!(
///     request.uri(),
///     "https://ecs.example.com/v2/0123456789abcdef0123456789abcdef/cloudservers/\
///      11111111-2222-3333-4444-555555555555/reinstallos"
/// );
/// assert_eq!(
///     request.body().as_ref(),
///     br#"{"os-reinstall":{"adminpass":"!QAZxsw2","metadata":{"user_data":"I2Nsb3VkLWNvbmZpZwo="},"mode":"withStopServer"}}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReinstallOs {
    project_id: ProjectId,
    server_id: ServerId,
    input: EcsReinstall,
}

impl ReinstallOs {
    /// Reinstalls `server_id` in `project_id` with `input`.
    pub fn new(project_id: ProjectId, server_id: ServerId, input: EcsReinstall) -> Self {
        Self {
            project_id,
            server_id,
            input,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<ReinstallBody, EncodeError> {
        ReinstallBody::new(&self.input)
    }

    fn path(&self) -> String {
        format!(
            "/v2/{}/cloudservers/{}/reinstallos",
            self.project_id, self.server_id
        )
    }
}

impl Operation for ReinstallOs {
    type Output = JobId;

    const NAME: &'static str = "ecs.reinstallos";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let mut body = self.body()?;
        redact_secret(&mut body.os_reinstall.adminpass);
        post_json(Self::NAME, endpoint, &self.path(), &body)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Puts [`crate::REDACTED`] in place of a secret that is there.
fn redact_secret(secret: &mut Option<SecretString>) {
    if secret.is_some() {
        *secret = Some(SecretString::from(crate::REDACTED));
    }
}

/// Changes a server's OS to another image, with cloud-init: `POST
/// /v2/{project_id}/cloudservers/{server_id}/changeos`, answered by the job id.
///
/// Not idempotent, like [`ReinstallOs`].
#[derive(Debug, Clone)]
pub struct ChangeOs {
    project_id: ProjectId,
    server_id: ServerId,
    input: EcsChangeOs,
}

impl ChangeOs {
    /// Changes the OS of `server_id` in `project_id` as `input` says.
    pub fn new(project_id: ProjectId, server_id: ServerId, input: EcsChangeOs) -> Self {
        Self {
            project_id,
            server_id,
            input,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<ChangeOsBody, EncodeError> {
        ChangeOsBody::new(&self.input)
    }

    fn path(&self) -> String {
        format!(
            "/v2/{}/cloudservers/{}/changeos",
            self.project_id, self.server_id
        )
    }
}

impl Operation for ChangeOs {
    type Output = JobId;

    const NAME: &'static str = "ecs.changeos";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let mut body = self.body()?;
        redact_secret(&mut body.os_change.adminpass);
        post_json(Self::NAME, endpoint, &self.path(), &body)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Stops servers: `POST /v1/{project_id}/cloudservers/action` with `os-stop`, answered by the job
/// id.
///
/// Not idempotent for a transport: the end state of a second stop is the same, but ECS refuses it
/// (`Ecs.0603`, "the commands are being executed") while the first one's job runs, so a blind
/// re-send after a lost answer would report a failure for a stop that happened, and lose its
/// job id. A lost answer is therefore reported as such, never re-sent.
#[derive(Debug, Clone)]
pub struct BatchStop {
    project_id: ProjectId,
    servers: Vec<ServerId>,
    stop_type: StopType,
}

impl BatchStop {
    /// Stops `servers` (at least one, or encoding fails) in `project_id` the `stop_type` way.
    pub fn new(project_id: ProjectId, servers: Vec<ServerId>, stop_type: StopType) -> Self {
        Self {
            project_id,
            servers,
            stop_type,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<BatchStopBody, EncodeError> {
        BatchStopBody::new(&self.servers, self.stop_type)
    }
}

impl Operation for BatchStop {
    type Output = JobId;

    const NAME: &'static str = "ecs.batch_stop";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = format!("/v1/{}/cloudservers/action", self.project_id);
        post_json(Self::NAME, endpoint, &path, &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Starts servers: `POST /v1/{project_id}/cloudservers/action` with `os-start`, answered by the
/// job id.
///
/// Not idempotent for a transport, for the reason given at [`BatchStop`]: a second start is
/// refused while the first one's job runs.
#[derive(Debug, Clone)]
pub struct BatchStart {
    project_id: ProjectId,
    servers: Vec<ServerId>,
}

impl BatchStart {
    /// Starts `servers` (at least one, or encoding fails) in `project_id`.
    pub fn new(project_id: ProjectId, servers: Vec<ServerId>) -> Self {
        Self {
            project_id,
            servers,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<BatchStartBody, EncodeError> {
        BatchStartBody::new(&self.servers)
    }
}

impl Operation for BatchStart {
    type Output = JobId;

    const NAME: &'static str = "ecs.batch_start";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = format!("/v1/{}/cloudservers/action", self.project_id);
        post_json(Self::NAME, endpoint, &path, &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Queries a job: `GET /v1/{project_id}/jobs/{job_id}`, answered by the [`Job`].
///
/// Idempotent: a query changes nothing.
#[derive(Debug, Clone)]
pub struct ShowJob {
    project_id: ProjectId,
    job_id: JobId,
}

impl ShowJob {
    /// Queries `job_id` in `project_id`.
    pub fn new(project_id: ProjectId, job_id: JobId) -> Self {
        Self { project_id, job_id }
    }

    /// The job queried.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }
}

impl Operation for ShowJob {
    type Output = Job;

    const NAME: &'static str = "ecs.show_job";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = format!("/v1/{}/jobs/{}", self.project_id, self.job_id);
        get(Self::NAME, endpoint, &path)
    }

    /// Reads the job. A missing or `null` `job_id` is the one asked for; a missing `status` is
    /// [`JobStatus::Unknown`] with an empty text. A 2xx answer that holds only an error (`code`
    /// and `message`, as the job query documents) is what ECS said, not a job.
    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<Job, ResponseError> {
        let answer = success_json(Self::NAME, response)?;
        let fail = |problem: String| answer.fail(Self::NAME, problem);
        let top = Obj::root(&answer.value).map_err(fail)?;
        if top.is_error_only("status") {
            return Err(answer.refusal());
        }
        read_job(&top, &self.job_id).map_err(fail)
    }
}

/// Queries a server's details: `GET /v1/{project_id}/cloudservers/{server_id}`, answered by the
/// [`ServerDetails`].
///
/// Idempotent: a query changes nothing.
#[derive(Debug, Clone)]
pub struct ShowServer {
    project_id: ProjectId,
    server_id: ServerId,
}

impl ShowServer {
    /// Queries `server_id` in `project_id`.
    pub fn new(project_id: ProjectId, server_id: ServerId) -> Self {
        Self {
            project_id,
            server_id,
        }
    }
}

impl Operation for ShowServer {
    type Output = ServerDetails;

    const NAME: &'static str = "ecs.show_server";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = format!("/v1/{}/cloudservers/{}", self.project_id, self.server_id);
        get(Self::NAME, endpoint, &path)
    }

    /// Reads `server`. Only `server.id` is required; see [`ServerDetails::unreadable`].
    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<ServerDetails, ResponseError> {
        let answer = success_json(Self::NAME, response)?;
        let fail = |problem: String| answer.fail(Self::NAME, problem);
        let top = Obj::root(&answer.value).map_err(fail)?;
        if top.is_error_only("server") {
            return Err(answer.refusal());
        }
        let server = top
            .object("server")
            .map_err(fail)?
            .ok_or_else(|| fail("the answer has no `server` object".to_owned()))?;
        read_server(&server).map_err(fail)
    }
}

// ---------------------------------------------------------------------------------------------
// Server details.
// ---------------------------------------------------------------------------------------------

/// An ECS server status (`server.status`), as the ECS statuses page lists them.
///
/// ```
/// use reimage_wire::ecs::ServerStatus;
///
/// assert_eq!(ServerStatus::from_wire("SHUTOFF"), ServerStatus::Shutoff);
/// assert_eq!(ServerStatus::from_wire("HIBERNATED").as_str(), "HIBERNATED");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerStatus {
    /// `ACTIVE`: running.
    Active,
    /// `BUILD`: created, not yet running.
    Build,
    /// `REBOOT`: restarting.
    Reboot,
    /// `HARD_REBOOT`: restarting forcibly.
    HardReboot,
    /// `REBUILD`: being rebuilt (reinstall and change of OS show this).
    Rebuild,
    /// `MIGRATING`: being live-migrated.
    Migrating,
    /// `RESIZE`: being resized.
    Resize,
    /// `VERIFY_RESIZE`: a resize waits to be confirmed.
    VerifyResize,
    /// `REVERT_RESIZE`: a resize is being rolled back.
    RevertResize,
    /// `SHUTOFF`: stopped.
    Shutoff,
    /// `ERROR`: an error occurred.
    Error,
    /// `DELETED`: deleted.
    Deleted,
    /// `SHELVED`: shelved (booted from an image).
    Shelved,
    /// `SHELVED_OFFLOADED`: shelved (booted from a volume).
    ShelvedOffloaded,
    /// Any other status, including the documented `UNKNOWN`, as ECS wrote it.
    Unknown(String),
}

impl ServerStatus {
    /// The status as ECS writes it.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "BUILD" => Self::Build,
            "REBOOT" => Self::Reboot,
            "HARD_REBOOT" => Self::HardReboot,
            "REBUILD" => Self::Rebuild,
            "MIGRATING" => Self::Migrating,
            "RESIZE" => Self::Resize,
            "VERIFY_RESIZE" => Self::VerifyResize,
            "REVERT_RESIZE" => Self::RevertResize,
            "SHUTOFF" => Self::Shutoff,
            "ERROR" => Self::Error,
            "DELETED" => Self::Deleted,
            "SHELVED" => Self::Shelved,
            "SHELVED_OFFLOADED" => Self::ShelvedOffloaded,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The status as ECS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "ACTIVE",
            Self::Build => "BUILD",
            Self::Reboot => "REBOOT",
            Self::HardReboot => "HARD_REBOOT",
            Self::Rebuild => "REBUILD",
            Self::Migrating => "MIGRATING",
            Self::Resize => "RESIZE",
            Self::VerifyResize => "VERIFY_RESIZE",
            Self::RevertResize => "REVERT_RESIZE",
            Self::Shutoff => "SHUTOFF",
            Self::Error => "ERROR",
            Self::Deleted => "DELETED",
            Self::Shelved => "SHELVED",
            Self::ShelvedOffloaded => "SHELVED_OFFLOADED",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OS-EXT-STS:power_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PowerState {
    /// `0`: no state.
    NoState,
    /// `1`: running.
    Running,
    /// `4`: shut down.
    Shutdown,
    /// Any other value.
    Other(u64),
}

impl PowerState {
    /// The state for ECS's number.
    pub fn from_code(code: u64) -> Self {
        match code {
            0 => Self::NoState,
            1 => Self::Running,
            4 => Self::Shutdown,
            other => Self::Other(other),
        }
    }

    /// ECS's number for the state.
    pub fn code(self) -> u64 {
        match self {
            Self::NoState => 0,
            Self::Running => 1,
            Self::Shutdown => 4,
            Self::Other(code) => code,
        }
    }
}

/// One address of a server, from `server.addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerAddress {
    /// `addr`: the IP address.
    pub addr: String,
    /// `version`: 4 or 6.
    pub version: Option<u8>,
    /// `OS-EXT-IPS:type`: `fixed` (private) or `floating`.
    pub kind: Option<String>,
    /// `OS-EXT-IPS-MAC:mac_addr`.
    pub mac: Option<String>,
    /// `OS-EXT-IPS:port_id`.
    pub port_id: Option<String>,
    /// `primary`: whether it is the primary address.
    pub primary: Option<bool>,
}

impl ServerAddress {
    /// An address with only `addr` set.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            version: None,
            kind: None,
            mac: None,
            port_id: None,
            primary: None,
        }
    }
}

/// A server, as `GET /v1/{project_id}/cloudservers/{server_id}` shows it.
///
/// Everything but the id is optional. A field that is present but cannot be read (a time that is
/// not a time, an object where a string was expected, user data that is not base64) is left
/// empty and its wire name listed in [`unreadable`](Self::unreadable). `Debug` shows the length
/// of the user data, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerDetails {
    /// `id`.
    pub id: ServerId,
    /// `name`.
    pub name: Option<String>,
    /// `status`.
    pub status: Option<ServerStatus>,
    /// `OS-EXT-STS:task_state`: the operation under way (`rebuilding`, `powering-off`, …), if any.
    pub task_state: Option<String>,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, …
    pub vm_state: Option<String>,
    /// `OS-EXT-STS:power_state`.
    pub power_state: Option<PowerState>,
    /// `image.id`: the image the system disk came from. Empty for a server booted from a volume
    /// (`"image": ""`); an id that is not a UUID is listed in [`unreadable`](Self::unreadable) as
    /// `image.id`.
    pub image_id: Option<ImageId>,
    /// `flavor.id`.
    pub flavor_id: Option<String>,
    /// `key_name`.
    pub key_name: Option<String>,
    /// `locked`.
    pub locked: Option<bool>,
    /// `progress`, 0 to 100.
    pub progress: Option<u64>,
    /// `created`.
    pub created: Option<Timestamp>,
    /// `updated`.
    pub updated: Option<Timestamp>,
    /// `OS-SRV-USG:launched_at` (written without a zone; UTC).
    pub launched_at: Option<Timestamp>,
    /// `OS-EXT-SRV-ATTR:user_data`, base64-decoded.
    pub user_data: Option<UserData>,
    /// `addresses`: network name (or id) → its addresses.
    pub addresses: BTreeMap<String, Vec<ServerAddress>>,
    /// `metadata`, the entries whose values are strings.
    pub metadata: BTreeMap<String, String>,
    /// The wire names of fields that were present but could not be read.
    pub unreadable: Vec<String>,
}

impl ServerDetails {
    /// Details with only the id; the rest is empty.
    pub fn new(id: ServerId) -> Self {
        Self {
            id,
            name: None,
            status: None,
            task_state: None,
            vm_state: None,
            power_state: None,
            image_id: None,
            flavor_id: None,
            key_name: None,
            locked: None,
            progress: None,
            created: None,
            updated: None,
            launched_at: None,
            user_data: None,
            addresses: BTreeMap::new(),
            metadata: BTreeMap::new(),
            unreadable: Vec::new(),
        }
    }
}

fn read_server(server: &Obj<'_>) -> Result<ServerDetails, String> {
    let id = server
        .text("id")?
        .ok_or_else(|| "server.id is missing".to_owned())?;
    let id = ServerId::new(id.as_str()).map_err(|_| {
        format!(
            "server.id is not a server id ({} characters); expected a UUID",
            id.chars().count()
        )
    })?;
    let mut d = ServerDetails::new(id);
    let mut bad = Vec::new();
    // Keeps a readable value; names the field of an unreadable one.
    fn keep<T>(bad: &mut Vec<String>, field: &str, value: Result<Option<T>, String>) -> Option<T> {
        value.unwrap_or_else(|_| {
            bad.push(field.to_owned());
            None
        })
    }
    d.name = keep(&mut bad, "name", server.text("name"));
    d.status = keep(&mut bad, "status", server.text("status")).map(|s| ServerStatus::from_wire(&s));
    d.task_state = keep(
        &mut bad,
        "OS-EXT-STS:task_state",
        server.text("OS-EXT-STS:task_state"),
    );
    d.vm_state = keep(
        &mut bad,
        "OS-EXT-STS:vm_state",
        server.text("OS-EXT-STS:vm_state"),
    );
    d.power_state = keep(
        &mut bad,
        "OS-EXT-STS:power_state",
        server.uint("OS-EXT-STS:power_state"),
    )
    .map(PowerState::from_code);
    // `image` is an object, or an empty string for a server booted from a volume.
    d.image_id = match server.get("image") {
        None | Some(Value::String(_)) => None,
        Some(_) => {
            let id = server
                .object("image")
                .and_then(|image| image.map_or(Ok(None), |image| image.text("id")));
            match keep(&mut bad, "image", id).filter(|id| !id.is_empty()) {
                None => None,
                Some(id) => ImageId::new(id).ok().or_else(|| {
                    bad.push("image.id".to_owned());
                    None
                }),
            }
        }
    };
    let flavor_id = server
        .object("flavor")
        .and_then(|flavor| flavor.map_or(Ok(None), |flavor| flavor.text("id")));
    d.flavor_id = keep(&mut bad, "flavor", flavor_id);
    d.key_name = keep(&mut bad, "key_name", server.text("key_name"));
    d.locked = keep(&mut bad, "locked", server.boolean("locked"));
    d.progress = keep(&mut bad, "progress", server.uint("progress"));
    d.created = keep(&mut bad, "created", server.time("created"));
    d.updated = keep(&mut bad, "updated", server.time("updated"));
    d.launched_at = keep(
        &mut bad,
        "OS-SRV-USG:launched_at",
        server.time("OS-SRV-USG:launched_at"),
    );
    d.user_data = keep(
        &mut bad,
        "OS-EXT-SRV-ATTR:user_data",
        server
            .text("OS-EXT-SRV-ATTR:user_data")
            .and_then(|text| match text {
                None => Ok(None),
                Some(text) if text.is_empty() => Ok(None),
                Some(text) => {
                    let compact: String =
                        text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    STANDARD
                        .decode(compact)
                        .map(|bytes| Some(UserData::from(bytes)))
                        .map_err(|_| String::new())
                }
            }),
    );
    match server.object("addresses") {
        Ok(None) => {}
        Ok(Some(networks)) => {
            for (network, entries) in networks.entries() {
                match read_addresses(entries) {
                    Some(list) => {
                        d.addresses.insert(network.clone(), list);
                    }
                    None => bad.push(format!("addresses.{network}")),
                }
            }
        }
        Err(_) => bad.push("addresses".to_owned()),
    }
    match server.object("metadata") {
        Ok(None) => {}
        Ok(Some(metadata)) => {
            for (key, value) in metadata.entries() {
                if let Value::String(s) = value {
                    d.metadata.insert(key.clone(), s.clone());
                }
            }
        }
        Err(_) => bad.push("metadata".to_owned()),
    }
    d.unreadable = bad;
    Ok(d)
}

/// The addresses of one network, or `None` when they are not a list of objects with `addr`.
fn read_addresses(entries: &Value) -> Option<Vec<ServerAddress>> {
    let mut list = Vec::new();
    for entry in entries.as_array()? {
        let entry = Obj::new(entry.as_object()?, String::new());
        let mut address = ServerAddress::new(entry.text("addr").ok()??);
        address.version = entry
            .uint("version")
            .ok()?
            .and_then(|v| u8::try_from(v).ok());
        address.kind = entry.text("OS-EXT-IPS:type").ok()?;
        address.mac = entry.text("OS-EXT-IPS-MAC:mac_addr").ok()?;
        address.port_id = entry.text("OS-EXT-IPS:port_id").ok()?;
        address.primary = entry.boolean("primary").ok()?;
        list.push(address);
    }
    Some(list)
}

// ---------------------------------------------------------------------------------------------
// Jobs.
// ---------------------------------------------------------------------------------------------

fn read_job(top: &Obj<'_>, requested: &JobId) -> Result<Job, String> {
    let id = match top.text("job_id")? {
        None => requested.clone(),
        Some(id) => job_id(&top.name("job_id"), &id)?,
    };
    let mut job = Job::new(id, job_status(top)?);
    job.job_type = top.text("job_type")?;
    job.begin_time = top.time("begin_time")?;
    job.end_time = top.time("end_time")?;
    job.error_code = top.text("error_code")?;
    job.fail_reason = top.text("fail_reason")?;
    if let Some(entities) = top.object("entities")? {
        job.server_id = entities.text("server_id")?;
        job.sub_jobs_total = entities.uint("sub_jobs_total")?;
        if let Some(subs) = entities.array("sub_jobs")? {
            for (i, sub) in subs.iter().enumerate() {
                let name = entities.name(&format!("sub_jobs[{i}]"));
                let sub = sub
                    .as_object()
                    .map(|map| Obj::new(map, format!("{name}.")))
                    .ok_or_else(|| format!("{name} is not an object"))?;
                job.sub_jobs.push(read_sub_job(&sub)?);
            }
        }
    }
    Ok(job)
}

fn read_sub_job(sub: &Obj<'_>) -> Result<SubJob, String> {
    let mut job = SubJob::new(job_status(sub)?);
    job.id = match sub.text("job_id")? {
        None => None,
        Some(id) => Some(job_id(&sub.name("job_id"), &id)?),
    };
    job.job_type = sub.text("job_type")?;
    job.begin_time = sub.time("begin_time")?;
    job.end_time = sub.time("end_time")?;
    job.error_code = sub.text("error_code")?;
    job.fail_reason = sub.text("fail_reason")?;
    if let Some(entities) = sub.object("entities")? {
        job.server_id = entities.text("server_id")?;
        job.errorcode_message = entities.text("errorcode_message")?;
    }
    Ok(job)
}

fn job_status(obj: &Obj<'_>) -> Result<JobStatus, String> {
    Ok(obj
        .text("status")?
        .map_or(JobStatus::Unknown(String::new()), |s| {
            JobStatus::from_wire(&s)
        }))
}

fn job_id(field: &str, id: &str) -> Result<JobId, String> {
    JobId::new(id).map_err(|_| {
        format!(
            "{field} is not a job id ({} characters); expected 1 to 64 letters, digits or '-'",
            id.chars().count()
        )
    })
}

/// The `{"job_id":"..."}` answer of reinstallos, changeos and the batch actions.
fn job_id_answer(
    operation: &'static str,
    response: Response<Bytes>,
) -> Result<JobId, ResponseError> {
    let answer = success_json(operation, response)?;
    let fail = |problem: String| answer.fail(operation, problem);
    let top = Obj::root(&answer.value).map_err(fail)?;
    if top.is_error_only("job_id") {
        return Err(answer.refusal());
    }
    let id = top
        .text("job_id")
        .map_err(fail)?
        .ok_or_else(|| fail("the answer has no `job_id`".to_owned()))?;
    job_id("job_id", &id).map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// Reading answers.
// ---------------------------------------------------------------------------------------------

/// A 2xx answer, read as JSON.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    value: Value,
}

impl Answer {
    /// What ECS said, for a 2xx answer that holds only an error.
    fn refusal(&self) -> ResponseError {
        huawei_error(
            Provider::Ecs,
            self.status.as_u16(),
            &self.headers,
            &self.body,
        )
        .into()
    }

    /// A decode error about this answer.
    fn fail(&self, operation: &'static str, problem: String) -> ResponseError {
        decode_error(operation, self.status, &self.headers, problem)
    }
}

/// A 2xx answer as JSON; any other status is what ECS said.
fn success_json(
    operation: &'static str,
    response: Response<Bytes>,
) -> Result<Answer, ResponseError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        return Err(
            huawei_error(Provider::Ecs, parts.status.as_u16(), &parts.headers, &body).into(),
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) => Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
            value,
        }),
        Err(e) => Err(decode_error(
            operation,
            parts.status,
            &parts.headers,
            json_problem(&e),
        )),
    }
}

fn decode_error(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    problem: String,
) -> ResponseError {
    DecodeError::new(operation, Provider::Ecs, status.as_u16(), problem)
        .with_request_id(request_id(headers))
        .into()
}

/// A JSON object read field by field. Errors name the field by its path and never quote values.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    /// The path of this object, ending in `.` (empty at the top).
    path: String,
}

impl<'a> Obj<'a> {
    fn new(map: &'a Map<String, Value>, path: String) -> Self {
        Self { map, path }
    }

    fn root(value: &'a Value) -> Result<Self, String> {
        value
            .as_object()
            .map(|map| Self::new(map, String::new()))
            .ok_or_else(|| format!("the answer is {}, not an object", kind(value)))
    }

    /// The full name of `key`, for errors.
    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    /// The value of `key`; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// Whether the object holds an error (`error`, `error_code` or `code`) and not `expected`.
    fn is_error_only(&self, expected: &str) -> bool {
        self.get(expected).is_none()
            && ["error", "error_code", "code"]
                .iter()
                .any(|k| self.get(k).is_some())
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> String {
        format!("{} is {}, not {want}", self.name(key), kind(got))
    }

    /// A string; numbers and booleans are taken as their text.
    fn text(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A time; an empty string counts as absent.
    fn time(&self, key: &str) -> Result<Option<Timestamp>, String> {
        match self.text(key)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => Timestamp::parse(&text).map(Some).map_err(|_| {
                format!(
                    "{} is not a date and time ({} characters); expected RFC 3339, e.g. \
                     2016-04-25T20:04:47.591Z",
                    self.name(key),
                    text.chars().count()
                )
            }),
        }
    }

    /// A whole number, or a string of digits.
    fn uint(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(other) => Err(self.wrong(key, "a whole number", other)),
        }
    }

    /// A boolean, or the string `true` or `false`.
    fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Obj<'a>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj::new(map, format!("{}.", self.name(key))))),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }
}

/// What kind of JSON value it is, without its content.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
