//! `reimage fleet resolve PLAN TARGET --done|--retry|--forget`: settle by hand a target that
//! apply will not settle itself. The evidence first (the journal's records of the target, what
//! the plan asks for, what the provider says now), then the question, then one record appended
//! to the journal under its lock. What may be settled, and the records, are
//! `reimage_fleet::resolve`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reimage_fleet::fingerprint::{self, Fingerprint};
use reimage_fleet::journal::{self, Journal, Record, now_ms};
use reimage_fleet::plan::{Inputs, Plan};
use reimage_fleet::resolve::{self, Resolution};
use serde_json::json;

use super::cmd::{journal_dir, journal_failure, load, resolver, shell_word};
use crate::common::{self, Connection, Failure, Output, exit};

/// How many of the target's latest journal records are shown.
const SHOWN_RECORDS: usize = 5;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plan file (TOML).
    plan: PathBuf,

    /// The target: its key as `fleet status` shows it (`ecs:<server id>`, `edis:<kvm id>`), or
    /// the bare server or KVM id.
    target: String,

    #[command(flatten)]
    how: How,

    /// Where the journal is (default: `PLAN.journal/` beside the plan).
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Answer the confirmation with yes (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,

    /// `text`: the evidence and the outcome as lines; `json`: one document (the evidence then
    /// goes to stderr before the question).
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub(super) output: Output,
}

/// The one resolution asked for.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct How {
    /// The target runs what the plan asks for (you have looked): record it done, with the
    /// plan's fingerprint, and apply skips it.
    #[arg(long)]
    done: bool,

    /// Record it pending: the next apply re-images it. After an unknown outcome, only when you
    /// know the last send did not take effect, or a second install does no harm.
    #[arg(long)]
    retry: bool,

    /// Drop it from the journal, as if it had never been started (the one choice for a target
    /// that is no longer in the plan).
    #[arg(long)]
    forget: bool,
}

impl How {
    fn resolution(&self) -> Resolution {
        if self.done {
            Resolution::Done
        } else if self.retry {
            Resolution::Retry
        } else {
            Resolution::Forget
        }
    }
}

/// The key that `given` names: a key of the plan or of the journal, as given or with its id in
/// lower case (ECS ids are), or a bare id with `ecs:` or `edis:` before it.
fn key_of(plan: &Plan, journaled: &BTreeMap<String, Record>, given: &str) -> Option<String> {
    let known =
        |key: &str| plan.targets.iter().any(|t| t.key == key) || journaled.contains_key(key);
    let given = given.trim();
    let mut candidates = vec![given.to_owned()];
    match given.split_once(':') {
        Some((provider, id)) if provider.eq_ignore_ascii_case("ecs") => {
            candidates.push(format!("ecs:{}", id.to_ascii_lowercase()));
        }
        Some((provider, id)) if provider.eq_ignore_ascii_case("edis") => {
            candidates.push(format!("edis:{id}"));
        }
        Some(_) => {}
        None => {
            candidates.push(format!("ecs:{}", given.to_ascii_lowercase()));
            candidates.push(format!("edis:{given}"));
        }
    }
    candidates.into_iter().find(|key| known(key))
}

/// One journal record for people: how long ago, the state and its detail.
fn shown(record: &Record) -> String {
    let ago = Duration::from_millis(now_ms().saturating_sub(record.at_ms));
    format!(
        "  {} ago: {} {}",
        reimage_client::show_duration(ago),
        record.state.word(),
        reimage_fleet::text::one_line(&record.state.detail())
    )
}

