//! Where `reimage` finds its credentials and endpoints: command-line flags first, then
//! environment variables, then a profile in a TOML config file.
//!
//! Everything here is pure apart from reading the config file and secret files: the environment
//! comes in as an [`Env`], the home directory and stdin are passed in, and nothing is printed.
//! Warnings (such as a config file with secrets that others can read) are returned in
//! [`Resolved::warnings`] for the caller to show.
//!
//! The config file is `$XDG_CONFIG_HOME/reimage/config.toml`, else
//! `$HOME/.config/reimage/config.toml`; `REIMAGE_CONFIG` or `--config` name another one. A missing
//! default file is an empty config; a missing file that was named is an error.
//!
//! ```toml
//! default_profile = "prod"
//!
//! [profiles.prod]
//! cloud = "otc"
//! region = "eu-de"
//! domain = "OTC-EU-DE-00000000001000000001"
//! username = "alice"
//! password_file = "~/.config/reimage/prod.password"
//! project_id = "0123456789abcdef0123456789abcdef"
//! ```
//!
//! **No secret value ever reaches an error message, a warning or `Debug` output**: secrets are
//! [`SecretString`]s from the moment they are read, and errors about them name only where they
//! came from.

// The CLI wires these in piece by piece.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// The EDIS session service, without the auth path.
pub(crate) const DEFAULT_EDIS_AUTH_BASE: &str = "https://session.edisglobal.com";

/// The path of the EDIS auth call, which [`EdisSettings::auth_base`] leaves off.
pub(crate) const EDIS_AUTH_PATH: &str = "/kvm/v2/get/auth";

/// The largest secret file (or secret on stdin) read: 64 KiB.
pub(crate) const MAX_SECRET_SIZE: u64 = 64 * 1024;

/// The largest config file read: 1 MiB. Real ones are a few hundred bytes.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// The file under the config directory.
const CONFIG_RELATIVE: &str = "reimage/config.toml";

/// The environment variables `reimage` reads. [`Env::from_process`] reads these and no others.
pub(crate) const ENV_VARS: &[&str] = &[
    "XDG_CONFIG_HOME",
    "REIMAGE_CONFIG",
    "REIMAGE_PROFILE",
    "REIMAGE_CLOUD",
    "REIMAGE_ECS_ENDPOINT",
    "REIMAGE_CA_FILE",
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_ID",
    "OS_PROJECT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_REGION_NAME",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "EDIS_EMAIL",
    "EDIS_PASSWORD",
    "EDIS_AUTH_URL",
];

/// The keys of a `[profiles.NAME]` table, in the order the file format lists them.
const PROFILE_KEYS: &[&str] = &[
    "cloud",
    "region",
    "endpoint",
    "iam_endpoint",
    "project_id",
    "project_name",
    "domain",
    "username",
    "password",
    "password_file",
    "access_key",
    "secret_key",
    "secret_key_file",
    "security_token",
    "edis_email",
    "edis_password",
    "edis_password_file",
    "edis_auth_url",
    "ca_file",
];

/// The keys at the top of the config file.
const TOP_KEYS: &[&str] = &["default_profile", "profiles"];

/// Something the person got wrong or has not set up. `Display` is one line: what (a field, file,
/// flag or variable), the problem, and the fix. It never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The config file is missing, unreadable, not TOML, or holds a key or profile that is wrong.
    #[error("config file {file}: {problem}; {fix}")]
    File {
        /// The file, with `~` for the home directory.
        file: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A value (a region, cloud or URL) is not acceptable. Never used for secrets.
    #[error("{field} {value:?}: {problem}; {fix}")]
    Invalid {
        /// Where the value came from: a flag, a variable or a profile key.
        field: String,
        /// The value as given.
        value: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A secret file (or stdin) could not be used. Names the path, never the content.
    #[error("secret file {path}: {problem}; {fix}")]
    SecretFile {
        /// The file as given, or `-` for stdin.
        path: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// An environment variable is not UTF-8.
    #[error("environment variable {name}: {problem}; {fix}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// Flags that cannot be used together.
    #[error("{problem}; {fix}")]
    Usage {
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// Something needed (an endpoint, a project, credentials) is set nowhere.
    #[error("no {what} ({context}): {fix}")]
    Missing {
        /// What is missing.
        what: String,
        /// Which config file and profile were looked at.
        context: String,
        /// The flags, variables and profile keys that would provide it.
        fix: String,
    },
}

/// The environment variables `reimage` reads, as a plain map so tests can make one up.
///
/// An empty variable counts as unset (`OS_PASSWORD=` means no password). `Debug` shows the
/// names only, never the values: some of them are secrets.
#[derive(Clone, Default)]
pub(crate) struct Env {
    vars: BTreeMap<String, String>,
    not_unicode: Vec<String>,
}

impl Env {
    /// Reads the variables in [`ENV_VARS`] from the process, and no others.
    pub(crate) fn from_process() -> Self {
        let mut env = Self::default();
        for &name in ENV_VARS {
            if let Some(value) = std::env::var_os(name) {
                match value.into_string() {
                    Ok(value) => {
                        env.vars.insert(name.to_owned(), value);
                    }
                    Err(_) => env.not_unicode.push(name.to_owned()),
                }
            }
        }
        env
    }

    /// An environment made of these pairs (for tests, or a CLI that gathers them itself).
    pub(crate) fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            not_unicode: Vec::new(),
        }
    }

    /// The value of `name`, `None` when it is unset or empty, an error when it is not UTF-8.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        if self.not_unicode.iter().any(|n| n == name) {
            return Err(ConfigError::Env {
                name: name.to_owned(),
                problem: "is not valid UTF-8".to_owned(),
                fix: "set it to UTF-8 text or unset it".to_owned(),
            });
        }
        Ok(self
            .vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty()))
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("set", &self.vars.keys().collect::<Vec<_>>())
            .field("not_unicode", &self.not_unicode)
            .finish()
    }
}

/// The command-line values that take part in resolution, filled by the CLI from clap.
///
/// Error texts call them by these flag names: `--profile`, `--config`, `--cloud`, `--region`,
/// `--endpoint`, `--iam-endpoint`, `--project-id`, `--ca-file`, `edis --auth-url`,
/// `--password-file`, `--secret-key-file`, `edis --password-file`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flags {
    /// `--profile`: the profile to use, over `REIMAGE_PROFILE` and `default_profile`.
    pub(crate) profile: Option<String>,
    /// `--config`: the config file, over `REIMAGE_CONFIG` and the default path.
    pub(crate) config: Option<PathBuf>,
    /// `--cloud`: `huawei` or `otc`.
    pub(crate) cloud: Option<String>,
    /// `--region`: such as `eu-de`.
    pub(crate) region: Option<String>,
    /// `--endpoint`: the ECS base URL.
    pub(crate) endpoint: Option<String>,
    /// `--iam-endpoint`: the IAM URL, with or without `/v3`.
    pub(crate) iam_endpoint: Option<String>,
    /// `--project-id`.
    pub(crate) project_id: Option<String>,
    /// `--ca-file`: a PEM file of extra CA certificates.
    pub(crate) ca_file: Option<PathBuf>,
    /// `edis --auth-url`: the EDIS auth URL or its base.
    pub(crate) edis_auth_url: Option<String>,
    /// `--password-file`: the IAM password; `-` reads stdin.
    pub(crate) password_file: Option<PathBuf>,
    /// `--secret-key-file`: the AK/SK secret key; `-` reads stdin.
    pub(crate) secret_key_file: Option<PathBuf>,
    /// `edis --password-file`: the EDIS password; `-` reads stdin.
    pub(crate) edis_password_file: Option<PathBuf>,
}

/// Which cloud an ECS region belongs to; it decides the public endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Cloud {
    /// Huawei Cloud: `*.{region}.myhuaweicloud.com`. The default.
    #[default]
    Huawei,
    /// Open Telekom Cloud: `*.{region}.otc.t-systems.com`.
    Otc,
}

impl Cloud {
    /// Reads `huawei` or `otc`; `field` names where the value came from, for the error.
    pub(crate) fn parse(field: &str, value: &str) -> Result<Self, ConfigError> {
        match value {
            "huawei" => Ok(Self::Huawei),
            "otc" => Ok(Self::Otc),
            _ => Err(ConfigError::Invalid {
                field: field.to_owned(),
                value: value.to_owned(),
                problem: "is not a cloud reimage knows".to_owned(),
                fix: "use huawei or otc".to_owned(),
            }),
        }
    }

    /// The name used in flags and the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Huawei => "huawei",
            Self::Otc => "otc",
        }
    }

    /// The public ECS endpoint of a region, e.g. `https://ecs.eu-de.otc.t-systems.com`.
    pub(crate) fn ecs_endpoint(self, region: &str) -> String {
        format!("https://ecs.{region}.{}", self.domain())
    }

    /// The public IAM endpoint of a region as a base, without `/v3`, e.g.
    /// `https://iam.eu-de.otc.t-systems.com` (IAM's documented URL is that plus `/v3`).
    pub(crate) fn iam_endpoint(self, region: &str) -> String {
        format!("https://iam.{region}.{}", self.domain())
    }

    fn domain(self) -> &'static str {
        match self {
            Self::Huawei => "myhuaweicloud.com",
            Self::Otc => "otc.t-systems.com",
        }
    }
}

