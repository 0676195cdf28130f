//! Everything done to existing transfers: `list`, `show`, `revoke`, `link`,
//! `pending`, `approve` and `reject`.
//!
//! Approval is the one decision in Sekisho that lets class I/II data leave
//! the office, so `approve` does not take the gateway's word for what it is
//! approving: it recomputes the content digest from the file list it shows
//! the approver, refuses if that differs from the digest the gateway states,
//! and binds the approval to the digest it computed itself. A fresh TOTP
//! code is asked for at the moment of decision (step-up), not reused from
//! login.

use anyhow::{Context, Result, bail};
use sekisho_proto::{
    ApproveRequest, Decision, LinkState, LinkView, RejectRequest, TransferState, TransferSummary,
    TransferView, content_digest,
};

use crate::cli::ListArgs;
use crate::config::Config;
use crate::http::Api;
use crate::output::{Table, human_size, print_json, short_time};

pub fn list(cfg: &Config, args: &ListArgs) -> Result<()> {
    let scope = if args.all {
        "all"
    } else if args.pending {
        "pending"
    } else {
        "mine"
    };
    let (api, _session) = super::logged_in(cfg)?;
    let transfers = fetch_list(&api, scope)?;
    if cfg.json {
        return print_json(&transfers);
    }
    if transfers.is_empty() {
        println!(
            "{}",
            match scope {
                "pending" => "No transfers are waiting for a decision.",
                "all" => "There are no transfers.",
                _ => "You have no transfers yet; send files with `sekisho send`.",
            }
        );
        return Ok(());
    }
    let mut table = Table::new([
        "ID",
        "STATE 状態",
        "CLASS 重要性",
        "RECIPIENTS 宛先",
        "FILES",
        "SIZE",
        "CREATED",
    ]);
    for t in &transfers {
        table.row([
            t.id.clone(),
            t.state.label().to_string(),
            t.class.label_ja(),
            t.recipients.join(", "),
            t.file_count.to_string(),
            human_size(t.total_size),
            short_time(&t.created_at),
        ]);
    }
    table.print();
    Ok(())
}

fn fetch_list(api: &Api, scope: &str) -> Result<Vec<TransferSummary>> {
    let mut url = api.url(&["transfers"])?;
    url.query_pairs_mut().append_pair("scope", scope);
    api.get(url)
}

fn fetch(api: &Api, id: &str) -> Result<TransferView> {
    api.get(api.url(&["transfers", id])?)
        .with_context(|| format!("could not fetch transfer {id}"))
}

pub fn show(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let view = fetch(&api, id)?;
    if cfg.json {
        return print_json(&view);
    }
    print!("{}", describe(&view));
    Ok(())
}

pub fn revoke(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let view: TransferView = api
        .post_empty(api.url(&["transfers", id, "revoke"])?)
        .with_context(|| format!("transfer {id} was not revoked"))?;
    if cfg.json {
        return print_json(&view);
    }
    println!(
        "Transfer {} is now {}; its links no longer work.",
        view.id,
        view.state.label()
    );
    Ok(())
}

pub fn link(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let links: Vec<LinkView> = api
        .get(api.url(&["transfers", id, "links"])?)
        .with_context(|| format!("could not fetch the links of transfer {id}"))?;
    if cfg.json {
        return print_json(&links);
    }
    if links.is_empty() {
        println!(
            "Transfer {id} has no links yet (it may still be waiting for approval; see `sekisho show {id}`)."
        );
        return Ok(());
    }
    for l in &links {
        println!("{}:", l.recipient);
        println!("  URL:       {}", l.url);
        println!("  State:     {}", link_state_label(l.state));
        println!("  Downloads: {}/{}", l.downloads, l.max_downloads);
        println!("  Expires:   {}", short_time(&l.expires_at));
        if l.needs_passphrase {
            println!(
                "  This package is locked with a passphrase. Tell {} the passphrase by telephone; never write it in the same e-mail as the link.",
                l.recipient
            );
        }
    }
    Ok(())
}

pub fn pending(cfg: &Config) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let list = fetch_list(&api, "pending")?;
    if cfg.json {
        return print_json(&list);
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
    if list.is_empty() {
        println!("No transfers are waiting for a decision.");
        return Ok(());
    }
    // The list answer has no files or fingerprints, and an approver must
    // see both before deciding, so each transfer is fetched in full.
    for (i, summary) in list.iter().enumerate() {
        if i > 0 {
            println!("{}", "-".repeat(60));
        }
        let view = fetch(&api, &summary.id)?;
        print!("{}", describe(&view));
        println!(
            "  Decide with `sekisho approve {}` or `sekisho reject {} --reason TEXT`.",
            view.id, view.id
        );
    }
    Ok(())
}

