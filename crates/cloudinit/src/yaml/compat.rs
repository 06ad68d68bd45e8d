//! What PyYAML refuses and saphyr accepts: characters PyYAML's reader will not read, tabs
//! outside quoted and block scalars and comments, and a `%YAML` directive other than 1.x.

use super::YamlError;
use super::compose::ScalarSpan;
use super::errors::PyError;
use super::text::Text;

/// PyYAML's `Reader.NON_PRINTABLE`, inverted.
fn printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// PyYAML's reader refuses the whole stream before scanning it if it holds a control
/// character. Its `ReaderError` has no mark, so cloud-init reports line 1, column 1.
pub(crate) fn check_printable(text: &Text) -> Result<(), YamlError> {
    let Some(index) = (0..text.len()).find(|&i| text.get(i).is_some_and(|c| !printable(c))) else {
        return Ok(());
    };
    let at = text.mark(index);
    let code = text.get(index).map_or(0, |c| c as u32);
    Err(YamlError {
        message: format!(
            "unacceptable character #x{code:04x}: special characters are not allowed \
             (line {}, column {})",
            at.line, at.column
        ),
        mark: text.mark(0),
    })
}

/// PyYAML skips only spaces between tokens, and a tab ends a plain scalar, so a tab anywhere
/// but in a quoted scalar, a block scalar's content or a comment is an error. `scalars` are in
/// document order; the check stops at `end`.
pub(crate) fn first_tab(text: &Text, scalars: &[ScalarSpan], end: usize) -> Option<PyError> {
    let tab = find_tab(text, scalars, end)?;
    // On a block scalar's header line, PyYAML fails while reading the header.
    let line = text.line_of(tab);
    let header = scalars
        .iter()
        .filter_map(|span| span.indicator)
        .find(|&indicator| indicator < tab && text.line_of(indicator) == line);
    Some(match header {
        Some(indicator) => {
            let indicators = text
                .slice(indicator + 1, tab)
                .iter()
                .all(|c| matches!(c, '+' | '-' | '1'..='9'));
            let problem = if indicators {
                "expected chomping or indentation indicators, but found '\\t'"
            } else {
                "expected a comment or a line break, but found '\\t'"
            };
            PyError::with_context(tab, problem, indicator, ", in the block scalar that starts")
        }
        None => PyError::new(tab, "found character '\\t' that cannot start any token"),
    })
}

fn find_tab(text: &Text, scalars: &[ScalarSpan], end: usize) -> Option<usize> {
    let mut spans = scalars.iter().peekable();
    let mut at = 0;
    while at < end {
        while spans.peek().is_some_and(|span| span.end <= at) {
            spans.next();
        }
        if let Some(span) = spans.peek().filter(|span| span.start <= at) {
            if span.tabs_allowed {
                at = span.end;
                continue;
            }
        } else if text.get(at) == Some('#') {
            while text.get(at).is_some_and(|c| c != '\n' && c != '\r') {
                at += 1;
            }
            continue;
        }
        match text.get(at) {
            None => break,
            Some('\t') => return Some(at),
            Some(_) => at += 1,
        }
    }
    None
}

/// What PyYAML refuses before the document starts: `%YAML 2.0` (any major version but 1),
/// and a `...` before any document (its parser then wants a node).
pub(crate) fn check_prologue(text: &Text, body_start: usize) -> Option<PyError> {
    (0..text.line_count())
        .map(|line| (text.line_start(line), text.line_end(line)))
        .take_while(|&(start, _)| start < body_start)
        .find_map(|(start, end)| {
            let line: String = text.slice(start, end).iter().collect();
            if line == "..." || line.starts_with("... ") || line.starts_with("...\t") {
                return Some(PyError::new(
                    start,
                    "expected the node content, but found '<document end>'",
                ));
            }
            if let Some(directive) = line.strip_prefix('%') {
                let name_end = directive.find([' ', '\t']).unwrap_or(directive.len());
                let bad = directive[..name_end]
                    .char_indices()
                    .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                let found = match bad {
                    Some((offset, c)) => Some((directive[..offset].chars().count(), Some(c))),
                    None if name_end == 0 => Some((0, directive.chars().next())),
                    None => None,
                };
                if let Some((offset, c)) = found {
                    let problem = format!(
                        "expected alphabetic or numeric character, but found {}",
                        super::compose::py_repr(c)
                    );
                    return Some(PyError::with_context(
                        start + 1 + offset,
                        &problem,
                        start,
                        ", in the directive that starts",
                    ));
                }
            }
            let rest = line.strip_prefix("%YAML")?;
            let major = rest.trim_start_matches(' ').split('.').next()?;
            let major: u64 = major.parse().ok()?;
            (major != 1).then(|| {
                PyError::new(
                    start,
                    "found incompatible YAML document (version 1.* is required)",
                )
            })
        })
}
