//! `list`: the transfers the user may see, as a table: their own by
//! default, those waiting for a decision with `--pending`, every one with
//! `--all` (managers, auditors; the gateway decides who may).

use anyhow::Result;
use sekisho_proto::TransferSummary;

use crate::config::Config;
use crate::http::Api;
use crate::output::{Table, human_size, print_json, short_time};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Every transfer (managers, auditors).
    #[arg(long, conflicts_with = "pending")]
    pub all: bool,
    /// Transfers waiting for a decision.
    #[arg(long)]
    pub pending: bool,
}

/// Which transfers `GET /transfers?scope=` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Mine,
    Pending,
    All,
}

impl Scope {
    /// The spelling of the gateway's `scope` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Mine => "mine",
            Scope::Pending => "pending",
            Scope::All => "all",
        }
    }
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let scope = if args.all {
        Scope::All
    } else if args.pending {
        Scope::Pending
    } else {
        Scope::Mine
    };
    let (api, _session) = super::logged_in(cfg)?;
    let transfers = fetch(&api, scope)?;
    if cfg.json {
        return print_json(&transfers);
    }
    if transfers.is_empty() {
        println!(
            "{}",
            match scope {
                Scope::Pending => "No transfers are waiting for a decision.",
                Scope::All => "There are no transfers.",
                Scope::Mine => "You have no transfers yet; send files with `sekisho send`.",
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

/// The summaries of one scope (no files or fingerprints: see `show`).
pub fn fetch(api: &Api, scope: Scope) -> Result<Vec<TransferSummary>> {
    let mut url = api.url(&["transfers"])?;
    url.query_pairs_mut().append_pair("scope", scope.as_str());
    api.get(url)
}
