//! The source text by character, its lines, and the re-indented copy that saphyr reads.
//!
//! PyYAML ignores indentation inside flow collections and on the continuation lines of quoted
//! scalars; saphyr (YAML 1.2) does not. Where saphyr rejects such a line, the line's leading
//! whitespace is replaced by enough spaces and the text is parsed again ([`Reindent`]). That
//! whitespace is never part of a value, so only positions change, and every position saphyr
//! reports is mapped back to the original text.

use std::collections::BTreeMap;

use super::Mark;

/// The text, character by character, with the start of every line. Lines end at `\n`, `\r\n` or
/// `\r`, as saphyr counts them.
#[derive(Debug)]
pub(crate) struct Text {
    chars: Vec<char>,
    line_starts: Vec<usize>,
}

impl Text {
    pub(crate) fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let line_starts = line_starts(&chars);
        Self { chars, line_starts }
    }

    /// The character at `index`, if any.
    pub(crate) fn get(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    /// The number of characters.
    pub(crate) fn len(&self) -> usize {
        self.chars.len()
    }

    /// The 0-based line that holds `index`.
    pub(crate) fn line_of(&self, index: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= index)
            .saturating_sub(1)
    }

    /// The index of the first character of the 0-based `line`.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line)
            .copied()
            .unwrap_or(self.chars.len())
    }

    /// The index just past the last character of the 0-based `line` (before its line break).
    pub(crate) fn line_end(&self, line: usize) -> usize {
        let mut end = self.line_start(line + 1);
        if line + 1 >= self.line_starts.len() {
            return self.chars.len();
        }
        // Step back over the line break: `\n`, `\r` or `\r\n`.
        if end > 0 && self.chars.get(end - 1) == Some(&'\n') {
            end -= 1;
        }
        if end > 0 && self.chars.get(end - 1) == Some(&'\r') {
            end -= 1;
        }
        end
    }

    /// The number of lines.
    pub(crate) fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The 1-based position of `index` (clamped to the end of the text).
    pub(crate) fn mark(&self, index: usize) -> Mark {
        let index = index.min(self.chars.len());
        let line = self.line_of(index);
        let column = index - self.line_start(line);
        Mark {
            line: to_u32(line + 1),
            column: to_u32(column + 1),
            index,
        }
    }

    /// The 0-based column of `index`.
    pub(crate) fn column(&self, index: usize) -> usize {
        let index = index.min(self.chars.len());
        index - self.line_start(self.line_of(index))
    }

    /// The number of spaces and tabs that start the 0-based `line`.
    pub(crate) fn leading_blanks(&self, line: usize) -> usize {
        let start = self.line_start(line);
        let end = self.line_end(line);
        self.chars[start..end]
            .iter()
            .take_while(|&&c| c == ' ' || c == '\t')
            .count()
    }

    /// The closing quote of the quoted scalar whose opening quote is at `open`.
    pub(crate) fn closing_quote(&self, open: usize) -> Option<usize> {
        let quote = self.get(open)?;
        let mut at = open + 1;
        loop {
            match self.get(at)? {
                '\\' if quote == '"' => at += 2,
                '\'' if quote == '\'' && self.get(at + 1) == Some('\'') => at += 2,
                c if c == quote => return Some(at),
                _ => at += 1,
            }
        }
    }

    /// The bracket that closes the flow collection opened at `open` (`[` or `{`), skipping
    /// quoted scalars and comments. In a flow collection no plain scalar holds a bracket.
    pub(crate) fn flow_end(&self, open: usize) -> Option<usize> {
        let blank = |c: Option<char>| c.is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let mut depth = 0usize;
        let mut token_start = true;
        let mut at = open;
        loop {
            let c = self.get(at)?;
            match c {
                '#' if at == 0
                    || blank(self.get(at - 1))
                    || matches!(self.get(at - 1), Some('[' | ']' | '{' | '}' | ',')) =>
                {
                    at = self.line_end(self.line_of(at));
                    continue;
                }
                '"' | '\'' if token_start => {
                    at = self.closing_quote(at)? + 1;
                    token_start = false;
                    continue;
                }
                '[' | '{' => {
                    depth += 1;
                    token_start = true;
                }
                ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(at);
                    }
                    token_start = false;
                }
                ',' | '\n' | '\r' => token_start = true,
                ':' | '?' if blank(self.get(at + 1)) => token_start = true,
                ' ' | '\t' => {}
                _ => token_start = false,
            }
            at += 1;
        }
    }

    /// The characters from `start` to `end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &[char] {
        let end = end.min(self.chars.len());
        let start = start.min(end);
        &self.chars[start..end]
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn line_starts(chars: &[char]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\n' => starts.push(i + 1),
            '\r' if chars.get(i + 1) == Some(&'\n') => {
                starts.push(i + 2);
                i += 1;
            }
            '\r' => starts.push(i + 1),
            _ => {}
        }
        i += 1;
    }
    starts
}

