//! The fleet plan: a TOML file that lists servers of both providers to re-image, and the offline
//! check that `reimage fleet check PLAN` runs before anything is sent.
//!
//! # The format
//!
//! ```toml
//! # [defaults] apply to every target; a target overrides any of them by setting the key itself.
//! [defaults]
//! profile = "prod"                        # a profile of ~/.config/reimage/config.toml (credentials
//!                                         # and endpoints); absent: --profile, REIMAGE_PROFILE,
//!                                         # the file's default_profile, then the environment
//! operation = "reinstall"                 # "reinstall" (default) | "change-os" (ECS only)
//! user_data = "cloud-config.yaml"         # relative to the plan's directory
//! cloud_init = "22.4"                     # the image's cloud-init, for validation: "22.4" | "26.2"
//!                                         # (default 26.2)
//! admin_password_file = "ecs-admin.pw"    # ECS: the new OS's password, in a file (never inline)
//! # keypair = "my-key"                    # ECS: instead of a password, with user_id
//! user_id = "7e25b1da389f4697a79df3a0e5bd494e"  # the key pairs' owner (ignored without keypair)
//! root_password_file = "edis-root.pw"     # EDIS: the new root password, in a file (required)
//! mode = "with-stop-server"               # ECS: stop a running server first
//! # api = "plain"                         # ECS: "cloud-init" (POST /v2/…) | "plain" (an image
//!                                         # without cloud-init, POST /v1/…, no user data);
//!                                         # absent: apply asks the image service per target
//! keypair_only = false                    # ECS: true when the region takes no password with a
//!                                         # cloud-init image (check warns for a password)
//! no_validate = false                     # true: send user data even if validation finds errors
//! allow_lockout = false                   # true: send user data that leaves no way to log in
//!                                         # (refused by default when no password or key pair is
//!                                         # given to the provider)
//! weak_password = false                   # true: accept an EDIS root password under 8
//!                                         # characters or of a single class of characters
//! wait = "ssh"                            # ECS: after the job, "job" (default) | "ssh" (the
//!                                         # host key on the console, presented by the server's
//!                                         # SSH server) | "cloud-init" (and cloud-init's verdict)
//! known_hosts = "fleet_known_hosts"       # with wait ssh|cloud-init: the file the verified keys
//!                                         # go to (default ~/.ssh/known_hosts) | "none"
//! ssh_port = 22                           # the port the SSH server listens on
//!
//! [[targets]]
//! ecs = "11111111-2222-3333-4444-555555555555"    # an ECS server id…
//! operation = "change-os"
//! image = "e215580f-73ad-429d-b6f2-5433947433b0"  # change-os: the new image's id
//!
//! [[targets]]
//! ecs = "66666666-7777-8888-9999-000000000000"    # a reinstall keeps the current image
//! keypair = "ops-key"                             # replaces the default password; user_id
//!                                                 # still comes from [defaults]
//! user_data = ""                                  # "" unsets a default: no user data here
//!
//! [[targets]]
//! edis = "kvm_100001_200001"                      # …or an EDIS KVM id (exactly one of ecs/edis)
//! image = "cloudinit_debian-bookworm"             # EDIS: the image name (required)
//! profile = "edis-account"
//! ```
//!
//! The rules:
//!
//! - The top level holds `[defaults]` and `[[targets]]` only. Unknown keys anywhere are refused,
//!   with the nearest known key and the list of keys. Passwords are never written in the plan:
//!   `*_password_file` names a file (relative to the plan's directory, or absolute; `~` is not
//!   expanded, and `-` for stdin is not allowed), read once however many targets share it.
//! - A target names exactly one server: `ecs` (a server id, a UUID) or `edis` (a KVM id,
//!   `kvm_<digits>_<digits>`). A server appears at most once in a plan.
//! - `image` is per target: for ECS it is the new image's id and only goes with
//!   `operation = "change-os"` (a reinstall keeps the current image); for EDIS it is the image's
//!   name (`reimage edis images --kvm ID` lists them), and it is required. `ecs`, `edis` and
//!   `image` cannot be defaults.
//! - A default is ignored where it does not apply, so one `[defaults]` serves a mixed fleet: ECS
//!   targets ignore `root_password_file`; EDIS targets ignore `admin_password_file`, `keypair`,
//!   `user_id` and `mode`; and a default `user_id` without a `keypair` is ignored. Written on the
//!   target itself, a key of the other provider is an error.
//! - ECS login: a password file, or a key pair with its owner's `user_id`, or neither, and then
//!   the user data must set up a login. A target that sets `admin_password_file` drops the
//!   default `keypair` and `user_id`; a target that sets `keypair` or `user_id` drops the default
//!   `admin_password_file`. Both a password and a key pair for one target is an error.
//! - A key set to `""` on a target unsets its default (`user_data = ""`, `mode = ""`,
//!   `profile = ""` for the environment's profile).
//! - `wait` applies to ECS targets; a fleet waits for the job only on EDIS targets (a default
//!   `wait` is ignored there, and written on an EDIS target it is an error unless `"job"`).
//! - EDIS only reinstalls (always with the image named): `operation = "change-os"` on an EDIS
//!   target, from the target or from `[defaults]`, is an error.
//!
//! Errors name the place as `targets[12].ecs (line 57)`: the index counts `[[targets]]` entries
//! **from 0**, in file order, and the line is the file's (from 1). [`load`] reports every problem
//! of the file, not only the first, and never quotes a value that could be a secret.
//!
//! # The check
//!
//! [`Inputs::load`] reads each distinct file once (user data, password files) and [`check`]
//! judges every target offline: user data with cloud-init's verdict for the target's
//! `cloud_init` version (once per file, version, provider and login), EDIS user data on an image
//! that does not run cloud-init, passwords by each provider's rules, and that each profile has
//! the provider's credentials. [`render_table`] and [`rows_json`] show the result. Password file
//! contents never appear in any error, `Debug` output, table or JSON.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use reimage_cloudinit::schema::Version;
use reimage_core::{EdisImage, ImageId, KeyPairName, KvmId, ServerId, UserId};

