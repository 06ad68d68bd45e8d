//! cloud-init's JSON schema for cloud-config, with the verdicts cloud-init 22.4 and 26.2 give.
//!
//! The schemas of cloud-init 22.4 (Debian 12) and 26.2 are embedded in compact form
//! (`schemas/`, made by `cargo xtask codegen`; Apache-2.0, see `schemas/NOTICE`). The caller
//! picks the [`Version`]; the default is the latest.
//!
//! Validation is a small Draft 4 interpreter of our own over the YAML tree rather than a generic
//! JSON Schema crate, because cloud-init's verdicts depend on Python: its `string` type accepts
//! `!!binary` bytes, a date matches no type at all, a `bool` is no `integer`, `$ref` does not
//! hide its sibling keywords, only the `date` format is checked (cloud-init's Python lacks the
//! packages for `hostname` and `uri`), `deprecated` keys give warnings, and `oneOf`/`anyOf`
//! report a failure at their own path. Each finding carries the path exactly as cloud-init joins
//! it (`write_files.0.permissions`), the line and column of the node, and a message for people.
//!
//! Each version's schema is applied with that version's validator rules where they differ in
//! the verdict or the path: cloud-init 22.4 reports a failed `oneOf`/`anyOf` at its own path and
//! allows unknown top-level keys; cloud-init 26.2 reports a failed choice at the path of its
//! deepest or best-matching error (see `eval`) and an unknown top-level key at the key's own
//! path (at `""` when there are several, as its message then names them all).

mod compile;
mod eval;
mod json;
mod message;
mod python;
mod tables;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::finding::{Code, Finding, Severity};
use crate::yaml::{Document, Mark, Node, Value};
use compile::Compiled;
use eval::{Crash, CrashReason, Kind, Problem, Seg};

/// The cloud-init release whose schema to validate against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum Version {
    /// cloud-init 22.4, as Debian 12 ships it (22.4.2): unknown top-level keys are allowed.
    V22_4,
    /// cloud-init 26.2, the latest: unknown top-level keys are errors (from 23.4 on).
    #[default]
    V26_2,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 2] = [Version::V22_4, Version::V26_2];

    /// `22.4` or `26.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V22_4 => "22.4",
            Version::V26_2 => "26.2",
        }
    }

    /// The embedded compact schema, from which the tables were generated (the tests compile it
    /// again and compare).
    #[cfg(test)]
    fn text(self) -> &'static str {
        match self {
            Version::V22_4 => include_str!("../../schemas/cloud-config-22.4.json"),
            Version::V26_2 => include_str!("../../schemas/cloud-config-26.2.json"),
        }
    }

    /// The compiled schema: generated tables in the binary's read-only data, so nothing is read
    /// or compiled at run time.
    fn compiled(self) -> &'static Compiled {
        match self {
            Version::V22_4 => &tables::V22_4,
            Version::V26_2 => &tables::V26_2,
        }
    }
}

