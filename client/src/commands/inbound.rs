//! Bringing files in (受け入れ): upload requests and their links, uploading
//! through a link (no account), media intake, the inbox (verdict, class,
//! download) and malware incidents.

use sekisho_proto::vocab::{InboundClass, InboundState, UploadOutcomeKind};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::Url;
use sekisho_proto::inbound::{
    ClassifyRequest, CloseIncident, CreateUploadRequest, InboundFileView, IncidentView,
    UploadAnswer, UploadRequestCreated,
};
use sekisho_proto::names;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::{InboxCommand, IncidentCommand, IntakeArgs};
use crate::config::Config;
use crate::http::{UploadFile, post_files};
use crate::output::{Table, human_size, print_json, short_time};

pub fn inbox(cfg: &Config, command: InboxCommand) -> Result<()> {
    match command {
        InboxCommand::Request {
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
        InboxCommand::List => list(cfg),
        InboxCommand::Classify { id, class } => classify(cfg, &id, &class),
        InboxCommand::Get { id, output } => get(cfg, &id, &output),
        InboxCommand::Rescan { id } => rescan(cfg, &id),
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

fn files_list(api: &crate::http::Api) -> Result<Vec<InboundFileView>> {
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
        "ID", "NAME", "SIZE", "SHA-256", "VERDICT", "CLASS", "STATE", "FROM",
    ]);
    for f in &files {
        table.row([
            f.id.clone(),
            f.name.escape_debug().to_string(),
            human_size(f.size),
            f.sha256.chars().take(16).collect::<String>(),
            f.verdict.to_string(),
            f.class.map_or_else(|| "-".into(), |c| c.to_string()),
            f.state.to_string(),
            f.sender.clone(),
        ]);
    }
    table.print();
    Ok(())
}

/// What a clerk typed as a class: I, II, III (or 1-3, 重要性II) or unknown.
fn inbound_class(text: &str) -> Result<InboundClass> {
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
    names::check_file_name(&file.name).map_err(|why| {
        anyhow::anyhow!(
            "the file's name '{}' cannot be used here: {why}",
            file.name.escape_debug()
        )
    })?;
    // The gateway's refusal (class not set, quarantined, held) comes first.
    let mut response = api.get_stream(api.url(&["inbox", "files", id, "content"])?)?;
    let target = dir.join(&file.name);
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
        if size != file.size || hex::encode(hasher.finalize()) != file.sha256 {
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

fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    format!("{}-{}", hex::encode(bytes), std::process::id())
}

/// A regular file to upload, named by its last path component.
fn upload_file(path: &Path) -> Result<UploadFile> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}; check the file exists", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{} is not a regular file; give each file by name",
            path.display()
        );
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("the name of {} is not valid text", path.display()))?;
    names::check_file_name(name)
        .map_err(|why| anyhow::anyhow!("cannot upload '{}': {why}; rename it", path.display()))?;
    Ok(UploadFile {
        name: name.to_string(),
        path: path.to_path_buf(),
        size: meta.len(),
    })
}

fn print_outcomes(json: bool, answer: &UploadAnswer) -> Result<()> {
    if json {
        return print_json(answer);
    }
    for f in &answer.files {
        println!("{} ({}): {}", f.name, human_size(f.size), f.message);
    }
    Ok(())
}

/// `sekisho upload URL FILE...`: no account; the link is the permission.
pub fn upload(cfg: &Config, url: &str, paths: &[PathBuf]) -> Result<()> {
    let url = Url::parse(url.trim()).context("that is not a link (https://.../u/...)")?;
    if url.scheme() != "https" || !url.path().starts_with("/u/") {
        bail!("that is not an upload link: it must look like https://HOST/u/...");
    }
    let files = paths
        .iter()
        .map(|p| upload_file(p))
        .collect::<Result<Vec<_>>>()?;
    let answer: UploadAnswer = post_files(cfg.ca_path()?, url, None, &files)?;
    print_outcomes(cfg.json, &answer)
}

#[derive(Serialize)]
struct IntakeRequest<'a> {
    purpose: &'a str,
}

#[derive(Deserialize)]
struct IntakeCreated {
    id: String,
}

/// Files under `path`, depth first, without following symbolic links.
fn walk(path: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
    } else if meta.is_dir() {
        let mut entries = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for entry in entries {
            walk(&entry, out, skipped)?;
        }
    } else {
        skipped.push(path.to_path_buf());
    }
    Ok(())
}

#[derive(Serialize)]
struct IntakeSummary {
    request: String,
    files: Vec<sekisho_proto::inbound::UploadOutcome>,
    skipped: Vec<String>,
    classified: usize,
}

/// `sekisho intake PATH... --purpose TEXT [--class C]`.
pub fn intake(cfg: &Config, args: IntakeArgs) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let mut paths = Vec::new();
    let mut skipped = Vec::new();
    for path in &args.paths {
        walk(path, &mut paths, &mut skipped)?;
    }
    if paths.is_empty() {
        bail!("no files were found under the paths given");
    }
    let files = paths
        .iter()
        .map(|p| upload_file(p))
        .collect::<Result<Vec<_>>>()?;
    let created: IntakeCreated = api.post(
        api.url(&["inbox", "intake"])?,
        &IntakeRequest {
            purpose: &args.purpose,
        },
    )?;
    let url = api.url(&["inbox", "intake", &created.id, "files"])?;
    let mut outcomes = Vec::new();
    for file in files {
        let answer: UploadAnswer = post_files(
            api.ca(),
            url.clone(),
            api.token(),
            std::slice::from_ref(&file),
        )
        .with_context(|| format!("{} was not brought in", file.path.display()))?;
        outcomes.extend(answer.files);
    }
    let mut classified = 0;
    if let Some(class) = args.class.as_deref().map(inbound_class).transpose()? {
        for f in files_list(&api)? {
            if f.request_id == created.id && f.state == InboundState::AwaitingClass {
                let _: InboundFileView = api.post(
                    api.url(&["inbox", "files", &f.id, "classify"])?,
                    &ClassifyRequest { class },
                )?;
                classified += 1;
            }
        }
    }
    let summary = IntakeSummary {
        request: created.id,
        files: outcomes,
        skipped: skipped.iter().map(|p| p.display().to_string()).collect(),
        classified,
    };
    if cfg.json {
        return print_json(&summary);
    }
    for f in &summary.files {
        println!("{} ({}): {}", f.name, human_size(f.size), f.message);
    }
    for s in &summary.skipped {
        println!("{s}: skipped (not a regular file or folder; links are not followed)");
    }
    let accepted = summary
        .files
        .iter()
        .filter(|f| f.outcome == UploadOutcomeKind::Accepted)
        .count();
    println!(
        "{} files brought in: {accepted} clean, {} rejected, {} held; {classified} classified. Nothing was copied to this computer.",
        summary.files.len(),
        summary
            .files
            .iter()
            .filter(|f| f.outcome == UploadOutcomeKind::Rejected)
            .count(),
        summary
            .files
            .iter()
            .filter(|f| f.outcome == UploadOutcomeKind::Held)
            .count(),
    );
    Ok(())
}

pub fn incidents(cfg: &Config, action: Option<IncidentCommand>) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let changed: IncidentView = match action {
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
        Some(IncidentCommand::Escalate { id }) => {
            api.post_empty(api.url(&["incidents", &id, "escalate"])?)?
        }
        Some(IncidentCommand::Close { id, note }) => api.post(
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
