//! A file's text made safe to print on a terminal.

/// `text` from a file, safe to print: every control character other than `keep`
/// written as an escape (`\u{1b}`), so that a file cannot clear the screen,
/// retitle the window or fake output through `inspect` or an error line.
pub fn printable(text: &str, keep: Option<char>) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_control() && Some(c) != keep => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_file_prints_its_control_characters_as_escapes() {
        assert_eq!(printable("0.weight", None), "0.weight");
        assert_eq!(printable("a\u{1b}[2J\u{7}", None), "a\\u{1b}[2J\\u{7}");
        assert_eq!(printable("a\nb\tc", Some('\n')), "a\nb\\u{9}c");
        assert_eq!(printable("ünï → 10", None), "ünï → 10");
    }
}
