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
//! no_validate = false                     # true: send user data even if validation finds errors
//! allow_lockout = false                   # true: send user data that leaves no way to log in
//!                                         # (refused by default when no password or key pair is
//!                                         # given to the provider)
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

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Options, Severity};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId,
    KeyPairName, KvmId, RootPassword, ServerId, UserData, UserId,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use toml::de::{DeTable, DeValue};

/// The largest plan file read: 64 MiB (10,000 targets take about 1 MiB).
const MAX_PLAN_SIZE: u64 = 64 * 1024 * 1024;

/// The keys of the top level.
const TOP_KEYS: &[&str] = &["defaults", "targets"];

/// The keys of `[defaults]`.
const DEFAULT_KEYS: &[&str] = &[
    "profile",
    "operation",
    "user_data",
    "cloud_init",
    "admin_password_file",
    "keypair",
    "user_id",
    "root_password_file",
    "mode",
    "no_validate",
    "allow_lockout",
];

/// The keys of a `[[targets]]` entry: the server and its image, then those of `[defaults]`.
const TARGET_KEYS: &[&str] = &[
    "ecs",
    "edis",
    "image",
    "profile",
    "operation",
    "user_data",
    "cloud_init",
    "admin_password_file",
    "keypair",
    "user_id",
    "root_password_file",
    "mode",
    "no_validate",
    "allow_lockout",
];

/// How many problems [`PlanError`]'s `Display` lists before it says how many more there are.
const SHOWN_PROBLEMS: usize = 20;

/// How many validation errors of one user data file a target's problems quote.
const SHOWN_FINDINGS: usize = 3;

/// A plan, loaded and checked: every id, enum and combination of keys is valid.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The plan's directory, absolute: relative paths in the plan are relative to it.
    pub(crate) dir: PathBuf,
    /// The targets, in file order.
    pub(crate) targets: Vec<Target>,
}

/// One server to re-image, with the defaults applied. It holds paths, never file contents.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Its index among the plan's `[[targets]]`, from 0. Problems name a target by it
    /// (`targets[3]`) as they are found; only the tests read it here.
    #[cfg(test)]
    pub(crate) index: usize,
    /// The line of the plan where it starts, from 1.
    pub(crate) line: usize,
    /// `ecs:<server id>` (lower case) or `edis:<kvm id>`: unique in the plan.
    pub(crate) key: String,
    /// The credentials profile; `None`: the environment's or the config file's default.
    pub(crate) profile: Option<String>,
    /// What to do.
    pub(crate) action: Action,
    /// The user data file, absolute.
    pub(crate) user_data: Option<PathBuf>,
    /// The image's cloud-init, whose schema the user data is checked against.
    pub(crate) cloud_init: Version,
    /// Send the user data even if validation finds errors.
    pub(crate) no_validate: bool,
    /// Send user data that leaves no way to log in.
    pub(crate) allow_lockout: bool,
}

/// What a target asks for.
#[derive(Debug, Clone)]
pub(crate) enum Action {
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
pub(crate) enum EcsLogin {
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

/// A cloud provider.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Provider {
    /// ECS on Huawei Cloud or Open Telekom Cloud.
    Ecs,
    /// EDIS Global KVM.
    Edis,
}

impl Provider {
    /// `ecs` or `edis`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ecs => "ecs",
            Self::Edis => "edis",
        }
    }

    /// The provider as `reimage-core` names it, where its limits live.
    fn core(self) -> reimage_core::Provider {
        match self {
            Self::Ecs => reimage_core::Provider::Ecs,
            Self::Edis => reimage_core::Provider::Edis,
        }
    }
}

impl Target {
    /// The provider of the target's server.
    pub(crate) fn provider(&self) -> Provider {
        match self.action {
            Action::EcsReinstall { .. } | Action::EcsChangeOs { .. } => Provider::Ecs,
            Action::EdisReinstall { .. } => Provider::Edis,
        }
    }

    /// `reinstall` or `change-os`, as the plan says it.
    pub(crate) fn operation(&self) -> &'static str {
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
pub(crate) struct PlanError {
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

/// Reads, parses and checks a plan. Paths in it become absolute, relative to its directory.
pub(crate) fn load(path: &Path) -> Result<Plan, PlanError> {
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
    let targets = parse(&text, &dir).map_err(fail)?;
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

/// `reinstall` or `change-os`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Reinstall,
    ChangeOs,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Reinstall => "reinstall",
            Self::ChangeOs => "change-os",
        }
    }
}

/// A key as a layer has it: `None` not written; `Some(None)` written as `""`, which unsets the
/// default; `Some(Some(v))` a value.
type Opt<T> = Option<Option<T>>;

/// The keys of `[defaults]` or of one `[[targets]]` entry, each checked on its own.
#[derive(Debug, Default)]
struct Layer {
    profile: Opt<String>,
    operation: Opt<Operation>,
    user_data: Opt<PathBuf>,
    cloud_init: Opt<Version>,
    admin_password_file: Opt<PathBuf>,
    keypair: Opt<KeyPairName>,
    user_id: Opt<UserId>,
    root_password_file: Opt<PathBuf>,
    stop: Opt<bool>,
    no_validate: Option<bool>,
    allow_lockout: Option<bool>,
    ecs: Option<ServerId>,
    edis: Option<KvmId>,
    image: Option<String>,
    /// The line of each key written, by its position in [`TARGET_KEYS`]; 0 when not written.
    lines: [usize; TARGET_KEYS.len()],
    /// The line of the table itself.
    line: usize,
    /// A value was refused: the combination checks would only repeat it.
    broken: bool,
}

impl Layer {
    fn written(&self, key: &str) -> bool {
        self.line_of(key).is_some()
    }

    fn line_of(&self, key: &str) -> Option<usize> {
        TARGET_KEYS
            .iter()
            .position(|k| *k == key)
            .map(|i| self.lines[i])
            .filter(|&l| l > 0)
    }
}

/// Where a merged value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layered {
    Target,
    Defaults,
}

impl Layered {
    fn suffix(self) -> &'static str {
        match self {
            Self::Target => "",
            Self::Defaults => " (from [defaults])",
        }
    }
}

/// The target's value if it wrote the key (`""` gives none), else the default's.
fn pick<'a, T>(target: &'a Opt<T>, defaults: &'a Opt<T>) -> Option<(&'a T, Layered)> {
    match target {
        Some(value) => value.as_ref().map(|v| (v, Layered::Target)),
        None => defaults
            .as_ref()
            .and_then(Option::as_ref)
            .map(|v| (v, Layered::Defaults)),
    }
}

/// Line numbers by byte offset.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// The line (from 1) of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The line and column (both from 1, the column in characters) of a byte offset.
    fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }
}

/// Parses and checks the text of a plan; paths are made absolute against `dir`.
fn parse(text: &str, dir: &Path) -> Result<Vec<Target>, Vec<String>> {
    let lines = Lines::new(text);
    let document = DeTable::parse(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let (line, column) = lines.position(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        // The message alone: the error's `Display` quotes the line, which may be anything.
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        vec![format!(
            "is not valid TOML{at}: {message}; fix the syntax (see https://toml.io)"
        )]
    })?;
    let mut problems = Vec::new();
    let mut defaults = Layer::default();
    let mut entries = None;
    for (key, value) in document.get_ref() {
        let name = key.get_ref().as_ref();
        let line = lines.line(key.span().start);
        match (name, value.get_ref()) {
            ("defaults", DeValue::Table(table)) => {
                defaults = parse_layer(table, "defaults", DEFAULT_KEYS, dir, &lines, &mut problems);
                defaults.line = line;
            }
            ("defaults", _) => problems.push(format!(
                "defaults (line {line}): must be a table; write it as [defaults] followed by its keys"
            )),
            ("targets", DeValue::Array(array)) => entries = Some(array),
            ("targets", _) => problems.push(format!(
                "targets (line {line}): must be an array of tables; write each target as \
                 [[targets]] followed by its keys"
            )),
            _ => {
                let fix = if TARGET_KEYS.contains(&name) {
                    format!("{name} belongs in [defaults] or in a [[targets]] entry: move it there")
                } else {
                    format!("the top level holds {}; rename or remove it", TOP_KEYS.join(" and "))
                };
                problems.push(format!(
                    "line {line}: unknown key {name:?} at the top level{}; {fix}",
                    did_you_mean(name, TOP_KEYS)
                ));
            }
        }
    }
    let entries: &[_] = entries.map_or(&[], |a| a);
    if entries.is_empty() && problems.is_empty() {
        problems.push(
            "has no targets; add one [[targets]] entry per server, with ecs = \"SERVER-ID\" or \
             edis = \"kvm_…\""
                .to_owned(),
        );
    }
    let mut targets = Vec::with_capacity(entries.len());
    let mut seen: HashMap<String, (usize, usize)> = HashMap::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let prefix = format!("targets[{index}]");
        let DeValue::Table(table) = entry.get_ref() else {
            let line = lines.line(entry.span().start);
            problems.push(format!(
                "{prefix} (line {line}): must be a table; write each target as [[targets]] \
                 followed by its keys"
            ));
            continue;
        };
        let mut layer = parse_layer(table, &prefix, TARGET_KEYS, dir, &lines, &mut problems);
        layer.line = table_line(table, entry.span().start, &lines);
        let Some(target) = build(index, &layer, &defaults, &mut problems) else {
            continue;
        };
        if let Some(&(first, first_line)) = seen.get(&target.key) {
            problems.push(format!(
                "{prefix} (line {}): {} is already targets[{first}] (line {first_line}); a \
                 server may appear only once in a plan: remove one of them",
                target.line, target.key
            ));
            continue;
        }
        seen.insert(target.key.clone(), (index, target.line));
        targets.push(target);
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(problems)
    }
}

