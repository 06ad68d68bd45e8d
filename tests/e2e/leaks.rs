//! The leak test: every CLI flow against the emulator, with `RUST_LOG=trace`, `--output json` and
//! `--dry-run`, and sentinel secrets everywhere a secret goes in: the IAM password, the AK/SK
//! secret key and the EDIS password (in the emulator's fixtures, the environment, files, stdin
//! and a config profile), the new OS passwords (ECS `adminpass`, EDIS root password), a password
//! inside user data, wrong and refused passwords, a security token, a proxy's password, a password
//! in an endpoint URL, and secrets on the line of a config file, plan or fixture file that does
//! not parse; and the secrets the emulator makes up, the IAM tokens and the EDIS session
//! signatures, taken from the wire.
//!
//! Every byte between the CLI and the emulator passes through a relay (a few lines of
//! `std::net`) that records it. The test then asserts that each secret is on the wire where it
//! must be (so the scan below is not vacuous), that the secret key and the refused passwords are
//! not on the wire at all, and that no secret is in any other capture: the stdout and stderr of
//! every run (where the trace logs and any panic go), the emulator's own stdout and stderr, its
//! request log and state, and every file the runs left behind (the fleet journal). The one
//! exception is the one the person asks for: `reimage ecs token` prints the token on stdout. A
//! `--dry-run` prints the exact request, user data included, so a password inside user data may
//! be on a dry run's stdout (the docs promise to redact the signature, token and passwords, not
//! the user data).
//!
//! `Debug` and `Display` of the types and errors that hold secrets are checked at the Rust level
//! by the crates' own tests (`crates/core/tests/secret_debug.rs` and the unit tests of the
//! config, auth and emulator crates); this test checks what actually leaves the processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reimage_e2e::{TempDir, binary};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The sentinels. Letters, digits and `-` only (but the one with a control character), so that
// JSON, a form and a URL carry them as they are; every one of them contains "sentinel" (any
// case), which the scan also looks for alone, so that a cut-off secret is caught too.
// ---------------------------------------------------------------------------------------------

/// The IAM user's password (fixtures, `OS_PASSWORD`, `--password-file`, the config profile).
const IAM_PASSWORD: &str = "SENTINEL-iam-pw-7f3a";
/// The AK/SK secret key (fixtures, `HUAWEICLOUD_SDK_SK`, stdin, the config profile).
const SECRET_KEY: &str = "SENTINEL-sk-91c2";
/// The EDIS account password (fixtures, `EDIS_PASSWORD`, stdin, the config profile).
const EDIS_PASSWORD: &str = "SENTINEL-edis-pw-4d1e";
/// The new ECS OS password: ECS's rules want 8 to 26 characters of 3 classes (`-` is a special).
const ADMIN_PASSWORD: &str = "Sentinel-Admin-Pw-1";
/// The new EDIS root password.
const ROOT_PASSWORD: &str = "Sentinel-Root-Pw-2";
/// A password in clear text inside user data (`chpasswd`).
const USER_DATA_PASSWORD: &str = "Sentinel-Ud-Pw-3";
/// A wrong IAM password: sent, refused.
const WRONG_IAM_PASSWORD: &str = "SENTINEL-wrong-iam-pw-0b9d";
/// A wrong secret key: it signs, and is refused; never sent.
const WRONG_SECRET_KEY: &str = "SENTINEL-wrong-sk-5e60";
/// A wrong EDIS password: sent, refused.
const WRONG_EDIS_PASSWORD: &str = "SENTINEL-wrong-edis-pw-c3d2";
/// An ECS admin password that breaks ECS's rules (one character class): refused before sending.
const WEAK_ADMIN_PASSWORD: &str = "sentinelweakpassword";
/// An EDIS root password with a control character: refused before sending.
const BAD_ROOT_PASSWORD: &str = "Sentinel-Bad-Root\u{7}Pw";
/// The security token of temporary AK/SK credentials (`HUAWEICLOUD_SDK_SECURITY_TOKEN`).
const SECURITY_TOKEN: &str = "SENTINEL-sts-token-3e7a";
/// A password in an endpoint URL's user info: refused, and never sent.
const URL_PASSWORD: &str = "SENTINEL-url-pw-8c1f";
/// The password of a proxy in `HTTPS_PROXY` and `ALL_PROXY` (every run has them; plain HTTP to
/// loopback never uses a proxy).
const PROXY_PASSWORD: &str = "SENTINEL-proxy-pw-2a6b";

/// Where a secret must be on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnWire {
    /// Sent: it must be in the wire capture.
    Must,
    /// Never sent (a key that only signs, a password refused before sending).
    Never,
}

/// The static sentinels: label, value, and whether the wire must carry it.
const SENTINELS: &[(&str, &str, OnWire)] = &[
    ("iam-password", IAM_PASSWORD, OnWire::Must),
    ("secret-key", SECRET_KEY, OnWire::Never),
    ("edis-password", EDIS_PASSWORD, OnWire::Must),
    ("admin-password", ADMIN_PASSWORD, OnWire::Must),
    ("root-password", ROOT_PASSWORD, OnWire::Must),
    ("user-data-password", USER_DATA_PASSWORD, OnWire::Must),
    ("wrong-iam-password", WRONG_IAM_PASSWORD, OnWire::Must),
    ("wrong-secret-key", WRONG_SECRET_KEY, OnWire::Never),
    ("wrong-edis-password", WRONG_EDIS_PASSWORD, OnWire::Must),
    ("weak-admin-password", WEAK_ADMIN_PASSWORD, OnWire::Never),
    ("bad-root-password", BAD_ROOT_PASSWORD, OnWire::Never),
    ("security-token", SECURITY_TOKEN, OnWire::Must),
    ("url-password", URL_PASSWORD, OnWire::Never),
    ("proxy-password", PROXY_PASSWORD, OnWire::Never),
];

/// The label of the IAM tokens (each gets ` #n`), which `ecs token` may print.
const TOKEN: &str = "iam-token";
/// The label of the EDIS session signatures (each gets ` #n`).
const SIGNATURE: &str = "edis-signature";
/// The label a dry run with user data may show.
const USER_DATA: &str = "user-data-password";

// ---------------------------------------------------------------------------------------------
// The emulator's world: the default fixtures' ids, plus servers and KVMs of this test's own.
// ---------------------------------------------------------------------------------------------

const PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
const ACCESS_KEY: &str = "REIMAGEEMULATORAK";
const IAM_USER: &str = "admin";
const IAM_DOMAIN: &str = "emulator";
const EDIS_EMAIL: &str = "demo@example.com";

const IMAGE_DEBIAN: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
const IMAGE_UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";

/// Stopped; AK/SK: reinstall, job, dry runs.
const SERVER_1: &str = "11111111-2222-3333-4444-555555555555";
/// Stopped; AK/SK: change of OS, stop, start.
const SERVER_2: &str = "22222222-3333-4444-5555-666666666666";
/// Running; IAM: reinstall with stop.
const SERVER_RUNNING: &str = "33333333-4444-5555-6666-777777777777";
/// Locked: ECS refuses it.
const SERVER_LOCKED: &str = "44444444-5555-6666-7777-888888888888";
/// Stopped; IAM: change of OS, stop, start.
const SERVER_IAM: &str = "55555555-6666-7777-8888-999999999999";
/// The fleet's two ECS servers.
const SERVER_FLEET_1: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const SERVER_FLEET_2: &str = "77777777-8888-9999-aaaa-bbbbbbbbbbbb";
/// The faults' two ECS servers.
const SERVER_FAULT_1: &str = "88888888-9999-aaaa-bbbb-cccccccccccc";
const SERVER_FAULT_2: &str = "99999999-aaaa-bbbb-cccc-dddddddddddd";
/// Stopped; AK/SK: a reinstall with `--wait=cloud-init` against a real `sshd`.
const SERVER_HOST_KEYS: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
/// An id of no server.
const SERVER_UNKNOWN: &str = "abcdefab-cdef-4abc-8def-abcdefabcdef";

