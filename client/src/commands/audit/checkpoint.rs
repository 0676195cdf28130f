//! `audit checkpoint`: a signed statement of the log's head, to keep
//! elsewhere.
//!
//! A checkpoint that stays only on the gateway can be deleted together with
//! the events it covers. Printed, mailed or handed to another system, it
//! lets anyone prove later (`audit verify --checkpoint FILE`) that events
//! up to it were neither changed nor cut off. So stdout (or `--output`)
//! carries the checkpoint JSON alone, ready to be saved as that file, and
//! the explanation for people goes to stderr.

use anyhow::{Context, Result, bail};
use sekisho_proto::{AuditCheckpoint, verify_checkpoint};
use std::io::Write;

use super::files::Sink;
use super::pin;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Have the gateway sign its current head now instead of showing the latest checkpoint.
    #[arg(long)]
    pub new: bool,
    /// Write the checkpoint to this new file (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let (api, _session) = crate::commands::logged_in(cfg)?;
    // Open the file first: a name already taken is refused before the
    // gateway is asked to sign anything.
    let mut sink = Sink::open(args.output.as_deref())?;
    let checkpoint: AuditCheckpoint = if args.new {
        api.post_empty(api.url(&["audit", "checkpoints"])?)
            .context("the gateway did not sign a new checkpoint")?
    } else {
        match super::fetch_checkpoints(&api)?.pop() {
            Some(latest) => latest,
            None => bail!(
                "the gateway has no signed checkpoint yet; have it sign one with `sekisho audit checkpoint --new`"
            ),
        }
    };

    let pinned = pin::load(cfg)?;
    match &pinned {
        Some(pin) => {
            if let Err(why) = verify_checkpoint(&pin.public_key, &checkpoint) {
                bail!(
                    "the gateway's checkpoint #{} does not verify with the audit key pinned on this computer ({why}); it is not worth keeping. \
                     Run `sekisho audit verify` and tell your CISO.",
                    checkpoint.seq
                );
            }
        }
        None => eprintln!(
            "warning: no audit key is pinned on this computer, so this checkpoint's signature was not checked; pin the key with `sekisho audit pin --key KEY`."
        ),
    }

    let text =
        serde_json::to_string_pretty(&checkpoint).context("could not encode the checkpoint")?;
    writeln!(sink, "{text}").context("could not write the checkpoint")?;
    sink.finish()?;

    if !cfg.json {
        explain(&checkpoint, args.output.as_deref(), pinned.is_some());
    }
    Ok(())
}

fn explain(checkpoint: &AuditCheckpoint, output: Option<&std::path::Path>, checked: bool) {
    eprintln!();
    eprintln!(
        "This is a signed checkpoint of the audit log (監査ログのチェックポイント): the gateway's signed statement that the log had {} events at {}, \
         and that the last one's hash was {}.",
        checkpoint.seq, checkpoint.at, checkpoint.head_hash
    );
    if checked {
        eprintln!("Its signature was checked with the audit key pinned on this computer.");
    }
    eprintln!(
        "Keep a copy OFF the gateway (ゲートウェイの外に保管してください): print it, e-mail it to yourself, or give it to another system. \
         Whoever controls the gateway could delete its own copy."
    );
    match output {
        Some(path) => eprintln!(
            "Saved in {}. Later, `sekisho audit verify --checkpoint {}` proves that events #1..#{} were neither changed nor cut off.",
            path.display(),
            path.display(),
            checkpoint.seq
        ),
        None => eprintln!(
            "Save the JSON above as a file; later, `sekisho audit verify --checkpoint FILE` proves that events #1..#{} were neither changed nor cut off.",
            checkpoint.seq
        ),
    }
}
