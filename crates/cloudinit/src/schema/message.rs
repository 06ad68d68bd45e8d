//! Messages for people: what is wrong with a value and, where YAML is the cause (an unquoted
//! `0644`, `yes`, or date), how to fix it.

use super::compile::{Compiled, Format, Types};
use super::eval::{Kind, Problem, Seg};
use super::python::{self, Literal, Number};
use crate::yaml::Value;

/// The longest text quoted from the file in a message.
const QUOTE_MAX: usize = 40;

/// The message for one problem (for [`Kind::Unexpected`], for one of its keys).
pub(super) fn message(schema: &Compiled, problem: &Problem<'_, '_>, key: Option<&Value>) -> String {
    let value = &problem.node.value;
    match &problem.kind {
        Kind::Never => "no value is allowed here".into(),
        Kind::Type(types) => {
            let name = match problem.path.last() {
                Some(Seg::Key(key)) => match &key.value {
                    Value::Str(name) => Some(name.as_str()),
                    _ => None,
                },
                _ => None,
            };
            type_message(*types, value, name)
        }
        Kind::Enum(members) => format!("{} is not one of {}", show(value), members_list(members)),
        Kind::Required(name) => format!("the required key \"{name}\" is missing"),
        Kind::Unexpected { keys, patterns } => {
            // One key when the finding is per key; all of them inside a summary.
            let key = key.map_or_else(
                || {
                    let names: Vec<String> = keys.iter().map(|k| show_key(&k.value)).collect();
                    join_and(&names)
                },
                show_key,
            );
            if patterns.is_empty() && problem.path.is_empty() {
                format!("{key} is not a cloud-config key")
            } else if patterns.is_empty() {
                format!("{key} is not a known key here")
            } else {
                format!(
                    "the key {key} is not allowed: keys must match {}",
                    patterns.join(" or ")
                )
            }
        }
        Kind::TooManyItems { allowed } => format!(
            "has {} items; at most {allowed} are allowed",
            item_count(value)
        ),
        Kind::MinItems(min) => match item_count(value) {
            0 => format!(
                "is empty; at least {min} {} needed",
                plural(*min, "item is", "items are")
            ),
            n => format!(
                "has {n} {}; at least {min} needed",
                plural(n as u64, "item", "items")
            ),
        },
        Kind::MaxItems(max) => format!(
            "has {} items; at most {max} {} allowed",
            item_count(value),
            plural(*max, "is", "are")
        ),
        Kind::MinProperties(min) => match value {
            Value::Map(entries) if !entries.is_empty() => format!(
                "has {} {}; at least {min} needed",
                entries.len(),
                plural(entries.len() as u64, "key", "keys")
            ),
            _ => format!(
                "is an empty mapping; at least {min} {} needed",
                plural(*min, "key is", "keys are")
            ),
        },
        Kind::Duplicate(item) => format!(
            "{} appears more than once; the items must be unique",
            show(&item.value)
        ),
        Kind::Minimum(min) => format!("{} is less than the minimum, {}", show(value), number(*min)),
        Kind::Pattern(pattern) => format!("{} does not match {pattern}", show(value)),
        Kind::Format(Format::Date) => format!("{} is not a date (YYYY-MM-DD)", show(value)),
        Kind::NoneOf(branches) => none_of(schema, problem, branches),
        Kind::Ambiguous => format!(
            "{} matches more than one of the allowed forms, so its meaning is ambiguous",
            show(value)
        ),
        Kind::Not(id) => {
            let names = &schema.node(*id).required;
            if names.len() > 1 && is_only_required(schema, *id) {
                let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
                format!("{} cannot be given together", join_and(&quoted))
            } else {
                "matches a form that is not allowed here".into()
            }
        }
        Kind::Deprecated { deprecation, key } => {
            let mut text = match (key, problem.path.last()) {
                (true, Some(Seg::Key(k))) => format!("{} is deprecated", show_key(&k.value)),
                _ => format!("this form of the value ({}) is deprecated", show(value)),
            };
            if let Some(version) = &deprecation.version {
                text.push_str(&format!(" since cloud-init {version}"));
            }
            if let Some(use_instead) = &deprecation.replacement {
                text.push_str(&format!("; use {use_instead} instead"));
            }
            text
        }
    }
}

/// Whether the schema says nothing but `required` (as the `not` of mutually exclusive keys).
fn is_only_required(schema: &Compiled, id: usize) -> bool {
    let node = schema.node(id);
    node.types.is_none()
        && node.properties.is_empty()
        && node.reference.is_none()
        && node.all_of.is_empty()
        && node.any_of.is_empty()
        && node.one_of.is_empty()
        && node.enumeration.is_none()
}

