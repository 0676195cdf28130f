//! `inbox request|list|show|classify|get|rescan|original`: files brought
//! in for this user (受け入れ): asking someone outside for files with an
//! upload link, the received files with their scan verdict, sanitisation
//! (無害化) report, class and state, setting the class of a clean file,
//! saving a clean classified file (its sanitised copy), having a held file
//! scanned again, and a manager's release of an original.
//!
//! Nothing received is trusted: `get` checks the name before it touches
//! the disk, streams into a temporary file, checks size and SHA-256, and
//! links the result into place so an existing file is never replaced.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sekisho_proto::inbound::{
    ClassifyRequest, CreateUploadRequest, InboundFileView, ReleaseOriginal, UploadRequestCreated,
};
use sekisho_proto::names;
use sekisho_proto::vocab::{InboundClass, InboundState, SanitiseOutcome};
use sha2::{Digest, Sha256};

use super::values;
use crate::config::Config;
use crate::http::Api;
use crate::output::{Table, human_size, print_json, short_time};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ask someone outside for files; prints the upload link to give them.
    Request {
        /// A name from your address book, or who it is (free text).
        #[arg(long, value_name = "RECIPIENT", value_parser = values::non_blank)]
        from: String,
        /// What the files are for.
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        purpose: String,
        /// How long the link stays usable (default 168 = 7 days).
        #[arg(long = "expires-hours", value_name = "N")]
        expires_hours: Option<u32>,
        /// At most this many files (default 20).
        #[arg(long = "max-files", value_name = "N")]
        max_files: Option<u32>,
        /// At most this many MiB in total (default 2048).
        #[arg(long = "max-mb", value_name = "N")]
        max_mb: Option<u64>,
    },
    /// Files received for you, with their scan verdict, class and state.
    List,
    /// Set the class of a clean file; `unknown` leaves it to a manager.
    Classify {
        /// Inbound file id.
        id: String,
        #[arg(long, value_name = "I|II|III|unknown")]
        class: String,
    },
    /// Save a clean, classified file into a folder (never overwrites).
    Get {
        /// Inbound file id.
        id: String,
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
    },
    /// Scan a held file again, after the engine was fixed (sysadmin).
    Rescan {
        /// Inbound file id.
        id: String,
    },
    /// One file in full: verdict, state and what sanitisation removed.
    Show {
        /// Inbound file id.
        id: String,
    },
    /// Save the original of a sanitised or sanitisation-held file
    /// (manager; needs a reason and a fresh authenticator code).
    Original {
        /// Inbound file id (from the member of staff who received it).
        id: String,
        /// Why the original is needed (kept in the audit log).
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        reason: String,
        /// A fresh code from your authenticator app (asked for if left out).
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
    },
}

pub fn run(cfg: &Config, command: Command) -> Result<()> {
    match command {
        Command::Request {
            from,
            purpose,
            expires_hours,
            max_files,
            max_mb,
        } => request(
            cfg,
            CreateUploadRequest {
                from,
                purpose,
                expires_hours,
                max_files,
                max_mb,
            },
        ),
        Command::List => list(cfg),
        Command::Classify { id, class } => classify(cfg, &id, &class),
        Command::Get { id, output } => get(cfg, &id, &output),
        Command::Rescan { id } => rescan(cfg, &id),
        Command::Show { id } => show(cfg, &id),
        Command::Original {
            id,
            reason,
            otp,
            output,
        } => original(cfg, &id, reason, otp, &output),
    }
}

fn request(cfg: &Config, body: CreateUploadRequest) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let created: UploadRequestCreated = api.post(api.url(&["inbox", "requests"])?, &body)?;
    if cfg.json {
        return print_json(&created);
    }
    println!("Upload link (give it to the sender; it is the permission to upload):");
    println!("  {}", created.url);
    println!(
        "Valid until {}, at most {} files and {} in total.",
        short_time(&created.expires_at),
        created.max_files,
        human_size(created.max_bytes)
    );
    Ok(())
}

/// Every inbound file this user may see (`intake` reads it too).
pub fn files_list(api: &Api) -> Result<Vec<InboundFileView>> {
    api.get(api.url(&["inbox", "files"])?)
}

