//! The validator: python-jsonschema 4.10's Draft 4 keywords, with the changes cloud-init 22.4
//! makes (bytes are strings, `deprecated` yields warnings, `oneOf`/`anyOf` pass on the warnings of
//! the branch that matched), walking [`Node`]s so that Python's types and every position are at
//! hand.
//!
//! Where python-jsonschema keeps going after an error, so does this: cloud-init reports every
//! error, at the path of the instance that failed. Where Python raises instead (a regex run on a
//! key that is not a string), validation stops with a [`Crash`], as `cloud-init schema` does.

use super::compile::{Compiled, Extra, Format, Id, Items, SchemaNode, Types};
use super::python::{self, Literal, Number};
use crate::yaml::{Node, Value};

/// One step of a path: a mapping key (its node, for `str()` and its position) or a list index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg<'n> {
    Key(&'n Node),
    Index(usize),
}

/// Something the schema says about one instance.
#[derive(Debug)]
pub(super) struct Problem<'s, 'n> {
    /// The path of the instance, as cloud-init reports it.
    pub(super) path: Vec<Seg<'n>>,
    /// The instance.
    pub(super) node: &'n Node,
    pub(super) kind: Kind<'s, 'n>,
}

impl Problem<'_, '_> {
    /// A deprecation, not an error.
    pub(super) fn is_deprecation(&self) -> bool {
        matches!(self.kind, Kind::Deprecated { .. })
    }
}

/// What is wrong, keyword by keyword.
#[derive(Debug)]
pub(super) enum Kind<'s, 'n> {
    /// A `false` schema.
    Never,
    Type(Types),
    Enum(&'s [Literal]),
    Required(&'s str),
    /// `additionalProperties: false`; `patterns` when `patternProperties` decide the names.
    Unexpected {
        keys: Vec<&'n Node>,
        patterns: Vec<&'s str>,
    },
    /// `additionalItems: false` after a tuple of `allowed` items.
    TooManyItems {
        allowed: usize,
    },
    MinItems(u64),
    MaxItems(u64),
    MinProperties(u64),
    /// `uniqueItems`; the first item that repeats an earlier one.
    Duplicate(&'n Node),
    Minimum(Number),
    Pattern(&'s str),
    Format(Format),
    /// `anyOf`/`oneOf` with no matching branch: each branch's errors.
    NoneOf(Vec<Vec<Problem<'s, 'n>>>),
    /// `oneOf` with more than one matching branch.
    Ambiguous,
    /// `not`: the instance matches the schema it must not.
    Not(Id),
    /// `deprecated: true`; `key` when the schema is the one a property maps to (so the key is
    /// deprecated), not one branch of a choice (a form of the value is).
    Deprecated {
        deprecation: &'s super::compile::Deprecation,
        key: bool,
    },
}

/// Where Python raises instead of reporting: a regex run on a mapping key that is not a string
/// (`TypeError: expected string or bytes-like object`), or a string pattern on `!!binary`.
#[derive(Debug)]
pub(super) struct Crash<'n> {
    /// The path of the mapping (or the binary value).
    pub(super) path: Vec<Seg<'n>>,
    /// The key (or the value) Python choked on.
    pub(super) node: &'n Node,
    /// Why.
    pub(super) reason: CrashReason,
}

/// Why Python raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CrashReason {
    /// A mapping key that is not a string met `patternProperties`.
    KeyNotString,
    /// `!!binary` data met `pattern`.
    BinaryPattern,
    /// Sorting the errors' paths compared a number with a string (cloud-init sorts by path).
    UnsortablePaths,
    /// `additionalProperties: false` sorts the unexpected keys for its message, and they mix
    /// types that Python cannot order.
    UnsortableKeys,
    /// `additionalItems: false` sorts the extra items for its message, and they mix types that
    /// Python cannot order.
    UnsortableItems,
}

/// How the instance was reached: as the value of a named property, possibly through `$ref` and
/// `allOf` (so a `deprecated` here deprecates the key), or otherwise (through a choice, or under
/// a key that is data, such as a group name under `patternProperties`: a form of the value is
/// deprecated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Key,
    Other,
}

type Flow<'n> = Result<(), Crash<'n>>;

/// Validates `node` against the compiled schema's root: every problem, or the crash.
pub(super) fn run<'s, 'n>(
    schema: &'s Compiled,
    node: &'n Node,
) -> Result<Vec<Problem<'s, 'n>>, Crash<'n>> {
    let eval = Eval { schema };
    let mut out = Vec::new();
    let mut path = Vec::new();
    eval.eval(schema.root, node, Entry::Other, &mut path, &mut out)?;
    Ok(out)
}

