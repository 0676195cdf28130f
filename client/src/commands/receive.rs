//! `receive`: download a package from a link, decrypt it, check it and save
//! its files. No login is needed: the link is the credential.
//!
//! Checking and saving is `sekisho_package::unpack` (which entries are
//! accepted, never overwriting, removing everything on failure); this
//! module fetches the package, reads the gateway's headers and decrypts.
//! The package is streamed from the network through age and tar, never
//! held whole in memory.

use sekisho_proto::vocab::PackageEncryption;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget};
use reqwest::Url;
use sekisho_package::{Announced, Staging, is_sha256_hex, unpack};
use sekisho_proto::{Class, HEADER_CLASS, HEADER_CONTENT_DIGEST, HEADER_ENCRYPTION, Manifest};
use serde_json::json;

use crate::config::Config;
use crate::http::download as start_download;
use crate::output::{bars_visible, byte_bar, human_size, print_json, short_time};
use crate::prompt;

/// Large reads keep a fast network busy without holding much in memory.
const CHUNK: usize = 1024 * 1024;
/// How long a single read may wait for the gateway before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

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
    use sekisho_package::fixtures::{manifest, tar_of};
    use std::io::Write as _;

    const FILES: [(&str, &[u8]); 2] = [("a.txt", b"hello"), ("議事録.txt", b"minutes")];

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
        let a = Announced {
            encrypted: true,
            class: m.class,
            content_digest: m.content_digest.clone(),
        };

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
    fn links_must_be_download_links() {
        assert!(parse_link("https://gw.example/d/abc").is_ok());
        assert!(parse_link("http://gw.example/d/abc").is_err());
        assert!(parse_link("https://gw.example/d/").is_err());
        assert!(parse_link("https://gw.example/api/v1/whoami").is_err());
        assert!(parse_link("https://gw.example/d/abc/x").is_err());
        assert!(parse_link("not a link").is_err());
    }
}
