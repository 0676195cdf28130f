//! Showing text that anybody may have typed.
//!
//! Audit events carry user input: a user name tried at the login prompt, a
//! purpose, a reject reason, a file name. Shown raw, a CR/LF could forge a
//! whole extra log line, an ANSI escape could rewrite the terminal, a
//! right-to-left override could reorder what the auditor reads, and a cell
//! starting with `=` could run a formula in Excel. Every output format has
//! one function here that makes such text inert, and the tests feed each
//! one the same hostile strings.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;

/// Characters that are invisible or move text around without being
/// control characters: bidirectional overrides and isolates, zero-width
/// characters, line/paragraph separators and the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Text for a terminal or a plain-text table: every control, invisible or
/// direction-changing character is written as a visible escape (`\n`,
/// `\u{1b}`), and `\` itself as `\\`, so an escape in the output always
/// means the character was really there. Japanese text is left as it is.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c == '\\' || c.is_control() || is_invisible_format(c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`visible`], cut to at most `max_columns` terminal columns with `…`.
pub fn visible_truncated(text: &str, max_columns: usize) -> String {
    let shown = visible(text);
    let width = |c: char| c.width().unwrap_or(0);
    if shown.chars().map(width).sum::<usize>() <= max_columns {
        return shown.into_owned();
    }
    let mut used = 0;
    let mut out = String::new();
    for c in shown.chars() {
        // One column stays free for the ellipsis.
        if used + width(c) >= max_columns {
            break;
        }
        used += width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Characters that make a spreadsheet treat a cell as a formula. Japanese
/// Excel also turns the full-width forms into formulas when they are typed,
/// so they are guarded too.
pub fn starts_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'])
}

/// One RFC 4180 cell: always quoted, quotes doubled, and a leading `'` on
/// anything that starts like a formula so Excel shows it as text. Control
/// and invisible characters are written as [`visible`] escapes: a row is
/// one line whatever the database holds (a tampered row cannot forge lines
/// or send terminal escapes to whoever runs `cat` on the file), and the
/// escape is reversible, so nothing is lost.
pub fn csv_cell(text: &str) -> String {
    let shown = visible(text);
    let mut out = String::with_capacity(shown.len() + 3);
    out.push('"');
    if starts_like_formula(text) {
        out.push('\'');
    }
    for c in shown.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One CSV record with its CRLF line end.
pub fn csv_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The byte-order mark that makes Excel read a CSV file as UTF-8; without
/// it Japanese text opens as mojibake.
pub const UTF8_BOM: &str = "\u{FEFF}";

/// One JSON line. `serde_json` already escapes the ASCII control
/// characters; the other invisible and direction-changing ones it leaves
/// raw (valid JSON, but they reorder what `cat` shows, and some readers
/// split lines on U+2028), so they become `\uXXXX` too. Outside strings
/// JSON has no such characters, so this never changes the meaning.
pub fn json_line<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string(value)?;
    if !text
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 12);
    for c in text.chars() {
        if c.is_control() || is_invisible_format(c) {
            // All of them are in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Text for HTML: [`visible`] first, so hidden characters show, then the
/// five characters HTML gives a meaning.
pub fn html(text: &str) -> String {
    let shown = visible(text);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for a Markdown table cell: [`visible`] first, then a backslash
/// before every character that could start markup, a link, a tag or a new
/// column, so a user name stays a user name. Parentheses and `!` stay as
/// they are: without `[` and `]` they cannot form a link or an image.
pub fn markdown(text: &str) -> String {
    let shown = visible(text);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The columns of an audit CSV export, in order: the event's fields as the
/// chain hashes them, so a spreadsheet holds everything `verify` needs.
pub const AUDIT_CSV_HEADER: [&str; 11] = [
    "seq",
    "at",
    "actor",
    "action",
    "object",
    "class",
    "outcome",
    "source",
    "detail",
    "prev_hash",
    "hash",
];

/// One event's cells under [`AUDIT_CSV_HEADER`] (escape them with [`csv_row`]).
pub fn audit_csv_fields(e: &crate::AuditEvent) -> [String; 11] {
    [
        e.seq.to_string(),
        e.at.clone(),
        e.actor.clone(),
        e.action.clone(),
        e.object.clone(),
        e.class.clone(),
        e.outcome.clone(),
        e.source.clone(),
        e.detail.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
}

/// Hostile strings and a CSV reader, shared by the tests of every output
/// that uses these functions (the client's exports, the console's).
#[doc(hidden)]
pub mod fixtures {
    /// Strings an attacker could put in a user name, purpose or file name.
    pub const HOSTILE: &[&str] = &[
        "alice\r\n2026-11-25T00:00:00Z  admin  transfer.approve",
        "line\nbreak",
        "carriage\rreturn",
        "\u{1b}[2J\u{1b}[31mred",
        "say \"hi\", then leave",
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\tindented",
        "＝１＋１",
        "名簿_2026年度.xlsx",
        "evil\u{202E}txt.exe",
        "back\\slash\\n",
        "zero\u{200B}width",
        "del\u{7f}c1\u{9b}",
        "sep\u{2028}arator",
        "",
    ];

    pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut cell = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cell.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    cell.push(c);
                }
                continue;
            }
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut cell)),
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "bare CR outside quotes");
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                '\n' => panic!("bare LF outside quotes"),
                c => panic!("unquoted character {c:?}"),
            }
        }
        assert!(!quoted, "unterminated quote");
        assert!(cell.is_empty() && row.is_empty(), "last row has no CRLF");
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{HOSTILE, parse_csv};
    use super::*;

    #[test]
    fn visible_text_is_one_line_without_controls() {
        for input in HOSTILE {
            let shown = visible(input);
            assert!(
                !shown
                    .chars()
                    .any(|c| c.is_control() || is_invisible_format(c)),
                "{input:?} -> {shown:?}"
            );
        }
        assert_eq!(visible("a\r\nb"), "a\\r\\nb");
        assert_eq!(visible("\u{1b}[31m"), "\\u{1b}[31m");
        assert_eq!(visible("evil\u{202E}gpj"), "evil\\u{202e}gpj");
        // A typed backslash-n cannot pass for an escaped newline.
        assert_eq!(visible("a\\nb"), "a\\\\nb");
        assert_ne!(visible("a\\nb"), visible("a\nb"));
        assert_eq!(visible("重要性II 名簿"), "重要性II 名簿");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn truncation_counts_columns_and_marks_the_cut() {
        assert_eq!(visible_truncated("abcdef", 10), "abcdef");
        assert_eq!(visible_truncated("abcdefghij", 10), "abcdefghij");
        assert_eq!(visible_truncated("abcdefghijk", 10), "abcdefghi…");
        // Japanese characters take two columns each.
        assert_eq!(visible_truncated("名簿名簿名簿", 7), "名簿名…");
        assert_eq!(visible_truncated("a\nb", 10), "a\\nb");
    }

    /// A strict RFC 4180 reader, to prove that what we write reads back
    /// as the same cells and the same number of rows.

    #[test]
    fn csv_cells_read_back_and_never_start_a_formula() {
        let text = csv_row(HOSTILE);
        let rows = parse_csv(&text);
        assert_eq!(rows.len(), 1, "{text:?}");
        let cells = &rows[0];
        assert_eq!(cells.len(), HOSTILE.len());
        for (cell, input) in cells.iter().zip(HOSTILE) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '＝']),
                "{cell:?}"
            );
            assert!(
                !cell
                    .chars()
                    .any(|c| c.is_control() || is_invisible_format(c)),
                "{input:?} -> {cell:?}"
            );
            let original = if cell.starts_with('\'') && starts_like_formula(input) {
                &cell[1..]
            } else {
                cell.as_str()
            };
            assert_eq!(original, visible(input));
        }
        assert_eq!(csv_cell("a\r\nforged"), "\"a\\r\\nforged\"");
        assert_eq!(csv_cell("\u{1b}[2J"), "\"\\u{1b}[2J\"");
        assert_eq!(csv_cell("=1+1"), "\"'=1+1\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("名簿"), "\"名簿\"");
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn json_lines_stay_one_line() -> serde_json::Result<()> {
        for input in HOSTILE {
            let line = json_line(&serde_json::json!({ "detail": input }))?;
            assert!(
                !line
                    .chars()
                    .any(|c| c.is_control() || is_invisible_format(c)),
                "{line}"
            );
            let back: serde_json::Value = serde_json::from_str(&line)?;
            assert_eq!(back["detail"], *input);
        }
        Ok(())
    }

    #[test]
    fn html_and_markdown_cannot_add_tags_or_columns() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(html("a\nb"), "a\\nb");
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(markdown("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(markdown("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(markdown("a\nb"), "a\\\\nb");
        assert_eq!(markdown("田中"), "田中");
        for input in HOSTILE {
            let cell = markdown(input);
            assert!(!cell.contains(['\n', '\r']));
            // Every pipe is escaped, so the row keeps its columns.
            assert!(!cell.replace("\\|", "").contains('|'), "{cell}");
        }
    }
}
