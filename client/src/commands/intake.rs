//! `intake`: bring in data from a medium. Every file under the paths given
//! is uploaded to the gateway and scanned there; nothing is copied onto
//! this computer. Folders are walked without following links, and
//! anything that is not a regular file is skipped and listed. With
//! `--class`, every file that came through clean is classified at once;
//! with `--medium`, the intake is tied to that medium's return or carry-in
//! (6.(4)②(イ)), so the media ledger shows what its files' scan found.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sekisho_proto::inbound::{ClassifyRequest, InboundFileView, UploadAnswer};
use sekisho_proto::vocab::{InboundState, UploadOutcomeKind};
use serde::{Deserialize, Serialize};

use super::inbox::{files_list, inbound_class};
use super::upload::upload_file;
use super::values;
use crate::config::Config;
use crate::http::post_files;
use crate::output::{human_size, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders to bring in (folders are walked; links are not followed).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// What the data is for.
    #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
    pub purpose: String,
    /// Classify every clean file at once: I, II, III or unknown.
    #[arg(long, value_name = "I|II|III|unknown")]
    pub class: Option<String>,
    /// The medium the files come from, as recorded by `media checkin` or
    /// `media carry-in`; the ledger then shows this scan for it.
    #[arg(long, value_name = "ID")]
    pub medium: Option<String>,
}

#[derive(Serialize)]
struct IntakeRequest<'a> {
    purpose: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    medium: Option<&'a str>,
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
pub fn run(cfg: &Config, args: Args) -> Result<()> {
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
            medium: args.medium.as_deref(),
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
    if let Some(medium) = &args.medium {
        println!(
            "媒体 {medium} からの取り込みとして記録しました（sekisho media arrivals）。 Recorded as taken in from medium {medium}."
        );
    }
    Ok(())
}
