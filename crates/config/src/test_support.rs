//! What the unit tests share: a temporary home directory with a config file in it, and a
//! config file with three profiles.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{ConfigError, Env, Flags, Resolved, resolve};

/// A directory under the system temp dir, removed on drop. It serves as the home directory,
/// so messages show `~/…` rather than this machine's paths.
pub(crate) struct TempHome(PathBuf);

impl TempHome {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `~/.config/reimage/config.toml` with mode 600 and returns its path.
    pub(crate) fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join(".config/reimage/config.toml");
        self.write(&path, text.as_bytes());
        path
    }

    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
        set_mode(path, 0o600);
    }

    pub(crate) fn resolve(
        &self,
        flags: &Flags,
        env: &[(&str, &str)],
    ) -> Result<Resolved, ConfigError> {
        resolve(
            flags,
            &Env::from_pairs(env.iter().copied()),
            Some(self.path()),
            &mut io::empty(),
        )
    }

    pub(crate) fn error(&self, flags: &Flags, env: &[(&str, &str)]) -> String {
        self.resolve(flags, env).unwrap_err().to_string()
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
pub(crate) fn set_mode(_path: &Path, _mode: u32) {}

pub(crate) const FULL: &str = r#"
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