pub fn approve(cfg: &Config, id: &str, comment: Option<String>, otp: Option<String>) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    // Disposal and medium requests are decided through the same command.
    if let Some(disposal) = super::deletion::find(&api, id) {
        return super::deletion::decide(cfg, &api, &disposal, true, comment, otp);
    }
    if let Some(done) =
        super::media::try_decide(cfg, &api, id, true, comment.as_deref(), otp.as_deref())
    {
        return done;
    }
    let view = fetch(&api, id)?;
    require_pending(&view)?;
    let digest = verified_digest(&view)?;
    if !cfg.json {
        print!("{}", describe(&view));
        println!("Content digest checked on this computer: it matches.");
    }
    let otp = crate::prompt::otp(
        otp,
        "To approve, type a fresh code from your authenticator app: ",
    )?;
    let request = ApproveRequest {
        content_digest: digest,
        otp: otp.to_string(),
        comment: comment
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
    };
    let decided: TransferView = api
        .post(api.url(&["transfers", id, "approve"])?, &request)
        .with_context(|| format!("transfer {id} was not approved"))?;
    if cfg.json {
        return print_json(&decided);
    }
    println!(
        "Transfer {} approved; it is now {}.",
        decided.id,
        decided.state.label()
    );
    if decided.state == TransferState::Released {
        println!(
            "The sender can now see the download links with `sekisho link {}`.",
            decided.id
        );
    }
    Ok(())
}

pub fn reject(cfg: &Config, id: &str, reason: &str, otp: Option<String>) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("say why the transfer is rejected with --reason TEXT; the sender reads it");
    }
    let (api, _session) = super::logged_in(cfg)?;
    if let Some(disposal) = super::deletion::find(&api, id) {
        return super::deletion::decide(cfg, &api, &disposal, false, Some(reason.to_string()), otp);
    }
    if let Some(done) = super::media::try_decide(cfg, &api, id, false, Some(reason), otp.as_deref())
    {
        return done;
    }
    let view = fetch(&api, id)?;
    require_pending(&view)?;
    // A mismatch is a reason for alarm, not for leaving the transfer
    // pending: rejecting releases nothing, so warn and let it go ahead.
    let digest_ok = verified_digest(&view);
    if !cfg.json {
        print!("{}", describe(&view));
    }
    if let Err(err) = &digest_ok {
        eprintln!("warning: {err:#}");
    }
    let otp = crate::prompt::otp(
        otp,
        "To reject, type a fresh code from your authenticator app: ",
    )?;
    let request = RejectRequest {
        otp: otp.to_string(),
        reason: reason.to_string(),
    };
    let decided: TransferView = api
        .post(api.url(&["transfers", id, "reject"])?, &request)
        .with_context(|| format!("transfer {id} was not rejected"))?;
    if cfg.json {
        return print_json(&decided);
    }
    println!(
        "Transfer {} rejected; nothing was sent. The sender will see your reason.",
        decided.id
    );
    Ok(())
}

fn require_pending(view: &TransferView) -> Result<()> {
    if view.state != TransferState::PendingApproval {
        bail!(
            "transfer {} is not waiting for a decision (it is {})",
            view.id,
            view.state.label()
        );
    }
    Ok(())
}

/// The digest of the files as listed, if the gateway states the same one.
fn verified_digest(view: &TransferView) -> Result<String> {
    let ours = digest_of(view);
    match view.content_digest.as_deref() {
        Some(theirs) if theirs == ours => Ok(ours),
        Some(_) => bail!(
            "the gateway's content digest for transfer {} does not match its file list; \
             do NOT approve it, and tell your CISO (the files may have been changed)",
            view.id
        ),
        None => bail!(
            "transfer {} has no content digest yet (its files are not all uploaded); it cannot be decided",
            view.id
        ),
    }
}

fn digest_of(view: &TransferView) -> String {
    content_digest(
        view.files
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    )
}

fn link_state_label(state: LinkState) -> &'static str {
    match state {
        LinkState::Active => "有効 active",
        LinkState::Exhausted => "回数終了 used up",
        LinkState::Expired => "期限切れ expired",
        LinkState::Revoked => "取消 revoked",
    }
}

/// Everything in a transfer, in the order an approver reads it.
fn describe(t: &TransferView) -> String {
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
                link_state_label(link.state),
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
            let _ = writeln!(
                s,
                "  Decision:  {verb} by {} ({}) at {}",
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
mod tests {
    use super::*;
    use sekisho_proto::{Class, FileEntry, Role};

    fn view(stated: Option<String>) -> TransferView {
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
    fn approval_digest_must_match_the_file_list() {
        let good = content_digest([("a.txt", 3, "ab")]);
        assert_eq!(verified_digest(&view(Some(good.clone()))).ok(), Some(good));
        assert!(verified_digest(&view(Some("00".into()))).is_err());
        assert!(verified_digest(&view(None)).is_err());
    }

    #[test]
    fn description_shows_what_an_approver_needs() {
        let text = describe(&view(None));
        for needle in ["重要性II", "alice", "a.txt", "sha256 ab", "approver"] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
