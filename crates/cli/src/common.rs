//! What the provider commands share: exit codes, errors with hints, connection and output
//! flags, confirmation, user data checks, progress, and the transport.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use reimage_client::{ErrorKind, PlainHttp, ProgressEvent, Transport, TransportConfig};
use reimage_cloudinit::{Options, Severity};
use reimage_config::{ConfigError, Flags, Resolved};
use reimage_core::Provider;
use reimage_core::UserData;

/// The exit codes of the provider commands (`reimage validate` keeps its own 0/1/2).
pub(crate) mod exit {
    /// Done.
    pub(crate) const OK: u8 = 0;
    /// The operation failed: the provider refused it, or it ended in failure.
    pub(crate) const FAILED: u8 = 1;
    /// Usage: a bad flag, a missing setting, an unreadable file.
    pub(crate) const USAGE: u8 = 2;
    /// The user data was refused by validation.
    pub(crate) const REFUSED: u8 = 3;
    /// The credentials were refused or have expired.
    pub(crate) const AUTH: u8 = 4;
    /// A wait or a request ran out of time.
    pub(crate) const TIMEOUT: u8 = 5;
    /// A reinstall or change of OS may or may not have run; it was not retried.
    pub(crate) const UNKNOWN: u8 = 6;
}

/// An error for the person: one line, a hint, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }

    #[must_use]
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The hints of an EDIS command: no project id, and its own status command.
    #[must_use]
    pub(crate) fn for_edis(mut self) -> Self {
        self.hint = match self.code {
            exit::AUTH => {
                Some("check EDIS_EMAIL and the EDIS password, and this machine's clock".to_owned())
            }
            exit::UNKNOWN => Some(
                "look at the KVM (reimage edis status --kvm ID) before running the command again"
                    .to_owned(),
            ),
            _ => self.hint,
        };
        self
    }

    /// Prints the error (and hint) on stderr and returns the exit code.
    pub(crate) fn report(&self, command: &str) -> u8 {
        crate::note(&format!("reimage {command}: error: {}", self.message));
        if let Some(hint) = &self.hint {
            crate::note(&format!("hint: {hint}"));
        }
        self.code
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<reimage_core::ValidationError> for Failure {
    fn from(e: reimage_core::ValidationError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<reimage_client::Error> for Failure {
    fn from(e: reimage_client::Error) -> Self {
        let (code, hint) = match e.kind() {
            ErrorKind::Invalid => (exit::USAGE, None),
            ErrorKind::Auth => (
                exit::AUTH,
                Some("check the credentials, the project id and this machine's clock"),
            ),
            ErrorKind::Timeout => (
                exit::TIMEOUT,
                Some("the operation may still finish; look again with the status commands"),
            ),
            ErrorKind::OutcomeUnknown => (
                exit::UNKNOWN,
                Some(
                    "look at the server (reimage ecs server --server ID) before running the \
                     command again",
                ),
            ),
            _ => (exit::FAILED, None),
        };
        let mut failure = Failure::new(code, e.to_string());
        failure.hint = hint.map(str::to_owned);
        failure
    }
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Output {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// What `--wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WaitFor {
    /// The job (ECS) or the install (EDIS) to finish.
    Job,
    /// That, and then the server's SSH port to answer on its public address.
    Ssh,
}

/// Where to find credentials and endpoints, shared by `ecs` and `edis`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Connection {
    /// The profile of the config file to use (else `REIMAGE_PROFILE`, the file's
    /// `default_profile`, or `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// The config file (else `REIMAGE_CONFIG`, else `~/.config/reimage/config.toml`).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Also trust the CA certificates of this PEM file (a private cloud).
    #[arg(long = "ca-file", global = true, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Allow plain `http://` to hosts that are not loopback (a lab network). Credentials then
    /// cross the network in clear.
    #[arg(long = "allow-http", global = true)]
    pub(crate) allow_http: bool,

    /// How long one HTTP request may take, in seconds.
    #[arg(
        long = "request-timeout",
        global = true,
        value_name = "SECS",
        default_value_t = 60
    )]
    pub(crate) request_timeout: u64,
}

/// The flags of a command that sends something, shared by `ecs` and `edis`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Behaviour {
    /// `text` for people; `json` prints one JSON document on stdout, for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,

    /// Follow the operation to its end. `--wait=ssh` (or `--wait ssh`) also waits for the SSH
    /// port of the server's public address to answer.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "job", value_name = "WHAT")]
    pub(crate) wait: Option<WaitFor>,

    /// How long `--wait` waits before it gives up (exit code 5), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub(crate) deadline: u64,
}