/// `expected a string, got an integer: 420; quote it …`; `key` is the key the value is under.
fn type_message(types: Types, value: &Value, key: Option<&str>) -> String {
    let mut text = format!("expected {}, got {}", types_list(types), kind_of(value));
    match value {
        Value::Null | Value::Seq(_) | Value::Map(_) => {}
        _ => text.push_str(&format!(": {}", show(value))),
    }
    if types.contains(Types::STRING) {
        let hint = match value {
            Value::Int(_) if key == Some("permissions") => Some(
                "quote the mode, as in '0644' (unquoted, YAML 1.1 reads 0644 as the octal number \
                 420)",
            ),
            Value::Int(_) | Value::Float(_) => Some("quote it if it is meant as text"),
            Value::Bool(_) => Some(
                "quote it if it is meant as text (YAML 1.1 reads yes, no, on and off as booleans)",
            ),
            Value::Timestamp(_) => {
                Some("quote it to keep it text (YAML reads an unquoted date as a date)")
            }
            _ => None,
        };
        if let Some(hint) = hint {
            text.push_str("; ");
            text.push_str(hint);
        }
    }
    text
}

/// `anyOf`/`oneOf` with no match: the forms each branch wanted, or the closest branch's error.
fn none_of(
    schema: &Compiled,
    problem: &Problem<'_, '_>,
    branches: &[Vec<Problem<'_, '_>>],
) -> String {
    let depth = problem.path.len();
    let value = &problem.node.value;
    if is_shallow(depth, branches) {
        let mut wants: Vec<String> = Vec::new();
        let mut types = Types::default();
        let mut members: Vec<&Literal> = Vec::new();
        for branch in branches {
            if let Some(Kind::Type(t)) = branch
                .iter()
                .map(|p| &p.kind)
                .find(|k| matches!(k, Kind::Type(_)))
            {
                types = types.union(*t);
                continue;
            }
            for p in branch {
                match &p.kind {
                    Kind::Enum(list) => members.extend(list.iter()),
                    other => wants.push(want(other)),
                }
            }
        }
        let mut forms = Vec::new();
        if !types.is_empty() {
            forms.push(types_list(types));
        }
        if !members.is_empty() {
            let owned: Vec<Literal> = members.into_iter().cloned().collect();
            forms.push(format!("one of {}", members_list(&owned)));
        }
        forms.extend(wants);
        return format!("expected {}, got {}", join_or(&forms), described(value));
    }
    // Some branch got further: follow the closest one down to its first error.
    let Some((first, more)) = closest(depth, branches) else {
        return format!("{} matches none of the allowed forms", show(value));
    };
    let relative: Vec<String> = first.path[depth..].iter().map(seg_str).collect();
    let mut text = String::from("matches none of the allowed forms; the closest fails at ");
    if relative.is_empty() {
        text.push_str("the value itself: ");
    } else {
        text.push_str(&relative.join("."));
        text.push_str(": ");
    }
    text.push_str(&message(schema, first, None));
    if more > 0 {
        text.push_str(&format!(
            " (and {more} more {})",
            plural(more as u64, "problem", "problems")
        ));
    }
    text
}

/// Whether every branch failed at the value itself (not below it), so the branches can be
/// summed up as the forms they wanted.
fn is_shallow(depth: usize, branches: &[Vec<Problem<'_, '_>>]) -> bool {
    branches.iter().all(|b| {
        b.iter()
            .all(|p| p.path.len() == depth && !matches!(p.kind, Kind::NoneOf(_)))
    })
}

/// The first error of the closest branch (one whose type fits, with the fewest errors), followed
/// down through nested choices; and how many other errors that branch had on the way.
fn closest<'a, 's, 'n>(
    depth: usize,
    branches: &'a [Vec<Problem<'s, 'n>>],
) -> Option<(&'a Problem<'s, 'n>, usize)> {
    let branch = branches
        .iter()
        .filter(|b| {
            !b.iter()
                .any(|p| p.path.len() == depth && matches!(p.kind, Kind::Type(_)))
        })
        .min_by_key(|b| b.len())
        .or_else(|| branches.first())?;
    let first = branch.first()?;
    let more = branch.len() - 1;
    if let Kind::NoneOf(inner) = &first.kind
        && !is_shallow(first.path.len(), inner)
        && let Some((deeper, others)) = closest(first.path.len(), inner)
    {
        return Some((deeper, more + others));
    }
    Some((first, more))
}

