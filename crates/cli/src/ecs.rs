//! `reimage ecs`: token, reinstall, change-os, job, server, stop and start.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use reimage_client::auth::aksk::AkSk;
use reimage_client::auth::iam::{PasswordCredentials, ProjectName, TokenScope};
use reimage_client::wire::Endpoint;
use reimage_client::wire::ecs::{RebuildApi, ServerDetails, ServerStatus, StopType};
use reimage_client::{EcsAuth, EcsClient, PollSchedule, Started};
use reimage_cloudinit::jinja::{InstanceData, Target};
use reimage_config::{Flags, Resolved};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, JobId, KeyPairName, ProjectId,
    ServerId, UserId,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::common::{self, Behaviour, Connection, Failure, Output, Progress, WaitFor, exit};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Connection,

    /// The ECS endpoint, such as `https://ecs.eu-de.otc.t-systems.com` (else
    /// `REIMAGE_ECS_ENDPOINT`, the profile's `endpoint`, or built from `--region`).
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,

    /// The IAM endpoint for tokens, with or without the trailing `/v3` (else `OS_AUTH_URL`, the
    /// profile's `iam_endpoint`, built from `--region`, or `--endpoint`).
    #[arg(long = "iam-endpoint", global = true, value_name = "URL")]
    iam_endpoint: Option<String>,

    /// The project id (else `OS_PROJECT_ID`, `HUAWEICLOUD_SDK_PROJECT_ID`, or the profile).
    #[arg(long = "project-id", global = true, value_name = "ID")]
    project_id: Option<String>,

    /// The region (`eu-de`, `ap-southeast-1`): builds the public endpoints of `--cloud`.
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,

    /// Whose public endpoints `--region` builds: `huawei` (default) or `otc`.
    #[arg(long, global = true, value_name = "CLOUD")]
    cloud: Option<String>,

    /// Read the IAM password from this file (`-`: stdin) instead of `OS_PASSWORD`.
    #[arg(long = "password-file", global = true, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// Read the AK/SK secret key from this file (`-`: stdin) instead of `HUAWEICLOUD_SDK_SK`.
    #[arg(long = "secret-key-file", global = true, value_name = "FILE")]
    secret_key_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Get an IAM token and print it on stdout (the only command that prints a secret, since
    /// that is what it is asked for).
    Token {
        /// `text`: the token alone; `json`: the token and its expiry.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Reinstall the server's OS from its current image (POST …/reinstallos). Destroys the
    /// system disk's data.
    Reinstall(ReinstallArgs),
    /// Change the server's OS to another image (POST …/changeos). Destroys the system disk's
    /// data.
    ChangeOs(ChangeOsArgs),
    /// Show a job (GET /v1/{project_id}/jobs/{job_id}); `--wait` follows it to its end.
    Job {
        /// The job id, as reinstall, change-os, stop and start print it.
        #[arg(value_name = "JOB_ID")]
        job: String,
        #[command(flatten)]
        behaviour: Behaviour,
    },
    /// List the project's servers (GET /v1/{project_id}/cloudservers/detail): id, name, status,
    /// image and addresses.
    Servers {
        /// Only the servers whose name holds this (ECS matches names by part).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// `text`: one line per server; `json`: a list.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Show a server's details.
    Server {
        /// The server's id, or its exact name.
        #[arg(long, value_name = "ID|NAME")]
        server: String,
        /// `text` or `json`.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Stop servers (a job).
    Stop {
        /// The server's id, or its exact name (repeatable).
        #[arg(long, value_name = "ID|NAME", required = true)]
        server: Vec<String>,
        /// Stop at once (HARD) instead of shutting down (SOFT).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        behaviour: Behaviour,
    },
    /// Start servers (a job).
    Start {
        /// The server's id, or its exact name (repeatable).
        #[arg(long, value_name = "ID|NAME", required = true)]
        server: Vec<String>,
        #[command(flatten)]
        behaviour: Behaviour,
    },
}

/// What a reinstall and a change of OS share.
#[derive(Debug, clap::Args)]
struct Rebuild {
    /// The server's id, or its exact name (looked up with the list call; a name that several
    /// servers have is refused, with their ids).
    #[arg(long, value_name = "ID|NAME")]
    server: String,

    /// The new OS's root/Administrator password, read from this file (`-`: stdin). Never on the
    /// command line. One trailing newline is removed.
    #[arg(long = "admin-password-file", value_name = "FILE")]
    admin_password_file: Option<PathBuf>,

    /// The key pair to log in with instead of a password (with `--user-id`).
    #[arg(long, value_name = "NAME", requires = "user_id")]
    keypair: Option<String>,

    /// The id of the user who owns `--keypair`.
    #[arg(long = "user-id", value_name = "ID")]
    user_id: Option<String>,

    /// cloud-init user data, checked before it is sent.
    #[arg(long = "user-data", value_name = "FILE")]
    user_data: Option<PathBuf>,

    /// Send user data even if validation finds errors.
    #[arg(long = "no-validate")]
    no_validate: bool,

    /// Send user data that leaves no way to log in (no SSH key, no usable password) when no
    /// `--admin-password-file` or `--keypair` is given. Without it, such user data is refused
    /// (exit 3).
    #[arg(long = "allow-lockout")]
    allow_lockout: bool,

    /// `with-stop-server`: stop a running server first (else ECS refuses a running one).
    #[arg(long, value_enum, value_name = "MODE")]
    mode: Option<Mode>,

    /// Answer the confirmation with yes (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,

    /// Print the exact request (secrets redacted) and send nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,

    /// Which of ECS's APIs to use: `cloud-init` (POST /v2/…, a password, key pair and user data)
    /// or `plain`, for an image without cloud-init (POST /v1/…, no user data). Without it,
    /// reimage asks the image service whether the image has cloud-init (its
    /// `__support_fc_inject` attribute) and chooses.
    #[arg(long, value_enum, value_name = "API")]
    api: Option<ApiFlag>,

    #[command(flatten)]
    behaviour: Behaviour,

    #[command(flatten)]
    after: crate::after::AfterArgs,
}

/// `--api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApiFlag {
    /// The cloud-init calls (POST /v2/…).
    CloudInit,
    /// The calls for an image without cloud-init (POST /v1/…).
    Plain,
}

impl From<ApiFlag> for RebuildApi {
    fn from(flag: ApiFlag) -> Self {
        match flag {
            ApiFlag::CloudInit => Self::CloudInit,
            ApiFlag::Plain => Self::Plain,
        }
    }
}

#[derive(Debug, clap::Args)]
struct ReinstallArgs {
    /// The same as `--api plain`: the server's image has no cloud-init (nor Cloudbase-Init), so
    /// use ECS's reinstall for such images (POST /v1/…/reinstallos), with
    /// `--admin-password-file` or `--keypair`, and no user data.
    #[arg(long = "without-cloud-init", conflicts_with = "api")]
    without_cloud_init: bool,

    #[command(flatten)]
    rebuild: Rebuild,
}

/// Which destructive call a command makes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rebuilt {
    /// Reinstall the current image (cloud-init).
    Reinstall,
    /// Reinstall the current image, which has no cloud-init.
    ReinstallWithoutCloudInit,
    /// Change to another image.
    ChangeOs(ImageId),
    /// Change to another image, which has no cloud-init.
    ChangeOsWithoutCloudInit(ImageId),
}

#[derive(Debug, clap::Args)]
struct ChangeOsArgs {
    /// The new image's id.
    #[arg(long, value_name = "ID")]
    image: String,

    /// The same as `--api plain`: the new image has no cloud-init (nor Cloudbase-Init), so use
    /// ECS's change of OS for such images (POST /v1/…/changeos), with `--admin-password-file`
    /// or `--keypair`, and no user data.
    #[arg(long = "without-cloud-init", conflicts_with = "api")]
    without_cloud_init: bool,

    /// A yearly/monthly server: pay the order the change of OS may make from the account at
    /// once (`isAutoPay`), instead of leaving its job in PENDING_PAYMENT until someone pays.
    #[arg(long = "auto-pay")]
    auto_pay: bool,

    /// How long `--wait` waits for a job in PENDING_PAYMENT (an unpaid order) before it gives
    /// up (exit code 5); `--deadline` counts from the payment. Seconds or a duration (`30m`).
    #[arg(
        long = "payment-deadline",
        value_name = "DURATION",
        default_value = "1800",
        value_parser = common::parse_duration_secs
    )]
    payment_deadline: u64,

    #[command(flatten)]
    rebuild: Rebuild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `mode: withStopServer`.
    WithStopServer,
}

