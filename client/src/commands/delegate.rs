//! `delegate`: stand-in approvers (代理承認). An approver (or the CISO)
//! names who decides their queue while they are away; a sysadmin may do it
//! for them with `--for`. Without `--to` or `--clear` it lists the
//! stand-ins whose period has not ended.

use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use sekisho_proto::{DelegationView, SetDelegation, UserInfo};

use crate::config::Config;
use crate::output::{print_json, short_time};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The stand-in: another approver, or the CISO.
    #[arg(long, value_name = "USER", conflicts_with = "clear")]
    pub to: Option<String>,
    /// The last day of the period (YYYY-MM-DD, Japan time, included).
    #[arg(long, value_name = "DATE", requires = "to")]
    pub until: Option<String>,
    /// The first day (YYYY-MM-DD); from now when left out.
    #[arg(long, value_name = "DATE", requires = "to")]
    pub from: Option<String>,
    /// End the stand-in now.
    #[arg(long)]
    pub clear: bool,
    /// The approver it is for (sysadmins); yourself when left out.
    #[arg(long = "for", value_name = "APPROVER")]
    pub approver: Option<String>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let (api, _) = super::logged_in(cfg)?;
    let approver = match &args.approver {
        Some(name) => name.trim().to_string(),
        None if args.to.is_some() || args.clear => {
            let me: UserInfo = api.get(api.url(&["whoami"])?)?;
            me.username
        }
        None => String::new(),
    };
    if args.clear {
        api.delete_no_answer(api.url(&["delegations", &approver])?)?;
        if !cfg.json {
            println!(
                "{approver} の代理承認を終了しました。{approver} decides their own queue again."
            );
        }
        return Ok(());
    }
    if let Some(stand_in) = &args.to {
        let Some(until) = &args.until else {
            bail!("say until when: --until YYYY-MM-DD (the last day the stand-in decides)");
        };
        let set: DelegationView = api.put(
            api.url(&["delegations", &approver])?,
            &SetDelegation {
                stand_in: stand_in.trim().to_string(),
                from: args.from.clone(),
                until: until.trim().to_string(),
            },
        )?;
        if cfg.json {
            return print_json(&set);
        }
        println!(
            "{} さんが {} から {} まで（UTC）{} さんの代理で承認します。{} stands in for {} from {} until {} (UTC).",
            set.stand_in,
            short_time(&set.starts_at),
            short_time(&set.ends_at),
            set.approver,
            set.stand_in,
            set.approver,
            short_time(&set.starts_at),
            short_time(&set.ends_at),
        );
        return Ok(());
    }
    let list: Vec<DelegationView> = api.get(api.url(&["delegations"])?)?;
    if cfg.json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("代理承認者はいません。No stand-ins are named.");
        return Ok(());
    }
    for d in &list {
        println!(
            "{} → {} ({}), {} – {} UTC{} (set by {})",
            d.approver,
            d.stand_in,
            d.stand_in_role,
            short_time(&d.starts_at),
            short_time(&d.ends_at),
            if d.in_effect { ", in effect" } else { "" },
            d.set_by
        );
    }
    Ok(())
}
