//! `upload`: send files through an upload link someone in the office gave
//! you. No account is needed: the link is the permission, so it must be an
//! HTTPS `/u/` link of the gateway. Each file's name is checked here, and
//! the gateway answers per file (accepted, rejected or held), never with
//! the signature that was found.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::Url;
use sekisho_proto::inbound::UploadAnswer;
use sekisho_proto::names;

use crate::config::Config;
use crate::http::{UploadFile, post_files};
use crate::output::{human_size, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The link, https://.../u/...
    pub url: String,
    /// The files to upload.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `sekisho upload URL FILE...`: no account; the link is the permission.
pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let Args { url, files: paths } = args;
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

/// A regular file to upload, named by its last path component.
pub fn upload_file(path: &Path) -> Result<UploadFile> {
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
