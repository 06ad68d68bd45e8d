//! YAML 1.1 as PyYAML (cloud-init's parser) reads it, into a tree that keeps every node's position.
//!
//! The tree is built from `saphyr-parser`'s events, not from its loader: the loader types scalars
//! as YAML 1.2 and drops duplicate keys silently. The YAML 1.1 typing pass (`resolve`) is ours.
//!
//! [`parse`] runs in steps:
//!
//! 1. `compat`: PyYAML's reader refuses control characters before anything else.
//! 2. `compose`: saphyr's events become a graph of nodes with PyYAML's marks and tags. Where
//!    saphyr (YAML 1.2) refuses what PyYAML (YAML 1.1) reads — a line inside a flow collection or
//!    a quoted scalar indented less than its block, `[a]# comment`, `&anchor:` — the text is
//!    adjusted without changing any value (`text`) and read again; every position is mapped back.
//! 3. `compat` and `compose` add what PyYAML refuses and saphyr reads: tabs outside scalars and
//!    comments, duplicate anchors, empty keys, `?` inside flow scalars, `%YAML 2.0`, a second
//!    document. `errors` translates saphyr's own errors into PyYAML's, with its context mark.
//!    The first problem in the text wins, as in PyYAML.
//! 4. `construct`: tags pick constructors, `<<` merges, duplicate keys, aliases (expanded, with a
//!    limit), in PyYAML's breadth-first order for errors.

use std::borrow::Cow;
use std::fmt;

mod compat;
mod compose;
mod construct;
mod errors;
mod resolve;
mod text;

use errors::PyError;
use text::{Reindent, Text};

/// A position in the file: 1-based line and column, and the 0-based character index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// 0-based character index from the start of the file.
    pub index: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A node of the tree: a typed value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value, typed as YAML 1.1 (PyYAML) types it.
    pub value: Value,
    /// Where the node starts in the file.
    pub mark: Mark,
}

/// A value typed as PyYAML's `SafeLoader` types it, so the schema sees what cloud-init sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, `Null`, `NULL`, or an empty value.
    Null,
    /// `yes`/`no`/`on`/`off`/`true`/`false` in their YAML 1.1 spellings.
    Bool(bool),
    /// An integer: decimal, `0o`-less octal (`0644` is 420), hex, binary, sexagesimal (`1:30` is 90),
    /// with `_` separators.
    Int(i128),
    /// A float, including `.inf`, `-.inf` and `.nan`, and sexagesimal floats.
    Float(f64),
    /// A string.
    Str(String),
    /// `!!binary`: base64-decoded bytes. cloud-init's schema accepts bytes where it wants a string.
    Binary(Vec<u8>),
    /// An unquoted date (`2001-12-14`) or timestamp (`2001-12-14t21:59:43.10-05:00`), as written.
    /// Python sees a `date`/`datetime` object: no JSON type matches it, not even `string`.
    Timestamp(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, after `<<` merges and with duplicate keys resolved (the last
    /// one wins and keeps its place of first appearance, as in a Python dict).
    Map(Vec<(Node, Node)>),
}

/// A key that appeared twice in one mapping: the last one wins, and it is worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The dotted path of the mapping that holds it (empty at the top level) and the key:
    /// `users.0.name`, or `runcmd` at the top level. Keys are written as [`Value::key_text`]
    /// writes them.
    pub path: String,
    /// The key as text.
    pub key: String,
    /// Where the first occurrence was.
    pub first: Mark,
    /// Where the winning (last) occurrence is.
    pub last: Mark,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The root node, or `None` for an empty document (PyYAML gives `None`).
    pub root: Option<Node>,
    /// Keys that appeared twice.
    pub duplicate_keys: Vec<DuplicateKey>,
}

/// A YAML syntax error, located as PyYAML locates it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {} column {}", mark.line, mark.column)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// Where cloud-init reports it (`format-l<line>.c<column>`).
    pub mark: Mark,
}

impl Value {
    /// The value as a mapping key in a dotted path, written as cloud-init writes it (Python's
    /// `str()`): `True`, `None`, `1.0`, `b'..'`; a timestamp as written.
    pub fn key_text(&self) -> String {
        construct::key_text(self)
    }
}

/// How many times a document is parsed again with re-indented lines, for a text of `len`
/// bytes: enough for any hand-written file, bounded for big ones.
fn reparse_budget(len: usize) -> usize {
    (64 * 1024 * 1024 / len.max(1)).clamp(16, 4096)
}

