//! `revoke`: withdraw a transfer before approval, or revoke its download
//! links after release; the gateway decides which applies.

use anyhow::{Context, Result};
use sekisho_proto::TransferView;

use crate::config::Config;
use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let id = &args.id;
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