/// Runs `reimage ecs …`.
pub(crate) fn run(args: &Args) -> u8 {
    let name = match &args.command {
        Command::Token { .. } => "ecs token",
        Command::Reinstall(_) => "ecs reinstall",
        Command::ChangeOs(_) => "ecs change-os",
        Command::Job { .. } => "ecs job",
        Command::Server { .. } => "ecs server",
        Command::Servers { .. } => "ecs servers",
        Command::Stop { .. } => "ecs stop",
        Command::Start { .. } => "ecs start",
    };
    let output = match &args.command {
        Command::Token { output }
        | Command::Server { output, .. }
        | Command::Servers { output, .. } => *output,
        Command::Reinstall(r) => r.rebuild.behaviour.output,
        Command::ChangeOs(change) => change.rebuild.behaviour.output,
        Command::Job { behaviour, .. }
        | Command::Stop { behaviour, .. }
        | Command::Start { behaviour, .. } => behaviour.output,
    };
    match common::block_on(dispatch(args)) {
        Ok(()) => exit::OK,
        Err(failure) => failure.report(name, output),
    }
}

async fn dispatch(args: &Args) -> Result<(), Failure> {
    let mut flags = Flags::default();
    flags.cloud.clone_from(&args.cloud);
    flags.region.clone_from(&args.region);
    flags.endpoint.clone_from(&args.endpoint);
    flags.iam_endpoint.clone_from(&args.iam_endpoint);
    flags.project_id.clone_from(&args.project_id);
    flags.password_file.clone_from(&args.password_file);
    flags.secret_key_file.clone_from(&args.secret_key_file);
    let resolved = args.conn.resolve(flags)?;
    match &args.command {
        Command::Token { output } => token(args, &resolved, *output).await,
        Command::Reinstall(r) => {
            let api = chosen_api(&r.rebuild, r.without_cloud_init);
            reinstall_or_change(args, &resolved, &r.rebuild, None, api).await
        }
        Command::ChangeOs(change) => {
            let image = ImageId::new(change.image.as_str())?;
            let api = chosen_api(&change.rebuild, change.without_cloud_init);
            let payment = Payment {
                auto_pay: change.auto_pay,
                deadline: Duration::from_secs(change.payment_deadline),
            };
            reinstall_or_change(
                args,
                &resolved,
                &change.rebuild,
                Some((image, payment)),
                api,
            )
            .await
        }
        Command::Job { job, behaviour } => {
            let job_id = JobId::new(job.as_str())?;
            let client = client(args, &resolved).await?;
            show_job(&client, &job_id, None, behaviour).await
        }
        Command::Servers { name, output } => {
            let client = client(args, &resolved).await?;
            let servers = client.servers(name.as_deref()).await?;
            match output {
                Output::Json => {
                    common::print_json(&Value::Array(servers.iter().map(server_json).collect()))
                }
                Output::Text => {
                    for server in &servers {
                        crate::say(&summary(server));
                    }
                }
            }
            Ok(())
        }
        Command::Server { server, output } => {
            let client = client(args, &resolved).await?;
            let details = client.find_server(server).await?;
            match output {
                Output::Json => common::print_json(&server_json(&details)),
                Output::Text => crate::say(&summary(&details)),
            }
            Ok(())
        }
        Command::Stop {
            server,
            force,
            behaviour,
        } => {
            let client = client(args, &resolved).await?;
            let ids = ids(&client, server).await?;
            let stop = if *force {
                StopType::Hard
            } else {
                StopType::Soft
            };
            let job = client.stop(ids.clone(), stop).await?;
            follow_batch(&client, &job, &ids, behaviour, "stop").await
        }
        Command::Start { server, behaviour } => {
            let client = client(args, &resolved).await?;
            let ids = ids(&client, server).await?;
            let job = client.start(ids.clone()).await?;
            follow_batch(&client, &job, &ids, behaviour, "start").await
        }
    }
}

