//! What the provider commands share: exit codes, errors with hints, connection and output
//! flags, confirmation, user data checks, progress, and the transport.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use reimage_client::{ErrorKind, PlainHttp, ProgressEvent, Transport, TransportConfig};
use reimage_cloudinit::jinja::InstanceData;
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
    /// The person did not confirm; nothing was sent.
    pub(crate) const NOT_CONFIRMED: u8 = 7;
    /// The provider could not be reached (connection, TLS, proxy); nothing was sent.
    pub(crate) const UNREACHABLE: u8 = 8;
    /// Another run holds what this one needs (a fleet's journal); nothing was sent.
    pub(crate) const BUSY: u8 = 9;
    /// Re-imaged, but cloud-init reported errors on the new system (`--wait=cloud-init`).
    pub(crate) const CLOUD_INIT_ERRORS: u8 = 10;
    /// Interrupted (Ctrl-C) during a wait; what was sent goes on at the provider.
    pub(crate) const INTERRUPTED: u8 = 130;
}

/// The hint of an outcome unknown when the command gives no exact next step.
const ECS_UNKNOWN_HINT: &str =
    "look at the server (reimage ecs server --server ID) before running the command again";

/// An error for the person: one line, a hint, and the exit code; with `--output json`, also one
/// JSON document on stdout.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    /// The provider's error code (`Ecs.0011`, a job's `error_code`), when it said one.
    pub(crate) provider_code: Option<String>,
    /// The provider's request id, when it gave one.
    pub(crate) request_id: Option<String>,
    /// What was done all the same (`--output json`'s `result`): a re-image whose cloud-init
    /// reported errors still has its server and host keys to show.
    pub(crate) result: Option<Box<serde_json::Value>>,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
            provider_code: None,
            request_id: None,
            result: None,
        }
    }

    /// The stable name of the exit code's outcome class, for scripts (`--output json`).
    pub(crate) fn kind(&self) -> &'static str {
        match self.code {
            exit::USAGE => "usage",
            exit::REFUSED => "user_data_refused",
            exit::AUTH => "auth",
            exit::TIMEOUT => "timeout",
            exit::UNKNOWN => "outcome_unknown",
            exit::NOT_CONFIRMED => "not_confirmed",
            exit::UNREACHABLE => "unreachable",
            exit::BUSY => "busy",
            exit::CLOUD_INIT_ERRORS => "cloud_init_errors",
            exit::INTERRUPTED => "interrupted",
            _ => "failed",
        }
    }

    /// The JSON document `--output json` prints for the failure.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "ok": false,
            "exit_code": self.code,
            "error": {
                "kind": self.kind(),
                "message": self.message,
                "hint": self.hint,
                "provider_code": self.provider_code,
                "request_id": self.request_id,
            },
        });
        if let Some(result) = &self.result {
            value["result"] = (**result).clone();
        }
        value
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
            // The generic ECS hint becomes EDIS's; an exact next step stays.
            exit::UNKNOWN if self.hint.as_deref() == Some(ECS_UNKNOWN_HINT) => Some(
                "look at the KVM (reimage edis status --kvm ID) before running the command again"
                    .to_owned(),
            ),
            _ => self.hint,
        };
        self
    }

    /// Prints the error (and hint) on stderr, and with `--output json` its document on stdout;
    /// returns the exit code.
    pub(crate) fn report(&self, command: &str, output: Output) -> u8 {
        crate::note(&format!("reimage {command}: error: {}", self.message));
        if let Some(hint) = &self.hint {
            crate::note(&format!("hint: {hint}"));
        }
        if output == Output::Json {
            print_json(&self.to_json());
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
        let (provider_code, request_id) = match (&e, e.provider_error()) {
            (_, Some(p)) => (p.code.clone(), p.request_id.clone()),
            (reimage_client::Error::JobFailed { job }, None) => (job.error_code.clone(), None),
            _ => (None, None),
        };
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
            ErrorKind::Unreachable => (
                exit::UNREACHABLE,
                Some("nothing was sent; check the endpoint, the network, the proxy and the CA"),
            ),
            ErrorKind::OutcomeUnknown => (exit::UNKNOWN, Some(ECS_UNKNOWN_HINT)),
            _ => (exit::FAILED, None),
        };
        let mut failure = Failure::new(code, e.to_string());
        failure.hint = hint.map(str::to_owned);
        if failure.hint.is_none() && provider_code.as_deref() == Some("Ecs.0007") {
            // What ECS answers when the image has no cloud-init for the cloud-init call.
            failure.hint = Some(
                "if the image has no cloud-init, run the command again with --api plain (or \
                 --without-cloud-init, its older name; no user data), or without --api to let \
                 reimage ask the image service; otherwise pick an image offered to this server"
                    .to_owned(),
            );
        }
        if failure.hint.is_none()
            && provider_code.as_deref() == Some("Ecs.0005")
            && keypair_asked(&failure.message)
        {
            // A region that takes no password with a cloud-init image asks for a key pair.
            failure.hint = Some(
                "this region takes no password for an image with cloud-init: run the command \
                 again with --keypair NAME --user-id ID instead of --admin-password-file"
                    .to_owned(),
            );
        }
        failure.provider_code = provider_code;
        failure.request_id = request_id;
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
    /// That, then an SSH server on the public address that presents a verified host key (ECS:
    /// the key cloud-init wrote to the console), and known_hosts updated with it.
    Ssh,
    /// That, then cloud-init's own verdict (ECS: its final message and module failures on the
    /// console); errors end with exit code 10.
    CloudInit,
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

    /// How long one HTTP request may take: seconds (`60`) or a duration (`90s`, `2m`).
    #[arg(
        long = "request-timeout",
        global = true,
        value_name = "DURATION",
        default_value = "60",
        value_parser = parse_duration_secs
    )]
    pub(crate) request_timeout: u64,
}

