//! `send`: create a transfer, stream each file to the gateway, submit it.
//!
//! Every check that can be made on the clerk's computer (classification,
//! purpose, that each path is a regular file with an acceptable name, no
//! two files with the same name) is made before the first byte goes out,
//! so a mistake never leaves a half-made transfer behind. Files are
//! streamed, never read into memory, and hashed on the way out; the
//! gateway compares those digests with its own at submit, which catches a
//! file that changed or was damaged while it travelled.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use sekisho_proto::{
    Class, CreateTransferRequest, FileEntry, NewFile, SubmitRequest, SubmitResponse, SubmittedFile,
    TransferCreated, TransferState, TransferView, names,
};
use sha2::{Digest, Sha256};

use super::values;
use crate::config::Config;
use crate::http::Api;
use crate::output::{byte_bar, human_size, print_json};

/// Large reads keep a fast network busy without holding a whole file.
const CHUNK: usize = 1024 * 1024;

pub const PASSPHRASE_WARNING: &str = "Tell the recipient this passphrase by telephone; never write it in the same e-mail as the link.";

/// A file checked and ready to go.
#[derive(Debug)]
pub(crate) struct Outgoing {
    path: PathBuf,
    pub(crate) name: String,
    size: u64,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The files to send (their names are kept as they are).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Classification of the files: I, II or III (重要性I/II/III).
    #[arg(long, value_name = "I|II|III", value_parser = values::class)]
    pub class: Class,
    /// A different class for one file, as NAME=CLASS (repeatable); the whole
    /// transfer is handled at the highest class of its files.
    #[arg(long = "file-class", value_name = "NAME=CLASS", value_parser = values::file_class)]
    pub file_class: Vec<(String, Class)>,
    /// A registered recipient; repeat for more than one.
    #[arg(long = "to", value_name = "RECIPIENT", required = true)]
    pub to: Vec<String>,
    /// Why the files are sent; the approver and the recipient read this.
    #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
    pub purpose: String,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let purpose = args.purpose.trim().to_string();
    if purpose.is_empty() {
        bail!(
            "say why the files are sent with --purpose TEXT; the approver and the recipient read it"
        );
    }
    let recipients: Vec<String> = args
        .to
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if recipients.is_empty() {
        bail!(
            "name at least one registered recipient with --to NAME (see `sekisho recipient list`)"
        );
    }
    let files = check_files(&args.files)?;
    for (name, _) in &args.file_class {
        if !files.iter().any(|f| &f.name == name) {
            bail!("--file-class names '{name}', which is not one of the files being sent");
        }
    }
    let (api, _session) = super::logged_in(cfg)?;
    let request = CreateTransferRequest {
        class: Some(args.class.as_str().to_string()),
        purpose: Some(purpose),
        recipients,
        files: new_files(&files, &args.file_class),
        medium: None,
        return_by: None,
        medium_key: None,
    };
    let answer = create_and_upload(cfg, &api, &request, &files, "sekisho send")?;
    if cfg.json {
        return print_json(&answer);
    }
    print_submitted(&answer);
    Ok(())
}

/// The files as the gateway is told about them, with any per-file class.
pub(crate) fn new_files(files: &[Outgoing], file_class: &[(String, Class)]) -> Vec<NewFile> {
    files
        .iter()
        .map(|f| NewFile {
            name: f.name.clone(),
            size: f.size,
            class: file_class
                .iter()
                .find(|(name, _)| name == &f.name)
                .map(|(_, class)| class.as_str().to_string()),
        })
        .collect()
}

/// Creates the transfer (or carry-out), streams every file and submits.
/// An upload that fails part-way is withdrawn so nothing half-sent lingers.
pub(crate) fn create_and_upload(
    cfg: &Config,
    api: &Api,
    request: &CreateTransferRequest,
    files: &[Outgoing],
    retry_hint: &str,
) -> Result<SubmitResponse> {
    let created: TransferCreated = api
        .post(api.url(&["transfers"])?, request)
        .context("the request was not created; nothing was sent")?;
    let digests = match upload_all(cfg, api, &created, files) {
        Ok(d) => d,
        Err(err) => {
            withdraw_unfinished(api, &created.id);
            return Err(err.context(format!(
                "{} was not completed and nothing was released; run `{retry_hint}` again",
                created.id
            )));
        }
    };
    let submit = SubmitRequest { files: digests };
    api.post(api.url(&["transfers", &created.id, "submit"])?, &submit)
        .with_context(|| format!("{} was not submitted", created.id))
}