/// The servers that `--server` names, by id or by exact name, each read: one being rebuilt is
/// refused (exit 2), since ECS fails a reinstall or change of OS that another operation
/// interrupts.
async fn ids(client: &EcsClient, servers: &[String]) -> Result<Vec<ServerId>, Failure> {
    let mut ids = Vec::with_capacity(servers.len());
    for server in servers {
        let details = client.find_server(server).await?;
        let rebuilding = details.is_rebuilding();
        if rebuilding {
            return Err(Failure::usage(format!(
                "server {} is being rebuilt (a reinstall or change of OS runs), and ECS fails a \
                 rebuild that another operation interrupts; nothing was sent",
                details.id
            ))
            .hint(format!(
                "wait for it to end: reimage ecs server --server {}",
                details.id
            )));
        }
        refuse_task_under_way(&details)?;
        ids.push(details.id);
    }
    Ok(ids)
}

/// The credentials, as the client takes them. `project_id` scopes a token; without it, the
/// token is scoped by project name (`OS_PROJECT_NAME`).
fn auth(resolved: &Resolved, project_id: Option<&ProjectId>) -> Result<EcsAuth, Failure> {
    match resolved.ecs_auth()? {
        reimage_config::EcsAuth::AkSk {
            ak,
            sk,
            security_token,
        } => {
            let mut keys = AkSk::new(ak, sk.clone())?;
            if let Some(token) = security_token {
                keys = keys.with_security_token(token.clone())?;
            }
            Ok(EcsAuth::AkSk(keys))
        }
        reimage_config::EcsAuth::Password {
            username,
            password,
            domain,
        } => {
            let credentials = PasswordCredentials::new(username, domain, password.clone())?;
            let scope = match (project_id, &resolved.ecs.project_name) {
                (Some(id), _) => TokenScope::ProjectId(id.clone()),
                (None, Some(name)) => TokenScope::ProjectName(ProjectName::new(name.as_str())?),
                (None, None) => {
                    // Names the ways to give a project id.
                    resolved.project_id()?;
                    return Err(Failure::usage("no project id or project name"));
                }
            };
            let iam_endpoint = Endpoint::parse(resolved.iam_endpoint()?)?;
            Ok(EcsAuth::Password {
                credentials,
                scope,
                iam_endpoint,
            })
        }
    }
}

