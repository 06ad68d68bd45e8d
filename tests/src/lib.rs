//! Helpers for the end-to-end tests: the built `reimage` binary, run against the emulator.
//!
//! - [`binary`] finds (and, under `cargo test`, first builds) `target/<profile>/reimage`.
//! - [`Emulator`] runs `reimage emulator` as a child process on a free loopback port and talks
//!   to its admin API (`/_emulator/…`) with a tiny HTTP/1.1 client over [`TcpStream`].
//! - [`reimage`] runs the binary with a clean environment and returns an [`Output`].
//! - [`TempDir`] holds the files a test hands to the binary (passwords, user data).
//! - [`aksk_env`], [`iam_env`] and [`edis_env`] are the credentials of the emulator's default
//!   fixtures; the `const`s name its servers, images and KVMs.
//! - For `reimage fleet`: [`write_fleet_fixtures`] (a fixture file of many servers and KVMs,
//!   for [`Emulator::start_with_fixtures`]), [`write_config`] (a profile pointing at the
//!   emulator), [`write_fleet_plan`], the journal ([`append_journal`], [`journal_latest`]), and
//!   [`Reimage::spawn`] for a run to kill ([`Spawned::kill`]) or interrupt
//!   ([`Spawned::interrupt`], Ctrl-C).
//!
//! Nothing here uses an async runtime: `std::process` and `std::net` only.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The default fixtures' ECS project id.
pub const PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
/// The default fixtures' access key.
pub const AK: &str = "REIMAGEEMULATORAK";
/// The default fixtures' secret key.
pub const SK: &str = "reimage-emulator-sk";
/// The default fixtures' IAM user name.
pub const IAM_USER: &str = "admin";
/// The default fixtures' IAM password.
pub const IAM_PASSWORD: &str = "Emulator-Passw0rd!";
/// The default fixtures' IAM domain.
pub const IAM_DOMAIN: &str = "emulator";
/// The IAM user id that owns [`KEYPAIR`].
pub const USER_ID: &str = "7e25b1da389f4697a79df3a0e5bd494e";
/// A key pair of [`USER_ID`].
pub const KEYPAIR: &str = "KeyPair-350b";
/// The default fixtures' EDIS account email.
pub const EDIS_EMAIL: &str = "demo@example.com";
/// The default fixtures' EDIS account password.
pub const EDIS_PASSWORD: &str = "emulator-pw";

/// A stopped Debian 12 server.
pub const SERVER_1: &str = "11111111-2222-3333-4444-555555555555";
/// Another stopped Debian 12 server.
pub const SERVER_2: &str = "22222222-3333-4444-5555-666666666666";
/// A running Ubuntu 24.04 server (a reinstall needs `--mode with-stop-server`).
pub const SERVER_RUNNING: &str = "33333333-4444-5555-6666-777777777777";
/// A locked server: ECS refuses it with `Ecs.0605`.
pub const SERVER_LOCKED: &str = "44444444-5555-6666-7777-888888888888";
/// Debian 12, with cloud-init.
pub const IMAGE_DEBIAN: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
/// Ubuntu 24.04, with cloud-init.
pub const IMAGE_UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";
/// An image without cloud-init: ECS refuses user data with it (`Ecs.0007`).
pub const IMAGE_NO_CLOUD_INIT: &str = "1a2b3c4d-0000-4000-8000-000000000002";
/// The first KVM (powered on, `cloudinit_debian-bookworm`).
pub const KVM_1: &str = "kvm_100001_200001";
/// The second KVM (powered off, `debian-bullseye`).
pub const KVM_2: &str = "kvm_100002_200002";

/// A new OS password that passes ECS's complexity rules.
pub const ADMIN_PASSWORD: &str = "Reimage-Test-Pw1!";
/// A new root password for EDIS.
pub const ROOT_PASSWORD: &str = "Edis-Root-Pw-8472";

/// How long one run of the binary may take before it is killed (a hang fails the test).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The `reimage` binary of this build: `<target>/<profile>/reimage`, next to the `deps/`
/// directory that holds the test executable.
///
/// Under `cargo test` (which sets `CARGO`), the first call runs `$CARGO build --quiet -p
/// reimage-cli --bin reimage` from the workspace root, so the binary is never stale; cargo
/// releases its build lock before it runs the tests, so this does not deadlock. Without
/// `CARGO` (the test executable run by hand), the binary must already exist.
///
/// # Panics
///
/// When the build fails or the binary is missing, with what to run.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let path = binary_path();
        if let Some(cargo) = std::env::var_os("CARGO") {
            build(&cargo, &path);
        }
        assert!(
            path.is_file(),
            "{} does not exist: run `cargo build -p reimage-cli` first",
            path.display()
        );
        path
    })
}