/// Where a resolved value came from, for messages such as "project id from OS_PROJECT_ID".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A command-line flag, e.g. `--region`.
    Flag(&'static str),
    /// An environment variable, e.g. `OS_REGION_NAME`.
    Env(&'static str),
    /// A key of the selected profile.
    Profile {
        /// The key, e.g. `region`.
        key: &'static str,
        /// The profile's name.
        profile: String,
        /// The config file, with `~` for the home directory.
        file: String,
    },
    /// Built from the cloud and region.
    Region,
    /// The IAM endpoint fell back to the ECS endpoint (one host serving both, such as the
    /// emulator).
    EcsEndpoint,
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(name) | Self::Env(name) => f.write_str(name),
            Self::Profile { key, profile, file } => {
                write!(f, "key {key} of profile {profile:?} in {file}")
            }
            Self::Region => f.write_str("the region"),
            Self::EcsEndpoint => f.write_str("the ECS endpoint"),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// Which config file and profile resolution looked at, for error hints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Source {
    /// The config file looked for, with `~` for the home directory; `None` when there was no
    /// home directory to look in.
    pub(crate) file: Option<String>,
    /// Whether that file exists and was read.
    pub(crate) file_found: bool,
    /// The profile used, if any.
    pub(crate) profile: Option<String>,
}

impl Source {
    /// One phrase for messages: `profile "prod" in ~/.config/reimage/config.toml`, `no config file
    /// at ~/.config/reimage/config.toml`, ….
    pub(crate) fn describe(&self) -> String {
        match (&self.file, self.file_found, &self.profile) {
            (None, _, _) => "no config file: no home directory".to_owned(),
            (Some(file), false, _) => format!("no config file at {file}"),
            (Some(file), true, Some(profile)) => format!("profile {profile:?} in {file}"),
            (Some(file), true, None) => format!("{file}, no profile selected"),
        }
    }
}

/// What the ECS commands need: endpoints, project, and credentials for AK/SK or an IAM password.
///
/// Ids stay text here; the CLI checks them with `reimage_core`'s types where it uses them.
#[derive(Debug, Clone, Default)]
pub(crate) struct EcsSettings {
    /// The cloud (only matters for building endpoints from a region).
    pub(crate) cloud: Cloud,
    /// The region, checked: lowercase letters, digits and hyphens, 2 to 32 characters.
    pub(crate) region: Option<String>,
    /// The ECS base URL, without a trailing slash.
    pub(crate) endpoint: Option<String>,
    /// The IAM base URL **without** `/v3` and without a trailing slash: the wire layer appends
    /// `/v3/auth/tokens`. `OS_AUTH_URL=https://iam.eu-de.otc.t-systems.com/v3` and
    /// `https://iam.eu-de.otc.t-systems.com` both give `https://iam.eu-de.otc.t-systems.com`.
    pub(crate) iam_endpoint: Option<String>,
    /// The project id.
    pub(crate) project_id: Option<String>,
    /// The project name (IAM token scope when there is no id).
    pub(crate) project_name: Option<String>,
    /// The IAM domain (account) name.
    pub(crate) domain: Option<String>,
    /// The IAM user name.
    pub(crate) username: Option<String>,
    /// The IAM user's password.
    pub(crate) password: Option<SecretString>,
    /// The access key id.
    pub(crate) ak: Option<String>,
    /// The secret access key.
    pub(crate) sk: Option<SecretString>,
    /// The security token of a temporary AK/SK.
    pub(crate) security_token: Option<SecretString>,
    /// Extra CA certificates (PEM).
    pub(crate) ca_file: Option<PathBuf>,
}

/// What the EDIS commands need.
#[derive(Debug, Clone)]
pub(crate) struct EdisSettings {
    /// The auth service **without** [`EDIS_AUTH_PATH`] and without a trailing slash:
    /// `scheme://host[:port][/prefix]`. `https://session.edisglobal.com/kvm/v2/get/auth` and
    /// `https://session.edisglobal.com` both give `https://session.edisglobal.com`.
    pub(crate) auth_base: String,
    /// The account e-mail.
    pub(crate) email: Option<String>,
    /// The account password.
    pub(crate) password: Option<SecretString>,
    /// Extra CA certificates (PEM).
    pub(crate) ca_file: Option<PathBuf>,
}

impl Default for EdisSettings {
    fn default() -> Self {
        Self {
            auth_base: DEFAULT_EDIS_AUTH_BASE.to_owned(),
            email: None,
            password: None,
            ca_file: None,
        }
    }
}

/// The credentials the ECS commands can use, borrowed from [`EcsSettings`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum EcsAuth<'a> {
    /// Sign each request with an access key (and a security token for a temporary one).
    AkSk {
        /// The access key id.
        ak: &'a str,
        /// The secret access key.
        sk: &'a SecretString,
        /// The security token, for a temporary AK/SK.
        security_token: Option<&'a SecretString>,
    },
    /// Get an IAM token with a user name and password.
    Password {
        /// The IAM user name.
        username: &'a str,
        /// The password.
        password: &'a SecretString,
        /// The IAM domain (account) name.
        domain: &'a str,
    },
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// ECS and IAM.
    pub(crate) ecs: EcsSettings,
    /// EDIS.
    pub(crate) edis: EdisSettings,
    /// Lines to show the person on stderr, each starting with `warning: `.
    pub(crate) warnings: Vec<String>,
    /// The config file and profile looked at.
    pub(crate) source: Source,
    /// Where each set value came from, keyed by the field name in [`EcsSettings`] (`endpoint`,
    /// `project_id`, …) or, for EDIS, `edis_` and its name (`edis_auth_base`, `edis_email`, …).
    pub(crate) origins: BTreeMap<&'static str, Origin>,
}

/// How to provide each piece of the ECS credentials, for [`Resolved::ecs_auth`]'s error.
const HOW_AK: &str = "the access key (HUAWEICLOUD_SDK_AK, or profile key access_key)";
const HOW_SK: &str = "the secret key (HUAWEICLOUD_SDK_SK, --secret-key-file, or profile key \
                      secret_key or secret_key_file)";
const HOW_USERNAME: &str = "the user name (OS_USERNAME, or profile key username)";
const HOW_PASSWORD: &str = "the password (OS_PASSWORD, --password-file, or profile key password \
                            or password_file)";
const HOW_DOMAIN: &str = "the domain (OS_USER_DOMAIN_NAME, OS_DOMAIN_NAME, \
                          OS_PROJECT_DOMAIN_NAME, or profile key domain)";