impl Connection {
    /// Resolves flags, environment and profile; warnings go to stderr.
    pub(crate) fn resolve(&self, mut flags: Flags) -> Result<Resolved, Failure> {
        flags.profile.clone_from(&self.profile);
        flags.config.clone_from(&self.config);
        if flags.ca_file.is_none() {
            flags.ca_file.clone_from(&self.ca_file);
        }
        let resolved = reimage_config::infer(&flags)?;
        for warning in &resolved.warnings {
            crate::note(warning);
        }
        Ok(resolved)
    }

    /// The transport these flags ask for.
    pub(crate) fn transport(&self, ca_file: Option<&PathBuf>) -> Result<Transport, Failure> {
        let mut config = self.transport_config();
        if let Some(ca) = ca_file {
            config = config.ca_file(ca);
        }
        Transport::new(config).map_err(Failure::from)
    }

    /// The transport settings these flags ask for, to add to.
    pub(crate) fn transport_config(&self) -> TransportConfig {
        let mut config = TransportConfig::default()
            .request_timeout(Duration::from_secs(self.request_timeout.max(1)));
        if self.allow_http {
            config = config.plain_http(PlainHttp::Anywhere);
        }
        config
    }
}

/// Asks before a destructive operation. `--yes` answers for the person; without a terminal,
/// `--yes` is required.
pub(crate) fn confirm(what: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() || !io::stderr().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {what} without confirmation: stdin is not a terminal"
        ))
        .hint("add --yes to confirm in a script"));
    }
    let mut err = io::stderr();
    let _ = write!(err, "{what}? This cannot be undone. Type yes to go on: ");
    let _ = err.flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("could not read the answer: {e}")))?;
    if answer.trim().eq_ignore_ascii_case("yes") || answer.trim().eq_ignore_ascii_case("y") {
        Ok(())
    } else {
        Err(Failure::new(
            exit::FAILED,
            "not confirmed; nothing was sent",
        ))
    }
}

/// How `--user-data FILE` is checked before it is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserDataCheck {
    /// The provider it goes to (its size limit).
    pub(crate) target: Provider,
    /// Whether the command gives the provider a password or key pair (a way in).
    pub(crate) provider_login: bool,
    /// `--no-validate`: send it even with errors that cloud-init would report.
    pub(crate) no_validate: bool,
    /// `--allow-lockout`: send a config that leaves no way to log in.
    pub(crate) allow_lockout: bool,
}

/// Reads and checks `--user-data FILE`. Errors refuse it (exit 3) unless `no_validate`; a config
/// that leaves no way to log in is refused (exit 3) unless `allow_lockout`; user data over the
/// provider's size limit is refused (exit 3) whatever the flags, since the provider refuses it.
/// Warnings are shown either way.
pub(crate) fn user_data(path: &std::path::Path, check: UserDataCheck) -> Result<UserData, Failure> {
    let UserDataCheck {
        target,
        provider_login,
        no_validate,
        allow_lockout,
    } = check;
    let shown = path.display().to_string();
    let bytes = crate::validate::read(path)
        .map_err(|m| Failure::usage(format!("--user-data {shown}: {m}")))?;
    let options = Options::default()
        .with_provider_login(provider_login)
        .with_size_limit(target.user_data_limit());
    let report = reimage_cloudinit::validate(&bytes, &options);
    for f in &report.findings {
        let path = if f.path.is_empty() { "(root)" } else { &f.path };
        crate::note(&format!(
            "{}:{}:{}: {}[{}]: {}: {}",
            crate::validate::one_line(&shown),
            f.line,
            f.column,
            f.severity,
            f.code,
            crate::validate::one_line(path),
            crate::validate::one_line(&f.message)
        ));
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 && !no_validate {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "--user-data {shown}: {errors} error(s) above; it was not sent, since the server \
                 would boot with a broken configuration"
            ),
        )
        .hint("fix the file (reimage validate FILE shows the same), or pass --no-validate to send it anyway"));
    }
    if let Some(finding) = report.oversize() {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "--user-data {shown}: {}; it was not sent",
                crate::validate::one_line(&finding.message)
            ),
        )
        .hint("the provider refuses user data over its limit whatever --no-validate says"));
    }
    if report.lockout().is_some() {
        if !allow_lockout {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "--user-data {shown}: this config leaves no way to log in to the new OS, and \
                     the command gives the provider no password or key pair; it was not sent"
                ),
            )
            .hint(
                "add an SSH key or a usable password to the file, or give --admin-password-file \
                 or --keypair with --user-id; pass --allow-lockout only if a server nobody can \
                 log in to is what you want",
            ));
        }
        crate::note(
            "warning: sending a config that leaves no way to log in, as --allow-lockout asks",
        );
    }
    if errors > 0 {
        crate::note("warning: sending user data with errors, as --no-validate asks");
    }
    Ok(UserData::from(bytes))
}