/// The flags of a command that sends something, shared by `ecs` and `edis`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Behaviour {
    /// `text` for people; `json` prints one JSON document on stdout, for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,

    /// Follow the operation to its end. A bare `--wait` is `--wait=job`; `--wait=ssh` (ECS) also
    /// verifies the host key the server's SSH presents against its console and updates
    /// known_hosts (EDIS: verifies the key of `--host-keys inject`, else waits for a host key
    /// other than the one before); `--wait=cloud-init` (ECS) then waits for cloud-init's verdict.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "job", value_name = "WHAT")]
    pub(crate) wait: Option<WaitFor>,

    /// How long `--wait` waits before it gives up (exit code 5): seconds (`1800`) or a duration
    /// (`90s`, `5m`, `1h`, `1h30m`).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1800",
        value_parser = parse_duration_secs
    )]
    pub(crate) deadline: u64,
}

/// A duration on the command line, in whole seconds: a number of seconds (`90`), or numbers with
/// units `h`, `m` and `s` in that order (`90s`, `5m`, `1h`, `1h30m`).
pub(crate) fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration; write seconds (90) or a duration such as 90s, 5m, 1h or 1h30m"
        )
    };
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (rank, factor) = match c {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return Err(bad()),
        };
        if number.is_empty() || rank <= last_unit {
            return Err(bad());
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
        last_unit = rank;
    }
    if !number.is_empty() || last_unit == 0 {
        return Err(bad());
    }
    Ok(total)
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
    // Exactly what the prompt asks for: `y` or `Yes!` is not a yes to a wipe.
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::new(
            exit::NOT_CONFIRMED,
            "not confirmed (the answer was not `yes`); nothing was sent",
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

/// Reads and checks `--user-data FILE`, a `## template: jinja` rendered with what is known of the
/// target (`InstanceData::before_boot`, or nothing): what it cannot know is a warning, unknown until
/// boot. Errors refuse it (exit 3) unless `no_validate`; a config that leaves no way to log in is
/// refused (exit 3) unless `allow_lockout`; user data over the provider's size limit is refused
/// (exit 3) whatever the flags, since the provider refuses it. Warnings are shown either way.
pub(crate) fn user_data_for(
    path: &std::path::Path,
    check: UserDataCheck,
    instance: InstanceData,
) -> Result<UserData, Failure> {
    let shown = path.display().to_string();
    let bytes = read_user_data(path)?;
    check_user_data(bytes, &shown, check, instance)
}

/// Reads `--user-data FILE` (capped), unchecked.
pub(crate) fn read_user_data(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    crate::validate::read(path)
        .map_err(|m| Failure::usage(format!("--user-data {}: {m}", path.display())))
}

/// Checks user data as [`user_data_for`] does, a template rendered with `instance`; `shown` names
/// it in messages.
pub(crate) fn check_user_data(
    bytes: Vec<u8>,
    shown: &str,
    check: UserDataCheck,
    instance: InstanceData,
) -> Result<UserData, Failure> {
    let UserDataCheck {
        target,
        provider_login,
        no_validate,
        allow_lockout,
    } = check;
    let shown = shown.to_owned();
    let options = Options::default()
        .with_provider_login(provider_login)
        .with_size_limit(target.user_data_limit())
        .with_instance_data(instance);
    let report = reimage_cloudinit::validate(&bytes, &options);
    for f in &report.findings {
        crate::note(&crate::validate::finding_line(&shown, f));
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

    /// Ends the progress without a line of its own: the command prints the outcome next, once.
    pub(crate) fn end(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs a wait, unless the person presses Ctrl-C first: then the wait stops (nothing more is
/// sent) and the failure says that the operation goes on at the provider, with `next`, the
/// exact command that follows it again.
pub(crate) async fn interruptible<T>(
    wait: impl std::future::Future<Output = Result<T, reimage_client::Error>>,
    next: &str,
) -> Result<T, Failure> {
    interruptible_with(wait, next, Failure::from).await
}

/// [`interruptible`], with `failure` turning the wait's error into the failure to show.
pub(crate) async fn interruptible_with<T>(
    wait: impl std::future::Future<Output = Result<T, reimage_client::Error>>,
    next: &str,
    failure: impl FnOnce(reimage_client::Error) -> Failure,
) -> Result<T, Failure> {
    tokio::select! {
        result = wait => result.map_err(|e| failure(e).next_step(next)),
        _ = tokio::signal::ctrl_c() => Err(Failure::new(
            exit::INTERRUPTED,
            "interrupted: the operation goes on at the provider; reimage stopped only waiting for it",
        )
        .hint(format!("follow it again with: {next}"))),
    }
}

impl Failure {
    /// For a wait that gave up or could not tell (exit 5 or 6): the hint gives `next`, the exact
    /// command that looks again.
    #[must_use]
    pub(crate) fn next_step(mut self, next: &str) -> Self {
        match self.code {
            exit::TIMEOUT => {
                self.hint = Some(format!(
                    "the operation may still finish; look again with: {next}"
                ));
            }
            exit::UNKNOWN => {
                self.hint = Some(format!("look before running the command again: {next}"));
            }
            _ => {}
        }
        self
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
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    use std::io::Write as _;
    // Written as it is serialized, not built as one string first: a fleet's summary of 100,000
    // targets is tens of megabytes.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if serde_json::to_writer_pretty(&mut out, value).is_err() {
        let _ = out.write_all(b"null");
    }
    let _ = out.write_all(b"\n");
    let _ = out.flush();
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

/// Prints a `--dry-run` request, as the client prepared it, with its secrets redacted. The user
/// data, redacted in the request, is shown apart: a cloud-config decoded, with every password
/// hidden; any other kind not at all (a script may hold secrets anywhere).
pub(crate) fn print_dry_run(
    output: Output,
    dry: &reimage_client::DryRun,
    user_data: Option<&UserData>,
) {
    let shown = dry.shown();
    let user_data_shown =
        user_data.map(|u| (u.len(), reimage_cloudinit::redact::passwords(u.as_bytes())));
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
                "user_data": user_data_shown.as_ref().map(|(bytes, text)| serde_json::json!({
                    "bytes": bytes,
                    "shown": text,
                })),
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
            match &user_data_shown {
                Some((bytes, Some(text))) => {
                    crate::say("");
                    crate::say(&format!(
                        "user data ({bytes} bytes; passwords redacted), in place of [REDACTED] above:"
                    ));
                    crate::say(text.trim_end());
                }
                Some((bytes, None)) => crate::say(&format!(
                    "\nuser data: {bytes} bytes, not a cloud-config, so not shown (a script may \
                     hold secrets anywhere)"
                )),
                None => {}
            }
        }
    }
}

/// Where a resolved setting came from, as ` (from ORIGIN)`, or nothing.
fn from(resolved: &Resolved, key: &str) -> String {
    resolved
        .origins
        .get(key)
        .map(|o| format!(" (from {o})"))
        .unwrap_or_default()
}

/// The ECS account, project, endpoint and region a command is about to use, as lines for the
/// person to check before confirming. The access key shows its first four characters only.
pub(crate) fn ecs_account(resolved: &Resolved, project_id: &str, endpoint: &str) -> Vec<String> {
    let account = match resolved.ecs_auth() {
        Ok(reimage_config::EcsAuth::AkSk { ak, .. }) => format!(
            "access key {}…{}",
            ak.chars().take(4).collect::<String>(),
            from(resolved, "ak")
        ),
        Ok(reimage_config::EcsAuth::Password {
            username, domain, ..
        }) => format!(
            "IAM user {username}{} of domain {domain}{}",
            from(resolved, "username"),
            from(resolved, "domain")
        ),
        Err(_) => "unknown credentials".to_owned(),
    };
    let region = resolved
        .ecs
        .region
        .as_deref()
        .map(|r| format!(", region {r}{}", from(resolved, "region")))
        .unwrap_or_default();
    vec![
        format!("  account: {account}, project {project_id}"),
        format!(
            "  endpoint: {endpoint}{}{region}",
            from(resolved, "endpoint")
        ),
    ]
}

/// The EDIS account and the session service a command is about to use.
pub(crate) fn edis_account(resolved: &Resolved) -> Vec<String> {
    let email = resolved.edis.email.as_deref().unwrap_or("?");
    vec![format!(
        "  account: {email}{}, sessions from {}{}",
        from(resolved, "edis_email"),
        resolved.edis.auth_base,
        from(resolved, "edis_auth_base")
    )]
}

/// Whether a provider's message asks for a key pair instead of a password (the key-pair-only
/// regions' answer to a password with a cloud-init image).
fn keypair_asked(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("password") && (lower.contains("keypair") || lower.contains("key pair"))
}
