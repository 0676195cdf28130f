//! `revoke`: withdraw a transfer before approval, or revoke its download
//! links after release; the gateway decides which applies.

use anyhow::{Context, Result};
use sekisho_proto::{RevokeRequest, TransferView};

use crate::config::Config;
use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
    /// Why (a wrong recipient, a wrong file): the approver who let the
    /// transfer out is shown it.
    #[arg(long)]
    pub reason: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let id = &args.id;
    let (api, _session) = super::logged_in(cfg)?;
    let view: TransferView = api
        .post(
            api.url(&["transfers", id, "revoke"])?,
            &RevokeRequest {
                reason: args.reason.clone(),
            },
        )
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
