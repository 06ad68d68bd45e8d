//! YAML errors located as PyYAML locates them, and saphyr's errors translated to PyYAML's.
//!
//! PyYAML's errors carry a *problem* mark and often a *context* mark (the start of the flow
//! sequence, quoted scalar or key that the problem is in). cloud-init 22.4.2 reports the context
//! mark when there is one, and the problem mark otherwise (`schema.py`, `format-l<l>.c<c>`), so
//! [`YamlError::mark`](super::YamlError) is the context mark when there is one.

use super::YamlError;
use super::compose::{Failure, Open, OpenKind, py_repr};
use super::text::Text;

/// An error as PyYAML would raise it: where the problem is, and the context it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyError {
    /// Where the problem is, as a character index of the original text.
    pub(crate) at: usize,
    problem: String,
    /// Where the context starts, and a phrase that ends in "starts" or "is".
    context: Option<(usize, String)>,
    /// Raised by PyYAML's parser rather than its scanner: the scanner has read on to the end of
    /// the line by then, so scanner errors later on the line come first.
    pub(crate) parser: bool,
}

impl PyError {
    /// An error without context: reported where the problem is.
    pub(crate) fn new(at: usize, problem: &str) -> Self {
        Self {
            at,
            problem: problem.to_owned(),
            context: None,
            parser: false,
        }
    }

    /// An error in a context: reported where the context starts. `phrase` follows the
    /// problem's position and precedes the context's (`, in the flow sequence that starts`).
    pub(crate) fn with_context(at: usize, problem: &str, context_at: usize, phrase: &str) -> Self {
        Self {
            at,
            problem: problem.to_owned(),
            context: Some((context_at, phrase.to_owned())),
            parser: false,
        }
    }

    /// Marks the error as raised by the parser.
    pub(crate) fn by_parser(mut self) -> Self {
        self.parser = true;
        self
    }

    /// Where the error sorts among others: parser errors after the scanner errors of their
    /// line.
    pub(crate) fn order(&self, text: &Text) -> usize {
        let scalar = text
            .get(self.at)
            .is_some_and(|c| !matches!(c, '[' | ']' | '{' | '}' | ',' | ':' | '-' | '?'));
        if self.parser && scalar {
            text.line_end(text.line_of(self.at))
        } else {
            self.at
        }
    }

    /// The error as reported: at the context mark if there is one.
    pub(crate) fn into_yaml_error(self, text: &Text) -> YamlError {
        match self.context {
            None => YamlError {
                message: self.problem,
                mark: text.mark(self.at),
            },
            Some((context_at, phrase)) => {
                let problem = text.mark(self.at);
                YamlError {
                    message: format!(
                        "{} at line {} column {}{phrase}",
                        self.problem, problem.line, problem.column
                    ),
                    mark: text.mark(context_at),
                }
            }
        }
    }
}

/// The innermost collection PyYAML's parser keeps a mark for: indentless sequences and the
/// single-pair mappings of flow sequences have none.
fn innermost(open: &[Open]) -> Option<&Open> {
    open.iter()
        .rev()
        .find(|open| !matches!(open.kind, OpenKind::IndentlessSeq | OpenKind::FlowPair))
}

fn found(text: &Text, at: usize) -> String {
    match text.get(at) {
        None => "'<stream end>'".to_owned(),
        Some(c @ ('-' | ':' | '?' | ',' | '[' | ']' | '{' | '}')) => py_repr(Some(c)),
        Some(_) => "'<scalar>'".to_owned(),
    }
}

/// Where the first token after the last event starts: the token saphyr failed on, or the
/// key it was still reading.
pub(crate) fn next_token(text: &Text, failure: &Failure) -> usize {
    let mut at = failure.last_end;
    while let Some(c) = text.get(at) {
        match c {
            ' ' | '\t' | '\n' | '\r' => at += 1,
            '#' => {
                while text.get(at).is_some_and(|c| c != '\n' && c != '\r') {
                    at += 1;
                }
            }
            _ => break,
        }
    }
    at.min(failure.at)
}