struct Eval<'s> {
    schema: &'s Compiled,
}

impl<'s> Eval<'s> {
    fn node(&self, id: Id) -> &'s SchemaNode {
        &self.schema.nodes[id]
    }

    fn eval<'n>(
        &self,
        id: Id,
        node: &'n Node,
        entry: Entry,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        let s = self.node(id);
        if s.never {
            report(out, path, node, Kind::Never);
        }
        if let Some(types) = s.types
            && !type_matches(&node.value, types)
        {
            report(out, path, node, Kind::Type(types));
        }
        if let Some(members) = &s.enumeration
            && !python::enum_contains(members, &node.value)
        {
            report(out, path, node, Kind::Enum(members));
        }
        if let Some(deprecation) = &s.deprecated {
            let key = entry == Entry::Key;
            report(out, path, node, Kind::Deprecated { deprecation, key });
        }
        match &node.value {
            Value::Map(entries) => self.object(s, node, entries, path, out)?,
            Value::Seq(items) => self.array(s, node, items, path, out)?,
            Value::Str(text) => {
                if let Some(pattern) = &s.pattern
                    && !pattern.search(text)
                {
                    report(out, path, node, Kind::Pattern(&pattern.source));
                }
                if s.format == Some(Format::Date) && !python::is_iso_date(text) {
                    report(out, path, node, Kind::Format(Format::Date));
                }
            }
            // cloud-init's `string` includes bytes, and `re.search(str_pattern, bytes)` raises.
            Value::Binary(_) if s.pattern.is_some() => {
                return Err(Crash {
                    path: path.clone(),
                    node,
                    reason: CrashReason::BinaryPattern,
                });
            }
            Value::Int(_) | Value::Float(_) => {
                if let (Some(minimum), Some(value)) = (s.minimum, python::number(&node.value))
                    && value.partial_cmp(minimum) == Some(std::cmp::Ordering::Less)
                {
                    report(out, path, node, Kind::Minimum(minimum));
                }
            }
            _ => {}
        }
        if let Some(target) = s.reference {
            self.eval(target, node, entry, path, out)?;
        }
        for &sub in s.all_of.iter() {
            self.eval(sub, node, entry, path, out)?;
        }
        if !s.any_of.is_empty() {
            self.any_of(&s.any_of, node, path, out)?;
        }
        if !s.one_of.is_empty() {
            self.one_of(&s.one_of, node, path, out)?;
        }
        if let Some(not) = s.not
            && self.is_valid(not, node, path)?
        {
            report(out, path, node, Kind::Not(not));
        }
        Ok(())
    }

    fn object<'n>(
        &self,
        s: &'s SchemaNode,
        node: &'n Node,
        entries: &'n [(Node, Node)],
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        if !s.properties.is_empty() {
            for (key, value) in entries {
                if let Value::Str(name) = &key.value
                    && let Some(sub) = s.property(name)
                {
                    path.push(Seg::Key(key));
                    let flow = self.eval(sub, value, Entry::Key, path, out);
                    path.pop();
                    flow?;
                }
            }
        }
        for (pattern, sub) in s.pattern_properties.iter() {
            for (key, value) in entries {
                let name = string_key(key, path)?;
                if pattern.search(name) {
                    path.push(Seg::Key(key));
                    let flow = self.eval(*sub, value, Entry::Other, path, out);
                    path.pop();
                    flow?;
                }
            }
        }
        if s.additional_properties != Extra::Allowed {
            let mut extras = Vec::new();
            for (key, value) in entries {
                if matches!(&key.value, Value::Str(name) if s.property(name).is_some()) {
                    continue;
                }
                if !s.pattern_properties.is_empty() {
                    let name = string_key(key, path)?;
                    if s.pattern_properties.iter().any(|(p, _)| p.search(name)) {
                        continue;
                    }
                }
                extras.push((key, value));
            }
            match s.additional_properties {
                Extra::Schema(sub) => {
                    for (key, value) in extras {
                        // python-jsonschema's `descend(..., path=None)` adds no path element, so
                        // the problems of a `None` key's value are reported at the mapping.
                        let step = !matches!(key.value, Value::Null);
                        if step {
                            path.push(Seg::Key(key));
                        }
                        let flow = self.eval(sub, value, Entry::Other, path, out);
                        if step {
                            path.pop();
                        }
                        flow?;
                    }
                }
                Extra::Forbidden if !extras.is_empty() => {
                    // The message sorts the extra keys: mixed types raise `TypeError`.
                    let keys: Vec<&Value> = extras.iter().map(|(k, _)| &k.value).collect();
                    if python::python_sorted(&keys, python_lt).is_err() {
                        return Err(Crash {
                            path: path.clone(),
                            node: extras[0].0,
                            reason: CrashReason::UnsortableKeys,
                        });
                    }
                    report(
                        out,
                        path,
                        node,
                        Kind::Unexpected {
                            keys: extras.iter().map(|(k, _)| *k).collect(),
                            patterns: s
                                .pattern_properties
                                .iter()
                                .map(|(p, _)| &*p.source)
                                .collect(),
                        },
                    );
                }
                _ => {}
            }
        }
        if let Some(min) = s.min_properties
            && (entries.len() as u64) < min
        {
            report(out, path, node, Kind::MinProperties(min));
        }
        for name in s.required.iter() {
            let present = entries
                .iter()
                .any(|(k, _)| matches!(&k.value, Value::Str(n) if n == &**name));
            if !present {
                report(out, path, node, Kind::Required(name));
            }
        }
        Ok(())
    }

    fn array<'n>(
        &self,
        s: &'s SchemaNode,
        node: &'n Node,
        items: &'n [Node],
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        match &s.items {
            Items::None => {}
            Items::Each(sub) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Seg::Index(index));
                    let flow = self.eval(*sub, item, Entry::Other, path, out);
                    path.pop();
                    flow?;
                }
            }
            Items::Tuple(subs) => {
                for (index, (item, sub)) in items.iter().zip(subs.iter()).enumerate() {
                    path.push(Seg::Index(index));
                    let flow = self.eval(*sub, item, Entry::Other, path, out);
                    path.pop();
                    flow?;
                }
                // `additionalItems` only counts when `items` is a list of schemas.
                match s.additional_items {
                    Extra::Allowed => {}
                    Extra::Forbidden => {
                        if items.len() > subs.len() {
                            // The message sorts the extra items: mixed types raise `TypeError`.
                            let extra: Vec<&Value> =
                                items[subs.len()..].iter().map(|n| &n.value).collect();
                            if python::python_sorted(&extra, python_lt).is_err() {
                                return Err(Crash {
                                    path: path.clone(),
                                    node,
                                    reason: CrashReason::UnsortableItems,
                                });
                            }
                            report(
                                out,
                                path,
                                node,
                                Kind::TooManyItems {
                                    allowed: subs.len(),
                                },
                            );
                        }
                    }
                    Extra::Schema(sub) => {
                        for (index, item) in items.iter().enumerate().skip(subs.len()) {
                            path.push(Seg::Index(index));
                            let flow = self.eval(sub, item, Entry::Other, path, out);
                            path.pop();
                            flow?;
                        }
                    }
                }
            }
        }
        let len = items.len() as u64;
        if let Some(min) = s.min_items
            && len < min
        {
            report(out, path, node, Kind::MinItems(min));
        }
        if let Some(max) = s.max_items
            && len > max
        {
            report(out, path, node, Kind::MaxItems(max));
        }
        if s.unique_items && !python::all_unique(items) {
            // Point at the first repeat; on a very long list, at the list (finding it is
            // quadratic, and only the position depends on it).
            let repeat = if items.len() > 2048 {
                node
            } else {
                items
                    .iter()
                    .enumerate()
                    .find(|(i, item)| {
                        items[..*i]
                            .iter()
                            .any(|earlier| python::schema_equal(&earlier.value, &item.value))
                    })
                    .map_or(node, |(_, item)| item)
            };
            report(out, path, node, Kind::Duplicate(repeat));
        }
        Ok(())
    }

    /// cloud-init's `anyOf`: the first branch without errors wins and passes on its deprecations.
    fn any_of<'n>(
        &self,
        branches: &[Id],
        node: &'n Node,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        let mut failures = Vec::new();
        for &branch in branches {
            let mut found = Vec::new();
            self.eval(branch, node, Entry::Other, path, &mut found)?;
            if found.iter().all(Problem::is_deprecation) {
                out.extend(found);
                return Ok(());
            }
            found.retain(|p| !p.is_deprecation());
            failures.push(found);
        }
        report(out, path, node, Kind::NoneOf(failures));
        Ok(())
    }

    /// cloud-init's `oneOf`: the first branch without errors wins; if a later one is valid too,
    /// that is an error, else the winner's deprecations pass on.
    fn one_of<'n>(
        &self,
        branches: &[Id],
        node: &'n Node,
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        let mut failures = Vec::new();
        let mut rest = branches.iter();
        let mut winner = None;
        for &branch in rest.by_ref() {
            let mut found = Vec::new();
            self.eval(branch, node, Entry::Other, path, &mut found)?;
            if found.iter().all(Problem::is_deprecation) {
                winner = Some(found);
                break;
            }
            found.retain(|p| !p.is_deprecation());
            failures.push(found);
        }
        let Some(deprecations) = winner else {
            report(out, path, node, Kind::NoneOf(failures));
            return Ok(());
        };
        // Python checks every remaining branch (a list comprehension), so do the same.
        let mut more = false;
        for &branch in rest {
            if self.is_valid(branch, node, path)? {
                more = true;
            }
        }
        if more {
            report(out, path, node, Kind::Ambiguous);
        } else {
            out.extend(deprecations);
        }
        Ok(())
    }

    /// cloud-init's `is_valid`: no errors (deprecations do not count).
    fn is_valid<'n>(
        &self,
        id: Id,
        node: &'n Node,
        path: &mut Vec<Seg<'n>>,
    ) -> Result<bool, Crash<'n>> {
        let mut found = Vec::new();
        self.eval(id, node, Entry::Other, path, &mut found)?;
        Ok(found.iter().all(Problem::is_deprecation))
    }
}