/// Shows progress: a spinner on a terminal, plain lines otherwise (always on stderr).
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    pub(crate) fn new(title: &str) -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_prefix(title.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            crate::note(title);
        }
        Self {
            bar,
            last: String::new(),
        }
    }

    /// Shows an event; plain output skips a line equal to the last one.
    pub(crate) fn event(&mut self, event: &ProgressEvent) {
        let line = event.to_string();
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => {
                // Without the elapsed time, to tell repeats apart.
                let key = line
                    .split_once("] ")
                    .map_or(line.as_str(), |(_, rest)| rest);
                if key != self.last {
                    self.last = key.to_owned();
                    crate::note(&format!("  {line}"));
                }
            }
        }
    }

    pub(crate) fn finish(self, line: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(line.to_owned()),
            None => crate::note(&format!("  {line}")),
        }
    }
}

/// Waits until `host:22` accepts a TCP connection, or the deadline passes.
pub(crate) async fn wait_ssh(host: &str, deadline: Duration) -> Result<Duration, Failure> {
    let started = Instant::now();
    let address = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:22")
    } else {
        format!("{host}:22")
    };
    let mut progress = Progress::new(&format!("waiting for SSH on {address}"));
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(&address),
        )
        .await;
        if let Ok(Ok(_)) = attempt {
            progress.finish(&format!("SSH answers on {address}"));
            return Ok(started.elapsed());
        }
        progress.event(&ProgressEvent::new(
            started.elapsed(),
            reimage_client::Progress::Trouble {
                problem: format!("{address} does not answer yet"),
            },
        ));
        if started.elapsed() > deadline {
            return Err(Failure::new(
                exit::TIMEOUT,
                format!("the SSH port {address} did not answer within the deadline"),
            )
            .hint("the new system may still be booting, or a firewall blocks port 22"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Prints a JSON document on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
    crate::say(&text);
}

/// Runs a future on a new runtime.
pub(crate) fn block_on<F: std::future::Future<Output = Result<(), Failure>>>(
    future: F,
) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILED, format!("could not start the runtime: {e}")))?;
    runtime.block_on(future)
}

/// Prints a `--dry-run` request, as the client prepared it, with its secrets redacted.
pub(crate) fn print_dry_run(output: Output, dry: &reimage_client::DryRun) {
    let shown = dry.shown();
    match output {
        Output::Json => {
            let headers: serde_json::Map<String, serde_json::Value> = shown
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
                .collect();
            print_json(&serde_json::json!({
                "dry_run": true,
                "operation": dry.operation,
                "request": {
                    "method": shown.method,
                    "url": shown.url,
                    "headers": headers,
                    "body": shown.body,
                },
            }));
        }
        Output::Text => {
            crate::say(&format!(
                "dry run: {} would send (secrets redacted), and nothing was sent:",
                dry.operation
            ));
            crate::say(&format!("{} {}", shown.method, shown.url));
            for (name, value) in &shown.headers {
                crate::say(&format!("{name}: {value}"));
            }
            crate::say("");
            crate::say(&shown.body);
        }
    }
}
