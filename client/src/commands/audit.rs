//! `audit verify`: check the audit log's hash chain on the auditor's own
//! computer.
//!
//! The gateway is the thing being audited, so it is not asked whether its
//! log is intact: every event is fetched page by page and fed to
//! `sekisho_proto::ChainVerifier` here. The head hash is printed so an
//! auditor can write it down and compare it next time, which also catches
//! events cut off the end of the log.

use anyhow::{Result, bail};
use sekisho_proto::{AUDIT_GENESIS, AuditPage, ChainReport, ChainVerifier};
use serde::Serialize;

use crate::cli::AuditCommand;
use crate::config::Config;
use crate::http::Api;
use crate::output::print_json;

#[derive(Serialize)]
struct VerifyOutput<'a> {
    #[serde(flatten)]
    report: &'a ChainReport,
    /// Hash of the last event that verified (the genesis hash when none).
    head_hash: &'a str,
    verified: bool,
}

pub fn run(cfg: &Config, cmd: AuditCommand) -> Result<()> {
    let AuditCommand::Verify { page_size } = cmd;
    let (api, _session) = super::logged_in(cfg)?;
    let (report, head) = verify(&api, page_size)?;

    let ok = report.first_bad.is_none();
    if cfg.json {
        print_json(&VerifyOutput {
            report: &report,
            head_hash: &head,
            verified: ok,
        })?;
    } else {
        match &report.first_bad {
            None => println!(
                "audit log verified: {} events, head hash {}",
                report.events_checked, head
            ),
            Some(bad) => println!("audit log BROKEN at event #{}: {}", bad.seq, bad.reason),
        }
    }
    if ok {
        Ok(())
    } else {
        Err(super::Failed.into())
    }
}

fn verify(api: &Api, page_size: u32) -> Result<(ChainReport, String)> {
    let mut verifier = ChainVerifier::default();
    let mut head = AUDIT_GENESIS.to_string();
    let mut after: i64 = 0;
    'pages: loop {
        let mut url = api.url(&["audit", "events"])?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &page_size.to_string());
        let page: AuditPage = api.get(url)?;
        for event in &page.events {
            if !verifier.push(event) {
                break 'pages;
            }
            head.clone_from(&event.hash);
        }
        match page.next_after {
            None => break,
            // A cursor that does not move forward would loop for ever.
            Some(next) if next <= after => bail!(
                "the gateway's audit paging went backwards (after {after} came {next}); the log cannot be checked. Tell your CISO"
            ),
            Some(next) => after = next,
        }
    }
    Ok((verifier.finish(), head))
}