/// Runs `reimage fleet resolve`.
pub(super) fn run(conn: &Connection, a: &Args) -> Result<u8, Failure> {
    let resolution = a.how.resolution();
    let plan = load(&a.plan)?;
    let dir = journal_dir(&a.plan, a.state_dir.as_deref());
    let journaled = journal::read(&dir).map_err(|e| journal_failure(&e))?;
    let key = key_of(&plan, &journaled, &a.target).ok_or_else(|| {
        Failure::usage(format!(
            "{}: no such target in the plan {} or its journal {}",
            a.target,
            a.plan.display(),
            dir.display()
        ))
        .hint(format!(
            "give its key as `reimage fleet status {}` shows it: ecs:<server id> or edis:<kvm id>",
            shell_word(&a.plan.display().to_string())
        ))
    })?;
    let target = plan.targets.iter().find(|t| t.key == key);
    let (inputs, _) = Inputs::load(&plan);
    let planned = match target.map(|t| Fingerprint::of(t, &inputs)) {
        None => None,
        Some(Ok(planned)) => Some(planned),
        Some(Err(_)) if resolution == Resolution::Forget => None,
        Some(Err(message)) => return Err(Failure::usage(message)),
    };
    let latest = journaled.get(&key);
    let history = journal::history(&dir, &key).map_err(|e| journal_failure(&e))?;

    // The evidence: what the journal says, what the plan asks, what the provider says.
    let mut evidence = vec![format!("{key} in the journal {}:", dir.display())];
    if history.len() > SHOWN_RECORDS {
        evidence.push(format!(
            "  ({} earlier records)",
            history.len() - SHOWN_RECORDS
        ));
    }
    let from = history.len().saturating_sub(SHOWN_RECORDS);
    evidence.extend(history[from..].iter().map(shown));
    if latest.is_none() {
        evidence.push("  (no record: pending)".to_owned());
    }
    if let Some(sent) = history.iter().rev().find_map(|r| r.fingerprint.as_ref()) {
        evidence.push(format!("what the journal says was sent: {sent}"));
    }
    match (&planned, target) {
        (Some(planned), _) => evidence.push(format!("the plan asks for: {planned}")),
        (None, None) => evidence.push(format!("the plan {} no longer has it", a.plan.display())),
        (None, Some(_)) => {}
    }
    if let (Some(record), Some(planned)) = (latest, &planned)
        && let Some(was) = fingerprint::changed_from(record, planned)
    {
        evidence.push(format!(
            "changed since it was {}: {}",
            record.state.word(),
            was.differences(planned).join("; ")
        ));
    }
    let show = |lines: &[String]| {
        for line in lines {
            match a.output {
                Output::Text => crate::say(line),
                Output::Json => crate::note(line),
            }
        }
    };
    show(&evidence);
    resolve::allowed(resolution, latest, planned.as_ref()).map_err(|why| {
        Failure::new(
            exit::REFUSED,
            format!(
                "{key}: {} refused: {why}; nothing was recorded",
                resolution.flag()
            ),
        )
    })?;
    let Some(latest) = latest else {
        return Err(Failure::new(
            exit::REFUSED,
            format!("{key}: nothing to settle"),
        ));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILED, format!("could not start the runtime: {e}")))?;

    // Before `--done` or `--retry`, the server itself, with the target's profile (reads only).
    let mut provider = Vec::new();
    if let (Some(t), Resolution::Done | Resolution::Retry) = (target, resolution) {
        let transport = reimage_client::Transport::new(conn.transport_config())?;
        let clients = super::cmd::clients(transport, Arc::new(resolver(conn)));
        provider = match runtime.block_on(resolve::look(t, &clients, &history, planned.as_ref())) {
            Ok(lines) => std::iter::once("the provider now:".to_owned())
                .chain(lines.into_iter().map(|l| format!("  {l}")))
                .collect(),
            Err(why) => vec![format!(
                "the provider could not be read ({}); only the journal is shown",
                reimage_fleet::text::one_line(&why)
            )],
        };
        show(&provider);
    }

    let what = match resolution {
        Resolution::Done => format!(
            "record {key} as done in the journal {} (apply will skip it)",
            dir.display()
        ),
        Resolution::Retry => format!(
            "record {key} as pending in the journal {} (the next apply re-images it)",
            dir.display()
        ),
        _ => format!(
            "drop {key} from the journal {} (as if it had never been started)",
            dir.display()
        ),
    };
    common::confirm(&what, a.yes)?;

    // Under the lock: the record it was decided on must still be the latest.
    let (journal, recovered) = Journal::open(&dir).map_err(|e| journal_failure(&e))?;
    if recovered.get(&key) != Some(latest) {
        let _ = runtime.block_on(journal.close());
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "{key}: the journal changed while you decided (another run wrote it); nothing \
                 was recorded"
            ),
        )
        .hint("run `reimage fleet resolve` again to see the new evidence"));
    }
    let record = resolve::record(&key, resolution, latest, planned, now_ms());
    let written = runtime.block_on(journal.record(record));
    let closed = runtime.block_on(journal.close());
    written.and(closed).map_err(|e| journal_failure(&e))?;
    let plan_word = shell_word(&a.plan.display().to_string());
    let next = match resolution {
        Resolution::Done => format!("`reimage fleet apply {plan_word}` skips it"),
        Resolution::Retry => format!("`reimage fleet apply {plan_word}` re-images it"),
        _ => "the journal no longer knows it".to_owned(),
    };
    match a.output {
        Output::Json => common::print_json(&json!({
            "target": key,
            "journal": dir.display().to_string(),
            "was": latest.state.word(),
            "now": resolution.state(),
            "evidence": evidence,
            "provider": provider,
        })),
        Output::Text => crate::say(&format!(
            "recorded: {key} is {} now; {next}",
            resolution.state()
        )),
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_found_by_its_key_or_its_id() {
        let dir = std::env::temp_dir().join(format!("reimage-cli-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("admin.pw"), "Reimage-Test-Pw1!").unwrap();
        std::fs::write(dir.join("root.pw"), "Edis-Root-Pw-8472").unwrap();
        let file = dir.join("plan.toml");
        std::fs::write(
            &file,
            "[defaults]\nadmin_password_file = \"admin.pw\"\nroot_password_file = \"root.pw\"\n\n\
             [[targets]]\necs = \"11111111-2222-3333-4444-555555555555\"\n\n\
             [[targets]]\nedis = \"kvm_100001_200001\"\nimage = \"cloudinit_debian-bookworm\"\n",
        )
        .unwrap();
        let plan = reimage_fleet::plan::load(&file).unwrap();
        let gone = "ecs:99999999-2222-3333-4444-555555555555";
        let journaled = BTreeMap::from([(
            gone.to_owned(),
            Record::new(
                gone,
                1,
                reimage_fleet::State::Done {
                    summary: "ok".to_owned(),
                },
            ),
        )]);
        let ecs = "ecs:11111111-2222-3333-4444-555555555555";
        for given in [
            ecs,
            "11111111-2222-3333-4444-555555555555",
            "ECS:11111111-2222-3333-4444-555555555555",
            "11111111-2222-3333-4444-555555555555"
                .to_uppercase()
                .as_str(),
        ] {
            assert_eq!(
                key_of(&plan, &journaled, given).as_deref(),
                Some(ecs),
                "{given}"
            );
        }
        assert_eq!(
            key_of(&plan, &journaled, "kvm_100001_200001").as_deref(),
            Some("edis:kvm_100001_200001")
        );
        assert_eq!(key_of(&plan, &journaled, gone).as_deref(), Some(gone));
        assert_eq!(key_of(&plan, &journaled, "kvm_1_2"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