fn list(cfg: &Config) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let files = files_list(&api)?;
    if cfg.json {
        return print_json(&files);
    }
    if files.is_empty() {
        println!("No files have been received for you.");
        return Ok(());
    }
    let mut table = Table::new([
        "ID",
        "NAME",
        "SIZE",
        "SHA-256",
        "VERDICT",
        "SANITISED",
        "CLASS",
        "STATE",
        "FROM",
    ]);
    for f in &files {
        table.row([
            f.id.clone(),
            f.name.escape_debug().to_string(),
            human_size(f.size),
            f.sha256.chars().take(16).collect::<String>(),
            f.verdict.to_string(),
            sanitised_cell(f),
            f.class.map_or_else(|| "-".into(), |c| c.to_string()),
            f.state.to_string(),
            f.sender.clone(),
        ]);
    }
    table.print();
    if files
        .iter()
        .any(|f| f.sanitised.as_ref().is_some_and(|s| !s.removed.is_empty()))
    {
        println!("What sanitisation removed: sekisho inbox show ID");
    }
    Ok(())
}

/// "rebuilt (3 removed)", "held", "unchanged", "off" or "-".
fn sanitised_cell(f: &InboundFileView) -> String {
    match &f.sanitised {
        None => "-".into(),
        Some(s) if s.outcome == SanitiseOutcome::Rebuilt => {
            format!("{} ({} removed)", s.outcome, s.removed.len())
        }
        Some(s) => s.outcome.to_string(),
    }
}

fn show(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let file = files_list(&api)?
        .into_iter()
        .find(|f| f.id == id)
        .with_context(|| format!("no file {id} was received for you"))?;
    if cfg.json {
        return print_json(&file);
    }
    println!("File:      {}", file.name.escape_debug());
    println!("Id:        {}", file.id);
    println!("From:      {} ({})", file.sender, file.purpose);
    println!("Received:  {}", short_time(&file.received_at));
    println!("Size:      {}", human_size(file.size));
    println!("SHA-256:   {}", file.sha256);
    println!("Verdict:   {}", file.verdict);
    println!(
        "Class:     {}",
        file.class.map_or_else(|| "-".into(), |c| c.to_string())
    );
    println!("State:     {}", file.state);
    match &file.sanitised {
        None => {
            println!("Sanitised: - (not sanitised: not clean, or received before sanitisation)")
        }
        Some(s) => {
            let what = match s.outcome {
                SanitiseOutcome::Rebuilt => "rebuilt without active content; you receive the copy",
                SanitiseOutcome::Unchanged => "nothing to remove; you receive the file as it came",
                SanitiseOutcome::Held => {
                    "could not be sanitised; held (a manager may release the original)"
                }
                SanitiseOutcome::Off => "not sanitised (passed on the malware scan alone)",
            };
            println!(
                "Sanitised: {} — {what} (sanitiser {})",
                s.outcome, s.sanitiser_version
            );
            for line in &s.removed {
                println!("  removed: {}", line.escape_debug());
            }
            if let Some(held) = &s.held {
                println!("  held:    {}", held.escape_debug());
            }
            if s.outcome == SanitiseOutcome::Rebuilt {
                println!(
                    "Original:  {} ({}, SHA-256 {}), kept encrypted",
                    s.original_name.escape_debug(),
                    human_size(s.original_size),
                    s.original_sha256
                );
            }
        }
    }
    Ok(())
}

fn original(cfg: &Config, id: &str, reason: String, otp: Option<String>, dir: &Path) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    if !dir.is_dir() {
        bail!("{} is not a folder; create it first", dir.display());
    }
    let otp = crate::prompt::otp(
        otp,
        "To release the original, type a fresh code from your authenticator app: ",
    )?;
    let request = ReleaseOriginal {
        reason,
        otp: otp.to_string(),
    };
    let response = api.post_stream(api.url(&["inbox", "files", id, "original"])?, &request)?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let sha256 = header("x-sekisho-sha256")
        .context("the gateway did not say the original's SHA-256; nothing was saved")?;
    let size: u64 = header("x-sekisho-size")
        .and_then(|s| s.parse().ok())
        .context("the gateway did not say the original's size; nothing was saved")?;
    // The file's name comes from the listing a manager sees only for
    // files left to them, so the original is saved under its id.
    let saved_name = format!("original-{id}");
    let target = save(dir, &saved_name, size, &sha256, response)?;
    if cfg.json {
        return print_json(&serde_json::json!({
            "id": id, "path": target, "size": size, "sha256": sha256,
        }));
    }
    println!(
        "Saved the original as {} ({}, SHA-256 {} checked). The release is in the audit log.",
        target.display(),
        human_size(size),
        sha256
    );
    println!("It may contain macros or scripts: open it only on an isolated computer.");
    Ok(())
}

