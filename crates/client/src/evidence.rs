//! Evidence that a reinstall or change of OS took effect, and the one safe way to send such a
//! call.
//!
//! A reinstall is never sent twice blindly. The clients send it once, through this module's
//! `safe_send`; when the answer is lost (or a gateway refused it) that looks at the server for
//! evidence, by a per-provider rule that the fleet's resume uses too: [`ecs`] compares two readings of an ECS server, [`edis`] two
//! power states of an EDIS KVM. With evidence the caller follows the server; without, a lost
//! answer is [`Error::OutcomeUnknown`], and a refusal is sent again only while the server shows
//! no sign of the first call.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reimage_core::Timestamp;
use reimage_wire::ecs::{ServerDetails, ServerStatus};
use reimage_wire::edis::PowerState;

use crate::Error;

/// What was seen that says a reinstall or change of OS took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// ECS: the server's status is `REBUILD`.
    Rebuilding,
    /// ECS: the server's task state is one of the rebuild (`rebuild_block_device_mapping`,
    /// `rebuilding`, `rebuild_spawning`).
    RebuildTask,
    /// ECS: the server was `ACTIVE` with no task under way and is now powering off or `SHUTOFF`:
    /// the first step of a `withStopServer` rebuild (ECS and reimage refuse any other rebuild of
    /// a running server). A stop by someone else at that very moment looks the same; the
    /// follow then waits for a new system disk or launch, and ends in a timeout rather than a
    /// second send or a false success.
    StoppingForRebuild,
    /// ECS: `OS-SRV-USG:launched_at` is later than before.
    Launched,
    /// ECS: `updated` is later than before.
    Updated,
    /// ECS: the system disk (the volume at boot index 0) is another one: the OS was rebuilt,
    /// even where `updated` and `launched_at` did not move.
    SystemDisk,
    /// EDIS: the KVM was powered on before and is not now: the install began.
    PoweredOff {
        /// The power state now.
        now: PowerState,
    },
    /// Evidence seen earlier and kept as text (a fleet journal's record of it).
    Recorded(String),
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rebuilding => f.write_str("the server's status is now REBUILD"),
            Self::RebuildTask => f.write_str("the server's task state is now a rebuild's"),
            Self::StoppingForRebuild => {
                f.write_str("the server was running and is now powering off (withStopServer)")
            }
            Self::Launched => f.write_str("the server's OS-SRV-USG:launched_at moved on"),
            Self::Updated => f.write_str("the server's `updated` moved on"),
            Self::SystemDisk => f.write_str("the server's system disk is a new one"),
            Self::PoweredOff { now } => write!(
                f,
                "the KVM was powered on before and is now {now}: the install began"
            ),
            Self::Recorded(text) => f.write_str(text),
        }
    }
}

/// The evidence, in `now` compared with `before`, that an ECS rebuild began or ended in between:
/// status `REBUILD`, a rebuild task state, a later `launched_at` or `updated`, or a server that
/// was running idle and now powers off (a `withStopServer` rebuild's first step).
pub fn ecs(before: &ServerDetails, now: &ServerDetails) -> Option<Evidence> {
    if now.status == Some(ServerStatus::Rebuild) {
        return Some(Evidence::Rebuilding);
    }
    if now.is_rebuilding() {
        return Some(Evidence::RebuildTask);
    }
    if later(before.launched_at, now.launched_at) {
        return Some(Evidence::Launched);
    }
    if later(before.updated, now.updated) {
        return Some(Evidence::Updated);
    }
    if new_system_disk(before, now) {
        return Some(Evidence::SystemDisk);
    }
    let was_idle = before.status == Some(ServerStatus::Active)
        && before.task_state.as_deref().is_none_or(str::is_empty);
    let powers_off = now.status == Some(ServerStatus::Shutoff)
        || now
            .task_state
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("powering-off"));
    if was_idle && powers_off {
        return Some(Evidence::StoppingForRebuild);
    }
    None
}

/// Whether `now` has another system disk than `before` (both known).
pub(crate) fn new_system_disk(before: &ServerDetails, now: &ServerDetails) -> bool {
    matches!(
        (&before.system_disk, &now.system_disk),
        (Some(old), Some(new)) if old != new
    )
}

/// The evidence that an EDIS install began: a KVM that was on before and is not now. A KVM
/// that was off before cannot tell.
pub fn edis(before: &PowerState, now: &PowerState) -> Option<Evidence> {
    (*before == PowerState::On && *now != PowerState::On)
        .then(|| Evidence::PoweredOff { now: now.clone() })
}

/// Whether `now` is a time after `before` (a time where there was none counts).
pub(crate) fn later(before: Option<Timestamp>, now: Option<Timestamp>) -> bool {
    match (before, now) {
        (Some(b), Some(n)) => n > b,
        (None, Some(_)) => true,
        _ => false,
    }
}

/// How a destructive call went: answered, or seen to take effect though its answer was not.
#[derive(Debug)]
pub(crate) enum Sent<T> {
    /// The provider's answer.
    Answered(T),
    /// No answer, but the server shows the call took effect.
    Seen(Evidence),
}

/// What [`safe_send`] needs to know about the call.
pub(crate) struct Destructive<'a> {
    /// The server or KVM, for errors: `server ID`, `KVM ID`.
    pub(crate) target: &'a str,
    /// Whether a gateway refusal (502/503/504) may be followed by a second send, when the server
    /// shows no sign of the first (EDIS: only if its power state could show it).
    pub(crate) resend_after_refusal: bool,
    /// What was checked when the server shows no sign, for [`Error::OutcomeUnknown`].
    pub(crate) no_sign: &'a str,
}