impl Resolved {
    /// The ECS credentials to use: AK/SK when both the access key and secret key are set, else
    /// an IAM password when the user name, password and domain are set. The error lists what is
    /// missing for each, and the flags, variables and profile keys that provide it.
    ///
    /// One credential comes whole from one place: an access key from the environment and a secret
    /// key from a profile (or a user name from one and a password from the other) is an error
    /// naming both, never a mix. A flag (`--secret-key-file`, `--password-file`) completes the
    /// credential of any place.
    pub(crate) fn ecs_auth(&self) -> Result<EcsAuth<'_>, ConfigError> {
        let e = &self.ecs;
        if let (Some(ak), Some(sk)) = (e.ak.as_deref(), e.sk.as_ref()) {
            self.one_source(
                "ECS access key credential",
                &[
                    ("ak", "the access key"),
                    ("sk", "the secret key"),
                    ("security_token", "the security token"),
                ],
            )?;
            return Ok(EcsAuth::AkSk {
                ak,
                sk,
                security_token: e.security_token.as_ref(),
            });
        }
        if let (Some(username), Some(password), Some(domain)) = (
            e.username.as_deref(),
            e.password.as_ref(),
            e.domain.as_deref(),
        ) {
            self.one_source(
                "IAM password credential",
                &[
                    ("username", "the user name"),
                    ("password", "the password"),
                    ("domain", "the domain"),
                ],
            )?;
            return Ok(EcsAuth::Password {
                username,
                password,
                domain,
            });
        }
        let mut aksk = Vec::new();
        if e.ak.is_none() {
            aksk.push(HOW_AK);
        }
        if e.sk.is_none() {
            aksk.push(HOW_SK);
        }
        let mut password = Vec::new();
        if e.username.is_none() {
            password.push(HOW_USERNAME);
        }
        if e.password.is_none() {
            password.push(HOW_PASSWORD);
        }
        if e.domain.is_none() {
            password.push(HOW_DOMAIN);
        }
        Err(ConfigError::Missing {
            what: "ECS credentials".to_owned(),
            context: self.source.describe(),
            fix: format!(
                "for AK/SK set {}; or for an IAM password set {}",
                and_list(&aksk),
                and_list(&password)
            ),
        })
    }

    /// The ECS base URL, or an error saying how to give one.
    pub(crate) fn ecs_endpoint(&self) -> Result<&str, ConfigError> {
        self.ecs.endpoint.as_deref().ok_or_else(|| {
            self.missing(
                "ECS endpoint",
                "give --endpoint or REIMAGE_ECS_ENDPOINT or profile key endpoint, or a region \
                 (--region, OS_REGION_NAME, or profile key region)",
            )
        })
    }

    /// The IAM base URL (without `/v3`), or an error saying how to give one.
    pub(crate) fn iam_endpoint(&self) -> Result<&str, ConfigError> {
        self.ecs.iam_endpoint.as_deref().ok_or_else(|| {
            self.missing(
                "IAM endpoint",
                "give --iam-endpoint or OS_AUTH_URL or profile key iam_endpoint, or a region \
                 (--region, OS_REGION_NAME, or profile key region)",
            )
        })
    }

    /// The project id, or an error saying how to give one.
    pub(crate) fn project_id(&self) -> Result<&str, ConfigError> {
        self.ecs.project_id.as_deref().ok_or_else(|| {
            self.missing(
                "project id",
                "give --project-id, OS_PROJECT_ID, HUAWEICLOUD_SDK_PROJECT_ID, or profile key \
                 project_id",
            )
        })
    }

    /// The EDIS e-mail and password, or an error saying how to give what is missing.
    pub(crate) fn edis_credentials(&self) -> Result<(&str, &SecretString), ConfigError> {
        match (self.edis.email.as_deref(), self.edis.password.as_ref()) {
            (Some(email), Some(password)) => {
                self.one_source(
                    "EDIS credential",
                    &[
                        ("edis_email", "the e-mail"),
                        ("edis_password", "the password"),
                    ],
                )?;
                Ok((email, password))
            }
            (email, password) => {
                let mut how = Vec::new();
                if email.is_none() {
                    how.push("the e-mail (EDIS_EMAIL, or profile key edis_email)");
                }
                if password.is_none() {
                    how.push(
                        "the password (EDIS_PASSWORD, edis --password-file, or profile key \
                         edis_password or edis_password_file)",
                    );
                }
                Err(self.missing("EDIS credentials", &format!("set {}", and_list(&how))))
            }
        }
    }

    /// Refuses a credential whose parts (`(origin key, name)`) come from both the environment and
    /// a profile. Parts from flags go with either.
    fn one_source(&self, what: &str, parts: &[(&str, &str)]) -> Result<(), ConfigError> {
        let from_env = parts
            .iter()
            .find_map(|(key, name)| match self.origins.get(key) {
                Some(origin @ Origin::Env(_)) => Some((*name, origin)),
                _ => None,
            });
        let from_profile = parts
            .iter()
            .find_map(|(key, name)| match self.origins.get(key) {
                Some(origin @ Origin::Profile { .. }) => Some((*name, origin)),
                _ => None,
            });
        let (Some((env_part, env_origin)), Some((profile_part, profile_origin))) =
            (from_env, from_profile)
        else {
            return Ok(());
        };
        let vars: Vec<String> = parts
            .iter()
            .filter_map(|(key, _)| match self.origins.get(key) {
                Some(Origin::Env(var)) => Some((*var).to_owned()),
                _ => None,
            })
            .collect();
        let profile = self.source.profile.as_deref().unwrap_or("?");
        Err(ConfigError::Usage {
            problem: format!(
                "the {what} would be put together from two places: {env_part} from \
                 {env_origin}, {profile_part} from {profile_origin}; reimage never mixes them, \
                 since they may belong to different accounts"
            ),
            fix: format!(
                "give the whole credential in the environment, or unset {} to use profile \
                 {profile:?}'s, or name the profile with --profile {profile}",
                and_list(&vars.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        })
    }

    fn missing(&self, what: &str, fix: &str) -> ConfigError {
        ConfigError::Missing {
            what: what.to_owned(),
            context: self.source.describe(),
            fix: fix.to_owned(),
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Resolves every setting from `flags`, then `env`, then the selected profile of the config file.
///
/// `home` is the home directory (for the default config path and `~` in messages and in the
/// profile's `*_file` paths). `stdin` is read only when a `*_file` flag is `-`, and then by at
/// most one of them.
///
/// Priority, field by field:
/// - config file: `--config` > `REIMAGE_CONFIG` > `$XDG_CONFIG_HOME/reimage/config.toml` >
///   `~/.config/reimage/config.toml`;
/// - profile: `--profile` > `REIMAGE_PROFILE` > `default_profile` > `default` if it exists >
///   none;
/// - cloud: `--cloud` > `REIMAGE_CLOUD` > `cloud` > huawei;
/// - region: `--region` > `OS_REGION_NAME` > `region`;
/// - ECS endpoint: `--endpoint` > `REIMAGE_ECS_ENDPOINT` > `endpoint` > built from the region;
/// - IAM endpoint: `--iam-endpoint` > `OS_AUTH_URL` > `iam_endpoint` > built from the region >
///   the ECS endpoint given above; always returned without `/v3`;
/// - project id: `--project-id` > `OS_PROJECT_ID` > `HUAWEICLOUD_SDK_PROJECT_ID` > `project_id`;
/// - project name: `OS_PROJECT_NAME` > `project_name`;
/// - domain: `OS_USER_DOMAIN_NAME` > `OS_DOMAIN_NAME` > `OS_PROJECT_DOMAIN_NAME` > `domain`;
/// - user name: `OS_USERNAME` > `username`;
/// - password: `--password-file` > `OS_PASSWORD` > `password` or `password_file`;
/// - access key: `HUAWEICLOUD_SDK_AK` > `access_key`;
/// - secret key: `--secret-key-file` > `HUAWEICLOUD_SDK_SK` > `secret_key` or `secret_key_file`;
/// - security token: `HUAWEICLOUD_SDK_SECURITY_TOKEN` > `security_token`;
/// - EDIS auth: `edis --auth-url` > `EDIS_AUTH_URL` > `edis_auth_url` > the EDIS service;
/// - EDIS e-mail: `EDIS_EMAIL` > `edis_email`;
/// - EDIS password: `edis --password-file` > `EDIS_PASSWORD` > `edis_password` or
///   `edis_password_file`;
/// - CA file: `--ca-file` > `REIMAGE_CA_FILE` > `ca_file`.
///
/// A profile's secret file is read only when nothing above it gives that secret. In a profile,
/// `*_file` and `ca_file` paths may start with `~/`, and relative ones are relative to the
/// config file's directory.
pub(crate) fn resolve(
    flags: &Flags,
    env: &Env,
    home: Option<&Path>,
    stdin: &mut dyn Read,
) -> Result<Resolved, ConfigError> {
    check_stdin(flags)?;
    let mut warnings = Vec::new();
    let loaded = load_config(flags, env, home, &mut warnings)?;
    let selected = select_profile(flags, env, &loaded)?;
    let source = Source {
        file: loaded.shown.clone(),
        file_found: loaded.config.is_some(),
        profile: selected.as_ref().map(|p| p.name.to_owned()),
    };
    let mut r = Resolver {
        env,
        explicit: flags.profile.as_deref(),
        ignored: Vec::new(),
        profile: selected,
        home,
        origins: BTreeMap::new(),
        stdin,
    };

    let cloud = match r.pick(
        flag("--cloud", flags.cloud.as_deref()),
        &["REIMAGE_CLOUD"],
        ("cloud", |p| p.cloud.as_deref()),
    )? {
        Some((value, origin)) => {
            let cloud = Cloud::parse(&origin.to_string(), &value)?;
            r.origins.insert("cloud", origin);
            cloud
        }
        None => {
            r.origins.insert("cloud", Origin::Default);
            Cloud::default()
        }
    };

    let region = match r.pick(
        flag("--region", flags.region.as_deref()),
        &["OS_REGION_NAME"],
        ("region", |p| p.region.as_deref()),
    )? {
        Some((value, origin)) => {
            check_region(&origin.to_string(), &value)?;
            r.origins.insert("region", origin);
            Some(value)
        }
        None => None,
    };

    let given_endpoint = match r.pick(
        flag("--endpoint", flags.endpoint.as_deref()),
        &["REIMAGE_ECS_ENDPOINT"],
        ("endpoint", |p| p.endpoint.as_deref()),
    )? {
        Some((value, origin)) => Some((ecs_base(&origin.to_string(), &value)?, origin)),
        None => None,
    };
    let endpoint = match (&given_endpoint, &region) {
        (Some((url, origin)), _) => Some((url.clone(), origin.clone())),
        (None, Some(region)) => Some((cloud.ecs_endpoint(region), Origin::Region)),
        (None, None) => None,
    };
    let endpoint = endpoint.map(|(url, origin)| {
        r.origins.insert("endpoint", origin);
        url
    });

    let iam_endpoint = match r.pick(
        flag("--iam-endpoint", flags.iam_endpoint.as_deref()),
        &["OS_AUTH_URL"],
        ("iam_endpoint", |p| p.iam_endpoint.as_deref()),
    )? {
        Some((value, origin)) => Some((iam_base(&origin.to_string(), &value)?, origin)),
        None => match (&region, given_endpoint) {
            (Some(region), _) => Some((cloud.iam_endpoint(region), Origin::Region)),
            (None, Some((url, _))) => Some((url, Origin::EcsEndpoint)),
            (None, None) => None,
        },
    };
    let iam_endpoint = iam_endpoint.map(|(url, origin)| {
        r.origins.insert("iam_endpoint", origin);
        url
    });

    let project_id = r.text(
        "project_id",
        flag("--project-id", flags.project_id.as_deref()),
        &["OS_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID"],
        ("project_id", |p| p.project_id.as_deref()),
    )?;
    let project_name = r.text(
        "project_name",
        None,
        &["OS_PROJECT_NAME"],
        ("project_name", |p| p.project_name.as_deref()),
    )?;
    let domain = r.text(
        "domain",
        None,
        &[
            "OS_USER_DOMAIN_NAME",
            "OS_DOMAIN_NAME",
            "OS_PROJECT_DOMAIN_NAME",
        ],
        ("domain", |p| p.domain.as_deref()),
    )?;
    let username = r.text(
        "username",
        None,
        &["OS_USERNAME"],
        ("username", |p| p.username.as_deref()),
    )?;
    let password = r.secret(
        "password",
        flags
            .password_file
            .as_deref()
            .map(|p| ("--password-file", p)),
        Some("OS_PASSWORD"),
        ("password", |p| p.password.as_ref()),
        ("password_file", |p| p.password_file.as_deref()),
    )?;
    let ak = r.text(
        "ak",
        None,
        &["HUAWEICLOUD_SDK_AK"],
        ("access_key", |p| p.access_key.as_deref()),
    )?;
    let sk = r.secret(
        "sk",
        flags
            .secret_key_file
            .as_deref()
            .map(|p| ("--secret-key-file", p)),
        Some("HUAWEICLOUD_SDK_SK"),
        ("secret_key", |p| p.secret_key.as_ref()),
        ("secret_key_file", |p| p.secret_key_file.as_deref()),
    )?;
    let security_token = r.secret(
        "security_token",
        None,
        Some("HUAWEICLOUD_SDK_SECURITY_TOKEN"),
        ("security_token", |p| p.security_token.as_ref()),
        ("security_token", |_| None),
    )?;

    let ca_file = r.path(
        "ca_file",
        flags.ca_file.as_deref().map(|p| ("--ca-file", p)),
        "REIMAGE_CA_FILE",
        ("ca_file", |p| p.ca_file.as_deref()),
    )?;

    let auth_base = match r.pick(
        flag("edis --auth-url", flags.edis_auth_url.as_deref()),
        &["EDIS_AUTH_URL"],
        ("edis_auth_url", |p| p.edis_auth_url.as_deref()),
    )? {
        Some((value, origin)) => {
            let base = edis_auth_base(&origin.to_string(), &value)?;
            r.origins.insert("edis_auth_base", origin);
            base
        }
        None => {
            r.origins.insert("edis_auth_base", Origin::Default);
            DEFAULT_EDIS_AUTH_BASE.to_owned()
        }
    };
    let edis_email = r.text(
        "edis_email",
        None,
        &["EDIS_EMAIL"],
        ("edis_email", |p| p.edis_email.as_deref()),
    )?;
    let edis_password = r.secret(
        "edis_password",
        flags
            .edis_password_file
            .as_deref()
            .map(|p| ("edis --password-file", p)),
        Some("EDIS_PASSWORD"),
        ("edis_password", |p| p.edis_password.as_ref()),
        ("edis_password_file", |p| p.edis_password_file.as_deref()),
    )?;
    if let Some(origin) = r.origins.get("ca_file").cloned() {
        r.origins.insert("edis_ca_file", origin);
    }
    if let (Some(name), false) = (r.explicit, r.ignored.is_empty()) {
        warnings.push(format!(
            "warning: --profile {name} was named, so the profile is used and these environment \
             variables are not: {}",
            r.ignored.join(", ")
        ));
    }

    Ok(Resolved {
        ecs: EcsSettings {
            cloud,
            region,
            endpoint,
            iam_endpoint,
            project_id,
            project_name,
            domain,
            username,
            password,
            ak,
            sk,
            security_token,
            ca_file: ca_file.clone(),
        },
        edis: EdisSettings {
            auth_base,
            email: edis_email,
            password: edis_password,
            ca_file,
        },
        warnings,
        source,
        origins: r.origins,
    })
}

/// Refuses more than one `*_file` flag of `-`: stdin holds one secret.
fn check_stdin(flags: &Flags) -> Result<(), ConfigError> {
    let stdin: Vec<&str> = [
        ("--password-file", &flags.password_file),
        ("--secret-key-file", &flags.secret_key_file),
        ("edis --password-file", &flags.edis_password_file),
    ]
    .into_iter()
    .filter(|(_, path)| path.as_deref() == Some(Path::new("-")))
    .map(|(name, _)| name)
    .collect();
    if stdin.len() > 1 {
        return Err(ConfigError::Usage {
            problem: format!(
                "{} {} read stdin (-)",
                and_list(&stdin),
                if stdin.len() == 2 { "both" } else { "all" }
            ),
            fix: "give at most one of them as -, and files for the others".to_owned(),
        });
    }
    Ok(())
}

/// A flag's name and value, when it was given.
fn flag<'a>(name: &'static str, value: Option<&'a str>) -> Option<(&'static str, &'a str)> {
    value.map(|v| (name, v))
}

/// Reads a secret from a file: at most [`MAX_SECRET_SIZE`] bytes of UTF-8, with one trailing
/// `\n` or `\r\n` removed (what `echo` and editors add) and nothing else trimmed. An empty secret
/// is refused. Errors name the path, never the content.
pub(crate) fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    read_secret_file_shown(path, &path.display().to_string())
}

/// Reads a secret from stdin (or any reader), by the rules of [`read_secret_file`].
pub(crate) fn read_secret_stdin(reader: impl Read) -> Result<SecretString, ConfigError> {
    read_secret_from(reader, "- (stdin)")
}

/// Reads a secret named by a `*_file` flag: `-` means stdin (asked for only then), anything else
/// is a file.
pub(crate) fn read_secret_source<R: Read>(
    value: &Path,
    stdin: impl FnOnce() -> R,
) -> Result<SecretString, ConfigError> {
    if value == Path::new("-") {
        read_secret_stdin(stdin())
    } else {
        read_secret_file(value)
    }
}

fn read_secret_file_shown(path: &Path, shown: &str) -> Result<SecretString, ConfigError> {
    let meta = fs::metadata(path).map_err(|e| secret_io_error(shown, &e))?;
    if meta.is_dir() {
        return Err(secret_error(
            shown,
            "is a directory",
            "give the file that holds the secret",
        ));
    }
    if meta.len() > MAX_SECRET_SIZE {
        return Err(secret_too_big(shown));
    }
    let file = fs::File::open(path).map_err(|e| secret_io_error(shown, &e))?;
    read_secret_from(file, shown)
}

fn read_secret_from(reader: impl Read, shown: &str) -> Result<SecretString, ConfigError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SECRET_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| secret_io_error(shown, &e))?;
    if bytes.len() as u64 > MAX_SECRET_SIZE {
        return Err(secret_too_big(shown));
    }
    let Ok(mut text) = String::from_utf8(bytes) else {
        return Err(secret_error(
            shown,
            "is not UTF-8 text",
            "store the secret as UTF-8 text",
        ));
    };
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    if text.is_empty() {
        return Err(secret_error(
            shown,
            "is empty",
            "put the secret in it (one trailing newline is removed)",
        ));
    }
    Ok(SecretString::from(text))
}