/// The first token after the last event that is not a `:`, `-` or `?` indicator: the node
/// saphyr was reading.
pub(crate) fn next_node(text: &Text, failure: &Failure) -> usize {
    let mut at = next_token(text, failure);
    while matches!(text.get(at), Some(':' | '-' | '?')) && is_blank(text.get(at + 1)) {
        at += 1;
        while text
            .get(at)
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            at += 1;
        }
    }
    at.min(failure.at)
}

/// Whether `at` is the first thing on its line.
fn starts_line(text: &Text, at: usize) -> bool {
    text.slice(text.line_start(text.line_of(at)), at)
        .iter()
        .all(|&c| c == ' ' || c == '\t')
}

fn is_blank(c: Option<char>) -> bool {
    c.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// The last character before `at` that is not blank and not in a comment.
fn previous_token_char(text: &Text, at: usize) -> Option<usize> {
    let mut line = text.line_of(at);
    let mut end = at;
    loop {
        let start = text.line_start(line);
        // Cut the line at a comment (a `#` at its start or after a blank).
        let cut = (start..end)
            .find(|&i| {
                text.get(i) == Some('#')
                    && (i == start
                        || is_blank(text.get(i - 1))
                        || matches!(text.get(i - 1), Some('[' | ']' | '{' | '}' | ',')))
            })
            .unwrap_or(end);
        if let Some(last) = (start..cut).rev().find(|&i| !is_blank(text.get(i))) {
            return Some(last);
        }
        if line == 0 {
            return None;
        }
        line -= 1;
        end = text.line_end(line);
    }
}

/// The parser error PyYAML raises at `token`: it first closes the block collections indented
/// deeper than a token that starts a line, then fails in the innermost one left, or on the
/// node a `:` or `-` before the token asked for.
fn in_collection(text: &Text, failure: &Failure, token: usize) -> PyError {
    let mut open = failure.open.clone();
    let mut closed = false;
    if !open.iter().any(|o| o.kind.is_flow()) && starts_line(text, token) {
        let column = text.column(token);
        while let Some(last) = open.last() {
            let deeper = text.column(last.token) > column;
            let close = match last.kind {
                OpenKind::BlockMap | OpenKind::BlockSeq => deeper,
                OpenKind::IndentlessSeq => deeper || text.get(token) != Some('-'),
                _ => false,
            };
            if !close {
                break;
            }
            open.pop();
            closed = true;
        }
    }
    let Some(inner) = innermost(&open) else {
        return PyError::new(
            token,
            &format!(
                "expected '<document start>', but found {}",
                found(text, token)
            ),
        )
        .by_parser();
    };
    // After a `:` or `-`, PyYAML parses a node unless the next token closes the collection.
    let indicator = previous_token_char(text, token)
        .filter(|&i| matches!(text.get(i), Some(':' | '-')) && is_blank(text.get(i + 1)));
    let dedented = starts_line(text, token) && text.column(token) < text.column(inner.token);
    if indicator.is_some()
        && !closed
        && !dedented
        && !inner.kind.is_flow()
        && matches!(text.get(token), Some(']' | '}' | ','))
    {
        return PyError::new(
            token,
            &format!(
                "expected the node content, but found {}",
                found(text, token)
            ),
        )
        .by_parser();
    }
    let (problem, phrase) = match inner.kind {
        OpenKind::FlowSeq => ("expected ',' or ']'", ", in the flow sequence that starts"),
        OpenKind::FlowMap | OpenKind::FlowPair => {
            ("expected ',' or '}'", ", in the flow mapping that starts")
        }
        OpenKind::BlockMap => ("expected <block end>", ", in the block mapping that starts"),
        OpenKind::BlockSeq | OpenKind::IndentlessSeq => (
            "expected <block end>",
            ", in the block sequence that starts",
        ),
    };
    PyError::with_context(
        token,
        &format!("{problem}, but found {}", found(text, token)),
        inner.token,
        phrase,
    )
    .by_parser()
}

/// The required simple key PyYAML gave up on: the first token after `from` that is the first
/// thing on its line (a quoted scalar counts once, where it starts).
fn stale_key(text: &Text, from: usize, to: usize) -> Option<usize> {
    let mut at = from;
    while at < to {
        let c = text.get(at);
        if is_blank(c) {
            at += 1;
            continue;
        }
        if c == Some('#') && (at == 0 || is_blank(text.get(at - 1))) {
            at = text.line_end(text.line_of(at));
            continue;
        }
        let first = starts_line(text, at);
        if matches!(c, Some('"' | '\'')) {
            if first {
                return Some(at);
            }
            match text.closing_quote(at) {
                Some(close) => at = close + 1,
                None => return None,
            }
            continue;
        }
        if matches!(c, Some('-' | '?' | ':')) && is_blank(text.get(at + 1)) {
            at += 1;
            continue;
        }
        if first {
            return Some(at);
        }
        while at < to && !is_blank(text.get(at)) {
            at += 1;
        }
    }
    None
}

/// Steps back from `at` on its line to the last `wanted` character.
fn back_to(text: &Text, at: usize, wanted: &[char]) -> usize {
    let start = text.line_start(text.line_of(at));
    (start..=at.min(text.len()))
        .rev()
        .find(|&i| text.get(i).is_some_and(|c| wanted.contains(&c)))
        .unwrap_or(at)
}

/// The flow collections opened between `from` and `to` and not closed: saphyr reads ahead, so
/// it may fail before it reports the start of the collection the error is in.
pub(crate) fn unreported_flows(text: &Text, from: usize, to: usize) -> Vec<Open> {
    let mut open = Vec::new();
    let mut token_start = true;
    let mut at = from;
    while at < to {
        let Some(c) = text.get(at) else { break };
        let blank_after = text
            .get(at + 1)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        match c {
            '#' if at == 0 || text.get(at - 1).is_some_and(|c| c == ' ' || c == '\t') => {
                while text.get(at).is_some_and(|c| c != '\n' && c != '\r') {
                    at += 1;
                }
                continue;
            }
            '"' | '\'' if token_start => match text.closing_quote(at) {
                Some(close) => {
                    at = close + 1;
                    token_start = false;
                    continue;
                }
                None => break,
            },
            '[' | '{' if token_start => {
                let kind = if c == '[' {
                    OpenKind::FlowSeq
                } else {
                    OpenKind::FlowMap
                };
                open.push(Open::unreported(kind, at));
            }
            ']' | '}' => {
                open.pop();
                token_start = false;
            }
            ',' | '\n' | '\r' => token_start = true,
            ':' | '-' | '?' if blank_after => token_start = true,
            ' ' | '\t' => {}
            _ => token_start = false,
        }
        at += 1;
    }
    open
}

/// A `|` or `>` that starts a token inside a flow collection, between `from` and `to`: PyYAML
/// cannot start any token with it there.
fn block_indicator_in_flow(text: &Text, from: usize, to: usize) -> Option<usize> {
    let mut token_start = true;
    let mut at = from;
    while at < to {
        let c = text.get(at)?;
        match c {
            '#' if at == 0 || is_blank(text.get(at - 1)) => {
                at = text.line_end(text.line_of(at));
                continue;
            }
            '"' | '\'' if token_start => {
                at = text.closing_quote(at)? + 1;
                token_start = false;
                continue;
            }
            '|' | '>' if token_start => return Some(at),
            '[' | '{' | ',' | '\n' | '\r' => token_start = true,
            ':' | '?' if is_blank(text.get(at + 1)) => token_start = true,
            ' ' | '\t' => {}
            '!' | '&' if token_start => {
                // A tag or an anchor: the token starts after it.
                while at < to && !is_blank(text.get(at)) {
                    at += 1;
                }
                continue;
            }
            _ => token_start = false,
        }
        at += 1;
    }
    None
}

/// saphyr's error, as PyYAML would raise it.
pub(crate) fn translate(text: &Text, failure: &Failure) -> PyError {
    let mut open = failure.open.clone();
    open.extend(unreported_flows(text, failure.last_end, failure.at));
    let failure = &Failure {
        open,
        ..failure.clone()
    };
    let info = failure.info.as_str();
    let at = failure.at;
    let starts = |prefix: &str| info.starts_with(prefix);
    let outer_flow = failure
        .open
        .iter()
        .find(|open| matches!(open.kind, OpenKind::FlowSeq | OpenKind::FlowMap));
    if let Some(flow) = outer_flow
        && let Some(bar) = block_indicator_in_flow(text, flow.token + 1, at)
    {
        return PyError::new(
            bar,
            &format!(
                "found character {} that cannot start any token",
                py_repr(text.get(bar))
            ),
        );
    }
    if starts("while parsing a flow sequence")
        || starts("while parsing a flow mapping")
        || starts("while parsing a block mapping")
        || starts("while parsing a block collection")
        || starts("misplaced bracket")
        || starts("did not find expected <document start>")
    {
        return in_collection(text, failure, at);
    }
    if starts("comment intercepting") {
        // PyYAML ends the plain scalar at the comment and fails on the next line's token.
        let mut next = at;
        while let Some(c) = text.get(next) {
            if c == '#' {
                next = text.line_end(text.line_of(next));
            } else if is_blank(Some(c)) {
                next += 1;
            } else {
                break;
            }
        }
        return in_collection(text, failure, next);
    }
    if starts("invalid trailing content") {
        if let Some(sigil @ ('*' | '&')) = text.get(at) {
            let name_ok = text
                .get(at + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !name_ok {
                let what = if sigil == '*' {
                    ", in the alias that starts"
                } else {
                    ", in the anchor that starts"
                };
                return PyError::with_context(
                    at + 1,
                    &format!(
                        "expected alphabetic or numeric character, but found {}",
                        py_repr(text.get(at + 1))
                    ),
                    at,
                    what,
                );
            }
        }
        if text.get(at) == Some(':') {
            // After a quoted scalar that is not a key, PyYAML allows no `:`.
            return PyError::new(at, "mapping values are not allowed here");
        }
        if let Some(c @ ('@' | '`' | '%')) = text.get(at) {
            return PyError::new(
                at,
                &format!(
                    "found character {} that cannot start any token",
                    py_repr(Some(c))
                ),
            );
        }
        return in_collection(text, failure, at);
    }
    if starts("while scanning a directive") {
        let percent = back_to(text, at, &['%']);
        return PyError::with_context(at, info, percent, ", in the directive that starts");
    }
    if starts("simple key expect") {
        let key = stale_key(text, next_token(text, failure), at)
            .unwrap_or_else(|| next_token(text, failure));
        return PyError::with_context(
            at,
            "could not find expected ':'",
            key,
            ", after the key that starts",
        );
    }
    if starts("mapping values are not allowed") || starts("illegal placement of ':'") {
        if starts("illegal placement") && innermost(&failure.open).is_some_and(|o| o.kind.is_flow())
        {
            return in_collection(text, failure, at);
        }
        return PyError::new(at, "mapping values are not allowed here");
    }
    if starts("block sequence entries are not allowed") {
        return PyError::new(at, "sequence entries are not allowed here");
    }
    if starts("mapping keys are not allowed") {
        return PyError::new(at, "mapping keys are not allowed here");
    }
    if starts("while scanning a quoted scalar, found unexpected end of stream")
        || starts("invalid indentation in quoted scalar")
    {
        return PyError::with_context(
            text.len(),
            "found unexpected end of stream",
            at,
            ", in the quoted scalar that starts",
        );
    }
    if starts("while scanning a quoted scalar") || starts("while parsing a quoted scalar") {
        let problem = info
            .split_once(", ")
            .map_or(info, |(_, problem)| problem)
            .replace("document indicator", "document separator");
        return PyError::with_context(at, &problem, at, ", in the quoted scalar that starts");
    }
    if starts("while scanning a block scalar") || starts("wrongly indented line in block scalar") {
        let indicator = back_to(text, at, &['|', '>']);
        let mut problem_at = at;
        let problem = if info.contains("indentation indicator equal to 0") {
            "expected indentation indicator in the range 1-9, but found 0".to_owned()
        } else if info.contains("did not find expected comment or line break") {
            let after = (indicator + 1..text.len())
                .find(|&i| !matches!(text.get(i), Some('+' | '-' | '1'..='9')))
                .unwrap_or(at);
            problem_at = after;
            if text.get(after) == Some(' ') {
                problem_at = (after..text.len())
                    .find(|&i| text.get(i) != Some(' '))
                    .unwrap_or(text.len());
                format!(
                    "expected a comment or a line break, but found {}",
                    py_repr(text.get(problem_at))
                )
            } else {
                format!(
                    "expected chomping or indentation indicators, but found {}",
                    py_repr(text.get(after))
                )
            }
        } else {
            info.strip_prefix("while scanning a block scalar, ")
                .unwrap_or(info)
                .to_owned()
        };
        return PyError::with_context(
            problem_at,
            &problem,
            indicator,
            ", in the block scalar that starts",
        );
    }
    if starts("duplicate version directive") {
        return PyError::new(at, "found duplicate YAML directive");
    }
    if starts("while scanning an anchor or alias") {
        let sigil = back_to(text, at, &['&', '*']);
        let what = if text.get(sigil) == Some('*') {
            ", in the alias that starts"
        } else {
            ", in the anchor that starts"
        };
        return PyError::with_context(
            at,
            &format!(
                "expected alphabetic or numeric character, but found {}",
                py_repr(text.get(at))
            ),
            sigil,
            what,
        );
    }
    if info.starts_with("\"-\" is only valid inside a block") {
        let after_entry = previous_token_char(text, at)
            .is_some_and(|i| matches!(text.get(i), Some('[' | '{' | ',' | ':' | '?')));
        if after_entry {
            return PyError::new(at, "expected the node content, but found '-'");
        }
        return in_collection(text, failure, at);
    }
    if starts("recursion limit exceeded") {
        return PyError::new(at, "flow collections nest deeper than 255 levels");
    }
    if starts("while parsing node, found unknown anchor") {
        let bad = (at + 1..text.len())
            .take_while(|&i| {
                !is_blank(text.get(i)) && !matches!(text.get(i), Some(',' | '[' | ']' | '{' | '}'))
            })
            .find(|&i| {
                !text
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        let name_end = bad.unwrap_or(at + 1);
        if bad.is_some()
            || !text
                .get(at + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            let problem = if bad == Some(at + 1) || bad.is_none() {
                at + 1
            } else {
                name_end
            };
            return PyError::with_context(
                problem,
                &format!(
                    "expected alphabetic or numeric character, but found {}",
                    py_repr(text.get(problem))
                ),
                at,
                ", in the alias that starts",
            );
        }
        let name: String = text
            .slice(at + 1, text.len())
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            .collect();
        let problem = format!("found undefined alias {}", super::compose::py_str(&name));
        return PyError::new(at, &problem);
    }
    if info.contains("tab") {
        let tab = (text.line_start(text.line_of(at))..text.len())
            .find(|&i| text.get(i) == Some('\t'))
            .unwrap_or(at);
        return PyError::new(tab, "found character '\\t' that cannot start any token");
    }
    if starts("unexpected character") {
        return PyError::new(
            at,
            &format!(
                "found character {} that cannot start any token",
                py_repr(text.get(at))
            ),
        );
    }
    if starts("the handle wasn't declared") {
        return PyError::new(at, "found undefined tag handle");
    }
    PyError::new(at, info)
}
