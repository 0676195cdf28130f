//! `audit log|pin|verify|checkpoint|report`: the auditor's tools.
//!
//! The gateway is the thing being audited, so nothing here takes its word
//! for the state of its own log: events are downloaded and checked on the
//! auditor's computer (`verify`), signed checkpoints are checked against a
//! key the auditor pinned from the server console (`pin`), copies of
//! checkpoints are kept off the gateway (`checkpoint`), and the yearly
//! report is counted here from the downloaded events (`report`). This file
//! dispatches and holds what the commands share: paging through events and
//! reading checkpoints. Escaping of hostile text, local files and times each
//! have their own submodule so they can be tested alone.

mod checkpoint;
use sekisho_proto::escape;
mod files;
mod log;
mod pin;
mod report;
pub use sekisho_proto::report::times;
mod verify;

use anyhow::{Context, Result, bail};
use sekisho_proto::{AuditCheckpoint, AuditEvent, AuditFilter, AuditPage};

use crate::config::Config;
use crate::http::Api;

/// The gateway serves at most this many events per request.
pub const MAX_PAGE: u32 = 10_000;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show or export audit events (監査ログの表示・書き出し).
    Log(log::Args),
    /// Pin the gateway's audit signing key on this computer (監査鍵の登録).
    Pin(pin::Args),
    /// Check the whole audit log and its signed checkpoints on this computer (監査ログの検証).
    Verify(verify::Args),
    /// Print the latest signed checkpoint, or have the gateway sign one now (チェックポイント).
    Checkpoint(checkpoint::Args),
    /// Write the yearly self-inspection report, policy 9.(1) (年次自己点検報告).
    Report(report::Args),
}

pub fn run(cfg: &Config, cmd: Command) -> Result<()> {
    match cmd {
        Command::Log(args) => log::run(cfg, args),
        Command::Pin(args) => pin::run(cfg, args),
        Command::Verify(args) => verify::run(cfg, args),
        Command::Checkpoint(args) => checkpoint::run(cfg, args),
        Command::Report(args) => report::run(cfg, args),
    }
}

/// Pages through `GET /audit/events` in sequence order, handing each page
/// to `on_page` until the gateway says there is no more or `on_page`
/// returns false. Pages are not collected, so a million-event log needs no
/// more memory than one page.
pub fn for_each_page(
    api: &Api,
    filter: &AuditFilter,
    page_size: u32,
    mut on_page: impl FnMut(&[AuditEvent]) -> Result<bool>,
) -> Result<()> {
    let page_size = page_size.clamp(1, MAX_PAGE);
    let mut after: i64 = 0;
    loop {
        let mut url = api.url(&["audit", "events"])?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("after", &after.to_string())
                .append_pair("limit", &page_size.to_string());
            for (name, value) in [
                ("since", &filter.since),
                ("until", &filter.until),
                ("actor", &filter.actor),
                ("action", &filter.action),
                ("object", &filter.object),
                ("class", &filter.class),
                ("outcome", &filter.outcome),
            ] {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            }
        }
        let page: AuditPage = api
            .get(url)
            .context("could not read the audit log from the gateway")?;
        if !on_page(&page.events)? {
            return Ok(());
        }
        match page.next_after {
            None => return Ok(()),
            // A cursor that does not move forward would loop for ever.
            Some(next) if next <= after => bail!(
                "the gateway's audit paging went backwards (after {after} came {next}); the log cannot be read. Tell your CISO."
            ),
            Some(next) => after = next,
        }
    }
}

/// The gateway's signed checkpoints, oldest first.
pub fn fetch_checkpoints(api: &Api) -> Result<Vec<AuditCheckpoint>> {
    api.get(api.url(&["audit", "checkpoints"])?)
        .context("could not read the signed checkpoints from the gateway")
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use sekisho_proto::vocab::Outcome;

    use crate::cli::{Cli, Command};

    #[test]
    fn audit_arguments_parse_and_refuse_mistakes() {
        let log = Cli::try_parse_from([
            "sekisho",
            "audit",
            "log",
            "--since",
            "2026-04-01",
            "--until",
            "2026-05-01T09:00:00+09:00",
            "--class",
            "II",
            "--outcome",
            "denied",
            "--format",
            "csv",
        ]);
        match log.map(|c| c.command) {
            Ok(Command::Audit(super::Command::Log(args))) => {
                assert_eq!(args.since.as_deref(), Some("2026-04-01T00:00:00Z"));
                assert_eq!(args.until.as_deref(), Some("2026-05-01T00:00:00Z"));
                assert_eq!(args.outcome, Some(Outcome::Denied));
            }
            other => panic!("unexpected parse: {other:?}"),
        }
        for bad in [
            ["sekisho", "audit", "log", "--since", "2026/04/01"],
            ["sekisho", "audit", "log", "--class", "IV"],
            ["sekisho", "audit", "log", "--outcome", "maybe"],
            ["sekisho", "audit", "report", "--year", "26"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin"]).is_err());
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin", "--fetch", "--key", "x"]).is_err());
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin", "--fetch"]).is_ok());
        assert!(Cli::try_parse_from(["sekisho", "audit", "verify"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "sekisho",
                "audit",
                "verify",
                "--checkpoint",
                "a.json",
                "--checkpoint",
                "b.json"
            ])
            .is_ok()
        );
        let page = |n: &str| Cli::try_parse_from(["sekisho", "audit", "verify", "--page-size", n]);
        assert!(page("10000").is_ok());
        assert!(page("10001").is_err());
        assert!(page("0").is_err());
    }
}
