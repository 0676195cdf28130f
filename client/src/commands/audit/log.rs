//! `audit log`: reading and exporting audit events.
//!
//! Three formats for three uses: a table to read on screen, JSON lines for
//! other tools (and `--json`), and CSV for Excel, which is what auditors in
//! a town hall open. The filters are the gateway's (it has the indexes);
//! the paging and the formatting happen here. Events are written as each
//! page arrives, so exporting a million events needs one page of memory,
//! except for the table, whose columns must be measured first. Every field
//! is user input somewhere, so each format goes through its escaper in
//! [`super::escape`]. A filtered export is a selection and cannot be
//! chain-verified; `audit verify` reads the whole log.

use std::io::Write;

use anyhow::{Context, Result, bail};
use sekisho_proto::{AuditEvent, AuditFilter};

use super::escape::{UTF8_BOM, csv_row, json_line, visible, visible_truncated};
use super::files::Sink;
use crate::cli::{AuditLogArgs, AuditLogFormat};
use crate::config::Config;
use crate::output::Table;

/// Rows shown on screen unless `--limit` says otherwise.
const TABLE_DEFAULT_LIMIT: u64 = 100;
/// DETAIL is JSON and can be long; the table keeps it to this many columns.
const DETAIL_COLUMNS: usize = 60;

