//! From saphyr's events to a graph of nodes, as PyYAML's composer builds it: an alias is the
//! anchored node itself, an anchor may be defined only once, and every node starts where PyYAML
//! says it starts (at its tag or anchor, at the `|` of a block scalar, after the `:` or `-` of
//! an empty value).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::errors::PyError;
use super::resolve::{self, Implicit};
use super::text::{Reindent, Text};

/// How deep collections may nest (after aliases are expanded, too). PyYAML itself fails with a
/// `RecursionError` a little under 500 levels.
pub(crate) const MAX_DEPTH: usize = 256;

/// An index into [`Graph::nodes`].
pub(crate) type Id = usize;

/// What a node holds.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A scalar's text, after escapes and folding.
    Scalar(String),
    /// A sequence's items.
    Seq(Vec<Id>),
    /// A mapping's pairs, in document order.
    Map(Vec<(Id, Id)>),
}

impl Kind {
    /// PyYAML's `node.id`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::Scalar(_) => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }
}

/// A node's tag, resolved as PyYAML's composer resolves it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeTag {
    /// A plain scalar (or one tagged `!`), typed by the implicit resolver.
    Implicit(Implicit),
    /// No tag: a string for a quoted or block scalar, a sequence or a mapping.
    Default,
    /// An explicit tag, in full (`tag:yaml.org,2002:int`, `!foo`).
    Explicit(String),
}

/// A node of the graph.
#[derive(Debug)]
pub(crate) struct RawNode {
    pub(crate) kind: Kind,
    pub(crate) tag: NodeTag,
    /// Where PyYAML's `start_mark` is, as a character index of the original text.
    pub(crate) start: usize,
}

/// The first document as a graph: aliased nodes are shared, not copied.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<RawNode>,
    pub(crate) root: Option<Id>,
}

/// The content of a scalar, for the tab check: tabs are content in quoted and block scalars,
/// and an error anywhere else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScalarSpan {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) tabs_allowed: bool,
    /// A block scalar's `|` or `>`: a tab on its header line is a header error.
    pub(crate) indicator: Option<usize>,
}

/// The kind of an open collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenKind {
    BlockMap,
    BlockSeq,
    /// A block sequence at the same column as the keys of its mapping (`key:\n- item`).
    IndentlessSeq,
    FlowSeq,
    FlowMap,
    /// A single-pair mapping inside a flow sequence (`[a: 1]`).
    FlowPair,
}

impl Open {
    /// A flow collection saphyr had read the `[` or `{` of, but not yet reported.
    pub(crate) fn unreported(kind: OpenKind, token: usize) -> Self {
        Self {
            id: usize::MAX,
            kind,
            token,
            pending_key: None,
        }
    }
}

impl OpenKind {
    pub(crate) fn is_flow(self) -> bool {
        matches!(self, Self::FlowSeq | Self::FlowMap | Self::FlowPair)
    }

    fn is_map(self) -> bool {
        matches!(self, Self::BlockMap | Self::FlowMap | Self::FlowPair)
    }
}

/// A collection that is still open.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub(crate) id: Id,
    pub(crate) kind: OpenKind,
    /// Where its first token is (`[`, `{`, `-`, or its first key), original index.
    pub(crate) token: usize,
    pending_key: Option<Id>,
}

/// saphyr stopped with an error.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// saphyr's message.
    pub(crate) info: String,
    /// Where saphyr put it, as an original index.
    pub(crate) at: usize,
    /// The collections open at that point, outermost first.
    pub(crate) open: Vec<Open>,
    /// The end of the last event before the error, as an original index.
    pub(crate) last_end: usize,
}

/// What one pass over saphyr's events found.
#[derive(Debug, Default)]
pub(crate) struct Composed {
    pub(crate) graph: Graph,
    pub(crate) scalars: Vec<ScalarSpan>,
    /// Errors PyYAML raises and saphyr does not (anchors, a second document).
    pub(crate) errors: Vec<PyError>,
    /// Where PyYAML ends a token that saphyr reads on: parse again with a space there.
    pub(crate) respace: Vec<usize>,
    /// Where the first document starts (directives come before), original index; the end of
    /// the text if there is none.
    pub(crate) body_start: usize,
    /// How far PyYAML reads: the end of the text, or the start of a second document.
    pub(crate) end: usize,
    pub(crate) failure: Option<Failure>,
}

