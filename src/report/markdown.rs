//! The one Markdown table writer, so report.md, comparison.md and leaderboard.md
//! render tables alike.

/// `| a | b |`, a `|---|---|` rule, then one line per row. A `|` inside a cell (a
/// sweep's description, a run's name) is escaped, so it cannot split the cell.
pub fn table<H: AsRef<str>>(header: &[H], rows: &[Vec<String>]) -> String {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut md = line(header.iter().map(|h| cell(h.as_ref())).collect());
    md += &format!("|{}\n", "---|".repeat(header.len()));
    for row in rows {
        md += &line(row.iter().map(|c| cell(c)).collect());
    }
    md
}

/// A cell's text with its `|` escaped (`\|`, which GitHub's tables render as `|`,
/// inside code spans too).
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_its_header_a_rule_and_a_line_per_row() {
        let rows = vec![
            vec!["1".to_string(), "x".to_string()],
            vec!["2".to_string(), String::new()],
        ];
        assert_eq!(
            table(&["n", "name"], &rows),
            "| n | name |\n|---|---|\n| 1 | x |\n| 2 |  |\n"
        );
    }

    #[test]
    fn a_pipe_in_a_cell_does_not_split_it() {
        let rows = vec![vec!["a | b".to_string(), "`x|y`".to_string()]];
        assert_eq!(
            table(&["n|m", "name"], &rows),
            "| n\\|m | name |\n|---|---|\n| a \\| b | `x\\|y` |\n"
        );
    }
}