/// Where the binary should be: the parent of the test executable's `deps/` directory.
fn binary_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut dir = exe
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", exe.display()))
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("reimage{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the binary with the cargo that runs the tests, into the same profile directory.
fn build(cargo: &std::ffi::OsStr, path: &Path) {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let mut command = Command::new(cargo);
    command.current_dir(workspace).args([
        "build",
        "--quiet",
        "-p",
        "reimage-cli",
        "--bin",
        "reimage",
    ]);
    // Same profile as the tests: `target/debug` is `dev`, `target/release` is `release`, a
    // custom profile's directory bears its name.
    let profile_dir = path.parent();
    if let Some(name) = profile_dir
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
    {
        command.args(["--profile", if name == "debug" { "dev" } else { name }]);
    }
    // Same target directory, when the profile directory sits right in it (no `--target`
    // triple): cargo marks a target directory with CACHEDIR.TAG.
    if let Some(target) = profile_dir.and_then(Path::parent)
        && target.join("CACHEDIR.TAG").is_file()
    {
        command.arg("--target-dir").arg(target);
    }
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", cargo.to_string_lossy()));
    assert!(
        out.status.success(),
        "`cargo build -p reimage-cli --bin reimage` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A unique name for a temporary directory or file.
fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("reimage-e2e-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// A fresh directory under [`std::env::temp_dir`], removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a new, empty directory whose name contains `tag`.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created.
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to the file `name` in this directory and returns its path.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The AK/SK credentials of the default fixtures.
pub fn aksk_env() -> Vec<(String, String)> {
    pairs(&[
        ("HUAWEICLOUD_SDK_AK", AK),
        ("HUAWEICLOUD_SDK_SK", SK),
        ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT_ID),
    ])
}

/// The IAM password credentials of the default fixtures, with `OS_AUTH_URL` at `base_url`.
pub fn iam_env(base_url: &str) -> Vec<(String, String)> {
    let mut env = pairs(&[
        ("OS_USERNAME", IAM_USER),
        ("OS_PASSWORD", IAM_PASSWORD),
        ("OS_USER_DOMAIN_NAME", IAM_DOMAIN),
        ("OS_PROJECT_ID", PROJECT_ID),
    ]);
    env.push(("OS_AUTH_URL".to_owned(), format!("{base_url}/v3")));
    env
}

/// The EDIS account of the default fixtures.
pub fn edis_env() -> Vec<(String, String)> {
    pairs(&[("EDIS_EMAIL", EDIS_EMAIL), ("EDIS_PASSWORD", EDIS_PASSWORD)])
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `reimage emulator` as a child process on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    base_url: String,
    addr: String,
}

impl Emulator {
    /// Starts `reimage emulator --listen 127.0.0.1:0 --time-scale <time_scale>` with the default
    /// fixtures and waits for its `listening on http://ADDR` line.
    ///
    /// # Panics
    ///
    /// When the emulator does not start or its first line is not the expected one.
    pub fn start(time_scale: f64) -> Self {
        Self::spawn(time_scale, None)
    }

    /// [`start`](Self::start), with the fixtures of `fixtures` (a TOML file such as
    /// [`write_fleet_fixtures`] writes) instead of the default ones: `--fixtures FILE`.
    ///
    /// # Panics
    ///
    /// When the emulator does not start (a fixture file it refuses, too).
    pub fn start_with_fixtures(time_scale: f64, fixtures: &Path) -> Self {
        Self::spawn(time_scale, Some(fixtures))
    }

    fn spawn(time_scale: f64, fixtures: Option<&Path>) -> Self {
        Self::spawn_with(time_scale, fixtures, &[])
    }

    /// [`start`](Self::start), with more `reimage emulator` flags (`--job-retention 1s`, say).
    ///
    /// # Panics
    ///
    /// When the emulator does not start or its first line is not the expected one.
    pub fn start_with_args(time_scale: f64, args: &[&str]) -> Self {
        Self::spawn_with(time_scale, None, args)
    }

    fn spawn_with(time_scale: f64, fixtures: Option<&Path>, args: &[&str]) -> Self {
        let mut command = Command::new(binary());
        command
            .args(["emulator", "--listen", "127.0.0.1:0", "--time-scale"])
            .arg(time_scale.to_string())
            .args(args);
        if let Some(file) = fixtures {
            command.arg("--fixtures").arg(file);
        }
        let mut child = command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the emulator: {e}"));
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            panic!("the emulator's stdout was not piped");
        };
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let read = reader.read_line(&mut first);
        let addr = match (read, first.strip_prefix("listening on http://")) {
            (Ok(_), Some(addr)) => addr.trim().to_owned(),
            (read, _) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the emulator's first line: {first:?} ({read:?})");
            }
        };
        // Keep draining stdout so that the emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        Self {
            child,
            base_url: format!("http://{addr}"),
            addr,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// One admin call: `method path` with an optional JSON body; the status and the JSON body
    /// (`Value::Null` when the body is empty, a `Value::String` when it is not JSON).
    ///
    /// # Panics
    ///
    /// When the emulator cannot be reached or the answer is not HTTP.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.addr)
            .unwrap_or_else(|e| panic!("connect to the emulator at {}: {e}", self.addr));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        parse_response(&raw).unwrap_or_else(|| {
            panic!(
                "{method} {path}: not an HTTP answer: {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
    }

    /// `GET /_emulator/state`.
    ///
    /// # Panics
    ///
    /// When the call does not answer 200.
    pub fn state(&self) -> Value {
        let (status, body) = self.admin("GET", "/_emulator/state", None);
        assert_eq!(status, 200, "GET /_emulator/state: {body}");
        body
    }

    /// `POST /_emulator/faults` with `rule` (such as `{"operation": "ecs.reinstallos", "kind":
    /// "lost_answer", "calls": [1]}`); returns the answer.
    ///
    /// # Panics
    ///
    /// When the emulator does not take the rule (not 201).
    pub fn add_fault(&self, rule: Value) -> Value {
        let (status, body) = self.admin("POST", "/_emulator/faults", Some(&rule));
        assert_eq!(status, 201, "POST /_emulator/faults {rule}: {body}");
        body
    }

    /// `GET /_emulator/requests`: the request log, as the array under `requests`.
    ///
    /// # Panics
    ///
    /// When the call does not answer 200.
    pub fn requests(&self) -> Vec<Value> {
        let (status, body) = self.admin("GET", "/_emulator/requests", None);
        assert_eq!(status, 200, "GET /_emulator/requests: {body}");
        body["requests"].as_array().cloned().unwrap_or_default()
    }

    /// The logged requests of one operation (`ecs.reinstallos`, …).
    pub fn requests_of(&self, operation: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["operation"] == operation)
            .collect()
    }

    /// The state of one ECS server (`state.ecs.servers[id]`).
    ///
    /// # Panics
    ///
    /// When there is no such server.
    pub fn server(&self, id: &str) -> Value {
        let state = self.state();
        find(&state["ecs"]["servers"], "id", id)
            .unwrap_or_else(|| panic!("no server {id} in {state}"))
    }

    /// The state of one KVM (`state.edis.kvms[kvm_id]`).
    ///
    /// # Panics
    ///
    /// When there is no such KVM.
    pub fn kvm(&self, id: &str) -> Value {
        let state = self.state();
        find(&state["edis"]["kvms"], "kvm_id", id)
            .unwrap_or_else(|| panic!("no KVM {id} in {state}"))
    }

    /// The IAM credentials of the default fixtures, pointed at this emulator.
    pub fn iam_env(&self) -> Vec<(String, String)> {
        iam_env(&self.base_url)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The element of the array `list` whose `key` is `value`.
pub fn find(list: &Value, key: &str, value: &str) -> Option<Value> {
    list.as_array()?.iter().find(|v| v[key] == value).cloned()
}

/// An integer field of a JSON object, or a panic that shows the object.
///
/// # Panics
///
/// When the field is missing or not an unsigned integer.
pub fn count(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {value}"))
}

/// Splits a raw HTTP/1.1 answer into its status and JSON body (chunked or not).
fn parse_response(raw: &[u8]) -> Option<(u16, Value)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Some((status, value))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Starts a run of the `reimage` binary with `args`; finish it with [`Reimage::run`].
pub fn reimage<I, S>(args: I) -> Reimage
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Reimage {
        args: args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect(),
        env: Vec::new(),
        stdin: None,
        timeout: RUN_TIMEOUT,
    }
}

/// A run of the binary being set up: arguments, environment, stdin.
///
/// The environment is clean: only `PATH`, plus `HOME` and `XDG_CONFIG_HOME` in a fresh empty
/// directory (so no real config file is read), plus what the test adds. stdin is empty unless
/// [`stdin`](Self::stdin) gives it; stdout and stderr are captured, so neither is a terminal.
#[derive(Debug)]
#[must_use = "a run does nothing until .run()"]
pub struct Reimage {
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Reimage {
    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Sets environment variables, such as [`aksk_env`].
    pub fn envs(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(pairs);
        self
    }

    /// Gives stdin these bytes (then closes it).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills the run after `timeout` (120 s by default); the [`Output`] then has code -1.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the binary to its end and returns what it printed and its exit code.
    ///
    /// # Panics
    ///
    /// When the binary cannot be started or waited for.
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// Starts the binary and returns at once; [`Spawned::wait`] or [`Spawned::kill`] ends it.
    ///
    /// # Panics
    ///
    /// When the binary cannot be started.
    pub fn spawn(self) -> Spawned {
        let home = TempDir::new("home");
        let config = home.path().join(".config");
        let mut command = Command::new(binary());
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", &config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary().display()));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Spawned {
            child,
            _home: home,
            stdout: Some(stdout),
            stderr: Some(stderr),
            args: self
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            started,
            timeout: self.timeout,
        }
    }
}

/// A run of the binary under way ([`Reimage::spawn`]). Dropping it kills the process.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    _home: TempDir,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    args: Vec<String>,
    started: Instant,
    timeout: Duration,
}

impl Spawned {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended (without reaping more than `try_wait` does).
    ///
    /// # Panics
    ///
    /// When the process cannot be waited for.
    pub fn has_exited(&mut self) -> bool {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait for {}: {e}", binary().display()))
            .is_some()
    }

    /// Waits for the end (killing the process after the run's timeout, when the code is -1).
    ///
    /// # Panics
    ///
    /// When the process cannot be waited for.
    pub fn wait(mut self) -> Output {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if self.started.elapsed() > self.timeout => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("wait for {}: {e}", binary().display()),
            }
        };
        self.finish(status)
    }

    /// Sends SIGINT to the process, as Ctrl-C in a terminal would (with `kill -INT PID`, to this
    /// process only), and returns at once; [`wait`](Self::wait) then gives its end.
    ///
    /// # Panics
    ///
    /// When `kill` cannot be run or fails (the process has ended and been reaped, say).
    pub fn interrupt(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap_or_else(|e| panic!("run kill -INT {pid}: {e}"));
        assert!(status.success(), "kill -INT {pid}: {status}");
    }

    /// Kills the process with SIGKILL (on Unix: [`Child::kill`]), as a crash or `kill -9`
    /// would, and returns what it printed until then. The code is -1 unless it had ended
    /// already.
    ///
    /// # Panics
    ///
    /// When the process cannot be waited for.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("wait for {}: {e}", binary().display()));
        self.finish(Some(status))
    }

    fn finish(mut self, status: Option<std::process::ExitStatus>) -> Output {
        let text = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.and_then(|h| h.join().ok()).unwrap_or_default()).into_owned()
        };
        Output {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
            args: std::mem::take(&mut self.args),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// What a run printed and how it ended. Its `Display` shows everything, for assertion
/// messages.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; -1 when killed (by a signal, or after the run's timeout).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// The arguments of the run.
    pub args: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Output {
    /// Asserts the exit code, showing the whole output when it differs; returns `self`.
    ///
    /// # Panics
    ///
    /// When the exit code is not `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    /// Parses stdout as one JSON document.
    ///
    /// # Panics
    ///
    /// When stdout is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "$ reimage {} -> exit {} in {:.2?}",
            self.args.join(" "),
            self.code,
            self.elapsed
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

// ---------------------------------------------------------------------------------------------
// Fleets: generated fixtures, a config profile, plans and journals for `reimage fleet`.

/// The `n`-th ECS server (from 0) of [`fleet_fixtures`]: a UUID made from `n`.
pub fn fleet_server(n: usize) -> String {
    format!("f1ee7000-0000-4000-8000-{n:012x}")
}

/// The `n`-th EDIS KVM (from 0) of [`fleet_fixtures`]: `kvm_<500000+n>_<600000+n>`.
pub fn fleet_kvm(n: usize) -> String {
    format!("kvm_{}_{}", 500_000 + n, 600_000 + n)
}

/// The image every KVM of [`fleet_fixtures`] runs, and that fleet plans reinstall.
pub const FLEET_EDIS_IMAGE: &str = "cloudinit_debian-bookworm";

/// An emulator fixture file (the form of `crates/emulator/fixtures/default.toml`) with the
/// default fixtures' IAM account, ECS project and images and EDIS account, and instead of their
/// servers: `servers` stopped Debian 12 servers ([`fleet_server`]`(0..servers)`, so a reinstall
/// needs no mode) and `kvms` powered-on KVMs ([`fleet_kvm`]`(0..kvms)`, on
/// [`FLEET_EDIS_IMAGE`]).
pub fn fleet_fixtures(servers: usize, kvms: usize) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "# Generated by reimage-e2e's fleet_fixtures({servers}, {kvms}).\n\n\
         [iam]\ndomain_name = \"{IAM_DOMAIN}\"\ndomain_id = \"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"\n\n\
         [[iam.users]]\nname = \"{IAM_USER}\"\nid = \"{USER_ID}\"\npassword = \"{IAM_PASSWORD}\"\n\
         key_pairs = [\"{KEYPAIR}\"]\n\n\
         [[iam.access_keys]]\naccess_key = \"{AK}\"\nsecret_key = \"{SK}\"\nuser = \"{USER_ID}\"\n\n\
         [ecs]\nproject_id = \"{PROJECT_ID}\"\nproject_name = \"eu-de\"\n\
         vpc_id = \"0431c5e5-bc94-4a44-8263-15da2a642435\"\n\n\
         [[ecs.images]]\nid = \"{IMAGE_DEBIAN}\"\nname = \"Debian 12\"\ncloud_init = true\n\n\
         [[ecs.images]]\nid = \"{IMAGE_UBUNTU}\"\nname = \"Ubuntu 24.04\"\ncloud_init = true\n\n\
         [[ecs.images]]\nid = \"{IMAGE_NO_CLOUD_INIT}\"\nname = \"Debian 12 (no cloud-init)\"\n\
         cloud_init = false\n"
    );
    for n in 0..servers {
        let _ = write!(
            out,
            "\n[[ecs.servers]]\nid = \"{}\"\nname = \"fleet-{n}\"\nimage = \"{IMAGE_DEBIAN}\"\n\
             running = false\ncreated = \"2024-06-01T08:00:00Z\"\n",
            fleet_server(n)
        );
    }
    let _ = write!(
        out,
        "\n[edis]\nemail = \"{EDIS_EMAIL}\"\npassword = \"{EDIS_PASSWORD}\"\nimages = [\
         \"cloudinit_debian-bookworm\", \"cloudinit_ubuntu-lts-24-04\", \"debian-bullseye\"]\n"
    );
    for n in 0..kvms {
        let _ = write!(
            out,
            "\n[[edis.kvms]]\nid = \"{}\"\nhostname = \"fleet-kvm-{n}\"\n\
             image = \"{FLEET_EDIS_IMAGE}\"\npowered_on = true\n",
            fleet_kvm(n)
        );
    }
    out
}