/// Where a node sits in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Root,
    Key,
    Value,
    Item,
}

struct Composer<'t> {
    text: &'t Text,
    edits: &'t Reindent,
    out: Composed,
    stack: Vec<Open>,
    /// saphyr's anchor id → the anchored node.
    anchors: HashMap<usize, Id>,
    /// Anchor names → where the first anchored node starts.
    anchor_names: HashMap<String, usize>,
    /// The end of the last thing read, original index (empty scalars do not move it).
    prev_end: usize,
}

/// Reads the first document of `rendered` (the text as re-indented by `edits`).
pub(crate) fn compose(text: &Text, edits: &Reindent, rendered: &str) -> Composed {
    let mut composer = Composer {
        text,
        edits,
        out: Composed {
            end: text.len(),
            body_start: text.len(),
            ..Composed::default()
        },
        stack: Vec::new(),
        anchors: HashMap::new(),
        anchor_names: HashMap::new(),
        prev_end: 0,
    };
    composer.run(rendered);
    composer.out
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn ends_name(c: char) -> bool {
    is_blank(c) || matches!(c, ',' | '[' | ']' | '{' | '}')
}

fn full_tag(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

impl Composer<'_> {
    fn orig(&self, rendered_index: usize) -> usize {
        self.edits.to_original(self.text, rendered_index)
    }

    fn run(&mut self, rendered: &str) {
        let mut parser = Parser::new_from_str(rendered);
        let mut in_document = false;
        let mut documents = 0usize;
        loop {
            let (event, span) = match parser.next_event() {
                None => return,
                Some(Ok(next)) => next,
                Some(Err(error)) => {
                    self.fail(&error);
                    return;
                }
            };
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => return,
                Event::DocumentStart(explicit) => {
                    let at = self.orig(span.start.index());
                    if documents > 0 {
                        self.second_document(explicit, at);
                        return;
                    }
                    documents += 1;
                    in_document = true;
                    self.out.body_start = at;
                    // An implicit document's span is its first token: only comments and blank
                    // lines come before it.
                    self.prev_end = if explicit {
                        self.orig(span.end.index())
                    } else {
                        0
                    };
                }
                Event::DocumentEnd => in_document = false,
                _ if !in_document => {}
                Event::Alias(anchor) => self.alias(anchor, span),
                Event::Scalar(value, style, anchor, tag) => {
                    self.scalar(value.into_owned(), style, anchor, tag.as_deref(), span);
                }
                Event::SequenceStart(anchor, tag) => {
                    self.start_collection(false, anchor, tag.as_deref(), span);
                }
                Event::MappingStart(anchor, tag) => {
                    self.start_collection(true, anchor, tag.as_deref(), span);
                }
                Event::SequenceEnd | Event::MappingEnd => self.end_collection(span),
            }
            if self.out.failure.is_some() {
                return;
            }
        }
    }

    fn fail(&mut self, error: &ScanError) {
        let at = self.orig(error.marker().index());
        self.out.failure = Some(Failure {
            info: error.info().to_owned(),
            at,
            open: self.stack.clone(),
            last_end: self.prev_end,
        });
    }

    /// A second document: PyYAML's `get_single_node` refuses it.
    fn second_document(&mut self, explicit: bool, at: usize) {
        self.out.end = at;
        let error = if explicit {
            let root = self
                .out
                .graph
                .root
                .and_then(|id| self.out.graph.nodes.get(id))
                .map_or(at, |node| node.start);
            PyError::with_context(
                at,
                "expected a single document in the stream, but found another document",
                root,
                "; the first document starts",
            )
        } else {
            // After `...`, PyYAML wants `---` before more content.
            PyError::new(at, "expected '<document start>', but found more content")
        };
        self.out.errors.push(error);
    }

    fn slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Root,
            Some(open) if open.kind.is_map() => {
                if open.pending_key.is_none() {
                    Slot::Key
                } else {
                    Slot::Value
                }
            }
            Some(_) => Slot::Item,
        }
    }

    /// Skips blanks, line breaks and comments from `from`.
    fn skip_space(&self, mut at: usize) -> usize {
        while let Some(c) = self.text.get(at) {
            if is_blank(c) {
                at += 1;
            } else if c == '#' {
                while self.text.get(at).is_some_and(|c| c != '\n' && c != '\r') {
                    at += 1;
                }
            } else {
                break;
            }
        }
        at
    }

    /// Reads a node's properties (tag and anchor, in either order) from `at`. Returns where
    /// its content starts and where its anchor's `&` is.
    fn properties(&self, mut at: usize) -> (usize, Option<usize>) {
        let mut anchor = None;
        for _ in 0..2 {
            match self.text.get(at) {
                Some('!') => {
                    if self.text.get(at + 1) == Some('<') {
                        while self.text.get(at).is_some_and(|c| c != '>') {
                            at += 1;
                        }
                        at += 1;
                    } else {
                        while self.text.get(at).is_some_and(|c| !ends_name(c)) {
                            at += 1;
                        }
                    }
                }
                Some('&') => {
                    anchor = Some(at);
                    while self.text.get(at).is_some_and(|c| !ends_name(c)) {
                        at += 1;
                    }
                }
                _ => break,
            }
            at = self.skip_space(at);
        }
        (at.min(self.text.len()), anchor)
    }

    /// The name after an `&` or `*` at `at`, as PyYAML reads it. PyYAML's names are ASCII
    /// letters, digits, `-` and `_`; a name saphyr reads further is an error, or ends earlier
    /// (before a `:`, `?`, `%`, `@` or `` ` ``): then a space is inserted there.
    fn name(&mut self, at: usize, what: &str) -> Result<String, PyError> {
        let mut end = at + 1;
        while self.text.get(end).is_some_and(|c| !ends_name(c)) {
            end += 1;
        }
        let bad = (at + 1..end).find(|&i| {
            self.text
                .get(i)
                .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
        let name: String = self.text.slice(at + 1, bad.unwrap_or(end)).iter().collect();
        match bad {
            Some(i)
                if i > at + 1 && matches!(self.text.get(i), Some(':' | '?' | '%' | '@' | '`')) =>
            {
                self.out.respace.push(i);
                Ok(name)
            }
            None if end > at + 1 => Ok(name),
            _ => {
                let problem = bad.unwrap_or(end);
                Err(PyError::with_context(
                    problem,
                    &format!(
                        "expected alphabetic or numeric character, but found {}",
                        py_repr(self.text.get(problem))
                    ),
                    at,
                    &format!(", in the {what} that starts"),
                ))
            }
        }
    }

    fn register_anchor(&mut self, anchor: usize, amp: Option<usize>, id: Id, start: usize) {
        if anchor == 0 {
            return;
        }
        self.anchors.insert(anchor, id);
        let Some(amp) = amp else { return };
        let name = match self.name(amp, "anchor") {
            Ok(name) => name,
            Err(error) => {
                self.out.errors.push(error);
                return;
            }
        };
        match self.anchor_names.get(&name) {
            Some(&first) => self.out.errors.push(PyError::with_context(
                start,
                &format!("found duplicate anchor {}", py_str(&name)),
                first,
                "; its first occurrence is",
            )),
            None => {
                self.anchor_names.insert(name, start);
            }
        }
    }

    fn alias(&mut self, anchor: usize, span: Span) {
        let at = self.orig(span.start.index());
        let name = match self.name(at, "alias") {
            Ok(name) => name,
            Err(error) => {
                self.out.errors.push(error);
                String::new()
            }
        };
        self.prev_end = self.orig(span.end.index());
        let Some(&id) = self.anchors.get(&anchor) else {
            let problem = format!("found undefined alias {}", py_str(&name));
            self.out.errors.push(PyError::new(at, &problem));
            return;
        };
        if self.stack.iter().any(|open| open.id == id) {
            // PyYAML builds a recursive object; a tree cannot hold one.
            self.out.errors.push(PyError::new(
                at,
                "found a recursive alias (an alias inside the node it refers to)",
            ));
            return;
        }
        self.attach(id);
    }

    fn scalar(
        &mut self,
        mut value: String,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) {
        let slot = self.slot();
        let span_start = self.orig(span.start.index());
        let span_end = self.orig(span.end.index());
        let has_properties = anchor > 0 || tag.is_some();
        let (content, amp) = if has_properties {
            self.properties(span_start)
        } else {
            (span_start, None)
        };
        let empty = value.is_empty() && style == ScalarStyle::Plain;
        // saphyr's span of a quoted scalar runs on over the blanks after the closing quote.
        let span_end = match style {
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => self
                .text
                .closing_quote(content)
                .map_or(span_end, |close| close + 1),
            _ => span_end,
        };
        let indicator = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
            if has_properties {
                Some(content)
            } else {
                self.block_indicator()
            }
        } else {
            None
        };
        if let Some(indicator) = indicator {
            self.block_header(indicator);
            let body = if has_properties {
                self.skip_space(self.text.line_end(self.text.line_of(indicator)))
            } else {
                span_start
            };
            if !value.is_empty() && body < span_end && self.text.column(body) == 0 {
                // PyYAML indents block scalar content by at least one column: a line at
                // column 0 ends the (root) scalar and starts something else.
                let problem = "expected '<document start>', but found more content";
                self.out.errors.push(PyError::new(body, problem));
            }
            // saphyr ends a block scalar that runs to the end of a text without a final line
            // break with one; PyYAML does not.
            // (A last line of fewer blanks than the indentation is no line of the scalar.)
            let len = self.text.len();
            let final_break = matches!(self.text.get(len.wrapping_sub(1)), Some('\n' | '\r'));
            let last_line = self.text.line_start(self.text.line_of(len));
            let tail = self.text.slice(last_line, len);
            let short_tail = tail.iter().all(|&c| c == ' ') && tail.len() < self.text.column(body);
            if span_end >= len
                && !final_break
                && !short_tail
                && !value.trim_matches('\n').is_empty()
                && value.ends_with('\n')
            {
                value.pop();
            }
        }
        let start = if has_properties {
            span_start
        } else if empty {
            self.empty_start(slot)
        } else {
            indicator.unwrap_or(span_start)
        };
        if !empty {
            self.out.scalars.push(ScalarSpan {
                start: content,
                end: span_end,
                tabs_allowed: style != ScalarStyle::Plain,
                indicator,
            });
            self.prev_end = span_end.max(self.prev_end);
        } else if has_properties {
            self.prev_end = content.max(self.prev_end);
        }
        if style == ScalarStyle::Plain && !empty {
            if let Some(c @ ('@' | '`')) = self.text.get(content) {
                let problem = format!(
                    "found character {} that cannot start any token",
                    py_repr(Some(c))
                );
                self.out.errors.push(PyError::new(content, &problem));
            }
            self.plain_in_flow(content, span_end);
        }
        if slot == Slot::Key && !empty {
            self.multiline_flow_key(content, span_end);
        }
        if empty && !has_properties && slot == Slot::Key && self.text.get(start) == Some(':') {
            self.empty_key(start);
        }
        let tag = match tag.map(full_tag) {
            None if style == ScalarStyle::Plain => NodeTag::Implicit(resolve::implicit(&value)),
            None => NodeTag::Default,
            Some(tag) if tag == "!" => NodeTag::Implicit(resolve::implicit(&value)),
            Some(tag) => NodeTag::Explicit(tag),
        };
        let id = self.push_node(RawNode {
            kind: Kind::Scalar(value),
            tag,
            start,
        });
        self.register_anchor(anchor, amp, id, start);
        self.attach(id);
    }

    /// In a flow collection, PyYAML starts no plain scalar with `|` or `>`, and ends one at `?`
    /// (a key indicator there).
    fn plain_in_flow(&mut self, start: usize, end: usize) {
        let Some(flow) = self
            .stack
            .iter()
            .rev()
            .find(|open| matches!(open.kind, OpenKind::FlowSeq | OpenKind::FlowMap))
        else {
            return;
        };
        match self.text.get(start) {
            Some(c @ ('|' | '>')) => {
                let problem = format!(
                    "found character {} that cannot start any token",
                    py_repr(Some(c))
                );
                self.out.errors.push(PyError::new(start, &problem));
                return;
            }
            // Always a value indicator in a flow collection.
            Some(':') => {
                let problem = "expected the node content, but found ':'";
                self.out.errors.push(PyError::new(start, problem));
                return;
            }
            // Always a key indicator in a flow collection: `[?a]` is `[? a]`.
            Some('?') => {
                self.out.respace.push(start + 1);
                return;
            }
            _ => {}
        }
        let Some(question) = (start..end).find(|&at| self.text.get(at) == Some('?')) else {
            return;
        };
        let (problem, phrase) = if flow.kind == OpenKind::FlowSeq {
            (
                "expected ',' or ']', but got '?'",
                ", in the flow sequence that starts",
            )
        } else {
            (
                "expected ',' or '}', but got '?'",
                ", in the flow mapping that starts",
            )
        };
        let error = PyError::with_context(question, problem, flow.token, phrase).by_parser();
        self.out.errors.push(error);
    }

    /// PyYAML's keys fit on one line: in a flow collection, a key that does not is dropped,
    /// and its `:` is then unexpected.
    fn multiline_flow_key(&mut self, start: usize, end: usize) {
        let Some(open) = self.stack.last() else {
            return;
        };
        let flow = match open.kind {
            OpenKind::FlowMap => open.token,
            OpenKind::FlowPair => match self.stack.iter().rev().nth(1) {
                Some(parent) => parent.token,
                None => return,
            },
            _ => return,
        };
        if self.text.line_of(start) == self.text.line_of(end.saturating_sub(1)) {
            return;
        }
        let colon = self.skip_space(end);
        if self.text.get(colon) != Some(':') {
            return;
        }
        let (problem, phrase) = if open.kind == OpenKind::FlowPair {
            (
                "expected ',' or ']', but got ':'",
                ", in the flow sequence that starts",
            )
        } else {
            (
                "expected ',' or '}', but got ':'",
                ", in the flow mapping that starts",
            )
        };
        self.out
            .errors
            .push(PyError::with_context(colon, problem, flow, phrase).by_parser());
    }

    /// A `:` with no key before it (and no `?`): YAML 1.2 reads an empty key, PyYAML's parser
    /// fails on the `:`.
    fn empty_key(&mut self, colon: usize) {
        let error = match self.stack.last() {
            Some(open) if open.kind == OpenKind::BlockMap => PyError::with_context(
                colon,
                "expected <block end>, but found ':'",
                open.token,
                ", in the block mapping that starts",
            ),
            _ => PyError::new(colon, "expected the node content, but found ':'"),
        }
        .by_parser();
        self.out.errors.push(error);
    }

    /// PyYAML's block scalar header: `|` or `>`, a chomping and an indentation indicator in
    /// either order, then a blank or a line break.
    fn block_header(&mut self, indicator: usize) {
        let mut at = indicator + 1;
        let mut chomping = false;
        let mut increment = false;
        for _ in 0..2 {
            match self.text.get(at) {
                Some('+' | '-') if !chomping => chomping = true,
                Some('1'..='9') if !increment => increment = true,
                _ => break,
            }
            at += 1;
        }
        if let Some(c) = self
            .text
            .get(at)
            .filter(|&c| !matches!(c, ' ' | '\n' | '\r'))
        {
            let problem = format!(
                "expected chomping or indentation indicators, but found {}",
                py_repr(Some(c))
            );
            let error =
                PyError::with_context(at, &problem, indicator, ", in the block scalar that starts");
            self.out.errors.push(error);
        }
    }

    /// PyYAML puts an empty value after the `:`, `-` or `?` that introduces it, and an empty
    /// key (or an empty value without a `:`) where the next token starts.
    fn empty_start(&self, slot: Slot) -> usize {
        let mut at = self.skip_space(self.prev_end);
        let in_flow = self.stack.last().is_some_and(|open| open.kind.is_flow());
        if in_flow && slot == Slot::Key && self.text.get(at) == Some(',') {
            at = self.skip_space(at + 1);
        }
        let introducer = match slot {
            Slot::Value => ':',
            Slot::Key => '?',
            Slot::Item => '-',
            Slot::Root => return at,
        };
        if self.text.get(at) == Some(introducer) {
            at + 1
        } else {
            at
        }
    }

    /// saphyr starts a block scalar at its content; PyYAML at its `|` or `>`.
    fn block_indicator(&self) -> Option<usize> {
        let mut at = self.prev_end;
        loop {
            at = self.skip_space(at);
            match self.text.get(at)? {
                '|' | '>' => return Some(at),
                '-' | ':' | '?' if self.text.get(at + 1).is_none_or(is_blank) => at += 1,
                _ => return None,
            }
        }
    }

    fn push_node(&mut self, node: RawNode) -> Id {
        self.out.graph.nodes.push(node);
        self.out.graph.nodes.len() - 1
    }

    fn attach(&mut self, id: Id) {
        match self.stack.last_mut() {
            None => {
                if self.out.graph.root.is_none() {
                    self.out.graph.root = Some(id);
                }
            }
            Some(open) => {
                let Some(parent) = self.out.graph.nodes.get_mut(open.id) else {
                    return;
                };
                match &mut parent.kind {
                    Kind::Seq(items) => items.push(id),
                    Kind::Map(pairs) => match open.pending_key.take() {
                        None => open.pending_key = Some(id),
                        Some(key) => pairs.push((key, id)),
                    },
                    Kind::Scalar(_) => {}
                }
            }
        }
    }

    fn start_collection(&mut self, map: bool, anchor: usize, tag: Option<&Tag>, span: Span) {
        let span_start = self.orig(span.start.index());
        let has_properties = anchor > 0 || tag.is_some();
        let (mut token, amp) = if has_properties {
            self.properties(span_start)
        } else {
            (span_start, None)
        };
        // saphyr starts a sequence whose `-` is at its mapping's column after the `- `.
        if !map && !matches!(self.text.get(token), Some('[' | '-')) {
            let line_start = self.text.line_start(self.text.line_of(token));
            let dash = (line_start..token)
                .rev()
                .find(|&i| !matches!(self.text.get(i), Some(' ' | '\t')));
            if let Some(dash) = dash.filter(|&i| self.text.get(i) == Some('-')) {
                token = dash;
            }
        }
        let span_start = if has_properties { span_start } else { token };
        let parent = self.stack.last().map(|open| (open.kind, open.token));
        let first = self.text.get(token);
        let kind = match (map, first) {
            (true, Some('{')) => OpenKind::FlowMap,
            (false, Some('[')) => OpenKind::FlowSeq,
            (true, _) if parent.is_some_and(|(kind, _)| kind == OpenKind::FlowSeq) => {
                OpenKind::FlowPair
            }
            (true, _) => OpenKind::BlockMap,
            (false, _) => match parent {
                Some((OpenKind::BlockMap, parent_token))
                    if self.text.column(parent_token) == self.text.column(token) =>
                {
                    OpenKind::IndentlessSeq
                }
                _ => OpenKind::BlockSeq,
            },
        };
        self.prev_end = if kind.is_flow() && kind != OpenKind::FlowPair {
            token + 1
        } else {
            token
        };
        let tag = match tag.map(full_tag) {
            None => NodeTag::Default,
            Some(tag) if tag == "!" => NodeTag::Default,
            Some(tag) => NodeTag::Explicit(tag),
        };
        let id = self.push_node(RawNode {
            kind: if map {
                Kind::Map(Vec::new())
            } else {
                Kind::Seq(Vec::new())
            },
            tag,
            start: span_start,
        });
        self.register_anchor(anchor, amp, id, span_start);
        if self.stack.len() >= MAX_DEPTH {
            // Stop here: the error reads as saphyr's own, and nothing after it is looked at.
            self.out.failure = Some(Failure {
                info: format!("collections nest deeper than {MAX_DEPTH} levels"),
                at: span_start,
                open: Vec::new(),
                last_end: span_start,
            });
            return;
        }
        self.stack.push(Open {
            id,
            kind,
            token,
            pending_key: None,
        });
    }

    fn end_collection(&mut self, span: Span) {
        let Some(open) = self.stack.pop() else { return };
        if matches!(open.kind, OpenKind::FlowSeq | OpenKind::FlowMap) {
            self.prev_end = self.orig(span.end.index()).max(self.prev_end);
        }
        self.attach(open.id);
    }
}

/// Python's `repr()` of a one-character string, or `'\0'` at the end of the stream as PyYAML
/// shows it.
pub(crate) fn py_repr(c: Option<char>) -> String {
    match c {
        None => "'\\x00'".to_owned(),
        Some(c) => py_str(&c.to_string()),
    }
}

/// Python's `repr()` of a short string (enough for messages).
pub(crate) fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