/// Parses `#cloud-config` user data as cloud-init 22.4.2 does (`yaml.load` with PyYAML's
/// `SafeLoader`): YAML 1.1 typing, a single document, duplicate keys allowed (the last wins,
/// and each is listed in [`Document::duplicate_keys`]).
///
/// # Errors
///
/// A [`YamlError`] where PyYAML fails (syntax, an unknown tag, an unhashable key, a second
/// document, a value its constructors reject such as `2001-02-30`), located where cloud-init
/// reports it; also for documents that nest deeper than 256 levels or expand to more than a
/// million nodes through aliases.
pub fn parse(text: &str) -> Result<Document, YamlError> {
    let source = Text::new(text);
    compat::check_printable(&source)?;
    let mut edits = Reindent::default();
    let mut reparses = reparse_budget(text.len());
    let mut fix_error = None;
    let composed = loop {
        let rendered = if edits.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(edits.render(&source))
        };
        let composed = compose::compose(&source, &edits, &rendered);
        if reparses > 0 && !composed.respace.is_empty() {
            let mut changed = false;
            for &at in &composed.respace {
                changed |= edits.insert_space(at);
            }
            if changed {
                reparses -= 1;
                continue;
            }
        }
        if let Some(failure) = &composed.failure
            && reparses > 0
        {
            match reindent(&source, &mut edits, failure) {
                Fix::Again => {
                    reparses -= 1;
                    continue;
                }
                Fix::Error(error) => fix_error = Some(error),
                Fix::No => {}
            }
        }
        break composed;
    };
    // PyYAML stops at the first problem in the stream. saphyr's own error sorts where saphyr
    // found it, even when PyYAML would point at an earlier token.
    let mut candidates: Vec<(usize, PyError)> = composed
        .errors
        .into_iter()
        .map(|error| (error.order(&source), error))
        .collect();
    let mut end = composed.end;
    if let Some(failure) = &composed.failure {
        let error = fix_error.unwrap_or_else(|| errors::translate(&source, failure));
        // PyYAML reads a scalar that may be a key to the end of its line (looking for the
        // `:`) before its parser fails on it: errors later on that line come first.
        let order = error.order(&source).max(failure.at);
        end = end.min(order);
        candidates.push((order, error));
    }
    let compat = compat::first_tab(&source, &composed.scalars, end)
        .into_iter()
        .chain(compat::check_prologue(&source, composed.body_start));
    candidates.extend(compat.map(|error| (error.at, error)));
    if let Some((_, first)) = candidates.into_iter().min_by_key(|(order, _)| *order) {
        return Err(first.into_yaml_error(&source));
    }
    let built = construct::construct(&composed.graph, &source)?;
    Ok(Document {
        root: built.root,
        duplicate_keys: built.duplicate_keys,
    })
}

/// What to do about a line saphyr found wrongly indented.
enum Fix {
    /// It was re-indented: parse again.
    Again,
    /// PyYAML fails there too, with this error.
    Error(PyError),
    /// Nothing to do: saphyr's error stands.
    No,
}

/// `---` or `...` and a blank at `at`: PyYAML ends a document there even inside a flow
/// collection or a quoted scalar.
fn is_document_separator(text: &Text, at: usize) -> bool {
    let three: String = text.slice(at, at + 3).iter().collect();
    (three == "---" || three == "...")
        && text
            .get(at + 3)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// PyYAML ignores the indentation of lines inside flow collections and of the continuation
/// lines of quoted scalars; saphyr does not. Re-indents the line saphyr stopped at.
fn reindent(text: &Text, edits: &mut Reindent, failure: &compose::Failure) -> Fix {
    use compose::OpenKind;
    let width = failure
        .open
        .iter()
        .filter(|open| matches!(open.kind, OpenKind::BlockMap | OpenKind::BlockSeq))
        .map(|open| text.column(open.token) + 1)
        .max()
        .unwrap_or(1);
    let info = failure.info.as_str();
    // The quoted scalar saphyr was reading: its start, or the token after the last event.
    let quoted = if info.starts_with("invalid indentation in quoted scalar") {
        Some(failure.at)
    } else if info.starts_with("tab cannot be used as indentation") {
        Some(errors::next_node(text, failure))
    } else {
        None
    };
    if let Some(open) = quoted.filter(|&at| matches!(text.get(at), Some('"' | '\''))) {
        let Some(close) = text.closing_quote(open) else {
            return Fix::No;
        };
        let mut changed = false;
        for line in text.line_of(open) + 1..=text.line_of(close) {
            let start = text.line_start(line);
            if is_document_separator(text, start) {
                return Fix::Error(PyError::with_context(
                    start,
                    "found unexpected document separator",
                    open,
                    ", in the quoted scalar that starts",
                ));
            }
            changed |= edits.indent(text, line, width);
        }
        return if changed { Fix::Again } else { Fix::No };
    }
    if info == "expected whitespace"
        && failure.at >= text.len()
        && matches!(text.get(failure.at.wrapping_sub(1)), Some('?' | ':' | '-'))
    {
        // An indicator at the very end: PyYAML reads the end as the blank it needs.
        return if edits.insert_space(text.len()) {
            Fix::Again
        } else {
            Fix::No
        };
    }
    if info.starts_with("comments must be separated from other tokens") {
        let hash = (failure.at..text.len())
            .find(|&at| text.get(at) == Some('#'))
            .unwrap_or(failure.at);
        return if edits.remove_comment(text, hash) {
            Fix::Again
        } else {
            Fix::No
        };
    }
    if info.starts_with("invalid indentation in flow construct") || info == "invalid indentation" {
        // Re-indent every line from here to the end of the outermost open flow collection, so
        // that one more pass is enough.
        let mut open = failure.open.clone();
        open.extend(errors::unreported_flows(text, failure.last_end, failure.at));
        let outer = open
            .iter()
            .find(|open| matches!(open.kind, OpenKind::FlowSeq | OpenKind::FlowMap));
        let first = text.line_of(failure.at);
        let last = outer
            .and_then(|outer| text.flow_end(outer.token))
            .map_or(first, |close| text.line_of(close).max(first));
        let mut changed = false;
        for line in first..=last {
            let start = text.line_start(line);
            if is_document_separator(text, start) {
                break;
            }
            let blank = text.leading_blanks(line) == text.line_end(line) - start;
            if line == first || !blank {
                changed |= edits.indent(text, line, width);
            }
        }
        return if changed { Fix::Again } else { Fix::No };
    }
    Fix::No
}

#[cfg(test)]
mod tests;