/// The line where a `[[targets]]` entry starts: its header's, which its span starts at; for an
/// inline table, its first key's.
fn table_line(table: &DeTable<'_>, start: usize, lines: &Lines) -> usize {
    let first_key = table.keys().map(|k| k.span().start).min();
    lines.line(first_key.map_or(start, |k| k.min(start)))
}

/// Reads the keys of one table into a layer, refusing unknown keys and bad values.
fn parse_layer(
    table: &DeTable<'_>,
    prefix: &str,
    allowed: &[&str],
    dir: &Path,
    lines: &Lines,
    problems: &mut Vec<String>,
) -> Layer {
    let mut layer = Layer::default();
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        let line = lines.line(key.span().start);
        if !allowed.contains(&name) {
            problems.push(unknown_key(prefix, name, line, allowed));
            layer.broken = true;
            continue;
        }
        if let Some(i) = TARGET_KEYS.iter().position(|k| *k == name) {
            layer.lines[i] = line;
        }
        let at = format!("{prefix}.{name} (line {line})");
        let value = value.get_ref();
        let mut refuse = |problem: String| {
            problems.push(format!("{at}: {problem}"));
            false
        };
        let ok = match name {
            "no_validate" => match value {
                DeValue::Boolean(b) => {
                    layer.no_validate = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "allow_lockout" => match value {
                DeValue::Boolean(b) => {
                    layer.allow_lockout = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "cloud_init" => {
                // `cloud_init = 22.4` (a float) is read as the text it was written as.
                let text = match value {
                    DeValue::String(s) => Some(s.as_ref()),
                    DeValue::Float(f) => Some(f.as_str()),
                    _ => None,
                };
                match text {
                    None => {
                        refuse("must be a string; write it as cloud_init = \"22.4\"".to_owned())
                    }
                    Some("") => {
                        layer.cloud_init = Some(None);
                        true
                    }
                    Some(t) => match t.parse::<Version>() {
                        Ok(v) => {
                            layer.cloud_init = Some(Some(v));
                            true
                        }
                        Err(_) => refuse(format!(
                            "{t:?} is not a cloud-init version reimage has the schema of; use \
                             \"22.4\" (Debian 12) or \"26.2\" (the latest), whichever is nearer \
                             to the image's"
                        )),
                    },
                }
            }
            _ => match value {
                DeValue::String(s) => {
                    let s = s.as_ref();
                    match string_key(&mut layer, name, s, dir) {
                        Ok(()) => true,
                        Err(problem) => refuse(problem),
                    }
                }
                // The value is not shown: an inline password would be quoted.
                _ => refuse(format!("must be a string; write it as {name} = \"…\"")),
            },
        };
        if !ok {
            layer.broken = true;
        }
    }
    layer
}

/// Checks one string value and stores it in the layer.
fn string_key(layer: &mut Layer, name: &str, s: &str, dir: &Path) -> Result<(), String> {
    fn id<T>(value: Result<T, reimage_core::ValidationError>) -> Result<T, String> {
        value.map_err(|e| e.to_string())
    }
    fn set<T>(s: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Result<Opt<T>, String> {
        if s.is_empty() {
            Ok(Some(None))
        } else {
            f(s).map(|v| Some(Some(v)))
        }
    }
    let path = |s: &str| file_path(s, dir);
    match name {
        "ecs" => layer.ecs = Some(id(ServerId::new(s))?),
        "edis" => layer.edis = Some(id(KvmId::new(s))?),
        "image" => {
            if s.is_empty() {
                return Err(
                    "is empty; give the image (an image id for ECS change-os, an image name for \
                     EDIS), or remove the key"
                        .to_owned(),
                );
            }
            layer.image = Some(s.to_owned());
        }
        "profile" => layer.profile = set(s, |s| Ok(s.to_owned()))?,
        "operation" => {
            layer.operation = set(s, |s| match s {
                "reinstall" => Ok(Operation::Reinstall),
                "change-os" => Ok(Operation::ChangeOs),
                other => Err(format!(
                    "{other:?} is not an operation{}; use \"reinstall\" or \"change-os\"",
                    did_you_mean(other, &["reinstall", "change-os"])
                )),
            })?;
        }
        "mode" => {
            layer.stop = set(s, |s| match s {
                "with-stop-server" => Ok(true),
                other => Err(format!(
                    "{other:?} is not a mode; use \"with-stop-server\" (stop a running server \
                     first), or \"\" for none"
                )),
            })?;
        }
        "user_data" => layer.user_data = set(s, path)?,
        "admin_password_file" => layer.admin_password_file = set(s, path)?,
        "root_password_file" => layer.root_password_file = set(s, path)?,
        "keypair" => layer.keypair = set(s, |s| id(KeyPairName::new(s)))?,
        "user_id" => layer.user_id = set(s, |s| id(UserId::new(s)))?,
        _ => {}
    }
    Ok(())
}

/// A file named in the plan, made absolute against the plan's directory.
fn file_path(s: &str, dir: &Path) -> Result<PathBuf, String> {
    if s == "-" {
        return Err("a plan reads files only, not stdin (-); give the file's path".to_owned());
    }
    if s == "~" || s.starts_with("~/") {
        return Err(format!(
            "{s:?}: ~ is not expanded in a plan; write the full path, or one relative to the \
             plan's directory"
        ));
    }
    Ok(dir.join(s))
}

/// The message for a key that is not one of `allowed`.
fn unknown_key(prefix: &str, key: &str, line: usize, allowed: &[&str]) -> String {
    let fix = match key {
        "password" | "admin_password" | "adminpass" | "root_password" | "edis_password" => {
            "passwords are never written in a plan: put the password in a file and name it with \
             admin_password_file (ECS) or root_password_file (EDIS)"
                .to_owned()
        }
        "server" | "server_id" | "kvm" | "kvm_id" | "id" => {
            "name the server with ecs = \"SERVER-ID\" or edis = \"kvm_…\"".to_owned()
        }
        "ecs" | "edis" | "image" => {
            "ecs, edis and image name one server: set them in each [[targets]] entry".to_owned()
        }
        _ => {
            let place = if prefix == "defaults" {
                "of [defaults]"
            } else {
                "of a target"
            };
            format!(
                "the keys {place} are {}; rename or remove it",
                allowed.join(", ")
            )
        }
    };
    format!(
        "{prefix} (line {line}): unknown key {key:?}{}; {fix}",
        did_you_mean(key, allowed)
    )
}

/// ` (did you mean "image"?)` when a known key is near enough to be a typo.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d > 0 && *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Applies the defaults to a target's layer and checks the combination; `None` after reporting
/// its problems.
fn build(index: usize, t: &Layer, d: &Layer, problems: &mut Vec<String>) -> Option<Target> {
    let here = format!("targets[{index}] (line {})", t.line);
    let at = |key: &str| match t.line_of(key) {
        Some(line) => format!("targets[{index}].{key} (line {line})"),
        None => here.clone(),
    };
    match (t.written("ecs"), t.written("edis")) {
        (true, true) => {
            problems.push(format!(
                "{here}: has both ecs and edis; a target is one server: split it into two \
                 [[targets]] entries"
            ));
            return None;
        }
        (false, false) => {
            if !t.broken {
                problems.push(format!(
                    "{here}: names no server; add ecs = \"SERVER-ID\" (ECS) or edis = \"kvm_…\" \
                     (EDIS)"
                ));
            }
            return None;
        }
        _ => {}
    }
    if t.broken || d.broken {
        // The values' own problems are reported; the combinations would only repeat them.
        return None;
    }
    let before = problems.len();
    let operation = pick(&t.operation, &d.operation);
    let user_data = pick(&t.user_data, &d.user_data).map(|(p, _)| p.clone());
    let (key, action) = if let Some(server) = &t.ecs {
        let key = format!("ecs:{}", server.as_str().to_ascii_lowercase());
        if matches!(t.root_password_file, Some(Some(_))) {
            problems.push(format!(
                "{}: is for EDIS targets; an ECS server takes admin_password_file, or keypair \
                 with user_id",
                at("root_password_file")
            ));
        }
        let login = ecs_login(t, d, user_data.is_some(), &here, &at, problems);
        let stop = pick(&t.stop, &d.stop).is_some_and(|(s, _)| *s);
        let action = match (operation.map(|(o, w)| (*o, w)), &t.image) {
            (Some((Operation::ChangeOs, _)), None) => {
                problems.push(format!(
                    "{here}: change-os needs the new image; add image = \"IMAGE-ID\" (an IMS \
                     image id, e.g. e215580f-73ad-429d-b6f2-5433947433b0)"
                ));
                None
            }
            (Some((Operation::ChangeOs, _)), Some(image)) => match ImageId::new(image.as_str()) {
                Ok(image) => login.map(|login| Action::EcsChangeOs {
                    server: server.clone(),
                    image,
                    login,
                    stop,
                }),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("image")));
                    None
                }
            },
            (_, Some(_)) => {
                problems.push(format!(
                    "{}: is only for change-os: a reinstall keeps the server's current image; to \
                     install this image, set operation = \"change-os\"",
                    at("image")
                ));
                None
            }
            (_, None) => login.map(|login| Action::EcsReinstall {
                server: server.clone(),
                login,
                stop,
            }),
        };
        (key, action)
    } else if let Some(kvm) = &t.edis {
        let key = format!("edis:{kvm}");
        for ecs_only in ["admin_password_file", "keypair", "user_id", "mode"] {
            let set = match ecs_only {
                "admin_password_file" => matches!(t.admin_password_file, Some(Some(_))),
                "keypair" => matches!(t.keypair, Some(Some(_))),
                "user_id" => matches!(t.user_id, Some(Some(_))),
                _ => matches!(t.stop, Some(Some(_))),
            };
            if set {
                problems.push(format!(
                    "{}: is for ECS targets; an EDIS reinstall takes root_password_file",
                    at(ecs_only)
                ));
            }
        }
        if let Some((Operation::ChangeOs, from)) = operation.map(|(o, w)| (*o, w)) {
            let fix = match from {
                Layered::Target => "set operation = \"reinstall\", or remove the key",
                Layered::Defaults => "set operation = \"reinstall\" on this target",
            };
            problems.push(format!(
                "{}: operation \"change-os\"{} is not an EDIS operation: an EDIS reinstall \
                 installs the image you name; {fix}",
                at("operation"),
                from.suffix()
            ));
        }
        let image = match &t.image {
            None => {
                problems.push(format!(
                    "{here}: an EDIS reinstall needs the image; add image = \
                     \"cloudinit_debian-bookworm\" (reimage edis images --kvm {kvm} lists them)"
                ));
                None
            }
            Some(image) => match EdisImage::new(image.as_str()) {
                Ok(image) => Some(image),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("image")));
                    None
                }
            },
        };
        let password = pick(&t.root_password_file, &d.root_password_file);
        if password.is_none() {
            problems.push(format!(
                "{here}: an EDIS reinstall needs root_password_file; name a file that holds the \
                 new root password, here or in [defaults]"
            ));
        }
        let action = match (image, password) {
            (Some(image), Some((file, _))) => Some(Action::EdisReinstall {
                kvm: kvm.clone(),
                image,
                root_password_file: file.clone(),
            }),
            _ => None,
        };
        (key, action)
    } else {
        return None;
    };
    if problems.len() > before {
        return None;
    }
    Some(Target {
        #[cfg(test)]
        index,
        line: t.line,
        key,
        profile: pick(&t.profile, &d.profile).map(|(p, _)| p.clone()),
        action: action?,
        user_data,
        cloud_init: pick(&t.cloud_init, &d.cloud_init).map_or(Version::V26_2, |(v, _)| *v),
        no_validate: t.no_validate.or(d.no_validate).unwrap_or(false),
        allow_lockout: t.allow_lockout.or(d.allow_lockout).unwrap_or(false),
    })
}

