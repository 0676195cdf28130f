//! `reject`: refuse a transfer (or a disposal or medium request) with a
//! reason the requester reads, after a fresh TOTP code. A content digest
//! that does not match is a reason for alarm, not for leaving the transfer
//! pending: rejecting releases nothing, so it warns and goes ahead.

use anyhow::{Context, Result, bail};
use sekisho_proto::{RejectRequest, TransferView};

use super::approve::{require_pending, verified_digest};
use super::show::{describe, fetch};
use super::values;
use crate::config::Config;
use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
    /// Why the transfer is refused; the sender reads this.
    #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
    pub reason: String,
    /// A fresh code from your authenticator app (asked for if left out).
    #[arg(long, value_name = "CODE")]
    pub otp: Option<String>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let Args { id, reason, otp } = args;
    let id = id.as_str();
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