/// What a clerk typed as a class: I, II, III (or 1-3, 重要性II) or unknown.
pub fn inbound_class(text: &str) -> Result<InboundClass> {
    InboundClass::parse_lenient(text).map_err(|_| {
        anyhow::anyhow!(
            "'{text}' is not a class: use --class I, II, III or unknown (a manager decides)"
        )
    })
}

fn classify(cfg: &Config, id: &str, class: &str) -> Result<()> {
    let class = inbound_class(class)?;
    let (api, _session) = super::logged_in(cfg)?;
    let view: InboundFileView = api.post(
        api.url(&["inbox", "files", id, "classify"])?,
        &ClassifyRequest { class },
    )?;
    if cfg.json {
        return print_json(&view);
    }
    match view.state {
        InboundState::NeedsManager => println!(
            "{}: the class is left to a manager, who must set it before the file can be used.",
            view.name
        ),
        _ => println!(
            "{}: class {}; get it with `sekisho inbox get {} -o DIR`.",
            view.name,
            view.class.map_or("-", InboundClass::as_str),
            view.id
        ),
    }
    Ok(())
}

fn rescan(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let view: InboundFileView = api.post_empty(api.url(&["inbox", "files", id, "rescan"])?)?;
    if cfg.json {
        return print_json(&view);
    }
    println!("{}: {} ({})", view.name, view.verdict, view.state);
    Ok(())
}

/// Streams the file into DIR: a temporary name, fsync, then a link to the
/// final name that fails rather than overwrite; the digest is checked first.
fn get(cfg: &Config, id: &str, dir: &Path) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    if !dir.is_dir() {
        bail!("{} is not a folder; create it first", dir.display());
    }
    let file = files_list(&api)?
        .into_iter()
        .find(|f| f.id == id)
        .with_context(|| format!("no file {id} was received for you"))?;
    // The class travels with the copy (2.(2)①(イ)): 重要性II_見積書.pdf. A
    // file without a class is refused by the gateway below, before a byte.
    let saved_name = match file.class.and_then(|c| c.class()) {
        Some(class) => sekisho_proto::labelled_file_name(class, &file.name),
        None => file.name.clone(),
    };
    // One plain name inside DIR, whatever the gateway sent.
    let target = names::join_one(dir, &saved_name).map_err(|why| {
        anyhow::anyhow!(
            "the file's name '{}' cannot be used here: {why}",
            file.name.escape_debug()
        )
    })?;
    // The gateway's refusal (class not set, quarantined, held) comes first.
    let response = api.get_stream(api.url(&["inbox", "files", id, "content"])?)?;
    let target = save_at(dir, target, file.size, &file.sha256, response)?;
    if cfg.json {
        return print_json(&serde_json::json!({
            "id": file.id, "path": target, "size": file.size, "sha256": file.sha256,
        }));
    }
    println!(
        "Saved {} ({}, SHA-256 {} checked).",
        target.display(),
        human_size(file.size),
        file.sha256
    );
    Ok(())
}

/// Streams a response into `name` inside DIR (see [`save_at`]).
fn save<R: Read>(dir: &Path, name: &str, size: u64, sha256: &str, response: R) -> Result<PathBuf> {
    let target = names::join_one(dir, name).map_err(|why| {
        anyhow::anyhow!(
            "the name '{}' cannot be used here: {why}",
            name.escape_debug()
        )
    })?;
    save_at(dir, target, size, sha256, response)
}

/// Streams a response into `target`: a temporary name, fsync, then a link
/// to the final name that fails rather than overwrite; size and digest are
/// checked first.
fn save_at<R: Read>(
    dir: &Path,
    target: PathBuf,
    expected_size: u64,
    expected_sha256: &str,
    mut response: R,
) -> Result<PathBuf> {
    if target.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; nothing was overwritten. Choose another folder",
            target.display()
        );
    }
    let temp = dir.join(format!(".{}.sekisho-partial", uuid_like()));
    let result = (|| -> Result<()> {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = response
                .read(&mut buf)
                .context("the download broke off; try again")?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            size += n as u64;
        }
        out.sync_all()?;
        if size != expected_size || hex::encode(hasher.finalize()) != expected_sha256 {
            bail!("the file arrived damaged (its SHA-256 does not match); nothing was saved");
        }
        std::fs::hard_link(&temp, &target).with_context(|| {
            format!(
                "cannot save {} (does it already exist?); nothing was overwritten",
                target.display()
            )
        })?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&temp);
    result?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    format!("{}-{}", hex::encode(bytes), std::process::id())
}
