//! Resolution: [`resolve`] walks the flags, the environment and the selected profile for each
//! setting, and returns [`Resolved`]: the ECS and EDIS settings, where each came from, the
//! warnings to show, and the checks that give the credentials ([`Resolved::ecs_auth`],
//! [`Resolved::edis_credentials`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::endpoint::{check_region, ecs_base, edis_auth_base, iam_base};
use crate::file::{Profile, Selected, load_config, select_profile, shorten};
use crate::secret::{read_secret_file, read_secret_file_shown, read_secret_stdin};
use crate::{Cloud, ConfigError, DEFAULT_EDIS_AUTH_BASE, Env};

/// The command-line values that take part in resolution: the `reimage` CLI fills them from its
/// flags, and a program fills the ones it has (all are optional).
///
/// Error texts call them by these flag names: `--profile`, `--config`, `--cloud`, `--region`,
/// `--endpoint`, `--iam-endpoint`, `--project-id`, `--ca-file`, `edis --auth-url`,
/// `--password-file`, `--secret-key-file`, `edis --password-file`.
///
/// New flags may be added, so the struct is `#[non_exhaustive]`: start from
/// [`Flags::default`] (nothing given) and set the fields.
///
/// ```
/// let mut flags = reimage_config::Flags::default();
/// flags.profile = Some("prod".to_owned());
/// flags.region = Some("eu-de".to_owned());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Flags {
    /// `--profile`: the profile to use, over `REIMAGE_PROFILE` and `default_profile`.
    pub profile: Option<String>,
    /// `--config`: the config file, over `REIMAGE_CONFIG` and the default path.
    pub config: Option<PathBuf>,
    /// `--cloud`: `huawei` or `otc`.
    pub cloud: Option<String>,
    /// `--region`: such as `eu-de`.
    pub region: Option<String>,
    /// `--endpoint`: the ECS base URL.
    pub endpoint: Option<String>,
    /// `--iam-endpoint`: the IAM URL, with or without `/v3`.
    pub iam_endpoint: Option<String>,
    /// `--project-id`.
    pub project_id: Option<String>,
    /// `--ca-file`: a PEM file of extra CA certificates.
    pub ca_file: Option<PathBuf>,
    /// `edis --auth-url`: the EDIS auth URL or its base.
    pub edis_auth_url: Option<String>,
    /// `--password-file`: the IAM password; `-` reads stdin.
    pub password_file: Option<PathBuf>,
    /// `--secret-key-file`: the AK/SK secret key; `-` reads stdin.
    pub secret_key_file: Option<PathBuf>,
    /// `edis --password-file`: the EDIS password; `-` reads stdin.
    pub edis_password_file: Option<PathBuf>,
}

/// Where a resolved value came from, for messages such as "project id from OS_PROJECT_ID".
/// `Display` gives that phrase: the flag or variable, `key region of profile "prod" in
/// ~/.config/reimage/config.toml`, `the region`, `the ECS endpoint` or `the default`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
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
#[non_exhaustive]
pub struct Source {
    /// The config file looked for, with `~` for the home directory; `None` when there was no
    /// home directory to look in.
    pub file: Option<String>,
    /// Whether that file exists and was read.
    pub file_found: bool,
    /// The profile used, if any.
    pub profile: Option<String>,
}

impl Source {
    /// One phrase for messages: `profile "prod" in ~/.config/reimage/config.toml`, `no config file
    /// at ~/.config/reimage/config.toml`, ….
    pub fn describe(&self) -> String {
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
/// `Debug` shows no secret: they are [`SecretString`]s.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EcsSettings {
    /// The cloud (only matters for building endpoints from a region).
    pub cloud: Cloud,
    /// The region, checked: lowercase letters, digits and hyphens, 2 to 32 characters.
    pub region: Option<String>,
    /// The ECS base URL, without a trailing slash.
    pub endpoint: Option<String>,
    /// The IAM base URL **without** `/v3` and without a trailing slash: the wire layer appends
    /// `/v3/auth/tokens`. `OS_AUTH_URL=https://iam.eu-de.otc.t-systems.com/v3` and
    /// `https://iam.eu-de.otc.t-systems.com` both give `https://iam.eu-de.otc.t-systems.com`.
    pub iam_endpoint: Option<String>,
    /// The project id.
    pub project_id: Option<String>,
    /// The project name (IAM token scope when there is no id).
    pub project_name: Option<String>,
    /// The IAM domain (account) name.
    pub domain: Option<String>,
    /// The IAM user name.
    pub username: Option<String>,
    /// The IAM user's password.
    pub password: Option<SecretString>,
    /// The access key id.
    pub ak: Option<String>,
    /// The secret access key.
    pub sk: Option<SecretString>,
    /// The security token of a temporary AK/SK.
    pub security_token: Option<SecretString>,
    /// Extra CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
}

/// What the EDIS commands need. `Debug` shows no secret: the password is a [`SecretString`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EdisSettings {
    /// The auth service **without** [`EDIS_AUTH_PATH`](crate::EDIS_AUTH_PATH) and without a trailing slash:
    /// `scheme://host[:port][/prefix]`. `https://session.edisglobal.com/kvm/v2/get/auth` and
    /// `https://session.edisglobal.com` both give `https://session.edisglobal.com`.
    pub auth_base: String,
    /// The account e-mail.
    pub email: Option<String>,
    /// The account password.
    pub password: Option<SecretString>,
    /// Extra CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
}

