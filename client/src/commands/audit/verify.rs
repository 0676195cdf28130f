//! `audit verify`: checking the whole audit log on the auditor's computer.
//!
//! Three things are checked, none of them by asking the gateway:
//!
//! - the hash chain: every event is downloaded and fed to
//!   `sekisho_proto::ChainVerifier`, which names the first event that was
//!   changed, removed, inserted or reordered;
//! - the start: a log shortened by retention must begin right after a
//!   signed checkpoint, or whoever cut it could have cut anything;
//! - the checkpoints (the gateway's list, files given with `--checkpoint`,
//!   and the one the last successful run saved here): each must carry a
//!   valid signature from the pinned key, and the chain must still hold the
//!   head hash each one signed. A checkpoint beyond the end of the log means
//!   events were cut off the end; one whose hash no longer matches means the
//!   log was rewritten and re-hashed, which the chain alone cannot see.
//!
//! [`Checker`] (in `sekisho_proto::report::checker`, shared with the
//! gateway's console) does the work on events handed to it and knows
//! nothing about the network, so it is tested with hand-made chains;
//! [`verify_gateway`] feeds it from the gateway. Hashes of good events are kept as 32 bytes
//! each (32 MB for a million events) so any checkpoint can be compared.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sekisho_proto::{AuditCheckpoint, AuditEvent, AuditFilter};
use serde::{Deserialize, Serialize};

use super::files;
use super::pin::{self, PinnedKey};
use crate::config::Config;
use crate::http::Api;
use crate::output::print_json;

pub use sekisho_proto::report::checker::{Checker, Origin, Verification};

/// `$SEKISHO_HOME/audit-state.json`: the newest checkpoint a successful
/// verification accepted. Next time it is checked like any other, so a
/// gateway that later cuts its log short, or drops the checkpoint from its
/// own list, is caught.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    pub gateway: String,
    pub verified_at: String,
    pub events_checked: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub checkpoint: AuditCheckpoint,
}

const STATE_WHAT: &str = "the saved verification state";

fn state_path(cfg: &Config) -> PathBuf {
    cfg.home.join("audit-state.json")
}

fn read_checkpoint_file(path: &Path) -> Result<AuditCheckpoint> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("could not read the checkpoint file {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a checkpoint; give a file written by `sekisho audit checkpoint --output FILE`",
            path.display()
        )
    })
}

fn unpinned_warning() -> String {
    "no audit key is pinned on this computer, so checkpoint signatures were NOT checked: a gateway that rewrote its whole log could also have made up its checkpoints. \
     Pin the key the operator printed with `sekisho-gateway audit-key --dir DIR`: run `sekisho audit pin --key KEY` (or `sekisho audit pin --fetch` and compare the fingerprint)."
        .to_string()
}

/// Downloads the whole log and every checkpoint and checks them here.
/// `on_event` sees every downloaded event (the report counts them), good
/// or bad. Only failures to talk to the gateway are errors; everything
/// wrong with the log is in the returned [`Verification`].
pub fn verify_gateway(
    cfg: &Config,
    api: &Api,
    gateway: &str,
    checkpoint_files: &[PathBuf],
    page_size: u32,
    mut on_event: impl FnMut(&AuditEvent),
) -> Result<(Verification, Option<PinnedKey>)> {
    let pinned = pin::load(cfg)?;
    let mut warnings = Vec::new();
    let mut early_problems = Vec::new();
    match &pinned {
        None => warnings.push(unpinned_warning()),
        Some(p) if !p.gateway.is_empty() && p.gateway != gateway => warnings.push(format!(
            "the audit key was pinned for {} but you are logged in to {gateway}; if this gateway has its own key, its checkpoints will not verify",
            p.gateway
        )),
        Some(_) => {}
    }

    // Off-gateway copies first, so messages name them rather than the
    // gateway when both hold the same checkpoint.
    let mut checkpoints = Vec::new();
    for path in checkpoint_files {
        checkpoints.push((read_checkpoint_file(path)?, Origin::File(path.clone())));
    }
    match files::load_json::<SavedState>(&state_path(cfg), STATE_WHAT) {
        Ok(None) => {}
        Ok(Some(saved)) if saved.gateway == gateway => {
            checkpoints.push((saved.checkpoint, Origin::Saved));
        }
        Ok(Some(saved)) => warnings.push(format!(
            "the checkpoint saved by the last verification is for {}, not {gateway}, so it was not used",
            saved.gateway
        )),
        // A damaged record of what we saw last time is itself suspicious.
        Err(e) => early_problems.push(format!("{e:#}")),
    }
    // Read before the events: a checkpoint made while we download must
    // not look like a log that was cut short.
    for checkpoint in super::fetch_checkpoints(api)? {
        checkpoints.push((checkpoint, Origin::Gateway));
    }

    let mut checker = Checker::new(pinned.as_ref().map(|p| p.public_key.as_str()), checkpoints);
    let bar = progress(cfg.json);
    let mut downloaded: u64 = 0;
    super::for_each_page(api, &AuditFilter::default(), page_size, |events| {
        for event in events {
            checker.push(event);
            on_event(event);
        }
        downloaded += events.len() as u64;
        bar.set_message(format!("Checking audit events: {downloaded}"));
        Ok(true)
    })?;
    bar.finish_and_clear();

    let mut result = checker.finish();
    if !early_problems.is_empty() {
        result.problems.extend(early_problems);
        result.verified = false;
    }
    if result.latest_checkpoint.is_none() && result.verified {
        warnings.push(
            "there is no signed checkpoint yet, so events cut off the end of the log would go unnoticed; \
             make one with `sekisho audit checkpoint --new --output FILE` and keep the file off the gateway"
                .to_string(),
        );
    }
    result.warnings = warnings;
    Ok((result, pinned))
}

