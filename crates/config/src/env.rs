//! [`Env`]: the environment variables reimage reads, and nothing else of the process
//! environment.

use std::collections::BTreeMap;
use std::fmt;

use crate::ConfigError;

/// The environment variables `reimage` reads. [`Env::from_process`] reads these and no others;
/// [`resolve`](crate::resolve) says which setting each one gives.
pub const ENV_VARS: &[&str] = &[
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

/// The environment variables `reimage` reads, as a plain map so tests can make one up:
/// [`Env::from_process`] is the real one, [`Env::from_pairs`] a made-up one, and
/// [`Env::default`] an empty one.
///
/// An empty variable counts as unset (`OS_PASSWORD=` means no password). `Debug` shows the
/// names only, never the values: some of them are secrets.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    not_unicode: Vec<String>,
}

impl Env {
    /// Reads the variables in [`ENV_VARS`] from the process, and no others.
    pub fn from_process() -> Self {
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
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
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
    pub fn get(&self, name: &str) -> Result<Option<&str>, ConfigError> {
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
