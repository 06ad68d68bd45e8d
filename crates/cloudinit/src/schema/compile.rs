//! The compact schema (`schemas/cloud-config-*.json`) read into an arena of nodes, with every
//! `$ref` resolved to an index. Only the keywords that python-jsonschema's Draft 4 validator
//! (as cloud-init 22.4 sets it up) acts on are accepted; anything else is an error, so a schema
//! that grows a new keyword cannot be validated by half.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::json::{self, Json};
use super::python::{Literal, Number};
use super::tables::Table;

/// The index of a node of a [`Compiled`] schema.
pub(super) type Id = usize;

/// The JSON types, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Types(u8);

impl Types {
    pub(super) const NULL: Types = Types(1);
    pub(super) const BOOLEAN: Types = Types(2);
    pub(super) const INTEGER: Types = Types(4);
    pub(super) const NUMBER: Types = Types(8);
    pub(super) const STRING: Types = Types(16);
    pub(super) const ARRAY: Types = Types(32);
    pub(super) const OBJECT: Types = Types(64);

    /// Every type, in the order messages name them.
    pub(super) const ALL: [(Types, &'static str); 7] = [
        (Types::STRING, "string"),
        (Types::INTEGER, "integer"),
        (Types::NUMBER, "number"),
        (Types::BOOLEAN, "boolean"),
        (Types::NULL, "null"),
        (Types::ARRAY, "array"),
        (Types::OBJECT, "object"),
    ];

    pub(super) fn contains(self, other: Types) -> bool {
        self.0 & other.0 != 0
    }

    pub(super) fn union(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set from its bits (for the generated tables).
    pub(super) const fn from_bits(bits: u8) -> Types {
        Types(bits)
    }

    /// The bits of the set.
    pub(super) fn bits(self) -> u8 {
        self.0
    }

    fn named(name: &str) -> Option<Types> {
        Types::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(types, _)| *types)
    }
}

/// `additionalProperties` / `additionalItems`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Extra {
    /// Absent, `true` or `{}`-like: anything goes.
    #[default]
    Allowed,
    /// `false`.
    Forbidden,
    /// A schema every extra member must meet.
    Schema(Id),
}

/// `items`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Items {
    /// Absent.
    #[default]
    None,
    /// One schema for every item.
    Each(Id),
    /// One schema per position (Draft 4 tuple form).
    Tuple(Cow<'static, [Id]>),
}

/// A `pattern` or `patternProperties` key: Python's `re.search`, compiled on first use.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    /// The pattern as the schema writes it.
    pub(super) source: Cow<'static, str>,
    regex: OnceLock<Option<regex_lite::Regex>>,
}

impl PartialEq for Pattern {
    /// Two patterns are equal when their sources are: whether either was compiled yet does not
    /// matter.
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    fn new(source: &str) -> Pattern {
        Pattern {
            source: Cow::Owned(source.to_owned()),
            regex: OnceLock::new(),
        }
    }

    /// A pattern of the generated tables.
    pub(super) const fn fixed(source: &'static str) -> Pattern {
        Pattern {
            source: Cow::Borrowed(source),
            regex: OnceLock::new(),
        }
    }

    /// Whether `re.search(pattern, text)` finds a match. The schema's patterns use `^`, `$`,
    /// `.`, classes, groups and quantifiers, which mean the same in Python and `regex-lite`
    /// except `$`: Python's also matches before a newline that ends the string.
    pub(super) fn search(&self, text: &str) -> bool {
        let regex = self.regex.get_or_init(|| {
            let translated = python_dollar(&self.source);
            regex_lite::Regex::new(&translated).ok()
        });
        match regex {
            Some(regex) => regex.is_match(text),
            // Not reachable for the embedded schemas: a unit test compiles every pattern.
            None => true,
        }
    }

    /// Whether the pattern compiles (for the tests of the embedded schemas).
    #[cfg(test)]
    pub(super) fn compiles(&self) -> bool {
        regex_lite::Regex::new(&python_dollar(&self.source)).is_ok()
    }
}

/// Rewrites each unescaped `$` outside a class as `(?:\n?\z)`: Python's `$` without MULTILINE.
fn python_dollar(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 8);
    let mut escaped = false;
    let mut in_class = false;
    for c in source.chars() {
        if escaped {
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            '$' if !in_class => out.push_str(r"(?:\n?\z)"),
            _ => out.push(c),
        }
    }
    out
}