/// Python's `a < b`, `Err` where it raises.
fn python_lt(a: &Value, b: &Value) -> Result<bool, python::TypeError> {
    python::py_cmp(a, b).map(|o| o == std::cmp::Ordering::Less)
}

/// Records a problem with the instance at `path`.
fn report<'s, 'n>(
    out: &mut Vec<Problem<'s, 'n>>,
    path: &[Seg<'n>],
    node: &'n Node,
    kind: Kind<'s, 'n>,
) {
    out.push(Problem {
        path: path.to_vec(),
        node,
        kind,
    });
}

/// The key as a string, or the crash Python has when `re.search` gets anything else.
fn string_key<'n>(key: &'n Node, path: &[Seg<'n>]) -> Result<&'n str, Crash<'n>> {
    match &key.value {
        Value::Str(name) => Ok(name),
        _ => Err(Crash {
            path: path.to_vec(),
            node: key,
            reason: CrashReason::KeyNotString,
        }),
    }
}

/// Draft 4's types as python-jsonschema checks them, with cloud-init's `string` (bytes too): a
/// `bool` is not an `integer` or a `number`, a float is never an `integer` (not even `1.0`), and a
/// date or timestamp is no JSON type at all.
pub(super) fn type_matches(value: &Value, types: Types) -> bool {
    let have = match value {
        Value::Null => Types::NULL,
        Value::Bool(_) => Types::BOOLEAN,
        Value::Int(_) => Types::INTEGER.union(Types::NUMBER),
        Value::Float(_) => Types::NUMBER,
        Value::Str(_) | Value::Binary(_) => Types::STRING,
        Value::Timestamp(_) => return false,
        Value::Seq(_) => Types::ARRAY,
        Value::Map(_) => Types::OBJECT,
    };
    types.contains(have)
}
