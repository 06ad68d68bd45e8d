//! From the node graph to the typed tree, as PyYAML's `SafeConstructor` builds Python objects:
//! tags pick constructors, `<<` merges are flattened, a duplicate key's last value wins (the key
//! keeps its first place, as in a Python dict), and collections cannot be keys.
//!
//! PyYAML builds collections breadth first (its constructors are generators), so when a document
//! has several constructor errors it reports the first in that order; each error here carries a
//! key that sorts the same way.

use std::collections::{HashMap, HashSet};

use super::compose::{Graph, Id, Kind, MAX_DEPTH, NodeTag, RawNode};
use super::errors::PyError;
use super::resolve::{self, Implicit, TimestampKey};
use super::text::Text;
use super::{DuplicateKey, Mark, Node, Value, YamlError};

/// How many nodes a document may expand to through aliases and merges.
pub(crate) const MAX_NODES: usize = 1_000_000;

const YAML_PREFIX: &str = "tag:yaml.org,2002:";

/// The constructors `SafeConstructor` has, plus cloud-init's `!!python/unicode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Constructor {
    Null,
    Bool,
    Int,
    Float,
    Binary,
    Timestamp,
    Str,
    Seq,
    Map,
    Set,
    Omap,
    Pairs,
}

/// Where an error sorts in PyYAML's construction order. PyYAML fills collections breadth
/// first, in the order it met them: the collection being filled is known by its path of child
/// indices from the root (shorter paths first), then flattening (0) comes before the children
/// (1), which go by index (a mapping's key `2i`, its value `2i + 1`).
type Order = (usize, Vec<usize>, u8, usize);

/// What construction produced.
pub(crate) struct Constructed {
    pub(crate) root: Option<Node>,
    pub(crate) duplicate_keys: Vec<DuplicateKey>,
}

/// A key as a Python dict compares it: `1`, `1.0` and `True` are the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyEq {
    Null,
    Int(i128),
    Float(u64),
    Nan,
    Str(String),
    Bytes(Vec<u8>),
    Time(TimestampKey),
}

fn key_eq(value: &Value) -> Option<KeyEq> {
    Some(match value {
        Value::Null => KeyEq::Null,
        Value::Bool(b) => KeyEq::Int(i128::from(*b)),
        Value::Int(i) => KeyEq::Int(*i),
        Value::Float(f) if f.is_nan() => KeyEq::Nan,
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1.0e38 => KeyEq::Int(*f as i128),
        Value::Float(f) => KeyEq::Float(f.to_bits()),
        Value::Str(s) => KeyEq::Str(s.clone()),
        Value::Binary(b) => KeyEq::Bytes(b.clone()),
        Value::Timestamp(t) => match resolve::construct_timestamp(t) {
            Ok(key) => KeyEq::Time(key),
            Err(_) => KeyEq::Str(t.clone()),
        },
        Value::Seq(_) | Value::Map(_) => return None,
    })
}

/// A stop that no ordering can beat: too many nodes, or too deep.
struct Fatal(YamlError);

/// One pair of a flattened mapping.
#[derive(Debug, Clone, Copy)]
struct Pair {
    key: Id,
    value: Id,
    /// Written in this mapping, not merged in.
    own: bool,
}

struct Builder<'a> {
    graph: &'a Graph,
    text: &'a Text,
    budget: usize,
    errors: Vec<(Order, PyError)>,
    duplicate_keys: Vec<DuplicateKey>,
    reported: HashSet<(usize, usize)>,
    path: Vec<String>,
    /// The child indices from the root to the node being built.
    order: Vec<usize>,
}

