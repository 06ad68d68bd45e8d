//! The validator: python-jsonschema 4.10's Draft 4 keywords, with the changes cloud-init 22.4
//! makes (bytes are strings, `deprecated` yields warnings, `oneOf`/`anyOf` pass on the warnings of
//! the branch that matched), walking [`Node`]s so that Python's types and every position are at
//! hand.
//!
//! Where python-jsonschema keeps going after an error, so does this: cloud-init reports every
//! error, at the path of the instance that failed. Where Python raises instead (a regex run on a
//! key that is not a string), validation stops with a [`Crash`], as `cloud-init schema` does.
//!
//! With [`Version::V26_2`], a failed choice reports what cloud-init 26.2 reports (its
//! `cloudinit/config/schema.py` with python-jsonschema 4.26): a `oneOf` with no matching branch
//! gives its branches' deepest errors (`cloud_init_deepest_matches`, which prefers, for a
//! mapping with a `type` key, the errors about `type`), and an `anyOf` gives jsonschema's
//! `best_match` of its branches' errors and then its own error, at its own path.

use std::cell::Cell;
use std::cmp::Ordering;

use super::Version;
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
#[derive(Debug, Clone)]
pub(super) struct Problem<'s, 'n> {
    /// The path of the instance, as cloud-init reports it.
    pub(super) path: Vec<Seg<'n>>,
    /// The instance.
    pub(super) node: &'n Node,
    pub(super) kind: Kind<'s, 'n>,
    /// The schema whose keyword failed (python-jsonschema's `error.schema`).
    pub(super) schema: Id,
    /// For 26.2's `oneOf`: which failed choice reported this problem as one of its deepest
    /// errors (numbered in evaluation order), so that several at one path can be told as one.
    pub(super) choice: Option<usize>,
}

impl Problem<'_, '_> {
    /// A deprecation, not an error.
    pub(super) fn is_deprecation(&self) -> bool {
        matches!(self.kind, Kind::Deprecated { .. })
    }
}

/// What is wrong, keyword by keyword.
#[derive(Debug, Clone)]
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

/// Validates `node` against the compiled schema's root with the rules of `version`'s
/// cloud-init: every problem, or the crash.
pub(super) fn run<'s, 'n>(
    schema: &'s Compiled,
    node: &'n Node,
    version: Version,
) -> Result<Vec<Problem<'s, 'n>>, Crash<'n>> {
    let eval = Eval {
        schema,
        version,
        choices: Cell::new(0),
    };
    let mut out = Vec::new();
    let mut path = Vec::new();
    eval.eval(schema.root, node, Entry::Other, &mut path, &mut out)?;
    Ok(out)
}

struct Eval<'s> {
    schema: &'s Compiled,
    version: Version,
    /// How many 26.2 `oneOf`s have failed so far: numbers [`Problem::choice`].
    choices: Cell<usize>,
}

