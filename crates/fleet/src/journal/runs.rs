//! Earlier runs of a plan, and the history of one target: [`archive`] keeps the journal of the
//! last run beside the new one (`DIR.1`, `DIR.2`, …), [`earlier_runs`] lists them, and
//! [`history`] reads every record of one target, oldest first.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{
    JournalError, LOCK, LOG, Lock, Record, State, io_error, replay, replay_each, sync_dir,
};

/// How many unsettled targets [`JournalError::Unsettled`] names before it counts the rest.
const SHOWN_TARGETS: usize = 5;

/// Whether a target in `state` may still be at work, or may have been: sent and not seen to end
/// (`sending`, `sent`), or with an outcome nobody knows (`unknown`).
fn is_unsettled(state: &State) -> bool {
    matches!(
        state,
        State::Sending { .. } | State::Sent { .. } | State::Unknown { .. }
    )
}

/// The targets of `latest` (a journal's latest records) that may still be at work, with their
/// states: `sending`, `sent` or `unknown`. A new run must not start while there is one (see
/// [`archive`]).
pub fn unsettled(latest: &BTreeMap<String, Record>) -> Vec<(String, &'static str)> {
    latest
        .values()
        .filter(|record| is_unsettled(&record.state))
        .map(|record| (record.key.clone(), record.state.word()))
        .collect()
}

/// The targets of [`JournalError::Unsettled`], for its message: `KEY (STATE)`, the first few.
pub(super) fn shown_targets(targets: &[(String, &'static str)]) -> String {
    let mut shown: Vec<String> = targets
        .iter()
        .take(SHOWN_TARGETS)
        .map(|(key, state)| format!("{key} ({state})"))
        .collect();
    if targets.len() > SHOWN_TARGETS {
        shown.push(format!("and {} more", targets.len() - SHOWN_TARGETS));
    }
    shown.join(", ")
}

/// The directory that holds `dir`, `.` for a bare name.
fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The journals of earlier runs of the journal `dir`: `DIR.1`, `DIR.2`, … as [`archive`] left
/// them, with their numbers, in order. Empty when there is none (or the directory that would
/// hold them cannot be read).
fn numbered(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut runs: Vec<(u64, PathBuf)> = fs::read_dir(parent_of(dir))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file = entry.file_name();
            let number = file.to_str()?.strip_prefix(&prefix)?;
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((number.parse().ok()?, dir.with_file_name(&file)))
        })
        .collect();
    runs.sort();
    runs
}

/// The journals of earlier runs of the journal `dir` ([`archive`] made them), oldest first.
pub fn earlier_runs(dir: &Path) -> Vec<PathBuf> {
    numbered(dir).into_iter().map(|(_, path)| path).collect()
}

/// Keeps the journal `dir` of the last run, so that a new run of the plan starts from an empty
/// journal (`reimage fleet apply --new-run`): under the journal's lock, the directory is renamed
/// to `DIR.N`, `N` one more than the highest earlier run (`DIR.1` the first time), never over an
/// existing one, and the directory that holds it is synced. Returns where the journal is now, or
/// `None` when there was nothing to keep (no journal, or one without a record).
///
/// Refused while a run holds the journal ([`JournalError::Locked`]) and while a target of the
/// last run may still be at work ([`JournalError::Unsettled`]: `sending`, `sent` or `unknown`),
/// since a new run would send to it again.
pub fn archive(dir: &Path) -> Result<Option<PathBuf>, JournalError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut lock = Lock::acquire(dir)?;
    let latest = replay(&dir.join(LOG))?.latest;
    if latest.is_empty() {
        return Ok(None);
    }
    let targets = unsettled(&latest);
    if !targets.is_empty() {
        return Err(JournalError::Unsettled {
            path: dir.to_path_buf(),
            targets,
        });
    }
    let mut number = numbered(dir).last().map_or(1, |(n, _)| n + 1);
    let kept = loop {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{number}"));
        let candidate = dir.with_file_name(name);
        if fs::symlink_metadata(&candidate).is_err() {
            break candidate;
        }
        number += 1;
    };
    fs::rename(dir, &kept)
        .map_err(|error| io_error(dir, "rename the journal to keep it for the new run", error))?;
    // The lock file moved with its directory: removing it on drop must find it there.
    lock.path = kept.join(LOCK);
    sync_dir(parent_of(dir))?;
    drop(lock);
    Ok(Some(kept))
}