/// Builds the tree of `graph`.
pub(crate) fn construct(graph: &Graph, text: &Text) -> Result<Constructed, YamlError> {
    let mut builder = Builder {
        graph,
        text,
        budget: MAX_NODES,
        errors: Vec::new(),
        duplicate_keys: Vec::new(),
        reported: HashSet::new(),
        path: Vec::new(),
        order: Vec::new(),
    };
    let root = match graph.root {
        None => None,
        Some(id) => {
            let empty = graph.nodes.get(id).is_some_and(|node| {
                matches!(&node.kind, Kind::Scalar(s) if s.is_empty())
                    && node.tag == NodeTag::Implicit(Implicit::Null)
            });
            if empty {
                None
            } else {
                Some(builder.node(id, 0).map_err(|Fatal(error)| error)?)
            }
        }
    };
    if let Some((_, error)) = builder.errors.into_iter().min_by(|a, b| a.0.cmp(&b.0)) {
        return Err(error.into_yaml_error(text));
    }
    Ok(Constructed {
        root,
        duplicate_keys: builder.duplicate_keys,
    })
}

/// Python's `str()` of a key, as cloud-init writes it in a dotted path.
pub(crate) fn key_text(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => python_float(*f),
        Value::Str(s) | Value::Timestamp(s) => s.clone(),
        Value::Binary(b) => {
            let mut out = String::from("b'");
            for &byte in b {
                match byte {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    0x20..=0x7e => out.push(char::from(byte)),
                    _ => out.push_str(&format!("\\x{byte:02x}")),
                }
            }
            out.push('\'');
            out
        }
        Value::Seq(_) => "[...]".to_owned(),
        Value::Map(_) => "{...}".to_owned(),
    }
}

/// Python's `repr()` of a float: the shortest text that reads back, with an exponent below
/// 1e-4 and from 1e16 on.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let magnitude = f.abs();
    if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) {
        let text = format!("{f}");
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    }
}

