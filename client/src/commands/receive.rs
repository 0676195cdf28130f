//! `receive`: download a package from a link, decrypt it, check it and save
//! its files. No login is needed: the link is the credential.
//!
//! Everything in the package is untrusted until checked, so this module
//! never lets tar decide where anything goes. It accepts only regular-file
//! entries named exactly `MANIFEST.json`, `SHA256SUMS` or `files/<name>`
//! (a name that passes `names::check_file_name` and is listed in the
//! manifest), writes each file under a temporary name while hashing it, and
//! puts the files in place only after every one of them, the manifest's
//! content digest and the digest the gateway announced in its headers all
//! agree. Nothing is ever overwritten, and when anything goes wrong every
//! file this run made is removed again, so the clerk never works from a
//! half-checked package. The package is streamed from the network through
//! age and tar, never held whole in memory.

use sekisho_proto::vocab::PackageEncryption;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget};
use reqwest::Url;
use sekisho_proto::{
    CHECKSUMS_NAME, Class, HEADER_CLASS, HEADER_CONTENT_DIGEST, HEADER_ENCRYPTION, MANIFEST_FORMAT,
    MANIFEST_NAME, Manifest, PAYLOAD_DIR, content_digest, names,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::http::download as start_download;
use crate::output::{bars_visible, byte_bar, human_size, print_json, short_time};
use crate::prompt;

/// Large reads keep a fast network busy without holding much in memory.
const CHUNK: usize = 1024 * 1024;
/// How long a single read may wait for the gateway before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The manifest and checksum list are small; anything bigger is an attack.
const MAX_META_BYTES: u64 = 16 * 1024 * 1024;
/// A tar ends with zero blocks and at most a record of padding.
const MAX_TRAILER_BYTES: u64 = 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The link from the e-mail: https://HOST/d/...
    #[arg(value_name = "URL")]
    pub url: String,
    /// Folder to save the files in (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Your private key: an age identity file or an OpenSSH private key.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let link = parse_link(&args.url)?;
    // Everything that can fail locally fails before the download, which
    // counts against the link's limit.
    let identities = load_identities(&args.identity)?;
    let ca = cfg.ca_path()?.to_path_buf();
    let mut staging = Staging::prepare(&args.output)?;

    let outcome = download(&ca, &link, identities, &mut staging, cfg.json);
    let received = match outcome {
        Ok(received) => received,
        Err(err) => {
            staging.discard();
            return Err(anyhow!(
                "{err:#}. Nothing from this package was kept in {}.",
                args.output.display()
            ));
        }
    };

    if cfg.json {
        return print_json(&json!({
            "manifest": received,
            "dir": args.output,
            "verified": true,
        }));
    }
    print_summary(&received, &args.output);
    Ok(())
}

/// `https://HOST[:PORT]/d/<token>` and nothing else.
fn parse_link(text: &str) -> Result<Url> {
    let hint = "a download link looks like https://HOST/d/... ; copy it again from the e-mail";
    let mut url = Url::parse(text.trim()).map_err(|_| anyhow!("that is not a link; {hint}"))?;
    if url.scheme() != "https" {
        bail!("the link must start with https://; {hint}");
    }
    url.set_fragment(None);
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    match segments.as_slice() {
        ["d", token] if !token.is_empty() => {}
        _ => bail!("that is not a Sekisho download link; {hint}"),
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        bail!("that is not a Sekisho download link; {hint}");
    }
    Ok(url)
}

/// What the gateway announced about the package in its headers.
#[derive(Debug, Clone)]
struct Announced {
    encrypted: bool,
    class: Class,
    content_digest: String,
}

fn read_headers(headers: &reqwest::header::HeaderMap) -> Result<Announced> {
    let header = |name: &str| -> Result<String> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .with_context(|| {
                format!(
                    "the link did not return a Sekisho package (the {name} header is missing); check the link"
                )
            })
    };
    let encryption = header(HEADER_ENCRYPTION)?;
    let encrypted = match encryption.parse::<PackageEncryption>() {
        Ok(PackageEncryption::Age) => true,
        Ok(PackageEncryption::None) => false,
        Err(_) => bail!(
            "the package uses an encryption this client does not know ('{encryption}'); update sekisho"
        ),
    };
    let class = Class::from_str(&header(HEADER_CLASS)?)
        .map_err(|e| anyhow!("the gateway sent an unknown classification: {e}"))?;
    let digest = header(HEADER_CONTENT_DIGEST)?;
    if !is_sha256_hex(&digest) {
        bail!(
            "the gateway sent a malformed content digest; the package was damaged or tampered with"
        );
    }
    if class.needs_approval() && !encrypted {
        bail!(
            "a {} package arrived unencrypted, which the policy forbids; it was refused. Tell the sender",
            class.label_ja()
        );
    }
    Ok(Announced {
        encrypted,
        class,
        content_digest: digest,
    })
}