fn secret_error(shown: &str, problem: &str, fix: &str) -> ConfigError {
    ConfigError::SecretFile {
        path: shown.to_owned(),
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

fn secret_too_big(shown: &str) -> ConfigError {
    secret_error(
        shown,
        &format!("is larger than {MAX_SECRET_SIZE} bytes"),
        "give a file that holds only the secret",
    )
}

fn secret_io_error(shown: &str, error: &io::Error) -> ConfigError {
    let (problem, fix) = match error.kind() {
        io::ErrorKind::NotFound => ("does not exist".to_owned(), "check the path"),
        io::ErrorKind::PermissionDenied => (
            "cannot be read (permission denied)".to_owned(),
            "make it readable by this user",
        ),
        _ => (
            format!("cannot be read: {error}"),
            "check the file and try again",
        ),
    };
    secret_error(shown, &problem, fix)
}

/// Checks a region name: lowercase letters, digits and hyphens, 2 to 32 characters. `field` names
/// where it came from, for the error.
pub(crate) fn check_region(field: &str, region: &str) -> Result<(), ConfigError> {
    let ok = (2..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field: field.to_owned(),
            value: region.to_owned(),
            problem: "is not a region name (2 to 32 lowercase letters, digits and hyphens)"
                .to_owned(),
            fix: "give a region such as eu-de or ap-southeast-1".to_owned(),
        })
    }
}

/// Checks an `http(s)://` URL without user info, query or fragment, and splits it into
/// `scheme://host[:port]` and the path, both without trailing slashes.
fn split_url<'v>(
    field: &str,
    value: &'v str,
    example: &str,
) -> Result<(&'v str, &'v str), ConfigError> {
    let invalid = |problem: &str| ConfigError::Invalid {
        field: field.to_owned(),
        value: without_user_info(value),
        problem: problem.to_owned(),
        fix: format!("give a URL such as {example}"),
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid("is not an http:// or https:// URL"))?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("holds spaces or control characters"));
    }
    if value.contains(['?', '#']) {
        return Err(invalid("has a query or fragment"));
    }
    let host_len = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_len];
    if host.is_empty() || host.contains('@') {
        return Err(invalid("has no host (or has user info)"));
    }
    let split = value.len() - rest.len() + host_len;
    Ok((&value[..split], value[split..].trim_end_matches('/')))
}

/// A URL as an error may show it: user info (`user:password@`, a credential) becomes `…@`, as
/// `reimage_client::wire::Endpoint::parse` shows it.
fn without_user_info(url: &str) -> String {
    let start = url
        .find("://")
        .filter(|&i| {
            url[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        })
        .map_or(0, |i| i + 3);
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let shown = match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    };
    // A query may carry a token: never show it either.
    match shown.split_once(['?', '#']) {
        Some((before, _)) => format!("{before}?…"),
        None => shown,
    }
}

/// An ECS endpoint: an `http(s)://` URL, returned without trailing slashes.
pub(crate) fn ecs_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(field, value, "https://ecs.eu-de.otc.t-systems.com")?;
    Ok(format!("{origin}{path}"))
}

/// The IAM base URL: `value` with or without a trailing `/v3` (and slashes), returned without.
/// `field` names where it came from, for the error.
pub(crate) fn iam_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(field, value, "https://iam.eu-de.otc.t-systems.com/v3")?;
    let path = path
        .strip_suffix("/v3")
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

/// The EDIS auth base: a full URL ending in `/kvm/v2/get/auth` or a bare base, returned without
/// that path (`scheme://host[:port][/prefix]`). `field` names where it came from, for the error.
pub(crate) fn edis_auth_base(field: &str, value: &str) -> Result<String, ConfigError> {
    let (origin, path) = split_url(
        field,
        value,
        "https://session.edisglobal.com/kvm/v2/get/auth",
    )?;
    let path = path
        .strip_suffix(EDIS_AUTH_PATH)
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

// ---------------------------------------------------------------------------------------------
// The config file.

/// The config file as serde reads it. [`check_table`] looks at the raw table first and refuses
/// unknown keys and wrong types with a precise message; `deny_unknown_fields` is the backstop.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table. Secrets become [`SecretString`] as they are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    cloud: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    iam_endpoint: Option<String>,
    project_id: Option<String>,
    project_name: Option<String>,
    domain: Option<String>,
    username: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    password: Option<SecretString>,
    password_file: Option<PathBuf>,
    access_key: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    secret_key: Option<SecretString>,
    secret_key_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "secret")]
    security_token: Option<SecretString>,
    edis_email: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    edis_password: Option<SecretString>,
    edis_password_file: Option<PathBuf>,
    edis_auth_url: Option<String>,
    ca_file: Option<PathBuf>,
}