/// Writes [`fleet_fixtures`]`(servers, kvms)` to `fixtures.toml` in `dir`; its path, for
/// [`Emulator::start_with_fixtures`].
pub fn write_fleet_fixtures(dir: &TempDir, servers: usize, kvms: usize) -> PathBuf {
    dir.write("fixtures.toml", fleet_fixtures(servers, kvms))
}

/// Writes a config file whose `default` profile points both providers at `emulator` with the
/// fixtures' credentials (AK/SK for ECS, the account for EDIS): `config_home/reimage/config.toml`,
/// mode 600. Give `config_home` to a run with [`Reimage::config_home`]. Returns the file.
///
/// # Panics
///
/// When the file cannot be written.
pub fn write_config(config_home: &Path, emulator: &Emulator) -> PathBuf {
    let dir = config_home.join("reimage");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join("config.toml");
    let url = emulator.base_url();
    let text = format!(
        "[profiles.default]\nendpoint = \"{url}\"\nproject_id = \"{PROJECT_ID}\"\n\
         access_key = \"{AK}\"\nsecret_key = \"{SK}\"\nedis_email = \"{EDIS_EMAIL}\"\n\
         edis_password = \"{EDIS_PASSWORD}\"\nedis_auth_url = \"{url}\"\n"
    );
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
    path
}