/// For `cargo xtask codegen`: the Rust tables (`schemas/tables-*.rs`) of the compact schema
/// `json`, which is the file `source` of `schemas/`. Not part of the API.
#[doc(hidden)]
pub fn __generate_tables(json: &str, source: &str) -> Result<String, String> {
    compile::compile(json).map(|compiled| tables::emit(&compiled, source))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that names no embedded schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cloud-init schema version {0:?}: use 22.4 or 26.2")]
pub struct UnknownVersion(pub String);

impl FromStr for Version {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

/// Validates a parsed document: an empty document is not cloud-config (cloud-init says
/// "Cloud-config is not a YAML dict."), anything else goes to [`validate`].
pub fn validate_document(document: &Document, version: Version) -> Vec<Finding> {
    match &document.root {
        Some(root) => validate(root, version),
        None => vec![Finding::new(
            Severity::Error,
            Code::Schema,
            "",
            Mark {
                line: 1,
                column: 1,
                index: 0,
            },
            "the document is empty: cloud-config must be a mapping of keys to values",
        )],
    }
}

/// Validates the root of a cloud-config document against the schema of `version`: the errors
/// (`Severity::Error`, `Code::Schema`) and deprecation warnings (`Severity::Warning`,
/// `Code::Deprecated`) that cloud-init 22.4 reports, in document order.
pub fn validate(root: &Node, version: Version) -> Vec<Finding> {
    if !matches!(root.value, Value::Map(_)) {
        return vec![Finding::new(
            Severity::Error,
            Code::Schema,
            "",
            root.mark,
            format!(
                "cloud-config must be a mapping of keys to values, not {}",
                message::show(&root.value)
            ),
        )];
    }
    let schema = version.compiled();
    let problems = match eval::run(schema, root, version) {
        Ok(problems) => problems,
        Err(crash) => return vec![crash_finding(&crash, version)],
    };
    if let Some(crash) = unsortable(&problems) {
        return vec![crash_finding(&crash, version)];
    }
    let problems = if version == Version::V26_2 {
        merge_choices(problems)
    } else {
        problems
    };
    let mut findings = Vec::new();
    for problem in &problems {
        push_findings(schema, version, problem, &mut findings);
    }
    findings.sort_by(|a, b| {
        (a.line, a.column, a.severity, &a.path, &a.message)
            .cmp(&(b.line, b.column, b.severity, &b.path, &b.message))
    });
    findings.dedup();
    findings
}

/// 26.2's failed `oneOf` reports each of its deepest errors; where several of them are about
/// the same value (one per branch, as "expected an integer" and "is not one of …"), they become
/// one problem that lists the forms the branches wanted. The paths stay cloud-init's.
fn merge_choices<'s, 'n>(problems: Vec<Problem<'s, 'n>>) -> Vec<Problem<'s, 'n>> {
    let mut merged: Vec<Problem<'s, 'n>> = Vec::with_capacity(problems.len());
    let mut group: Vec<Problem<'s, 'n>> = Vec::new();
    let flush = |group: &mut Vec<Problem<'s, 'n>>, merged: &mut Vec<Problem<'s, 'n>>| {
        if group.len() > 1 {
            let first = &group[0];
            let problem = Problem {
                path: first.path.clone(),
                node: first.node,
                schema: first.schema,
                choice: first.choice,
                kind: Kind::NoneOf(Vec::new()),
            };
            let branches = group.drain(..).map(|p| vec![p]).collect();
            merged.push(Problem {
                kind: Kind::NoneOf(branches),
                ..problem
            });
        } else {
            merged.append(group);
        }
    };
    for problem in problems {
        let same = group.first().is_some_and(|first| {
            problem.choice.is_some()
                && first.choice == problem.choice
                && std::ptr::eq(first.node, problem.node)
                && path_string(&first.path) == path_string(&problem.path)
        });
        if !same {
            flush(&mut group, &mut merged);
        }
        group.push(problem);
    }
    flush(&mut group, &mut merged);
    merged
}

/// The path cloud-init 26.2 gives an unknown top-level key: it reads the name back from
/// jsonschema's message, `Additional properties are not allowed ('name' was unexpected)`, with
/// the pattern `.*\('(?P<name>.*)' was unexpected\)`, so only a lone key written as a Python
/// string in single quotes gets its own path; several keys ("were unexpected"), a key that is
/// not a string, or one that Python writes in double quotes stay at `""`.
fn unknown_key_path(keys: &[&Node]) -> String {
    let [key] = keys else {
        return String::new();
    };
    let Value::Str(name) = &key.value else {
        return String::new();
    };
    let repr = python::str_repr(name);
    let Some(inner) = repr.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) else {
        return String::new();
    };
    // The greedy `.*` before `\('` starts the name after the last `('` of the message.
    match inner.rfind("('") {
        Some(at) => inner[at + 2..].to_string(),
        None => inner.to_string(),
    }
}

/// The findings of one problem: one per unexpected key, else one.
fn push_findings(
    schema: &Compiled,
    version: Version,
    problem: &Problem<'_, '_>,
    out: &mut Vec<Finding>,
) {
    let mut path = path_string(&problem.path);
    if let Kind::Unexpected { keys, .. } = &problem.kind
        && version == Version::V26_2
        && problem.path.is_empty()
        && problem.schema == schema.root
    {
        path = unknown_key_path(keys);
    }
    let (severity, code) = if problem.is_deprecation() {
        (Severity::Warning, Code::Deprecated)
    } else {
        (Severity::Error, Code::Schema)
    };
    match &problem.kind {
        Kind::Unexpected { keys, .. } => {
            for key in keys {
                out.push(Finding::new(
                    severity,
                    code,
                    path.clone(),
                    key.mark,
                    message::message(schema, problem, Some(&key.value)),
                ));
            }
        }
        kind => {
            let mark = match (kind, problem.path.last()) {
                (Kind::Deprecated { key: true, .. }, Some(Seg::Key(key))) => key.mark,
                (Kind::Duplicate(item), _) => item.mark,
                _ => problem.node.mark,
            };
            out.push(Finding::new(
                severity,
                code,
                path,
                mark,
                message::message(schema, problem, None),
            ));
        }
    }
}

/// cloud-init's path: `str()` of each key or index, joined with dots.
fn path_string(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        match seg {
            Seg::Key(key) => out.push_str(&python::key_str(&key.value)),
            Seg::Index(index) => out.push_str(&index.to_string()),
        }
    }
    out
}

