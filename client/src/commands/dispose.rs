//! `dispose`: ask for stored content to be securely deleted before its
//! time. Class III is deleted at once; class I/II waits for an approver
//! (policy 2.(2)⑩(ウ)), who decides with `approve` or `reject`.

use anyhow::{Context, Result, bail};
use sekisho_proto::deletion::{DisposalState, DisposalView, DisposeRequest};

use super::deletion::describe;
use super::values;
use crate::config::Config;
use crate::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Transfer id whose stored content should be securely deleted.
    pub id: String,
    /// Why; the approver and the deletion certificate show it.
    #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
    pub reason: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let object = args.id.as_str();
    let reason = args.reason.trim();
    if reason.is_empty() {
        bail!("say why the content should be disposed of with --reason TEXT");
    }
    let (api, _session) = super::logged_in(cfg)?;
    let request = DisposeRequest {
        object: object.to_string(),
        reason: reason.to_string(),
    };
    let view: DisposalView = api
        .post(api.url(&["disposals"])?, &request)
        .with_context(|| format!("the disposal of {object} was not requested"))?;
    if cfg.json {
        return print_json(&view);
    }
    println!("Disposal request {} recorded.", view.id);
    print!("{}", describe(&view));
    match view.state {
        DisposalState::Requested => println!(
            "{} content needs the approver's permission before it is deleted (policy 2.(2)⑩(ウ)).",
            view.class.label_ja()
        ),
        _ => println!(
            "The content was securely deleted. The certificate: `sekisho deletion show {}`.",
            view.object
        ),
    }
    Ok(())
}