fn download(
    ca: &std::path::Path,
    link: &Url,
    identities: Vec<Box<dyn age::Identity>>,
    staging: &mut Staging,
    json: bool,
) -> Result<Manifest> {
    let resp =
        start_download(ca, link, READ_TIMEOUT).context("the package could not be downloaded")?;
    let announced = read_headers(&resp.headers)?;
    let bar = byte_bar(json, resp.content_length, "download");
    // Keep the bar quiet while a passphrase may be asked for.
    bar.set_draw_target(ProgressDrawTarget::hidden());
    let counted = Counting {
        inner: resp.body,
        bar: bar.clone(),
    };
    let buffered = BufReader::with_capacity(CHUNK, counted);

    let result = (|| {
        let plain: Box<dyn Read> = if announced.encrypted {
            Box::new(decrypt(buffered, identities)?)
        } else {
            Box::new(buffered)
        };
        if bars_visible(json) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        unpack(plain, staging, &announced)
    })();
    bar.finish_and_clear();
    result
}

fn decrypt<R: BufRead>(
    input: R,
    identities: Vec<Box<dyn age::Identity>>,
) -> Result<age::stream::StreamReader<R>> {
    let decryptor = age::Decryptor::new_buffered(input).map_err(explain_decrypt_error)?;
    if decryptor.is_scrypt() {
        let passphrase = prompt::secret(
            prompt::PASSPHRASE_ENV,
            "Passphrase (the sender told you by telephone): ",
        )?;
        let identity = age::scrypt::Identity::new(passphrase);
        decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(explain_decrypt_error)
    } else {
        if identities.is_empty() {
            bail!(
                "this package is locked with your key; give your private key file with --identity FILE"
            );
        }
        decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(explain_decrypt_error)
    }
}

fn explain_decrypt_error(err: age::DecryptError) -> anyhow::Error {
    match err {
        age::DecryptError::NoMatchingKeys => anyhow!(
            "none of the keys given with --identity can open this package; check you gave your own private key. \
             If you did, the package was changed or damaged in transit"
        ),
        age::DecryptError::KeyDecryptionFailed => {
            anyhow!("the passphrase of your private key file is wrong; try again")
        }
        other => anyhow!(
            "the package was changed or damaged in transit, or the key or passphrase is wrong ({other})"
        ),
    }
}

/// Counts downloaded bytes for the progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// An accepted tar entry.
#[derive(Debug, PartialEq, Eq)]
enum EntryName {
    Manifest,
    Checksums,
    File(String),
}

/// Decides from the raw tar path and type alone whether an entry may be
/// looked at at all. Anything else (links, folders, devices, `./x`, paths
/// with `..`, absolute paths, unknown names) is refused.
fn accept_entry(path: &[u8], kind: tar::EntryType) -> Result<EntryName, String> {
    let shown = String::from_utf8_lossy(path).into_owned();
    if !kind.is_file() {
        return Err(format!("it contains '{shown}', which is not a plain file"));
    }
    let Ok(path) = std::str::from_utf8(path) else {
        return Err(format!(
            "it contains an entry whose name is not valid text ('{shown}')"
        ));
    };
    if path == MANIFEST_NAME {
        return Ok(EntryName::Manifest);
    }
    if path == CHECKSUMS_NAME {
        return Ok(EntryName::Checksums);
    }
    if let Some(name) = path
        .strip_prefix(PAYLOAD_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return match names::check_file_name(name) {
            Ok(()) => Ok(EntryName::File(name.to_string())),
            Err(why) => Err(format!(
                "it contains a file with an unsafe name ('{shown}': {why})"
            )),
        };
    }
    Err(format!("it contains an unexpected entry '{shown}'"))
}

