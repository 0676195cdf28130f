//! `show`: everything about one transfer, in the order an approver reads
//! it. [`describe`] is also what `pending`, `approve` and `reject` print,
//! so an approver always sees the same text before deciding.

use anyhow::{Context, Result};
use sekisho_proto::{Decision, TransferView};

use crate::config::Config;
use crate::http::Api;
use crate::output::{human_size, print_json, short_time};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let id = &args.id;
    let (api, _session) = super::logged_in(cfg)?;
    let view = fetch(&api, id)?;
    if cfg.json {
        return print_json(&view);
    }
    print!("{}", describe(&view));
    Ok(())
}

/// One transfer in full: files, recipients, links and decision.
pub fn fetch(api: &Api, id: &str) -> Result<TransferView> {
    api.get(api.url(&["transfers", id])?)
        .with_context(|| format!("could not fetch transfer {id}"))
}

/// Everything in a transfer, in the order an approver reads it.
pub fn describe(t: &TransferView) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "Transfer {}", t.id);
    let _ = writeln!(s, "  Class:     {}", t.class.label_ja());
    let _ = writeln!(s, "  State:     {}", t.state.label());
    let _ = writeln!(s, "  Requester: {} ({})", t.sender, t.sender_role);
    let _ = writeln!(s, "  Purpose:   {}", t.purpose);
    let _ = writeln!(s, "  Created:   {}", short_time(&t.created_at));
    if let Some(at) = &t.released_at {
        let _ = writeln!(s, "  Released:  {}", short_time(at));
    }
    if let Some(at) = &t.revoked_at {
        let _ = writeln!(s, "  Revoked:   {}", short_time(at));
    }
    let _ = writeln!(s, "  Recipients:");
    for r in &t.recipients {
        let _ = writeln!(
            s,
            "    {} — {} <{}>, locked with {}",
            r.name,
            r.organisation,
            r.email,
            super::recipient::key_kind_label(r.key_kind)
        );
        for fp in &r.fingerprints {
            let _ = writeln!(s, "      key {fp}");
        }
        if let Some(link) = &r.link {
            let _ = writeln!(
                s,
                "      link {}, downloads {}/{}, expires {}",
                super::link::state_label(link.state),
                link.downloads,
                link.max_downloads,
                short_time(&link.expires_at)
            );
        }
    }
    let _ = writeln!(
        s,
        "  Files ({}, {}):",
        t.files.len(),
        human_size(t.total_size)
    );
    for f in &t.files {
        let _ = writeln!(s, "    {}  {}", f.name, human_size(f.size));
        let _ = writeln!(s, "      sha256 {}", f.sha256);
    }
    let _ = writeln!(
        s,
        "  Content digest: {}",
        t.content_digest
            .as_deref()
            .unwrap_or("(not yet: files still uploading)")
    );
    match &t.decision {
        Some(d) => {
            let verb = match d.decision {
                Decision::Approved => "Approved",
                Decision::Rejected => "Rejected",
            };
            let stand_in = d
                .on_behalf_of
                .as_deref()
                .map(|absent| format!(" as stand-in for {absent} ({absent} の代理)"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  Decision:  {verb} by {} ({}){stand_in} at {}",
                d.by,
                d.by_role,
                short_time(&d.at)
            );
            if let Some(c) = &d.comment {
                let _ = writeln!(s, "    Comment: {c}");
            }
            let _ = writeln!(s, "    For content digest {}", d.content_digest);
        }
        None => {
            if let Some(role) = t.approval_by {
                let _ = writeln!(s, "  Decision:  none yet; to be made by {role}");
            } else if t.class.needs_approval() {
                let _ = writeln!(s, "  Decision:  none yet");
            } else {
                let _ = writeln!(s, "  Decision:  not needed for {}", t.class.label_ja());
            }
        }
    }
    s
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use sekisho_proto::{Class, FileEntry, Role, TransferState};

    /// A class II transfer of one file waiting for an approver.
    pub fn view(stated: Option<String>) -> TransferView {
        TransferView {
            id: "T1".into(),
            state: TransferState::PendingApproval,
            class: Class::II,
            sender: "alice".into(),
            sender_role: Role::Staff,
            purpose: "p".into(),
            created_at: "2026-11-25T00:00:00Z".into(),
            files: vec![FileEntry {
                name: "a.txt".into(),
                size: 3,
                sha256: "ab".into(),
            }],
            total_size: 3,
            content_digest: stated,
            recipients: vec![],
            decision: None,
            approval_by: Some(Role::Approver),
            released_at: None,
            revoked_at: None,
            medium: None,
            return_by: None,
            written_at: None,
            returned_at: None,
        }
    }

    #[test]
    fn description_shows_what_an_approver_needs() {
        let text = describe(&view(None));
        for needle in ["重要性II", "alice", "a.txt", "sha256 ab", "approver"] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