/// Every record of the target `key` in the journal `dir`, oldest first (up to the last
/// compaction, which keeps only each target's latest record). A missing journal is empty.
pub fn history(dir: &Path, key: &str) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    replay_each(&dir.join(LOG), &mut |record| {
        if record.key == key {
            records.push(record.clone());
        }
    })?;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::{Journal, now_ms, read};
    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "reimage-journal-runs-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        fn journal(&self) -> PathBuf {
            self.0.join("plan.toml.journal")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn done(key: &str) -> Record {
        Record::new(
            key,
            now_ms(),
            State::Done {
                summary: "ok".to_owned(),
            },
        )
    }

    async fn write(dir: &Path, records: Vec<Record>) {
        let (journal, _) = Journal::open(dir).unwrap();
        for record in records {
            journal.record(record).await.unwrap();
        }
        journal.close().await.unwrap();
    }

    #[tokio::test]
    async fn archive_keeps_each_run_under_the_next_number_and_never_overwrites() {
        let temp = TempDir::new("archive");
        let dir = temp.journal();
        assert_eq!(archive(&dir).unwrap(), None, "no journal: nothing to keep");

        write(&dir, vec![done("a")]).await;
        let first = archive(&dir).unwrap().unwrap();
        assert_eq!(first, temp.0.join("plan.toml.journal.1"));
        assert!(!dir.exists());
        assert!(
            !first.join(LOCK).exists(),
            "the lock went with it and was removed"
        );
        assert!(read(&first).unwrap().contains_key("a"));
        let kept = fs::read(first.join(LOG)).unwrap();

        write(&dir, vec![done("b")]).await;
        let second = archive(&dir).unwrap().unwrap();
        assert_eq!(second, temp.0.join("plan.toml.journal.2"));
        assert_eq!(
            fs::read(first.join(LOG)).unwrap(),
            kept,
            "the first is untouched"
        );
        assert!(read(&second).unwrap().contains_key("b"));
        assert_eq!(earlier_runs(&dir), [first.clone(), second.clone()]);

        // A gap or a stray name never leads to an overwrite: the next is after the highest.
        fs::remove_dir_all(&first).unwrap();
        fs::create_dir_all(temp.0.join("plan.toml.journal.x")).unwrap();
        write(&dir, vec![done("c")]).await;
        let third = archive(&dir).unwrap().unwrap();
        assert_eq!(third, temp.0.join("plan.toml.journal.3"));

        // An empty journal is not kept.
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(archive(&dir).unwrap(), None);
        assert!(dir.exists());
    }

    #[tokio::test]
    async fn archive_refuses_while_a_target_may_be_at_work_or_the_journal_is_held() {
        let temp = TempDir::new("unsettled");
        let dir = temp.journal();
        let sent = Record::new(
            "x",
            now_ms(),
            State::Sent {
                operation: "ecs.reinstallos".to_owned(),
                job_id: Some("job".to_owned()),
                evidence: None,
                baseline: super::super::Baseline::default(),
            },
        );
        let unknown = Record::new(
            "y",
            now_ms(),
            State::Unknown {
                reason: "lost".to_owned(),
            },
        );
        write(&dir, vec![done("a"), sent, unknown]).await;
        let error = archive(&dir).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(&error, JournalError::Unsettled { targets, .. } if targets.len() == 2),
            "{error:?}"
        );
        assert!(message.contains("x (sent), y (unknown)"), "{message}");
        assert!(message.contains("reimage fleet resolve"), "{message}");
        assert!(dir.exists() && earlier_runs(&dir).is_empty());
        assert!(!dir.join(LOCK).exists(), "the refusal released the lock");

        let (held, _) = Journal::open(&dir).unwrap();
        assert!(matches!(
            archive(&dir).unwrap_err(),
            JournalError::Locked { .. }
        ));
        held.close().await.unwrap();
    }

    #[tokio::test]
    async fn history_lists_every_record_of_one_target_and_forgetting_drops_it() {
        let temp = TempDir::new("history");
        let dir = temp.journal();
        let forgotten = Record::new(
            "a",
            now_ms(),
            State::Forgotten {
                reason: "by hand".to_owned(),
            },
        );
        write(&dir, vec![done("a"), done("b"), forgotten.clone()]).await;
        let words: Vec<&str> = history(&dir, "a")
            .unwrap()
            .iter()
            .map(|r| r.state.word())
            .collect();
        assert_eq!(words, ["done", "forgotten"]);
        assert_eq!(history(&dir, "b").unwrap().len(), 1);
        assert!(history(&dir, "c").unwrap().is_empty());
        let latest = read(&dir).unwrap();
        assert!(!latest.contains_key("a"), "{latest:?}");
        assert!(latest.contains_key("b"));
        let (journal, recovered) = Journal::open(&dir).unwrap();
        assert!(!recovered.contains_key("a"));
        journal.close().await.unwrap();
    }
}
