//! `link`: the download links of a transfer, for the sender to pass on,
//! with the reminder that a passphrase goes by telephone, never with the
//! link.

use anyhow::{Context, Result};
use sekisho_proto::{LinkState, LinkView};

use crate::config::Config;
use crate::output::{print_json, short_time};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id.
    pub id: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let id = &args.id;
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
        println!("  State:     {}", state_label(l.state));
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

/// A link's state as staff read it (Japanese first).
pub fn state_label(state: LinkState) -> &'static str {
    match state {
        LinkState::Active => "有効 active",
        LinkState::Exhausted => "回数終了 used up",
        LinkState::Expired => "期限切れ expired",
        LinkState::Revoked => "取消 revoked",
    }
}