/// The client, on a transport of its own.
async fn client(args: &Args, resolved: &Resolved) -> Result<EcsClient, Failure> {
    let transport = args.conn.transport(resolved.ecs.ca_file.as_ref())?;
    client_on(transport, resolved).await
}

/// The client of `resolved`'s settings on `transport` (a fleet shares one). With a token scoped
/// by project name and no project id, the token is fetched first: IAM's answer says which
/// project id the name is.
pub(crate) async fn client_on(
    transport: reimage_client::Transport,
    resolved: &Resolved,
) -> Result<EcsClient, Failure> {
    let endpoint = Endpoint::parse(resolved.ecs_endpoint()?)?;
    let project_id = match resolved.ecs.project_id.as_deref() {
        Some(id) => Some(ProjectId::new(id)?),
        None => None,
    };
    let auth = auth(resolved, project_id.as_ref())?;
    if let Some(project_id) = project_id {
        return Ok(EcsClient::new(transport, endpoint, project_id, auth)?);
    }
    let EcsAuth::Password {
        credentials,
        scope,
        iam_endpoint,
    } = &auth
    else {
        // AK/SK signing needs the project id itself.
        resolved.project_id()?;
        return Err(Failure::usage("no project id"));
    };
    let token = EcsClient::fetch_token(&transport, credentials, scope, iam_endpoint).await?;
    let project_id = token.project_id().cloned().ok_or_else(|| {
        Failure::new(
            exit::FAILED,
            "IAM's token answer does not say the project id of the project name",
        )
        .hint("give --project-id or OS_PROJECT_ID")
    })?;
    Ok(EcsClient::new(transport, endpoint, project_id, auth)?.with_token(token))
}

/// A token needs IAM only: no ECS endpoint, and no project id when a project name scopes it.
async fn token(args: &Args, resolved: &Resolved, output: Output) -> Result<(), Failure> {
    let project_id = match resolved.ecs.project_id.as_deref() {
        Some(id) => Some(ProjectId::new(id)?),
        None => None,
    };
    let EcsAuth::Password {
        credentials,
        scope,
        iam_endpoint,
    } = auth(resolved, project_id.as_ref())?
    else {
        return Err(Failure::usage(
            "credentials: are an AK/SK pair, which signs each request and has no token",
        )
        .hint(
            "give an IAM user name, domain and password (OS_USERNAME, OS_USER_DOMAIN_NAME, \
             OS_PASSWORD) to get a token",
        ));
    };
    let transport = args.conn.transport(resolved.ecs.ca_file.as_ref())?;
    let token = EcsClient::fetch_token(&transport, &credentials, &scope, &iam_endpoint).await?;
    match output {
        Output::Text => crate::say(token.secret().expose_secret()),
        Output::Json => common::print_json(&json!({
            "token": token.secret().expose_secret(),
            "expires_at": token.expires_at().to_string(),
        })),
    }
    Ok(())
}

/// Refuses (exit 2) a server with an operation (a power-off, a start, …) under way, as its task
/// state shows: ECS refuses another one meanwhile, and it may be the first step of a rebuild.
fn refuse_task_under_way(server: &ServerDetails) -> Result<(), Failure> {
    let Some(task) = server.task_state.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let id = &server.id;
    Err(Failure::usage(format!(
        "server {id} has an operation under way (task state {task}), and ECS refuses another one \
         meanwhile (Ecs.0603); it may be the first step of a rebuild, which another operation \
         would fail; nothing was sent"
    ))
    .hint(format!(
        "wait for it to end (reimage ecs server --server {id}), then run the command again"
    )))
}

/// What ECS would refuse, found in the server as read just now: a locked server, one being
/// rebuilt already, a running one without `--mode with-stop-server`. Exit 2, nothing sent.
fn check_online(before: &ServerDetails, rebuild: &Rebuild, what: &str) -> Result<(), Failure> {
    let id = &before.id;
    if before.locked == Some(true) {
        return Err(Failure::usage(format!(
            "server {id} is locked, and ECS refuses to {what} a locked server (Ecs.0605); \
             nothing was sent"
        ))
        .hint("unlock it in the console (or ask whoever locked it), then run the command again"));
    }
    let rebuilding = before.is_rebuilding();
    if rebuilding {
        return Err(Failure::usage(format!(
            "server {id} is being rebuilt already (a reinstall or change of OS runs), and ECS \
             refuses another operation meanwhile (Ecs.0603), or fails the running one; nothing \
             was sent"
        ))
        .hint(format!(
            "wait for it to end (reimage ecs server --server {id}), then run the command again"
        )));
    }
    refuse_task_under_way(before)?;
    if before.status == Some(ServerStatus::Active) && rebuild.mode != Some(Mode::WithStopServer) {
        // ECS refuses a running server (Ecs.0100): say so before asking, and send nothing.
        return Err(Failure::usage(format!(
            "server {id} is ACTIVE (running), and ECS refuses to {what} a running server; \
             nothing was sent"
        ))
        .hint(format!(
            "add --mode with-stop-server to stop it first, or stop it yourself (reimage ecs stop \
             --server {id} --wait)"
        )));
    }
    Ok(())
}

