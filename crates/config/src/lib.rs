//! Where [reimage](https://github.com/reimage-rs/reimage) finds its credentials and endpoints, for
//! the `reimage` command line and for any Rust program alike: command-line flags first, then the
//! ecosystems' environment variables (`OS_*`, `HUAWEICLOUD_SDK_*`, `EDIS_*`, `REIMAGE_*`), then a
//! profile of a TOML config file.
//!
//! [`infer`] does what the command line does, from the process: its environment, its home
//! directory, and stdin when a `*_file` flag is `-`. [`resolve`] does the same from what it is
//! given, which is how tests (and programs that keep their settings elsewhere) use it. Either
//! returns [`Resolved`]: the ECS and EDIS settings, where each came from ([`Origin`]), and the
//! warnings to show. Nothing here prints, opens a socket or depends on an async runtime; it
//! reads the config file and secret files, and nothing else.
//!
//! ```
//! use reimage_config::{EcsAuth, Env, Flags, resolve};
//!
//! # fn main() -> Result<(), reimage_config::ConfigError> {
//! let env = Env::from_pairs([
//!     ("REIMAGE_CLOUD", "otc"),
//!     ("OS_REGION_NAME", "eu-de"),
//!     ("HUAWEICLOUD_SDK_AK", "AKEXAMPLE"),
//!     ("HUAWEICLOUD_SDK_SK", "secret-key"),
//!     ("HUAWEICLOUD_SDK_PROJECT_ID", "0123456789abcdef0123456789abcdef"),
//! ]);
//! // No home directory: no config file. Stdin is read only for a `*_file` flag of `-`.
//! let resolved = resolve(&Flags::default(), &env, None, &mut std::io::empty())?;
//! assert_eq!(resolved.ecs_endpoint()?, "https://ecs.eu-de.otc.t-systems.com");
//! assert_eq!(resolved.iam_endpoint()?, "https://iam.eu-de.otc.t-systems.com");
//! assert_eq!(resolved.project_id()?, "0123456789abcdef0123456789abcdef");
//! assert_eq!(resolved.origins["region"].to_string(), "OS_REGION_NAME");
//! assert!(matches!(resolved.ecs_auth()?, EcsAuth::AkSk { ak: "AKEXAMPLE", .. }));
//! // A secret never shows in `Debug`.
//! assert!(!format!("{resolved:?}").contains("secret-key"));
//! # Ok(())
//! # }
//! ```
//!
//! # Priority
//!
//! Each setting comes from the first place that gives it, left to right:
//!
//! | setting | flag | environment | profile key, else |
//! |---|---|---|---|
//! | config file | `--config` | `REIMAGE_CONFIG`, `$XDG_CONFIG_HOME/reimage/config.toml` | `~/.config/reimage/config.toml` |
//! | profile | `--profile` | `REIMAGE_PROFILE` | `default_profile`, else a profile named `default`, else none |
//! | cloud | `--cloud` | `REIMAGE_CLOUD` | `cloud`, else `huawei` |
//! | region | `--region` | `OS_REGION_NAME` | `region` |
//! | ECS endpoint | `--endpoint` | `REIMAGE_ECS_ENDPOINT` | `endpoint`, else built from the cloud and region |
//! | IAM endpoint | `--iam-endpoint` | `OS_AUTH_URL` | `iam_endpoint`, else built from the cloud and region, else the ECS endpoint given |
//! | project id | `--project-id` | `OS_PROJECT_ID`, `HUAWEICLOUD_SDK_PROJECT_ID` | `project_id` |
//! | project name | | `OS_PROJECT_NAME` | `project_name` |
//! | IAM domain | | `OS_USER_DOMAIN_NAME`, `OS_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME` | `domain` |
//! | IAM user name | | `OS_USERNAME` | `username` |
//! | IAM password | `--password-file` | `OS_PASSWORD` | `password` or `password_file` |
//! | access key | | `HUAWEICLOUD_SDK_AK` | `access_key` |
//! | secret key | `--secret-key-file` | `HUAWEICLOUD_SDK_SK` | `secret_key` or `secret_key_file` |
//! | security token | | `HUAWEICLOUD_SDK_SECURITY_TOKEN` | `security_token` |
//! | EDIS auth URL | `edis --auth-url` | `EDIS_AUTH_URL` | `edis_auth_url`, else `https://session.edisglobal.com` |
//! | EDIS e-mail | | `EDIS_EMAIL` | `edis_email` |
//! | EDIS password | `edis --password-file` | `EDIS_PASSWORD` | `edis_password` or `edis_password_file` |
//! | CA certificates | `--ca-file` | `REIMAGE_CA_FILE` | `ca_file` |
//!
//! The flags are the fields of [`Flags`]; [`ENV_VARS`] lists every variable read, and no other
//! is. An empty variable counts as unset. Three rules come on top:
//!
//! - **A profile named explicitly beats the environment.** With `--profile NAME`
//!   ([`Flags::profile`]) the profile's settings are used and the variables of the table are not
//!   read, apart from those that find the config file; [`Resolved::warnings`] names the ones that
//!   were set. A profile chosen by `REIMAGE_PROFILE`, `default_profile` or the name `default`
//!   keeps the order of the table. Flags still come first.
//! - **One credential comes whole from one place.** An access key from the environment with a
//!   secret key from a profile (or a user name from one and a password from the other) is
//!   refused by [`Resolved::ecs_auth`] and [`Resolved::edis_credentials`], never mixed: the two
//!   halves may belong to different accounts. A flag (`--password-file`, `--secret-key-file`)
//!   completes the credential of either place.
//! - **Secrets come from files, stdin, the environment or the profile, never from a flag's
//!   value.** A `*_file` flag of `-` reads stdin, and at most one of them may. A secret file
//!   holds at most [`MAX_SECRET_SIZE`] bytes of UTF-8; one trailing newline is removed. A
//!   profile's secret file is read only when nothing before it gives that secret.
//!
//! Endpoints are returned without a trailing slash; the IAM endpoint without `/v3` (the IAM
//! token request appends `/v3/auth/tokens`), and the EDIS auth URL without
//! [`EDIS_AUTH_PATH`]. A region builds the public endpoints of its [`Cloud`]:
//! `https://ecs.eu-de.otc.t-systems.com` and `https://iam.eu-de.otc.t-systems.com` for `otc` and
//! `eu-de`, `https://ecs.ap-southeast-1.myhuaweicloud.com` for `huawei` and `ap-southeast-1`.
//!
//! # The config file
//!
//! It is `--config`, else `REIMAGE_CONFIG`, else `$XDG_CONFIG_HOME/reimage/config.toml` (when
//! `XDG_CONFIG_HOME` is an absolute path), else `~/.config/reimage/config.toml`. A missing default
//! file is an empty config; a missing file that was named is an error. It is TOML, UTF-8, at most
//! 1 MiB: an optional `default_profile` at the top, and one `[profiles.NAME]` table per profile,
//! whose keys are all optional strings. Every key, across four profiles:
//!
//! ```toml
//! # The profile used when neither --profile nor REIMAGE_PROFILE names one. Without it, a
//! # profile named "default" is used if there is one, else none.
//! default_profile = "otc-prod"
//!
//! # ECS on Open Telekom Cloud with an IAM user: a token is fetched with the password.
//! [profiles.otc-prod]
//! cloud = "otc"              # huawei (the default) or otc: the public endpoints a region gives
//! region = "eu-de"           # 2 to 32 lowercase letters, digits and hyphens
//! project_id = "0123456789abcdef0123456789abcdef"
//! domain = "OTC-EU-DE-00000000001000000001"  # the IAM domain (account) name
//! username = "alice"
//! password_file = "~/.config/reimage/otc-prod.password"  # or password = "...", not both
//! ca_file = "corp-ca.pem"    # extra CA certificates (PEM), for a TLS-inspecting proxy
//!
//! # ECS on Huawei Cloud with a temporary access key: every request is signed.
//! [profiles.huawei-aksk]
//! endpoint = "https://ecs.ap-southeast-1.myhuaweicloud.com"
//! iam_endpoint = "https://iam.ap-southeast-1.myhuaweicloud.com/v3"  # with or without /v3
//! project_name = "ap-southeast-1"  # scopes an IAM token when there is no project_id
//! access_key = "AKEXAMPLE0123456789"
//! secret_key_file = "secrets/huawei.sk"  # or secret_key = "...", not both
//! security_token = "temporary-security-token"  # only with a temporary access key
//!
//! # EDIS Global KVM.
//! [profiles.edis]
//! edis_email = "ops@example.com"
//! edis_password_file = "~/.config/reimage/edis.password"  # or edis_password, not both
//! edis_auth_url = "https://session.edisglobal.com/kvm/v2/get/auth"  # or just its base
//!
//! # The local emulator, with its made-up secrets inline: then chmod 600 this file.
//! [profiles.lab]
//! endpoint = "http://127.0.0.1:8080"  # with no IAM endpoint or region, IAM is here too
//! domain = "lab-domain"
//! username = "lab-user"
//! password = "Lab-Passw0rd!"
//! access_key = "LABAK"
//! secret_key = "lab-secret-key"
//! edis_email = "lab@example.com"
//! edis_password = "lab-edis-password"
//! edis_auth_url = "http://127.0.0.1:8080"
//! ```
//!
//! The `*_file` and `ca_file` paths of a profile may start with `~/`; relative ones are relative
//! to the config file's directory. A profile may not set a secret both inline and as a file. An
//! unknown key is refused with the nearest known one (`"pasword"`: did you mean `"password"`?),
//! a value that is not a string and a syntax error (at line and column) too. On unix, a file
//! that holds a secret inline and that group or others may read gives a warning.
//!
//! # Errors and secrets
//!
//! Every error is a [`ConfigError`] whose `Display` is one line: what (a flag, variable, profile
//! key or file), the problem, and the fix. **No secret value ever reaches an error, a warning or
//! `Debug` output**: secrets are `secrecy::SecretString`s from the moment they are read, and
//! errors about them name only where they came from. Nothing is printed: warnings are returned
//! in [`Resolved::warnings`] for the caller to show.
//!
//! An unknown key of the config file is named with the known key nearest to it, if it looks like
//! a typo ([`text::closest`], which the fleet plan of `reimage-fleet` uses too).
//!
//! A config file given to [`resolve`], with the profile named explicitly:
//!
//! ```
//! use reimage_config::{Env, Flags, resolve};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("reimage-config-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let file = dir.join("config.toml");
//! std::fs::write(
//!     &file,
//!     "[profiles.lab]\nendpoint = \"http://127.0.0.1:8080/\"\nedis_email = \"lab@example.com\"\n",
//! )?;
//!
//! let mut flags = Flags::default();
//! flags.config = Some(file);
//! flags.profile = Some("lab".to_owned());
//! let env = Env::from_pairs([("EDIS_EMAIL", "someone-else@example.com")]);
//! let resolved = resolve(&flags, &env, None, &mut std::io::empty());
//! std::fs::remove_dir_all(&dir)?;
//! let resolved = resolved?;
//!
//! assert_eq!(resolved.ecs.endpoint.as_deref(), Some("http://127.0.0.1:8080"));
//! // No IAM endpoint and no region: IAM is the ECS endpoint (one host serving both).
//! assert_eq!(resolved.iam_endpoint()?, "http://127.0.0.1:8080");
//! // --profile beats the environment, and the warning says which variable was not read.
//! assert_eq!(resolved.edis.email.as_deref(), Some("lab@example.com"));
//! assert_eq!(
//!     resolved.warnings,
//!     ["warning: --profile lab was named, so the profile is used and these environment \
//!       variables are not: EDIS_EMAIL"],
//! );
//! # Ok(())
//! # }
//! ```

