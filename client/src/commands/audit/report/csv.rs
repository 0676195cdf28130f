//! The report as CSV for Excel: a byte-order mark (so Excel reads UTF-8),
//! then one `section,metric,value` row per figure, the metric named
//! `<row>.<column>` so a spreadsheet can look any figure up by name. Cells
//! go through [`csv_row`], which also defuses formula-like user input.

use super::model::Report;
use sekisho_proto::escape::{UTF8_BOM, csv_row};

pub fn render(report: &Report<'_>) -> String {
    let mut s = String::from(UTF8_BOM);
    s.push_str(&csv_row(&["section", "metric", "value"]));
    let status = [
        ("period", report.period_label()),
        ("year", report.year.to_string()),
        ("since", report.since.clone()),
        ("until", report.until.clone()),
        ("gateway", report.gateway.to_string()),
        ("generated_at", report.generated_at.clone()),
        ("generated_by", report.generated_by.to_string()),
        (
            "events_in_period",
            report.figures.events_in_period.to_string(),
        ),
        ("status", report.status.as_str().to_string()),
    ];
    for (metric, value) in status {
        s.push_str(&csv_row(&["report", metric, &value]));
    }
    for section in report.sections() {
        for r in &section.rows {
            for ((_, column), value) in section.columns.iter().zip(&r.values) {
                let metric = if column.is_empty() {
                    r.key.clone()
                } else {
                    format!("{}.{column}", r.key)
                };
                s.push_str(&csv_row(&[section.id, &metric, value]));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::audit::escape::fixtures::parse_csv;
    use crate::commands::audit::report::tally::tally;
    use sekisho_proto::report::model::fixtures::{report, verification};
    use sekisho_proto::report::tally::fixtures::{SINCE, UNTIL, sample};

    #[test]
    fn csv_rows_are_section_metric_value() {
        let f = tally(&sample(), SINCE, UNTIL);
        let v = verification(true);
        let text = render(&report(&f, &v));
        let body = text.strip_prefix(UTF8_BOM).unwrap_or("no BOM");
        let rows = parse_csv(body);
        assert_eq!(rows[0], ["section", "metric", "value"]);
        assert!(rows.iter().all(|r| r.len() == 3));
        assert!(rows.contains(&vec!["transfers".into(), "II.submitted".into(), "2".into()]));
        assert!(rows.contains(&vec![
            "approvals".into(),
            "suzuki.approved".into(),
            "2".into()
        ]));
        assert!(rows.contains(&vec![
            "failed_logins".into(),
            "account:mallory".into(),
            "2".into()
        ]));
        assert!(rows.contains(&vec!["report".into(), "status".into(), "OK".into()]));
    }
}
