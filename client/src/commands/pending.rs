//! `pending`: everything waiting for this user's decision: medium wipe and
//! disposal requests, disposals of stored content, and transfers, each
//! described in full with the command that decides it.

use anyhow::Result;

use super::list::{self, Scope};
use crate::config::Config;
use crate::output::print_json;

pub fn run(cfg: &Config) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let transfers = list::fetch(&api, Scope::Pending)?;
    if cfg.json {
        return print_json(&transfers);
    }
    for d in super::media::pending_disposals(&api)? {
        print!("{}", super::media::describe_disposal(&d));
        println!(
            "  Decide with `sekisho approve {}` or `sekisho reject {} --reason TEXT`.",
            d.id, d.id
        );
        println!("{}", "-".repeat(60));
    }
    let disposals = super::deletion::pending(&api)?;
    for d in &disposals {
        print!("{}", super::deletion::describe(d));
        println!(
            "  Decide with `sekisho approve {}` or `sekisho reject {} --reason TEXT`.",
            d.id, d.id
        );
        println!("{}", "-".repeat(60));
    }
    if transfers.is_empty() {
        println!("No transfers are waiting for a decision.");
        return Ok(());
    }
    // The list answer has no files or fingerprints, and an approver must
    // see both before deciding, so each transfer is fetched in full.
    for (i, summary) in transfers.iter().enumerate() {
        if i > 0 {
            println!("{}", "-".repeat(60));
        }
        let view = super::show::fetch(&api, &summary.id)?;
        print!("{}", super::show::describe(&view));
        println!(
            "  Decide with `sekisho approve {}` or `sekisho reject {} --reason TEXT`.",
            view.id, view.id
        );
    }
    Ok(())
}
