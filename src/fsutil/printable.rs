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

/// Most characters of a name from a file that are shown.
const NAME_CHARS: usize = 80;

/// A name from a file (a tensor's, a layer's), [`printable`] and cut to its first
/// [`NAME_CHARS`] characters: a name a megabyte long would make an error line, or a
/// table's column, a megabyte wide.
pub fn printable_name(name: &str) -> String {
    let count = name.chars().count();
    if count <= NAME_CHARS {
        return printable(name, None);
    }
    let head: String = name.chars().take(NAME_CHARS).collect();
    format!("{}… ({count} characters)", printable(&head, None))
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

    #[test]
    fn a_long_name_is_cut_and_says_how_long_it_was() {
        assert_eq!(printable_name("0.weight"), "0.weight");
        let long = format!("{}\u{1b}.weight", "é".repeat(100));
        let shown = printable_name(&long);
        assert_eq!(shown, format!("{}… (108 characters)", "é".repeat(80)));
    }
}
