//! The stages after an ECS target's job in `fleet apply` (`wait = "ssh"` or `"cloud-init"`):
//! the parts that are the fleet's own. The stages themselves are `reimage_client::after`'s,
//! the same as the command line's; here are the one [`KnownHostsWriter`] of a run, and what the
//! journal keeps of a verified key and of cloud-init's verdict.

use std::path::{Path, PathBuf};

use reimage_hostkeys::console::{BootConsole, LoggedProblem};
use reimage_hostkeys::known_hosts::{Host, Naming};
use reimage_hostkeys::{PublicKey, keys};
use tokio::sync::Mutex;

use crate::journal::{CloudInitVerdict, HostKeyPrint};
use crate::text::one_line;

/// The one writer of known_hosts files in a run: every target's verified keys go through it,
/// one update at a time (read, edit, write to a temporary file, fsync, rename), so that targets
/// finishing together never lose each other's lines.
#[derive(Debug, Default)]
pub struct KnownHostsWriter {
    turn: Mutex<()>,
}

/// What one update changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    /// Stale entries of the host removed.
    pub removed: usize,
    /// Verified keys added.
    pub added: usize,
}

impl KnownHostsWriter {
    /// A writer with nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the entries of `address` port `port` in `path` by the verified `keys`, every
    /// other line kept byte for byte; after every update asked for before it.
    ///
    /// # Errors
    ///
    /// One line: the file could not be read or written.
    pub async fn update(
        &self,
        path: &Path,
        address: &str,
        port: u16,
        keys: &[PublicKey],
    ) -> Result<Updated, String> {
        let _turn = self.turn.lock().await;
        let path: PathBuf = path.to_owned();
        let host = Host::new(address, port);
        let keys = keys.to_vec();
        let done = tokio::task::spawn_blocking(move || {
            reimage_hostkeys::file::update_file(
                &path,
                std::slice::from_ref(&host),
                &keys,
                Naming::Auto,
            )
        })
        .await
        .map_err(|e| format!("the known_hosts update did not finish: {e}"))?
        .map_err(|e| e.to_string())?;
        Ok(Updated {
            removed: done.removed,
            added: done.added,
        })
    }
}

/// What the journal keeps of verified host keys: type and fingerprint.
pub fn prints(verified: &[PublicKey]) -> Vec<HostKeyPrint> {
    verified
        .iter()
        .map(|k| HostKeyPrint::new(keys::keygen_type(&k.algorithm()), keys::fingerprint(k)))
        .collect()
}

/// cloud-init's verdict on the console of `boot`: its errors, one line each.
pub fn verdict(boot: &BootConsole) -> CloudInitVerdict {
    CloudInitVerdict::new(boot.errors().iter().map(|p| error_text(p)).collect())
}

/// A problem from the console, on one line with its control characters escaped.
fn error_text(p: &LoggedProblem) -> String {
    match &p.failed_module {
        Some(module) => format!("module {} failed", one_line(module)),
        None => format!(
            "{} ({}): {}",
            p.level,
            one_line(&p.source),
            one_line(&p.message)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use reimage_hostkeys::console;
    use reimage_hostkeys::rand_core::OsRng;

    use super::*;

    fn key() -> PublicKey {
        keys::HostKeyPair::generate(&mut OsRng, "root@test")
            .expect("key")
            .public()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_targets_through_the_one_writer_lose_no_line() {
        let dir = std::env::temp_dir().join(format!("reimage-kh-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("known_hosts");
        std::fs::write(&file, "# kept\n").expect("seed");
        let writer = Arc::new(KnownHostsWriter::new());
        let keys: Vec<PublicKey> = (0..24).map(|_| key()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (n, key) in keys.iter().enumerate() {
            let writer = writer.clone();
            let file = file.clone();
            let key = key.clone();
            let port = 2000 + u16::try_from(n).expect("port");
            tasks.spawn(async move { writer.update(&file, "127.0.0.1", port, &[key]).await });
        }
        while let Some(done) = tasks.join_next().await {
            let updated = done.expect("task").expect("update");
            assert_eq!(updated.added, 1);
        }
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(text.starts_with("# kept\n"), "{text}");
        for (n, key) in keys.iter().enumerate() {
            let blob = key.to_openssh().expect("openssh");
            let blob = blob.split(' ').nth(1).expect("base64");
            let line = text
                .lines()
                .find(|l| l.contains(blob))
                .unwrap_or_else(|| panic!("key {n} missing in\n{text}"));
            assert!(
                line.starts_with(&format!("[127.0.0.1]:{} ", 2000 + n)),
                "{line}"
            );
        }
        assert_eq!(text.lines().count(), 25, "{text}");
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn the_verdict_lists_failed_modules_on_one_line() {
        let boot = console::read(
            "Linux version 6.1\n2026-12-07 04:09:58,120 - cc_x.py[ERROR]: bad\u{1b}[2J\n",
        );
        let verdict = verdict(&boot);
        assert_eq!(verdict.status, "error");
        assert_eq!(
            verdict.errors,
            vec!["ERROR (cc_x.py): bad\\u{1b}[2J".to_owned()]
        );
        let clean = super::verdict(&console::read("Linux version 6.1\n"));
        assert_eq!(clean.status, "done");
        assert!(clean.errors.is_empty());
    }
}
