//! Settling a target by hand (`reimage fleet resolve PLAN TARGET --done|--retry|--forget`): one
//! whose outcome is `unknown`, which apply never sends again, or one whose plan entry changed
//! since it was sent ([`fingerprint::changed`]), which apply will
//! not send at all.
//!
//! The caller shows the evidence first: the target's [`history`](crate::journal::history) in
//! the journal and what the provider says of it now ([`look`]); then, once the person has
//! confirmed, appends the [`record`] of the [`Resolution`] to the journal (append-only, under
//! the journal's lock, as every record). [`allowed`] says which resolutions make sense:
//!
//! - `--done`: the target runs what the plan asks for; the record is `done` with the plan's
//!   fingerprint, and apply skips it from then on;
//! - `--retry`: the record is `pending`, and the next apply sends it again;
//! - `--forget`: the record is `forgotten`: the journal no longer knows the target (the next
//!   apply sends it, if it is still in the plan). The one resolution for a target no longer in
//!   the plan.
//!
//! A target that is `sending` or `sent` and not changed is apply's to settle (it follows it, or
//! asks the provider), and one without a record has nothing to settle.

use reimage_client::ecs::rebuild_evidence;
use reimage_client::wire::edis::PowerState;

use crate::apply::{Clients, baseline_details};
use crate::fingerprint::{self, Fingerprint};
use crate::journal::{Baseline, Record, State};
use crate::plan::{Action, Target};
use crate::text::one_line;

/// How a target is settled by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// It runs what the plan asks for: record it `done`.
    Done,
    /// Send it again on the next apply: record it `pending`.
    Retry,
    /// Drop it from the journal: record it `forgotten`.
    Forget,
}

impl Resolution {
    /// The flag that asks for it: `--done`, `--retry` or `--forget`.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Done => "--done",
            Self::Retry => "--retry",
            Self::Forget => "--forget",
        }
    }

    /// The state it records: `done`, `pending` or `forgotten`.
    pub fn state(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "pending",
            Self::Forget => "forgotten",
        }
    }
}

/// Whether `resolution` may settle a target whose latest journal record is `latest` (`None`:
/// the journal has none) and for which the plan now asks `planned` (`None`: the target is not
/// in the plan). The error, one line, says why not and what to do instead.
pub fn allowed(
    resolution: Resolution,
    latest: Option<&Record>,
    planned: Option<&Fingerprint>,
) -> Result<(), String> {
    let Some(record) = latest else {
        return Err(
            "the journal has no record of it: it is pending, and there is nothing to settle"
                .to_owned(),
        );
    };
    let Some(planned) = planned else {
        return match resolution {
            Resolution::Forget => Ok(()),
            _ => Err(format!(
                "it is not in the plan, so {} cannot apply to it; --forget drops it from the \
                 journal",
                resolution.flag()
            )),
        };
    };
    let changed = fingerprint::changed_from(record, planned).is_some();
    match (&record.state, resolution) {
        (State::Sending { .. } | State::Sent { .. } | State::JobDone { .. }, _) if !changed => {
            Err(format!(
                "it is {} in the journal: `reimage fleet apply` follows it to its end (or asks the \
             provider whether the send arrived); settle it by hand only if apply leaves it unknown",
                record.state.word()
            ))
        }
        (State::Done { .. }, Resolution::Done) if !changed => Err(
            "it is done already, as the plan asks; nothing to settle (--retry sends it again)"
                .to_owned(),
        ),
        (State::Pending { .. }, Resolution::Retry) => {
            Err("it is pending already: the next apply sends it".to_owned())
        }
        _ => Ok(()),
    }
}

/// The record that settles the target `key`, made at `at_ms`: `done` (with `planned`, the plan's
/// fingerprint), `pending` or `forgotten`, each saying it was settled by hand and what it was
/// (`latest`).
pub fn record(
    key: &str,
    resolution: Resolution,
    latest: &Record,
    planned: Option<Fingerprint>,
    at_ms: u64,
) -> Record {
    let was = format!(
        "was {}: {}",
        latest.state.word(),
        one_line(&latest.state.detail())
    );
    match resolution {
        Resolution::Done => Record::new(
            key,
            at_ms,
            State::Done {
                summary: format!("marked done by hand ({was})"),
            },
        )
        .with_fingerprint(planned),
        Resolution::Retry => Record::new(
            key,
            at_ms,
            State::Pending {
                reason: format!("put back by hand to be sent again ({was})"),
            },
        ),
        Resolution::Forget => Record::new(
            key,
            at_ms,
            State::Forgotten {
                reason: format!("forgotten by hand ({was})"),
            },
        ),
    }
}