/// Sends a non-idempotent call once. After an ambiguous failure, looks for evidence with
/// `look` (which reads the server up to twice, a second apart): with evidence the call took
/// effect; without, the outcome is unknown and nothing is sent again. After a gateway
/// refusal, sends again (at most twice) only if `look` finds no sign of the first call.
pub(crate) async fn safe_send<T, S, SF, L, LF>(
    call: &Destructive<'_>,
    mut send: S,
    mut look: L,
) -> Result<Sent<T>, Error>
where
    S: FnMut() -> SF,
    SF: Future<Output = Result<T, Error>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<Evidence>, Error>>,
{
    let mut refused = 0u32;
    loop {
        match send().await {
            Ok(answer) => return Ok(Sent::Answered(answer)),
            Err(Error::Ambiguous { operation, problem }) => {
                tracing::warn!(operation, problem = %problem, "answer lost; looking at the server");
                return match look().await {
                    Ok(Some(evidence)) => Ok(Sent::Seen(evidence)),
                    Ok(None) => Err(Error::OutcomeUnknown {
                        operation,
                        target: call.target.to_owned(),
                        problem,
                        checked: call.no_sign.to_owned(),
                    }),
                    Err(e) => Err(Error::OutcomeUnknown {
                        operation,
                        target: call.target.to_owned(),
                        problem,
                        checked: format!("the server could not be checked: {e}"),
                    }),
                };
            }
            // A gateway error says the call failed; send again only if the server agrees.
            Err(Error::Provider(e))
                if matches!(e.status, 502..=504) && call.resend_after_refusal && refused < 2 =>
            {
                refused += 1;
                match look().await {
                    Ok(Some(evidence)) => return Ok(Sent::Seen(evidence)),
                    Ok(None) => {
                        tracing::info!(
                            status = e.status,
                            "refused, and the server shows no sign of it; sending again"
                        );
                        tokio::time::sleep(crate::retry::jitter(Duration::from_secs(1))).await;
                    }
                    Err(_) => return Err(Error::Provider(e)),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use reimage_core::ServerId;

    use super::*;

    fn server() -> ServerDetails {
        let mut s =
            ServerDetails::new(ServerId::new("11111111-2222-3333-4444-555555555555").unwrap());
        s.status = Some(ServerStatus::Shutoff);
        s.updated = Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
        s.launched_at = Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
        s
    }

    #[test]
    fn evidence_is_a_rebuild_or_a_later_launch_and_nothing_else() {
        let before = server();
        assert_eq!(ecs(&before, &before.clone()), None);
        let mut rebuilding = before.clone();
        rebuilding.status = Some(ServerStatus::Rebuild);
        assert!(
            ecs(&before, &rebuilding)
                .unwrap()
                .to_string()
                .contains("REBUILD")
        );
        let mut task = before.clone();
        task.task_state = Some("rebuilding".into());
        assert!(ecs(&before, &task).is_some());
        let mut launched = before.clone();
        launched.launched_at = Some(Timestamp::parse("2026-01-01T00:05:00Z").unwrap());
        assert!(
            ecs(&before, &launched)
                .unwrap()
                .to_string()
                .contains("launched_at")
        );
        let mut older = before.clone();
        older.updated = Some(Timestamp::parse("2025-12-31T00:00:00Z").unwrap());
        assert_eq!(ecs(&before, &older), None);
        let mut other_task = before.clone();
        other_task.task_state = Some("powering-on".into());
        assert_eq!(ecs(&before, &other_task), None);
        let mut spawning = before.clone();
        spawning.task_state = Some("rebuild_spawning".into());
        assert_eq!(ecs(&before, &spawning), Some(Evidence::RebuildTask));
        // A stopped server that powers off again is no sign; a running idle one is.
        let mut powering_off = before.clone();
        powering_off.task_state = Some("powering-off".into());
        assert_eq!(ecs(&before, &powering_off), None);
        let mut running = before.clone();
        running.status = Some(ServerStatus::Active);
        let mut stopping = running.clone();
        stopping.task_state = Some("powering-off".into());
        assert_eq!(ecs(&running, &stopping), Some(Evidence::StoppingForRebuild));
        let mut stopped = running.clone();
        stopped.status = Some(ServerStatus::Shutoff);
        assert_eq!(ecs(&running, &stopped), Some(Evidence::StoppingForRebuild));
        let mut disk = before.clone();
        disk.system_disk = Some("0d150001-aaaa".into());
        let mut new_disk = disk.clone();
        assert_eq!(ecs(&disk, &new_disk), None);
        new_disk.system_disk = Some("0d150002-aaaa".into());
        assert_eq!(ecs(&disk, &new_disk), Some(Evidence::SystemDisk));
        assert_eq!(ecs(&before, &new_disk), None, "unknown before: no sign");
        let mut busy = running.clone();
        busy.task_state = Some("powering-off".into());
        assert_eq!(ecs(&busy, &stopping), None, "it was powering off already");
    }

    #[test]
    fn edis_evidence_is_a_kvm_that_was_on_and_is_not() {
        assert_eq!(
            edis(&PowerState::On, &PowerState::Off),
            Some(Evidence::PoweredOff {
                now: PowerState::Off
            })
        );
        assert_eq!(edis(&PowerState::On, &PowerState::On), None);
        assert_eq!(edis(&PowerState::Off, &PowerState::Off), None);
        assert_eq!(edis(&PowerState::Off, &PowerState::On), None);
        assert_eq!(
            edis(&PowerState::On, &PowerState::Off).unwrap().to_string(),
            "the KVM was powered on before and is now powered off: the install began"
        );
    }
}
