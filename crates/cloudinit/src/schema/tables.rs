//! The compiled schemas as Rust statics, so that a process validates without reading JSON first.
//!
//! `cargo xtask codegen` compiles each compact schema (`schemas/cloud-config-*.json`) with
//! [`compile`](super::compile::compile) and writes the arena out as Rust source
//! (`schemas/tables-*.rs`, made by [`emit`]); this module includes it. A process then starts with
//! the schema already in its read-only data: no JSON parse and no compilation at first use, which
//! were two thirds of a small file's `reimage validate` (see `docs/benchmarks.md`). The unit test
//! `schema_tables_are_the_compiled_schemas` compiles the JSON again and compares node by node, so
//! the tables cannot drift from the schema they were made from.
//!
//! The tables hold no pointers: a node is a [`Record`] of numbers, its lists are ranges of shared
//! lists and its strings ranges of one text. A pointer in static data is a relocation that the
//! dynamic loader applies to every process at start, writing (and so copying) each page it is in,
//! whether the process validates anything or not: the node arrays with pointers were 169 of the
//! 370 pages a `reimage validate` process faulted in. Without them, only the pages of the nodes a
//! validation reads are touched. A node becomes a [`SchemaNode`] the first time it is asked for,
//! and stays one for the rest of the process.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use super::compile::{
    Compiled, Deprecation, Extra, Format, Id, Items, Nodes, Pattern, SchemaNode, Types,
};
use super::python::{Literal, Number};

/// A string of a table: the byte range `start..end` of its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Str(u32, u32);

/// A list of a table: `len` members of a shared list from `start`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span(u32, u32);

/// An empty list.
const NONE: Span = Span(0, 0);

/// A literal of an `enum`, as [`Literal`] with its string in the text.
#[derive(Debug, Clone, Copy)]
#[allow(
    dead_code,
    reason = "the schemas of today have no null or number among their literals; a new one may"
)]
pub(super) enum Lit {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Str),
}

/// `items`, as [`Items`] with a tuple's schemas in the shared list of ids.
#[derive(Debug, Clone, Copy)]
#[allow(
    dead_code,
    reason = "the schemas of today have no tuple `items`; a new one may"
)]
pub(super) enum ItemsRecord {
    None,
    Each(Id),
    Tuple(Span),
}

/// A deprecation, as [`Deprecation`] with its strings in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeprecationRecord {
    version: Option<Str>,
    replacement: Option<Str>,
}

/// One node of the tables: [`SchemaNode`] with numbers where it has lists and strings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    never: bool,
    reference: Option<Id>,
    types: Option<Types>,
    /// In the table's literals.
    enumeration: Option<Span>,
    /// In the table's members.
    properties: Span,
    /// In the table's members.
    pattern_properties: Span,
    additional_properties: Extra,
    items: ItemsRecord,
    additional_items: Extra,
    /// In the table's ids, as are `any_of` and `one_of`.
    all_of: Span,
    any_of: Span,
    one_of: Span,
    not: Option<Id>,
    /// In the table's strings.
    required: Span,
    min_items: Option<u64>,
    max_items: Option<u64>,
    min_properties: Option<u64>,
    unique_items: bool,
    minimum: Option<Number>,
    pattern: Option<Str>,
    format: Option<Format>,
    deprecated: Option<DeprecationRecord>,
    changed: Option<DeprecationRecord>,
}

/// A record with every keyword absent: what the generated records start from.
const EMPTY: Record = Record {
    never: false,
    reference: None,
    types: None,
    enumeration: None,
    properties: NONE,
    pattern_properties: NONE,
    additional_properties: Extra::Allowed,
    items: ItemsRecord::None,
    additional_items: Extra::Allowed,
    all_of: NONE,
    any_of: NONE,
    one_of: NONE,
    not: None,
    required: NONE,
    min_items: None,
    max_items: None,
    min_properties: None,
    unique_items: false,
    minimum: None,
    pattern: None,
    format: None,
    deprecated: None,
    changed: None,
};