/// What a branch wanted, from the error it gave.
fn want(kind: &Kind<'_, '_>) -> String {
    match kind {
        Kind::Pattern(p) => format!("a string matching {p}"),
        Kind::Format(Format::Date) => "a date (YYYY-MM-DD)".into(),
        Kind::Minimum(m) => format!("a number of at least {}", number(*m)),
        Kind::MinItems(n) => format!("a list of at least {n} {}", plural(*n, "item", "items")),
        Kind::MaxItems(n) => format!("a list of at most {n} {}", plural(*n, "item", "items")),
        Kind::MinProperties(n) => {
            format!("a mapping of at least {n} {}", plural(*n, "key", "keys"))
        }
        Kind::Required(name) => format!("a mapping with the key \"{name}\""),
        Kind::Unexpected { keys, .. } => {
            let names: Vec<String> = keys.iter().map(|k| show_key(&k.value)).collect();
            format!("a mapping without {}", join_and(&names))
        }
        Kind::Duplicate(_) => "a list of unique items".into(),
        Kind::TooManyItems { allowed } => format!("a list of at most {allowed} items"),
        Kind::Ambiguous => "exactly one form".into(),
        _ => "another form".into(),
    }
}

fn seg_str(seg: &Seg<'_>) -> String {
    match seg {
        Seg::Key(k) => python::key_str(&k.value),
        Seg::Index(i) => i.to_string(),
    }
}

/// `a string, a list or a mapping`.
fn types_list(types: Types) -> String {
    let names: Vec<String> = Types::ALL
        .iter()
        .filter(|(t, _)| types.contains(*t))
        // `integer` is inside `number`: name only the wider one when both are allowed.
        .filter(|(t, _)| !(*t == Types::INTEGER && types.contains(Types::NUMBER)))
        .map(|(_, name)| type_name(name).to_string())
        .collect();
    join_or(&names)
}

fn type_name(name: &str) -> &'static str {
    match name {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        "array" => "a list",
        _ => "a mapping",
    }
}

/// `an integer`, `a date`, `a mapping`…
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null (an empty value)",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Str(_) => "a string",
        Value::Binary(_) => "binary data",
        Value::Timestamp(t) if t.len() <= 10 => "a date",
        Value::Timestamp(_) => "a timestamp",
        Value::Seq(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

/// `an integer: 420`, `a list`.
fn described(value: &Value) -> String {
    match value {
        Value::Null | Value::Seq(_) | Value::Map(_) => kind_of(value).into(),
        _ => format!("{}: {}", kind_of(value), show(value)),
    }
}

/// A value as a message quotes it: strings in double quotes (shortened), scalars as YAML writes
/// them, containers by kind.
pub(super) fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => python::float_repr(*f),
        Value::Str(s) => quote(s),
        Value::Binary(bytes) => format!("!!binary data ({} bytes)", bytes.len()),
        Value::Timestamp(t) => t.clone(),
        Value::Seq(items) => format!(
            "a list of {} {}",
            items.len(),
            plural(items.len() as u64, "item", "items")
        ),
        Value::Map(entries) => format!(
            "a mapping of {} {}",
            entries.len(),
            plural(entries.len() as u64, "key", "keys")
        ),
    }
}

/// A key as a message names it: strings quoted, other keys as Python prints them.
fn show_key(value: &Value) -> String {
    match value {
        Value::Str(s) => quote(s),
        other => python::key_str(other),
    }
}

/// `"text"`, JSON-escaped, at most [`QUOTE_MAX`] characters of it.
fn quote(text: &str) -> String {
    let mut short: String = text.chars().take(QUOTE_MAX).collect();
    let cut = short.len() < text.len();
    short = serde_json::Value::String(short).to_string();
    if cut {
        short.insert(short.len() - 1, '…');
    }
    short
}

fn members_list(members: &[Literal]) -> String {
    let names: Vec<String> = members
        .iter()
        .map(|m| match m {
            Literal::Null => "null".into(),
            Literal::Bool(b) => b.to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) => python::float_repr(*f),
            Literal::Str(s) => s.to_string(),
        })
        .collect();
    names.join(", ")
}

fn number(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => python::float_repr(f),
    }
}

fn item_count(value: &Value) -> usize {
    match value {
        Value::Seq(items) => items.len(),
        _ => 0,
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// `a, b or c`.
fn join_or(items: &[String]) -> String {
    join_with(items, "or")
}

/// `a, b and c`.
fn join_and(items: &[String]) -> String {
    join_with(items, "and")
}

fn join_with(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}
