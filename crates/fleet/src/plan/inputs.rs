//! The files a plan names, read once each: user data (with a size cap), and the password files,
//! checked by the rules of the provider that uses them and never shown. [`Inputs`] then builds
//! what each target sends.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, RootPassword,
    UserData,
};
use secrecy::{ExposeSecret, SecretString};

use super::{Action, EcsLogin, Plan, Target};

/// A target's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The target's key.
    pub key: String,
    /// What is wrong and the fix. Never a secret.
    pub message: String,
}

/// The files a plan names, each read once and kept by path: 10,000 targets that share one user
/// data file read it once. Password files are checked by the rules of the provider that uses
/// them; their contents are never shown (`Debug` gives counts only).
#[derive(Default)]
pub struct Inputs {
    pub(super) user_data: HashMap<PathBuf, Result<UserData, String>>,
    pub(super) admin: HashMap<PathBuf, Result<AdminPassword, String>>,
    pub(super) root: HashMap<PathBuf, Result<RootPassword, String>>,
    /// The SHA-256 of each user data file read, `sha256:<hex>`, for the fingerprints.
    digests: HashMap<PathBuf, String>,
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
    pub fn load(plan: &Plan) -> (Inputs, Vec<Problem>) {
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
                    let read = crate::user_data::read_user_data_file(path)
                        .map(UserData::from)
                        .map_err(|m| format!("user_data {}: {m}", shown(plan, path)));
                    if let Ok(bytes) = &read {
                        inputs
                            .digests
                            .insert(path.clone(), crate::fingerprint::digest(bytes.as_bytes()));
                    }
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

    /// The digest of the user data file `path` (see [`crate::fingerprint`]), or why there is
    /// none.
    pub(crate) fn user_data_digest(&self, path: &Path) -> Result<&str, String> {
        match (self.digests.get(path), self.user_data.get(path)) {
            (Some(digest), _) => Ok(digest),
            (None, Some(Err(message))) => Err(message.clone()),
            (None, _) => Err(format!(
                "user_data {}: was not loaded (Inputs::load of another plan?)",
                path.display()
            )),
        }
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
    /// bytes, the password a clone). User data validation is [`check`](super::check())'s: run
    /// it first.
    pub fn ecs_reinstall(&self, t: &Target) -> Result<EcsReinstall, String> {
        match &t.action {
            Action::EcsReinstall { login, stop, .. } => {
                Ok(EcsReinstall::new(self.ecs_spec(t, login, *stop)?))
            }
            _ => Err(format!("{} is not an ECS reinstall", t.key)),
        }
    }

    /// What to send for an ECS change-os target (see [`Inputs::ecs_reinstall`]).
    pub fn ecs_change_os(&self, t: &Target) -> Result<EcsChangeOs, String> {
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
    pub fn edis_reinstall(&self, t: &Target) -> Result<EdisReinstall, String> {
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
            if !image.runs_cloud_init() {
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
pub(super) fn cached<T: Clone>(
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
pub(super) fn shown(plan: &Plan, path: &Path) -> String {
    let path = path.strip_prefix(&plan.dir).unwrap_or(path);
    crate::text::one_line(&path.display().to_string()).into_owned()
}

pub(super) fn not_cloud_init(image: &EdisImage) -> String {
    format!(
        "user_data: the image {image} does not run cloud-init (only cloudinit_* images do), so \
         the server would boot without it; choose a cloudinit_* image, or set user_data = \"\" \
         on this target"
    )
}