/// cloud-init sorts its errors by path (`sorted(..., key=lambda e: e.path)`); comparing a number
/// with a string there raises `TypeError`. The crash, if Python's sort would hit one.
fn unsortable<'n>(problems: &[Problem<'_, 'n>]) -> Option<Crash<'n>> {
    let paths: Vec<&[Seg<'n>]> = problems.iter().map(|p| p.path.as_slice()).collect();
    if python::python_sorted(&paths, path_lt).is_ok() {
        return None;
    }
    // Point at the first key that is not a string.
    let (path, key) = problems.iter().find_map(|p| {
        p.path.iter().enumerate().find_map(|(i, seg)| match seg {
            Seg::Key(key) if !matches!(key.value, Value::Str(_)) => {
                Some((p.path[..i].to_vec(), *key))
            }
            _ => None,
        })
    })?;
    Some(Crash {
        path,
        node: key,
        reason: CrashReason::UnsortablePaths,
    })
}

/// Python's `<` between two paths (`collections.deque`s): the first elements that differ
/// decide; `Err` where they cannot be compared.
fn path_lt(a: &[Seg<'_>], b: &[Seg<'_>]) -> Result<bool, python::TypeError> {
    for (x, y) in a.iter().zip(b) {
        if let (Seg::Key(p), Seg::Key(q)) = (x, y)
            && std::ptr::eq(*p, *q)
        {
            continue; // the same object: `==` by identity
        }
        let (x, y) = (seg_value(x), seg_value(y));
        if !python::py_eq(&x, &y) {
            return python::py_cmp(&x, &y).map(|o| o == std::cmp::Ordering::Less);
        }
    }
    Ok(a.len() < b.len())
}

fn seg_value(seg: &Seg<'_>) -> Value {
    match seg {
        Seg::Key(key) => key.value.clone(),
        Seg::Index(index) => Value::Int(*index as i128),
    }
}

/// The finding for a crash: instead of a verdict, cloud-init stops with a Python `TypeError`, a
/// traceback and exit status 1. cloud-init gives no path for that, so neither does the finding
/// (its path is empty, as for the other whole-document verdicts); the message names where it
/// happens, and the line and column point there.
fn crash_finding(crash: &Crash<'_>, version: Version) -> Finding {
    let what = message::show(&crash.node.value);
    let at = match path_string(&crash.path) {
        path if path.is_empty() => "at the top level".to_string(),
        path => format!("under {path}"),
    };
    let message = match crash.reason {
        CrashReason::KeyNotString => format!(
            "cloud-init {version} crashes (TypeError) on the key {what} {at}: it matches every key \
             there against a pattern, and this one is not a string; quote the key"
        ),
        CrashReason::BinaryPattern => format!(
            "cloud-init {version} crashes (TypeError) on the !!binary value {at}: it matches the value \
             against a pattern, which only works on text; give text"
        ),
        CrashReason::UnsortableKeys => format!(
            "cloud-init {version} crashes (TypeError) on the unknown keys {at}: they mix strings and \
             other types (such as {what}), which it cannot sort for its message; remove them or \
             quote the keys"
        ),
        CrashReason::UnsortableItems => format!(
            "cloud-init {version} crashes (TypeError) on the extra items {at}: they mix types it \
             cannot sort for its message"
        ),
        CrashReason::UnsortablePaths => format!(
            "cloud-init {version} crashes (TypeError) on the key {what} {at}: it is not a string, and \
             cloud-init cannot sort the paths of its errors; quote the key"
        ),
    };
    Finding::new(Severity::Error, Code::Schema, "", crash.node.mark, message)
}