impl Reimage {
    /// Runs with `XDG_CONFIG_HOME` set to `dir`, where [`write_config`] wrote the config file.
    pub fn config_home(self, dir: &Path) -> Self {
        self.env("XDG_CONFIG_HOME", dir.to_string_lossy().into_owned())
    }
}

/// One `[[targets]]` entry of a fleet plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetTarget {
    /// An ECS reinstall (the server's current image).
    Ecs(String),
    /// An ECS change of OS: the server, the new image.
    ChangeOs(String, String),
    /// An EDIS reinstall: the KVM, the image.
    Edis(String, String),
}

impl FleetTarget {
    /// The target's key in the journal and the outputs: `ecs:<id>` or `edis:<kvm>`.
    pub fn key(&self) -> String {
        match self {
            Self::Ecs(id) | Self::ChangeOs(id, _) => format!("ecs:{}", id.to_ascii_lowercase()),
            Self::Edis(kvm, _) => format!("edis:{kvm}"),
        }
    }
}

/// The password files a fleet plan's `[defaults]` name, beside the plan.
pub const FLEET_ADMIN_PASSWORD_FILE: &str = "admin.pw";
/// See [`FLEET_ADMIN_PASSWORD_FILE`].
pub const FLEET_ROOT_PASSWORD_FILE: &str = "root.pw";

