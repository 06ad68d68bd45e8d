//! The fuzz targets' corpora, replayed on stable: every input of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the very function that the target runs under
//! libFuzzer (`fuzz/src/lib.rs`, included here), so CI checks them without building the fuzzers
//! (nightly only, `cargo xtask fuzz`). A panic names the input that caused it.
//!
//! `fuzz/regressions/<target>/` holds the crash inputs fuzzing found, once fixed: each is a
//! regression test from then on. See the "Fuzzing" section of `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .join("fuzz")
}

/// The inputs of `fuzz/<kind>/<target>/`, sorted; none when the directory is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read the directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every input of the target's corpus and regressions, and says which input
/// panicked.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: seed it with `cargo xtask fuzz --seed`"
    );
    let mut count = 0;
    for path in corpus.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(path).expect("read the input");
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!(
                "{target}: the input {} panics; reproduce with `cargo +nightly fuzz run {target} {}`",
                path.display(),
                path.display()
            );
        }
        count += 1;
    }
    count
}

#[test]
fn user_data() {
    replay("user_data", targets::user_data);
}

#[test]
fn yaml() {
    replay("yaml", targets::yaml);
}

#[test]
fn wire_decoders() {
    replay("wire_decoders", targets::wire_decoders);
}

#[test]
fn emulator_request() {
    replay("emulator_request", targets::emulator_request);
}

/// The corpus reaches the end of the AK/SK verifier: some of its requests carry a signature that
/// matches (the seeds are the AK/SK vectors, `cargo xtask fuzz --seed`), so the fuzzer explores
/// from an accepted request and not only from the header checks.
#[test]
fn corpus_has_requests_that_verify() {
    let reader = targets::READERS
        .iter()
        .position(|r| *r == "aksk.verify")
        .unwrap();
    let lookup = |ak: &str| {
        (ak == targets::ACCESS_KEY).then(|| secrecy::SecretString::from(targets::SECRET_KEY))
    };
    let now = reimage_core::Timestamp::from_unix_seconds(1_735_689_600).unwrap();
    let verified = inputs("corpus", "emulator_request")
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .filter(|data| {
            data.first()
                .map(|b| usize::from(*b) % targets::READERS.len())
                == Some(reader)
        })
        .filter_map(|data| targets::request_from_text(&data[1..]))
        .filter(|request| {
            reimage_auth::aksk::verify(request, lookup, now, reimage_auth::aksk::MAX_SKEW).is_ok()
        })
        .count();
    assert!(
        verified >= 1,
        "no request of fuzz/corpus/emulator_request verifies: reseed with `cargo xtask fuzz --seed`"
    );
}
