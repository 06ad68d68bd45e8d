//! A `known_hosts` file read, updated with [`known_hosts::update`](crate::known_hosts::update)
//! and written atomically: a temporary file in the same directory, written, flushed to disk
//! (`fsync`), renamed over the old one, and the directory flushed; a crash leaves the old file
//! or the new one, never half of either. The file keeps its permissions (a new one gets 0600).
//!
//! Two writers of one file at once are not serialised here: the last rename wins, and the
//! caller that runs several (a fleet) goes through one writer.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ssh_key::PublicKey;
use ssh_key::rand_core::OsRng;

use crate::known_hosts::{Host, Naming, Updated, update};

/// A `known_hosts` file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: {action}: {source}; check that the file and its directory are writable, or pass --known-hosts none"
)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What was being done (`reading`, `writing a temporary file`, `renaming`).
    pub action: &'static str,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

/// Removes the entries of `hosts` from the file at `path` and adds `keys` (verified keys only),
/// naming them as `naming` says; a missing file (and its directory) is created. Returns what
/// was done.
///
/// # Errors
///
/// When the file cannot be read or the new one cannot be written; the old file is then as it was.
pub fn update_file(
    path: &Path,
    hosts: &[Host],
    keys: &[PublicKey],
    naming: Naming,
) -> Result<Updated, FileError> {
    // A symbolic link is followed: the file it names is replaced, the link stays.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let fail = |action: &'static str| {
        let target = target.clone();
        move |source: io::Error| FileError {
            path: target,
            action,
            source,
        }
    };
    let existing = match fs::read(&target) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(fail("reading")(e)),
    };
    let updated = update(&existing, hosts, keys, naming, &mut OsRng);
    write_atomically(&target, &updated.bytes).map_err(fail("writing"))?;
    Ok(updated)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, `fsync` and
/// `rename`, keeping the old file's permissions.
///
/// # Errors
///
/// When any step fails; the temporary file is removed and `path` is untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "known_hosts".to_owned());
    // One name per process and call: two writers in one process never share a temporary file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{name}.reimage-{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        set_permissions(&file, path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        // The rename itself is durable once the directory is.
        if let Ok(dir) = fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(unix)]
fn set_permissions(file: &fs::File, old: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(old).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_permissions(_file: &fs::File, _old: &Path) -> io::Result<()> {
    Ok(())
}