/// A fleet plan: `[defaults]` with the password files ([`FLEET_ADMIN_PASSWORD_FILE`],
/// [`FLEET_ROOT_PASSWORD_FILE`]), then the targets in order.
pub fn fleet_plan(targets: &[FleetTarget]) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "[defaults]\nadmin_password_file = \"{FLEET_ADMIN_PASSWORD_FILE}\"\n\
         root_password_file = \"{FLEET_ROOT_PASSWORD_FILE}\"\n"
    );
    for target in targets {
        let _ = match target {
            FleetTarget::Ecs(id) => write!(out, "\n[[targets]]\necs = \"{id}\"\n"),
            FleetTarget::ChangeOs(id, image) => write!(
                out,
                "\n[[targets]]\necs = \"{id}\"\noperation = \"change-os\"\nimage = \"{image}\"\n"
            ),
            FleetTarget::Edis(kvm, image) => {
                write!(
                    out,
                    "\n[[targets]]\nedis = \"{kvm}\"\nimage = \"{image}\"\n"
                )
            }
        };
    }
    out
}

/// Writes [`fleet_plan`]`(targets)` to `name` in `dir`, with the password files beside it
/// ([`ADMIN_PASSWORD`], [`ROOT_PASSWORD`]); the plan's path.
pub fn write_fleet_plan(dir: &TempDir, name: &str, targets: &[FleetTarget]) -> PathBuf {
    dir.write(FLEET_ADMIN_PASSWORD_FILE, ADMIN_PASSWORD);
    dir.write(FLEET_ROOT_PASSWORD_FILE, ROOT_PASSWORD);
    dir.write(name, fleet_plan(targets))
}

/// The journal of a plan: `<plan>.journal/journal.log`.
pub fn journal_file(plan: &Path) -> PathBuf {
    let mut name = plan
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".journal");
    plan.with_file_name(name).join("journal.log")
}

/// Appends one record (a JSON object, as `reimage fleet apply` writes them) to the journal of
/// `plan`, creating it when needed.
///
/// # Panics
///
/// When the journal cannot be written.
pub fn append_journal(plan: &Path, record: &Value) {
    let file = journal_file(plan);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
    writeln!(log, "{record}").unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
}

/// Every record of the journal of `plan`, in order (a torn last line is left out); empty when
/// there is no journal.
pub fn journal_records(plan: &Path) -> Vec<Value> {
    std::fs::read_to_string(journal_file(plan))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The latest record of each key in the journal of `plan`.
pub fn journal_latest(plan: &Path) -> std::collections::BTreeMap<String, Value> {
    let mut latest = std::collections::BTreeMap::new();
    for record in journal_records(plan) {
        if let Some(key) = record["key"].as_str() {
            latest.insert(key.to_owned(), record);
        }
    }
    latest
}

/// Milliseconds since the Unix epoch, as the journal's `at_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