/// The ECS login of a target: a target that sets the password drops the default key pair, and
/// one that sets the key pair (or its user) drops the default password.
fn ecs_login(
    t: &Layer,
    d: &Layer,
    has_user_data: bool,
    here: &str,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Option<EcsLogin> {
    let none = None;
    let target_sets_password = matches!(t.admin_password_file, Some(Some(_)));
    let target_sets_keypair =
        matches!(t.keypair, Some(Some(_))) || matches!(t.user_id, Some(Some(_)));
    let password = pick(
        &t.admin_password_file,
        if target_sets_keypair {
            &none
        } else {
            &d.admin_password_file
        },
    );
    let none_key = None;
    let keypair = pick(
        &t.keypair,
        if target_sets_password {
            &none_key
        } else {
            &d.keypair
        },
    );
    let none_user = None;
    let user_id = pick(
        &t.user_id,
        if target_sets_password {
            &none_user
        } else {
            &d.user_id
        },
    );
    match (password, keypair, user_id) {
        (Some((_, pw_from)), Some((_, key_from)), _) => {
            problems.push(format!(
                "{here}: admin_password_file{} and keypair{} are both set; choose one way to log \
                 in: a password file or a key pair",
                pw_from.suffix(),
                key_from.suffix()
            ));
            None
        }
        (_, Some((_, key_from)), None) => {
            problems.push(format!(
                "{}: keypair{} needs user_id; add user_id = \"…\", the id of the IAM user that \
                 owns the key pair (32 hexadecimal digits)",
                at("keypair"),
                key_from.suffix()
            ));
            None
        }
        (_, None, Some((_, Layered::Target))) => {
            problems.push(format!(
                "{}: is set without keypair; user_id names the owner of a key pair: add \
                 keypair, or remove user_id",
                at("user_id")
            ));
            None
        }
        (Some((file, _)), None, _) => Some(EcsLogin::Password(file.clone())),
        (None, Some((name, _)), Some((user_id, _))) => Some(EcsLogin::KeyPair {
            name: name.clone(),
            user_id: user_id.clone(),
        }),
        (None, None, _) => {
            if has_user_data {
                Some(EcsLogin::UserDataOnly)
            } else {
                problems.push(format!(
                    "{here}: no way to log in to the new OS; set admin_password_file, or keypair \
                     with user_id, or user_data that sets up a login"
                ));
                None
            }
        }
    }
}

/// A target's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The target's key.
    pub(crate) key: String,
    /// What is wrong and the fix. Never a secret.
    pub(crate) message: String,
}

/// The files a plan names, each read once and kept by path: 10,000 targets that share one user
/// data file read it once. Password files are checked by the rules of the provider that uses
/// them; their contents are never shown (`Debug` gives counts only).
#[derive(Default)]
pub(crate) struct Inputs {
    user_data: HashMap<PathBuf, Result<UserData, String>>,
    admin: HashMap<PathBuf, Result<AdminPassword, String>>,
    root: HashMap<PathBuf, Result<RootPassword, String>>,
    reads: usize,
}

impl fmt::Debug for Inputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inputs")
            .field("user_data_files", &self.user_data.len())
            .field("admin_password_files", &self.admin.len())
            .field("root_password_files", &self.root.len())
            .field("reads", &self.reads)
            .finish()
    }
}

impl Inputs {
    /// Reads every file the plan names, once each. A file that cannot be used becomes a problem
    /// of each target that names it.
    pub(crate) fn load(plan: &Plan) -> (Inputs, Vec<Problem>) {
        let mut inputs = Inputs::default();
        let mut secrets: HashMap<&Path, Result<SecretString, String>> = HashMap::new();
        let mut problems = Vec::new();
        for t in &plan.targets {
            let mut problem = |message: String| {
                problems.push(Problem {
                    key: t.key.clone(),
                    message,
                });
            };
            if let Some(path) = &t.user_data {
                if !inputs.user_data.contains_key(path.as_path()) {
                    inputs.reads += 1;
                    let read = crate::validate::read(path)
                        .map(UserData::from)
                        .map_err(|m| format!("user_data {}: {m}", shown(plan, path)));
                    inputs.user_data.insert(path.clone(), read);
                }
                if let Some(Err(m)) = inputs.user_data.get(path.as_path()) {
                    problem(m.clone());
                }
            }
            match &t.action {
                Action::EcsReinstall {
                    login: EcsLogin::Password(path),
                    ..
                }
                | Action::EcsChangeOs {
                    login: EcsLogin::Password(path),
                    ..
                } => {
                    let secret = Secret {
                        plan,
                        path,
                        key: "admin_password_file",
                    };
                    let checked =
                        secret.checked(&mut inputs.admin, &mut secrets, &mut inputs.reads, |s| {
                            AdminPassword::new(s)
                        });
                    if let Err(m) = checked {
                        problem(m);
                    }
                }
                Action::EdisReinstall {
                    root_password_file: path,
                    ..
                } => {
                    let secret = Secret {
                        plan,
                        path,
                        key: "root_password_file",
                    };
                    let checked =
                        secret.checked(&mut inputs.root, &mut secrets, &mut inputs.reads, |s| {
                            RootPassword::new(s)
                        });
                    if let Err(m) = checked {
                        problem(m);
                    }
                }
                Action::EcsReinstall { .. } | Action::EcsChangeOs { .. } => {}
            }
        }
        (inputs, problems)
    }

    /// How many files were read.
    #[cfg(test)]
    pub(crate) fn reads(&self) -> usize {
        self.reads
    }

    /// How many distinct user data files are held.
    #[cfg(test)]
    pub(crate) fn user_data_files(&self) -> usize {
        self.user_data.len()
    }

    /// What to send for an ECS reinstall target, built fresh and cheaply (user data is shared
    /// bytes, the password a clone). User data validation is [`check`]'s: run it first.
    pub(crate) fn ecs_reinstall(&self, t: &Target) -> Result<EcsReinstall, String> {
        match &t.action {
            Action::EcsReinstall { login, stop, .. } => {
                Ok(EcsReinstall::new(self.ecs_spec(t, login, *stop)?))
            }
            _ => Err(format!("{} is not an ECS reinstall", t.key)),
        }
    }

    /// What to send for an ECS change-os target (see [`Inputs::ecs_reinstall`]).
    pub(crate) fn ecs_change_os(&self, t: &Target) -> Result<EcsChangeOs, String> {
        match &t.action {
            Action::EcsChangeOs {
                image, login, stop, ..
            } => Ok(EcsChangeOs::new(
                image.clone(),
                self.ecs_spec(t, login, *stop)?,
            )),
            _ => Err(format!("{} is not an ECS change-os", t.key)),
        }
    }

