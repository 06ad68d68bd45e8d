//! The stages after the job (`--wait=ssh`, `--wait=cloud-init`). ECS: the host keys that
//! cloud-init wrote to the server's console, the key its SSH server presents (read with
//! OpenSSH's `ssh-keyscan`) checked against them, `known_hosts` updated with the verified keys
//! only, and cloud-init's verdict from the console (its final message and module failures).
//! EDIS with `--host-keys inject`: the key presented checked against the one reimage injected.
//!
//! The engine is `reimage-hostkeys` and the stages of `reimage_client::after` (shared with
//! `reimage fleet apply`); this module is the order of the stages, the flags and the words.

use std::path::PathBuf;
use std::time::Instant;

use reimage_client::EcsClient;
use reimage_client::after::{self, StageError};
use reimage_core::ServerId;
use reimage_hostkeys::console::{self, BootConsole};
use reimage_hostkeys::known_hosts::{Host, Naming};
use reimage_hostkeys::verify::{self, Refusal};
use reimage_hostkeys::{PublicKey, keys};
use serde_json::{Value, json};

use crate::common::{Failure, Progress, WaitFor, exit};

/// The flags of the stages after the job.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AfterArgs {
    /// With `--wait=ssh` or `--wait=cloud-init`: the known_hosts file to update with the
    /// verified host keys (stale entries of the address removed, every other line kept), or
    /// `none` to leave every file alone. Default: `~/.ssh/known_hosts`.
    #[arg(long = "known-hosts", value_name = "FILE|none")]
    pub(crate) known_hosts: Option<String>,

    /// The port the server's SSH server listens on, for `--wait=ssh` and `--wait=cloud-init`.
    #[arg(long = "ssh-port", value_name = "PORT", default_value_t = 22)]
    pub(crate) ssh_port: u16,
}

/// How the key an EDIS KVM presents after its install is judged.
#[derive(Debug)]
pub(crate) enum KeyCheck<'a> {
    /// Against the key reimage injected (`--host-keys inject`): verified.
    Injected(&'a PublicKey, &'a AfterArgs),
    /// It must differ from the keys presented before the reinstall was sent: a new system
    /// answers, but who it is stays unverified. With the SSH port.
    Changed(Vec<PublicKey>, u16),
    /// Only the port is waited for (`reimage edis wait`, which knows no key from before).
    PortOnly,
}

/// What the stages found.
#[derive(Debug)]
pub(crate) struct AfterOutcome {
    /// The host keys: verified, unless `verified` says otherwise.
    pub(crate) keys: Vec<PublicKey>,
    /// Whether `keys` were verified (against the console or an injected key), or only seen to
    /// have changed since before the reinstall (EDIS without `--host-keys inject`).
    pub(crate) verified: bool,
    /// The known_hosts file updated, with how many entries went and came.
    pub(crate) known_hosts: Option<(PathBuf, usize, usize)>,
    /// The console of the last boot, when `--wait=cloud-init` read its verdict.
    pub(crate) cloud_init: Option<BootConsole>,
}

impl AfterOutcome {
    /// The stages' part of the `--output json` document.
    pub(crate) fn to_json(&self, address: &str, port: u16) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                json!({
                    "type": keys::keygen_type(&k.algorithm()),
                    "fingerprint": keys::fingerprint(k),
                })
            })
            .collect();
        let (verified, changed) = if self.verified {
            (keys, Vec::new())
        } else {
            (Vec::new(), keys)
        };
        json!({
            "ssh": {
                "address": address,
                "port": port,
                "verified_host_keys": verified,
                "changed_host_keys": changed,
                "known_hosts": self.known_hosts.as_ref().map(|(path, removed, added)| json!({
                    "path": path.display().to_string(),
                    "removed": removed,
                    "added": added,
                })),
            },
            "cloud_init": self.cloud_init.as_ref().map(cloud_init_json),
        })
    }

    /// The lines for people.
    pub(crate) fn lines(&self) -> Vec<String> {
        if !self.verified {
            let mut out: Vec<String> = self
                .keys
                .iter()
                .map(|k| {
                    format!(
                        "host key changed since before the reinstall: {} {} (not verified: EDIS \
                         has no console; --host-keys inject verifies it)",
                        keys::keygen_type(&k.algorithm()),
                        keys::fingerprint(k)
                    )
                })
                .collect();
            out.push("known_hosts left alone: the new key was not verified".to_owned());
            return out;
        }
        let mut out: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                format!(
                    "host key verified: {} {}",
                    keys::keygen_type(&k.algorithm()),
                    keys::fingerprint(k)
                )
            })
            .collect();
        match &self.known_hosts {
            Some((path, removed, added)) => out.push(format!(
                "known_hosts {}: {removed} stale entr{} removed, {added} added",
                path.display(),
                if *removed == 1 { "y" } else { "ies" }
            )),
            None => out.push("known_hosts left alone (--known-hosts none)".to_owned()),
        }
        if let Some(boot) = &self.cloud_init {
            out.push(verdict_line(boot));
        }
        out
    }

    /// The failure to end with when cloud-init reported errors (exit 10), else `None`.
    pub(crate) fn cloud_init_failure(&self, server: &ServerId) -> Option<Failure> {
        let boot = self.cloud_init.as_ref()?;
        let errors = boot.errors();
        if errors.is_empty() {
            return None;
        }
        let listed: Vec<String> = errors.iter().map(|p| error_text(p)).collect();
        Some(
            Failure::new(
                exit::CLOUD_INIT_ERRORS,
                format!(
                    "server {server} was re-imaged, but cloud-init reported errors: {}",
                    listed.join("; ")
                ),
            )
            .hint(
                "the new system runs; log in and read /var/log/cloud-init.log (or run \
                 `cloud-init status --long`) to see what failed",
            ),
        )
    }
}