mod check;
mod format;
mod inputs;

pub use check::{CheckRow, CredentialsOk, Resolve, check, credentials_ok, render_table, rows_json};
pub use inputs::{Inputs, Problem};

use format::Operation;

/// The largest plan file read: 64 MiB (10,000 targets take about 1 MiB).
const MAX_PLAN_SIZE: u64 = 64 * 1024 * 1024;

/// How many problems [`PlanError`]'s `Display` lists before it says how many more there are.
const SHOWN_PROBLEMS: usize = 20;

/// A plan, loaded and checked: every id, enum and combination of keys is valid.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// The plan's directory, absolute: relative paths in the plan are relative to it.
    pub dir: PathBuf,
    /// The targets, in file order.
    pub targets: Vec<Target>,
}

/// One server to re-image, with the defaults applied. It holds paths, never file contents.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Target {
    /// Its index among the plan's `[[targets]]`, from 0, as problems name it (`targets[3]`).
    pub index: usize,
    /// The line of the plan where it starts, from 1.
    pub line: usize,
    /// `ecs:<server id>` (lower case) or `edis:<kvm id>`: unique in the plan.
    pub key: String,
    /// The credentials profile; `None`: the environment's or the config file's default.
    pub profile: Option<String>,
    /// What to do.
    pub action: Action,
    /// The user data file, absolute.
    pub user_data: Option<PathBuf>,
    /// The image's cloud-init, whose schema the user data is checked against.
    pub cloud_init: Version,
    /// ECS: the API the plan forces (`api`); `None`: apply asks the image service whether the
    /// image has cloud-init (`__support_fc_inject`) and chooses.
    pub api: Option<reimage_client::wire::ecs::RebuildApi>,
    /// ECS: the region takes no password with a cloud-init image (`keypair_only`), so `check`
    /// warns for a target that logs in by password only.
    pub keypair_only: bool,
    /// Send the user data even if validation finds errors.
    pub no_validate: bool,
    /// Send user data that leaves no way to log in.
    pub allow_lockout: bool,
    /// Accept an EDIS root password under 8 characters or of one class of characters.
    pub weak_password: bool,
    /// ECS: what apply waits for after the job (`wait`); EDIS targets always [`Wait::Job`].
    pub wait: Wait,
    /// The known_hosts file the verified host keys go to (`known_hosts`), with [`Wait::Ssh`]
    /// or [`Wait::CloudInit`].
    pub known_hosts: KnownHosts,
    /// The port the server's SSH server listens on (`ssh_port`, default 22).
    pub ssh_port: u16,
}

