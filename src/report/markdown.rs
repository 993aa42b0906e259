//! The one Markdown table writer, so report.md, comparison.md and leaderboard.md
//! render tables alike.

/// `| a | b |`, a `|---|---|` rule, then one line per row.
pub fn table<H: AsRef<str>>(header: &[H], rows: &[Vec<String>]) -> String {
    let header: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
    let mut md = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        md += &format!("| {} |\n", row.join(" | "));
    }
    md
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
}
