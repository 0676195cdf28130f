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

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{AuditEvent, AuditFilter, Class};

use super::escape::{
    AUDIT_CSV_HEADER, UTF8_BOM, audit_csv_fields, csv_row, json_line, visible, visible_truncated,
};
use super::files::Sink;
use crate::commands::values;
use crate::config::Config;
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events at or after this time: 2026-04-01 (00:00 UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = audit_time)]
    pub since: Option<String>,
    /// Events before this time (not included): 2026-05-01 or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = audit_time)]
    pub until: Option<String>,
    /// Only events by this user (exact name).
    #[arg(long, value_name = "USER", value_parser = values::non_blank)]
    pub actor: Option<String>,
    /// Only this action (login.fail), or a family when it ends with a dot (transfer.).
    #[arg(long, value_name = "ACTION", value_parser = values::non_blank)]
    pub action: Option<String>,
    /// Only events about this object, e.g. transfer:<id> or user:<name>.
    #[arg(long, value_name = "OBJECT", value_parser = values::non_blank)]
    pub object: Option<String>,
    /// Only events about files of this class: I, II or III.
    #[arg(long, value_name = "I|II|III", value_parser = values::class)]
    pub class: Option<Class>,
    /// Only events with this outcome.
    #[arg(long, value_name = "OUTCOME",
          value_parser = values::vocabulary(Outcome::ALL, Outcome::as_str))]
    pub outcome: Option<Outcome>,
    /// At most this many events, oldest first; 0 means all. Default: 100 for
    /// the table, all for jsonl and csv.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// table for reading, jsonl or csv (opens in Excel) for keeping. --json means jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Write to this new file instead of the screen (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Jsonl,
    Csv,
}

/// `--since`/`--until`: checked here so a typo is a usage error, and passed
/// on to the gateway as RFC 3339 in UTC.
fn audit_time(s: &str) -> Result<String, String> {
    super::times::parse_bound(s).map(super::times::rfc3339)
}

/// Rows shown on screen unless `--limit` says otherwise.
const TABLE_DEFAULT_LIMIT: u64 = 100;
/// DETAIL is JSON and can be long; the table keeps it to this many columns.
const DETAIL_COLUMNS: usize = 60;

pub fn run(cfg: &Config, args: Args) -> Result<()> {
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

fn export(cfg: &Config, args: Args) -> Result<()> {
    let format = match (cfg.json, args.format) {
        (false, format) => format.unwrap_or(Format::Table),
        (true, None | Some(Format::Jsonl)) => Format::Jsonl,
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
        (None, Format::Table) => Some(TABLE_DEFAULT_LIMIT),
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

    if format == Format::Table && written == 0 {
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
    format: Format,
    table: Option<Table>,
    rows: u64,
}

impl Writer {
    fn new(format: Format) -> Writer {
        Writer {
            format,
            table: (format == Format::Table).then(table_header),
            rows: 0,
        }
    }

    fn start(&mut self, out: &mut impl Write) -> Result<()> {
        if self.format == Format::Csv {
            out.write_all(UTF8_BOM.as_bytes())
                .and_then(|()| out.write_all(csv_row(&AUDIT_CSV_HEADER).as_bytes()))
                .context("could not write the export")?;
        }
        Ok(())
    }

    fn event(&mut self, out: &mut impl Write, event: &AuditEvent) -> Result<()> {
        self.rows += 1;
        match self.format {
            Format::Table => {
                if let Some(table) = &mut self.table {
                    table.row(table_row(event));
                }
                Ok(())
            }
            Format::Jsonl => {
                let line = json_line(event).context("could not encode an event as JSON")?;
                writeln!(out, "{line}").context("could not write the export")
            }
            Format::Csv => out
                .write_all(csv_row(&audit_csv_fields(event)).as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::audit::escape::fixtures::{HOSTILE, parse_csv};
    use crate::commands::audit::escape::starts_like_formula;

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

    fn render(format: Format, events: &[AuditEvent]) -> Result<String> {
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
        let text = render(Format::Table, &events)?;
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
        let text = render(Format::Table, &[e])?;
        assert!(text.contains(&format!("{}…", "y".repeat(DETAIL_COLUMNS - 1))));
        assert!(!text.contains(&"y".repeat(DETAIL_COLUMNS + 1)));
        Ok(())
    }

    #[test]
    fn csv_is_excel_safe_one_line_per_row_and_reads_back_escaped() -> Result<()> {
        let events = hostile_events();
        let text = render(Format::Csv, &events)?;
        let body = text.strip_prefix(UTF8_BOM).context("no byte-order mark")?;
        let rows = parse_csv(body);
        assert_eq!(rows.len(), events.len() + 1);
        assert_eq!(rows[0], AUDIT_CSV_HEADER);
        for (row, event) in rows[1..].iter().zip(&events) {
            assert_eq!(row.len(), AUDIT_CSV_HEADER.len());
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '＝']),
                    "{cell:?}"
                );
            }
            for cell in row {
                assert!(
                    !cell.chars().any(|c| c.is_control()),
                    "a raw control character in a CSV cell: {cell:?}"
                );
            }
            let actor = visible(&event.actor);
            let expected = if starts_like_formula(&event.actor) {
                format!("'{actor}")
            } else {
                actor.into_owned()
            };
            assert_eq!(row[2], expected);
            assert_eq!(row[8], visible(&event.detail));
        }
        Ok(())
    }

    #[test]
    fn jsonl_is_one_event_per_line() -> Result<()> {
        let events = hostile_events();
        let text = render(Format::Jsonl, &events)?;
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