/// Local checks on every path, all before any network call.
pub(crate) fn check_files(paths: &[PathBuf]) -> Result<Vec<Outgoing>> {
    let mut out = Vec::with_capacity(paths.len());
    let mut seen = HashSet::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}; check the file exists", path.display()))?;
        if !meta.is_file() {
            bail!(
                "{} is not a regular file (a folder or a device?); give each file to send by name",
                path.display()
            );
        }
        let name = file_name_of(path)?;
        if !seen.insert(name.clone()) {
            bail!(
                "two of the files are called '{name}'; the recipient would get only one. Rename one of them and send again"
            );
        }
        out.push(Outgoing {
            path: path.clone(),
            name,
            size: meta.len(),
        });
    }
    Ok(out)
}

/// The final path component, if it is a name the gateway will accept. A
/// name is refused, never changed: the recipient must get what was sent.
fn file_name_of(path: &Path) -> Result<String> {
    let Some(raw) = path.file_name() else {
        bail!("{} does not end in a file name", path.display());
    };
    let Some(name) = raw.to_str() else {
        bail!(
            "the name of {} is not valid text (UTF-8); rename the file and send again",
            path.display()
        );
    };
    names::check_file_name(name).map_err(|why| {
        anyhow::anyhow!(
            "cannot send '{}': {why}. Rename the file and send again",
            path.display()
        )
    })?;
    Ok(name.to_string())
}

fn upload_all(
    cfg: &Config,
    api: &Api,
    created: &TransferCreated,
    files: &[Outgoing],
) -> Result<Vec<SubmittedFile>> {
    if created.uploads.len() != files.len() {
        bail!(
            "the gateway asked for {} files but {} were given; tell your system administrator",
            created.uploads.len(),
            files.len()
        );
    }
    let mut digests = Vec::with_capacity(files.len());
    for slot in &created.uploads {
        let file = usize::try_from(slot.index)
            .ok()
            .and_then(|i| files.get(i))
            .filter(|f| f.name == slot.name && f.size == slot.size)
            .with_context(|| {
                format!(
                    "the gateway's upload list does not match the files given (slot {} '{}'); tell your system administrator",
                    slot.index, slot.name
                )
            })?;
        let url = api.url_from_path(&slot.path)?;
        let sha256 = upload_one(cfg, api, url, file)?;
        digests.push(SubmittedFile {
            index: slot.index,
            sha256,
        });
    }
    Ok(digests)
}

/// Streams one file and returns the SHA-256 of exactly the bytes sent.
fn upload_one(cfg: &Config, api: &Api, url: reqwest::Url, file: &Outgoing) -> Result<String> {
    let handle =
        File::open(&file.path).with_context(|| format!("cannot open {}", file.path.display()))?;
    let bar = byte_bar(cfg.json, Some(file.size), &file.name);
    // A reader thread hashes while the network thread encrypts and sends:
    // the two largest costs run on both cores at once.
    let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(4);
    let reader = {
        let bar = bar.clone();
        let size = file.size;
        std::thread::spawn(move || read_and_hash(handle, size, &bar, &sender))
    };
    let stored: Result<FileEntry> = api.put_chunks(url, file.size, receiver);
    bar.finish_and_clear();
    let hashed = reader
        .join()
        .map_err(|_| anyhow::anyhow!("internal error while reading {}", file.name))?;
    let stored = stored.with_context(|| format!("{} was not sent", file.name))?;
    let (sent, sha256) = hashed.with_context(|| format!("cannot read {}", file.path.display()))?;
    let size_now = std::fs::metadata(&file.path).map(|m| m.len()).ok();
    if sent != file.size || size_now != Some(file.size) {
        bail!(
            "{} changed while it was being sent; wait until nobody is editing it and send again",
            file.name
        );
    }
    if stored.sha256 != sha256 || stored.size != file.size {
        bail!(
            "{} arrived at the gateway different from what was sent (damaged on the way); send again",
            file.name
        );
    }
    Ok(sha256)
}

