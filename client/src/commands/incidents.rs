//! `incidents [escalate|close]`: malware incidents opened for infected
//! files. Without a subcommand, the list; managers escalate an incident to
//! the approvers and the CISO, and it is closed with a note of what was
//! done. Who may do what is the gateway's decision.

use anyhow::Result;
use sekisho_proto::inbound::{CloseIncident, IncidentView};

use super::values;
use crate::config::Config;
use crate::output::{Table, print_json, short_time};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Hand an incident to the approvers and the CISO (managers).
    Escalate {
        /// Incident id.
        id: String,
    },
    /// Close an incident with a note of what was done.
    Close {
        /// Incident id.
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        note: String,
    },
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let changed: IncidentView = match args.action {
        None => {
            let all: Vec<IncidentView> = api.get(api.url(&["incidents"])?)?;
            if cfg.json {
                return print_json(&all);
            }
            if all.is_empty() {
                println!("No incidents.");
                return Ok(());
            }
            let mut table = Table::new([
                "ID",
                "OPENED",
                "STATE",
                "ENGINE",
                "SIGNATURE",
                "DIGEST",
                "UPLOADER",
                "LINK",
            ]);
            for i in &all {
                table.row([
                    i.id.clone(),
                    short_time(&i.opened_at),
                    i.state.to_string(),
                    i.engine.clone(),
                    i.signature.clone(),
                    i.digest.clone(),
                    i.uploader.clone(),
                    i.request_id.clone().unwrap_or_default(),
                ]);
            }
            table.print();
            return Ok(());
        }
        Some(Action::Escalate { id }) => {
            api.post_empty(api.url(&["incidents", &id, "escalate"])?)?
        }
        Some(Action::Close { id, note }) => api.post(
            api.url(&["incidents", &id, "close"])?,
            &CloseIncident { note },
        )?,
    };
    if cfg.json {
        return print_json(&changed);
    }
    println!("Incident {} is now {}.", changed.id, changed.state);
    Ok(())
}