impl<'a> Builder<'a> {
    fn raw(&self, id: Id) -> Option<&'a RawNode> {
        self.graph.nodes.get(id)
    }

    fn mark(&self, index: usize) -> Mark {
        self.text.mark(index)
    }

    fn spend(&mut self, at: usize) -> Result<(), Fatal> {
        match self.budget.checked_sub(1) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(Fatal(YamlError {
                message: format!("the document has more than {MAX_NODES} nodes (aliases expanded)"),
                mark: self.mark(at),
            })),
        }
    }

    /// An error about the node being built, raised while its parent is filled.
    fn error_here(&mut self, error: PyError) {
        let mut parent = self.order.clone();
        let index = parent.pop().unwrap_or(0);
        self.errors.push(((parent.len(), parent, 1, index), error));
    }

    /// An error raised while the node being built is filled: in `phase` (0 flattening, 1
    /// children), at child `index`.
    fn error_within(&mut self, phase: u8, index: usize, error: PyError) {
        let order = (self.order.len(), self.order.clone(), phase, index);
        self.errors.push((order, error));
    }

    /// Builds child `index` of the node being built.
    fn child(&mut self, id: Id, depth: usize, index: usize) -> Result<Node, Fatal> {
        self.order.push(index);
        let node = self.node(id, depth);
        self.order.pop();
        node
    }

    /// The constructor for a node's tag, or the error PyYAML raises for it.
    fn constructor(&self, node: &RawNode) -> Result<Constructor, String> {
        let constructor = match &node.tag {
            NodeTag::Implicit(implicit) => match implicit {
                Implicit::Null => Constructor::Null,
                Implicit::Bool => Constructor::Bool,
                Implicit::Int => Constructor::Int,
                Implicit::Float => Constructor::Float,
                Implicit::Timestamp => Constructor::Timestamp,
                Implicit::Str => Constructor::Str,
                Implicit::Merge => return Err(no_constructor(&format!("{YAML_PREFIX}merge"))),
                Implicit::Value => return Err(no_constructor(&format!("{YAML_PREFIX}value"))),
            },
            NodeTag::Default => match node.kind {
                Kind::Scalar(_) => Constructor::Str,
                Kind::Seq(_) => Constructor::Seq,
                Kind::Map(_) => Constructor::Map,
            },
            NodeTag::Explicit(tag) => match tag.strip_prefix(YAML_PREFIX) {
                Some("null") => Constructor::Null,
                Some("bool") => Constructor::Bool,
                Some("int") => Constructor::Int,
                Some("float") => Constructor::Float,
                Some("binary") => Constructor::Binary,
                Some("timestamp") => Constructor::Timestamp,
                Some("str" | "python/unicode") => Constructor::Str,
                Some("seq") => Constructor::Seq,
                Some("map") => Constructor::Map,
                Some("set") => Constructor::Set,
                Some("omap") => Constructor::Omap,
                Some("pairs") => Constructor::Pairs,
                _ => return Err(no_constructor(tag)),
            },
        };
        Ok(constructor)
    }

    /// `construct_scalar`: a scalar's text; a mapping with a `=` key gives that key's value.
    fn scalar_text(&self, id: Id, hops: usize) -> Result<String, String> {
        let node = self
            .raw(id)
            .ok_or_else(|| "expected a scalar node".to_owned())?;
        match &node.kind {
            Kind::Scalar(text) => Ok(text.clone()),
            Kind::Map(pairs) if hops < MAX_DEPTH => {
                let value = pairs.iter().find_map(|&(key, value)| {
                    self.raw(key)
                        .is_some_and(|k| k.tag == NodeTag::Implicit(Implicit::Value))
                        .then_some(value)
                });
                match value {
                    Some(value) => self.scalar_text(value, hops + 1),
                    None => Err("expected a scalar node, but found mapping".to_owned()),
                }
            }
            kind => Err(format!("expected a scalar node, but found {}", kind.name())),
        }
    }

    /// Builds node `id`, `depth` collections deep.
    fn node(&mut self, id: Id, depth: usize) -> Result<Node, Fatal> {
        let Some(raw) = self.raw(id) else {
            return Ok(self.null(0));
        };
        let start = raw.start;
        self.spend(start)?;
        let constructor = match self.constructor(raw) {
            Ok(constructor) => constructor,
            Err(problem) => {
                self.error_here(PyError::new(start, &problem));
                return Ok(self.null(start));
            }
        };
        let value = match constructor {
            Constructor::Seq
            | Constructor::Omap
            | Constructor::Pairs
            | Constructor::Map
            | Constructor::Set
                if depth >= MAX_DEPTH =>
            {
                return Err(Fatal(YamlError {
                    message: format!(
                        "collections nest deeper than {MAX_DEPTH} levels (after aliases)"
                    ),
                    mark: self.mark(start),
                }));
            }
            Constructor::Seq => match &raw.kind {
                Kind::Seq(items) => {
                    let items = items.clone();
                    Value::Seq(self.items(&items, depth)?)
                }
                kind => {
                    let problem = format!("expected a sequence node, but found {}", kind.name());
                    self.error_here(PyError::new(start, &problem));
                    Value::Null
                }
            },
            Constructor::Map | Constructor::Set => match &raw.kind {
                Kind::Map(_) => {
                    let pairs = self.mapping(id, depth)?;
                    if constructor == Constructor::Set {
                        Value::Map(
                            pairs
                                .into_iter()
                                .map(|(key, value)| {
                                    let mark = value.mark;
                                    (
                                        key,
                                        Node {
                                            value: Value::Null,
                                            mark,
                                        },
                                    )
                                })
                                .collect(),
                        )
                    } else {
                        Value::Map(pairs)
                    }
                }
                kind => {
                    let problem = format!("expected a mapping node, but found {}", kind.name());
                    self.error_here(PyError::new(start, &problem));
                    Value::Null
                }
            },
            Constructor::Omap | Constructor::Pairs => {
                let what = if constructor == Constructor::Omap {
                    ", while constructing an ordered map that starts"
                } else {
                    ", while constructing pairs that start"
                };
                self.pairs(id, depth, what)?
            }
            scalar => match self.scalar_text(id, 0) {
                Err(problem) => {
                    self.error_here(PyError::new(start, &problem));
                    Value::Null
                }
                Ok(text) => match scalar_value(scalar, text) {
                    Ok(value) => value,
                    Err(problem) => {
                        self.error_here(PyError::new(start, &problem));
                        Value::Null
                    }
                },
            },
        };
        Ok(Node {
            value,
            mark: self.mark(start),
        })
    }

    fn null(&self, start: usize) -> Node {
        Node {
            value: Value::Null,
            mark: self.mark(start),
        }
    }

    fn items(&mut self, items: &[Id], depth: usize) -> Result<Vec<Node>, Fatal> {
        let mut out = Vec::with_capacity(items.len());
        for (index, &item) in items.iter().enumerate() {
            self.path.push(index.to_string());
            let node = self.child(item, depth + 1, index);
            self.path.pop();
            out.push(node?);
        }
        Ok(out)
    }

    /// `construct_yaml_omap` and `construct_yaml_pairs`: a sequence of single-pair mappings,
    /// kept as such (no flattening, no duplicate check, as in PyYAML).
    fn pairs(&mut self, id: Id, depth: usize, what: &str) -> Result<Value, Fatal> {
        let Some(raw) = self.raw(id) else {
            return Ok(Value::Null);
        };
        let start = raw.start;
        let Kind::Seq(items) = &raw.kind else {
            let problem = format!("expected a sequence, but found {}", raw.kind.name());
            self.error_within(0, 0, PyError::with_context(start, &problem, start, what));
            return Ok(Value::Null);
        };
        let items = items.clone();
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let Some(sub) = self.raw(item) else { continue };
            let sub_start = sub.start;
            let pair = match &sub.kind {
                Kind::Map(pairs) if pairs.len() == 1 => pairs.first().copied(),
                Kind::Map(pairs) => {
                    let problem = format!(
                        "expected a single mapping item, but found {} items",
                        pairs.len()
                    );
                    self.error_within(
                        1,
                        index,
                        PyError::with_context(sub_start, &problem, start, what),
                    );
                    None
                }
                kind => {
                    let problem =
                        format!("expected a mapping of length 1, but found {}", kind.name());
                    self.error_within(
                        1,
                        index,
                        PyError::with_context(sub_start, &problem, start, what),
                    );
                    None
                }
            };
            let Some((key, value)) = pair else { continue };
            self.spend(sub_start)?;
            self.path.push(index.to_string());
            // PyYAML builds the pair's key and value while it fills the ordered map.
            self.order.push(index);
            let key = self.child(key, depth + 2, 0);
            let value = key.and_then(|key| Ok((key, self.child(value, depth + 2, 1)?)));
            self.order.pop();
            self.path.pop();
            let (key, value) = value?;
            out.push(Node {
                value: Value::Map(vec![(key, value)]),
                mark: self.mark(sub_start),
            });
        }
        Ok(Value::Seq(out))
    }

    /// `flatten_mapping`: the pairs merged in by `<<` keys come first, then the mapping's own.
    /// A list of mappings is merged so that earlier mappings win.
    fn flatten(&mut self, id: Id, hops: usize) -> Result<Vec<Pair>, Fatal> {
        let Some(raw) = self.raw(id) else {
            return Ok(Vec::new());
        };
        let start = raw.start;
        let Kind::Map(pairs) = &raw.kind else {
            return Ok(Vec::new());
        };
        if hops > MAX_DEPTH {
            return Err(Fatal(YamlError {
                message: format!("`<<` merges chain deeper than {MAX_DEPTH} levels"),
                mark: self.mark(start),
            }));
        }
        let pairs = pairs.clone();
        let context = ", while constructing the mapping that starts";
        let mut merged = Vec::new();
        let mut own = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            let is_merge = self
                .raw(key)
                .is_some_and(|k| k.tag == NodeTag::Implicit(Implicit::Merge));
            if !is_merge {
                own.push(Pair {
                    key,
                    value,
                    own: true,
                });
                continue;
            }
            let Some(source) = self.raw(value) else {
                continue;
            };
            let source_start = source.start;
            match &source.kind {
                Kind::Map(_) => {
                    for pair in self.flatten(value, hops + 1)? {
                        self.spend(start)?;
                        merged.push(Pair { own: false, ..pair });
                    }
                }
                Kind::Seq(items) => {
                    let items = items.clone();
                    let mut groups = Vec::with_capacity(items.len());
                    for item in items {
                        let Some(sub) = self.raw(item) else { continue };
                        if let Kind::Map(_) = sub.kind {
                            groups.push(self.flatten(item, hops + 1)?);
                        } else {
                            let problem = format!(
                                "expected a mapping for merging, but found {}",
                                sub.kind.name()
                            );
                            let at = sub.start;
                            self.error_within(
                                0,
                                at,
                                PyError::with_context(at, &problem, start, context),
                            );
                        }
                    }
                    for group in groups.into_iter().rev() {
                        for pair in group {
                            self.spend(start)?;
                            merged.push(Pair { own: false, ..pair });
                        }
                    }
                }
                Kind::Scalar(_) => {
                    let problem =
                        "expected a mapping or list of mappings for merging, but found scalar";
                    self.error_within(
                        0,
                        source_start,
                        PyError::with_context(source_start, problem, start, context),
                    );
                }
            }
        }
        merged.extend(own);
        Ok(merged)
    }

    /// `construct_mapping`: flattens, builds keys and values, and lets the last value of a key
    /// win while the key keeps its first place.
    fn mapping(&mut self, id: Id, depth: usize) -> Result<Vec<(Node, Node)>, Fatal> {
        let start = self.raw(id).map_or(0, |raw| raw.start);
        let pairs = self.flatten(id, 0)?;
        let mut out: Vec<(Node, Node)> = Vec::with_capacity(pairs.len());
        // Each key's slot in `out`, and where it was first written in this mapping itself.
        let mut index: HashMap<KeyEq, (usize, Option<Mark>)> = HashMap::new();
        for (number, pair) in pairs.into_iter().enumerate() {
            let key = match self.raw(pair.key) {
                // `flatten_mapping` turns a `=` key into a string.
                Some(raw) if raw.tag == NodeTag::Implicit(Implicit::Value) => {
                    self.spend(raw.start)?;
                    Node {
                        value: Value::Str("=".to_owned()),
                        mark: self.mark(raw.start),
                    }
                }
                _ => self.child(pair.key, depth + 1, 2 * number)?,
            };
            let Some(eq) = key_eq(&key.value) else {
                self.error_within(
                    1,
                    2 * number,
                    PyError::with_context(
                        key.mark.index,
                        "found unhashable key",
                        start,
                        ", while constructing the mapping that starts",
                    ),
                );
                continue;
            };
            // The dict keeps the key written first: paths name that one.
            let retained = index.get(&eq).and_then(|&(slot, _)| out.get(slot));
            let text = key_text(retained.map_or(&key.value, |(first, _)| &first.value));
            self.path.push(text.clone());
            let value = self.child(pair.value, depth + 1, 2 * number + 1);
            let path = self.path.join(".");
            self.path.pop();
            let value = value?;
            let own = pair.own.then_some(key.mark);
            match index.get(&eq).copied() {
                Some((slot, first_own)) => {
                    if let (Some(first), true) = (first_own, pair.own) {
                        self.duplicate(path, text, first, key.mark);
                    }
                    if let Some(entry) = out.get_mut(slot) {
                        entry.1 = value;
                    }
                    index.insert(eq, (slot, first_own.or(own)));
                }
                None => {
                    index.insert(eq, (out.len(), own));
                    out.push((key, value));
                }
            }
        }
        Ok(out)
    }

    fn duplicate(&mut self, path: String, key: String, first: Mark, last: Mark) {
        // A mapping reached again through an alias repeats its duplicates: report them once.
        if self.reported.insert((first.index, last.index)) {
            self.duplicate_keys.push(DuplicateKey {
                path,
                key,
                first,
                last,
            });
        }
    }
}

fn no_constructor(tag: &str) -> String {
    format!(
        "could not determine a constructor for the tag {}",
        super::compose::py_str(tag)
    )
}

/// Runs a scalar constructor on a scalar's text.
fn scalar_value(constructor: Constructor, text: String) -> Result<Value, String> {
    Ok(match constructor {
        Constructor::Null => Value::Null,
        Constructor::Bool => Value::Bool(resolve::construct_bool(&text)?),
        Constructor::Int => Value::Int(resolve::construct_int(&text)?),
        Constructor::Float => Value::Float(resolve::construct_float(&text)?),
        Constructor::Binary => Value::Binary(resolve::construct_binary(&text)?),
        Constructor::Timestamp => {
            resolve::construct_timestamp(&text)?;
            Value::Timestamp(text)
        }
        _ => Value::Str(text),
    })
}
