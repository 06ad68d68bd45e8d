//! A real SSH endpoint for an ECS server or an EDIS KVM, for end-to-end tests: OpenSSH's `sshd`
//! on a free loopback port, serving the host key of the current install, restarted with the new
//! one when a reinstall or change of OS ends (the next time the emulator settles its jobs).
//!
//! While a server or KVM has one, its address reads `127.0.0.1` in its details, so that a
//! client dials loopback and never the fixture's documentation address. (Debian's `sshd` wants
//! `/run/sshd`: it is created when missing, which works when the emulator runs as root.) `sshd` runs in the
//! foreground (`-D -e`) with a configuration of its own in a temporary directory: no PAM, the
//! given `authorized_keys`, no passwords. It is killed when the emulator is dropped or reset.

use std::io::{self, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reimage_hostkeys::keys::{HostKeyPair, fingerprint};
use secrecy::ExposeSecret as _;

/// The address a server's SSH endpoint listens on.
pub(crate) const LOOPBACK: &str = "127.0.0.1";

/// A running `sshd` for one server.
#[derive(Debug)]
pub(crate) struct SshEndpoint {
    pub(crate) server_id: String,
    pub(crate) port: u16,
    /// The fingerprint of the host key it serves.
    pub(crate) serving: String,
    sshd: PathBuf,
    dir: PathBuf,
    child: Child,
}

impl SshEndpoint {
    /// Starts `sshd` for `server_id` with `key`, letting `authorized_keys` log in.
    pub(crate) fn start(
        sshd: &Path,
        server_id: &str,
        key: &HostKeyPair,
        authorized_keys: &str,
    ) -> io::Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "reimage-emulator-sshd-{}-{server_id}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        write_private(
            &dir.join("authorized_keys"),
            authorized_keys.as_bytes(),
            0o600,
        )?;
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress {LOOPBACK}\nHostKey {}\nUsePAM no\nPidFile none\n\
                 StrictModes no\nAuthorizedKeysFile {}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
                dir.join("host_key").display(),
                dir.join("authorized_keys").display()
            ),
        )?;
        let child = spawn(sshd, &dir, key)?;
        let mut endpoint = Self {
            server_id: server_id.to_owned(),
            port,
            serving: fingerprint(&key.public()),
            sshd: sshd.to_owned(),
            dir,
            child,
        };
        endpoint.wait_listening()?;
        Ok(endpoint)
    }

    /// Serves `key` instead: `sshd` stopped and started again on the same port.
    pub(crate) fn restart(&mut self, key: &HostKeyPair) -> io::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.sshd, &self.dir, key)?;
        self.serving = fingerprint(&key.public());
        self.wait_listening()
    }

    /// The process id of `sshd`, for a test to stop it should the emulator not get to.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_listening(&mut self) -> io::Result<()> {
        let started = Instant::now();
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "sshd exited at once ({status}); run it by hand with -d -f {} to see why",
                    self.dir.join("sshd_config").display()
                )));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::other("sshd did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SshEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(sshd: &Path, dir: &Path, key: &HostKeyPair) -> io::Result<Child> {
    let private = key
        .private_openssh()
        .map_err(|e| io::Error::other(e.to_string()))?;
    write_private(
        &dir.join("host_key"),
        private.expose_secret().as_bytes(),
        0o600,
    )?;
    // Debian's sshd wants its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    Command::new(sshd)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)
}