/// What is known of the server before it boots, for rendering a Jinja template: its id (when
/// `--server` is one; it is the `v1.instance_id` cloud-init sees) and the region.
fn before_boot(resolved: &Resolved, rebuild: &Rebuild) -> InstanceData {
    let mut target = Target::default();
    if rebuild.server.parse::<reimage_core::ServerId>().is_ok() {
        target = target.with_instance_id(rebuild.server.as_str());
    }
    if let Some(region) = &resolved.ecs.region {
        target = target.with_region(region.as_str());
    }
    InstanceData::before_boot(&target)
}

/// The spec of a reinstall or change of OS, from the flags.
fn spec(rebuild: &Rebuild, instance: InstanceData) -> Result<EcsOsSpec, Failure> {
    let mut builder = EcsOsSpec::builder();
    let mut login = false;
    if let Some(file) = &rebuild.admin_password_file {
        let secret: SecretString = reimage_config::read_secret_source(file, std::io::stdin)?;
        builder = builder.adminpass(AdminPassword::new(secret.expose_secret()).map_err(in_flags)?);
        login = true;
    }
    if let Some(name) = &rebuild.keypair {
        builder = builder.keyname(KeyPairName::new(name.as_str()).map_err(in_flags)?);
        login = true;
    }
    if let Some(user) = &rebuild.user_id {
        builder = builder.userid(UserId::new(user.as_str()).map_err(in_flags)?);
    }
    if let Some(path) = &rebuild.user_data {
        builder = builder.user_data(common::user_data_for(
            path,
            common::UserDataCheck {
                target: reimage_core::Provider::Ecs,
                provider_login: login,
                no_validate: rebuild.no_validate,
                allow_lockout: rebuild.allow_lockout,
            },
            instance,
        )?);
    }
    builder = builder.stop_server(rebuild.mode == Some(Mode::WithStopServer));
    builder.build().map_err(in_flags)
}

/// A rule of the ECS request, told in the command line's words: the flag the person typed
/// (`--admin-password-file`, `--keypair`, `--user-id`, `--user-data`), not the API's field
/// (`adminpass`, `keyname`, `userid`, `user_data`).
fn in_flags(e: reimage_core::ValidationError) -> Failure {
    let words = |text: &str| {
        text.replace("adminpass", "--admin-password-file")
            .replace("keyname", "--keypair")
            .replace("userid", "--user-id")
            .replace("user_data", "--user-data")
            .replace("withStopServer", "--mode with-stop-server")
    };
    Failure::usage(format!(
        "{}: {}; {}",
        words(e.field()),
        words(e.problem()),
        words(e.fix())
    ))
}

/// A change of OS's order, for a yearly/monthly server: `--auto-pay` and `--payment-deadline`.
#[derive(Debug, Clone, Copy)]
struct Payment {
    auto_pay: bool,
    deadline: Duration,
}

/// Which API a reinstall or change of OS takes, and what said so (a flag, or the image's
/// attribute), for the messages.
#[derive(Debug, Clone)]
struct ApiChoice {
    api: RebuildApi,
    because: String,
}

/// The API the flags force: `--api`, or `--without-cloud-init` (`--api plain` by its older
/// name). `None`: ask the image service.
fn chosen_api(rebuild: &Rebuild, without_cloud_init: bool) -> Option<ApiChoice> {
    if without_cloud_init {
        return Some(ApiChoice {
            api: RebuildApi::Plain,
            because: "--without-cloud-init".to_owned(),
        });
    }
    rebuild.api.map(|flag| {
        let api = RebuildApi::from(flag);
        ApiChoice {
            api,
            because: format!("--api {api}"),
        }
    })
}

/// Asks the image service about the image the server will run (the new one, or for a reinstall
/// its current one) and chooses the API its `__support_fc_inject` says.
async fn look_up_api(
    client: &EcsClient,
    before: &ServerDetails,
    new_image: Option<&ImageId>,
) -> Result<ApiChoice, Failure> {
    let image_id = match new_image.or(before.image_id.as_ref()) {
        Some(id) => id.clone(),
        None => {
            return Err(Failure::usage(format!(
                "the details of server {} do not say its image, so reimage cannot ask the image \
                 service whether it has cloud-init; nothing was sent",
                before.id
            ))
            .hint("give --api cloud-init or --api plain"));
        }
    };
    crate::note(&format!(
        "looking up image {image_id} (GET {}/v2/images/{image_id}) to choose the API",
        client.ims_endpoint()
    ));
    let image = client.image(&image_id).await.map_err(|e| {
        Failure::from(e).hint("give --api cloud-init or --api plain to choose without the lookup")
    })?;
    let name = image.name.as_deref().unwrap_or("?");
    Ok(ApiChoice {
        api: image.rebuild_api(),
        because: format!("image {image_id} ({name}): {}", image.reason()),
    })
}