impl Default for EdisSettings {
    /// The EDIS service ([`DEFAULT_EDIS_AUTH_BASE`]) and nothing else.
    fn default() -> Self {
        Self {
            auth_base: DEFAULT_EDIS_AUTH_BASE.to_owned(),
            email: None,
            password: None,
            ca_file: None,
        }
    }
}

/// The credentials the ECS commands can use, borrowed from [`EcsSettings`]; from
/// [`Resolved::ecs_auth`].
///
/// This enum is exhaustive on purpose: a new way to authenticate is one every caller must
/// handle, so adding one is a breaking change rather than a new arm that callers skip.
#[derive(Debug, Clone, Copy)]
pub enum EcsAuth<'a> {
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

/// The outcome of [`resolve`] (and [`infer`](crate::infer)): every setting found, where each came
/// from, and the warnings to show.
///
/// The settings are as found; what a command needs is checked by [`Resolved::ecs_auth`],
/// [`Resolved::ecs_endpoint`], [`Resolved::iam_endpoint`], [`Resolved::project_id`] and
/// [`Resolved::edis_credentials`], whose errors say how to give what is missing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// ECS and IAM.
    pub ecs: EcsSettings,
    /// EDIS.
    pub edis: EdisSettings,
    /// Lines to show the person on stderr, each starting with `warning: `.
    pub warnings: Vec<String>,
    /// The config file and profile looked at.
    pub source: Source,
    /// Where each set value came from, keyed by the field name in [`EcsSettings`] (`endpoint`,
    /// `project_id`, …) or, for EDIS, `edis_` and its name (`edis_auth_base`, `edis_email`, …).
    /// A value that is not set has no entry.
    pub origins: BTreeMap<&'static str, Origin>,
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
    pub fn ecs_auth(&self) -> Result<EcsAuth<'_>, ConfigError> {
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
    pub fn ecs_endpoint(&self) -> Result<&str, ConfigError> {
        self.ecs.endpoint.as_deref().ok_or_else(|| {
            self.missing(
                "ECS endpoint",
                "give --endpoint or REIMAGE_ECS_ENDPOINT or profile key endpoint, or a region \
                 (--region, OS_REGION_NAME, or profile key region)",
            )
        })
    }

    /// The IAM base URL (without `/v3`), or an error saying how to give one.
    pub fn iam_endpoint(&self) -> Result<&str, ConfigError> {
        self.ecs.iam_endpoint.as_deref().ok_or_else(|| {
            self.missing(
                "IAM endpoint",
                "give --iam-endpoint or OS_AUTH_URL or profile key iam_endpoint, or a region \
                 (--region, OS_REGION_NAME, or profile key region)",
            )
        })
    }

    /// The project id, or an error saying how to give one.
    pub fn project_id(&self) -> Result<&str, ConfigError> {
        self.ecs.project_id.as_deref().ok_or_else(|| {
            self.missing(
                "project id",
                "give --project-id, OS_PROJECT_ID, HUAWEICLOUD_SDK_PROJECT_ID, or profile key \
                 project_id",
            )
        })
    }

    /// The EDIS e-mail and password, or an error saying how to give what is missing.
    pub fn edis_credentials(&self) -> Result<(&str, &SecretString), ConfigError> {
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
/// A profile named explicitly (`flags.profile`, the `--profile` flag) beats the environment:
/// the variables above are then not read, except those that choose the config file, and
/// [`Resolved::warnings`] names the ones that were set. A profile chosen by `REIMAGE_PROFILE`,
/// `default_profile` or the name `default` does not: the order above holds.
///
/// A profile's secret file is read only when nothing above it gives that secret. In a profile,
/// `*_file` and `ca_file` paths may start with `~/`, and relative ones are relative to the
/// config file's directory.
///
/// Nothing is printed. Each credential must still come whole from one place, which
/// [`Resolved::ecs_auth`] and [`Resolved::edis_credentials`] check.
///
/// [`infer`](crate::infer) calls this with the process's environment, home directory and stdin.
pub fn resolve(
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
    use secrecy::ExposeSecret;

    use super::*;
    use crate::test_support::{FULL, TempHome, set_mode};

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