/// A problem from the console, on one line with its control characters escaped: the console is
/// the server's text, and it reaches the person's terminal.
fn error_text(p: &console::LoggedProblem) -> String {
    let shown = crate::validate::one_line;
    match &p.failed_module {
        Some(module) => format!("module {} failed", shown(module)),
        None => format!("{} ({}): {}", p.level, shown(&p.source), shown(&p.message)),
    }
}

fn verdict_line(boot: &BootConsole) -> String {
    let done = boot
        .finished
        .as_ref()
        .map(|f| {
            format!(
                "cloud-init {} finished at {}",
                crate::validate::one_line(&f.version),
                crate::validate::one_line(&f.finished_at)
            )
        })
        .unwrap_or_default();
    let errors = boot.errors();
    if errors.is_empty() {
        format!("{done}: no errors on the console")
    } else {
        let listed: Vec<String> = errors.iter().map(|p| error_text(p)).collect();
        format!("{done}, with errors: {}", listed.join("; "))
    }
}

fn cloud_init_json(boot: &BootConsole) -> Value {
    let errors: Vec<String> = boot.errors().iter().map(|p| error_text(p)).collect();
    let recoverable: Vec<String> = boot
        .problems
        .iter()
        .filter(|p| p.failed_module.is_none() && p.level == "WARNING")
        .map(|p| format!("{} ({}): {}", p.level, p.source, p.message))
        .collect();
    json!({
        "status": if errors.is_empty() { "done" } else { "error" },
        "source": "console",
        "version": boot.finished.as_ref().map(|f| f.version.clone()),
        "finished_at": boot.finished.as_ref().map(|f| f.finished_at.clone()),
        "errors": errors,
        "recoverable_errors": recoverable,
    })
}

/// Runs the stages after an ECS job for `server`, reachable on `address`, until `deadline`.
pub(crate) async fn ecs_stages(
    client: &EcsClient,
    server: &ServerId,
    address: &str,
    wait: WaitFor,
    args: &AfterArgs,
    deadline: Instant,
) -> Result<AfterOutcome, Failure> {
    let started = Instant::now();
    let port = args.ssh_port;
    let known_hosts = known_hosts_path(args)?;
    let next = format!("reimage ecs server --server {server}");

    // Stage ssh, 1: the host keys on the console, written by this boot's cloud-init.
    let mut progress = Progress::new(&format!(
        "stage ssh: waiting for cloud-init to write server {server}'s host keys to its console"
    ));
    let boot = after::console_keys(client, server, &schedule(deadline), &mut |e| {
        progress.event(e);
    })
    .await
    .map_err(|e| stage_failure(e, server).next_step(&next))?;
    progress.finish(&format!(
        "the console lists {} host key(s)",
        boot.keys.len().max(boot.fingerprints.len())
    ));

    // Stage ssh, 2: the key the SSH server presents, checked against the console.
    let mut progress = Progress::new(&format!(
        "stage ssh: reading the host key that {address} port {port} presents"
    ));
    let presented = presented_keys(address, port, deadline, started, &mut progress)
        .await
        .map_err(|e| e.next_step(&next))?;
    let verified = verify::against_console(&presented, &boot)
        .map_err(|refusal| refused(&refusal, address, port, known_hosts.as_ref()))?;
    progress.finish(&format!(
        "{address} port {port} presents the host key cloud-init wrote to the console"
    ));

    // known_hosts: the verified keys only.
    let updated = write_known_hosts(known_hosts.as_ref(), address, port, &verified.keys)?;

    // Stage cloud-init: its final message and failures on the console.
    let cloud_init = if wait == WaitFor::CloudInit && boot.finished.is_none() {
        let mut progress = Progress::new(&format!(
            "stage cloud-init: waiting for cloud-init's final message on server {server}'s console"
        ));
        let boot = after::cloud_init_final(client, server, &schedule(deadline), &mut |e| {
            progress.event(e);
        })
        .await
        .map_err(|e| stage_failure(e, server).next_step(&next))?;
        progress.finish(&verdict_line(&boot));
        Some(boot)
    } else if wait == WaitFor::CloudInit {
        crate::note(&format!("stage cloud-init: {}", verdict_line(&boot)));
        Some(boot)
    } else {
        None
    };
    Ok(AfterOutcome {
        keys: verified.keys,
        verified: true,
        known_hosts: updated,
        cloud_init,
    })
}