impl Profile {
    fn holds_secret(&self) -> bool {
        self.password.is_some()
            || self.secret_key.is_some()
            || self.security_token.is_some()
            || self.edis_password.is_some()
    }
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// The config file found (or looked for).
struct Loaded {
    /// The path looked at, with `~` for the home directory.
    shown: Option<String>,
    /// Its directory, for relative paths in it.
    dir: PathBuf,
    /// The content, when the file exists.
    config: Option<ConfigFile>,
}

/// Which config file to read, and whether it was named (then it must exist).
fn config_path(
    flags: &Flags,
    env: &Env,
    home: Option<&Path>,
) -> Result<Option<(PathBuf, Option<&'static str>)>, ConfigError> {
    if let Some(path) = &flags.config {
        return Ok(Some((path.clone(), Some("--config"))));
    }
    if let Some(path) = env.get("REIMAGE_CONFIG")? {
        return Ok(Some((PathBuf::from(path), Some("REIMAGE_CONFIG"))));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(xdg) = env.get("XDG_CONFIG_HOME")?.map(Path::new)
        && xdg.is_absolute()
    {
        return Ok(Some((xdg.join(CONFIG_RELATIVE), None)));
    }
    Ok(home.map(|h| (h.join(".config").join(CONFIG_RELATIVE), None)))
}

fn load_config(
    flags: &Flags,
    env: &Env,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Loaded, ConfigError> {
    let Some((path, named_by)) = config_path(flags, env, home)? else {
        return Ok(Loaded {
            shown: None,
            dir: PathBuf::new(),
            config: None,
        });
    };
    let shown = shorten(&path, home);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let file_error = |problem: String, fix: &str| ConfigError::File {
        file: shown.clone(),
        problem,
        fix: fix.to_owned(),
    };
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match named_by {
                Some(by) => Err(file_error(
                    format!("does not exist (named by {by})"),
                    &format!("create it or fix {by}"),
                )),
                None => Ok(Loaded {
                    shown: Some(shown),
                    dir,
                    config: None,
                }),
            };
        }
        Err(e) => return Err(file_error(format!("cannot be read: {e}"), "check the file")),
    };
    if meta.is_dir() {
        return Err(file_error(
            "is a directory".to_owned(),
            "point at the config.toml file",
        ));
    }
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(file_error(
            format!("is larger than {MAX_CONFIG_SIZE} bytes"),
            "point at the config.toml file",
        ));
    }
    let bytes = fs::read(&path)
        .map_err(|e| file_error(format!("cannot be read: {e}"), "check the file"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| file_error("is not UTF-8 text".to_owned(), "save it as UTF-8"))?;
    let config = parse_config(&text, &shown)?;

    if config.profiles.values().any(Profile::holds_secret)
        && let Some(mode) = loose_mode(&meta)
    {
        warnings.push(format!(
            "warning: {shown} holds secrets and is readable by others (mode {mode:03o}); \
             run chmod 600 {shown}"
        ));
    }
    Ok(Loaded {
        shown: Some(shown),
        dir,
        config: Some(config),
    })
}

/// The permission bits when group or others have any access, on unix.
#[cfg(unix)]
fn loose_mode(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Other systems have no mode bits to check.
#[cfg(not(unix))]
fn loose_mode(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// Parses and checks the text of a config file. Messages never quote the file's content, since
/// a line of it may hold a secret.
fn parse_config(text: &str, shown: &str) -> Result<ConfigFile, ConfigError> {
    let file_error = |problem: String, fix: String| ConfigError::File {
        file: shown.to_owned(),
        problem,
        fix,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = text.get(..span.start).unwrap_or_default();
                let line = before.matches('\n').count() + 1;
                let column = before
                    .rsplit('\n')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .count()
                    + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        file_error(
            format!("is not valid TOML{at}: {message}"),
            "fix the syntax (see https://toml.io)".to_owned(),
        )
    })?;
    check_table(&table).map_err(|(problem, fix)| file_error(problem, fix))?;
    // `check_table` has seen every key and type, so this cannot fail on them; its message is not
    // shown in case it quotes a value.
    table.try_into().map_err(|_| {
        file_error(
            "does not have the shape of a reimage config".to_owned(),
            "compare it with the format in docs/cli.md".to_owned(),
        )
    })
}

/// Refuses unknown keys and values that are not strings, with a precise problem and fix.
fn check_table(table: &toml::Table) -> Result<(), (String, String)> {
    for (key, value) in table {
        match key.as_str() {
            "default_profile" => {
                if !value.is_str() {
                    return Err(not_a_string(key, "at the top level"));
                }
            }
            "profiles" => {
                let Some(profiles) = value.as_table() else {
                    return Err((
                        "key profiles must be a table".to_owned(),
                        "write each profile as [profiles.NAME]".to_owned(),
                    ));
                };
                for (name, profile) in profiles {
                    let Some(profile) = profile.as_table() else {
                        let fix = if PROFILE_KEYS.contains(&name.as_str()) {
                            format!(
                                "{name} belongs in a profile: write [profiles.NAME], not [profiles]"
                            )
                        } else {
                            format!("write it as [profiles.{name}] followed by its keys")
                        };
                        return Err((format!("profiles.{name} must be a table"), fix));
                    };
                    let place = format!("in [profiles.{name}]");
                    for (key, value) in profile {
                        if !PROFILE_KEYS.contains(&key.as_str()) {
                            return Err(unknown_key(key, &place, PROFILE_KEYS));
                        }
                        if !value.is_str() {
                            return Err(not_a_string(key, &place));
                        }
                    }
                }
            }
            _ => {
                let (problem, fix) = unknown_key(key, "at the top level", TOP_KEYS);
                if PROFILE_KEYS.contains(&key.as_str()) {
                    return Err((
                        problem,
                        format!("{key} belongs in a profile: move it under [profiles.NAME]"),
                    ));
                }
                return Err((problem, fix));
            }
        }
    }
    Ok(())
}

fn not_a_string(key: &str, place: &str) -> (String, String) {
    (
        format!("key {key:?} {place} must be a string"),
        format!("write it as {key} = \"...\""),
    )
}

fn unknown_key(key: &str, place: &str, known: &[&str]) -> (String, String) {
    let hint = closest(key, known)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    (
        format!("unknown key {key:?} {place}{hint}"),
        format!("the keys are {}; rename or remove it", known.join(", ")),
    )
}

/// The known key nearest to `key` by edit distance, if it is near enough to be a typo.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
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

/// `path` with the home directory shown as `~`.
fn shorten(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// The profile in use.
struct Selected<'a> {
    name: &'a str,
    file: &'a str,
    dir: &'a Path,
    profile: &'a Profile,
}

fn select_profile<'a>(
    flags: &'a Flags,
    env: &'a Env,
    loaded: &'a Loaded,
) -> Result<Option<Selected<'a>>, ConfigError> {
    let config = loaded.config.as_ref();
    let named = match (&flags.profile, env.get("REIMAGE_PROFILE")?) {
        (Some(name), _) => Some((name.as_str(), "--profile")),
        (None, Some(name)) => Some((name, "REIMAGE_PROFILE")),
        (None, None) => config
            .and_then(|c| c.default_profile.as_deref())
            .map(|name| (name, "default_profile")),
    };
    let shown = loaded.shown.as_deref().unwrap_or("(none)");
    let Some(config) = config else {
        return match named {
            Some((name, by)) => Err(ConfigError::File {
                file: shown.to_owned(),
                problem: format!("does not exist, so it has no profile {name:?} (chosen by {by})"),
                fix: format!("create it with a [profiles.{name}] table, or drop {by}"),
            }),
            None => Ok(None),
        };
    };
    let name = match named {
        Some((name, by)) => {
            if !config.profiles.contains_key(name) {
                let existing = if config.profiles.is_empty() {
                    "the file has no profiles".to_owned()
                } else {
                    let names: Vec<String> =
                        config.profiles.keys().map(|n| format!("{n:?}")).collect();
                    format!("the profiles are {}", names.join(", "))
                };
                return Err(ConfigError::File {
                    file: shown.to_owned(),
                    problem: format!("no profile {name:?} (chosen by {by})"),
                    fix: format!("{existing}; pick one of them or add [profiles.{name}]"),
                });
            }
            name
        }
        None if config.profiles.contains_key("default") => "default",
        None => return Ok(None),
    };
    let Some((name, profile)) = config.profiles.get_key_value(name) else {
        return Ok(None);
    };
    Ok(Some(Selected {
        name,
        file: shown,
        dir: &loaded.dir,
        profile,
    }))
}

/// A profile key's name and how to read it.
type Key<T> = (&'static str, for<'p> fn(&'p Profile) -> Option<&'p T>);

/// Walks the sources of each field in order and records where the value came from.
struct Resolver<'a> {
    env: &'a Env,
    /// `Some(name)` when `--profile name` was given: the profile then wins over the
    /// environment, whose variables are not read (only recorded in [`Self::ignored`]).
    explicit: Option<&'a str>,
    /// The variables that were set but not read, since a profile was named explicitly.
    ignored: Vec<&'static str>,
    profile: Option<Selected<'a>>,
    home: Option<&'a Path>,
    origins: BTreeMap<&'static str, Origin>,
    /// Read by the one `*_file` flag that is `-`, if any ([`check_stdin`] refuses two).
    stdin: &'a mut dyn Read,
}

impl<'a> Resolver<'a> {
    fn profile_origin(&self, key: &'static str) -> Option<Origin> {
        self.profile.as_ref().map(|p| Origin::Profile {
            key,
            profile: p.name.to_owned(),
            file: p.file.to_owned(),
        })
    }