async fn reinstall_or_change(
    args: &Args,
    resolved: &Resolved,
    rebuild: &Rebuild,
    change: Option<(ImageId, Payment)>,
    forced: Option<ApiChoice>,
) -> Result<(), Failure> {
    let (new_image, payment) = match change {
        Some((image, payment)) => (Some(image), Some(payment)),
        None => (None, None),
    };
    let auto_pay = payment.is_some_and(|p| p.auto_pay);
    if let Some(choice) = &forced
        && choice.api == RebuildApi::Plain
        && let Some(path) = &rebuild.user_data
    {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "--user-data {}: {} takes no user data, since nothing on an image without \
                 cloud-init reads it; nothing was sent",
                path.display(),
                choice.because
            ),
        )
        .hint(format!(
            "leave --user-data out, or drop {} if the image has cloud-init",
            choice.because
        )));
    }
    let spec = spec(rebuild, before_boot(resolved, rebuild))?;
    let what = if new_image.is_some() {
        "change the OS of"
    } else {
        "reinstall"
    };
    let client = client(args, resolved).await?;
    // The online checks, before anything is shown or asked: a read, never a change. `--server`
    // is an id, or the exact name of one server.
    let before = client.find_server(&rebuild.server).await?;
    let server_id = before.id.clone();
    check_online(&before, rebuild, what)?;
    let choice = match forced {
        Some(choice) => choice,
        None => look_up_api(&client, &before, new_image.as_ref()).await?,
    };
    if choice.api == RebuildApi::Plain
        && let Some(path) = &rebuild.user_data
    {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "--user-data {}: {} says the image has no cloud-init, so nothing on it reads user \
                 data; nothing was sent",
                path.display(),
                choice.because
            ),
        )
        .hint(
            "leave --user-data out, or choose an image with cloud-init (--api cloud-init sends it \
             anyway, and ECS refuses it for such an image)",
        ));
    }
    if choice.api == RebuildApi::Plain
        && matches!(
            rebuild.behaviour.wait,
            Some(WaitFor::Ssh | WaitFor::CloudInit)
        )
    {
        // Nothing on such an image writes its host keys to the console: no key to check.
        return Err(Failure::usage(format!(
            "--wait=ssh and --wait=cloud-init read the host keys that cloud-init writes to the \
             console, and {} says the image has no cloud-init; nothing was sent",
            choice.because
        ))
        .hint("use --wait=job for an image without cloud-init"));
    }
    let api_text = match choice.api {
        RebuildApi::CloudInit => "the cloud-init API (POST /v2/…)",
        RebuildApi::Plain => "the API for images without cloud-init (POST /v1/…)",
    };
    crate::note(&format!("{}: using {api_text}", choice.because));
    let kind = match (new_image, choice.api) {
        (None, RebuildApi::CloudInit) => Rebuilt::Reinstall,
        (None, RebuildApi::Plain) => Rebuilt::ReinstallWithoutCloudInit,
        (Some(image), RebuildApi::CloudInit) => Rebuilt::ChangeOs(image),
        (Some(image), RebuildApi::Plain) => Rebuilt::ChangeOsWithoutCloudInit(image),
    };
    if rebuild.dry_run {
        crate::note(&format!("checked: {}; it can be sent", summary(&before)));
        let user_data = spec.user_data().cloned();
        let dry = match kind {
            Rebuilt::ChangeOs(image) => {
                client
                    .dry_run_change_os(
                        &server_id,
                        EcsChangeOs::new(image, spec).with_auto_pay(auto_pay),
                    )
                    .await?
            }
            Rebuilt::Reinstall => {
                client
                    .dry_run_reinstall(&server_id, EcsReinstall::new(spec))
                    .await?
            }
            Rebuilt::ReinstallWithoutCloudInit => {
                client
                    .dry_run_reinstall_without_cloud_init(&server_id, EcsReinstall::new(spec))
                    .await?
            }
            Rebuilt::ChangeOsWithoutCloudInit(image) => {
                client
                    .dry_run_change_os_without_cloud_init(
                        &server_id,
                        EcsChangeOs::new(image, spec).with_auto_pay(auto_pay),
                    )
                    .await?
            }
        };
        common::print_dry_run(rebuild.behaviour.output, &dry, user_data.as_ref());
        return Ok(());
    }
    crate::note(&format!("about to {what} {}", summary(&before)));
    if let Rebuilt::ChangeOs(image) | Rebuilt::ChangeOsWithoutCloudInit(image) = &kind {
        crate::note(&format!("  new image: {image}"));
    }
    for line in common::ecs_account(
        resolved,
        client.project_id().as_str(),
        &client.endpoint().to_string(),
    ) {
        crate::note(&line);
    }
    common::confirm(
        &format!(
            "{what} server {} ({server_id})",
            before.name.as_deref().unwrap_or("?")
        ),
        rebuild.yes,
    )?;
    let sent = match kind {
        Rebuilt::ChangeOs(image) => {
            client
                .change_os_from(
                    before,
                    EcsChangeOs::new(image, spec).with_auto_pay(auto_pay),
                )
                .await
        }
        Rebuilt::Reinstall => client.reinstall_from(before, EcsReinstall::new(spec)).await,
        Rebuilt::ReinstallWithoutCloudInit => {
            client
                .reinstall_without_cloud_init_from(before, EcsReinstall::new(spec))
                .await
        }
        Rebuilt::ChangeOsWithoutCloudInit(image) => {
            client
                .change_os_without_cloud_init_from(
                    before,
                    EcsChangeOs::new(image, spec).with_auto_pay(auto_pay),
                )
                .await
        }
    };
    let started = sent.map_err(|e| {
        Failure::from(e).next_step(&format!("reimage ecs server --server {server_id}"))
    })?;
    if let Some(evidence) = &started.evidence {
        crate::note(&format!(
            "the answer was lost, but {evidence}; following the server instead of sending again"
        ));
    }
    let Some(wait) = rebuild.behaviour.wait else {
        return print_started(&started, rebuild.behaviour.output);
    };
    let deadline = Duration::from_secs(rebuild.behaviour.deadline);
    let schedule = PollSchedule {
        deadline,
        payment_deadline: payment.map_or(deadline, |p| p.deadline),
        ..PollSchedule::default()
    };
    let mut progress = Progress::new(&format!("{} of server {server_id}", started.operation));
    let next = match &started.job_id {
        Some(job) => format!("reimage ecs job {job} --wait"),
        None => format!("reimage ecs server --server {server_id}"),
    };
    let after = common::interruptible(
        client.follow(&started, &schedule, &mut |e| progress.event(e)),
        &next,
    )
    .await;
    let after = match after {
        Ok(after) => after,
        Err(e) => {
            progress.finish("failed");
            return Err(e);
        }
    };
    progress.end();
    let mut stages = None;
    if matches!(wait, WaitFor::Ssh | WaitFor::CloudInit) {
        let address = public_address(&after).ok_or_else(|| {
            Failure::new(exit::FAILED, "the server has no address to reach SSH on")
                .hint("attach an elastic IP, or use --wait=job")
        })?;
        let deadline = std::time::Instant::now() + Duration::from_secs(rebuild.behaviour.deadline);
        let outcome = crate::after::ecs_stages(
            &client,
            &server_id,
            &address,
            wait,
            &rebuild.after,
            deadline,
        )
        .await?;
        stages = Some((outcome, address));
    }
    let mut value = started_json(&started);
    value["done"] = json!(true);
    value["server"] = server_json(&after);
    if let Some((outcome, address)) = &stages {
        let extra = outcome.to_json(address, rebuild.after.ssh_port);
        value["ssh"] = extra["ssh"].clone();
        value["cloud_init"] = extra["cloud_init"].clone();
    }
    let cloud_init_failure = stages
        .as_ref()
        .and_then(|(outcome, _)| outcome.cloud_init_failure(&server_id));
    match rebuild.behaviour.output {
        Output::Json if cloud_init_failure.is_none() => common::print_json(&value),
        Output::Json => {}
        Output::Text => {
            if let Some((outcome, _)) = &stages {
                for line in outcome.lines() {
                    crate::say(&line);
                }
            }
            crate::say(&format!(
                "{} of server {server_id} done: {}",
                started.operation,
                summary(&after)
            ));
        }
    }
    if let Some(mut failure) = cloud_init_failure {
        failure.result = Some(Box::new(value));
        return Err(failure);
    }
    Ok(())
}