/// `--host-keys inject` (EDIS): the key the KVM on `address` presents must be `expected`, the
/// one reimage generated and sent in the cloud-config; then known_hosts gets it.
pub(crate) async fn injected_stage(
    address: &str,
    expected: &PublicKey,
    args: &AfterArgs,
    deadline: Instant,
    target: &str,
) -> Result<AfterOutcome, Failure> {
    let port = args.ssh_port;
    let known_hosts = known_hosts_path(args)?;
    let mut progress = Progress::new(&format!(
        "stage ssh: reading the host key that {address} port {port} presents"
    ));
    let presented = presented_keys(address, port, deadline, Instant::now(), &mut progress)
        .await
        .map_err(|e| e.next_step(&format!("reimage edis status --kvm {target}")))?;
    let verified = verify::against_expected(&presented, std::slice::from_ref(expected))
        .map_err(|refusal| refused(&refusal, address, port, known_hosts.as_ref()))?;
    progress.finish(&format!(
        "{address} port {port} presents the host key reimage injected"
    ));
    let updated = write_known_hosts(known_hosts.as_ref(), address, port, &verified.keys)?;
    Ok(AfterOutcome {
        keys: verified.keys,
        verified: true,
        known_hosts: updated,
        cloud_init: None,
    })
}

/// EDIS without an injected key: waits until the KVM on `address` presents host keys that
/// differ from `before`, those it presented before the reinstall was sent. That a new system
/// answers is proven; who it is is not, so nothing is written to known_hosts.
pub(crate) async fn changed_stage(
    address: &str,
    port: u16,
    before: &[PublicKey],
    deadline: Instant,
    target: &str,
) -> Result<AfterOutcome, Failure> {
    let started = Instant::now();
    let mut progress = Progress::new(&format!(
        "stage ssh: waiting for {address} port {port} to present a new host key"
    ));
    let presented = after::presented_keys(
        address,
        port,
        &schedule(deadline),
        started,
        &format!("a new SSH host key on {address} port {port}"),
        &mut |e| progress.event(e),
        &|keys| verify::changed_since(keys, before).map_err(|refusal| refusal.to_string()),
    )
    .await
    .map_err(|e| scan_failure(e).next_step(&format!("reimage edis status --kvm {target}")))?;
    progress.finish(&format!(
        "{address} port {port} presents a host key it did not have before the reinstall"
    ));
    Ok(AfterOutcome {
        keys: presented,
        verified: false,
        known_hosts: None,
        cloud_init: None,
    })
}

/// The keys `address` presents on `port`, read with `ssh-keyscan` through the one poll loop.
async fn presented_keys(
    address: &str,
    port: u16,
    deadline: Instant,
    started: Instant,
    progress: &mut Progress,
) -> Result<Vec<PublicKey>, Failure> {
    after::presented_keys(
        address,
        port,
        &schedule(deadline),
        started,
        &format!("an SSH host key on {address} port {port}"),
        &mut |e| progress.event(e),
        &|_| Ok(()),
    )
    .await
    .map_err(scan_failure)
}