/// The generated tables of one schema, and the nodes read from them so far.
pub(super) struct Table {
    text: &'static str,
    records: &'static [Record],
    ids: &'static [Id],
    /// `properties` and `patternProperties`: a name or pattern and its schema.
    members: &'static [(Str, Id)],
    strs: &'static [Str],
    literals: &'static [Lit],
    /// One slot per record, filled the first time its node is asked for.
    nodes: &'static [OnceLock<Box<SchemaNode>>],
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("records", &self.records.len())
            .field("text", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// The node `id`, read from its record the first time.
    pub(super) fn node(&self, id: Id) -> &SchemaNode {
        self.nodes[id].get_or_init(|| Box::new(self.read(&self.records[id])))
    }

    /// How many nodes the table has.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    fn text(&self, s: Str) -> &'static str {
        &self.text[s.0 as usize..s.1 as usize]
    }

    fn span<T>(list: &'static [T], span: Span) -> &'static [T] {
        let start = span.0 as usize;
        &list[start..start + span.1 as usize]
    }

    /// A list of a record as a node's list: an empty one borrowed, so that most lists cost
    /// nothing to read.
    fn list<T: Copy, U: Clone>(
        list: &'static [T],
        span: Span,
        each: impl Fn(T) -> U,
    ) -> Cow<'static, [U]> {
        if span.1 == 0 {
            return Cow::Borrowed(&[]);
        }
        Cow::Owned(Table::span(list, span).iter().map(|t| each(*t)).collect())
    }

    fn read(&self, r: &Record) -> SchemaNode {
        let ids = |span: Span| Cow::Borrowed(Table::span(self.ids, span));
        SchemaNode {
            never: r.never,
            reference: r.reference,
            types: r.types,
            enumeration: r
                .enumeration
                .map(|span| Table::list(self.literals, span, |lit| self.literal(lit))),
            properties: Table::list(self.members, r.properties, |(name, id)| {
                (Cow::Borrowed(self.text(name)), id)
            }),
            pattern_properties: Table::list(self.members, r.pattern_properties, |(source, id)| {
                (Pattern::fixed(self.text(source)), id)
            }),
            additional_properties: r.additional_properties,
            items: match r.items {
                ItemsRecord::None => Items::None,
                ItemsRecord::Each(id) => Items::Each(id),
                ItemsRecord::Tuple(span) => Items::Tuple(ids(span)),
            },
            additional_items: r.additional_items,
            all_of: ids(r.all_of),
            any_of: ids(r.any_of),
            one_of: ids(r.one_of),
            not: r.not,
            required: Table::list(self.strs, r.required, |s| Cow::Borrowed(self.text(s))),
            min_items: r.min_items,
            max_items: r.max_items,
            min_properties: r.min_properties,
            unique_items: r.unique_items,
            minimum: r.minimum,
            pattern: r.pattern.map(|s| Pattern::fixed(self.text(s))),
            format: r.format,
            deprecated: r.deprecated.map(|d| self.deprecation(d)),
            changed: r.changed.map(|d| self.deprecation(d)),
        }
    }

    fn literal(&self, lit: Lit) -> Literal {
        match lit {
            Lit::Null => Literal::Null,
            Lit::Bool(b) => Literal::Bool(b),
            Lit::Int(i) => Literal::Int(i),
            Lit::Float(f) => Literal::Float(f),
            Lit::Str(s) => Literal::Str(Cow::Borrowed(self.text(s))),
        }
    }

    fn deprecation(&self, d: DeprecationRecord) -> Deprecation {
        Deprecation {
            version: d.version.map(|s| Cow::Borrowed(self.text(s))),
            replacement: d.replacement.map(|s| Cow::Borrowed(self.text(s))),
        }
    }
}

/// The statics of one generated file as a [`Table`].
macro_rules! table {
    ($version:ident) => {
        Table {
            text: $version::TEXT,
            records: &$version::RECORDS,
            ids: &$version::IDS,
            members: &$version::MEMBERS,
            strs: &$version::STRS,
            literals: &$version::LITERALS,
            nodes: &$version::NODES,
        }
    };
}

/// cloud-init 22.4's schema.
mod v22_4 {
    use super::*;
    include!("../../schemas/tables-22.4.rs");
    pub(super) static NODES: [OnceLock<Box<SchemaNode>>; COUNT] =
        [const { OnceLock::new() }; COUNT];
}

/// cloud-init 26.2's schema.
mod v26_2 {
    use super::*;
    include!("../../schemas/tables-26.2.rs");
    pub(super) static NODES: [OnceLock<Box<SchemaNode>>; COUNT] =
        [const { OnceLock::new() }; COUNT];
}

