//! The report as one printable HTML page in Japanese, with its style
//! sheet (`report.css`) inside, so it can be mailed or archived as a single
//! file. Every text goes through [`html`]; the page has no script.

use std::fmt::Write as _;

use super::model::{Report, Status};
use crate::escape::html;

/// Written into the page so it needs no other file.
const CSS: &str = include_str!("report.css");

/// The text of the page's one `<style>` element, exactly: a server that
/// shows the page allows this text, by its digest, and no other style.
pub fn style_text() -> String {
    format!("\n{CSS}")
}

pub fn render(report: &Report<'_>) -> String {
    let ok = report.status == Status::Ok;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
        html(&report.title()),
        style_text()
    );
    let _ = writeln!(s, "<h1>{}</h1>", html(&report.title()));
    let _ = writeln!(
        s,
        "<div class=\"status {}\"><strong>{}</strong><br>{}</div>",
        if ok { "ok" } else { "broken" },
        html(&report.banner()),
        html(&report.status_reason())
    );
    s.push_str("<table class=\"about\">\n");
    for (label, value) in report.about() {
        let _ = writeln!(
            s,
            "<tr><th>{}</th><td>{}</td></tr>",
            html(label),
            html(&value)
        );
    }
    s.push_str("</table>\n");
    for note in report.notes() {
        let _ = writeln!(s, "<p class=\"note\">{}</p>", html(&note));
    }
    for section in report.sections() {
        let _ = writeln!(
            s,
            "<h2>{}</h2>\n<table{}>",
            html(&section.title),
            if section.numeric {
                ""
            } else {
                " class=\"text\""
            }
        );
        let _ = write!(s, "<tr><th>{}</th>", html(section.row_header));
        for (label, _) in &section.columns {
            let _ = write!(s, "<th>{}</th>", html(label));
        }
        s.push_str("</tr>\n");
        for r in &section.rows {
            let _ = write!(s, "<tr><th>{}</th>", html(&r.label));
            for value in &r.values {
                let _ = write!(s, "<td>{}</td>", html(value));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::fixtures::{report, verification};
    use crate::report::tally::fixtures::ev;
    use crate::report::tally::fixtures::{SINCE, UNTIL, sample};
    use crate::report::tally::tally;

    #[test]
    fn html_is_one_escaped_japanese_page() {
        let mut events = sample();
        events.push(ev(
            "2026-09-02T00:00:00Z",
            "<script>alert(1)</script>",
            "login.fail",
            "user:x",
            "",
            "denied",
        ));
        let f = tally(&events, SINCE, UNTIL);
        let v = verification(true);
        let page = render(&report(&f, &v));
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
        assert!(page.contains("<meta charset=\"utf-8\">"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("admin\\r\\n| x |"));
        assert!(page.contains("<style>"));
    }
}