impl<'s> Eval<'s> {
    fn node(&self, id: Id) -> &'s SchemaNode {
        self.schema.node(id)
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
            report(out, id, path, node, Kind::Never);
        }
        if let Some(types) = s.types
            && !type_matches(&node.value, types)
        {
            report(out, id, path, node, Kind::Type(types));
        }
        if let Some(members) = &s.enumeration
            && !python::enum_contains(members, &node.value)
        {
            report(out, id, path, node, Kind::Enum(members));
        }
        if let Some(deprecation) = &s.deprecated {
            let key = entry == Entry::Key;
            report(out, id, path, node, Kind::Deprecated { deprecation, key });
        }
        // cloud-init 26.2 registers `changed` as it does `deprecated`; 22.4 ignores it.
        if let Some(deprecation) = &s.changed
            && self.version == Version::V26_2
        {
            let key = entry == Entry::Key;
            report(out, id, path, node, Kind::Deprecated { deprecation, key });
        }
        match &node.value {
            Value::Map(entries) => self.object(id, node, entries, path, out)?,
            Value::Seq(items) => self.array(id, node, items, path, out)?,
            Value::Str(text) => {
                if let Some(pattern) = &s.pattern
                    && !pattern.search(text)
                {
                    report(out, id, path, node, Kind::Pattern(&pattern.source));
                }
                if s.format == Some(Format::Date) && !python::is_iso_date(text) {
                    report(out, id, path, node, Kind::Format(Format::Date));
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
                    report(out, id, path, node, Kind::Minimum(minimum));
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
            self.any_of(id, &s.any_of, node, path, out)?;
        }
        if !s.one_of.is_empty() {
            self.one_of(id, &s.one_of, node, path, out)?;
        }
        if let Some(not) = s.not
            && self.is_valid(not, node, path)?
        {
            report(out, id, path, node, Kind::Not(not));
        }
        Ok(())
    }

    fn object<'n>(
        &self,
        id: Id,
        node: &'n Node,
        entries: &'n [(Node, Node)],
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        let s = self.node(id);
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
                    // The message sorts the extra keys: mixed types raise `TypeError` (in
                    // 26.2's jsonschema only beside `patternProperties`; else it sorts by `str`).
                    let keys: Vec<&Value> = extras.iter().map(|(k, _)| &k.value).collect();
                    let sorts = self.version == Version::V22_4 || !s.pattern_properties.is_empty();
                    if sorts && python::python_sorted(&keys, python_lt).is_err() {
                        return Err(Crash {
                            path: path.clone(),
                            node: extras[0].0,
                            reason: CrashReason::UnsortableKeys,
                        });
                    }
                    report(
                        out,
                        id,
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
            report(out, id, path, node, Kind::MinProperties(min));
        }
        for name in s.required.iter() {
            let present = entries
                .iter()
                .any(|(k, _)| matches!(&k.value, Value::Str(n) if n == &**name));
            if !present {
                report(out, id, path, node, Kind::Required(name));
            }
        }
        Ok(())
    }

    fn array<'n>(
        &self,
        id: Id,
        node: &'n Node,
        items: &'n [Node],
        path: &mut Vec<Seg<'n>>,
        out: &mut Vec<Problem<'s, 'n>>,
    ) -> Flow<'n> {
        let s = self.node(id);
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
                            // 22.4's message sorts the extra items: mixed types raise
                            // `TypeError`. 26.2's jsonschema lists them as they come.
                            let extra: Vec<&Value> =
                                items[subs.len()..].iter().map(|n| &n.value).collect();
                            if self.version == Version::V22_4
                                && python::python_sorted(&extra, python_lt).is_err()
                            {
                                return Err(Crash {
                                    path: path.clone(),
                                    node,
                                    reason: CrashReason::UnsortableItems,
                                });
                            }
                            report(
                                out,
                                id,
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
            report(out, id, path, node, Kind::MinItems(min));
        }
        if let Some(max) = s.max_items
            && len > max
        {
            report(out, id, path, node, Kind::MaxItems(max));
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
            report(out, id, path, node, Kind::Duplicate(repeat));
        }
        Ok(())
    }

    /// cloud-init's `anyOf`: the first branch without errors wins and passes on its deprecations.
    fn any_of<'n>(
        &self,
        id: Id,
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
        if self.version == Version::V26_2 {
            // cloud-init 26.2's `_anyOf` yields `best_match(all_errors)` before its own error.
            let all: Vec<&Problem<'s, 'n>> = failures.iter().flatten().collect();
            if let Some(best) = self.best_match(path, &all) {
                out.push(best);
            }
        }
        report(out, id, path, node, Kind::NoneOf(failures));
        Ok(())
    }

    /// cloud-init's `oneOf`: the first branch without errors wins; if a later one is valid too,
    /// that is an error, else the winner's deprecations pass on.
    fn one_of<'n>(
        &self,
        id: Id,
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
            if self.version == Version::V26_2 {
                let choice = self.choices.get();
                self.choices.set(choice + 1);
                let all: Vec<Problem<'s, 'n>> = failures.into_iter().flatten().collect();
                for mut problem in self.deepest_matches(path.len(), node, all) {
                    problem.choice = Some(choice);
                    out.push(problem);
                }
            } else {
                report(out, id, path, node, Kind::NoneOf(failures));
            }
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
            report(out, id, path, node, Kind::Ambiguous);
        } else {
            out.extend(deprecations);
        }
        Ok(())
    }

    /// cloud-init 26.2's `cloud_init_deepest_matches`: of the errors of a `oneOf` with no
    /// matching branch (at `base`, the length of its instance's path), those deepest below it;
    /// or, for a mapping with a `type` key, the first error whose schema's `properties.type.enum`
    /// holds that type, else the errors at a path ending in `type` (none, possibly: then the
    /// `oneOf` reports nothing, as in cloud-init).
    fn deepest_matches<'n>(
        &self,
        base: usize,
        node: &'n Node,
        errors: Vec<Problem<'s, 'n>>,
    ) -> Vec<Problem<'s, 'n>> {
        let mut best = Vec::new();
        if let Value::Map(entries) = &node.value
            && let Some(kind) = python::map_get(entries, &Value::Str("type".into()))
        {
            for error in errors {
                let members = self
                    .node(error.schema)
                    .property("type")
                    .and_then(|p| self.node(p).enumeration.as_ref());
                if members.is_some_and(|m| python::enum_contains(m, &kind.value)) {
                    return vec![error];
                }
                // `err.json_path[-4:] == "type"`: the last step is a key ending in `type`.
                let about_type = error.path.len() > base
                    && matches!(error.path.last(),
                        Some(Seg::Key(key)) if matches!(&key.value, Value::Str(k) if k.ends_with("type")));
                if about_type {
                    best.push(error);
                }
            }
            return best;
        }
        let mut depth = 0;
        for error in errors {
            let relative = error.path.len() - base;
            if relative == depth {
                best.push(error);
            } else if relative > depth {
                depth = relative;
                best = vec![error];
            }
        }
        best
    }

    /// python-jsonschema 4.26's `best_match` of the errors of an `anyOf` at `path`: the most
    /// relevant error, then down through the `anyOf` errors' own branch errors (their
    /// "context") while one of those is more relevant than the rest. An error taken from a
    /// context keeps only its path below that context's instance, as in jsonschema.
    fn best_match<'n>(
        &self,
        path: &[Seg<'n>],
        errors: &[&Problem<'s, 'n>],
    ) -> Option<Problem<'s, 'n>> {
        // `max` keeps the first of equals.
        let mut best = *errors.iter().reduce(|best, error| {
            if self.relevance(error, best) == Ordering::Greater {
                error
            } else {
                best
            }
        })?;
        let mut below = path.len();
        while let Kind::NoneOf(branches) = &best.kind {
            let mut context: Vec<&Problem<'s, 'n>> = branches.iter().flatten().collect();
            if context.is_empty() {
                break;
            }
            // `heapq.nsmallest(2, ...)`: a stable sort, the first two.
            context.sort_by(|a, b| self.relevance(a, b));
            if context.len() >= 2 && self.relevance(context[0], context[1]) == Ordering::Equal {
                break;
            }
            below = best.path.len();
            best = context[0];
        }
        let mut found = best.clone();
        let mut full = path.to_vec();
        full.extend_from_slice(&best.path[below..]);
        found.path = full;
        Some(found)
    }

    /// python-jsonschema's `relevance` key, compared: deeper, then the greater path, then not
    /// from `anyOf`/`oneOf`, then not matching the schema's own `type`, is more relevant.
    fn relevance(&self, a: &Problem<'_, '_>, b: &Problem<'_, '_>) -> Ordering {
        let weak = |p: &Problem<'_, '_>| matches!(p.kind, Kind::NoneOf(_) | Kind::Ambiguous);
        let matches_type = |p: &Problem<'_, '_>| {
            self.node(p.schema)
                .types
                .is_some_and(|t| type_matches(&p.node.value, t))
        };
        b.path
            .len()
            .cmp(&a.path.len())
            .then_with(|| path_cmp(&a.path, &b.path))
            .then_with(|| (!weak(a)).cmp(&!weak(b)))
            .then_with(|| (!matches_type(a)).cmp(&!matches_type(b)))
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

/// Python's comparison of two paths (deques): the first elements that differ decide. Where
/// Python would raise (a number against a string), they count as equal.
fn path_cmp(a: &[Seg<'_>], b: &[Seg<'_>]) -> Ordering {
    let value = |seg: &Seg<'_>| match seg {
        Seg::Key(key) => key.value.clone(),
        Seg::Index(index) => Value::Int(*index as i128),
    };
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (value(x), value(y));
        if !python::py_eq(&x, &y) {
            return python::py_cmp(&x, &y).unwrap_or(Ordering::Equal);
        }
    }
    a.len().cmp(&b.len())
}

/// Python's `a < b`, `Err` where it raises.
fn python_lt(a: &Value, b: &Value) -> Result<bool, python::TypeError> {
    python::py_cmp(a, b).map(|o| o == std::cmp::Ordering::Less)
}

/// Records a problem with the instance at `path`.
fn report<'s, 'n>(
    out: &mut Vec<Problem<'s, 'n>>,
    schema: Id,
    path: &[Seg<'n>],
    node: &'n Node,
    kind: Kind<'s, 'n>,
) {
    out.push(Problem {
        path: path.to_vec(),
        node,
        kind,
        schema,
        choice: None,
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