/// The failure of the `ssh-keyscan` stage, in the command line's words.
fn scan_failure(e: StageError) -> Failure {
    match e {
        StageError::ScanNotInstalled(e) => Failure::new(
            exit::USAGE,
            format!("ssh-keyscan could not be started: {e}"),
        )
        .hint("install OpenSSH's client (Debian: openssh-client), or use --wait=job"),
        StageError::ScanDidNotFinish(e) => {
            Failure::new(exit::FAILED, format!("ssh-keyscan did not finish: {e}"))
        }
        StageError::Poll(e) => Failure::from(e),
        other => Failure::new(exit::FAILED, other.to_string()),
    }
}

/// The failure of a console stage, in the command line's words.
fn stage_failure(e: StageError, server: &ServerId) -> Failure {
    match e {
        StageError::NoKeysOnConsole => no_keys(server),
        other => scan_failure(other),
    }
}

/// Writes the verified `keys` of `address` port `port` to `path` (none: `--known-hosts none`).
fn write_known_hosts(
    path: Option<&PathBuf>,
    address: &str,
    port: u16,
    keys: &[PublicKey],
) -> Result<Option<(PathBuf, usize, usize)>, Failure> {
    let Some(path) = path else {
        return Ok(None);
    };
    let host = Host::new(address, port);
    let done =
        reimage_hostkeys::file::update_file(path, std::slice::from_ref(&host), keys, Naming::Auto)
            .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    Ok(Some((path.clone(), done.removed, done.added)))
}

/// The schedule of a stage: ECS's usual intervals, up to what is left of the deadline.
fn schedule(deadline: Instant) -> reimage_client::PollSchedule {
    after::schedule(deadline)
}

/// cloud-init finished without writing the host keys to the console.
fn no_keys(server: &ServerId) -> Failure {
    Failure::new(
        exit::FAILED,
        format!(
            "cloud-init on server {server} finished without writing the host keys to the \
             console, so the key its SSH server presents cannot be checked; known_hosts was not \
             changed"
        ),
    )
    .hint(
        "keep `ssh: {emit_keys_to_console: true}` (cloud-init's default) in the user data, or \
         use --wait=job",
    )
}

/// The refusal to trust the presented keys: known_hosts untouched, and why.
fn refused(refusal: &Refusal, address: &str, port: u16, known_hosts: Option<&PathBuf>) -> Failure {
    let file = known_hosts.map_or_else(
        || "no known_hosts file".to_owned(),
        |p| format!("{} was not changed", p.display()),
    );
    let failure = Failure::new(
        exit::FAILED,
        format!("host key of {address} port {port} refused: {refusal}; {file}"),
    );
    match refusal {
        Refusal::Mismatch { .. } => failure.hint(
            "do not connect: something other than the new system answers on that address (or \
             the address is not this server's). Compare the console in the provider's web \
             console with `ssh-keyscan`",
        ),
        _ => failure.hint("run the command again with --wait=job, and look at the console"),
    }
}

/// `--known-hosts`: the file, `None` for `none`; the default is `~/.ssh/known_hosts`.
fn known_hosts_path(args: &AfterArgs) -> Result<Option<PathBuf>, Failure> {
    match args.known_hosts.as_deref() {
        Some("none") => Ok(None),
        Some("") => Err(Failure::usage(
            "--known-hosts: empty; give a file, or none to leave every file alone",
        )),
        Some(path) => Ok(Some(PathBuf::from(path))),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| Some(PathBuf::from(home).join(".ssh").join("known_hosts")))
            .ok_or_else(|| {
                Failure::usage("--known-hosts: HOME is not set, so ~/.ssh/known_hosts is unknown")
                    .hint("pass --known-hosts FILE, or --known-hosts none")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(known_hosts: Option<&str>) -> AfterArgs {
        AfterArgs {
            known_hosts: known_hosts.map(str::to_owned),
            ssh_port: 22,
        }
    }

    #[test]
    fn console_text_reaches_the_terminal_on_one_line_without_escapes() {
        let boot = console::read(
            "Linux version 6.1\n2026-12-07 04:09:58,120 - cc_x.py[ERROR]: bad \u{1b}[2Jthing\rforged\n",
        );
        let shown = error_text(&boot.problems[0]);
        assert_eq!(shown, "ERROR (cc_x.py): bad \\u{1b}[2Jthing\\rforged");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn known_hosts_is_the_file_given_none_or_refused_when_empty() {
        assert_eq!(
            known_hosts_path(&args(Some("kh"))).ok().flatten(),
            Some(PathBuf::from("kh"))
        );
        assert_eq!(known_hosts_path(&args(Some("none"))).ok().flatten(), None);
        let empty = known_hosts_path(&args(Some(""))).err().map(|f| f.code);
        assert_eq!(empty, Some(exit::USAGE));
    }
}
