//! Text shown to people: [`one_line`] keeps what a file, a provider or a YAML key says on one
//! line, so that a crafted value cannot forge another line of a report or a table.

use std::borrow::Cow;

/// Escapes control characters (a newline in a YAML key, say), so one finding is always one
/// line and a crafted key cannot forge another. Text without any is borrowed as it is.
///
/// ```
/// use reimage_fleet::text::one_line;
///
/// assert_eq!(one_line("users.0.name"), "users.0.name");
/// assert_eq!(one_line("a\nb\tc"), "a\\nb\\tc");
/// ```
pub fn one_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(one_line("plain, ü and ✓"), Cow::Borrowed(_)));
        assert_eq!(
            one_line("key\r\nforged: line\u{7}"),
            "key\\r\\nforged: line\\u{7}"
        );
        assert_eq!(one_line("quote \" and \\ stay"), "quote \" and \\ stay");
    }
}