    /// What to send for an EDIS target (see [`Inputs::ecs_reinstall`]). User data for an image
    /// that does not run cloud-init is refused, as `reimage edis reinstall` refuses it.
    pub(crate) fn edis_reinstall(&self, t: &Target) -> Result<EdisReinstall, String> {
        let Action::EdisReinstall {
            image,
            root_password_file,
            ..
        } = &t.action
        else {
            return Err(format!("{} is not an EDIS reinstall", t.key));
        };
        let password = cached(&self.root, root_password_file, "root_password_file")?;
        let mut input = EdisReinstall::new(image.clone(), password);
        if let Some(path) = &t.user_data {
            if !crate::edis::runs_cloud_init(image) {
                return Err(not_cloud_init(image));
            }
            input = input.with_user_data(cached(&self.user_data, path, "user_data")?);
        }
        Ok(input)
    }

    fn ecs_spec(&self, t: &Target, login: &EcsLogin, stop: bool) -> Result<EcsOsSpec, String> {
        let mut builder = EcsOsSpec::builder().stop_server(stop);
        match login {
            EcsLogin::Password(path) => {
                builder = builder.adminpass(cached(&self.admin, path, "admin_password_file")?);
            }
            EcsLogin::KeyPair { name, user_id } => {
                builder = builder.keyname(name.clone()).userid(user_id.clone());
            }
            EcsLogin::UserDataOnly => {}
        }
        if let Some(path) = &t.user_data {
            builder = builder.user_data(cached(&self.user_data, path, "user_data")?);
        }
        builder.build().map_err(|e| e.to_string())
    }
}

/// A file's cached value, or why there is none.
fn cached<T: Clone>(
    map: &HashMap<PathBuf, Result<T, String>>,
    path: &Path,
    key: &str,
) -> Result<T, String> {
    match map.get(path) {
        Some(Ok(value)) => Ok(value.clone()),
        Some(Err(message)) => Err(message.clone()),
        None => Err(format!(
            "{key} {}: was not loaded (Inputs::load of another plan?)",
            path.display()
        )),
    }
}

/// A password file of a plan, and the key that named it.
struct Secret<'p> {
    plan: &'p Plan,
    path: &'p Path,
    key: &'static str,
}

impl<'p> Secret<'p> {
    /// The password of the file, read and checked once (by `check`, the provider's rules) and
    /// kept in `cache`; the error names the key and the file, never the password.
    fn checked<T>(
        &self,
        cache: &mut HashMap<PathBuf, Result<T, String>>,
        secrets: &mut HashMap<&'p Path, Result<SecretString, String>>,
        reads: &mut usize,
        check: impl FnOnce(&str) -> Result<T, reimage_core::ValidationError>,
    ) -> Result<(), String> {
        let entry = cache.entry(self.path.to_owned()).or_insert_with(|| {
            read_secret(secrets, reads, self.path)
                .and_then(|s| check(s.expose_secret()).map_err(|e| e.to_string()))
                .map_err(|m| format!("{} {}: {m}", self.key, shown(self.plan, self.path)))
        });
        entry.as_ref().map(drop).map_err(Clone::clone)
    }
}

/// Reads a secret file once, however many roles use it.
fn read_secret<'p>(
    secrets: &mut HashMap<&'p Path, Result<SecretString, String>>,
    reads: &mut usize,
    path: &'p Path,
) -> Result<SecretString, String> {
    secrets
        .entry(path)
        .or_insert_with(|| {
            *reads += 1;
            // The error names the file and the problem, never the content.
            reimage_config::read_secret_file(path).map_err(|e| match e {
                // The caller names the file, as the plan does.
                reimage_config::ConfigError::SecretFile { problem, fix, .. } => {
                    format!("{problem}; {fix}")
                }
                other => other.to_string(),
            })
        })
        .clone()
}

/// A path as the plan's reader knows it: relative to the plan's directory when it is inside it.
fn shown(plan: &Plan, path: &Path) -> String {
    let path = path.strip_prefix(&plan.dir).unwrap_or(path);
    crate::validate::one_line(&path.display().to_string()).into_owned()
}

fn not_cloud_init(image: &EdisImage) -> String {
    format!(
        "user_data: the image {image} does not run cloud-init (only cloudinit_* images do), so \
         the server would boot without it; choose a cloudinit_* image, or set user_data = \"\" \
         on this target"
    )
}

/// One line of `reimage fleet check`: what would happen to a target, and what stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckRow {
    /// `ecs:<id>` or `edis:<id>`.
    pub(crate) key: String,
    /// `ecs` or `edis`.
    pub(crate) provider: &'static str,
    /// `reinstall` or `change-os`.
    pub(crate) operation: &'static str,
    /// The image: an id or name, or `(current)` for an ECS reinstall.
    pub(crate) image: String,
    /// The profile, or `(default)`.
    pub(crate) profile: String,
    /// How to log in: `password FILE`, `keypair NAME`, `user data`, `root password FILE`.
    pub(crate) login: String,
    /// The user data and its verdict (`cloud.yaml: valid (22.4), 1 warning`), or `-`.
    pub(crate) user_data: String,
    /// What must be fixed before the target can be sent; empty when it is ready.
    pub(crate) problems: Vec<String>,
}

