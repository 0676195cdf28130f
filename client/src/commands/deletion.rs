//! `deletion show|verify`: the gateway's signed deletion certificates
//! (廃棄証明), read from the gateway or checked offline against the pinned
//! audit key; and what the other commands need to know about disposal
//! requests of stored content (describing, finding and deciding them, for
//! `dispose`, `pending`, `approve` and `reject`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sekisho_proto::deletion::{
    DecideDisposal, DeletionCertificate, DisposalState, DisposalView, verify_certificate,
};

use super::Failed;
use crate::config::Config;
use crate::http::Api;
use crate::output::{human_size, print_json};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the signed certificate of a deleted object.
    Show {
        /// Id of the deleted object (the transfer id).
        id: String,
        /// Also save the certificate (JSON) to this new file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a saved certificate offline against the pinned audit key.
    Verify {
        /// The certificate file.
        file: PathBuf,
        /// The gateway's audit public key (base64); default: the pinned one.
        #[arg(long, value_name = "BASE64")]
        key: Option<String>,
    },
}

pub fn run(cfg: &Config, cmd: Command) -> Result<()> {
    match cmd {
        Command::Show { id, output } => show(cfg, &id, output.as_deref()),
        Command::Verify { file, key } => verify(cfg, &file, key),
    }
}

/// A disposal's state as staff read it (Japanese first).
pub fn state_label(state: DisposalState) -> &'static str {
    match state {
        DisposalState::Requested => "承認待ち waiting for approval",
        DisposalState::Rejected => "却下 rejected",
        DisposalState::KeysDestroyed => "消去中 erasing",
        DisposalState::Complete => "消去済み erased",
    }
}

pub fn describe(d: &DisposalView) -> String {
    let mut out = format!(
        "Disposal request {}\n  Object:    transfer {} ({})\n  State:     {}\n  Reason:    {}\n  Asked by:  {} at {}\n",
        d.id,
        d.object,
        d.class.label_ja(),
        state_label(d.state),
        d.reason,
        d.requested_by,
        d.requested_at
    );
    for f in &d.files {
        out.push_str(&format!(
            "    {}  {}\n      sha256 {}\n",
            f.name,
            human_size(f.size),
            f.sha256
        ));
    }
    if let Some(by) = &d.decided_by {
        out.push_str(&format!(
            "  Decided by {} at {}{}\n",
            by,
            d.decided_at.as_deref().unwrap_or("?"),
            d.decision_comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ));
    }
    out
}

/// Disposal requests waiting for this user's decision.
pub fn pending(api: &Api) -> Result<Vec<DisposalView>> {
    api.get(api.url(&["disposals"])?)
}

/// If `id` names a disposal request this user can see, returns it.
pub fn find(api: &Api, id: &str) -> Option<DisposalView> {
    api.get(api.url(&["disposals", id]).ok()?).ok()
}

pub fn decide(
    cfg: &Config,
    api: &Api,
    request: &DisposalView,
    approve: bool,
    comment: Option<String>,
    otp: Option<String>,
) -> Result<()> {
    if request.state != DisposalState::Requested {
        bail!(
            "disposal request {} is not waiting for a decision (it is {})",
            request.id,
            state_label(request.state)
        );
    }
    if !cfg.json {
        print!("{}", describe(request));
    }
    let verb = if approve { "approve" } else { "reject" };
    let otp = crate::prompt::otp(
        otp,
        &format!("To {verb}, type a fresh code from your authenticator app: "),
    )?;
    let body = DecideDisposal {
        otp: otp.to_string(),
        comment: comment
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
    };
    let decided: DisposalView = api
        .post(api.url(&["disposals", &request.id, verb])?, &body)
        .with_context(|| format!("disposal request {} was not decided", request.id))?;
    if cfg.json {
        return print_json(&decided);
    }
    println!(
        "Disposal request {} is now {}.",
        decided.id,
        state_label(decided.state)
    );
    Ok(())
}

fn show(cfg: &Config, object: &str, output: Option<&Path>) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let certificates: Vec<DeletionCertificate> = api
        .get(api.url(&["deletions", object])?)
        .with_context(|| format!("no deletion certificate for {object}"))?;
    let Some(certificate) = certificates.last() else {
        bail!("{object} has not been deleted");
    };
    if let Some(path) = output {
        let text = serde_json::to_string_pretty(certificate)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .with_context(|| format!("cannot write {} (it must not exist yet)", path.display()))?;
    }
    if cfg.json {
        return print_json(certificate);
    }
    print!("{}", certificate_text(certificate));
    if let Some(path) = output {
        println!(
            "Saved to {}; anyone can check it offline with `sekisho deletion verify {}`.",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn certificate_text(c: &DeletionCertificate) -> String {
    let mut out = format!(
        "廃棄証明 / Deletion certificate {}\n  Object:     transfer {} ({})\n  Method:     {}\n  Reason:     {} ({})\n  Asked by:   {} at {}\n",
        c.deletion_id,
        c.object,
        c.class.label_ja(),
        c.method,
        c.reason,
        c.trigger,
        c.requested_by,
        c.requested_at
    );
    if let Some(by) = &c.approved_by {
        out.push_str(&format!(
            "  Approved:   {} at {}\n",
            by,
            c.approved_at.as_deref().unwrap_or("?")
        ));
    }
    out.push_str(&format!("  Erased at:  {}\n  Files:\n", c.erased_at));
    for f in &c.files {
        out.push_str(&format!(
            "    {}  {}\n      sha256 {}\n",
            f.name,
            human_size(f.size),
            f.sha256
        ));
    }
    out.push_str(&format!("  Signed by gateway key {}\n", c.key_fingerprint));
    out
}

/// Offline: needs only the file and the pinned (or given) audit key.
fn verify(cfg: &Config, file: &Path, key: Option<String>) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let certificate: DeletionCertificate = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a deletion certificate", file.display()))?;
    let key = match key {
        Some(k) => k,
        None => pinned_key(cfg)?,
    };
    let verdict = verify_certificate(&key, &certificate);
    if cfg.json {
        print_json(&serde_json::json!({
            "verified": verdict.is_ok(),
            "problem": verdict.as_ref().err(),
            "certificate": certificate,
        }))?;
    } else {
        match &verdict {
            Ok(()) => {
                print!("{}", certificate_text(&certificate));
                println!("Certificate verified: signed by the pinned gateway key and unchanged.");
            }
            Err(problem) => println!("Certificate NOT valid: {problem}."),
        }
    }
    if verdict.is_err() {
        return Err(Failed.into());
    }
    Ok(())
}

fn pinned_key(cfg: &Config) -> Result<String> {
    let path = cfg.home.join("audit-key.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        "no audit key is pinned on this computer: run `sekisho audit pin --key KEY` with the key the system staff printed, or pass --key".to_string()
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    value["public_key"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{} has no public_key", path.display()))
}
