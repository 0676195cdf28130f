//! `pending`: everything waiting for this user's decision: medium wipe and
//! disposal requests, disposals of stored content, and transfers, each
//! described in full with the command that decides it.

use anyhow::Result;
use sekisho_proto::{RevocationView, Role, UserInfo};

use super::list::{self, Scope};
use crate::config::Config;
use crate::output::{print_json, short_time};

pub fn run(cfg: &Config) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let transfers = list::fetch(&api, Scope::Pending)?;
    if cfg.json {
        return print_json(&transfers);
    }
    let me: UserInfo = api.get(api.url(&["whoami"])?)?;
    if matches!(me.role, Role::Approver | Role::Ciso) {
        let revoked: Vec<RevocationView> = api.get(api.url(&["revocations"])?)?;
        print!("{}", describe_revocations(&revoked));
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

/// 6.(1)⑧(エ): what the approver let out and was revoked since (30 days).
fn describe_revocations(revoked: &[RevocationView]) -> String {
    if revoked.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "承認した送信のうち取り消されたもの（30日以内） / Transfers you approved that were revoked (last 30 days): {}\n",
        revoked.len()
    );
    for r in revoked {
        out.push_str(&format!(
            "  {} {} {} (sender {}; approved {}, revoked {} by {})\n    reason: {}\n",
            r.transfer_id,
            r.class.label_ja(),
            r.purpose,
            r.sender,
            short_time(&r.approved_at),
            short_time(&r.revoked_at),
            r.revoked_by.as_deref().unwrap_or("-"),
            r.reason.as_deref().unwrap_or("(none given)"),
        ));
    }
    out.push_str(&format!("{}\n", "-".repeat(60)));
    out
}