impl CheckRow {
    /// Whether nothing stops the target.
    pub(crate) fn ready(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What validation said about one user data file, for one version, provider and login.
struct Verdict {
    summary: String,
    errors: Vec<String>,
    error_count: usize,
    /// Over the provider's size limit: it cannot be sent at all.
    oversize: Option<String>,
    /// It leaves no way to log in: a problem unless `allow_lockout`.
    lockout: Option<String>,
}

/// Whether a profile (`None`: the default one) has the provider's credentials, offline; the
/// error says what is missing and how to give it.
pub(crate) type CredentialsOk<'a> = dyn Fn(Option<&str>, Provider) -> Result<(), String> + 'a;

/// The offline check of every target: its files (see [`Inputs::load`]); its user data with
/// `reimage_cloudinit`, once per file, cloud-init version, provider and provider login (errors
/// are problems unless `no_validate`; a config that leaves no way to log in is a problem unless
/// `allow_lockout`; user data over ECS's size limit, and EDIS user data on an
/// image that is not `cloudinit_*`, are problems either way); its password by the provider's
/// rules; and its profile's credentials, with `credentials_ok`, asked once per profile and
/// provider.
pub(crate) fn check(
    plan: &Plan,
    inputs: &Inputs,
    credentials_ok: &CredentialsOk<'_>,
) -> Vec<CheckRow> {
    let mut credentials: HashMap<(Option<&str>, Provider), Result<(), String>> = HashMap::new();
    let mut verdicts: HashMap<(&Path, Version, Provider, bool), Verdict> = HashMap::new();
    let mut rows = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        let provider = t.provider();
        let mut problems = Vec::new();
        let profile = t.profile.as_deref();
        let creds = credentials
            .entry((profile, provider))
            .or_insert_with(|| credentials_ok(profile, provider));
        if let Err(message) = creds {
            let whose = match profile {
                Some(name) => format!("profile {name:?}"),
                None => "the default profile".to_owned(),
            };
            problems.push(format!(
                "{} credentials ({whose}): {message}",
                provider.as_str().to_ascii_uppercase()
            ));
        }
        let (image, login) = match &t.action {
            Action::EcsReinstall { login, .. } => (
                "(current)".to_owned(),
                ecs_login_shown(plan, inputs, login, &mut problems),
            ),
            Action::EcsChangeOs { image, login, .. } => (
                image.to_string(),
                ecs_login_shown(plan, inputs, login, &mut problems),
            ),
            Action::EdisReinstall {
                image,
                root_password_file,
                ..
            } => {
                if let Err(m) = cached(&inputs.root, root_password_file, "root_password_file") {
                    problems.push(m);
                }
                (
                    image.to_string(),
                    format!("root password {}", shown(plan, root_password_file)),
                )
            }
        };
        let user_data = match &t.user_data {
            None => "-".to_owned(),
            Some(path) => {
                let name = shown(plan, path);
                match (&t.action, inputs.user_data.get(path.as_path())) {
                    (_, None) => {
                        problems.push(format!("user_data {name}: was not loaded"));
                        format!("{name}: not read")
                    }
                    (_, Some(Err(m))) => {
                        problems.push(m.clone());
                        format!("{name}: unreadable")
                    }
                    (Action::EdisReinstall { image, .. }, Some(Ok(_)))
                        if !crate::edis::runs_cloud_init(image) =>
                    {
                        problems.push(not_cloud_init(image));
                        format!("{name}: not used by {image}")
                    }
                    (_, Some(Ok(bytes))) => {
                        let login = t.provider_login();
                        let verdict = verdicts
                            .entry((path.as_path(), t.cloud_init, provider, login))
                            .or_insert_with(|| {
                                verdict(bytes, &name, t.cloud_init, provider, login)
                            });
                        if let Some(m) = &verdict.oversize {
                            problems.push(m.clone());
                        }
                        if !login && bytes.is_empty() {
                            problems.push(format!(
                                "user_data {name}: is empty, and it is the only way to log in \
                                 (no admin_password_file or keypair)"
                            ));
                        }
                        if let Some(m) = &verdict.lockout
                            && !t.allow_lockout
                        {
                            problems.push(m.clone());
                        }
                        if verdict.error_count > 0 && !t.no_validate {
                            problems.extend(verdict.errors.iter().cloned());
                        }
                        let sent_anyway = if verdict.error_count > 0 && t.no_validate {
                            ", sent anyway (no_validate)"
                        } else {
                            ""
                        };
                        format!("{name}: {}{sent_anyway}", verdict.summary)
                    }
                }
            }
        };
        rows.push(CheckRow {
            key: t.key.clone(),
            provider: provider.as_str(),
            operation: t.operation(),
            image,
            profile: t.profile.clone().unwrap_or_else(|| "(default)".to_owned()),
            login,
            user_data,
            problems,
        });
    }
    rows
}

/// An ECS login as the table shows it; an unusable password file is a problem.
fn ecs_login_shown(
    plan: &Plan,
    inputs: &Inputs,
    login: &EcsLogin,
    problems: &mut Vec<String>,
) -> String {
    match login {
        EcsLogin::Password(path) => {
            if let Err(m) = cached(&inputs.admin, path, "admin_password_file") {
                problems.push(m);
            }
            format!("password {}", shown(plan, path))
        }
        EcsLogin::KeyPair { name, .. } => format!("keypair {name}"),
        EcsLogin::UserDataOnly => "user data".to_owned(),
    }
}

/// Validates one user data file and sums the result up.
fn verdict(
    bytes: &UserData,
    name: &str,
    version: Version,
    provider: Provider,
    login: bool,
) -> Verdict {
    let limit = provider.core().user_data_limit();
    let options = Options::default()
        .with_version(version)
        .with_provider_login(login)
        .with_size_limit(limit);
    let report = reimage_cloudinit::validate(bytes.as_bytes(), &options);
    let error_count = report.errors().count();
    let warning_count = report.warnings().count();
    let mut errors: Vec<String> = report
        .errors()
        .take(SHOWN_FINDINGS)
        .map(|f| {
            let path = if f.path.is_empty() { "(root)" } else { &f.path };
            format!(
                "user_data {name}:{}:{}: {}[{}]: {}: {} (cloud-init {version})",
                f.line,
                f.column,
                Severity::Error,
                f.code,
                crate::validate::one_line(path),
                crate::validate::one_line(&f.message)
            )
        })
        .collect();
    if error_count > SHOWN_FINDINGS {
        errors.push(format!(
            "user_data {name}: {} more errors; reimage validate --cloud-init {version} \
             --provider {} FILE shows them all (or set no_validate = true to send it anyway)",
            error_count - SHOWN_FINDINGS,
            provider.as_str()
        ));
    }
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let kind = if report.kind == reimage_cloudinit::Kind::CloudConfig {
        String::new()
    } else {
        format!("{}, ", report.kind.as_str())
    };
    let mut summary = if error_count == 0 {
        format!("{kind}valid ({version})")
    } else {
        format!(
            "{kind}invalid ({version}), {}",
            plural(error_count, "error")
        )
    };
    if warning_count > 0 {
        summary.push_str(&format!(", {}", plural(warning_count, "warning")));
    }
    let oversize = limit.filter(|&limit| bytes.len() > limit).map(|limit| {
        format!(
            "user_data {name}: is {} bytes, over {}'s limit of {limit} bytes; shorten it",
            bytes.len(),
            provider.as_str().to_ascii_uppercase()
        )
    });
    let lockout = report.lockout().map(|f| {
        format!(
            "user_data {name}:{}:{}: {}; it is not sent: add a login to it, or give \
             admin_password_file or keypair with user_id (or set allow_lockout = true if a server \
             nobody can log in to is what you want)",
            f.line,
            f.column,
            crate::validate::one_line(
                f.message
                    .split_once(';')
                    .map_or(f.message.as_str(), |(first, _)| first)
            )
        )
    });
    Verdict {
        summary,
        errors,
        error_count,
        oversize,
        lockout,
    }
}

/// The rows as an aligned text table, each target's problems under it, and a summary line:
/// `N targets: X ready, Y with problems`.
pub(crate) fn render_table(rows: &[CheckRow]) -> String {
    const HEADER: [&str; 7] = [
        "TARGET",
        "OPERATION",
        "IMAGE",
        "PROFILE",
        "LOGIN",
        "USER DATA",
        "STATUS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let status = match r.problems.len() {
                0 => "ready".to_owned(),
                1 => "1 problem".to_owned(),
                n => format!("{n} problems"),
            };
            [
                r.key.as_str(),
                r.operation,
                r.image.as_str(),
                r.profile.as_str(),
                r.login.as_str(),
                r.user_data.as_str(),
                status.as_str(),
            ]
            .map(|cell| crate::validate::one_line(cell).into_owned())
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_row(&mut out, &HEADER, &widths);
    for (row, cells) in rows.iter().zip(&cells) {
        push_row(&mut out, &cells.each_ref().map(String::as_str), &widths);
        for problem in &row.problems {
            out.push_str("    - ");
            out.push_str(&crate::validate::one_line(problem));
            out.push('\n');
        }
    }
    out.push_str(&summary_line(rows));
    out.push('\n');
    out
}

/// One line of the table: each cell padded to its column's width, two spaces between.
fn push_row(out: &mut String, cells: &[&str], widths: &[usize]) {
    let start = out.len();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        out.push_str(cell);
        if i + 1 < cells.len() {
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()),
            ));
        }
    }
    let end = out[start..].trim_end().len() + start;
    out.truncate(end);
    out.push('\n');
}

fn summary_line(rows: &[CheckRow]) -> String {
    let ready = rows.iter().filter(|r| r.ready()).count();
    let noun = if rows.len() == 1 { "target" } else { "targets" };
    format!(
        "{} {noun}: {ready} ready, {} with problems",
        rows.len(),
        rows.len() - ready
    )
}