/// `<hex>  files/<name>` lines (the `*` binary marker is accepted too), as
/// `sha256sum` writes them.
fn parse_checksums(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || format!("line {} of {CHECKSUMS_NAME} is malformed", i + 1);
        let (hex, rest) = line.split_once(' ').ok_or_else(bad)?;
        let path = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(bad)?;
        if !is_sha256_hex(hex) {
            return Err(bad());
        }
        let name = path
            .strip_prefix(PAYLOAD_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(bad)?;
        out.push((hex.to_string(), name.to_string()));
    }
    Ok(out)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn damaged(why: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("the package was damaged or tampered with: {why}")
}

fn broken_stream(err: io::Error) -> anyhow::Error {
    anyhow!(
        "the package could not be read to the end: it was cut off, or changed or damaged in transit, or the key is wrong ({err})"
    )
}

/// Checks the manifest against itself and against the headers.
fn check_manifest(m: &Manifest, announced: &Announced) -> Result<()> {
    if m.format != MANIFEST_FORMAT {
        bail!(
            "the package format '{}' is not one this client knows; update sekisho",
            m.format
        );
    }
    if m.class != announced.class {
        return Err(damaged(format!(
            "the manifest says {} but the gateway said {}",
            m.class.label_ja(),
            announced.class.label_ja()
        )));
    }
    let mut seen = HashSet::new();
    for f in &m.files {
        names::check_file_name(&f.name).map_err(|why| {
            damaged(format!(
                "the manifest lists an unsafe file name '{}': {why}",
                f.name
            ))
        })?;
        if f.name == MANIFEST_NAME {
            return Err(damaged(format!(
                "the manifest lists a file called {MANIFEST_NAME}"
            )));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(damaged(format!("the manifest lists '{}' twice", f.name)));
        }
        if !is_sha256_hex(&f.sha256) {
            return Err(damaged(format!(
                "the manifest's digest of '{}' is malformed",
                f.name
            )));
        }
    }
    let computed = content_digest(
        m.files
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    if m.content_digest != computed {
        return Err(damaged(
            "the manifest's content digest does not match its file list",
        ));
    }
    if m.content_digest != announced.content_digest {
        return Err(damaged(
            "the manifest's content digest differs from the one the gateway released",
        ));
    }
    if m.class.needs_approval() {
        match &m.approval {
            None => {
                return Err(damaged(format!(
                    "a {} package must carry its approval, and this one has none",
                    m.class.label_ja()
                )));
            }
            Some(a) if a.content_digest != m.content_digest => {
                return Err(damaged("the approval was given for different contents"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn read_small(entry: &mut impl Read, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    entry
        .take(MAX_META_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(broken_stream)?;
    if bytes.len() as u64 > MAX_META_BYTES {
        return Err(damaged(format!("its {what} is far too large")));
    }
    Ok(bytes)
}

fn unpack<R: Read>(reader: R, staging: &mut Staging, announced: &Announced) -> Result<Manifest> {
    let mut archive = tar::Archive::new(reader);
    let mut manifest: Option<Manifest> = None;
    let mut checksums_seen = false;
    let mut received: HashSet<String> = HashSet::new();

    for entry in archive.entries().map_err(broken_stream)? {
        let mut entry = entry.map_err(broken_stream)?;
        let name =
            accept_entry(&entry.path_bytes(), entry.header().entry_type()).map_err(damaged)?;
        match name {
            EntryName::Manifest => {
                if manifest.is_some() {
                    return Err(damaged("it holds two manifests"));
                }
                let bytes = read_small(&mut entry, MANIFEST_NAME)?;
                let m: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| damaged(format!("its {MANIFEST_NAME} cannot be read ({e})")))?;
                check_manifest(&m, announced)?;
                // Refuse now, before any file is written, if something is
                // in the way: nothing is ever overwritten.
                staging.ensure_free(MANIFEST_NAME)?;
                for f in &m.files {
                    staging.ensure_free(&f.name)?;
                }
                staging.stage_bytes(MANIFEST_NAME, &bytes)?;
                manifest = Some(m);
            }
            EntryName::Checksums => {
                let Some(m) = &manifest else {
                    return Err(damaged(format!("it does not start with {MANIFEST_NAME}")));
                };
                if checksums_seen {
                    return Err(damaged(format!("it holds two {CHECKSUMS_NAME} files")));
                }
                let bytes = read_small(&mut entry, CHECKSUMS_NAME)?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| damaged(format!("its {CHECKSUMS_NAME} is not text")))?;
                let sums = parse_checksums(text).map_err(damaged)?;
                let listed: HashMap<&str, &str> = m
                    .files
                    .iter()
                    .map(|f| (f.name.as_str(), f.sha256.as_str()))
                    .collect();
                let summed: HashMap<&str, &str> =
                    sums.iter().map(|(h, n)| (n.as_str(), h.as_str())).collect();
                if summed.len() != sums.len() || summed != listed {
                    return Err(damaged(format!(
                        "its {CHECKSUMS_NAME} disagrees with the manifest"
                    )));
                }
                checksums_seen = true;
            }
            EntryName::File(name) => {
                let Some(m) = &manifest else {
                    return Err(damaged(format!("it does not start with {MANIFEST_NAME}")));
                };
                if !checksums_seen {
                    return Err(damaged(format!("its {CHECKSUMS_NAME} is missing")));
                }
                let Some(expected) = m.files.iter().find(|f| f.name == name) else {
                    return Err(damaged(format!(
                        "it contains '{name}', which the manifest does not list"
                    )));
                };
                if !received.insert(name.clone()) {
                    return Err(damaged(format!("it contains '{name}' twice")));
                }
                if entry.size() != expected.size {
                    return Err(damaged(format!(
                        "'{name}' is {} bytes but the manifest says {}",
                        entry.size(),
                        expected.size
                    )));
                }
                staging.stage_stream(&name, &mut entry, expected.size, &expected.sha256)?;
            }
        }
    }

    // Read to the real end: age checks the last chunk only there, so a
    // package cut short after its last file is still noticed.
    let mut rest = archive.into_inner();
    let trailer = io::copy(
        &mut (&mut rest).take(MAX_TRAILER_BYTES + 1),
        &mut io::sink(),
    )
    .map_err(broken_stream)?;
    if trailer > MAX_TRAILER_BYTES {
        return Err(damaged("unexpected data follows the end of the package"));
    }

    let Some(m) = manifest else {
        return Err(damaged(format!("it has no {MANIFEST_NAME}")));
    };
    if !checksums_seen {
        return Err(damaged(format!("its {CHECKSUMS_NAME} is missing")));
    }
    let missing: Vec<&str> = m
        .files
        .iter()
        .filter(|f| !received.contains(&f.name))
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(damaged(format!(
            "these files are missing: {}",
            missing.join(", ")
        )));
    }
    staging.commit()?;
    Ok(m)
}

/// Files written by this run: temporaries until `commit`, then their final
/// names. Anything not committed is removed by `discard` (or on drop).
struct Staging {
    dir: PathBuf,
    created_dir: bool,
    staged: Vec<(PathBuf, PathBuf)>,
    placed: Vec<PathBuf>,
    counter: u32,
    done: bool,
}

impl Staging {
    fn prepare(dir: &Path) -> Result<Staging> {
        let created_dir = match fs::symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() => false,
            Ok(_) => bail!(
                "{} exists and is not a folder; choose a folder with -o DIR",
                dir.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)
                    .with_context(|| format!("could not create the folder {}", dir.display()))?;
                true
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot use the folder {}", dir.display()));
            }
        };
        let staging = Staging {
            dir: dir.to_path_buf(),
            created_dir,
            staged: Vec::new(),
            placed: Vec::new(),
            counter: 0,
            done: false,
        };
        // The one name known before downloading: fail before using up a download.
        staging.ensure_free(MANIFEST_NAME)?;
        Ok(staging)
    }

    /// Where `name` goes: one plain component inside the chosen folder,
    /// whatever the package says (checked again here, where the file is
    /// written, not only where the manifest was read).
    fn target(&self, name: &str) -> Result<PathBuf> {
        names::join_one(&self.dir, name).map_err(|why| {
            anyhow::anyhow!(
                "the package names a file '{}' that cannot be written here: {why}",
                name.escape_debug()
            )
        })
    }

    fn ensure_free(&self, name: &str) -> Result<()> {
        let target = self.target(name)?;
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            _ => bail!(
                "{} already exists; Sekisho never overwrites a file. Choose an empty folder with -o DIR",
                target.display()
            ),
        }
    }

    fn new_temp(&mut self) -> Result<(PathBuf, File)> {
        loop {
            self.counter += 1;
            let path = self.dir.join(format!(
                ".sekisho-{}-{}.part",
                std::process::id(),
                self.counter
            ));
            match create_private(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.counter < 10_000 => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("could not write in {}", self.dir.display()));
                }
            }
        }
    }

    fn stage_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.target(name)?;
        let (tmp, mut file) = self.new_temp()?;
        self.staged.push((tmp.clone(), target));
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("could not write {} (is the disk full?)", tmp.display()))
    }

    /// Copies one file into a temporary, hashing as it goes, and keeps it
    /// only if size and SHA-256 match the manifest.
    fn stage_stream(
        &mut self,
        name: &str,
        input: &mut impl Read,
        size: u64,
        sha256: &str,
    ) -> Result<()> {
        let target = self.target(name)?;
        let (tmp, mut file) = self.new_temp()?;
        self.staged.push((tmp.clone(), target));
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut written: u64 = 0;
        loop {
            let n = input.read(&mut buf).map_err(broken_stream)?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).ok_or_else(|| anyhow!("internal read error"))?;
            written += n as u64;
            if written > size {
                return Err(damaged(format!(
                    "'{name}' is longer than the manifest says"
                )));
            }
            hasher.update(chunk);
            file.write_all(chunk).with_context(|| {
                format!("could not write {} (is the disk full?)", tmp.display())
            })?;
        }
        file.sync_all()
            .with_context(|| format!("could not write {} (is the disk full?)", tmp.display()))?;
        if written != size {
            return Err(damaged(format!(
                "'{name}' is shorter than the manifest says"
            )));
        }
        if hex::encode(hasher.finalize()) != sha256 {
            return Err(damaged(format!(
                "the SHA-256 of '{name}' does not match the manifest"
            )));
        }
        Ok(())
    }

    /// Gives every staged file its real name, refusing to replace anything.
    fn commit(&mut self) -> Result<()> {
        while !self.staged.is_empty() {
            let (tmp, target) = self.staged.remove(0);
            if let Err(err) = place_without_overwriting(&tmp, &target) {
                // Still ours to clean up.
                self.staged.push((tmp, target));
                return Err(err);
            }
            self.placed.push(target);
        }
        sync_dir(&self.dir);
        self.done = true;
        Ok(())
    }

    fn discard(&mut self) {
        for (tmp, _) in self.staged.drain(..) {
            let _ = fs::remove_file(tmp);
        }
        for placed in self.placed.drain(..) {
            let _ = fs::remove_file(placed);
        }
        if self.created_dir {
            // Only removes it if it is empty, i.e. nobody else put anything there.
            let _ = fs::remove_dir(&self.dir);
        }
        self.done = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            self.discard();
        }
    }
}

