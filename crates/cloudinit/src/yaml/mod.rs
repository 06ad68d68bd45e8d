//! YAML 1.1 as PyYAML (cloud-init's parser) reads it, into a tree that keeps every node's position.
//!
//! The tree is built from `saphyr-parser`'s events, not from its loader: the loader types scalars
//! as YAML 1.2 and drops duplicate keys silently. The YAML 1.1 typing pass (`resolve`) is ours.

use std::fmt;

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
    /// The dotted path of the mapping that holds it (empty at the top level) and the key.
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