fn progress(json: bool) -> indicatif::ProgressBar {
    if !crate::output::bars_visible(json) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_message("Checking audit events");
    bar
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A checkpoint saved earlier with `sekisho audit checkpoint --output FILE`
    /// (repeatable); kept off the gateway, it proves the log was not cut short.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
    /// Events fetched per request.
    #[arg(long, value_name = "N", default_value_t = super::MAX_PAGE,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(super::MAX_PAGE)))]
    pub page_size: u32,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let (api, session) = crate::commands::logged_in(cfg)?;
    let (result, pinned) = verify_gateway(
        cfg,
        &api,
        &session.gateway,
        &args.checkpoints,
        args.page_size,
        |_| {},
    )?;
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }

    // Remembered only after a clean run: a bad log must not become the
    // reference the next run trusts.
    let mut saved_in = None;
    if result.verified
        && let Some(checkpoint) = &result.latest_checkpoint
    {
        let state = SavedState {
            gateway: session.gateway.clone(),
            verified_at: super::times::now(),
            events_checked: result.events_checked,
            head_seq: result.last_seq,
            head_hash: result.head_hash.clone(),
            checkpoint: checkpoint.clone(),
        };
        let path = state_path(cfg);
        files::save_json(&path, &state, STATE_WHAT)?;
        saved_in = Some(path);
    }

    if cfg.json {
        print_json(&result)?;
    } else {
        print_text(&result, pinned.as_ref(), saved_in.as_deref());
    }
    if result.verified {
        Ok(())
    } else {
        Err(crate::commands::Failed.into())
    }
}

fn print_text(result: &Verification, pinned: Option<&PinnedKey>, saved_in: Option<&Path>) {
    if result.verified {
        println!(
            "audit log verified: {} events, head hash {}",
            result.events_checked, result.head_hash
        );
        println!("監査ログの検証に成功しました。");
        if let Some(first) = result.first_seq.filter(|&f| f > 1) {
            println!(
                "  The log starts at event #{first} (older events were removed by retention); it continues from signed checkpoint #{}.",
                first - 1
            );
        }
        match pinned {
            Some(pin) => println!(
                "  Checkpoints verified: {} (signatures checked with the pinned key {})",
                result.checkpoints_verified, pin.fingerprint
            ),
            None => println!(
                "  Checkpoints verified: {} (against the chain only; signatures NOT checked)",
                result.checkpoints_verified
            ),
        }
        if let Some(cp) = &result.latest_checkpoint {
            println!("  Latest checkpoint: #{} signed at {}", cp.seq, cp.at);
        }
        if let Some(path) = saved_in {
            println!(
                "  Saved as the reference for the next verification: {}",
                path.display()
            );
        }
        return;
    }

    let mut rest: Vec<&String> = result.problems.iter().collect();
    match &result.first_bad {
        Some(bad) => {
            println!("audit log BROKEN at event #{}: {}", bad.seq, bad.reason);
            let headline = format!("audit log BROKEN at event #{}: {}", bad.seq, bad.reason);
            rest.retain(|p| **p != headline && **p != bad.reason);
        }
        None => println!("audit log NOT VERIFIED"),
    }
    println!("監査ログに問題があります (改ざん・削除の疑い)。");
    for problem in rest {
        println!("  - {problem}");
    }
    if result.chain_intact {
        println!(
            "  The hash chain itself holds ({} events, up to event #{}); the problem is in the checkpoints or at the start of the log.",
            result.events_checked, result.last_seq
        );
    } else {
        println!(
            "  {} events verified before the chain broke (up to event #{}); nothing after that can be trusted.",
            result.events_checked, result.last_seq
        );
    }
    if result.checkpoints_rejected > 0 {
        println!(
            "  If the server operator really changed the audit key, compare the new fingerprint with `sekisho-gateway audit-key --dir DIR` and pin it with `sekisho audit pin --key KEY --replace`."
        );
    }
    println!(
        "Do not rely on this log. Keep this output, change nothing on the gateway, and tell your CISO (情報セキュリティ責任者)."
    );
}