/// On; power, status, images.
const KVM_1: &str = "kvm_100001_200001";
/// Off; reinstall.
const KVM_2: &str = "kvm_100002_200002";
/// The fleet's KVM.
const KVM_FLEET: &str = "kvm_100003_200003";
/// Off; a lost reinstall answer (outcome unknown).
const KVM_FAULT_OFF: &str = "kvm_100004_200004";
/// On; an expired session mid-wait.
const KVM_FAULT_ON: &str = "kvm_100005_200005";
/// Off; a reinstall with `--host-keys inject --wait=ssh` against a real `sshd`.
const KVM_HOST_KEYS: &str = "kvm_100006_200006";

/// The emulator's time scale: an ECS reinstall takes 0.45 s, an EDIS reinstall 1.5 s.
const TIME_SCALE: &str = "0.005";

/// How long one run may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The fixture file: `crates/emulator/fixtures/default.toml`'s structure, with the sentinels as
/// the credentials and more servers and KVMs.
fn fixtures() -> String {
    let mut out = format!(
        r#"[iam]
domain_name = "{IAM_DOMAIN}"
domain_id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

[[iam.users]]
name = "{IAM_USER}"
id = "7e25b1da389f4697a79df3a0e5bd494e"
password = "{IAM_PASSWORD}"
key_pairs = ["KeyPair-350b"]

[[iam.access_keys]]
access_key = "{ACCESS_KEY}"
secret_key = "{SECRET_KEY}"
user = "7e25b1da389f4697a79df3a0e5bd494e"

[ecs]
project_id = "{PROJECT_ID}"
project_name = "eu-de"

[[ecs.images]]
id = "{IMAGE_DEBIAN}"
name = "Debian 12"

[[ecs.images]]
id = "{IMAGE_UBUNTU}"
name = "Ubuntu 24.04"
"#
    );
    let servers = [
        (SERVER_1, false, false),
        (SERVER_2, false, false),
        (SERVER_RUNNING, true, false),
        (SERVER_LOCKED, false, true),
        (SERVER_IAM, false, false),
        (SERVER_FLEET_1, true, false),
        (SERVER_FLEET_2, false, false),
        (SERVER_FAULT_1, false, false),
        (SERVER_FAULT_2, false, false),
        (SERVER_HOST_KEYS, false, false),
    ];
    for (i, (id, running, locked)) in servers.into_iter().enumerate() {
        out.push_str(&format!(
            "\n[[ecs.servers]]\nid = \"{id}\"\nname = \"leak-server-{i}\"\n\
             image = \"{IMAGE_DEBIAN}\"\nrunning = {running}\nlocked = {locked}\n\
             private_ip = \"192.168.0.{}\"\npublic_ip = \"203.0.113.{}\"\n",
            20 + i,
            20 + i
        ));
    }
    out.push_str(&format!(
        "\n[edis]\nemail = \"{EDIS_EMAIL}\"\npassword = \"{EDIS_PASSWORD}\"\n\
         images = [\"cloudinit_debian-bookworm\", \"cloudinit_ubuntu-lts-24-04\", \"debian-bullseye\"]\n"
    ));
    let kvms = [
        (KVM_1, true),
        (KVM_2, false),
        (KVM_FLEET, true),
        (KVM_FAULT_OFF, false),
        (KVM_FAULT_ON, true),
        (KVM_HOST_KEYS, false),
    ];
    for (i, (id, on)) in kvms.into_iter().enumerate() {
        out.push_str(&format!(
            "\n[[edis.kvms]]\nid = \"{id}\"\nhostname = \"leak-kvm-{i}\"\n\
             image = \"cloudinit_debian-bookworm\"\npowered_on = {on}\n\
             ipv4 = [\"198.51.100.{}/255.255.255.0\"]\nipv4_gateway = \"198.51.100.1\"\n",
            30 + i
        ));
    }
    out
}

/// Valid user data (warnings only) with a password in clear text: the `plaintext-password` lint
/// must point at it without quoting it.
fn user_data_valid() -> String {
    format!(
        "#cloud-config\nchpasswd:\n  expire: false\n  users:\n    - name: root\n      \
         password: {USER_DATA_PASSWORD}\n      type: text\nssh_pwauth: true\n"
    )
}

/// Invalid user data: the password where cloud-init wants another type. Schema messages must
/// not quote a value under a password key.
fn user_data_schema_error() -> String {
    format!(
        "#cloud-config\nchpasswd:\n  users:\n    - name: root\n      password: [{USER_DATA_PASSWORD}]\n\
         users:\n  - name: ops\n    passwd: {{hash: {USER_DATA_PASSWORD}}}\n    \
         plain_text_passwd: [{USER_DATA_PASSWORD}]\n"
    )
}

/// User data that is not YAML, around the password.
fn user_data_yaml_error() -> String {
    format!("#cloud-config\npassword: \"{USER_DATA_PASSWORD}\n  chpasswd: [\n")
}

// ---------------------------------------------------------------------------------------------
// The relay that records the wire.
// ---------------------------------------------------------------------------------------------

/// One direction of one connection, as it crossed the relay.
#[derive(Debug, Clone)]
struct WireStream {
    /// From the CLI to the emulator.
    to_server: bool,
    bytes: Arc<Mutex<Vec<u8>>>,
}

/// A TCP relay on loopback in front of the emulator; it records every byte, both ways.
struct Relay {
    url: String,
    streams: Arc<Mutex<Vec<WireStream>>>,
}

impl Relay {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let streams: Arc<Mutex<Vec<WireStream>>> = Arc::default();
        let recorded = Arc::clone(&streams);
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let up = WireStream {
                    to_server: true,
                    bytes: Arc::default(),
                };
                let down = WireStream {
                    to_server: false,
                    bytes: Arc::default(),
                };
                recorded.lock().unwrap().extend([up.clone(), down.clone()]);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pipe(client, server, up.bytes);
                pipe(server2, client2, down.bytes);
            }
        });
        Self { url, streams }
    }

    /// Everything recorded so far: (to the server?, bytes) per direction of each connection.
    fn wire(&self) -> Vec<(bool, Vec<u8>)> {
        self.streams
            .lock()
            .unwrap()
            .iter()
            .map(|s| (s.to_server, s.bytes.lock().unwrap().clone()))
            .collect()
    }
}

/// Copies `from` to `to`, recording; at the end of `from`, ends the writing half of `to`.
fn pipe(mut from: TcpStream, mut to: TcpStream, record: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

// ---------------------------------------------------------------------------------------------
// The emulator, run here (not with the shared helper) so that its stdout and stderr are kept.
// ---------------------------------------------------------------------------------------------

struct EmulatorProcess {
    child: Child,
    addr: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl EmulatorProcess {
    fn start(fixtures: &Path) -> Self {
        let mut child = Command::new(binary())
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--time-scale",
                TIME_SCALE,
            ])
            .arg("--fixtures")
            .arg(fixtures)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = drain(child.stderr.take().unwrap());
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let Some(addr) = first.strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!("the emulator did not start: {first:?}\n{}", mask(&err));
        };
        let addr = addr.trim().to_owned();
        let stdout = std::thread::spawn(move || {
            let mut out = first.into_bytes();
            let _ = reader.read_to_end(&mut out);
            out
        });
        Self {
            child,
            addr,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// One admin call over HTTP/1.0 (so the answer is never chunked): status and body.
    fn admin(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        assert!(
            !head.to_ascii_lowercase().contains("transfer-encoding"),
            "{method} {path}: a chunked answer to HTTP/1.0: {head}"
        );
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }

    fn add_fault(&self, rule: &str) {
        let (status, body) = self.admin("POST", "/_emulator/faults", rule);
        assert_eq!(status, 201, "POST /_emulator/faults {rule}: {body}");
    }

    /// Stops the emulator and returns its stdout and stderr.
    fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.map(|h| h.join().unwrap_or_default()).unwrap_or_default())
                .into_owned()
        };
        (text(self.stdout.take()), text(self.stderr.take()))
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Runs of the CLI, and what they leave to scan.
// ---------------------------------------------------------------------------------------------

/// One text to scan, with the labels of the secrets it may hold.
#[derive(Debug)]
struct Capture {
    name: String,
    text: String,
    allowed: Vec<&'static str>,
}

