//! The report as Markdown, the default: readable as plain text, and it
//! pastes into the town hall's document templates. Every cell goes through
//! [`markdown`], so a user name with `|` or a line break cannot make a
//! cell of its own.

use std::fmt::Write as _;

use super::model::Report;
use sekisho_proto::escape::markdown;

pub fn render(report: &Report<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", report.title());
    let _ = writeln!(s, "> **{}**", report.banner());
    let _ = writeln!(s, ">\n> {}\n", markdown(&report.status_reason()));
    let _ = writeln!(s, "| 項目 (Item) | 値 (Value) |\n|---|---|");
    for (label, value) in report.about() {
        let _ = writeln!(s, "| {label} | {} |", markdown(&value));
    }
    s.push('\n');
    for note in report.notes() {
        let _ = writeln!(s, "{}\n", markdown(&note));
    }
    for section in report.sections() {
        let _ = writeln!(s, "## {}\n", section.title);
        let _ = write!(s, "| {} |", section.row_header);
        for (label, _) in &section.columns {
            let _ = write!(s, " {label} |");
        }
        s.push_str("\n|---|");
        for _ in &section.columns {
            s.push_str(if section.numeric { "---:|" } else { "---|" });
        }
        s.push('\n');
        for r in &section.rows {
            let _ = write!(s, "| {} |", markdown(&r.label));
            for value in &r.values {
                let _ = write!(s, " {} |", markdown(value));
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::audit::report::tally::tally;
    use sekisho_proto::report::model::fixtures::{report, verification};
    use sekisho_proto::report::tally::fixtures::{SINCE, UNTIL, sample};

    #[test]
    fn markdown_keeps_hostile_names_inside_their_cell() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(true);
        let text = render(&report(&f, &v));
        assert!(text.contains("## 1. 重要性別の送信 (Transfers by class)"));
        assert!(
            text.contains("| 重要性II (class II) | 2 | 1 | 1 | 1 | 0 |"),
            "{text}"
        );
        assert!(text.contains("| admin\\\\r\\\\n\\| x \\| | 1 |"), "{text}");
        assert!(text.contains("2時間30分"));
        assert!(text.contains("OK"));
        // Every table line has as many cells as its header.
        for line in text.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(cells >= 3, "{line}");
        }
    }

    #[test]
    fn a_broken_log_is_shown_first() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(false);
        let text = render(&report(&f, &v));
        let banner = text.find("BROKEN").unwrap_or(usize::MAX);
        let first_section = text.find("## 1.").unwrap_or(0);
        assert!(banner < first_section, "{text}");
        assert!(text.contains("#12"));
        let page = crate::commands::audit::report::html::render(&report(&f, &v));
        assert!(page.contains("class=\"status broken\""));
    }
}