/// A job query's failure; `Common.0011` says the job is gone: ECS deletes a finished job a day
/// later, so the server, not the job, tells what happened.
fn job_failure(e: reimage_client::Error, job_id: &JobId) -> Failure {
    let gone = e
        .provider_error()
        .is_some_and(|p| p.code.as_deref() == Some("Common.0011"));
    let failure = Failure::from(e);
    if gone {
        let mut failure = failure;
        failure.message = format!(
            "job {job_id} is not known to ECS (Common.0011): ECS deletes a finished job a day \
             later, so it has most likely expired (or it belongs to another project); {}",
            failure.message
        );
        failure.hint(
            "look at the server instead: reimage ecs server --server ID (its status and \
             launched_at say whether the operation ran)",
        )
    } else {
        failure
    }
}

async fn show_job(
    client: &EcsClient,
    job_id: &JobId,
    servers: Option<&[ServerId]>,
    behaviour: &Behaviour,
) -> Result<(), Failure> {
    let job = if behaviour.wait.is_some() {
        let schedule = PollSchedule {
            deadline: Duration::from_secs(behaviour.deadline),
            ..PollSchedule::default()
        };
        let server = servers.and_then(|s| (s.len() == 1).then(|| s[0].clone()));
        let mut progress = Progress::new(&format!("job {job_id}"));
        let job = common::interruptible_with(
            client.wait_job(job_id, server.as_ref(), &schedule, &mut |e| {
                progress.event(e)
            }),
            &format!("reimage ecs job {job_id} --wait"),
            |e| job_failure(e, job_id),
        )
        .await;
        match job {
            Ok(job) => {
                progress.end();
                job
            }
            Err(e) => {
                progress.finish("failed");
                return Err(e);
            }
        }
    } else {
        client
            .job(job_id)
            .await
            .map_err(|e| job_failure(e, job_id))?
    };
    let (done, total) = job.progress();
    match behaviour.output {
        Output::Json => common::print_json(&json!({
            "job_id": job.id.as_str(),
            "job_type": job.job_type,
            "status": job.status.as_str(),
            "begin_time": job.begin_time.map(|t| t.to_string()),
            "end_time": job.end_time.map(|t| t.to_string()),
            "error_code": job.error_code,
            "fail_reason": job.fail_reason,
            "sub_jobs_done": done,
            "sub_jobs_total": total,
        })),
        Output::Text => {
            let mut line = format!("job {}: {}", job.id, job.status);
            if let Some(kind) = &job.job_type {
                line.push_str(&format!(" ({kind})"));
            }
            if total > 0 {
                line.push_str(&format!(", {done}/{total} sub-jobs done"));
            }
            if let Some(code) = &job.error_code {
                line.push_str(&format!(", error {code}"));
            }
            if let Some(reason) = &job.fail_reason {
                line.push_str(&format!(": {reason}"));
            }
            crate::say(&line);
        }
    }
    if job.status == reimage_core::JobStatus::Fail {
        return Err(Failure::new(
            exit::FAILED,
            format!("job {} ended in FAIL", job.id),
        ));
    }
    Ok(())
}