static TABLE_22_4: Table = table!(v22_4);
static TABLE_26_2: Table = table!(v26_2);

/// cloud-init 22.4's compiled schema.
pub(super) static V22_4: Compiled = Compiled {
    nodes: Nodes::Table(&TABLE_22_4),
    root: v22_4::ROOT,
};

/// cloud-init 26.2's compiled schema.
pub(super) static V26_2: Compiled = Compiled {
    nodes: Nodes::Table(&TABLE_26_2),
    root: v26_2::ROOT,
};

/// What [`emit`] writes, gathered: strings once each in one text, lists in shared lists.
#[derive(Default)]
struct Writer {
    text: String,
    strings: HashMap<String, (u32, u32)>,
    ids: Vec<Id>,
    members: Vec<String>,
    strs: Vec<String>,
    literals: Vec<String>,
}

impl Writer {
    /// A string of the text, as source.
    fn str(&mut self, s: &str) -> String {
        let (start, end) = match self.strings.get(s) {
            Some(range) => *range,
            None => {
                let start = offset(self.text.len());
                self.text.push_str(s);
                let range = (start, offset(self.text.len()));
                self.strings.insert(s.to_owned(), range);
                range
            }
        };
        format!("Str({start}, {end})")
    }

    fn ids(&mut self, ids: &[Id]) -> String {
        if ids.is_empty() {
            return "NONE".into();
        }
        let start = offset(self.ids.len());
        self.ids.extend_from_slice(ids);
        format!("Span({start}, {})", ids.len())
    }

    fn members<'a>(&mut self, members: impl ExactSizeIterator<Item = (&'a str, Id)>) -> String {
        if members.len() == 0 {
            return "NONE".into();
        }
        let start = offset(self.members.len());
        let len = members.len();
        for (name, id) in members {
            let name = self.str(name);
            self.members.push(format!("({name}, {id})"));
        }
        format!("Span({start}, {len})")
    }

    fn strs(&mut self, strs: &[Cow<'static, str>]) -> String {
        if strs.is_empty() {
            return "NONE".into();
        }
        let start = offset(self.strs.len());
        for s in strs {
            let s = self.str(s);
            self.strs.push(s);
        }
        format!("Span({start}, {})", strs.len())
    }

    fn literals(&mut self, literals: &[Literal]) -> String {
        let start = offset(self.literals.len());
        for literal in literals {
            let source = match literal {
                Literal::Null => "Lit::Null".into(),
                Literal::Bool(b) => format!("Lit::Bool({b})"),
                Literal::Int(i) => format!("Lit::Int({i})"),
                Literal::Float(f) => format!("Lit::Float({f:?})"),
                Literal::Str(s) => format!("Lit::Str({})", self.str(s)),
            };
            self.literals.push(source);
        }
        format!("Span({start}, {})", literals.len())
    }

    fn option_str(&mut self, s: Option<&Cow<'static, str>>) -> String {
        s.map_or_else(|| "None".into(), |s| format!("Some({})", self.str(s)))
    }

    fn deprecation(&mut self, deprecation: &Deprecation) -> String {
        let version = self.option_str(deprecation.version.as_ref());
        let replacement = self.option_str(deprecation.replacement.as_ref());
        format!("DeprecationRecord {{ version: {version}, replacement: {replacement} }}")
    }

    /// One node as a record expression that names only its keywords that are present.
    fn record(&mut self, node: &SchemaNode) -> String {
        let mut fields: Vec<String> = Vec::new();
        let mut field = |name: &str, value: String| fields.push(format!("{name}: {value}"));
        if node.never {
            field("never", "true".into());
        }
        if let Some(id) = node.reference {
            field("reference", format!("Some({id})"));
        }
        if let Some(types) = node.types {
            field("types", format!("Some(Types::from_bits({}))", types.bits()));
        }
        if let Some(members) = &node.enumeration {
            field("enumeration", format!("Some({})", self.literals(members)));
        }
        if !node.properties.is_empty() {
            let members = node.properties.iter().map(|(name, id)| (&**name, *id));
            field("properties", self.members(members));
        }
        if !node.pattern_properties.is_empty() {
            let members = node
                .pattern_properties
                .iter()
                .map(|(pattern, id)| (&*pattern.source, *id));
            field("pattern_properties", self.members(members));
        }
        if node.additional_properties != Extra::Allowed {
            field("additional_properties", extra(node.additional_properties));
        }
        match &node.items {
            Items::None => {}
            Items::Each(id) => field("items", format!("ItemsRecord::Each({id})")),
            Items::Tuple(ids) => field("items", format!("ItemsRecord::Tuple({})", self.ids(ids))),
        }
        if node.additional_items != Extra::Allowed {
            field("additional_items", extra(node.additional_items));
        }
        for (name, ids) in [
            ("all_of", &node.all_of),
            ("any_of", &node.any_of),
            ("one_of", &node.one_of),
        ] {
            if !ids.is_empty() {
                field(name, self.ids(ids));
            }
        }
        if let Some(id) = node.not {
            field("not", format!("Some({id})"));
        }
        if !node.required.is_empty() {
            field("required", self.strs(&node.required));
        }
        for (name, value) in [
            ("min_items", node.min_items),
            ("max_items", node.max_items),
            ("min_properties", node.min_properties),
        ] {
            if let Some(value) = value {
                field(name, format!("Some({value})"));
            }
        }
        if node.unique_items {
            field("unique_items", "true".into());
        }
        if let Some(minimum) = node.minimum {
            field("minimum", format!("Some({})", number(minimum)));
        }
        if let Some(pattern) = &node.pattern {
            field("pattern", format!("Some({})", self.str(&pattern.source)));
        }
        if let Some(Format::Date) = node.format {
            field("format", "Some(Format::Date)".into());
        }
        if let Some(deprecation) = &node.deprecated {
            field(
                "deprecated",
                format!("Some({})", self.deprecation(deprecation)),
            );
        }
        if let Some(change) = &node.changed {
            field("changed", format!("Some({})", self.deprecation(change)));
        }
        if fields.is_empty() {
            "EMPTY".into()
        } else {
            format!("Record {{ {}, ..EMPTY }}", fields.join(", "))
        }
    }
}

