//! The stages after an ECS job, shared by `reimage ecs … --wait=ssh|cloud-init` and
//! `reimage fleet apply`: the host keys that cloud-init wrote to the server's console
//! ([`console_keys`]), the keys its SSH server presents, read with OpenSSH's `ssh-keyscan`
//! ([`presented_keys`]) and checked against the console with
//! [`reimage_hostkeys::verify::against_console`], then cloud-init's final message and failures
//! ([`cloud_init_final`]). Each stage is one [`poll_until`] loop; the caller says how it reports
//! progress and what it does with the verified keys (known_hosts is the caller's: the command
//! line writes its file, the fleet hands the keys to its one writer).

use std::time::{Duration, Instant};

use reimage_core::ServerId;
use reimage_hostkeys::PublicKey;
use reimage_hostkeys::console::{self, BootConsole};
use reimage_hostkeys::scan::ScanError;

use crate::poll::{Step, poll_until};
use crate::retry::PollSchedule;
use crate::wire::ecs::{ConsoleLength, ServerDetails};
use crate::{EcsClient, Error, Progress, ProgressEvent};

/// How long one `ssh-keyscan` connection may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a stage ended without its answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// cloud-init finished without writing the host keys to the console.
    #[error("cloud-init finished without writing the host keys to the console")]
    NoKeysOnConsole,
    /// `ssh-keyscan` could not be started.
    #[error("ssh-keyscan could not be started: {0}")]
    ScanNotInstalled(std::io::Error),
    /// The blocking task that ran `ssh-keyscan` did not finish.
    #[error("ssh-keyscan did not finish: {0}")]
    ScanDidNotFinish(String),
    /// The poll loop ended: the deadline passed, or the provider refused.
    #[error(transparent)]
    Poll(#[from] Error),
}

/// Stage ssh, first half: reads `server`'s console until this boot's cloud-init has written its
/// host keys (fingerprints and keys blocks complete); [`StageError::NoKeysOnConsole`] when
/// cloud-init finished without writing them.
///
/// # Errors
///
/// [`StageError`]: no keys on the console, or the poll loop ended.
pub async fn console_keys(
    client: &EcsClient,
    server: &ServerId,
    schedule: &PollSchedule,
    on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
) -> Result<BootConsole, StageError> {
    read_console(
        client,
        server,
        schedule,
        "cloud-init's host keys on the console",
        on_progress,
        |boot| {
            if boot.boot_seen
                && boot.blocks_complete
                && !(boot.keys.is_empty() && boot.fingerprints.is_empty())
            {
                return Step::Done(Ok(boot));
            }
            if boot.finished.is_some() {
                return Step::Done(Err(StageError::NoKeysOnConsole));
            }
            Step::Wait(if boot.boot_seen {
                "the new system booted; cloud-init has not written the host keys yet".to_owned()
            } else {
                "the console shows no boot of the new system yet".to_owned()
            })
        },
    )
    .await
}

/// Stage cloud-init: reads `server`'s console until cloud-init's final message is on it.
///
/// # Errors
///
/// [`StageError::Poll`]: the deadline passed (a boot that never finishes), or the provider
/// refused.
pub async fn cloud_init_final(
    client: &EcsClient,
    server: &ServerId,
    schedule: &PollSchedule,
    on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
) -> Result<BootConsole, StageError> {
    read_console(
        client,
        server,
        schedule,
        "cloud-init's final message on the console",
        on_progress,
        |boot| {
            if boot.finished.is_some() {
                Step::Done(Ok(boot))
            } else {
                Step::Wait("cloud-init has not finished yet".to_owned())
            }
        },
    )
    .await
}

/// Stage ssh, second half: the host keys that `address` presents on `port`, read with
/// `ssh-keyscan` until it answers. `origin` is when the stages began (for the elapsed times of
/// the progress events). A key that only changed is judged by `accept`: `Ok` ends the wait,
/// `Err(why)` keeps waiting and reports `why`.
///
/// # Errors
///
/// [`StageError`]: `ssh-keyscan` is missing, or the poll loop ended.
pub async fn presented_keys(
    address: &str,
    port: u16,
    schedule: &PollSchedule,
    origin: Instant,
    what: &str,
    on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    accept: &(dyn Fn(&[PublicKey]) -> Result<(), String> + Sync),
) -> Result<Vec<PublicKey>, StageError> {
    poll_until(schedule, origin, what, on_progress, || {
        let host = address.to_owned();
        async move {
            let scan = tokio::task::spawn_blocking(move || {
                reimage_hostkeys::scan::keyscan(&host, port, SCAN_TIMEOUT)
            })
            .await;
            Ok(match scan {
                Ok(Ok(keys)) => match accept(&keys) {
                    Ok(()) => (Step::Done(Ok(keys)), None),
                    Err(why) => (Step::Wait(why.clone()), Some(trouble(why))),
                },
                Ok(Err(ScanError::NotInstalled(e))) => {
                    (Step::Done(Err(StageError::ScanNotInstalled(e))), None)
                }
                Ok(Err(e)) => (Step::Wait(e.to_string()), Some(trouble(e.to_string()))),
                Err(e) => (
                    Step::Done(Err(StageError::ScanDidNotFinish(e.to_string()))),
                    None,
                ),
            })
        }
    })
    .await?
}

/// The address to reach a server's SSH server on: its elastic (floating) IPv4 address, else its
/// first IPv4 address, else its first address.
#[must_use]
pub fn public_address(s: &ServerDetails) -> Option<String> {
    let all: Vec<_> = s.addresses.values().flatten().collect();
    all.iter()
        .find(|a| a.kind.as_deref() == Some("floating") && a.version != Some(6))
        .or_else(|| all.iter().find(|a| a.version != Some(6)))
        .or_else(|| all.first())
        .map(|a| a.addr.clone())
}

/// The schedule of a stage: ECS's usual intervals, up to what is left of `deadline`.
#[must_use]
pub fn schedule(deadline: Instant) -> PollSchedule {
    PollSchedule {
        deadline: deadline.saturating_duration_since(Instant::now()),
        ..PollSchedule::default()
    }
}

fn trouble(problem: String) -> Progress {
    Progress::Trouble { problem }
}

/// Reads the console through the one poll loop until `judge` says it is done (or refuses).
async fn read_console(
    client: &EcsClient,
    server: &ServerId,
    schedule: &PollSchedule,
    what: &str,
    on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    judge: impl Fn(BootConsole) -> Step<Result<BootConsole, StageError>> + Sync,
) -> Result<BootConsole, StageError> {
    let judge = &judge;
    poll_until(schedule, Instant::now(), what, on_progress, || async move {
        let text = client.console_output(server, ConsoleLength::All).await?;
        let step = judge(console::read(&text));
        let shown = match &step {
            Step::Wait(problem) => Some(trouble(problem.clone())),
            Step::Done(_) => None,
        };
        Ok((step, shown))
    })
    .await?
}