/// What `fleet apply` waits for after a target's job (`wait` in the plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// The provider's job (the default, and what plans without the key always did).
    #[default]
    Job,
    /// Then an SSH server that presents the host key cloud-init wrote to the console.
    Ssh,
    /// Then also cloud-init's verdict, from its final message and failures on the console.
    CloudInit,
}

impl Wait {
    /// `job`, `ssh` or `cloud-init`, as the plan writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Ssh => "ssh",
            Self::CloudInit => "cloud-init",
        }
    }
}

/// The known_hosts file of a target (`known_hosts` in the plan).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KnownHosts {
    /// The user's `~/.ssh/known_hosts` (the default).
    #[default]
    User,
    /// `none`: no file is changed.
    None,
    /// This file, absolute.
    File(PathBuf),
}

impl KnownHosts {
    /// The file to update, `None` for [`KnownHosts::None`]; [`KnownHosts::User`] reads `HOME`.
    ///
    /// # Errors
    ///
    /// One line: `HOME` is not set, so the user's file is unknown.
    pub fn path(&self) -> Result<Option<PathBuf>, String> {
        match self {
            Self::None => Ok(None),
            Self::File(path) => Ok(Some(path.clone())),
            Self::User => std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|home| Some(PathBuf::from(home).join(".ssh").join("known_hosts")))
                .ok_or_else(|| {
                    "known_hosts: HOME is not set, so ~/.ssh/known_hosts is unknown; set \
                     known_hosts = \"FILE\" (or \"none\") in the plan"
                        .to_owned()
                }),
        }
    }
}

/// What a target asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// ECS: reinstall the server's current image.
    EcsReinstall {
        /// The server.
        server: ServerId,
        /// How to log in to the new OS.
        login: EcsLogin,
        /// `mode: withStopServer`: stop a running server first.
        stop: bool,
    },
    /// ECS: change the server's OS to another image.
    EcsChangeOs {
        /// The server.
        server: ServerId,
        /// The new image.
        image: ImageId,
        /// How to log in to the new OS.
        login: EcsLogin,
        /// `mode: withStopServer`: stop a running server first.
        stop: bool,
    },
    /// EDIS: reinstall the KVM with an image.
    EdisReinstall {
        /// The KVM.
        kvm: KvmId,
        /// The image.
        image: EdisImage,
        /// The file that holds the new root password, absolute.
        root_password_file: PathBuf,
    },
}

/// How a person will log in to a new ECS OS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EcsLogin {
    /// A password, read from this file (absolute).
    Password(PathBuf),
    /// A key pair of an IAM user.
    KeyPair {
        /// The key pair.
        name: KeyPairName,
        /// The IAM user that owns it.
        user_id: UserId,
    },
    /// Neither: the user data sets up the login.
    UserDataOnly,
}

/// A cloud provider: `reimage-core`'s, the one enum every crate uses (a plan's targets are ECS
/// or EDIS).
pub use reimage_core::Provider;

