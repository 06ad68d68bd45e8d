//! The host keys a server presents, read with OpenSSH's own `ssh-keyscan`: the real client's
//! key exchange, every host key type the server offers, nothing kept.

use std::process::Command;
use std::time::Duration;

use ssh_key::PublicKey;

/// Why the keys could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// `ssh-keyscan` could not be started.
    #[error(
        "ssh-keyscan could not be started ({0}); install OpenSSH's client (Debian: openssh-client)"
    )]
    NotInstalled(std::io::Error),
    /// The server presented no key (not listening yet, or not an SSH server).
    #[error("{0} presented no SSH host key (not answering yet, or not an SSH server)")]
    NoKeys(String),
}

/// Reads the host keys that `address` presents on `port`, each connection within `timeout`.
///
/// # Errors
///
/// [`ScanError`]: `ssh-keyscan` is missing, or the server presented nothing.
pub fn keyscan(address: &str, port: u16, timeout: Duration) -> Result<Vec<PublicKey>, ScanError> {
    let output = Command::new("ssh-keyscan")
        .arg("-T")
        .arg(timeout.as_secs().max(1).to_string())
        .arg("-p")
        .arg(port.to_string())
        .arg("--")
        .arg(address)
        .output()
        .map_err(ScanError::NotInstalled)?;
    let keys = parse(&String::from_utf8_lossy(&output.stdout));
    if keys.is_empty() {
        return Err(ScanError::NoKeys(format!("{address} port {port}")));
    }
    Ok(keys)
}

/// Reads `ssh-keyscan`'s output: `HOST TYPE KEY` lines; comments skipped.
pub fn parse(output: &str) -> Vec<PublicKey> {
    output
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(_, key)| PublicKey::from_openssh(key.trim()).ok())
        .collect()
}