/// What the runs share: where things are, and what they captured.
struct Ctx {
    relay: String,
    home: PathBuf,
    files: PathBuf,
    captures: Mutex<Vec<Capture>>,
    /// The stdout of each `ecs token` run: it must hold a token that crossed the wire.
    printed_tokens: Mutex<Vec<(String, String)>>,
    runs: Mutex<usize>,
    /// The files written for the runs to read (they hold secrets on purpose).
    inputs: Mutex<Vec<PathBuf>>,
    /// The private host keys the emulator generated for a server's installs, as its `sshd`
    /// read them: secrets that must appear nowhere else.
    host_keys: Mutex<Vec<String>>,
}

impl Ctx {
    /// Writes an input file (mode 600) under the files directory; returns its path.
    fn write_input(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.files.join(name);
        write_private(&path, contents);
        self.inputs.lock().unwrap().push(path.clone());
        path
    }

    fn file(&self, name: &str) -> OsString {
        self.files.join(name).into_os_string()
    }

    fn capture(&self, name: impl Into<String>, text: impl Into<String>, allowed: &[&'static str]) {
        self.captures.lock().unwrap().push(Capture {
            name: name.into(),
            text: text.into(),
            allowed: allowed.to_vec(),
        });
    }

    fn ecs(&self, label: &str) -> Flow<'_> {
        self.flow(label, ["ecs", "--endpoint", &self.relay])
    }

    fn edis(&self, label: &str) -> Flow<'_> {
        self.flow(label, ["edis", "--auth-url", &self.relay])
    }

    fn flow<I, S>(&self, label: &str, args: I) -> Flow<'_>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Flow {
            ctx: self,
            label: label.to_owned(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: None,
            stdout_may_hold: Vec::new(),
        }
    }
}

/// A run being set up.
#[must_use]
struct Flow<'a> {
    ctx: &'a Ctx,
    label: String,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    stdout_may_hold: Vec<&'static str>,
}

/// What a run printed.
struct Ran {
    stdout: String,
}

impl Flow<'_> {
    fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn arg_os(mut self, arg: &std::ffi::OsStr) -> Self {
        self.args.push(arg.to_os_string());
        self
    }

    fn env(mut self, pairs: &[(&str, &str)]) -> Self {
        self.env.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    fn aksk(self) -> Self {
        self.env(&[
            ("HUAWEICLOUD_SDK_AK", ACCESS_KEY),
            ("HUAWEICLOUD_SDK_SK", SECRET_KEY),
            ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT_ID),
        ])
    }

    fn iam(self) -> Self {
        let url = format!("{}/v3", self.ctx.relay);
        self.env(&[
            ("OS_USERNAME", IAM_USER),
            ("OS_PASSWORD", IAM_PASSWORD),
            ("OS_USER_DOMAIN_NAME", IAM_DOMAIN),
            ("OS_PROJECT_ID", PROJECT_ID),
            ("OS_AUTH_URL", &url),
        ])
    }

    fn edis_account(self) -> Self {
        self.env(&[("EDIS_EMAIL", EDIS_EMAIL), ("EDIS_PASSWORD", EDIS_PASSWORD)])
    }

    fn stdin(mut self, bytes: &str) -> Self {
        self.stdin = Some(bytes.as_bytes().to_vec());
        self
    }

    /// This run's stdout may hold this secret (its label, or a prefix of labels).
    fn stdout_may_hold(mut self, label: &'static str) -> Self {
        self.stdout_may_hold.push(label);
        self
    }

    /// Runs the binary with `RUST_LOG=trace` in a clean environment, records stdout and stderr,
    /// and checks the exit code (and that nothing panicked).
    fn run(self, code: i32) -> Ran {
        let ctx = self.ctx;
        let proxy = format!("http://leak:{PROXY_PASSWORD}@127.0.0.1:9");
        let mut command = Command::new(binary());
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &ctx.home)
            .env("XDG_CONFIG_HOME", ctx.home.join(".config"))
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env("HTTPS_PROXY", &proxy)
            .env("ALL_PROXY", &proxy)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        let status = loop {
            match child.try_wait().unwrap() {
                Some(status) => break status.code().unwrap_or(-1),
                None if started.elapsed() > RUN_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break -1;
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let stdout = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
        // The command line as messages show it: a secret given in an argument, masked.
        let shown = mask(
            &self
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        );
        *ctx.runs.lock().unwrap() += 1;
        ctx.capture(
            format!("[{}] stdout of `reimage {shown}`", self.label),
            stdout.clone(),
            &self.stdout_may_hold,
        );
        ctx.capture(
            format!("[{}] stderr of `reimage {shown}`", self.label),
            stderr.clone(),
            &[],
        );
        if self.stdout_may_hold.contains(&TOKEN) {
            ctx.printed_tokens
                .lock()
                .unwrap()
                .push((self.label.clone(), stdout.clone()));
        }
        let report = || {
            let tail: String = {
                let chars: Vec<char> = stderr.chars().collect();
                chars[chars.len().saturating_sub(4000)..].iter().collect()
            };
            mask(&format!(
                "[{}] reimage {shown}\nexit {status} in {:.2?}\n--- stdout ---\n{stdout}\n\
                 --- stderr (end) ---\n{tail}",
                self.label,
                started.elapsed()
            ))
        };
        assert!(
            !stderr.contains("panicked at") && status != 101,
            "a panic\n{}",
            report()
        );
        assert_eq!(status, code, "unexpected exit code\n{}", report());
        Ran { stdout }
    }
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", mask(&self.stdout)))
    }
}