/// The baseline of the last send in `history` (a `sending` or `sent` record), if any.
fn last_baseline(history: &[Record]) -> Option<&Baseline> {
    history.iter().rev().find_map(|r| match &r.state {
        State::Sending { baseline, .. } | State::Sent { baseline, .. } => Some(baseline),
        _ => None,
    })
}

/// What the provider says of `t` now, read with the clients of its profile (reads only), in
/// lines for a person, beside its `history` in the journal and what the plan asks for
/// (`planned`). ECS: the server's status, image and launch time, whether they show a rebuild
/// since the journal's last send (the rule apply uses after a crash), and whether the image and
/// the user data are the plan's. EDIS: the KVM's power state and whether it shows an install
/// since the last send; EDIS does not say which image a KVM runs. The error, one line, is why
/// the provider could not be read.
pub async fn look(
    t: &Target,
    clients: &Clients,
    history: &[Record],
    planned: Option<&Fingerprint>,
) -> Result<Vec<String>, String> {
    let baseline = last_baseline(history);
    let mut lines = Vec::new();
    match &t.action {
        Action::EcsReinstall { server, .. } | Action::EcsChangeOs { server, .. } => {
            let client = clients.ecs(t.profile.as_deref()).await?;
            let now = client.server(server).await.map_err(|e| e.to_string())?;
            let shown = |value: Option<String>| value.unwrap_or_else(|| "?".to_owned());
            lines.push(format!(
                "the server: status {}, image {}, launched at {}, updated at {}",
                shown(now.status.as_ref().map(|s| s.as_str().to_owned())),
                shown(now.image_id.as_ref().map(|i| i.as_str().to_owned())),
                shown(now.launched_at.map(|t| t.to_string())),
                shown(now.updated.map(|t| t.to_string())),
            ));
            if let Some(baseline) = baseline {
                let then = baseline_details(server, baseline);
                lines.push(match rebuild_evidence(&then, &now) {
                    Some(evidence) => {
                        format!("since the journal's last send: {evidence} (a rebuild began)")
                    }
                    None => "since the journal's last send: no sign of a rebuild (status, launch \
                             and update times are as they were)"
                        .to_owned(),
                });
            }
            if let Some(planned) = planned {
                if let (Some(want), Some(image)) = (&planned.image, &now.image_id) {
                    let same = want.eq_ignore_ascii_case(image.as_str());
                    lines.push(if same {
                        "its image is the plan's".to_owned()
                    } else {
                        format!("its image is not the plan's ({want})")
                    });
                }
                if let Some(user_data) = &now.user_data {
                    let digest = fingerprint::digest(user_data.as_bytes());
                    lines.push(if planned.user_data.as_deref() == Some(digest.as_str()) {
                        "its user data is the plan's (same SHA-256)".to_owned()
                    } else {
                        "its user data is not the plan's (another SHA-256)".to_owned()
                    });
                }
            }
        }
        Action::EdisReinstall { kvm, .. } => {
            let client = clients.edis(t.profile.as_deref()).await?;
            let now = client.power(kvm).await.map_err(|e| e.to_string())?.state;
            lines.push(format!("the KVM: {now}"));
            if let Some(before) = baseline.and_then(|b| b.power.as_deref()) {
                let before = PowerState::parse(before);
                lines.push(match reimage_client::evidence::edis(&before, &now) {
                    Some(evidence) => format!("since the journal's last send: {evidence}"),
                    None => format!(
                        "since the journal's last send: no sign either way (it was {before}, it \
                         is {now})"
                    ),
                });
            }
            lines.push(
                "EDIS does not say which image a KVM runs: look at it (ssh, the EDIS panel) \
                 before --done"
                    .to_owned(),
            );
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(state: State, fingerprint: Option<&Fingerprint>) -> Record {
        Record::new("ecs:x", 1, state).with_fingerprint(fingerprint.cloned())
    }

    fn fingerprint(image: &str) -> Fingerprint {
        Fingerprint {
            operation: "ecs.changeos".to_owned(),
            image: Some(image.to_owned()),
            login: "password".to_owned(),
            ..Fingerprint::default()
        }
    }

    #[test]
    fn what_each_state_allows() {
        use Resolution::{Done, Forget, Retry};
        let plan = fingerprint("new");
        let old = fingerprint("old");
        let done = State::Done {
            summary: "ok".to_owned(),
        };
        let unknown = State::Unknown {
            reason: "lost".to_owned(),
        };
        let sent = State::Sent {
            operation: "ecs.changeos".to_owned(),
            job_id: None,
            evidence: None,
            baseline: Baseline::default(),
        };
        let pending = State::Pending {
            reason: "by hand".to_owned(),
        };
        let ok = |r: Resolution, record: &Record, planned: Option<&Fingerprint>| {
            allowed(r, Some(record), planned).is_ok()
        };
        // Unknown: every resolution.
        for r in [Done, Retry, Forget] {
            assert!(ok(r, &at(unknown.clone(), Some(&plan)), Some(&plan)));
        }
        // Done and changed: every resolution; done as planned: not --done again.
        for r in [Done, Retry, Forget] {
            assert!(ok(r, &at(done.clone(), Some(&old)), Some(&plan)));
        }
        assert!(!ok(Done, &at(done.clone(), Some(&plan)), Some(&plan)));
        assert!(!ok(Done, &at(done.clone(), None), Some(&plan)));
        assert!(ok(Retry, &at(done.clone(), None), Some(&plan)));
        // In flight: apply's, unless the plan changed.
        let refused = allowed(Done, Some(&at(sent.clone(), Some(&plan))), Some(&plan));
        assert!(refused.unwrap_err().contains("follows it"));
        assert!(ok(Done, &at(sent, Some(&old)), Some(&plan)));
        // The job ended, the stages after it under way: apply's too.
        let job_done = State::JobDone {
            summary: "ACTIVE".to_owned(),
        };
        for r in [Done, Retry] {
            let refused = allowed(r, Some(&at(job_done.clone(), Some(&plan))), Some(&plan));
            assert!(
                refused
                    .unwrap_err()
                    .contains("it is job_done in the journal")
            );
        }
        assert!(ok(Retry, &at(job_done, Some(&old)), Some(&plan)));
        // Pending: not put back again.
        assert!(!ok(Retry, &at(pending.clone(), None), Some(&plan)));
        assert!(ok(Done, &at(pending, None), Some(&plan)));
        // No record, or not in the plan.
        assert!(allowed(Done, None, Some(&plan)).is_err());
        let gone = allowed(Done, Some(&at(done.clone(), None)), None).unwrap_err();
        assert!(gone.contains("--forget"), "{gone}");
        assert!(ok(Forget, &at(done, None), None));
    }

    #[test]
    fn each_resolution_records_its_state_and_what_it_was() {
        let unknown = at(
            State::Unknown {
                reason: "lost\nanswer".to_owned(),
            },
            None,
        );
        let plan = fingerprint("new");
        let done = record("ecs:x", Resolution::Done, &unknown, Some(plan.clone()), 9);
        assert_eq!(done.state.word(), "done");
        assert_eq!(done.fingerprint, Some(plan.clone()));
        assert_eq!(
            done.state.detail(),
            "marked done by hand (was unknown: lost\\nanswer)"
        );
        let retry = record("ecs:x", Resolution::Retry, &unknown, Some(plan.clone()), 9);
        assert_eq!(retry.state.word(), "pending");
        assert_eq!(retry.fingerprint, None, "nothing was sent by it");
        let forget = record("ecs:x", Resolution::Forget, &unknown, Some(plan), 9);
        assert_eq!(forget.state.word(), "forgotten");
        for r in [Resolution::Done, Resolution::Retry, Resolution::Forget] {
            assert!(r.flag().starts_with("--"));
            assert!(!r.state().is_empty());
        }
    }
}