/// A position in a table, which is far smaller than 4 GiB.
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The Rust source of the tables for a compiled schema made from the file `source`.
pub(super) fn emit(compiled: &Compiled, source: &str) -> String {
    let mut writer = Writer::default();
    let records: Vec<String> = (0..compiled.len())
        .map(|id| writer.record(compiled.node(id)))
        .collect();
    let mut out = String::with_capacity(records.len() * 96 + writer.text.len());
    let _ = writeln!(
        out,
        "// generated by cargo xtask codegen from crates/cloudinit/schemas/{source}; do not edit.\n\
         // cloud-init's schema (Apache-2.0): see crates/cloudinit/schemas/NOTICE.\n"
    );
    let _ = writeln!(out, "pub(super) const ROOT: Id = {};", compiled.root);
    let _ = writeln!(out, "pub(super) const COUNT: usize = {};\n", records.len());
    let _ = writeln!(out, "pub(super) static RECORDS: [Record; COUNT] = [");
    for record in &records {
        let _ = writeln!(out, "    {record},");
    }
    out.push_str("];\n\n");
    let list = |out: &mut String, name: &str, ty: &str, items: &[String]| {
        let _ = writeln!(out, "pub(super) static {name}: [{ty}; {}] = [", items.len());
        for chunk in items.chunks(8) {
            let _ = writeln!(out, "    {},", chunk.join(", "));
        }
        out.push_str("];\n\n");
    };
    let ids: Vec<String> = writer.ids.iter().map(Id::to_string).collect();
    list(&mut out, "IDS", "Id", &ids);
    list(&mut out, "MEMBERS", "(Str, Id)", &writer.members);
    list(&mut out, "STRS", "Str", &writer.strs);
    list(&mut out, "LITERALS", "Lit", &writer.literals);
    let _ = writeln!(out, "pub(super) static TEXT: &str = {:?};", writer.text);
    out
}

fn extra(extra: Extra) -> String {
    match extra {
        Extra::Allowed => "Extra::Allowed".into(),
        Extra::Forbidden => "Extra::Forbidden".into(),
        Extra::Schema(id) => format!("Extra::Schema({id})"),
    }
}

fn number(number: Number) -> String {
    match number {
        Number::Int(i) => format!("Number::Int({i})"),
        Number::Float(f) => format!("Number::Float({f:?})"),
    }
}