async fn follow_batch(
    client: &EcsClient,
    job: &JobId,
    servers: &[ServerId],
    behaviour: &Behaviour,
    what: &str,
) -> Result<(), Failure> {
    if behaviour.wait.is_none() {
        match behaviour.output {
            Output::Json => {
                common::print_json(&json!({ "operation": what, "job_id": job.as_str() }))
            }
            Output::Text => crate::say(&format!(
                "{what} started: job {job} (follow it with: reimage ecs job {job} --wait)"
            )),
        }
        return Ok(());
    }
    show_job(client, job, Some(servers), behaviour).await
}

fn print_started(started: &Started, output: Output) -> Result<(), Failure> {
    match output {
        Output::Json => common::print_json(&started_json(started)),
        Output::Text => match &started.job_id {
            Some(job) => crate::say(&format!(
                "{} of server {} started: job {job} (follow it with: reimage ecs job {job} --wait)",
                started.operation, started.server_id
            )),
            None => crate::say(&format!(
                "{} of server {} started (its job id was lost with the answer; follow the server \
                 with: reimage ecs server --server {})",
                started.operation, started.server_id, started.server_id
            )),
        },
    }
    Ok(())
}

fn started_json(started: &Started) -> Value {
    json!({
        "operation": started.operation.name(),
        "server_id": started.server_id.as_str(),
        "job_id": started.job_id.as_ref().map(JobId::as_str),
        "evidence": started.evidence.as_ref().map(ToString::to_string),
        "done": false,
    })
}

/// One line about a server: what a person checks before wiping it.
pub(crate) fn summary(s: &ServerDetails) -> String {
    let addresses: Vec<&str> = s
        .addresses
        .values()
        .flatten()
        .map(|a| a.addr.as_str())
        .collect();
    format!(
        "server {} ({}): {}{}, image {}, addresses {}",
        s.name.as_deref().unwrap_or("?"),
        s.id,
        s.status.as_ref().map_or("?", |x| x.as_str()),
        s.task_state
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| format!(" ({t})"))
            .unwrap_or_default(),
        s.image_id.as_ref().map_or("?", ImageId::as_str),
        if addresses.is_empty() {
            "none".to_owned()
        } else {
            addresses.join(", ")
        }
    )
}

pub(crate) fn server_json(s: &ServerDetails) -> Value {
    let addresses: Vec<Value> = s
        .addresses
        .iter()
        .flat_map(|(net, list)| {
            list.iter().map(move |a| {
                json!({ "network": net, "addr": a.addr, "version": a.version, "type": a.kind })
            })
        })
        .collect();
    json!({
        "id": s.id.as_str(),
        "name": s.name,
        "status": s.status.as_ref().map(|x| x.as_str()),
        "task_state": s.task_state,
        "vm_state": s.vm_state,
        "image_id": s.image_id.as_ref().map(ImageId::as_str),
        "key_name": s.key_name,
        "locked": s.locked,
        "updated": s.updated.map(|t| t.to_string()),
        "launched_at": s.launched_at.map(|t| t.to_string()),
        "user_data_bytes": s.user_data.as_ref().map(reimage_core::UserData::len),
        "addresses": addresses,
    })
}

/// The address to reach SSH on: a floating (public) IPv4 first, else any IPv4, else any.
pub(crate) fn public_address(s: &ServerDetails) -> Option<String> {
    reimage_client::after::public_address(s)
}