/// Replaces every static sentinel by its label, for assertion messages.
fn mask(text: &str) -> String {
    let mut text = text.to_owned();
    for (label, value, _) in SENTINELS {
        text = text.replace(value, &format!("<{label}>"));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The flows.
// ---------------------------------------------------------------------------------------------

/// ECS with AK/SK: token (a usage error), server, reinstall (dry runs and real), job; text and
/// JSON; the secret key from the environment, stdin and the config profile, with and without a
/// security token.
fn ecs_aksk(ctx: &Ctx) {
    let admin = ctx.file("admin.pw");
    let ud = ctx.file("user-data.yaml");
    ctx.ecs("aksk token").aksk().args(["token"]).run(2);
    ctx.ecs("aksk server")
        .aksk()
        .args(["server", "--server", SERVER_1])
        .run(0);
    ctx.ecs("aksk server, SK on stdin")
        .env(&[
            ("HUAWEICLOUD_SDK_AK", ACCESS_KEY),
            ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT_ID),
        ])
        .args(["server", "--server", SERVER_1, "--output", "json"])
        .args(["--secret-key-file", "-"])
        .stdin(SECRET_KEY)
        .run(0);
    ctx.ecs("aksk server, security token")
        .aksk()
        .env(&[("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN)])
        .args(["server", "--server", SERVER_1, "--output", "json"])
        .run(0);
    ctx.ecs("aksk dry run, security token")
        .aksk()
        .env(&[("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN)])
        .args(["change-os", "--server", SERVER_1, "--image", IMAGE_UBUNTU])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--dry-run"])
        .run(0);
    ctx.flow("aksk server, config profile", ["ecs", "server"])
        .args([
            "--profile",
            "aksk",
            "--server",
            SERVER_1,
            "--output",
            "json",
        ])
        .run(0);
    for output in ["text", "json"] {
        ctx.ecs("aksk reinstall dry run")
            .aksk()
            .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
            .arg_os(&admin)
            .args(["--user-data"])
            .arg_os(&ud)
            .args(["--dry-run", "--output", output])
            .stdout_may_hold(USER_DATA)
            .run(0);
    }
    ctx.ecs("aksk reinstall dry run, password on stdin")
        .aksk()
        .args([
            "reinstall",
            "--server",
            SERVER_1,
            "--admin-password-file",
            "-",
        ])
        .args(["--dry-run"])
        .stdin(ADMIN_PASSWORD)
        .run(0);
    let ran = ctx
        .ecs("aksk reinstall")
        .aksk()
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg_os(&admin)
        .args(["--user-data"])
        .arg_os(&ud)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
    let job = ran.json()["job_id"].as_str().unwrap().to_owned();
    ctx.ecs("aksk job").aksk().args(["job", &job]).run(0);
    ctx.ecs("aksk job wait")
        .aksk()
        .args(["job", &job, "--wait", "--output", "json"])
        .run(0);
}

/// ECS with AK/SK, on a second server: change of OS, stop, start; refusals (a locked server, unknown and bad ids, a wrong secret key, a weak password, bad user data).
fn ecs_aksk_change_os(ctx: &Ctx) {
    let admin = ctx.file("admin.pw");
    ctx.ecs("aksk change-os dry run")
        .aksk()
        .args(["change-os", "--server", SERVER_2, "--image", IMAGE_UBUNTU])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--dry-run", "--output", "json"])
        .run(0);
    ctx.ecs("aksk change-os")
        .aksk()
        .args(["change-os", "--server", SERVER_2, "--image", IMAGE_UBUNTU])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
    ctx.ecs("aksk stop")
        .aksk()
        .args(["stop", "--server", SERVER_2, "--wait", "--output", "json"])
        .run(0);
    ctx.ecs("aksk start")
        .aksk()
        .args(["start", "--server", SERVER_2, "--wait"])
        .run(0);
    // Refusals: a lock found before anything is sent (2), and one only ECS can make (1).
    ctx.ecs("aksk locked server")
        .aksk()
        .args([
            "reinstall",
            "--server",
            SERVER_LOCKED,
            "--admin-password-file",
        ])
        .arg_os(&admin)
        .args(["--yes", "--output", "json"])
        .run(2);
    ctx.ecs("aksk key pair not owned")
        .aksk()
        .args([
            "reinstall",
            "--server",
            SERVER_2,
            "--keypair",
            "KeyPair-nope",
            "--user-id",
            "7e25b1da389f4697a79df3a0e5bd494e",
            "--mode",
            "with-stop-server",
        ])
        .args(["--yes", "--output", "json"])
        .run(1);
    ctx.ecs("aksk unknown server")
        .aksk()
        .args(["server", "--server", SERVER_UNKNOWN])
        .run(1);
    ctx.ecs("aksk bad id")
        .aksk()
        .args(["server", "--server", "not-a-server-id"])
        .run(2);
    ctx.ecs("aksk wrong secret key")
        .env(&[
            ("HUAWEICLOUD_SDK_AK", ACCESS_KEY),
            ("HUAWEICLOUD_SDK_SK", WRONG_SECRET_KEY),
            ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT_ID),
        ])
        .args(["server", "--server", SERVER_1, "--output", "json"])
        .run(4);
    ctx.ecs("aksk weak admin password")
        .aksk()
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg_os(&ctx.file("weak.pw"))
        .args(["--yes"])
        .run(2);
    ctx.ecs("aksk invalid user data")
        .aksk()
        .args(["reinstall", "--server", SERVER_1, "--admin-password-file"])
        .arg_os(&admin)
        .args(["--user-data"])
        .arg_os(&ctx.file("schema-error.yaml"))
        .args(["--yes", "--output", "json"])
        .run(3);
    ctx.ecs("aksk user data not YAML")
        .aksk()
        .args(["change-os", "--server", SERVER_1, "--image", IMAGE_UBUNTU])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--user-data"])
        .arg_os(&ctx.file("yaml-error.yaml"))
        .args(["--yes"])
        .run(3);
}

/// ECS with an IAM password: the token (the one command that prints a secret), server,
/// reinstall (dry run and real, with stop); the password from the environment, a file and the
/// config profile.
fn ecs_iam(ctx: &Ctx) {
    let admin = ctx.file("admin.pw");
    let ud = ctx.file("user-data.yaml");
    ctx.ecs("iam token")
        .iam()
        .args(["token"])
        .stdout_may_hold(TOKEN)
        .run(0);
    ctx.ecs("iam token json")
        .iam()
        .args(["token", "--output", "json"])
        .stdout_may_hold(TOKEN)
        .run(0);
    ctx.flow("iam token, config profile", ["ecs", "token"])
        .args(["--profile", "iam"])
        .stdout_may_hold(TOKEN)
        .run(0);
    let url = format!("{}/v3", ctx.relay);
    ctx.ecs("iam token, password file")
        .env(&[
            ("OS_USERNAME", IAM_USER),
            ("OS_USER_DOMAIN_NAME", IAM_DOMAIN),
            ("OS_PROJECT_ID", PROJECT_ID),
            ("OS_AUTH_URL", &url),
        ])
        .args(["token", "--output", "json", "--password-file"])
        .arg_os(&ctx.file("iam.pw"))
        .stdout_may_hold(TOKEN)
        .run(0);
    ctx.ecs("iam server")
        .iam()
        .args(["server", "--server", SERVER_RUNNING, "--output", "json"])
        .run(0);
    ctx.ecs("iam reinstall dry run")
        .iam()
        .args([
            "reinstall",
            "--server",
            SERVER_RUNNING,
            "--mode",
            "with-stop-server",
        ])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--user-data"])
        .arg_os(&ud)
        .args(["--dry-run", "--output", "json"])
        .stdout_may_hold(USER_DATA)
        .run(0);
    ctx.ecs("iam reinstall")
        .iam()
        .args([
            "reinstall",
            "--server",
            SERVER_RUNNING,
            "--mode",
            "with-stop-server",
        ])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--user-data"])
        .arg_os(&ud)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
}

/// ECS with an IAM password, on a second server: change of OS, job, stop, start; wrong
/// passwords (environment, file; `ecs token` among them).
fn ecs_iam_change_os(ctx: &Ctx) {
    let admin = ctx.file("admin.pw");
    let ran = ctx
        .ecs("iam change-os")
        .iam()
        .args(["change-os", "--server", SERVER_IAM, "--image", IMAGE_UBUNTU])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
    let job = ran.json()["job_id"].as_str().unwrap().to_owned();
    ctx.ecs("iam job")
        .iam()
        .args(["job", &job, "--output", "json"])
        .run(0);
    ctx.ecs("iam stop")
        .iam()
        .args([
            "stop", "--server", SERVER_IAM, "--force", "--wait", "--output", "json",
        ])
        .run(0);
    ctx.ecs("iam start")
        .iam()
        .args([
            "start", "--server", SERVER_IAM, "--wait", "--output", "json",
        ])
        .run(0);
    // Refusals.
    ctx.ecs("iam wrong password")
        .iam()
        .env(&[("OS_PASSWORD", WRONG_IAM_PASSWORD)])
        .args(["server", "--server", SERVER_IAM])
        .run(4);
    ctx.ecs("iam wrong password, token")
        .iam()
        .env(&[("OS_PASSWORD", WRONG_IAM_PASSWORD)])
        .args(["token", "--output", "json"])
        .run(4);
    ctx.ecs("iam wrong password file")
        .iam()
        .args(["stop", "--server", SERVER_IAM, "--password-file"])
        .arg_os(&ctx.file("wrong-iam.pw"))
        .run(4);
}

/// EDIS: images, power (shown and switched), status, reinstall (dry run and real), the password
/// from the environment, stdin and the config profile; refusals.
fn edis(ctx: &Ctx) {
    let root = ctx.file("root.pw");
    let ud = ctx.file("user-data.yaml");
    for output in ["text", "json"] {
        ctx.edis("edis images")
            .edis_account()
            .args(["images", "--kvm", KVM_1, "--output", output])
            .run(0);
        ctx.edis("edis power")
            .edis_account()
            .args(["power", "--kvm", KVM_1, "--output", output])
            .run(0);
        ctx.edis("edis status")
            .edis_account()
            .args(["status", "--kvm", KVM_1, "--output", output])
            .run(0);
    }
    for state in ["off", "on", "reset"] {
        ctx.edis("edis power switch")
            .edis_account()
            .args(["power", "--kvm", KVM_1, state, "--output", "json"])
            .run(0);
    }
    ctx.edis("edis status, password on stdin")
        .env(&[("EDIS_EMAIL", EDIS_EMAIL)])
        .args(["status", "--kvm", KVM_1, "--password-file", "-"])
        .stdin(EDIS_PASSWORD)
        .run(0);
    ctx.flow("edis status, config profile", ["edis", "status"])
        .args(["--profile", "edis", "--kvm", KVM_1, "--output", "json"])
        .run(0);
    for output in ["text", "json"] {
        ctx.edis("edis reinstall dry run")
            .edis_account()
            .args([
                "reinstall",
                "--kvm",
                KVM_2,
                "--image",
                "cloudinit_debian-bookworm",
            ])
            .args(["--root-password-file"])
            .arg_os(&root)
            .args(["--user-data"])
            .arg_os(&ud)
            .args(["--dry-run", "--output", output])
            .stdout_may_hold(USER_DATA)
            .run(0);
    }
    ctx.edis("edis reinstall")
        .edis_account()
        .args([
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "cloudinit_ubuntu-lts-24-04",
        ])
        .args(["--root-password-file"])
        .arg_os(&root)
        .args(["--user-data"])
        .arg_os(&ud)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
    ctx.edis("edis reinstall, root password on stdin")
        .edis_account()
        .args(["reinstall", "--kvm", KVM_2, "--image", "debian-bullseye"])
        .args(["--root-password-file", "-", "--dry-run", "--output", "json"])
        .stdin(ROOT_PASSWORD)
        .run(0);
    // Refusals.
    ctx.edis("edis wrong password")
        .env(&[
            ("EDIS_EMAIL", EDIS_EMAIL),
            ("EDIS_PASSWORD", WRONG_EDIS_PASSWORD),
        ])
        .args(["status", "--kvm", KVM_1, "--output", "json"])
        .run(4);
    ctx.edis("edis wrong password file")
        .env(&[("EDIS_EMAIL", EDIS_EMAIL)])
        .args(["power", "--kvm", KVM_1, "--password-file"])
        .arg_os(&ctx.file("wrong-edis.pw"))
        .run(4);
    ctx.edis("edis bad id")
        .edis_account()
        .args(["status", "--kvm", "not-a-kvm"])
        .run(2);
    ctx.edis("edis unknown KVM")
        .edis_account()
        .args(["status", "--kvm", "kvm_999999_999999"])
        .run(1);
    ctx.edis("edis bad root password")
        .edis_account()
        .args([
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .args(["--root-password-file"])
        .arg_os(&ctx.file("bad-root.pw"))
        .args(["--yes"])
        .run(2);
    ctx.edis("edis invalid user data")
        .edis_account()
        .args([
            "reinstall",
            "--kvm",
            KVM_2,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .args(["--root-password-file"])
        .arg_os(&root)
        .args(["--user-data"])
        .arg_os(&ctx.file("schema-error.yaml"))
        .args(["--yes", "--output", "json"])
        .run(3);
}

/// The fleet: check, apply, status, apply again, with the credentials from config profiles.
fn fleet(ctx: &Ctx) {
    let plan = ctx.files.join("fleet").join("plan.toml");
    for output in ["text", "json"] {
        ctx.flow("fleet check", ["fleet", "check"])
            .arg_os(plan.as_os_str())
            .args(["--output", output])
            .run(0);
    }
    ctx.flow("fleet apply", ["fleet", "apply"])
        .arg_os(plan.as_os_str())
        .args([
            "--yes",
            "--poll-ms",
            "50",
            "--rate",
            "100",
            "--output",
            "json",
        ])
        .run(0);
    for output in ["text", "json"] {
        ctx.flow("fleet status", ["fleet", "status"])
            .arg_os(plan.as_os_str())
            .args(["--output", output])
            .run(0);
    }
    ctx.flow("fleet apply again", ["fleet", "apply"])
        .arg_os(plan.as_os_str())
        .args(["--yes", "--poll-ms", "50"])
        .run(0);
}

/// `reimage validate` on user data with a password in it, and the demo (its own fixtures: only
/// the other sentinels are looked for in what it prints).
fn offline(ctx: &Ctx) {
    for output in ["text", "json", "github", "sarif"] {
        ctx.flow(
            "validate, plaintext password",
            ["validate", "--output", output],
        )
        .arg_os(&ctx.file("user-data.yaml"))
        .run(0);
        ctx.flow("validate, schema error", ["validate", "--output", output])
            .arg_os(&ctx.file("schema-error.yaml"))
            .run(1);
        ctx.flow("validate, not YAML", ["validate", "--output", output])
            .arg_os(&ctx.file("yaml-error.yaml"))
            .run(1);
    }
    ctx.flow("validate, stdin", ["validate", "--provider", "ecs", "-"])
        .stdin(&user_data_valid())
        .run(0);
    for output in ["text", "json"] {
        ctx.flow(
            "demo",
            ["demo", "--time-scale", TIME_SCALE, "--output", output],
        )
        .run(0);
    }
}

/// Secrets where a person may put them by mistake, and files that do not parse: a password in an
/// endpoint URL, a config file that is not TOML on a secret's line, or that others can read; a
/// fixture file and a plan that do not parse.
fn mistakes(ctx: &Ctx) {
    ctx.flow("URL with a password", ["ecs", "--endpoint"])
        .arg_os(format!("http://admin:{URL_PASSWORD}@127.0.0.1:9").as_ref())
        .aksk()
        .args(["server", "--server", SERVER_1])
        .run(2);
    ctx.flow("EDIS URL with a password", ["edis", "--auth-url"])
        .arg_os(format!("http://demo:{URL_PASSWORD}@127.0.0.1:9/kvm/v2/get/auth").as_ref())
        .edis_account()
        .args(["status", "--kvm", KVM_1])
        .run(2);
    let relay = &ctx.relay;
    let good = config_text(relay);
    let configs = [
        (
            "config, URL with a password",
            good.replace(
                &format!("endpoint = \"{relay}\""),
                &format!("endpoint = \"http://admin:{URL_PASSWORD}@127.0.0.1:9\""),
            ),
            2,
        ),
        (
            "config, not TOML on the secret's line",
            good.replace(
                &format!("secret_key = \"{SECRET_KEY}\""),
                &format!("secret_key = \"{SECRET_KEY}\" {SECRET_KEY}"),
            ),
            2,
        ),
        (
            "config, a secret of the wrong type",
            good.replace(
                &format!("secret_key = \"{SECRET_KEY}\""),
                &format!("secret_key = [\"{SECRET_KEY}\"]"),
            ),
            2,
        ),
        (
            "config, a misspelt secret key",
            good.replace(
                &format!("secret_key = \"{SECRET_KEY}\""),
                &format!("secret_kye = \"{SECRET_KEY}\""),
            ),
            2,
        ),
    ];
    for (i, (label, text, code)) in configs.into_iter().enumerate() {
        assert_ne!(text, good, "{label}: the replacement happened");
        let path = ctx.write_input(&format!("config-{i}.toml"), &text);
        ctx.flow(label, ["ecs", "server", "--profile", "aksk", "--config"])
            .arg_os(path.as_os_str())
            .args(["--server", SERVER_1])
            .run(code);
    }
    // Readable by others: a warning, and the runs go on.
    let readable = ctx.file("readable.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let ran = ctx
        .flow(
            "config readable by others",
            ["ecs", "token", "--profile", "iam"],
        )
        .args(["--config"])
        .arg_os(&readable)
        .stdout_may_hold(TOKEN)
        .run(0);
    assert!(!ran.stdout.is_empty());
    ctx.flow(
        "config readable by others, EDIS",
        ["edis", "power", "--profile", "edis"],
    )
    .args(["--kvm", KVM_1, "--config"])
    .arg_os(&readable)
    .run(0);
    // The emulator's fixtures, and a plan, that do not parse.
    let fixtures = fixtures();
    let password = format!("password = \"{IAM_PASSWORD}\"");
    for (i, broken) in [
        format!("{password} {IAM_PASSWORD}"),
        format!("password = [\"{IAM_PASSWORD}\"]"),
        format!("passwd = \"{IAM_PASSWORD}\""),
    ]
    .into_iter()
    .enumerate()
    {
        let broken = fixtures.replace(&password, &broken);
        assert_ne!(broken, fixtures, "the replacement happened");
        let path = ctx.write_input(&format!("fixtures-{i}.toml"), &broken);
        ctx.flow("emulator, fixtures that do not parse", ["emulator"])
            .args(["--listen", "127.0.0.1:0", "--fixtures"])
            .arg_os(path.as_os_str())
            .run(2);
    }
    for (i, defaults) in [
        format!("admin_password = \"{ADMIN_PASSWORD}\""),
        format!("admin_password_file = \"admin.pw\" \"{ADMIN_PASSWORD}\""),
        format!("admin_password_file = [\"{ADMIN_PASSWORD}\"]"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = ctx.write_input(
            &format!("fleet/broken-{i}.toml"),
            &format!("[defaults]\n{defaults}\n\n[[targets]]\necs = \"{SERVER_1}\"\n"),
        );
        ctx.flow("fleet, a plan with a password in it", ["fleet", "check"])
            .arg_os(path.as_os_str())
            .run(2);
    }
}

/// Faults: lost answers (followed, or outcome unknown) and credentials that expire mid-wait.
/// Fault rules match by operation, so the ECS ones and the EDIS ones run apart from the rest.
fn ecs_faults(ctx: &Ctx, emulator: &EmulatorProcess) {
    let admin = ctx.file("admin.pw");
    emulator.add_fault(r#"{"operation": "ecs.reinstallos", "kind": "lost_answer", "calls": [1]}"#);
    ctx.ecs("fault: lost ECS answer")
        .aksk()
        .args([
            "reinstall",
            "--server",
            SERVER_FAULT_1,
            "--admin-password-file",
        ])
        .arg_os(&admin)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
    emulator
        .add_fault(r#"{"operation": "ecs.show_job", "kind": "expire_credentials", "calls": [1]}"#);
    ctx.ecs("fault: token expires mid-wait")
        .iam()
        .args([
            "change-os",
            "--server",
            SERVER_FAULT_2,
            "--image",
            IMAGE_UBUNTU,
        ])
        .args(["--admin-password-file"])
        .arg_os(&admin)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
}

/// The stages after the job against a real `sshd` (the emulator's): the new install's host keys
/// are generated by the emulator, written to the `sshd`'s own key file and nowhere else; the
/// test reads them there (before and after the reinstall) so that the scan can look for them in
/// every capture, the known_hosts file written included.
fn ecs_host_keys(ctx: &Ctx, emulator: &EmulatorProcess) {
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "this test needs OpenSSH's server: apt-get install openssh-server (.ci/run does)"
    );
    let authorized =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40 leak";
    let (status, body) = emulator.admin(
        "POST",
        &format!("/_emulator/ecs/servers/{SERVER_HOST_KEYS}/sshd"),
        &serde_json::json!({ "authorized_keys": authorized }).to_string(),
    );
    assert_eq!(status, 200, "{}", mask(&body));
    let answer: Value = serde_json::from_str(&body).unwrap();
    let port = answer["port"].as_u64().unwrap().to_string();
    let dir = sshd_dir(SERVER_HOST_KEYS, &port);
    let read_key = || key_body(&dir);
    let before = read_key();
    assert!(
        before.len() > 100,
        "a private key: {} characters",
        before.len()
    );
    let known_hosts = ctx.file("known_hosts");
    ctx.ecs("host keys: reinstall --wait=cloud-init")
        .aksk()
        .args([
            "reinstall",
            "--server",
            SERVER_HOST_KEYS,
            "--admin-password-file",
        ])
        .arg_os(&ctx.file("admin.pw"))
        .args([
            "--yes",
            "--wait=cloud-init",
            "--ssh-port",
            &port,
            "--known-hosts",
        ])
        .arg_os(&known_hosts)
        .args(["--output", "json"])
        .run(0);
    let after = read_key();
    assert_ne!(
        before, after,
        "the reinstall gave the server a new host key"
    );
    assert!(Path::new(&known_hosts).exists(), "known_hosts was written");
    ctx.host_keys.lock().unwrap().extend([before, after]);
    // The emulator is killed at the end, before it could stop its sshd.
    let (_, state) = emulator.admin("GET", "/_emulator/state", "");
    let state: Value = serde_json::from_str(&state).unwrap();
    let pid = state["ecs"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == SERVER_HOST_KEYS)
        .and_then(|s| s["ssh_pid"].as_u64());
    if let Some(pid) = pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }

    // EDIS: reimage generates the key and sends it in the user data (on the wire, as it must
    // be), the KVM boots with it; it must be nowhere else. A dry run first: the key it makes is
    // redacted on its stdout.
    let (status, body) = emulator.admin(
        "POST",
        &format!("/_emulator/edis/kvms/{KVM_HOST_KEYS}/sshd"),
        &serde_json::json!({ "authorized_keys": authorized }).to_string(),
    );
    assert_eq!(status, 200, "{}", mask(&body));
    let answer: Value = serde_json::from_str(&body).unwrap();
    let port = answer["port"].as_u64().unwrap().to_string();
    let dir = sshd_dir(KVM_HOST_KEYS, &port);
    let before = key_body(&dir);
    for dry_run in [true, false] {
        let flow = ctx
            .edis("host keys: edis reinstall --host-keys inject")
            .edis_account()
            .args([
                "reinstall",
                "--kvm",
                KVM_HOST_KEYS,
                "--image",
                "cloudinit_debian-bookworm",
            ])
            .args(["--root-password-file"])
            .arg_os(&ctx.file("root.pw"))
            .args(["--user-data"])
            .arg_os(&ctx.file("user-data.yaml"))
            .args(["--host-keys", "inject", "--yes", "--output", "json"]);
        let flow = if dry_run {
            flow.args(["--dry-run"]).stdout_may_hold(USER_DATA)
        } else {
            flow.args(["--wait=ssh", "--ssh-port", &port, "--known-hosts"])
                .arg_os(&ctx.file("known_hosts_edis"))
        };
        flow.run(0);
    }
    let injected = key_body(&dir);
    assert_ne!(before, injected, "the KVM runs the injected key");
    ctx.host_keys.lock().unwrap().push(injected);
    let (_, state) = emulator.admin("GET", "/_emulator/state", "");
    let state: Value = serde_json::from_str(&state).unwrap();
    let pid = state["edis"]["kvms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kvm_id"] == KVM_HOST_KEYS)
        .and_then(|k| k["ssh_pid"].as_u64());
    if let Some(pid) = pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}

/// The emulator's `sshd` directory of server or KVM `id` on `port`.
fn sshd_dir(id: &str, port: &str) -> PathBuf {
    let suffix = format!("-{id}-{port}");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("reimage-emulator-sshd-") && n.ends_with(&suffix))
        })
        .expect("the emulator's sshd directory")
}

/// The base64 body of the private key `sshd` serves, joined: what a leak of it would show.
fn key_body(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("host_key"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat()
}

/// EDIS faults: a lost reinstall answer on a KVM that was off (outcome unknown, exit 6), and a
/// session that expires mid-wait.
fn edis_faults(ctx: &Ctx, emulator: &EmulatorProcess) {
    let root = ctx.file("root.pw");
    emulator.add_fault(r#"{"operation": "edis.reinstall", "kind": "lost_answer", "calls": [1]}"#);
    ctx.edis("fault: lost EDIS answer, outcome unknown")
        .edis_account()
        .args([
            "reinstall",
            "--kvm",
            KVM_FAULT_OFF,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .args(["--root-password-file"])
        .arg_os(&root)
        .args(["--yes", "--wait", "--output", "json"])
        .run(6);
    // The reinstall reads the power twice before it is sent; the third read is the wait's.
    emulator.add_fault(
        r#"{"operation": "edis.get_power", "kind": "expire_credentials", "calls": [3]}"#,
    );
    ctx.edis("fault: session expires mid-wait")
        .edis_account()
        .args([
            "reinstall",
            "--kvm",
            KVM_FAULT_ON,
            "--image",
            "cloudinit_debian-bookworm",
        ])
        .args(["--root-password-file"])
        .arg_os(&root)
        .args(["--yes", "--wait", "--output", "json"])
        .run(0);
}

// ---------------------------------------------------------------------------------------------
// Setup: files, the config, the plan.
// ---------------------------------------------------------------------------------------------

fn write_private(path: &Path, contents: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The files the runs read: passwords, user data, the config file, the fleet plan.
fn setup(ctx: &Ctx) {
    let files = [
        ("admin.pw", ADMIN_PASSWORD.to_owned()),
        ("root.pw", ROOT_PASSWORD.to_owned()),
        ("iam.pw", format!("{IAM_PASSWORD}\n")),
        ("wrong-iam.pw", WRONG_IAM_PASSWORD.to_owned()),
        ("wrong-edis.pw", WRONG_EDIS_PASSWORD.to_owned()),
        ("weak.pw", WEAK_ADMIN_PASSWORD.to_owned()),
        ("bad-root.pw", BAD_ROOT_PASSWORD.to_owned()),
        ("user-data.yaml", user_data_valid()),
        ("schema-error.yaml", user_data_schema_error()),
        ("yaml-error.yaml", user_data_yaml_error()),
        ("readable.toml", config_text(&ctx.relay)),
        ("fleet/admin.pw", ADMIN_PASSWORD.to_owned()),
        ("fleet/root.pw", ROOT_PASSWORD.to_owned()),
        ("fleet/user-data.yaml", user_data_valid()),
        (
            "fleet/plan.toml",
            format!(
                "[defaults]\nadmin_password_file = \"admin.pw\"\nroot_password_file = \"root.pw\"\n\
                 user_data = \"user-data.yaml\"\nmode = \"with-stop-server\"\n\n\
                 [[targets]]\necs = \"{SERVER_FLEET_1}\"\nprofile = \"aksk\"\n\n\
                 [[targets]]\necs = \"{SERVER_FLEET_2}\"\nprofile = \"iam\"\n\
                 operation = \"change-os\"\nimage = \"{IMAGE_UBUNTU}\"\n\n\
                 [[targets]]\nedis = \"{KVM_FLEET}\"\nprofile = \"edis\"\n\
                 image = \"cloudinit_ubuntu-lts-24-04\"\n"
            ),
        ),
    ];
    for (name, contents) in files {
        ctx.write_input(name, &contents);
    }
    let config = ctx.home.join(".config/reimage/config.toml");
    write_private(&config, &config_text(&ctx.relay));
    ctx.inputs.lock().unwrap().push(config);
}

/// The config file: one profile per kind of credentials, each with its sentinel.
fn config_text(relay: &str) -> String {
    format!(
        "[profiles.aksk]\nendpoint = \"{relay}\"\nproject_id = \"{PROJECT_ID}\"\n\
             access_key = \"{ACCESS_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
             security_token = \"{SECURITY_TOKEN}\"\n\n\
             [profiles.iam]\nendpoint = \"{relay}\"\niam_endpoint = \"{relay}/v3\"\n\
             project_id = \"{PROJECT_ID}\"\ndomain = \"{IAM_DOMAIN}\"\nusername = \"{IAM_USER}\"\n\
             password = \"{IAM_PASSWORD}\"\n\n\
             [profiles.edis]\nedis_email = \"{EDIS_EMAIL}\"\nedis_password = \"{EDIS_PASSWORD}\"\n\
             edis_auth_url = \"{relay}\"\n"
    )
}

/// Every file under `dir` (recursively), but those in `skip`.
fn files_left(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_left(&path, skip, out);
        } else if !skip.contains(&path) {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scan.
// ---------------------------------------------------------------------------------------------

/// A secret to look for: its label, its value, and the forms it is looked for in.
struct Secret {
    label: String,
    value: String,
}

impl Secret {
    /// The texts whose presence means the secret leaked: the value itself; its base64, at each
    /// of the three alignments (user data travels in base64); and, for the long random ones
    /// (tokens, signatures), their first and last 20 characters (a cut-off secret).
    fn needles(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("as is", self.value.clone())];
        for shift in 0..3 {
            let needle = base64_core(self.value.as_bytes(), shift);
            if needle.len() >= 8 {
                out.push(("in base64", needle));
            }
        }
        if self.value.len() > 40 {
            out.push(("its start", self.value[..20].to_owned()));
            out.push(("its end", self.value[self.value.len() - 20..].to_owned()));
        }
        out
    }
}

/// The base64 characters that encode `bytes` alone when they start `shift` bytes into a
/// three-byte group, whatever comes before or after them.
fn base64_core(bytes: &[u8], shift: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(bytes);
    let mut chars = Vec::new();
    for group in padded.chunks(3) {
        let mut word = [0u8; 3];
        word[..group.len()].copy_from_slice(group);
        let n = (u32::from(word[0]) << 16) | (u32::from(word[1]) << 8) | u32::from(word[2]);
        for i in 0..4 {
            chars.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    // Characters from bit `start` (the first one after the shift) to the last one that holds
    // only bits of `bytes`.
    let start = (shift * 8).div_ceil(6);
    let end = (padded.len() * 8) / 6;
    String::from_utf8_lossy(&chars[start.min(end)..end]).into_owned()
}

/// The text around `at` (a secret of `len` bytes), with every secret in it masked.
fn context(text: &str, at: usize, len: usize, secrets: &[Secret]) -> String {
    let mut start = at.saturating_sub(60);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + 60).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let mut shown = text[start..end].to_owned();
    for secret in secrets {
        for (_, needle) in secret.needles() {
            shown = shown.replace(&needle, &format!("<{}>", secret.label));
        }
    }
    shown.replace('\n', "\\n")
}

/// The leaks in one capture: every secret it may not hold, in any of its forms; and any
/// "sentinel" that is not the start of a secret it may hold (a cut-off one).
fn scan(capture: &Capture, secrets: &[Secret]) -> Vec<String> {
    let may_hold = |label: &str| capture.allowed.iter().any(|a| label.starts_with(a));
    let mut leaks = Vec::new();
    for secret in secrets.iter().filter(|s| !may_hold(&s.label)) {
        for (form, needle) in secret.needles() {
            if let Some(at) = capture.text.find(&needle) {
                leaks.push(format!(
                    "{}: {} ({form}) at byte {at}: …{}…",
                    capture.name,
                    secret.label,
                    context(&capture.text, at, needle.len(), secrets)
                ));
                break;
            }
        }
    }
    let lower = capture.text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("sentinel") {
        let at = from + found;
        from = at + 1;
        let rest = &capture.text[at..];
        // A whole secret here is allowed, or reported above.
        if !secrets.iter().any(|s| rest.starts_with(&s.value)) {
            leaks.push(format!(
                "{}: something that starts like a sentinel at byte {at}: …{}…",
                capture.name,
                context(&capture.text, at, 8, secrets)
            ));
        }
    }
    leaks
}

/// Every value of a header (case-insensitive name) in these bytes.
fn header_values(bytes: &str, name: &str) -> Vec<String> {
    let lower = bytes.to_ascii_lowercase();
    let needle = format!("\r\n{}:", name.to_ascii_lowercase());
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find(&needle) {
        let start = from + found + needle.len();
        let end = bytes[start..]
            .find("\r\n")
            .map_or(bytes.len(), |e| start + e);
        out.push(bytes[start..end].trim().to_owned());
        from = end;
    }
    out
}

/// Every run of characters that `keep` accepts right after each `prefix` in these bytes.
fn values_after(bytes: &str, prefix: &str, keep: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = bytes[from..].find(prefix) {
        let start = from + found + prefix.len();
        let value: String = bytes[start..].chars().take_while(|&c| keep(c)).collect();
        from = start;
        if !value.is_empty() {
            out.push(value);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

#[test]
fn no_secret_leaves_except_on_the_wire_and_the_token_on_stdout() {
    let work = TempDir::new("leaks");
    let fixture_file = work.path().join("fixtures.toml");
    write_private(&fixture_file, &fixtures());
    let emulator = EmulatorProcess::start(&fixture_file);
    let relay = Relay::start(&emulator.addr);
    let ctx = Ctx {
        relay: relay.url.clone(),
        home: work.path().join("home"),
        files: work.path().join("files"),
        captures: Mutex::default(),
        printed_tokens: Mutex::default(),
        runs: Mutex::new(0),
        inputs: Mutex::default(),
        host_keys: Mutex::default(),
    };
    setup(&ctx);

    // The flows that fault rules do not disturb run side by side (each on its own servers);
    // then the faults, ECS and EDIS side by side.
    std::thread::scope(|s| {
        s.spawn(|| ecs_aksk(&ctx));
        s.spawn(|| ecs_aksk_change_os(&ctx));
        s.spawn(|| ecs_iam(&ctx));
        s.spawn(|| ecs_iam_change_os(&ctx));
        s.spawn(|| edis(&ctx));
        s.spawn(|| fleet(&ctx));
        s.spawn(|| offline(&ctx));
        s.spawn(|| mistakes(&ctx));
        s.spawn(|| ecs_host_keys(&ctx, &emulator));
    });
    std::thread::scope(|s| {
        s.spawn(|| ecs_faults(&ctx, &emulator));
        s.spawn(|| edis_faults(&ctx, &emulator));
    });

    // What the emulator keeps, and the files the runs left behind (the fleet's journal).
    for path in [
        "/_emulator/requests",
        "/_emulator/state",
        "/_emulator/faults",
    ] {
        let (status, body) = emulator.admin("GET", path, "");
        assert_eq!(status, 200, "GET {path}: {}", mask(&body));
        ctx.capture(format!("the emulator's GET {path}"), body, &[]);
    }
    let (_, log) = emulator.admin("GET", "/_emulator/requests", "");
    let log: Value = serde_json::from_str(&log).unwrap();
    let logged = log["requests"].as_array().map_or(0, Vec::len);
    let mut left = Vec::new();
    files_left(work.path(), &ctx.inputs.lock().unwrap(), &mut left);
    assert!(
        left.iter().any(|p| p.ends_with("journal.log")),
        "the fleet journal: {left:?}"
    );
    for path in left.iter().filter(|p| **p != fixture_file) {
        let bytes = std::fs::read(path).unwrap_or_default();
        ctx.capture(
            format!("the file {}", path.display()),
            String::from_utf8_lossy(&bytes),
            &[],
        );
    }
    let (emulator_stdout, emulator_stderr) = emulator.stop();
    assert!(
        emulator_stderr.contains("emulator call"),
        "the emulator's trace log is there: {}",
        mask(&emulator_stderr)
    );
    ctx.capture("the emulator's stdout", emulator_stdout, &[]);
    ctx.capture("the emulator's stderr", emulator_stderr, &[]);

    // The wire: the made-up secrets are taken from it.
    let wire = relay.wire();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut tokens: Vec<String> = Vec::new();
    let mut tokens_sent: Vec<String> = Vec::new();
    let mut signatures: Vec<String> = Vec::new();
    let mut signatures_sent: Vec<String> = Vec::new();
    for (to_server, bytes) in &wire {
        let bytes = text(bytes);
        if *to_server {
            tokens_sent.extend(header_values(&bytes, "x-auth-token"));
            signatures_sent.extend(values_after(&bytes, "signature=", |c| {
                c.is_ascii_alphanumeric()
            }));
        } else {
            tokens.extend(header_values(&bytes, "x-subject-token"));
            signatures.extend(values_after(&bytes, "\"signature\":\"", |c| c != '"'));
        }
    }
    tokens.sort();
    tokens.dedup();
    signatures.sort();
    signatures.dedup();
    assert!(
        tokens.len() >= 10,
        "IAM tokens on the wire: {}",
        tokens.len()
    );
    assert!(
        signatures.len() >= 10,
        "EDIS signatures on the wire: {}",
        signatures.len()
    );
    for sent in &tokens_sent {
        assert!(tokens.contains(sent), "a token sent that was never issued");
    }
    for sent in &signatures_sent {
        assert!(signatures.contains(sent), "a signature sent never issued");
    }
    assert!(!tokens_sent.is_empty() && !signatures_sent.is_empty());

    let mut secrets: Vec<Secret> = SENTINELS
        .iter()
        .map(|(label, value, _)| Secret {
            label: (*label).to_owned(),
            value: (*value).to_owned(),
        })
        .collect();
    secrets.extend(tokens.iter().enumerate().map(|(i, t)| Secret {
        label: format!("{TOKEN} #{i}"),
        value: t.clone(),
    }));
    secrets.extend(signatures.iter().enumerate().map(|(i, s)| Secret {
        label: format!("{SIGNATURE} #{i}"),
        value: s.clone(),
    }));
    let host_keys = ctx.host_keys.lock().unwrap().clone();
    assert_eq!(
        host_keys.len(),
        3,
        "the host keys of two ECS installs and an injected EDIS one were read"
    );
    secrets.extend(host_keys.iter().enumerate().map(|(i, k)| Secret {
        label: format!("host-private-key #{i}"),
        value: k.clone(),
    }));
    secrets.push(Secret {
        label: "a private key's armour".to_owned(),
        value: "OPENSSH PRIVATE KEY".to_owned(),
    });

    // Each secret is on the wire where it must be, and only there.
    let mut problems = Vec::new();
    let wire_text: Vec<String> = wire.iter().map(|(_, b)| text(b)).collect();
    for (label, value, on_wire) in SENTINELS {
        let secret = Secret {
            label: (*label).to_owned(),
            value: (*value).to_owned(),
        };
        let seen = wire_text
            .iter()
            .any(|w| secret.needles().iter().any(|(_, n)| w.contains(n.as_str())));
        match on_wire {
            OnWire::Must if !seen => problems.push(format!(
                "{label} is not on the wire: the flow that sends it did not run, or the relay \
                 saw nothing"
            )),
            OnWire::Never if seen => problems.push(format!("{label} was sent on the wire")),
            _ => {}
        }
    }

    // `ecs token` printed a token that crossed the wire.
    for (label, stdout) in ctx.printed_tokens.lock().unwrap().iter() {
        if !tokens.iter().any(|t| stdout.contains(t.as_str())) {
            problems.push(format!("[{label}] printed no token that IAM issued"));
        }
    }

    let captures = ctx.captures.lock().unwrap();
    for capture in captures.iter() {
        problems.extend(scan(capture, &secrets));
    }
    let runs = *ctx.runs.lock().unwrap();
    assert!(
        problems.is_empty(),
        "{} problem(s) in {runs} runs, {} captures, {} wire streams:\n{}",
        problems.len(),
        captures.len(),
        wire.len(),
        problems.join("\n")
    );
    assert!(runs >= 90, "runs: {runs}");
    assert!(logged >= 100, "requests logged: {logged}");
}

#[test]
fn the_base64_forms_are_found_in_any_alignment() {
    // "xSentinel-Ud-Pw-3y" and friends, base64-encoded as a whole, hold one of the three forms.
    let secret = Secret {
        label: "s".to_owned(),
        value: USER_DATA_PASSWORD.to_owned(),
    };
    let whole = |text: &str| base64_core(text.as_bytes(), 0);
    for prefix in ["", "a", "ab", "abc"] {
        let encoded = whole(&format!("{prefix}{USER_DATA_PASSWORD}tail!"));
        assert!(
            secret
                .needles()
                .iter()
                .any(|(_, n)| encoded.contains(n.as_str())),
            "{prefix:?}: {encoded}"
        );
    }
    assert_eq!(base64_core(b"Man", 0), "TWFu");
    assert_eq!(base64_core(b"Ma", 0), "TW");
}

#[test]
fn the_scan_reports_leaks_in_any_form_and_spares_what_is_allowed() {
    let token = format!("MIIemu{}", "0123456789abcdef".repeat(8));
    let secrets = [
        Secret {
            label: format!("{TOKEN} #0"),
            value: token.clone(),
        },
        Secret {
            label: "admin-password".to_owned(),
            value: ADMIN_PASSWORD.to_owned(),
        },
    ];
    let scan_of = |text: &str, allowed: &[&'static str]| {
        let capture = Capture {
            name: "capture".to_owned(),
            text: text.to_owned(),
            allowed: allowed.to_vec(),
        };
        scan(&capture, &secrets)
    };
    assert!(scan_of(&format!("{token}\n"), &[TOKEN]).is_empty());
    assert!(scan_of("nothing to see", &[]).is_empty());
    let leaks = scan_of(&format!("token={token}"), &[]);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains("<iam-token #0>") && !leaks[0].contains(&token));
    // Cut off, in base64, or only its start.
    assert_eq!(scan_of(&format!("token={}…", &token[..30]), &[]).len(), 1);
    let encoded = base64_core(format!("root:{ADMIN_PASSWORD}").as_bytes(), 0);
    assert_eq!(scan_of(&encoded, &[]).len(), 1, "{encoded}");
    let leaks = scan_of("pw=Sentinel-Admin-P", &[]);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains("starts like a sentinel"), "{leaks:?}");
}