const CSV_HEADER: [&str; 11] = [
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

pub fn run(cfg: &Config, args: AuditLogArgs) -> Result<()> {
    match export(cfg, args) {
        // `sekisho audit log | head` closing the pipe early is not a failure.
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn export(cfg: &Config, args: AuditLogArgs) -> Result<()> {
    let format = match (cfg.json, args.format) {
        (false, format) => format.unwrap_or(AuditLogFormat::Table),
        (true, None | Some(AuditLogFormat::Jsonl)) => AuditLogFormat::Jsonl,
        (true, Some(_)) => bail!(
            "--json asks for JSON lines but --format asks for something else; give only one of them"
        ),
    };
    if let (Some(since), Some(until)) = (&args.since, &args.until)
        && super::times::parse_bound(since).ok() >= super::times::parse_bound(until).ok()
    {
        bail!(
            "--since {since} is not before --until {until}, so no event could match; check the dates"
        );
    }
    let limit = match (args.limit, format) {
        (Some(0), _) => None,
        (Some(n), _) => Some(n),
        (None, AuditLogFormat::Table) => Some(TABLE_DEFAULT_LIMIT),
        (None, _) => None,
    };
    let filter = AuditFilter {
        since: args.since,
        until: args.until,
        actor: args.actor,
        action: args.action,
        object: args.object,
        class: args.class.map(|c| c.as_str().to_string()),
        outcome: args.outcome.map(|o| o.as_str().to_string()),
    };

    let (api, _session) = crate::commands::logged_in(cfg)?;
    let mut sink = Sink::open(args.output.as_deref())?;
    let mut writer = Writer::new(format);
    writer.start(&mut sink)?;
    let mut written: u64 = 0;
    let mut more = false;
    let page_size = limit.map_or(super::MAX_PAGE, |n| {
        u32::try_from(n.min(u64::from(super::MAX_PAGE))).unwrap_or(super::MAX_PAGE)
    });
    super::for_each_page(&api, &filter, page_size, |events| {
        for event in events {
            if limit.is_some_and(|n| written >= n) {
                more = true;
                return Ok(false);
            }
            writer.event(&mut sink, event)?;
            written += 1;
        }
        // A full page at the limit may have had a next page: look once more.
        Ok(true)
    })?;
    writer.end(&mut sink)?;
    sink.finish()?;

    if format == AuditLogFormat::Table && written == 0 {
        eprintln!("No audit events match (該当する監査イベントはありません).");
    }
    if more {
        eprintln!(
            "Showing the first {written} matching events, oldest first; more match. \
             Narrow the search with --since/--until/--actor/--action, or export everything with --limit 0 --format csv --output FILE."
        );
    }
    if let Some(path) = &args.output {
        eprintln!("Wrote {written} events to {}.", path.display());
    }
    Ok(())
}

/// Formats events one at a time; the table keeps its rows until the end.
struct Writer {
    format: AuditLogFormat,
    table: Option<Table>,
    rows: u64,
}

impl Writer {
    fn new(format: AuditLogFormat) -> Writer {
        Writer {
            format,
            table: (format == AuditLogFormat::Table).then(table_header),
            rows: 0,
        }
    }

    fn start(&mut self, out: &mut impl Write) -> Result<()> {
        if self.format == AuditLogFormat::Csv {
            out.write_all(UTF8_BOM.as_bytes())
                .and_then(|()| out.write_all(csv_row(&CSV_HEADER).as_bytes()))
                .context("could not write the export")?;
        }
        Ok(())
    }

    fn event(&mut self, out: &mut impl Write, event: &AuditEvent) -> Result<()> {
        self.rows += 1;
        match self.format {
            AuditLogFormat::Table => {
                if let Some(table) = &mut self.table {
                    table.row(table_row(event));
                }
                Ok(())
            }
            AuditLogFormat::Jsonl => {
                let line = json_line(event).context("could not encode an event as JSON")?;
                writeln!(out, "{line}").context("could not write the export")
            }
            AuditLogFormat::Csv => out
                .write_all(csv_row(&csv_fields(event)).as_bytes())
                .context("could not write the export"),
        }
    }

    fn end(&mut self, out: &mut impl Write) -> Result<()> {
        // An empty table would be a lone header; the caller says why.
        if let Some(table) = self.table.take()
            && self.rows > 0
        {
            out.write_all(table.render().as_bytes())
                .context("could not write the table")?;
        }
        Ok(())
    }
}

fn table_header() -> Table {
    Table::new([
        "SEQ",
        "TIME (UTC)",
        "ACTOR",
        "ACTION",
        "OBJECT",
        "CLASS",
        "OUTCOME",
        "SOURCE",
        "DETAIL",
    ])
}

/// `2026-11-25T18:14:03Z` → `2026-11-25 18:14:03`; anything else escaped.
fn table_time(at: &str) -> String {
    let b = at.as_bytes();
    if at.len() == 20 && b.get(10) == Some(&b'T') && b.get(19) == Some(&b'Z') && at.is_ascii() {
        format!("{} {}", &at[..10], &at[11..19])
    } else {
        visible(at).into_owned()
    }
}

fn cell(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        visible(text).into_owned()
    }
}

fn table_row(e: &AuditEvent) -> [String; 9] {
    [
        e.seq.to_string(),
        table_time(&e.at),
        cell(&e.actor),
        cell(&e.action),
        cell(&e.object),
        cell(&e.class),
        cell(&e.outcome),
        cell(&e.source),
        visible_truncated(&e.detail, DETAIL_COLUMNS),
    ]
}

fn csv_fields(e: &AuditEvent) -> [String; 11] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::audit::escape::starts_like_formula;
    use crate::commands::audit::escape::tests::{HOSTILE, parse_csv};

    fn hostile_event(seq: i64, text: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at: "2026-11-25T18:14:03Z".into(),
            actor: text.into(),
            action: "login.fail".into(),
            object: format!("user:{text}"),
            class: String::new(),
            outcome: "denied".into(),
            source: "198.51.100.7".into(),
            detail: serde_json::json!({ "reason": text }).to_string(),
            prev_hash: "00".into(),
            hash: "11".into(),
        }
    }

    fn render(format: AuditLogFormat, events: &[AuditEvent]) -> Result<String> {
        let mut out = Vec::new();
        let mut writer = Writer::new(format);
        writer.start(&mut out)?;
        for e in events {
            writer.event(&mut out, e)?;
        }
        writer.end(&mut out)?;
        Ok(String::from_utf8(out)?)
    }

    fn hostile_events() -> Vec<AuditEvent> {
        HOSTILE
            .iter()
            .zip(1..)
            .map(|(text, seq)| hostile_event(seq, text))
            .collect()
    }

    #[test]
    fn the_table_has_one_line_per_event_whatever_the_input() -> Result<()> {
        let events = hostile_events();
        let text = render(AuditLogFormat::Table, &events)?;
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), events.len() + 1, "{text}");
        assert!(lines[0].starts_with("SEQ  TIME (UTC)"));
        for line in &lines[1..] {
            assert!(!line.contains(['\r', '\u{1b}', '\u{202e}', '\u{2028}', '\u{7f}']));
            assert!(line.contains("2026-11-25 18:14:03"));
        }
        assert!(text.contains("alice\\r\\n2026-11-25T00:00:00Z"));
        assert!(text.contains("\\u{1b}[2J"));
        assert!(text.contains("名簿_2026年度.xlsx"));
        // The empty actor shows as "-" rather than a gap.
        assert!(lines.last().is_some_and(|l| l.contains(" -  ")));
        Ok(())
    }

    #[test]
    fn long_details_are_cut_in_the_table() -> Result<()> {
        let mut e = hostile_event(1, "x");
        e.detail = "y".repeat(500);
        let text = render(AuditLogFormat::Table, &[e])?;
        assert!(text.contains(&format!("{}…", "y".repeat(DETAIL_COLUMNS - 1))));
        assert!(!text.contains(&"y".repeat(DETAIL_COLUMNS + 1)));
        Ok(())
    }

    #[test]
    fn csv_is_excel_safe_and_reads_back_exactly() -> Result<()> {
        let events = hostile_events();
        let text = render(AuditLogFormat::Csv, &events)?;
        let body = text.strip_prefix(UTF8_BOM).context("no byte-order mark")?;
        let rows = parse_csv(body);
        assert_eq!(rows.len(), events.len() + 1);
        assert_eq!(rows[0], CSV_HEADER);
        for (row, event) in rows[1..].iter().zip(&events) {
            assert_eq!(row.len(), CSV_HEADER.len());
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '＝']),
                    "{cell:?}"
                );
            }
            let expected = if starts_like_formula(&event.actor) {
                format!("'{}", event.actor)
            } else {
                event.actor.clone()
            };
            assert_eq!(row[2], expected);
            assert_eq!(row[8], event.detail);
        }
        Ok(())
    }

    #[test]
    fn jsonl_is_one_event_per_line() -> Result<()> {
        let events = hostile_events();
        let text = render(AuditLogFormat::Jsonl, &events)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), events.len());
        for (line, event) in lines.iter().zip(&events) {
            let back: AuditEvent = serde_json::from_str(line)?;
            assert_eq!(back.actor, event.actor);
            assert_eq!(back.detail, event.detail);
        }
        Ok(())
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(table_time("2026-11-25T18:14:03Z"), "2026-11-25 18:14:03");
        assert_eq!(table_time("soon\n"), "soon\\n");
    }
}
