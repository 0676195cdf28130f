//! `approve`: the one decision in Sekisho that lets class I/II data leave
//! the office, so it does not take the gateway's word for what it is
//! approving: it recomputes the content digest from the file list it shows
//! the approver, refuses if that differs from the digest the gateway
//! states, and binds the approval to the digest it computed itself. A
//! fresh TOTP code is asked for at the moment of decision (step-up), not
//! reused from login. The same command decides disposal and medium
//! requests, whose ids it tries first.

use anyhow::{Context, Result, bail};
use sekisho_proto::{ApproveRequest, TransferState, TransferView, content_digest};

use super::show::{describe, fetch};
use crate::config::Config;
use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
    /// A note kept with the decision.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// A fresh code from your authenticator app (asked for if left out).
    #[arg(long, value_name = "CODE")]
    pub otp: Option<String>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let Args { id, comment, otp } = args;
    let id = id.as_str();
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

/// Refuses a transfer that is not waiting for a decision.
pub fn require_pending(view: &TransferView) -> Result<()> {
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
pub fn verified_digest(view: &TransferView) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::show::tests::view;

    #[test]
    fn approval_digest_must_match_the_file_list() {
        let good = content_digest([("a.txt", 3, "ab")]);
        assert_eq!(verified_digest(&view(Some(good.clone()))).ok(), Some(good));
        assert!(verified_digest(&view(Some("00".into()))).is_err());
        assert!(verified_digest(&view(None)).is_err());
    }
}