impl Target {
    /// The provider of the target's server.
    pub fn provider(&self) -> Provider {
        match self.action {
            Action::EcsReinstall { .. } | Action::EcsChangeOs { .. } => Provider::Ecs,
            Action::EdisReinstall { .. } => Provider::Edis,
        }
    }

    /// `reinstall` or `change-os`, as the plan says it.
    pub fn operation(&self) -> &'static str {
        match self.action {
            Action::EcsChangeOs { .. } => Operation::ChangeOs.as_str(),
            Action::EcsReinstall { .. } | Action::EdisReinstall { .. } => {
                Operation::Reinstall.as_str()
            }
        }
    }

    /// Whether the provider is given a password or key pair (the lockout lint counts it).
    fn provider_login(&self) -> bool {
        match &self.action {
            Action::EcsReinstall { login, .. } | Action::EcsChangeOs { login, .. } => {
                !matches!(login, EcsLogin::UserDataOnly)
            }
            Action::EdisReinstall { .. } => true,
        }
    }
}

/// A plan that cannot be used: every problem found, each naming its place and its fix.
#[derive(Debug)]
pub struct PlanError {
    file: String,
    problems: Vec<String>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "plan {}: {one}", self.file),
            all => {
                write!(f, "plan {}: {} problems:", self.file, all.len())?;
                for problem in all.iter().take(SHOWN_PROBLEMS) {
                    write!(f, "\n  - {problem}")?;
                }
                if all.len() > SHOWN_PROBLEMS {
                    write!(f, "\n  … and {} more", all.len() - SHOWN_PROBLEMS)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PlanError {}

impl PlanError {
    /// The plan file, as it was given to [`load`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Every problem found, in file order, each one line that names its place and its fix.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// Reads, parses and checks a plan. Paths in it become absolute, relative to its directory.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    let file = path.display().to_string();
    let fail = |problems: Vec<String>| PlanError {
        file: file.clone(),
        problems,
    };
    let text = read_plan(path).map_err(|p| fail(vec![p]))?;
    let absolute = std::path::absolute(path)
        .map_err(|e| fail(vec![format!("cannot be located: {e}; check the path")]))?;
    let dir = absolute
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let targets = format::parse(&text, &dir).map_err(fail)?;
    Ok(Plan { dir, targets })
}

fn read_plan(path: &Path) -> Result<String, String> {
    let io_problem = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist; check the path".to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            "cannot be read (permission denied); make it readable by this user".to_owned()
        }
        _ => format!("cannot be read: {e}"),
    };
    let meta = std::fs::metadata(path).map_err(io_problem)?;
    if meta.is_dir() {
        return Err("is a directory; give the plan file".to_owned());
    }
    if meta.len() > MAX_PLAN_SIZE {
        return Err(format!(
            "is larger than {} MiB; is this the right file?",
            MAX_PLAN_SIZE / (1024 * 1024)
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PLAN_SIZE + 1).read_to_end(&mut bytes))
        .map_err(io_problem)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// What the tests of the plan's modules share.
#[cfg(test)]
mod testing {
    use std::fs;
    use std::path::PathBuf;

    use super::{Plan, PlanError, load};

    /// A directory of its own under the system's temp directory, removed at the end.
    pub(super) struct Dir(pub(super) PathBuf);

    impl Dir {
        pub(super) fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("reimage-fleet-plan-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub(super) fn write(&self, name: &str, content: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, content).unwrap();
            path
        }

        pub(super) fn plan(&self, text: &str) -> Result<Plan, PlanError> {
            load(&self.write("plan.toml", text))
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    pub(super) const SERVER: &str = "11111111-2222-3333-4444-555555555555";
    pub(super) const SERVER2: &str = "66666666-7777-8888-9999-000000000000";
    pub(super) const IMAGE: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
    pub(super) const USER: &str = "7e25b1da389f4697a79df3a0e5bd494e";
}