/// A `format` that cloud-init 22.4's `FormatChecker` checks, given the packages its Python has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `date`: `datetime.date.fromisoformat`.
    Date,
}

/// `deprecated: true`, with what the schema says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Deprecation {
    /// `deprecated_version` (26.2 only).
    pub(super) version: Option<Cow<'static, str>>,
    /// The key or value to use instead, when the schema names exactly one.
    pub(super) replacement: Option<Cow<'static, str>>,
}

/// One schema object, keyword by keyword. Lists are borrowed in the generated tables
/// (`schemas/tables-*.rs`) and owned when compiled from JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct SchemaNode {
    /// A `false` schema: nothing is valid.
    pub(super) never: bool,
    pub(super) reference: Option<Id>,
    pub(super) types: Option<Types>,
    pub(super) enumeration: Option<Cow<'static, [Literal]>>,
    /// Sorted by name.
    pub(super) properties: Cow<'static, [(Cow<'static, str>, Id)]>,
    pub(super) pattern_properties: Cow<'static, [(Pattern, Id)]>,
    pub(super) additional_properties: Extra,
    pub(super) items: Items,
    pub(super) additional_items: Extra,
    pub(super) all_of: Cow<'static, [Id]>,
    pub(super) any_of: Cow<'static, [Id]>,
    pub(super) one_of: Cow<'static, [Id]>,
    pub(super) not: Option<Id>,
    pub(super) required: Cow<'static, [Cow<'static, str>]>,
    pub(super) min_items: Option<u64>,
    pub(super) max_items: Option<u64>,
    pub(super) min_properties: Option<u64>,
    pub(super) unique_items: bool,
    pub(super) minimum: Option<Number>,
    pub(super) pattern: Option<Pattern>,
    pub(super) format: Option<Format>,
    pub(super) deprecated: Option<Deprecation>,
    /// `changed: true` (26.2's schema): cloud-init 26.2 reports it as a deprecation, 22.4 has
    /// no such keyword.
    pub(super) changed: Option<Deprecation>,
}

impl SchemaNode {
    /// The schema named by `properties`, if any.
    pub(super) fn property(&self, name: &str) -> Option<Id> {
        self.properties
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| self.properties[i].1)
    }
}

/// A compiled schema: the arena and the root.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) nodes: Nodes,
    pub(super) root: Id,
}

/// Where a compiled schema's nodes are.
#[derive(Debug)]
pub(super) enum Nodes {
    /// Compiled from JSON at run time.
    Owned(Vec<SchemaNode>),
    /// The generated tables in the binary's read-only data, each node read from them the first
    /// time it is asked for.
    Table(&'static Table),
}

impl Compiled {
    /// The node `id`.
    pub(super) fn node(&self, id: Id) -> &SchemaNode {
        match &self.nodes {
            Nodes::Owned(nodes) => &nodes[id],
            Nodes::Table(table) => table.node(id),
        }
    }

    /// How many nodes there are.
    pub(super) fn len(&self) -> usize {
        match &self.nodes {
            Nodes::Owned(nodes) => nodes.len(),
            Nodes::Table(table) => table.len(),
        }
    }
}

/// Reads a compact schema.
pub(super) fn compile(text: &str) -> Result<Compiled, String> {
    let json = json::parse(text).map_err(|e| format!("not JSON: {e}"))?;
    let Json::Object(root) = json else {
        return Err("the root is not an object".into());
    };
    let mut builder = Builder {
        nodes: Vec::with_capacity(4096),
        defs: BTreeMap::new(),
    };
    // Reserve an id for every definition first, so references resolve in one pass.
    let (defs, body): (Vec<_>, Vec<_>) = root.into_iter().partition(|(key, _)| key == "$defs");
    let defs = match defs.into_iter().next_back() {
        Some((_, Json::Object(defs))) => defs,
        Some(_) => return Err("$defs is not an object".into()),
        None => Vec::new(),
    };
    for (name, _) in &defs {
        let id = builder.reserve();
        builder.defs.insert(name.to_string(), id);
    }
    let top = At::root();
    let defs_at = top.child("$defs");
    for (name, def) in &defs {
        let id = builder.defs[&**name];
        let node = builder.node(def, &defs_at.child(name))?;
        builder.nodes[id] = node;
    }
    let body = body
        .into_iter()
        .filter(|(key, _)| key != "$schema" && key != "$comment")
        .collect();
    let root = builder.add(&Json::Object(body), &top)?;
    Ok(Compiled {
        nodes: Nodes::Owned(builder.nodes),
        root,
    })
}

/// Where a keyword is in the schema (`#/$defs/cc_ntp/properties/ntp`), built up as the
/// compiler descends and printed only for an error.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    step: Step<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Root,
    Name(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    fn root() -> At<'static> {
        At {
            parent: None,
            step: Step::Root,
        }
    }

