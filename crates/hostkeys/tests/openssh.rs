//! Real OpenSSH judges: `ssh-keygen -H` hashes entries that [`update_file`] must find,
//! `ssh-keygen -F` must find what it writes, `ssh-keygen -l` agrees with our fingerprint lines,
//! and `ssh-keyscan` against a real `sshd` on loopback reads the key we gave it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reimage_hostkeys::file::update_file;
use reimage_hostkeys::keys::{HostKeyPair, keygen_line};
use reimage_hostkeys::known_hosts::{Host, Naming, keys_of};
use reimage_hostkeys::rand_core::OsRng;
use reimage_hostkeys::scan::keyscan;
use secrecy::ExposeSecret;

struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("reimage-hostkeys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .output()
        .expect("ssh-keygen (openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn public_file(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    keygen(&[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        name,
        "-f",
        path.to_str().unwrap(),
    ]);
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public)
}

#[test]
fn entries_hashed_by_ssh_keygen_are_replaced_and_ssh_keygen_finds_the_new_key() {
    let temp = Temp::new("hashed");
    let (_, old) = public_file(&temp.0, "old");
    let (_, other) = public_file(&temp.0, "other");
    let blob = |line: &str| line.split_whitespace().nth(1).unwrap().to_owned();
    let file = temp.0.join("known_hosts");
    std::fs::write(
        &file,
        format!("[127.0.0.1]:2222 {old}127.0.0.1 {old}other.example {other}"),
    )
    .unwrap();
    // Hash every name, as `HashKnownHosts yes` users have them.
    keygen(&["-q", "-H", "-f", file.to_str().unwrap()]);
    let hashed = std::fs::read_to_string(&file).unwrap();
    assert!(hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
    let new = HostKeyPair::generate(&mut OsRng, "root@web-1")
        .unwrap()
        .public();
    let host = Host::new("127.0.0.1", 2222);
    let done = update_file(
        &file,
        std::slice::from_ref(&host),
        std::slice::from_ref(&new),
        Naming::Auto,
    )
    .unwrap();
    assert_eq!(done.removed, 1);
    assert!(done.hashed);
    let after = std::fs::read_to_string(&file).unwrap();
    // The two other lines are kept byte for byte, in their order.
    let kept: Vec<&str> = hashed.lines().skip(1).collect();
    assert_eq!(after.lines().take(2).collect::<Vec<_>>(), kept);
    // OpenSSH finds the new key, and only it, for the host; the others are still there.
    let found = keygen(&["-F", "[127.0.0.1]:2222", "-f", file.to_str().unwrap()]);
    let new_blob = blob(&new.to_openssh().unwrap());
    assert!(found.contains(&new_blob), "{found}");
    assert!(!found.contains(&blob(&old)), "{found}");
    assert!(keygen(&["-F", "127.0.0.1", "-f", file.to_str().unwrap()]).contains(&blob(&old)));
    assert!(keygen(&["-F", "other.example", "-f", file.to_str().unwrap()]).contains(&blob(&other)));
    assert_eq!(keys_of(after.as_bytes(), &host).len(), 1);
}

#[test]
fn our_fingerprint_lines_are_ssh_keygen_s() {
    let temp = Temp::new("fp");
    let pair = HostKeyPair::generate(&mut OsRng, "root@web-1").unwrap();
    let path = temp.0.join("key.pub");
    std::fs::write(&path, pair.public().to_openssh().unwrap()).unwrap();
    let theirs = keygen(&["-l", "-f", path.to_str().unwrap()]);
    assert_eq!(theirs.trim_end(), keygen_line(&pair.public()));
}

/// `sshd` as Debian installs it; not on every user's PATH.
fn sshd() -> PathBuf {
    let path = PathBuf::from("/usr/sbin/sshd");
    assert!(
        path.exists(),
        "OpenSSH's server is needed for this test: apt-get install openssh-server (.ci/run does)"
    );
    path
}

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ssh_keyscan_reads_the_key_a_real_sshd_presents() {
    let temp = Temp::new("sshd");
    let pair = HostKeyPair::generate(&mut OsRng, "root@web-1").unwrap();
    let key_file = temp.0.join("host_key");
    std::fs::write(&key_file, pair.private_openssh().unwrap().expose_secret()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let port = free_port();
    let config = temp.0.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nUsePAM no\nPidFile none\nStrictModes no\n\
             AuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
            key_file.display(),
            temp.0.join("authorized_keys").display()
        ),
    )
    .unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(sshd())
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _sshd = Sshd(child);
    let started = Instant::now();
    let keys = loop {
        match keyscan("127.0.0.1", port, Duration::from_secs(2)) {
            Ok(keys) => break keys,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("sshd never answered: {e}"),
        }
    };
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_data(), pair.public().key_data());
    // A port where nothing listens presents nothing.
    assert!(keyscan("127.0.0.1", free_port(), Duration::from_secs(1)).is_err());
}
