//! The operations: one value per call, implementing [`Operation`].

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn json_body<T: Serialize>(
    operation: &'static str,
    body: &T,
) -> Result<Bytes, EncodeError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| EncodeError::Build {
            operation,
            problem: format!("the JSON body could not be written: {e}"),
        })
}

/// A `GET` of `path` under `endpoint`, with no body: the shape of every ECS query.
pub(super) fn get(
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
pub(super) fn post_json<T: Serialize>(
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

    pub(super) fn path(&self) -> String {
        EcsRoute::ReinstallOs {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path()
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
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?.redacted())
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Reinstalls a server whose image has no cloud-init (nor Cloudbase-Init): `POST
/// /v1/{project_id}/cloudservers/{server_id}/reinstallos`, answered by the job id. The body is
/// the same `os-reinstall` object as [`ReinstallOs`]'s, with a password or a key pair
/// (`keyname` and `userid`; Open Telekom Cloud documents only those) and never user data
/// ([`ReinstallBody::without_cloud_init`]).
///
/// Not idempotent, like [`ReinstallOs`].
///
/// ```
/// use reimage_core::{EcsOsSpec, EcsReinstall, KeyPairName, ProjectId, ServerId, UserId};
/// use reimage_wire::{Endpoint, Operation, ecs::ReinstallOsWithoutCloudInit};
///
/// let spec = EcsOsSpec::builder()
///     .keyname(KeyPairName::new("KeyPair-350b")?)
///     .userid(UserId::new("7e25b1da389f4697a79df3a0e5bd494e")?)
///     .build()?;
/// let op = ReinstallOsWithoutCloudInit::new(
///     ProjectId::new("0123456789abcdef0123456789abcdef")?,
///     ServerId::new("11111111-2222-3333-4444-555555555555")?,
///     EcsReinstall::new(spec),
/// );
/// let request = op.to_request(&Endpoint::parse("https://ecs.example.com")?)?;
/// assert_eq!(request.uri().path(), "/v1/0123456789abcdef0123456789abcdef/cloudservers/11111111-2222-3333-4444-555555555555/reinstallos");
/// assert_eq!(
///     request.body().as_ref(),
///     br#"{"os-reinstall":{"keyname":"KeyPair-350b","userid":"7e25b1da389f4697a79df3a0e5bd494e"}}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReinstallOsWithoutCloudInit {
    project_id: ProjectId,
    server_id: ServerId,
    input: EcsReinstall,
}

impl ReinstallOsWithoutCloudInit {
    /// Reinstalls `server_id` in `project_id` as `input` says (no user data).
    pub fn new(project_id: ProjectId, server_id: ServerId, input: EcsReinstall) -> Self {
        Self {
            project_id,
            server_id,
            input,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<ReinstallBody, EncodeError> {
        ReinstallBody::without_cloud_init(&self.input)
    }

    fn path(&self) -> String {
        EcsRoute::ReinstallOsWithoutCloudInit {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path()
    }
}

impl Operation for ReinstallOsWithoutCloudInit {
    type Output = JobId;

    const NAME: &'static str = "ecs.reinstallos_without_cloud_init";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?.redacted())
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
    }
}

/// Changes a server's OS to an image without cloud-init (nor Cloudbase-Init): `POST
/// /v1/{project_id}/cloudservers/{server_id}/changeos`, answered by the job id. The body is the
/// same `os-change` object as [`ChangeOs`]'s, with a password or a key pair and never user data
/// ([`ChangeOsBody::without_cloud_init`]).
///
/// Not idempotent, like [`ChangeOs`].
#[derive(Debug, Clone)]
pub struct ChangeOsWithoutCloudInit {
    project_id: ProjectId,
    server_id: ServerId,
    input: EcsChangeOs,
}

impl ChangeOsWithoutCloudInit {
    /// Changes the OS of `server_id` in `project_id` as `input` says (no user data).
    pub fn new(project_id: ProjectId, server_id: ServerId, input: EcsChangeOs) -> Self {
        Self {
            project_id,
            server_id,
            input,
        }
    }

    /// The body this operation sends.
    pub fn body(&self) -> Result<ChangeOsBody, EncodeError> {
        ChangeOsBody::without_cloud_init(&self.input)
    }

    fn path(&self) -> String {
        EcsRoute::ChangeOsWithoutCloudInit {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path()
    }
}

impl Operation for ChangeOsWithoutCloudInit {
    type Output = JobId;

    const NAME: &'static str = "ecs.changeos_without_cloud_init";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?.redacted())
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<JobId, ResponseError> {
        job_id_answer(Self::NAME, response)
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

    pub(super) fn path(&self) -> String {
        EcsRoute::ChangeOs {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path()
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
        post_json(Self::NAME, endpoint, &self.path(), &self.body()?.redacted())
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
        let path = EcsRoute::ServerAction {
            project_id: self.project_id.clone(),
        }
        .path();
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
        let path = EcsRoute::ServerAction {
            project_id: self.project_id.clone(),
        }
        .path();
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
        let path = EcsRoute::ShowJob {
            project_id: self.project_id.clone(),
            job_id: self.job_id.clone(),
        }
        .path();
        get(Self::NAME, endpoint, &path)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    /// Reads the job. A missing or `null` `job_id` is the one asked for; a missing `status` is
    /// [`JobStatus::Unknown`] with an empty text. A 2xx answer that holds only an error (`code`
    /// and `message`, as the job query documents) is what ECS said, not a job.
    fn decode_response(&self, response: Response<Bytes>) -> Result<Job, ResponseError> {
        // The typed road reads a well-formed job without a `Value` tree; anything else goes the
        // `Value` road below, which gives the same job or says what is wrong.
        if response.status().is_success()
            && let Some(job) = typed::job(response.body(), &self.job_id)
        {
            return Ok(job);
        }
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
        let path = EcsRoute::ShowServer {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path();
        get(Self::NAME, endpoint, &path)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    /// Reads `server`. Only `server.id` is required; see [`ServerDetails::unreadable`].
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

/// Lists the project's servers with their details: `GET
/// /v1/{project_id}/cloudservers/detail[?name=NAME]`. ECS matches `name` loosely (as a pattern,
/// by part), so a caller that wants one server by its name keeps the exact matches.
///
/// ```
/// use reimage_core::ProjectId;
/// use reimage_wire::{Endpoint, Operation, ecs::ListServers};
///
/// let op = ListServers::new(ProjectId::new("0123456789abcdef0123456789abcdef")?).with_name("web 1");
/// let request = op.to_request(&Endpoint::parse("https://ecs.example.com")?)?;
/// assert_eq!(
///     request.uri(),
///     "https://ecs.example.com/v1/0123456789abcdef0123456789abcdef/cloudservers/detail?name=web%201&limit=1000"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ListServers {
    project_id: ProjectId,
    name: Option<String>,
}

/// The most servers one [`ListServers`] page holds (ECS's maximum).
pub const LIST_LIMIT: u32 = 1000;

impl ListServers {
    /// Every server of `project_id` (up to [`LIST_LIMIT`]).
    pub fn new(project_id: ProjectId) -> Self {
        Self {
            project_id,
            name: None,
        }
    }

    /// Only the servers whose name matches `name` (as ECS matches it: loosely).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl Operation for ListServers {
    type Output = Vec<ServerDetails>;

    const NAME: &'static str = "ecs.list_servers";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(name) = &self.name {
            query.append_pair("name", name);
        }
        query.append_pair("limit", &LIST_LIMIT.to_string());
        let path = format!(
            "{}?{}",
            EcsRoute::ListServers {
                project_id: self.project_id.clone(),
            }
            .path(),
            query.finish().replace('+', "%20")
        );
        get(Self::NAME, endpoint, &path)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    /// Reads `servers`, each as [`ShowServer`] reads one.
    fn decode_response(
        &self,
        response: Response<Bytes>,
    ) -> Result<Vec<ServerDetails>, ResponseError> {
        let answer = success_json(Self::NAME, response)?;
        let fail = |problem: String| answer.fail(Self::NAME, problem);
        let top = Obj::root(&answer.value).map_err(fail)?;
        if top.is_error_only("servers") {
            return Err(answer.refusal());
        }
        let servers = top
            .array("servers")
            .map_err(fail)?
            .ok_or_else(|| fail("the answer has no `servers` list".to_owned()))?;
        servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                let name = format!("servers[{i}]");
                let server = server
                    .as_object()
                    .map(|map| Obj::new(map, format!("{name}.")))
                    .ok_or_else(|| fail(format!("{name} is not an object")))?;
                read_server(&server).map_err(fail)
            })
            .collect()
    }
}