/// The rows as one JSON document: `{"targets": [{key, provider, operation, image, profile,
/// login, user_data, ready, problems}], "summary": {targets, ready, with_problems}}`.
pub(crate) fn rows_json(rows: &[CheckRow]) -> Value {
    let ready = rows.iter().filter(|r| r.ready()).count();
    json!({
        "targets": rows.iter().map(|r| json!({
            "key": r.key,
            "provider": r.provider,
            "operation": r.operation,
            "image": r.image,
            "profile": r.profile,
            "login": r.login,
            "user_data": r.user_data,
            "ready": r.ready(),
            "problems": r.problems,
        })).collect::<Vec<_>>(),
        "summary": {
            "targets": rows.len(),
            "ready": ready,
            "with_problems": rows.len() - ready,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Instant;

    use reimage_core::Login;

    use super::*;

    /// A directory of its own under the system's temp directory, removed at the end.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("reimage-fleet-plan-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        fn write(&self, name: &str, content: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, content).unwrap();
            path
        }

        fn plan(&self, text: &str) -> Result<Plan, PlanError> {
            load(&self.write("plan.toml", text))
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const SERVER: &str = "11111111-2222-3333-4444-555555555555";
    const SERVER2: &str = "66666666-7777-8888-9999-000000000000";
    const IMAGE: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
    const USER: &str = "7e25b1da389f4697a79df3a0e5bd494e";

    /// The module doc's example, with one more target for each override.
    const EXAMPLE: &str = r#"
[defaults]
profile = "prod"
operation = "reinstall"
user_data = "cloud-config.yaml"
cloud_init = "22.4"
admin_password_file = "ecs-admin.pw"
keypair = "my-key"
user_id = "7e25b1da389f4697a79df3a0e5bd494e"
root_password_file = "edis-root.pw"
mode = "with-stop-server"
no_validate = false

[[targets]]
ecs = "11111111-2222-3333-4444-555555555555"
operation = "change-os"
image = "e215580f-73ad-429d-b6f2-5433947433b0"
keypair = ""

[[targets]]
ecs = "66666666-7777-8888-9999-000000000000"
keypair = "ops-key"
user_data = ""

[[targets]]
edis = "kvm_100001_200001"
image = "cloudinit_debian-bookworm"
profile = "edis-account"

[[targets]]
ecs = "AAAAAAAA-2222-3333-4444-555555555555"
admin_password_file = "other.pw"
cloud_init = "26.2"
mode = ""
profile = ""
no_validate = true
"#;

    fn problems(result: Result<Plan, PlanError>) -> Vec<String> {
        match result {
            Ok(plan) => panic!("expected an error, got {} targets", plan.targets.len()),
            Err(e) => e.problems,
        }
    }

    fn one_problem(dir: &Dir, text: &str) -> String {
        let problems = problems(dir.plan(text));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        problems.into_iter().next().unwrap()
    }

    #[test]
    fn the_example_parses_with_defaults_and_overrides() {
        let dir = Dir::new("example");
        let plan = dir.plan(EXAMPLE).unwrap();
        assert_eq!(plan.dir, dir.0);
        assert_eq!(plan.targets.len(), 4);
        let [change, keypair, edis, other] = plan.targets.as_slice() else {
            panic!()
        };

        assert_eq!(change.index, 0);
        assert_eq!(change.line, 14);
        assert_eq!(change.key, format!("ecs:{SERVER}"));
        assert_eq!(change.profile.as_deref(), Some("prod"));
        assert_eq!(change.user_data, Some(dir.0.join("cloud-config.yaml")));
        assert_eq!(change.cloud_init, Version::V22_4);
        assert!(!change.no_validate);
        assert_eq!(change.operation(), "change-os");
        match &change.action {
            Action::EcsChangeOs {
                server,
                image,
                login: EcsLogin::Password(pw),
                stop: true,
            } => {
                assert_eq!(server.as_str(), SERVER);
                assert_eq!(image.as_str(), IMAGE);
                assert_eq!(pw, &dir.0.join("ecs-admin.pw"));
            }
            other => panic!("{other:?}"),
        }

        // keypair replaces the default password; user_id still comes from the defaults.
        assert_eq!(keypair.user_data, None);
        assert_eq!(keypair.operation(), "reinstall");
        match &keypair.action {
            Action::EcsReinstall {
                login: EcsLogin::KeyPair { name, user_id },
                stop: true,
                ..
            } => {
                assert_eq!(name.as_str(), "ops-key");
                assert_eq!(user_id.as_str(), USER);
            }
            other => panic!("{other:?}"),
        }

        // ECS defaults are ignored for EDIS, and root_password_file applies.
        assert_eq!(edis.key, "edis:kvm_100001_200001");
        assert_eq!(edis.profile.as_deref(), Some("edis-account"));
        assert_eq!(edis.provider(), Provider::Edis);
        match &edis.action {
            Action::EdisReinstall {
                kvm,
                image,
                root_password_file,
            } => {
                assert_eq!(kvm.as_str(), "kvm_100001_200001");
                assert_eq!(image.as_str(), "cloudinit_debian-bookworm");
                assert_eq!(root_password_file, &dir.0.join("edis-root.pw"));
            }
            other => panic!("{other:?}"),
        }

        // "" unsets mode and profile; the key is lower case, the id as written.
        assert_eq!(other.key, "ecs:aaaaaaaa-2222-3333-4444-555555555555");
        assert_eq!(other.profile, None);
        assert_eq!(other.cloud_init, Version::V26_2);
        assert!(other.no_validate);
        match &other.action {
            Action::EcsReinstall {
                server,
                login: EcsLogin::Password(pw),
                stop: false,
            } => {
                assert_eq!(server.as_str(), "AAAAAAAA-2222-3333-4444-555555555555");
                assert_eq!(pw, &dir.0.join("other.pw"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// The module doc's example, taken from this file: it must be a valid plan.
    fn doc_example() -> String {
        let source = include_str!("plan.rs");
        let start = source.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
        let end = start + source[start..].find("//! ```\n").unwrap();
        source[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_documented_example_is_a_valid_plan() {
        let dir = Dir::new("doc-example");
        let text = doc_example();
        assert!(text.contains("[[targets]]"), "{text}");
        let plan = dir.plan(&text).unwrap();
        let keys: Vec<&str> = plan.targets.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ecs:11111111-2222-3333-4444-555555555555",
                "ecs:66666666-7777-8888-9999-000000000000",
                "edis:kvm_100001_200001"
            ]
        );
        assert!(matches!(
            &plan.targets[0].action,
            Action::EcsChangeOs { login: EcsLogin::Password(p), stop: true, .. }
                if p == &dir.0.join("ecs-admin.pw")
        ));
        assert!(matches!(
            &plan.targets[1].action,
            Action::EcsReinstall { login: EcsLogin::KeyPair { name, user_id }, .. }
                if name.as_str() == "ops-key" && user_id.as_str() == USER
        ));
        assert_eq!(plan.targets[1].user_data, None);
        assert_eq!(plan.targets[2].profile.as_deref(), Some("edis-account"));
        assert_eq!(plan.targets[2].cloud_init, Version::V22_4);
    }

    #[test]
    fn without_defaults_the_defaults_of_reimage_apply() {
        let dir = Dir::new("bare");
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\nuser_data = \"/abs/u.yaml\"\n"
            ))
            .unwrap();
        let t = &plan.targets[0];
        assert_eq!(t.profile, None);
        assert_eq!(t.cloud_init, Version::V26_2);
        assert_eq!(t.user_data.as_deref(), Some(Path::new("/abs/u.yaml")));
        assert!(matches!(
            t.action,
            Action::EcsReinstall {
                login: EcsLogin::UserDataOnly,
                stop: false,
                ..
            }
        ));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_key_and_the_fix() {
        let dir = Dir::new("unknown");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\nimgae = \"x\"\nuser_data = \"u\"\n"),
        );
        assert_eq!(
            p,
            "targets[0] (line 3): unknown key \"imgae\" (did you mean \"image\"?); the keys of a \
             target are ecs, edis, image, profile, operation, user_data, cloud_init, \
             admin_password_file, keypair, user_id, root_password_file, mode, no_validate, \
             allow_lockout; rename or remove it"
        );
        let p = one_problem(
            &dir,
            &format!("[defaults]\nimage = \"x\"\n[[targets]]\necs = \"{SERVER}\"\n"),
        );
        assert!(
            p.starts_with("defaults (line 2): unknown key \"image\""),
            "{p}"
        );
        assert!(p.contains("set them in each [[targets]] entry"), "{p}");
        let p = one_problem(
            &dir,
            &format!("profile = \"x\"\n[[targets]]\necs = \"{SERVER}\"\nuser_data = \"u\"\n"),
        );
        assert!(
            p.contains("unknown key \"profile\" at the top level")
                && p.contains("belongs in [defaults] or in a [[targets]] entry"),
            "{p}"
        );
        let p = one_problem(&dir, "[default]\nprofile = \"x\"\n");
        assert!(p.contains("(did you mean \"defaults\"?)"), "{p}");
    }

    #[test]
    fn a_target_names_exactly_one_server() {
        let dir = Dir::new("servers");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\nedis = \"kvm_1_2\"\n"),
        );
        assert_eq!(
            p,
            "targets[0] (line 1): has both ecs and edis; a target is one server: split it into \
             two [[targets]] entries"
        );
        let p = one_problem(&dir, "[[targets]]\nimage = \"debian\"\n");
        assert!(
            p.starts_with("targets[0] (line 1): names no server; add ecs = "),
            "{p}"
        );
    }

    #[test]
    fn a_bad_id_names_the_index_the_key_and_the_line() {
        let dir = Dir::new("bad-id");
        let text = format!(
            "[defaults]\nuser_data = \"u.yaml\"\n\n[[targets]]\necs = \"{SERVER}\"\n\n\
             [[targets]]\necs = \"not-a-uuid\"\n\n[[targets]]\nedis = \"kvm_x_1\"\nimage = \"d\"\n"
        );
        let problems = problems(dir.plan(&text));
        assert_eq!(
            problems,
            [
                "targets[1].ecs (line 8): server_id: \"not-a-uuid\" is not a server id; expected \
                 a UUID in 8-4-4-4-12 hex form, e.g. 11111111-2222-3333-4444-555555555555",
                "targets[2].edis (line 11): kvm_id: \"kvm_x_1\" is not a KVM id; expected \
                 kvm_<digits>_<digits>, e.g. kvm_12345_67890",
            ]
        );
        let err = dir.plan(&text).unwrap_err().to_string();
        assert!(err.starts_with("plan "), "{err}");
        assert!(
            err.contains(": 2 problems:\n  - targets[1].ecs (line 8)"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let dir = Dir::new("values");
        let cases = [
            (
                "operation = \"changeos\"",
                "\"changeos\" is not an operation (did you mean \"change-os\"?)",
            ),
            (
                "cloud_init = \"23.1\"",
                "\"23.1\" is not a cloud-init version",
            ),
            ("mode = \"stop\"", "\"stop\" is not a mode"),
            ("no_validate = \"yes\"", "must be true or false"),
            (
                "user_data = 3",
                "must be a string; write it as user_data = \"…\"",
            ),
            ("user_data = \"~/u.yaml\"", "~ is not expanded"),
            ("admin_password_file = \"-\"", "not stdin"),
            ("user_id = \"me\"", "userid: \"me\" is not a user id"),
            (
                "keypair = \"my key\"",
                "keyname: \"my key\" is not a key pair name",
            ),
        ];
        for (line, want) in cases {
            let p = one_problem(&dir, &format!("[[targets]]\necs = \"{SERVER}\"\n{line}\n"));
            assert!(p.starts_with("targets[0]."), "{line}: {p}");
            assert!(p.contains("(line 3)"), "{line}: {p}");
            assert!(p.contains(want), "{line}: {p}");
        }
        // cloud_init written as a number is read as written.
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\nuser_data = \"u\"\ncloud_init = 22.4\n"
            ))
            .unwrap();
        assert_eq!(plan.targets[0].cloud_init, Version::V22_4);
    }

    #[test]
    fn combinations_are_refused() {
        let dir = Dir::new("combinations");
        let ecs = format!("[[targets]]\necs = \"{SERVER}\"\n");
        let edis = "[[targets]]\nedis = \"kvm_1_2\"\n";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{ecs}operation = \"change-os\"\nuser_data = \"u\"\n"),
                "targets[0] (line 1): change-os needs the new image; add image = ",
            ),
            (
                format!("{ecs}image = \"{IMAGE}\"\nuser_data = \"u\"\n"),
                "targets[0].image (line 3): is only for change-os",
            ),
            (
                format!("{ecs}operation = \"change-os\"\nimage = \"debian\"\nuser_data = \"u\"\n"),
                "targets[0].image (line 4): imageid: \"debian\" is not an image id",
            ),
            (
                format!(
                    "{edis}image = \"debian\"\noperation = \"change-os\"\nroot_password_file = \"r\"\n"
                ),
                "targets[0].operation (line 4): operation \"change-os\" is not an EDIS operation",
            ),
            (
                format!(
                    "[defaults]\noperation = \"change-os\"\n{edis}image = \"debian\"\nroot_password_file = \"r\"\n"
                ),
                "targets[0] (line 3): operation \"change-os\" (from [defaults]) is not an EDIS operation: an EDIS reinstall installs the image you name; set operation = \"reinstall\" on this target",
            ),
            (
                format!("{edis}image = \"debian\"\n"),
                "targets[0] (line 1): an EDIS reinstall needs root_password_file",
            ),
            (
                format!("{edis}root_password_file = \"r\"\n"),
                "targets[0] (line 1): an EDIS reinstall needs the image",
            ),
            (
                format!("{edis}image = \"debian\"\nroot_password_file = \"r\"\nkeypair = \"k\"\n"),
                "targets[0].keypair (line 5): is for ECS targets",
            ),
            (
                format!("{ecs}admin_password_file = \"a\"\nroot_password_file = \"r\"\n"),
                "targets[0].root_password_file (line 4): is for EDIS targets",
            ),
            (
                format!("{ecs}keypair = \"k\"\n"),
                "targets[0].keypair (line 3): keypair needs user_id",
            ),
            (
                format!("[defaults]\nkeypair = \"k\"\n{ecs}"),
                "targets[0] (line 3): keypair (from [defaults]) needs user_id",
            ),
            (
                format!("{ecs}user_id = \"{USER}\"\nadmin_password_file = \"a\"\n"),
                "targets[0].user_id (line 3): is set without keypair",
            ),
            (
                format!(
                    "{ecs}keypair = \"k\"\nuser_id = \"{USER}\"\nadmin_password_file = \"a\"\n"
                ),
                "targets[0] (line 1): admin_password_file and keypair are both set",
            ),
            (
                format!(
                    "[defaults]\nadmin_password_file = \"a\"\nkeypair = \"k\"\nuser_id = \"{USER}\"\n{ecs}"
                ),
                "targets[0] (line 5): admin_password_file (from [defaults]) and keypair (from [defaults]) are both set",
            ),
            (
                ecs.clone(),
                "targets[0] (line 1): no way to log in to the new OS",
            ),
            (
                format!("[defaults]\nuser_data = \"u\"\n{ecs}user_data = \"\"\n"),
                "targets[0] (line 3): no way to log in to the new OS",
            ),
        ];
        for (text, want) in cases {
            let p = one_problem(&dir, &text);
            assert!(p.starts_with(want), "{text}\n=> {p}\nwant {want}");
        }
        // A default user_id without a keypair is ignored.
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_id = \"{USER}\"\nadmin_password_file = \"a\"\n{ecs}"
            ))
            .unwrap();
        assert!(matches!(
            plan.targets[0].action,
            Action::EcsReinstall {
                login: EcsLogin::Password(_),
                ..
            }
        ));
    }

    #[test]
    fn a_server_appears_once() {
        let dir = Dir::new("duplicate");
        let text = format!(
            "[defaults]\nuser_data = \"u\"\n[[targets]]\necs = \"{SERVER}\"\n[[targets]]\necs = \
             \"{SERVER2}\"\n[[targets]]\necs = \"{}\"\n",
            SERVER.to_uppercase()
        );
        let p = one_problem(&dir, &text);
        assert_eq!(
            p,
            format!(
                "targets[2] (line 7): ecs:{SERVER} is already targets[0] (line 3); a server may \
                 appear only once in a plan: remove one of them"
            )
        );
    }

    #[test]
    fn an_empty_plan_is_refused() {
        let dir = Dir::new("empty");
        for text in ["", "[defaults]\nprofile = \"prod\"\n", "targets = []\n"] {
            let p = one_problem(&dir, text);
            assert!(
                p.starts_with("has no targets; add one [[targets]] entry"),
                "{p}"
            );
        }
        let e = dir.plan("").unwrap_err().to_string();
        assert!(
            e.starts_with("plan ") && e.contains("plan.toml: has no targets"),
            "{e}"
        );
        let p = one_problem(&dir, "targets = 3\n");
        assert!(p.contains("must be an array of tables"), "{p}");
    }

    #[test]
    fn unreadable_and_broken_files() {
        let dir = Dir::new("unreadable");
        let e = load(&dir.0.join("missing.toml")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("missing.toml: does not exist; check the path"),
            "{e}"
        );
        let p = one_problem(&dir, "[[targets]\necs = 1\n");
        assert!(p.starts_with("is not valid TOML at line 1, column"), "{p}");
    }

    const SENTINEL: &str = "Sentinel-Pw-424242";

    #[test]
    fn password_contents_are_never_shown() {
        let dir = Dir::new("secrets");
        // An inline password, and a syntax error on the line of one, are refused without it.
        for text in [
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password = \"{SENTINEL}\"\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = {SENTINEL}\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = [\"{SENTINEL}\"]\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = \"{SENTINEL}\" x\n"),
        ] {
            let e = dir.plan(&text).unwrap_err();
            assert!(!e.to_string().contains(SENTINEL), "{e}");
            assert!(!format!("{e:?}").contains(SENTINEL), "{e:?}");
        }
        let e = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\npassword = \"{SENTINEL}\"\n"
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("passwords are never written in a plan"), "{e}");

        // Good and bad passwords in files: in no error, Debug, table or JSON.
        dir.write("good.pw", &format!("{SENTINEL}\n"));
        dir.write("weak.pw", "sentinelweakpassword");
        dir.write("root.pw", &format!("{SENTINEL}\ttab"));
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\n\
                 [[targets]]\necs = \"{SERVER}\"\nadmin_password_file = \"good.pw\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\nadmin_password_file = \"weak.pw\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_debian-bookworm\"\n\
                 root_password_file = \"root.pw\"\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let everything = format!(
            "{plan:?}{inputs:?}{problems:?}{rows:?}{}{}{:?}{:?}{:?}",
            render_table(&rows),
            rows_json(&rows),
            inputs.ecs_reinstall(&plan.targets[0]),
            inputs.ecs_reinstall(&plan.targets[1]),
            inputs.edis_reinstall(&plan.targets[2]),
        );
        assert!(!everything.contains(SENTINEL), "{everything}");
        assert!(!everything.contains("sentinelweak"), "{everything}");
        // The problems are there, by rule.
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0]
                .message
                .starts_with("admin_password_file weak.pw: adminpass: uses")
        );
        assert!(
            problems[1]
                .message
                .starts_with("root_password_file root.pw: password: contains a control character")
        );
        assert!(rows[0].ready(), "{:?}", rows[0]);
        assert_eq!(rows[1].problems, [problems[0].message.clone()]);
        assert_eq!(rows[2].problems, [problems[1].message.clone()]);
        // The good password is what goes out.
        let input = inputs.ecs_reinstall(&plan.targets[0]).unwrap();
        let Login::Password(pw) = input.spec().login() else {
            panic!()
        };
        assert_eq!(pw.secret().expose_secret(), SENTINEL);
    }

    #[test]
    fn user_data_verdicts_follow_the_cloud_init_version() {
        let dir = Dir::new("versions");
        // An unknown top-level key: allowed by 22.4, an error from 23.4 on.
        dir.write(
            "u.yaml",
            "#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nnot_a_module_key: 1\n",
        );
        dir.write("a.pw", "Sup3r-secret");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\nadmin_password_file = \"a.pw\"\n\
                 [[targets]]\necs = \"{SERVER}\"\ncloud_init = \"22.4\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\ncloud_init = \"26.2\"\n\
                 [[targets]]\necs = \"aaaaaaaa-2222-3333-4444-555555555555\"\nno_validate = true\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty(), "{problems:?}");
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "u.yaml: valid (22.4)");
        assert!(rows[0].ready(), "{:?}", rows[0]);
        assert_eq!(rows[1].user_data, "u.yaml: invalid (26.2), 1 error");
        assert_eq!(
            rows[1].problems,
            [
                "user_data u.yaml:3:1: error[schema]: (root): \"not_a_module_key\" is not a \
              cloud-config key (cloud-init 26.2)"
            ]
        );
        assert_eq!(
            rows[2].user_data,
            "u.yaml: invalid (26.2), 1 error, sent anyway (no_validate)"
        );
        assert!(rows[2].ready());
        assert_eq!(rows[0].login, "password a.pw");
        assert_eq!(rows[0].image, "(current)");
        assert_eq!(rows[0].profile, "(default)");
    }

    #[test]
    fn edis_user_data_needs_a_cloud_init_image() {
        let dir = Dir::new("edis-image");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("r.pw", "root-password");
        let plan = dir
            .plan(
                "[defaults]\nuser_data = \"u.yaml\"\nroot_password_file = \"r.pw\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"debian-bullseye\"\n\
                 [[targets]]\nedis = \"kvm_1_3\"\nimage = \"cloudinit_debian-bookworm\"\n\
                 [[targets]]\nedis = \"kvm_1_4\"\nimage = \"debian-bullseye\"\nuser_data = \"\"\n",
            )
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty(), "{problems:?}");
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "u.yaml: not used by debian-bullseye");
        assert_eq!(rows[0].problems.len(), 1);
        assert!(
            rows[0].problems[0].starts_with(
                "user_data: the image debian-bullseye does not run cloud-init (only cloudinit_* \
                 images do)"
            ),
            "{:?}",
            rows[0].problems
        );
        assert!(inputs.edis_reinstall(&plan.targets[0]).is_err());
        assert!(rows[1].ready(), "{:?}", rows[1]);
        assert_eq!(rows[1].login, "root password r.pw");
        assert_eq!(rows[1].user_data, "u.yaml: valid (26.2)");
        let input = inputs.edis_reinstall(&plan.targets[1]).unwrap();
        assert_eq!(input.image().as_str(), "cloudinit_debian-bookworm");
        assert_eq!(input.user_data().map(UserData::len), Some(32));
        assert!(rows[2].ready(), "{:?}", rows[2]);
        assert_eq!(rows[2].user_data, "-");
    }

    #[test]
    fn a_shared_file_is_read_once() {
        let dir = Dir::new("shared");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        let mut text =
            String::from("[defaults]\nuser_data = \"u.yaml\"\nadmin_password_file = \"a.pw\"\n");
        for i in 0..1000 {
            text.push_str(&format!(
                "[[targets]]\necs = \"00000000-0000-0000-0000-{i:012}\"\n"
            ));
        }
        let plan = dir.plan(&text).unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty());
        assert_eq!(inputs.user_data_files(), 1);
        assert_eq!(inputs.reads(), 2, "{inputs:?}");
        let validated = std::cell::Cell::new(0);
        let rows = check(&plan, &inputs, &|_, _| {
            validated.set(validated.get() + 1);
            Ok(())
        });
        assert_eq!(
            validated.get(),
            1,
            "credentials asked once per profile and provider"
        );
        assert!(rows.iter().all(CheckRow::ready));
        // What goes out shares the bytes.
        let a = inputs.ecs_reinstall(&plan.targets[0]).unwrap();
        let b = inputs.ecs_reinstall(&plan.targets[999]).unwrap();
        let (a, b) = (a.spec().user_data().unwrap(), b.spec().user_data().unwrap());
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    }

    #[test]
    fn file_problems_land_on_the_targets_that_use_them() {
        let dir = Dir::new("missing-files");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"nope.yaml\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n[[targets]]\necs = \"{SERVER2}\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_x\"\nuser_data = \"\"\n\
                 root_password_file = \"sub/nope.pw\"\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert_eq!(inputs.reads(), 2);
        let messages: Vec<_> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(messages[0].0, format!("ecs:{SERVER}"));
        assert_eq!(
            messages[0].1,
            "user_data nope.yaml: no such file; check the path"
        );
        assert_eq!(messages[1].0, format!("ecs:{SERVER2}"));
        assert_eq!(messages[2].0, "edis:kvm_1_2");
        assert!(
            messages[2]
                .1
                .starts_with("root_password_file sub/nope.pw: does not exist; check the path"),
            "{}",
            messages[2].1
        );
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "nope.yaml: unreadable");
        assert_eq!(rows[0].problems, [messages[0].1]);
        assert_eq!(rows[2].problems, [messages[2].1]);
        assert!(inputs.ecs_reinstall(&plan.targets[0]).is_err());
        assert!(
            inputs.ecs_change_os(&plan.targets[0]).is_err(),
            "not a change-os"
        );
    }

    #[test]
    fn a_lockout_is_a_problem_unless_allow_lockout() {
        let dir = Dir::new("lockout");
        dir.write("u.yaml", "#cloud-config\nhostname: web\n");
        dir.write("a.pw", "Reimage-Test-Pw1!");
        let text = |extra: &str| {
            format!(
                "[defaults]\nuser_data = \"u.yaml\"\n{extra}\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\necs = \"aaaaaaaa-2222-3333-4444-555555555555\"\n\
                 admin_password_file = \"a.pw\"\n"
            )
        };
        let ok = |_: Option<&str>, _: Provider| Ok(());
        let plan = dir.plan(&text("")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &ok);
        assert_eq!(rows[0].problems.len(), 1, "{:?}", rows[0].problems);
        let problem = &rows[0].problems[0];
        assert!(
            problem.starts_with("user_data u.yaml:2:1: this config leaves no way to log in: "),
            "{problem}"
        );
        assert!(problem.contains("allow_lockout = true"), "{problem}");
        // A password given to the provider is a way in.
        assert!(rows[1].ready(), "{:?}", rows[1].problems);

        let plan = dir.plan(&text("allow_lockout = true\n")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &ok);
        assert!(rows[0].ready(), "{:?}", rows[0].problems);
    }

    #[test]
    fn credentials_problems_name_the_profile() {
        let dir = Dir::new("credentials");
        dir.write(
            "u.yaml",
            "#cloud-config\nssh_pwauth: false\nssh_authorized_keys: [ssh-ed25519 AAAAC3Nza k]\n",
        );
        dir.write("r.pw", "root-password");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\nroot_password_file = \"r.pw\"\n\
                 profile = \"prod\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_x\"\n\
                 [[targets]]\nedis = \"kvm_1_3\"\nimage = \"cloudinit_x\"\nprofile = \"\"\n"
            ))
            .unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let asked = std::cell::RefCell::new(Vec::new());
        let rows = check(&plan, &inputs, &|profile, provider| {
            asked
                .borrow_mut()
                .push((profile.map(str::to_owned), provider));
            match provider {
                Provider::Ecs => Ok(()),
                Provider::Edis => Err("no EDIS credentials (profile x): set EDIS_EMAIL".to_owned()),
            }
        });
        assert_eq!(asked.borrow().len(), 3);
        assert!(rows[0].ready());
        assert_eq!(
            rows[1].problems,
            [
                "EDIS credentials (profile \"prod\"): no EDIS credentials (profile x): set EDIS_EMAIL"
            ]
        );
        assert!(rows[2].problems[0].starts_with("EDIS credentials (the default profile): "));
    }

    #[test]
    fn the_table_and_the_json() {
        let dir = Dir::new("table");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\noperation = \"change-os\"\nimage = \"{IMAGE}\"\n\
                 admin_password_file = \"a.pw\"\nprofile = \"prod\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"debian-bullseye\"\n\
                 root_password_file = \"missing.pw\"\nuser_data = \"u.yaml\"\n"
            ))
            .unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let table = render_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[0].starts_with("TARGET"), "{table}");
        // Aligned: every column starts where its header does.
        let column = |header: &str| lines[0].find(header).unwrap();
        for header in [
            "OPERATION",
            "IMAGE",
            "PROFILE",
            "LOGIN",
            "USER DATA",
            "STATUS",
        ] {
            let at = column(header);
            for line in [lines[1], lines[2]] {
                assert_eq!(&line[at - 2..at], "  ", "{header} in {line:?}\n{table}");
                assert_ne!(&line[at..=at], " ", "{header} in {line:?}\n{table}");
            }
        }
        assert!(
            lines[1].contains(&format!("ecs:{SERVER}  change-os  {IMAGE}  prod")),
            "{table}"
        );
        assert!(lines[1].ends_with("ready"), "{table}");
        assert!(lines[2].ends_with("2 problems"), "{table}");
        assert!(
            lines[3].starts_with("    - root_password_file missing.pw: "),
            "{table}"
        );
        assert!(
            lines[4].starts_with("    - user_data: the image debian-bullseye"),
            "{table}"
        );
        assert_eq!(lines[5], "2 targets: 1 ready, 1 with problems");
        assert!(table.ends_with("problems\n"), "{table}");
        println!("{table}");

        let json = rows_json(&rows);
        assert_eq!(
            json["summary"],
            json!({"targets": 2, "ready": 1, "with_problems": 1})
        );
        assert_eq!(json["targets"][0]["key"], format!("ecs:{SERVER}"));
        assert_eq!(json["targets"][0]["provider"], "ecs");
        assert_eq!(json["targets"][0]["operation"], "change-os");
        assert_eq!(json["targets"][0]["login"], "password a.pw");
        assert_eq!(json["targets"][0]["ready"], true);
        assert_eq!(json["targets"][1]["provider"], "edis");
        assert_eq!(
            json["targets"][1]["problems"].as_array().map(Vec::len),
            Some(2)
        );
        // What goes out for the change of OS.
        let input = inputs.ecs_change_os(&plan.targets[0]).unwrap();
        assert_eq!(input.image_id().as_str(), IMAGE);
        assert!(inputs.ecs_reinstall(&plan.targets[0]).is_err());
    }

    #[test]
    fn ten_thousand_targets_load_quickly() {
        let dir = Dir::new("ten-thousand");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        dir.write("r.pw", "root-password");
        let mut text = String::from(
            "[defaults]\nprofile = \"prod\"\nuser_data = \"u.yaml\"\ncloud_init = \"22.4\"\n\
             admin_password_file = \"a.pw\"\nroot_password_file = \"r.pw\"\n\
             mode = \"with-stop-server\"\n\n",
        );
        for i in 0..10_000 {
            if i % 2 == 0 {
                text.push_str(&format!(
                    "[[targets]]\necs = \"00000000-0000-0000-0000-{i:012}\"\n\
                     operation = \"change-os\"\nimage = \"{IMAGE}\"\n\n"
                ));
            } else {
                text.push_str(&format!(
                    "[[targets]]\nedis = \"kvm_{i}_1\"\nimage = \"cloudinit_debian-bookworm\"\n\n"
                ));
            }
        }
        let path = dir.write("plan.toml", &text);
        let started = Instant::now();
        let plan = load(&path).unwrap();
        let loaded = started.elapsed();
        let (inputs, problems) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let checked = started.elapsed();
        println!(
            "10,000 targets ({} KiB): loaded in {loaded:?}, read and checked in {:?}; Target is \
             {} bytes",
            text.len() / 1024,
            checked - loaded,
            std::mem::size_of::<Target>()
        );
        assert_eq!(plan.targets.len(), 10_000);
        assert!(problems.is_empty());
        assert_eq!(inputs.reads(), 3);
        assert!(rows.iter().all(CheckRow::ready));
        assert!(loaded.as_secs() < 10, "{loaded:?}");
    }
}