/// Reads exactly `size` bytes in large pieces, hashing each before it is
/// handed to the network; returns the count and the SHA-256.
fn read_and_hash(
    mut file: File,
    size: u64,
    bar: &ProgressBar,
    sender: &tokio::sync::mpsc::Sender<io::Result<bytes::Bytes>>,
) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut sent = 0u64;
    while sent < size {
        let want = (size - sent).min(CHUNK as u64) as usize;
        let mut buffer = bytes::BytesMut::zeroed(want);
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = sender.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
                return Err(e);
            }
        };
        buffer.truncate(n);
        hasher.update(&buffer);
        sent += n as u64;
        bar.inc(n as u64);
        if sender.blocking_send(Ok(buffer.freeze())).is_err() {
            // The upload ended early; its error is reported by the caller.
            break;
        }
    }
    Ok((sent, hex::encode(hasher.finalize())))
}

/// Best effort: a transfer stuck in "uploading" is harmless but clutters
/// the sender's list, so try to withdraw it and say nothing if that fails.
fn withdraw_unfinished(api: &Api, id: &str) {
    if let Ok(url) = api.url(&["transfers", id, "revoke"]) {
        let _: Result<TransferView> = api.post_empty(url);
    }
}

pub(crate) fn print_submitted(answer: &SubmitResponse) {
    let t = &answer.transfer;
    println!("Transfer {} submitted.", t.id);
    println!("  Class:      {}", t.class.label_ja());
    println!(
        "  Files:      {} ({})",
        t.files.len(),
        human_size(t.total_size)
    );
    println!(
        "  Recipients: {}",
        t.recipients
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  State:      {}", t.state.label());
    match t.state {
        TransferState::Released => println!(
            "The download links are live. See them with `sekisho link {}`.",
            t.id
        ),
        TransferState::PendingApproval => {
            let who = t.approval_by.map(|r| r.as_str()).unwrap_or("an approver");
            println!(
                "Waiting for approval by {who}. Nothing leaves the office until it is approved; check with `sekisho show {}`.",
                t.id
            );
        }
        _ => {}
    }
    if !answer.passphrases.is_empty() {
        println!();
        for p in &answer.passphrases {
            println!("  Passphrase for {}: {}", p.recipient, p.passphrase);
        }
        println!();
        println!("WARNING: {PASSPHRASE_WARNING}");
        println!("These passphrases are shown only this once.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_has_no_default_class_and_refuses_blank_purpose() {
        use clap::Parser;
        let parse = |class: Option<&str>, purpose: &str| {
            let mut argv = vec![
                "sekisho",
                "send",
                "a.txt",
                "--to",
                "x",
                "--purpose",
                purpose,
            ];
            if let Some(class) = class {
                argv.extend(["--class", class]);
            }
            crate::cli::Cli::try_parse_from(argv)
        };
        assert!(parse(None, "p").is_err());
        assert!(parse(Some("IV"), "p").is_err());
        assert!(parse(Some("II"), "  ").is_err());
        assert!(parse(Some("II"), "p").is_ok());
    }

    #[test]
    fn names_are_taken_from_the_last_component_and_checked() -> Result<()> {
        assert_eq!(file_name_of(Path::new("/tmp/議事録.pdf"))?, "議事録.pdf");
        assert!(file_name_of(Path::new("/")).is_err());
        assert!(file_name_of(Path::new("dir/..")).is_err());
        assert!(file_name_of(Path::new("a/..hidden")).is_err());
        Ok(())
    }

    #[test]
    fn the_reader_hashes_and_hands_over_every_byte() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data)?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
        let file = File::open(&path)?;
        let size = data.len() as u64;
        let reader =
            std::thread::spawn(move || read_and_hash(file, size, &ProgressBar::hidden(), &sender));
        let mut received = Vec::new();
        while let Some(chunk) = receiver.blocking_recv() {
            received.extend_from_slice(&chunk?);
        }
        let (sent, digest) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("reader panicked"))??;
        assert_eq!(sent, size);
        assert_eq!(received, data);
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
        Ok(())
    }

    #[test]
    fn duplicate_and_missing_files_are_refused_before_sending() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a)?;
        std::fs::create_dir(&b)?;
        std::fs::write(a.join("x.txt"), b"1")?;
        std::fs::write(b.join("x.txt"), b"2")?;
        assert!(check_files(&[a.join("x.txt"), b.join("x.txt")]).is_err());
        assert!(check_files(&[a.join("missing.txt")]).is_err());
        assert!(check_files(std::slice::from_ref(&a)).is_err());
        assert_eq!(check_files(&[a.join("x.txt")])?.len(), 1);
        Ok(())
    }
}