    /// The variable `var`, unless a profile was named explicitly: then it is not read, and
    /// recorded as ignored if it is set.
    fn var(&mut self, var: &'static str) -> Result<Option<&'a str>, ConfigError> {
        let env = self.env;
        let value = env.get(var)?;
        if value.is_some() && self.explicit.is_some() {
            if !self.ignored.contains(&var) {
                self.ignored.push(var);
            }
            return Ok(None);
        }
        Ok(value)
    }

    /// The first of flag, variables, profile key that is set, with its origin (not recorded).
    fn pick(
        &mut self,
        flag: Option<(&'static str, &str)>,
        vars: &[&'static str],
        key: Key<str>,
    ) -> Result<Option<(String, Origin)>, ConfigError> {
        if let Some((name, value)) = flag {
            return Ok(Some((value.to_owned(), Origin::Flag(name))));
        }
        for &var in vars {
            if let Some(value) = self.var(var)? {
                return Ok(Some((value.to_owned(), Origin::Env(var))));
            }
        }
        let (key_name, get) = key;
        if let Some(p) = &self.profile
            && let Some(value) = get(p.profile)
            && let Some(origin) = self.profile_origin(key_name)
        {
            return Ok(Some((value.to_owned(), origin)));
        }
        Ok(None)
    }

    /// [`Self::pick`] for plain text, recording the origin.
    fn text(
        &mut self,
        field: &'static str,
        flag: Option<(&'static str, &str)>,
        vars: &[&'static str],
        key: Key<str>,
    ) -> Result<Option<String>, ConfigError> {
        Ok(self.pick(flag, vars, key)?.map(|(value, origin)| {
            self.origins.insert(field, origin);
            value
        }))
    }

    /// A path: flag, then variable, then profile key (expanded).
    fn path(
        &mut self,
        field: &'static str,
        flag: Option<(&'static str, &Path)>,
        var: &'static str,
        key: Key<Path>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        if let Some((name, path)) = flag {
            self.origins.insert(field, Origin::Flag(name));
            return Ok(Some(path.to_path_buf()));
        }
        if let Some(value) = self.var(var)? {
            self.origins.insert(field, Origin::Env(var));
            return Ok(Some(PathBuf::from(value)));
        }
        let (key_name, get) = key;
        let found = self
            .profile
            .as_ref()
            .and_then(|p| get(p.profile).map(|path| self.expand(path, p.dir)));
        if let Some(path) = found
            && let Some(origin) = self.profile_origin(key_name)
        {
            self.origins.insert(field, origin);
            return Ok(Some(path));
        }
        Ok(None)
    }

    /// A secret: the flag's file (or stdin), then the variable, then the profile's value or its
    /// file. A profile may not set both.
    fn secret(
        &mut self,
        field: &'static str,
        flag: Option<(&'static str, &Path)>,
        var: Option<&'static str>,
        key: Key<SecretString>,
        file_key: Key<Path>,
    ) -> Result<Option<SecretString>, ConfigError> {
        if let Some((name, path)) = flag {
            let secret = if path == Path::new("-") {
                read_secret_stdin(&mut *self.stdin)?
            } else {
                read_secret_file(path)?
            };
            self.origins.insert(field, Origin::Flag(name));
            return Ok(Some(secret));
        }
        if let Some(var) = var
            && let Some(value) = self.var(var)?
        {
            self.origins.insert(field, Origin::Env(var));
            return Ok(Some(SecretString::from(value)));
        }
        let (key_name, get) = key;
        let (file_key_name, get_file) = file_key;
        if let Some(p) = &self.profile
            && get(p.profile).is_some()
            && get_file(p.profile).is_some()
        {
            return Err(ConfigError::File {
                file: p.file.to_owned(),
                problem: format!(
                    "profile {:?} sets both {key_name} and {file_key_name}",
                    p.name
                ),
                fix: format!("keep one of them (better {file_key_name}, outside this file)"),
            });
        }
        let value = self.profile.as_ref().and_then(|p| get(p.profile).cloned());
        if let Some(value) = value
            && let Some(origin) = self.profile_origin(key_name)
        {
            self.origins.insert(field, origin);
            return Ok(Some(value));
        }
        self.profile_secret_file(field, file_key_name, get_file)
    }

    /// The secret in the file a profile key names, if the profile sets it.
    fn profile_secret_file(
        &mut self,
        field: &'static str,
        key_name: &'static str,
        get: for<'p> fn(&'p Profile) -> Option<&'p Path>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let Some(p) = &self.profile else {
            return Ok(None);
        };
        let Some(path) = get(p.profile).map(|path| self.expand(path, p.dir)) else {
            return Ok(None);
        };
        let secret = read_secret_file_shown(&path, &shorten(&path, self.home))?;
        if let Some(origin) = self.profile_origin(key_name) {
            self.origins.insert(field, origin);
        }
        Ok(Some(secret))
    }

    /// A path from the config file: `~/` is the home directory, relative is relative to the
    /// file's directory.
    fn expand(&self, path: &Path, dir: &Path) -> PathBuf {
        if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), self.home) {
            return home.join(rest);
        }
        if path.is_relative() {
            return dir.join(path);
        }
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use secrecy::ExposeSecret;

    use super::*;

    /// A directory under the system temp dir, removed on drop. It serves as the home directory,
    /// so messages show `~/…` rather than this machine's paths.
    struct TempHome(PathBuf);

    impl TempHome {
        fn new() -> Self {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "reimage-config-test-{}-{}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }

        /// Writes `~/.config/reimage/config.toml` with mode 600 and returns its path.
        fn config(&self, text: &str) -> PathBuf {
            let path = self.0.join(".config/reimage/config.toml");
            self.write(&path, text.as_bytes());
            path
        }

        fn write(&self, path: &Path, bytes: &[u8]) {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
            set_mode(path, 0o600);
        }

        fn resolve(&self, flags: &Flags, env: &[(&str, &str)]) -> Result<Resolved, ConfigError> {
            resolve(
                flags,
                &Env::from_pairs(env.iter().copied()),
                Some(self.path()),
                &mut io::empty(),
            )
        }

        fn error(&self, flags: &Flags, env: &[(&str, &str)]) -> String {
            self.resolve(flags, env).unwrap_err().to_string()
        }
    }

    impl Drop for TempHome {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(not(unix))]
    fn set_mode(_path: &Path, _mode: u32) {}

    const FULL: &str = r#"
default_profile = "prod"

[profiles.prod]
cloud = "otc"
region = "eu-de"
project_id = "0123456789abcdef0123456789abcdef"
project_name = "eu-de_prod"
domain = "prod-domain"
username = "prod-user"
password = "prod-password"

[profiles.default]
region = "ap-southeast-1"

[profiles.dev]
region = "eu-nl"
cloud = "otc"
"#;

    #[test]
    fn flag_beats_env_beats_profile() {
        let home = TempHome::new();
        home.config(FULL);
        let all_env = [
            ("OS_REGION_NAME", "env-region"),
            ("OS_PROJECT_ID", "env-project"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "sdk-project"),
            ("OS_USER_DOMAIN_NAME", "env-domain"),
            ("OS_PASSWORD", "env-password"),
            ("REIMAGE_CLOUD", "huawei"),
        ];
        let flags = Flags {
            region: Some("flag-region".into()),
            project_id: Some("flag-project".into()),
            ..Flags::default()
        };

        let r = home.resolve(&flags, &all_env).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("flag-region"));
        assert_eq!(r.ecs.project_id.as_deref(), Some("flag-project"));
        assert_eq!(r.origins["region"], Origin::Flag("--region"));
        // REIMAGE_CLOUD beats the profile's otc.
        assert_eq!(r.ecs.cloud, Cloud::Huawei);
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.flag-region.myhuaweicloud.com")
        );

        let r = home.resolve(&Flags::default(), &all_env).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("env-region"));
        assert_eq!(r.ecs.project_id.as_deref(), Some("env-project"));
        assert_eq!(r.ecs.domain.as_deref(), Some("env-domain"));
        assert_eq!(
            r.ecs.password.as_ref().unwrap().expose_secret(),
            "env-password"
        );
        assert_eq!(r.origins["project_id"], Origin::Env("OS_PROJECT_ID"));

        // HUAWEICLOUD_SDK_PROJECT_ID comes after OS_PROJECT_ID but before the profile.
        let r = home
            .resolve(
                &Flags::default(),
                &[("HUAWEICLOUD_SDK_PROJECT_ID", "sdk-project")],
            )
            .unwrap();
        assert_eq!(r.ecs.project_id.as_deref(), Some("sdk-project"));

        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("eu-de"));
        assert_eq!(r.ecs.cloud, Cloud::Otc);
        assert_eq!(
            r.ecs.project_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(r.ecs.domain.as_deref(), Some("prod-domain"));
        assert_eq!(
            r.ecs.password.as_ref().unwrap().expose_secret(),
            "prod-password"
        );
        assert_eq!(
            r.origins["region"].to_string(),
            r#"key region of profile "prod" in ~/.config/reimage/config.toml"#
        );
        // An empty variable counts as unset.
        let r = home
            .resolve(&Flags::default(), &[("OS_REGION_NAME", "")])
            .unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("eu-de"));
    }

    #[test]
    fn domain_falls_back_through_the_openstack_variables() {
        let home = TempHome::new();
        let r = home
            .resolve(
                &Flags::default(),
                &[("OS_PROJECT_DOMAIN_NAME", "c"), ("OS_DOMAIN_NAME", "b")],
            )
            .unwrap();
        assert_eq!(r.ecs.domain.as_deref(), Some("b"));
        let r = home
            .resolve(&Flags::default(), &[("OS_PROJECT_DOMAIN_NAME", "c")])
            .unwrap();
        assert_eq!(r.ecs.domain.as_deref(), Some("c"));
    }

    /// A profile named with `--profile` (or by a fleet plan) wins over every variable that
    /// stray shells leave behind; without it the documented order (environment first) holds.
    #[test]
    fn an_explicit_profile_beats_the_environment() {
        let home = TempHome::new();
        home.config(FULL);
        let stray = [
            ("REIMAGE_ECS_ENDPOINT", "https://other.example.com"),
            ("OS_REGION_NAME", "other-region"),
            ("OS_USERNAME", "other-user"),
            ("OS_PASSWORD", "other-password"),
            ("EDIS_EMAIL", "other@example.com"),
        ];
        let prod = Flags {
            profile: Some("prod".into()),
            ..Flags::default()
        };
        let r = home.resolve(&prod, &stray).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("eu-de"));
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.eu-de.otc.t-systems.com")
        );
        assert_eq!(r.ecs.username.as_deref(), Some("prod-user"));
        assert_eq!(
            r.ecs
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
            Some("prod-password".to_owned())
        );
        assert_eq!(r.edis.email, None);
        assert_eq!(
            r.warnings,
            [
                "warning: --profile prod was named, so the profile is used and these environment \
              variables are not: OS_REGION_NAME, REIMAGE_ECS_ENDPOINT, OS_USERNAME, OS_PASSWORD, \
              EDIS_EMAIL"
            ]
        );
        // A flag still beats the profile.
        let flagged = Flags {
            region: Some("eu-nl".into()),
            ..prod.clone()
        };
        assert_eq!(
            home.resolve(&flagged, &stray)
                .unwrap()
                .ecs
                .region
                .as_deref(),
            Some("eu-nl")
        );
        // The profile chosen by default_profile is not named: the environment wins, as before.
        let r = home.resolve(&Flags::default(), &stray).unwrap();
        assert_eq!(r.source.profile.as_deref(), Some("prod"));
        assert_eq!(r.ecs.endpoint.as_deref(), Some("https://other.example.com"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn profile_selection() {
        let home = TempHome::new();
        home.config(FULL);
        let profile = |flags: &Flags, env: &[(&str, &str)]| {
            home.resolve(flags, env).unwrap().source.profile.unwrap()
        };
        let dev = Flags {
            profile: Some("dev".into()),
            ..Flags::default()
        };
        assert_eq!(profile(&dev, &[("REIMAGE_PROFILE", "default")]), "dev");
        assert_eq!(
            profile(&Flags::default(), &[("REIMAGE_PROFILE", "default")]),
            "default"
        );
        assert_eq!(profile(&Flags::default(), &[]), "prod");

        // Without default_profile, a profile called "default" is used.
        home.config(&FULL.replace("default_profile = \"prod\"", ""));
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.source.profile.as_deref(), Some("default"));
        assert_eq!(r.ecs.region.as_deref(), Some("ap-southeast-1"));

        // Without either, no profile.
        home.config("[profiles.x]\nregion = \"eu-de\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.source.profile, None);
        assert_eq!(r.ecs.region, None);
        assert_eq!(
            r.source.describe(),
            "~/.config/reimage/config.toml, no profile selected"
        );
    }

    #[test]
    fn xdg_and_reimage_config_choose_the_file() {
        let home = TempHome::new();
        let xdg = home.path().join("xdg");
        home.write(
            &xdg.join("reimage/config.toml"),
            b"[profiles.default]\nregion = \"xdg-region\"\n",
        );
        let other = home.path().join("other.toml");
        home.write(&other, b"[profiles.default]\nregion = \"other-region\"\n");
        let xdg_text = xdg.to_str().unwrap();
        let other_text = other.to_str().unwrap();

        let r = home
            .resolve(&Flags::default(), &[("XDG_CONFIG_HOME", xdg_text)])
            .unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("xdg-region"));
        assert_eq!(r.source.file.as_deref(), Some("~/xdg/reimage/config.toml"));
        let env = [
            ("XDG_CONFIG_HOME", xdg_text),
            ("REIMAGE_CONFIG", other_text),
        ];
        let r = home.resolve(&Flags::default(), &env).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("other-region"));

        // A relative XDG_CONFIG_HOME is ignored; the default file is missing, which is fine.
        let r = home
            .resolve(&Flags::default(), &[("XDG_CONFIG_HOME", "relative")])
            .unwrap();
        assert!(!r.source.file_found);
        assert_eq!(
            r.source.describe(),
            "no config file at ~/.config/reimage/config.toml"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_fix() {
        let home = TempHome::new();
        home.config("[profiles.prod]\npasword = \"x\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: unknown key \"pasword\" in \
             [profiles.prod] (did you mean \"password\"?); the keys are cloud, region, endpoint, \
             iam_endpoint, project_id, project_name, domain, username, password, password_file, \
             access_key, secret_key, secret_key_file, security_token, edis_email, edis_password, \
             edis_password_file, edis_auth_url, ca_file; rename or remove it"
        );

        home.config("region = \"eu-de\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: unknown key \"region\" at the top level; \
             region belongs in a profile: move it under [profiles.NAME]"
        );

        home.config("[profile.prod]\nregion = \"eu-de\"\n");
        let error = home.error(&Flags::default(), &[]);
        assert!(
            error.contains("unknown key \"profile\" at the top level (did you mean \"profiles\"?)"),
            "{error}"
        );

        home.config("[profiles.prod]\nregion = 5\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: key \"region\" in [profiles.prod] must be \
             a string; write it as region = \"...\""
        );
    }

    #[test]
    fn the_key_list_matches_the_struct() {
        let mut profile = toml::Table::new();
        for key in PROFILE_KEYS {
            profile.insert((*key).to_owned(), toml::Value::String("x".into()));
        }
        let mut table = toml::Table::new();
        table.insert("default_profile".into(), toml::Value::String("p".into()));
        let mut profiles = toml::Table::new();
        profiles.insert("p".into(), toml::Value::Table(profile.clone()));
        table.insert("profiles".into(), toml::Value::Table(profiles));
        assert!(check_table(&table).is_ok());
        assert!(table.clone().try_into::<ConfigFile>().is_ok());
        // And serde refuses what check_table refuses.
        let mut bad = table;
        bad.insert("surprise".into(), toml::Value::String("x".into()));
        assert!(check_table(&bad).is_err());
        assert!(bad.try_into::<ConfigFile>().is_err());
    }

    #[test]
    fn unknown_profiles_list_the_ones_that_exist() {
        let home = TempHome::new();
        home.config(FULL);
        let flags = Flags {
            profile: Some("stage".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "config file ~/.config/reimage/config.toml: no profile \"stage\" (chosen by \
             --profile); the profiles are \"default\", \"dev\", \"prod\"; pick one of them or add \
             [profiles.stage]"
        );
        let error = home.error(&Flags::default(), &[("REIMAGE_PROFILE", "stage")]);
        assert!(error.contains("(chosen by REIMAGE_PROFILE)"), "{error}");

        home.config("default_profile = \"gone\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: no profile \"gone\" (chosen by \
             default_profile); the file has no profiles; pick one of them or add [profiles.gone]"
        );

        // Naming a profile with no config file at all is an error too.
        let empty = TempHome::new();
        assert_eq!(
            empty.error(&flags, &[]),
            "config file ~/.config/reimage/config.toml: does not exist, so it has no profile \
             \"stage\" (chosen by --profile); create it with a [profiles.stage] table, or drop \
             --profile"
        );
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let home = TempHome::new();
        let flags = Flags {
            config: Some(home.path().join("nope.toml")),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "config file ~/nope.toml: does not exist (named by --config); create it or fix \
             --config"
        );
        let missing = home.path().join("gone.toml");
        let error = home.error(
            &Flags::default(),
            &[("REIMAGE_CONFIG", missing.to_str().unwrap())],
        );
        assert_eq!(
            error,
            "config file ~/gone.toml: does not exist (named by REIMAGE_CONFIG); create it or fix \
             REIMAGE_CONFIG"
        );
        // Without a home directory there is no default file and nothing to complain about.
        let r = resolve(&Flags::default(), &Env::default(), None, &mut io::empty()).unwrap();
        assert_eq!(r.source.describe(), "no config file: no home directory");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let home = TempHome::new();
        home.config("[profiles.prod]\nregion = eu-de\n");
        let error = home.error(&Flags::default(), &[]);
        assert!(
            error.starts_with(
                "config file ~/.config/reimage/config.toml: is not valid TOML at line 2, column 10: "
            ),
            "{error}"
        );
        assert!(
            error.ends_with("; fix the syntax (see https://toml.io)"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn region_endpoints_for_huawei_and_otc() {
        let home = TempHome::new();
        let r = home
            .resolve(&Flags::default(), &[("OS_REGION_NAME", "ap-southeast-1")])
            .unwrap();
        assert_eq!(r.ecs.cloud, Cloud::Huawei);
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.ap-southeast-1.myhuaweicloud.com")
        );
        assert_eq!(
            r.ecs.iam_endpoint.as_deref(),
            Some("https://iam.ap-southeast-1.myhuaweicloud.com")
        );
        assert_eq!(r.origins["endpoint"], Origin::Region);

        let flags = Flags {
            cloud: Some("otc".into()),
            region: Some("eu-de".into()),
            ..Flags::default()
        };
        let r = home.resolve(&flags, &[]).unwrap();
        assert_eq!(
            r.ecs.endpoint.as_deref(),
            Some("https://ecs.eu-de.otc.t-systems.com")
        );
        assert_eq!(
            r.ecs.iam_endpoint.as_deref(),
            Some("https://iam.eu-de.otc.t-systems.com")
        );

        let bad_region = Flags {
            region: Some("EU_DE".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&bad_region, &[]),
            "--region \"EU_DE\": is not a region name (2 to 32 lowercase letters, digits and \
             hyphens); give a region such as eu-de or ap-southeast-1"
        );
        for bad in ["e", &"a".repeat(33), "eu de", ""] {
            assert!(check_region("--region", bad).is_err(), "{bad:?}");
        }
        let bad_cloud = home.error(&Flags::default(), &[("REIMAGE_CLOUD", "aws")]);
        assert_eq!(
            bad_cloud,
            "REIMAGE_CLOUD \"aws\": is not a cloud reimage knows; use huawei or otc"
        );
    }

    #[test]
    fn iam_endpoint_with_or_without_v3() {
        let home = TempHome::new();
        for url in [
            "https://iam.eu-de.otc.t-systems.com/v3",
            "https://iam.eu-de.otc.t-systems.com/v3/",
            "https://iam.eu-de.otc.t-systems.com",
            "https://iam.eu-de.otc.t-systems.com/",
        ] {
            let r = home
                .resolve(
                    &Flags::default(),
                    &[("OS_AUTH_URL", url), ("OS_REGION_NAME", "eu-nl")],
                )
                .unwrap();
            assert_eq!(
                r.ecs.iam_endpoint.as_deref(),
                Some("https://iam.eu-de.otc.t-systems.com"),
                "{url}"
            );
            assert_eq!(r.origins["iam_endpoint"], Origin::Env("OS_AUTH_URL"));
        }
        // A prefix and a port are kept.
        assert_eq!(
            iam_base("x", "http://127.0.0.1:8080/iam/v3").unwrap(),
            "http://127.0.0.1:8080/iam"
        );
        // The flag beats OS_AUTH_URL.
        let flags = Flags {
            iam_endpoint: Some("http://127.0.0.1:9000/v3".into()),
            ..Flags::default()
        };
        let r = home
            .resolve(&flags, &[("OS_AUTH_URL", "https://iam.example/v3")])
            .unwrap();
        assert_eq!(r.ecs.iam_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        // Without any IAM setting or region, IAM is the ECS endpoint (the emulator serves both).
        let flags = Flags {
            endpoint: Some("http://127.0.0.1:8080/".into()),
            ..Flags::default()
        };
        let r = home.resolve(&flags, &[]).unwrap();
        assert_eq!(r.ecs.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(r.ecs.iam_endpoint.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(r.origins["iam_endpoint"], Origin::EcsEndpoint);

        for bad in [
            "iam.example/v3",
            "ftp://iam.example",
            "https:///v3",
            "https://x/?a",
        ] {
            let error = home.error(&Flags::default(), &[("OS_AUTH_URL", bad)]);
            // A query is never shown: it may carry a token.
            let shown = bad.replace("?a", "?…");
            assert!(
                error.starts_with(&format!("OS_AUTH_URL {shown:?}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn edis_auth_url_forms() {
        let home = TempHome::new();
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.edis.auth_base, "https://session.edisglobal.com");
        assert_eq!(r.origins["edis_auth_base"], Origin::Default);
        for (url, base) in [
            (
                "https://session.edisglobal.com/kvm/v2/get/auth",
                "https://session.edisglobal.com",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            (
                "http://127.0.0.1:8080/kvm/v2/get/auth",
                "http://127.0.0.1:8080",
            ),
            (
                "https://proxy.example/edis/kvm/v2/get/auth/",
                "https://proxy.example/edis",
            ),
        ] {
            let r = home
                .resolve(&Flags::default(), &[("EDIS_AUTH_URL", url)])
                .unwrap();
            assert_eq!(r.edis.auth_base, base, "{url}");
        }
        let flags = Flags {
            edis_auth_url: Some("127.0.0.1:8080".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "edis --auth-url \"127.0.0.1:8080\": is not an http:// or https:// URL; give a URL \
             such as https://session.edisglobal.com/kvm/v2/get/auth"
        );
    }

    #[cfg(unix)]
    #[test]
    fn secrets_in_a_readable_file_give_a_warning() {
        let home = TempHome::new();
        let path = home.config("[profiles.default]\nsecret_key = \"s\"\naccess_key = \"a\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.warnings, Vec::<String>::new());

        set_mode(&path, 0o644);
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.warnings,
            [
                "warning: ~/.config/reimage/config.toml holds secrets and is readable by others \
              (mode 644); run chmod 600 ~/.config/reimage/config.toml"
            ]
        );

        // No secret, no warning.
        home.config("[profiles.default]\nregion = \"eu-de\"\n");
        set_mode(&path, 0o644);
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn secret_files() {
        let home = TempHome::new();
        let file = home.path().join("secret");
        for (bytes, want) in [
            (&b"hunter2\n"[..], "hunter2"),
            (b"hunter2\r\n", "hunter2"),
            (b"hunter2", "hunter2"),
            (b"hunter2\n\n", "hunter2\n"),
            (b" hunter2 \t\n", " hunter2 \t"),
        ] {
            home.write(&file, bytes);
            assert_eq!(read_secret_file(&file).unwrap().expose_secret(), want);
            assert_eq!(read_secret_stdin(bytes).unwrap().expose_secret(), want);
        }

        let shown = file.display().to_string();
        home.write(&file, &vec![b'a'; 64 * 1024]);
        assert!(read_secret_file(&file).is_ok());
        home.write(&file, &vec![b'a'; 64 * 1024 + 1]);
        assert_eq!(
            read_secret_file(&file).unwrap_err().to_string(),
            format!(
                "secret file {shown}: is larger than 65536 bytes; give a file that holds only the \
                 secret"
            )
        );
        let big = vec![b'a'; 64 * 1024 + 1];
        assert!(read_secret_stdin(&big[..]).is_err());

        home.write(&file, b"caf\xe9\n");
        assert_eq!(
            read_secret_file(&file).unwrap_err().to_string(),
            format!("secret file {shown}: is not UTF-8 text; store the secret as UTF-8 text")
        );

        home.write(&file, b"\n");
        let error = read_secret_file(&file).unwrap_err().to_string();
        assert!(
            error.ends_with(": is empty; put the secret in it (one trailing newline is removed)")
        );

        let dir = home.path().to_path_buf();
        assert_eq!(
            read_secret_file(&dir).unwrap_err().to_string(),
            format!(
                "secret file {}: is a directory; give the file that holds the secret",
                dir.display()
            )
        );
        let missing = home.path().join("missing");
        let error = read_secret_file(&missing).unwrap_err().to_string();
        assert!(
            error.ends_with(": does not exist; check the path"),
            "{error}"
        );

        // `-` reads stdin; anything else does not touch it.
        let secret = read_secret_source(Path::new("-"), || &b"from-stdin\n"[..]).unwrap();
        assert_eq!(secret.expose_secret(), "from-stdin");
        home.write(&file, b"from-file\n");
        let secret = read_secret_source(&file, || -> &[u8] { panic!("stdin read") }).unwrap();
        assert_eq!(secret.expose_secret(), "from-file");
    }

    #[test]
    fn secret_flags_and_profile_files() {
        let home = TempHome::new();
        home.write(
            &home.path().join(".config/reimage/pw"),
            b"profile-file-pw\n",
        );
        home.write(&home.path().join("sk"), b"profile-file-sk\n");
        home.config(
            "[profiles.default]\npassword_file = \"pw\"\nsecret_key_file = \"~/sk\"\n\
             access_key = \"AK\"\n",
        );
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.ecs.password.as_ref().unwrap().expose_secret(),
            "profile-file-pw"
        );
        assert_eq!(
            r.ecs.sk.as_ref().unwrap().expose_secret(),
            "profile-file-sk"
        );
        assert!(matches!(
            r.ecs_auth().unwrap(),
            EcsAuth::AkSk { ak: "AK", .. }
        ));

        // A flag of `-` reads stdin, once.
        let flags = Flags {
            password_file: Some("-".into()),
            ..Flags::default()
        };
        let r = resolve(
            &flags,
            &Env::default(),
            Some(home.path()),
            &mut &b"stdin-pw\n"[..],
        )
        .unwrap();
        assert_eq!(r.ecs.password.as_ref().unwrap().expose_secret(), "stdin-pw");
        assert_eq!(r.origins["password"], Origin::Flag("--password-file"));

        let both = Flags {
            password_file: Some("-".into()),
            edis_password_file: Some("-".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&both, &[]),
            "--password-file and edis --password-file both read stdin (-); give at most one of \
             them as -, and files for the others"
        );

        // A profile may not set a secret twice.
        home.config("[profiles.default]\nedis_password = \"x\"\nedis_password_file = \"pw\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: profile \"default\" sets both \
             edis_password and edis_password_file; keep one of them (better edis_password_file, \
             outside this file)"
        );

        // A missing profile secret file is named with `~`.
        home.config("[profiles.default]\nedis_password_file = \"~/nope\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "secret file ~/nope: does not exist; check the path"
        );
        // It is not read when a variable gives the secret.
        let r = home
            .resolve(&Flags::default(), &[("EDIS_PASSWORD", "env")])
            .unwrap();
        assert_eq!(r.edis.password.as_ref().unwrap().expose_secret(), "env");
    }

    #[test]
    fn which_ecs_auth_is_available() {
        let home = TempHome::new();
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.ecs_auth().unwrap_err().to_string(),
            "no ECS credentials (no config file at ~/.config/reimage/config.toml): for AK/SK set \
             the access key (HUAWEICLOUD_SDK_AK, or profile key access_key) and the secret key \
             (HUAWEICLOUD_SDK_SK, --secret-key-file, or profile key secret_key or \
             secret_key_file); or for an IAM password set the user name (OS_USERNAME, or profile \
             key username), the password (OS_PASSWORD, --password-file, or profile key password \
             or password_file) and the domain (OS_USER_DOMAIN_NAME, OS_DOMAIN_NAME, \
             OS_PROJECT_DOMAIN_NAME, or profile key domain)"
        );

        home.config(FULL);
        let r = home
            .resolve(&Flags::default(), &[("HUAWEICLOUD_SDK_AK", "AK")])
            .unwrap();
        // Half an AK/SK pair falls back to the complete password set.
        assert!(matches!(
            r.ecs_auth().unwrap(),
            EcsAuth::Password {
                username: "prod-user",
                domain: "prod-domain",
                ..
            }
        ));

        home.config("[profiles.default]\nusername = \"u\"\naccess_key = \"AK\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.ecs_auth().unwrap_err().to_string(),
            "no ECS credentials (profile \"default\" in ~/.config/reimage/config.toml): for AK/SK \
             set the secret key (HUAWEICLOUD_SDK_SK, --secret-key-file, or profile key secret_key \
             or secret_key_file); or for an IAM password set the password (OS_PASSWORD, \
             --password-file, or profile key password or password_file) and the domain \
             (OS_USER_DOMAIN_NAME, OS_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME, or profile key domain)"
        );

        // The access key of the profile and the secret key of the environment are never put
        // together: they may be two accounts' halves.
        let r = home
            .resolve(
                &Flags::default(),
                &[
                    ("HUAWEICLOUD_SDK_SK", "sk"),
                    ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "token"),
                ],
            )
            .unwrap();
        assert_eq!(
            r.ecs_auth().unwrap_err().to_string(),
            "the ECS access key credential would be put together from two places: the secret key \
             from HUAWEICLOUD_SDK_SK, the access key from key access_key of profile \"default\" in \
             ~/.config/reimage/config.toml; reimage never mixes them, since they may belong to \
             different accounts; give the whole credential in the environment, or unset \
             HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_SECURITY_TOKEN to use profile \"default\"'s, \
             or name the profile with --profile default"
        );
        // The whole credential from the environment is used as it is.
        let r = home
            .resolve(
                &Flags::default(),
                &[
                    ("HUAWEICLOUD_SDK_AK", "AK"),
                    ("HUAWEICLOUD_SDK_SK", "sk"),
                    ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "token"),
                ],
            )
            .unwrap();
        let EcsAuth::AkSk {
            ak,
            sk,
            security_token,
        } = r.ecs_auth().unwrap()
        else {
            panic!("expected AK/SK");
        };
        assert_eq!(ak, "AK");
        assert_eq!(sk.expose_secret(), "sk");
        assert_eq!(security_token.unwrap().expose_secret(), "token");

        assert_eq!(
            r.project_id().unwrap_err().to_string(),
            "no project id (profile \"default\" in ~/.config/reimage/config.toml): give \
             --project-id, OS_PROJECT_ID, HUAWEICLOUD_SDK_PROJECT_ID, or profile key project_id"
        );
        assert!(r.ecs_endpoint().is_err());
        assert!(r.iam_endpoint().is_err());
        assert_eq!(
            r.edis_credentials().unwrap_err().to_string(),
            "no EDIS credentials (profile \"default\" in ~/.config/reimage/config.toml): set the \
             e-mail (EDIS_EMAIL, or profile key edis_email) and the password (EDIS_PASSWORD, \
             edis --password-file, or profile key edis_password or edis_password_file)"
        );
    }

    #[test]
    fn the_ca_file_comes_from_flag_env_or_profile() {
        let home = TempHome::new();
        home.config("[profiles.default]\nca_file = \"ca.pem\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.ecs.ca_file.as_deref(),
            Some(home.path().join(".config/reimage/ca.pem").as_path())
        );
        assert_eq!(r.edis.ca_file, r.ecs.ca_file);
        let r = home
            .resolve(&Flags::default(), &[("REIMAGE_CA_FILE", "/env/ca.pem")])
            .unwrap();
        assert_eq!(r.ecs.ca_file.as_deref(), Some(Path::new("/env/ca.pem")));
        let flags = Flags {
            ca_file: Some("/flag/ca.pem".into()),
            ..Flags::default()
        };
        let r = home
            .resolve(&flags, &[("REIMAGE_CA_FILE", "/env/ca.pem")])
            .unwrap();
        assert_eq!(r.ecs.ca_file.as_deref(), Some(Path::new("/flag/ca.pem")));
    }

    #[test]
    fn the_redacted_debug_text() {
        let settings = EdisSettings {
            email: Some("a@example.com".into()),
            password: Some(SecretString::from("hunter2")),
            ..EdisSettings::default()
        };
        assert_eq!(
            format!("{settings:?}"),
            r#"EdisSettings { auth_base: "https://session.edisglobal.com", email: Some("a@example.com"), password: Some(SecretBox<str>([REDACTED])), ca_file: None }"#
        );
        let env = Env::from_pairs([("OS_PASSWORD", "hunter2")]);
        assert_eq!(
            format!("{env:?}"),
            r#"Env { set: ["OS_PASSWORD"], not_unicode: [] }"#
        );
    }

    /// Puts one sentinel in every secret slot (file, variables, secret files, stdin) and in
    /// every error that could quote it, and checks it appears nowhere.
    #[test]
    fn no_secret_in_debug_warnings_or_errors() {
        const SENTINEL: &str = "s3ntinel-SECRET-value";
        let home = TempHome::new();
        let path = home.config(&format!(
            "[profiles.default]\npassword = \"{SENTINEL}\"\nsecret_key = \"{SENTINEL}\"\n\
             security_token = \"{SENTINEL}\"\nedis_password = \"{SENTINEL}\"\n\
             access_key = \"AK\"\nusername = \"u\"\ndomain = \"d\"\n",
        ));
        set_mode(&path, 0o644);
        let env = [
            ("OS_PASSWORD", SENTINEL),
            ("OS_USERNAME", "u"),
            ("OS_USER_DOMAIN_NAME", "d"),
            ("HUAWEICLOUD_SDK_AK", "AK"),
            ("HUAWEICLOUD_SDK_SK", SENTINEL),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SENTINEL),
            ("EDIS_PASSWORD", SENTINEL),
        ];
        // Half a credential in the environment: the refusal names places, never values.
        let mixed = [
            ("HUAWEICLOUD_SDK_SK", SENTINEL),
            ("EDIS_PASSWORD", SENTINEL),
        ];
        let mut texts = Vec::new();
        for env in [&env[..], &[]] {
            let r = home.resolve(&Flags::default(), env).unwrap();
            texts.push(format!("{r:?}"));
            texts.push(format!("{:?}", r.ecs_auth().unwrap()));
            texts.push(format!("{:?}", r.edis_credentials()));
            texts.extend(r.warnings.iter().cloned());
            texts.push(format!("{:?}", Env::from_pairs(env.iter().copied())));
        }
        let r = home.resolve(&Flags::default(), &mixed).unwrap();
        let refused = r.ecs_auth().unwrap_err();
        assert!(refused.to_string().contains("two places"), "{refused}");
        texts.push(refused.to_string());
        texts.push(format!("{refused:?}"));
        let secret_file = home.path().join("secret");
        home.write(&secret_file, format!("{SENTINEL}\n").as_bytes());
        let flags = Flags {
            password_file: Some(secret_file.clone()),
            secret_key_file: Some("-".into()),
            ..Flags::default()
        };
        let r = resolve(
            &flags,
            &Env::default(),
            Some(home.path()),
            &mut SENTINEL.as_bytes(),
        )
        .unwrap();
        texts.push(format!("{r:?}"));

        // Errors from files whose content holds the secret.
        let mut errors = vec![
            {
                let mut bytes = SENTINEL.as_bytes().to_vec();
                bytes.push(0xff);
                home.write(&secret_file, &bytes);
                read_secret_file(&secret_file).unwrap_err()
            },
            read_secret_stdin(format!("{SENTINEL}{}", "x".repeat(70_000)).as_bytes()).unwrap_err(),
        ];
        for text in [
            format!("[profiles.default]\npassword = \"{SENTINEL}\n"),
            format!("[profiles.default]\npassword = {SENTINEL}\n"),
            format!("[profiles.default]\npassword = [\"{SENTINEL}\"]\n"),
            format!("[profiles.default]\npassword = \"{SENTINEL}\"\npassword = \"{SENTINEL}\"\n"),
            format!("[profiles.default]\npasword = \"{SENTINEL}\"\n"),
            format!("[profiles.default]\npassword = \"{SENTINEL}\"\npassword_file = \"x\"\n"),
            format!("password = \"{SENTINEL}\"\n"),
            format!("[profiles.default]\npassword = \"\\q{SENTINEL}\"\n"),
        ] {
            home.config(&text);
            errors.push(home.resolve(&Flags::default(), &[]).unwrap_err());
        }
        for error in &errors {
            texts.push(error.to_string());
            texts.push(format!("{error:?}"));
        }
        for text in &texts {
            assert!(!text.contains(SENTINEL), "secret leaked: {text}");
            assert!(
                !text.contains("s3ntinel"),
                "part of the secret leaked: {text}"
            );
        }
    }
}