mod endpoint;
mod env;
mod error;
mod file;
mod resolve;
mod secret;
#[cfg(test)]
mod test_support;
pub mod text;

use std::io;

pub use endpoint::{Cloud, DEFAULT_EDIS_AUTH_BASE, EDIS_AUTH_PATH};
pub use env::{ENV_VARS, Env};
pub use error::ConfigError;
pub use resolve::{EcsAuth, EcsSettings, EdisSettings, Flags, Origin, Resolved, Source, resolve};
pub use secret::{MAX_SECRET_SIZE, read_secret_file, read_secret_source, read_secret_stdin};

/// Resolves every setting the way the `reimage` command line does, from the process: `flags`,
/// then the process's environment ([`Env::from_process`], only the variables of [`ENV_VARS`]),
/// then the selected profile of the config file, found from the home directory
/// ([`std::env::home_dir`]). Stdin is read only when a `*_file` flag is `-`.
///
/// It is [`resolve`] with those three; see there (and the [crate] documentation) for the order
/// of each setting. Nothing is printed: show [`Resolved::warnings`] to the person.
///
/// ```no_run
/// # fn main() -> Result<(), reimage_config::ConfigError> {
/// let mut flags = reimage_config::Flags::default();
/// flags.profile = Some("prod".to_owned());
/// let resolved = reimage_config::infer(&flags)?;
/// for warning in &resolved.warnings {
///     eprintln!("{warning}");
/// }
/// let endpoint = resolved.ecs_endpoint()?;
/// let credentials = resolved.ecs_auth()?;
/// # let _ = (endpoint, credentials);
/// # Ok(())
/// # }
/// ```
pub fn infer(flags: &Flags) -> Result<Resolved, ConfigError> {
    resolve(
        flags,
        &Env::from_process(),
        std::env::home_dir().as_deref(),
        &mut io::stdin(),
    )
}
