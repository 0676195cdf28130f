//! `audit report`: the yearly self-inspection report (policy 9.(1)).
//!
//! The figures are counted on the auditor's computer from the events the
//! verification downloads, not asked of the gateway, so the report and the
//! verification status printed in it describe the same data. A broken log
//! still gets its report, with the status shown first and in capitals:
//! the year's figures are still evidence, just not trustworthy evidence.
//!
//! Three steps, one module each: [`tally`] counts events one at a time;
//! [`model`] turns the figures into the report's small tables, written
//! once; [`markdown`], [`csv`] and [`html`] render them, each through its
//! own escaper, because names in the report (approvers, accounts tried at
//! the login prompt) are user input. This file holds the arguments and
//! runs the three steps.

mod csv;
mod markdown;

use sekisho_proto::report::{html, model, tally};

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::files::Sink;
use super::times::{YearKind, fiscal_year_of, rfc3339, year_bounds};
use super::verify::verify_gateway;
use crate::config::Config;
use model::{Report, Status};
use tally::Tally;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The fiscal year (年度) to report on: 1 April YYYY to 31 March YYYY+1,
    /// Japan time. The default is the current fiscal year.
    #[arg(long, value_name = "YYYY", conflicts_with = "year",
          value_parser = clap::value_parser!(i32).range(2000..=9998))]
    pub fiscal_year: Option<i32>,
    /// A calendar year instead: 1 January to 31 December, Japan time.
    #[arg(long, value_name = "YYYY",
          value_parser = clap::value_parser!(i32).range(2000..=9998))]
    pub year: Option<i32>,
    /// markdown (default), csv (opens in Excel) or html (one printable page).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Write to this new file instead of the screen (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Csv,
    Html,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let format = match (cfg.json, args.format) {
        (false, format) => Some(format.unwrap_or(Format::Markdown)),
        (true, None) => None,
        (true, Some(_)) => bail!(
            "--json asks for JSON but --format asks for something else; give only one of them"
        ),
    };
    let (kind, year) = match (args.fiscal_year, args.year) {
        (_, Some(year)) => (YearKind::CalendarYear, year),
        (Some(year), None) => (YearKind::FiscalYear, year),
        (None, None) => (
            YearKind::FiscalYear,
            fiscal_year_of(time::OffsetDateTime::now_utc()),
        ),
    };
    let (since, until) = year_bounds(kind, year).map_err(anyhow::Error::msg)?;
    let (api, session) = crate::commands::logged_in(cfg)?;
    // A name already taken is refused before the long download.
    let mut sink = Sink::open(args.output.as_deref())?;
    let mut counter = Tally::new(since.unix_timestamp(), until.unix_timestamp());
    let (verification, _pinned) =
        verify_gateway(cfg, &api, &session.gateway, &[], super::MAX_PAGE, |event| {
            counter.add(event)
        })?;
    let figures = counter.finish();
    for warning in &verification.warnings {
        eprintln!("warning: {warning}");
    }
    let report = Report {
        period: kind,
        year,
        since: rfc3339(since),
        until: rfc3339(until),
        gateway: &session.gateway,
        generated_at: super::times::now(),
        generated_by: &session.username,
        status: Status::of(&verification),
        figures: &figures,
        verification: &verification,
        counted_on: model::CountedOn::AuditorComputer,
    };
    let text = match format {
        None => {
            let mut json =
                serde_json::to_string_pretty(&report).context("could not encode the report")?;
            json.push('\n');
            json
        }
        Some(Format::Markdown) => markdown::render(&report),
        Some(Format::Csv) => csv::render(&report),
        Some(Format::Html) => html::render(&report),
    };
    sink.write_all(text.as_bytes())
        .context("could not write the report")?;
    sink.finish()?;
    if let Some(path) = &args.output {
        eprintln!(
            "Report for {} written to {}.",
            report.period_label(),
            path.display()
        );
    }
    if verification.verified {
        Ok(())
    } else {
        eprintln!(
            "The report was written, but the audit log FAILED verification (監査ログの検証に失敗しました); the report says so at the top. Run `sekisho audit verify` for details and tell your CISO."
        );
        Err(crate::commands::Failed.into())
    }
}