/// Changes made to the text before saphyr reads it: leading whitespace replaced by spaces,
/// and comments that PyYAML reads but saphyr refuses (`[a]# c`) removed. Each edit replaces
/// a range of the original text that holds no value.
#[derive(Debug, Default)]
pub(crate) struct Reindent {
    /// Start of the replaced range (original index) → its length and the replacement width
    /// (spaces).
    edits: BTreeMap<usize, (usize, usize)>,
}

impl Reindent {
    /// Whether the text is unchanged.
    pub(crate) fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Indents the 0-based `line` with at least `width` spaces (and no tab). Returns `false`
    /// if it already is.
    pub(crate) fn indent(&mut self, text: &Text, line: usize, width: usize) -> bool {
        let start = text.line_start(line);
        let old = text.leading_blanks(line);
        let tabs = text.slice(start, start + old).contains(&'\t');
        let current = match self.edits.get(&start) {
            Some(&(_, current)) => current,
            None if tabs => 0,
            None => old,
        };
        if current >= width {
            return false;
        }
        self.edits.insert(start, (old, width.max(old)));
        true
    }

    /// Inserts a space before `at`. Returns `false` if there already is one.
    pub(crate) fn insert_space(&mut self, at: usize) -> bool {
        if self.edits.contains_key(&at) {
            return false;
        }
        self.edits.insert(at, (0, 1));
        true
    }

    /// Removes the comment that starts at `hash` and runs to the end of its line. Returns
    /// `false` if it already is removed.
    pub(crate) fn remove_comment(&mut self, text: &Text, hash: usize) -> bool {
        if self.edits.contains_key(&hash) || hash <= text.line_start(text.line_of(hash)) {
            return false;
        }
        let end = text.line_end(text.line_of(hash));
        self.edits.insert(hash, (end.saturating_sub(hash), 0));
        true
    }

    /// The text saphyr reads.
    pub(crate) fn render(&self, text: &Text) -> String {
        let mut out = String::with_capacity(text.len() + self.edits.len() * 8);
        let mut next = 0;
        for (&start, &(old, width)) in &self.edits {
            out.extend(text.slice(next, start));
            out.extend(std::iter::repeat_n(' ', width));
            next = start + old;
        }
        out.extend(text.slice(next, text.len()));
        out
    }

    /// Maps a character index of the rendered text back to the original text.
    pub(crate) fn to_original(&self, text: &Text, rendered_index: usize) -> usize {
        let mut shift: isize = 0;
        for (&start, &(old, width)) in &self.edits {
            let rendered_start = start.saturating_add_signed(shift);
            if rendered_index < rendered_start {
                break;
            }
            if rendered_index < rendered_start + width {
                // Inside the replacement: the matching place in the old range.
                return start + (rendered_index - rendered_start).min(old);
            }
            shift += width as isize - old as isize;
        }
        rendered_index.saturating_add_signed(-shift).min(text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based() {
        let text = Text::new("ab\ncd\r\nef\rg");
        assert_eq!(
            text.mark(0),
            Mark {
                line: 1,
                column: 1,
                index: 0
            }
        );
        assert_eq!(
            text.mark(4),
            Mark {
                line: 2,
                column: 2,
                index: 4
            }
        );
        assert_eq!(
            text.mark(7),
            Mark {
                line: 3,
                column: 1,
                index: 7
            }
        );
        assert_eq!(
            text.mark(10),
            Mark {
                line: 4,
                column: 1,
                index: 10
            }
        );
        assert_eq!(
            text.mark(99),
            Mark {
                line: 4,
                column: 2,
                index: 11
            }
        );
        assert_eq!(text.line_end(1), 5);
        assert_eq!(text.line_end(3), 11);
    }

    #[test]
    fn reindented_positions_map_back() {
        let text = Text::new("a: [1,\n\t2,\n3]\nb: 4\n");
        let mut edits = Reindent::default();
        assert!(edits.indent(&text, 1, 4));
        assert!(edits.indent(&text, 2, 4));
        assert!(!edits.indent(&text, 2, 3));
        let rendered = edits.render(&text);
        assert_eq!(rendered, "a: [1,\n    2,\n    3]\nb: 4\n");
        let original = |needle: &str| {
            let at = rendered.find(needle).unwrap_or(usize::MAX);
            let chars = rendered[..at].chars().count();
            edits.to_original(&text, chars)
        };
        assert_eq!(original("2,"), 8);
        assert_eq!(original("3]"), 11);
        assert_eq!(original("b:"), 14);
        assert_eq!(edits.to_original(&text, 7), 7);
        assert_eq!(edits.to_original(&text, 9), 8);
    }

    #[test]
    fn removed_comments_map_back() {
        let text = Text::new(
            "a: [1]# one
b: 2
",
        );
        let mut edits = Reindent::default();
        assert!(edits.remove_comment(&text, 6));
        assert!(!edits.remove_comment(&text, 6));
        let rendered = edits.render(&text);
        assert_eq!(rendered, "a: [1]\nb: 2\n");
        assert_eq!(edits.to_original(&text, 7), 12);
        assert_eq!(edits.to_original(&text, 6), 11);
    }
}