    fn child(&'a self, name: &'a str) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Name(name),
        }
    }

    fn index(&'a self, index: usize) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Index(index),
        }
    }
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}/")?;
        }
        match self.step {
            Step::Root => f.write_str("#"),
            Step::Name(name) => f.write_str(name),
            Step::Index(index) => write!(f, "{index}"),
        }
    }
}

struct Builder {
    nodes: Vec<SchemaNode>,
    defs: BTreeMap<String, Id>,
}

impl Builder {
    fn reserve(&mut self) -> Id {
        self.nodes.push(SchemaNode::default());
        self.nodes.len() - 1
    }

    fn add(&mut self, json: &Json<'_>, at: &At<'_>) -> Result<Id, String> {
        let node = self.node(json, at)?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn list(&mut self, json: &Json<'_>, at: &At<'_>) -> Result<Vec<Id>, String> {
        let items = json
            .as_array()
            .ok_or_else(|| format!("{at}: not an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.add(item, &at.index(i)))
            .collect()
    }

    fn extra(&mut self, json: &Json<'_>, at: &At<'_>) -> Result<Extra, String> {
        Ok(match json {
            Json::Bool(true) => Extra::Allowed,
            Json::Bool(false) => Extra::Forbidden,
            Json::Object(_) => Extra::Schema(self.add(json, at)?),
            _ => return Err(format!("{at}: not a schema")),
        })
    }

    fn node(&mut self, json: &Json<'_>, at: &At<'_>) -> Result<SchemaNode, String> {
        let object = match json {
            Json::Bool(true) => return Ok(SchemaNode::default()),
            Json::Bool(false) => {
                return Ok(SchemaNode {
                    never: true,
                    ..SchemaNode::default()
                });
            }
            Json::Object(object) => object,
            _ => return Err(format!("{at}: a schema is an object or a boolean")),
        };
        let mut node = SchemaNode::default();
        let mut deprecated = false;
        let mut changed = false;
        for (key, value) in object {
            let here = at.child(key);
            match &**key {
                "$ref" => {
                    let target = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/$defs/"))
                        .ok_or_else(|| format!("{here}: only #/$defs/ references"))?;
                    let id = self
                        .defs
                        .get(target)
                        .ok_or_else(|| format!("{here}: no definition {target:?}"))?;
                    node.reference = Some(*id);
                }
                "type" => {
                    let names: Vec<&str> = match value {
                        Json::Str(name) => vec![&**name],
                        Json::Array(names) => names
                            .iter()
                            .map(|n| n.as_str().ok_or_else(|| format!("{here}: not a name")))
                            .collect::<Result<_, _>>()?,
                        _ => return Err(format!("{here}: not a type")),
                    };
                    let mut types = Types::default();
                    for name in names {
                        let one = Types::named(name)
                            .ok_or_else(|| format!("{here}: unknown type {name:?}"))?;
                        types = types.union(one);
                    }
                    node.types = Some(types);
                }
                "enum" => {
                    let members = value
                        .as_array()
                        .ok_or_else(|| format!("{here}: not an array"))?;
                    node.enumeration = Some(Cow::Owned(
                        members
                            .iter()
                            .map(|m| literal(m).ok_or_else(|| format!("{here}: not a scalar")))
                            .collect::<Result<_, _>>()?,
                    ));
                }
                "properties" => {
                    let members = value
                        .as_object()
                        .ok_or_else(|| format!("{here}: not an object"))?;
                    let mut properties = Vec::with_capacity(members.len());
                    for (name, sub) in members {
                        let id = self.add(sub, &here.child(name))?;
                        properties.push((Cow::<str>::Owned(name.to_string()), id));
                    }
                    properties.sort_by(|a, b| a.0.cmp(&b.0));
                    node.properties = Cow::Owned(properties);
                }
                "patternProperties" => {
                    let members = value
                        .as_object()
                        .ok_or_else(|| format!("{here}: not an object"))?;
                    let mut patterns = Vec::with_capacity(members.len());
                    for (pattern, sub) in members {
                        let id = self.add(sub, &here.child(pattern))?;
                        patterns.push((Pattern::new(pattern), id));
                    }
                    node.pattern_properties = Cow::Owned(patterns);
                }
                "additionalProperties" => node.additional_properties = self.extra(value, &here)?,
                "additionalItems" => node.additional_items = self.extra(value, &here)?,
                "items" => {
                    node.items = match value {
                        Json::Array(_) => Items::Tuple(Cow::Owned(self.list(value, &here)?)),
                        Json::Object(_) => Items::Each(self.add(value, &here)?),
                        _ => return Err(format!("{here}: not a schema or a list")),
                    };
                }
                "allOf" => node.all_of = Cow::Owned(self.list(value, &here)?),
                "anyOf" => node.any_of = Cow::Owned(self.list(value, &here)?),
                "oneOf" => node.one_of = Cow::Owned(self.list(value, &here)?),
                "not" => node.not = Some(self.add(value, &here)?),
                "required" => {
                    let names = value
                        .as_array()
                        .ok_or_else(|| format!("{here}: not an array"))?;
                    node.required = Cow::Owned(
                        names
                            .iter()
                            .map(|n| {
                                n.as_str()
                                    .map(|n| Cow::Owned(n.to_owned()))
                                    .ok_or_else(|| format!("{here}: not a name"))
                            })
                            .collect::<Result<_, _>>()?,
                    );
                }
                "minItems" => node.min_items = Some(count(value, &here)?),
                "maxItems" => node.max_items = Some(count(value, &here)?),
                "minProperties" => node.min_properties = Some(count(value, &here)?),
                "uniqueItems" => {
                    node.unique_items = value
                        .as_bool()
                        .ok_or_else(|| format!("{here}: not a boolean"))?;
                }
                "minimum" => {
                    node.minimum = Some(match literal(value) {
                        Some(Literal::Int(i)) => Number::Int(i),
                        Some(Literal::Float(f)) => Number::Float(f),
                        _ => return Err(format!("{here}: not a number")),
                    });
                }
                "pattern" => {
                    let source = value
                        .as_str()
                        .ok_or_else(|| format!("{here}: not a string"))?;
                    node.pattern = Some(Pattern::new(source));
                }
                "format" => {
                    // cloud-init 22.4's FormatChecker has `date` (always) but not `hostname`
                    // (needs `fqdn`) nor `uri` (needs `rfc3987`): those pass unchecked.
                    node.format = match value.as_str() {
                        Some("date") => Some(Format::Date),
                        Some(_) => None,
                        None => return Err(format!("{here}: not a string")),
                    };
                }
                "deprecated" => {
                    deprecated = value
                        .as_bool()
                        .ok_or_else(|| format!("{here}: not a boolean"))?;
                }
                "changed" => {
                    changed = value
                        .as_bool()
                        .ok_or_else(|| format!("{here}: not a boolean"))?;
                }
                "deprecated_version" | "deprecated_use" | "changed_version" => {
                    value
                        .as_str()
                        .ok_or_else(|| format!("{here}: not a string"))?;
                }
                other => return Err(format!("{here}: unsupported keyword {other:?}")),
            }
        }
        let text = |key: &str| {
            json.get(key)
                .and_then(Json::as_str)
                .map(|s| Cow::Owned(s.to_owned()))
        };
        if deprecated {
            node.deprecated = Some(Deprecation {
                version: text("deprecated_version"),
                replacement: text("deprecated_use"),
            });
        }
        if changed {
            node.changed = Some(Deprecation {
                version: text("changed_version"),
                replacement: None,
            });
        }
        Ok(node)
    }
}

fn count(json: &Json<'_>, at: &At<'_>) -> Result<u64, String> {
    json.as_u64()
        .ok_or_else(|| format!("{at}: not a non-negative integer"))
}

fn literal(json: &Json<'_>) -> Option<Literal> {
    Some(match json {
        Json::Null => Literal::Null,
        Json::Bool(b) => Literal::Bool(*b),
        Json::Str(s) => Literal::Str(Cow::Owned(s.to_string())),
        // Python's `json` reads a number without a fraction or exponent as an `int`.
        Json::Number(text) if !text.contains(['.', 'e', 'E']) => Literal::Int(text.parse().ok()?),
        Json::Number(text) => Literal::Float(text.parse().ok()?),
        Json::Array(_) | Json::Object(_) => return None,
    })
}