/// A hard link fails if the target exists, so there is no window in which
/// another file could be replaced; file systems without hard links fall
/// back to check-then-rename.
fn place_without_overwriting(tmp: &Path, target: &Path) -> Result<()> {
    match fs::hard_link(tmp, target) {
        Ok(()) => {
            let _ = fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => bail!(
            "{} appeared while the package was being checked; Sekisho never overwrites a file",
            target.display()
        ),
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                bail!(
                    "{} appeared while the package was being checked; Sekisho never overwrites a file",
                    target.display()
                );
            }
            fs::rename(tmp, target).with_context(|| format!("could not save {}", target.display()))
        }
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Received files may be class I/II: readable by their owner only.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// Keys from `--identity` files: age identity files first, then OpenSSH
/// private keys (which may ask for their own passphrase when used).
fn load_identities(paths: &[PathBuf]) -> Result<Vec<Box<dyn age::Identity>>> {
    let mut identities: Vec<Box<dyn age::Identity>> = Vec::new();
    for path in paths {
        fs::metadata(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
        let filename = path.to_string_lossy().into_owned();
        if let Ok(file) = age::IdentityFile::from_file(filename.clone()) {
            let keys = file
                .into_identities()
                .map_err(|e| anyhow!("cannot use the keys in {}: {e}", path.display()))?;
            if !keys.is_empty() {
                identities.extend(keys.into_iter().map(|k| k as Box<dyn age::Identity>));
                continue;
            }
        }
        let reader = BufReader::new(
            File::open(path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?,
        );
        match age::ssh::Identity::from_buffer(reader, Some(filename)) {
            Ok(age::ssh::Identity::Unsupported(_)) => bail!(
                "the SSH key in {} is of a kind age cannot use; use an ed25519 or RSA key",
                path.display()
            ),
            Ok(identity) => identities.push(Box::new(identity.with_callbacks(AskPassphrase))),
            Err(_) => bail!(
                "{} is neither an age identity file nor an OpenSSH private key (a public key or .pub file will not work)",
                path.display()
            ),
        }
    }
    Ok(identities)
}

/// Lets age ask for the passphrase of an encrypted SSH private key.
#[derive(Clone, Copy)]
struct AskPassphrase;

impl age::Callbacks for AskPassphrase {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        prompt::hidden(&format!("{description}: ")).ok()
    }
}

fn print_summary(m: &Manifest, dir: &Path) {
    println!(
        "Package received and verified: {} (transfer {})",
        m.class_label, m.transfer_id
    );
    println!("  Sender:   {}", m.sender);
    println!("  Purpose:  {}", m.purpose);
    println!(
        "  For:      {} ({}, {})",
        m.recipient.name, m.recipient.organisation, m.recipient.email
    );
    println!("  Released: {}", short_time(&m.released_at));
    match &m.approval {
        Some(a) => {
            println!(
                "  Approval: approved by {} ({}) at {}",
                a.approver,
                a.approver_role,
                short_time(&a.decided_at)
            );
            if let Some(c) = &a.comment {
                println!("            \"{c}\"");
            }
        }
        None => println!("  Approval: not required for {}", m.class.label_ja()),
    }
    println!("  Saved in: {}", dir.display());
    for f in &m.files {
        println!("    {}  {}", f.name, human_size(f.size));
        println!("      sha256 {}  verified", f.sha256);
    }
    println!("  Content digest {}  verified", m.content_digest);
    if m.class.needs_approval() {
        println!(
            "Handle these files as {} under your organisation's rules.",
            m.class.label_ja()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType;

    #[test]
    fn only_the_three_kinds_of_names_are_accepted() {
        let f = EntryType::Regular;
        assert_eq!(accept_entry(b"MANIFEST.json", f), Ok(EntryName::Manifest));
        assert_eq!(accept_entry(b"SHA256SUMS", f), Ok(EntryName::Checksums));
        assert_eq!(
            accept_entry("files/議事録.pdf".as_bytes(), f),
            Ok(EntryName::File("議事録.pdf".into()))
        );
        for bad in [
            &b"files/../etc/passwd"[..],
            b"files/..",
            b"files/",
            b"files/a/b",
            b"/files/a",
            b"./MANIFEST.json",
            b"files\\a",
            b"other.txt",
            b"files/a\nb",
            b"files/\xff",
            b"manifest.json",
        ] {
            assert!(
                accept_entry(bad, f).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn links_folders_and_devices_are_refused() {
        for kind in [
            EntryType::Symlink,
            EntryType::Link,
            EntryType::Directory,
            EntryType::Char,
            EntryType::Fifo,
            EntryType::XGlobalHeader,
        ] {
            assert!(accept_entry(b"files/a.txt", kind).is_err());
        }
    }

    #[test]
    fn checksums_parse_like_sha256sum() {
        let h = "a".repeat(64);
        let text = format!("{h}  files/a.txt\n{h} *files/b c.txt\n");
        assert_eq!(
            parse_checksums(&text),
            Ok(vec![
                (h.clone(), "a.txt".into()),
                (h.clone(), "b c.txt".into())
            ])
        );
        assert!(parse_checksums(&format!("{h} files/a.txt\n")).is_err());
        assert!(parse_checksums(&format!("{h}  a.txt\n")).is_err());
        assert!(parse_checksums("xyz  files/a.txt\n").is_err());
        assert!(parse_checksums(&format!("{}  files/a.txt\n", "A".repeat(64))).is_err());
    }

    mod packages {
        use super::super::*;
        use sekisho_proto::{FileEntry, ManifestApproval, ManifestRecipient, Role};

        fn sha(data: &[u8]) -> String {
            hex::encode(Sha256::digest(data))
        }

        fn manifest(class: Class, files: &[(&str, &[u8])]) -> Manifest {
            let files: Vec<FileEntry> = files
                .iter()
                .map(|(n, d)| FileEntry {
                    name: n.to_string(),
                    size: d.len() as u64,
                    sha256: sha(d),
                })
                .collect();
            let digest = content_digest(
                files
                    .iter()
                    .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
            );
            Manifest {
                format: MANIFEST_FORMAT.into(),
                transfer_id: "T1".into(),
                class,
                class_label: class.label_ja(),
                sender: "alice".into(),
                purpose: "test".into(),
                recipient: ManifestRecipient {
                    name: "bob".into(),
                    organisation: "Org".into(),
                    email: "bob@example.org".into(),
                },
                created_at: "2026-11-25T00:00:00Z".into(),
                released_at: "2026-11-25T00:01:00Z".into(),
                approval: class.needs_approval().then(|| ManifestApproval {
                    approver: "carol".into(),
                    approver_role: Role::Approver,
                    decided_at: "2026-11-25T00:01:00Z".into(),
                    comment: None,
                    content_digest: digest.clone(),
                }),
                content_digest: digest,
                files,
            }
        }

        fn tar_of(m: &Manifest, entries: &[(&str, &[u8])]) -> Result<Vec<u8>> {
            let mut builder = tar::Builder::new(Vec::new());
            let mut add = |path: &str, data: &[u8]| -> Result<()> {
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                builder.append_data(&mut header, path, data)?;
                Ok(())
            };
            add(MANIFEST_NAME, &serde_json::to_vec(m)?)?;
            let sums: String = m
                .files
                .iter()
                .map(|f| format!("{}  files/{}\n", f.sha256, f.name))
                .collect();
            add(CHECKSUMS_NAME, sums.as_bytes())?;
            for (name, data) in entries {
                add(&format!("files/{name}"), data)?;
            }
            Ok(builder.into_inner()?)
        }

        fn announced(m: &Manifest, encrypted: bool) -> Announced {
            Announced {
                encrypted,
                class: m.class,
                content_digest: m.content_digest.clone(),
            }
        }

        fn receive_plain(dir: &Path, bytes: &[u8], a: &Announced) -> Result<Manifest> {
            let mut staging = Staging::prepare(dir)?;
            let result = unpack(bytes, &mut staging, a);
            if result.is_err() {
                staging.discard();
            }
            result
        }

        const FILES: [(&str, &[u8]); 2] = [("a.txt", b"hello"), ("議事録.txt", b"minutes")];

        #[test]
        fn good_package_is_saved_with_its_manifest() -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let out = tmp.path().join("out");
            let m = manifest(Class::III, &FILES);
            let bytes = tar_of(&m, &FILES)?;
            let got = receive_plain(&out, &bytes, &announced(&m, false))?;
            assert_eq!(got, m);
            assert_eq!(fs::read(out.join("a.txt"))?, b"hello");
            assert_eq!(fs::read(out.join("議事録.txt"))?, b"minutes");
            assert!(out.join(MANIFEST_NAME).exists());
            // Only the files and the manifest: no temporaries are left.
            assert_eq!(fs::read_dir(&out)?.count(), 3);
            Ok(())
        }

        #[test]
        fn changed_file_is_refused_and_nothing_is_kept() -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let out = tmp.path().join("out");
            let m = manifest(Class::III, &FILES);
            let bytes = tar_of(&m, &[("a.txt", b"HELLO"), ("議事録.txt", b"minutes")])?;
            let err = receive_plain(&out, &bytes, &announced(&m, false))
                .err()
                .context("a changed file was accepted")?;
            assert!(
                format!("{err:#}").contains("damaged or tampered"),
                "{err:#}"
            );
            assert!(!out.exists(), "the folder this run created must be gone");
            Ok(())
        }

        #[test]
        fn missing_or_extra_files_and_wrong_digest_are_refused() -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let m = manifest(Class::III, &FILES);
            let short = tar_of(&m, &FILES[..1])?;
            assert!(receive_plain(&tmp.path().join("a"), &short, &announced(&m, false)).is_err());
            let extra = tar_of(&m, &[FILES[0], FILES[1], ("x.txt", b"x")])?;
            assert!(receive_plain(&tmp.path().join("b"), &extra, &announced(&m, false)).is_err());
            let bytes = tar_of(&m, &FILES)?;
            let mut wrong = announced(&m, false);
            wrong.content_digest = "0".repeat(64);
            assert!(receive_plain(&tmp.path().join("c"), &bytes, &wrong).is_err());
            for d in ["a", "b", "c"] {
                assert!(!tmp.path().join(d).exists());
            }
            Ok(())
        }

        #[test]
        fn existing_files_are_never_overwritten() -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let out = tmp.path().join("out");
            fs::create_dir(&out)?;
            fs::write(out.join("a.txt"), b"mine")?;
            let m = manifest(Class::III, &FILES);
            let bytes = tar_of(&m, &FILES)?;
            assert!(receive_plain(&out, &bytes, &announced(&m, false)).is_err());
            assert_eq!(fs::read(out.join("a.txt"))?, b"mine");
            // The folder existed before, so it stays, with only the clerk's file.
            assert_eq!(fs::read_dir(&out)?.count(), 1);
            Ok(())
        }

        fn encrypt(plain: &[u8], to: &age::x25519::Recipient) -> Result<Vec<u8>> {
            let encryptor =
                age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))?;
            let mut out = Vec::new();
            let mut writer = encryptor.wrap_output(&mut out)?;
            writer.write_all(plain)?;
            writer.finish()?;
            Ok(out)
        }

        fn receive_age(
            dir: &Path,
            bytes: &[u8],
            a: &Announced,
            key: age::x25519::Identity,
        ) -> Result<Manifest> {
            let mut staging = Staging::prepare(dir)?;
            let result = decrypt(BufReader::new(bytes), vec![Box::new(key)])
                .and_then(|plain| unpack(plain, &mut staging, a));
            if result.is_err() {
                staging.discard();
            }
            result
        }

        #[test]
        fn encrypted_package_opens_only_with_the_right_key_and_intact() -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let key = age::x25519::Identity::generate();
            let m = manifest(Class::II, &FILES);
            let sealed = encrypt(&tar_of(&m, &FILES)?, &key.to_public())?;
            let a = announced(&m, true);

            let got = receive_age(&tmp.path().join("ok"), &sealed, &a, key.clone())?;
            assert_eq!(got.files.len(), 2);

            let other = age::x25519::Identity::generate();
            let err = receive_age(&tmp.path().join("wrong"), &sealed, &a, other)
                .err()
                .context("a wrong key opened the package")?;
            assert!(format!("{err:#}").contains("--identity"), "{err:#}");

            let mut flipped = sealed.clone();
            if let Some(byte) = flipped.last_mut() {
                *byte ^= 1;
            }
            assert!(receive_age(&tmp.path().join("flip"), &flipped, &a, key.clone()).is_err());

            let cut = sealed.get(..sealed.len() - 100).context("short")?;
            assert!(receive_age(&tmp.path().join("cut"), cut, &a, key).is_err());
            for d in ["wrong", "flip", "cut"] {
                assert!(!tmp.path().join(d).exists(), "{d} left behind");
            }
            Ok(())
        }

        #[test]
        fn approval_must_cover_the_contents() -> Result<()> {
            let mut m = manifest(Class::I, &FILES);
            if let Some(a) = m.approval.as_mut() {
                a.content_digest = "0".repeat(64);
            }
            assert!(check_manifest(&m, &announced(&m, true)).is_err());
            m.approval = None;
            assert!(check_manifest(&m, &announced(&m, true)).is_err());
            Ok(())
        }
    }

    #[test]
    fn links_must_be_download_links() {
        assert!(parse_link("https://gw.example/d/abc").is_ok());
        assert!(parse_link("http://gw.example/d/abc").is_err());
        assert!(parse_link("https://gw.example/d/").is_err());
        assert!(parse_link("https://gw.example/api/v1/whoami").is_err());
        assert!(parse_link("https://gw.example/d/abc/x").is_err());
        assert!(parse_link("not a link").is_err());
    }
}
