//! `recipient add|list`: the address book of people outside the office.
//!
//! Keys are checked here before they are sent, because the commonest
//! mistakes (pasting a private key, choosing the wrong file) are best caught
//! on the clerk's own screen, with the private key never leaving it.
//! Fingerprints are shown so they can be read aloud to the recipient over
//! the phone to confirm the key really is theirs.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use clap::ArgGroup;
use sekisho_proto::{CreateRecipientRequest, KeyKind, RecipientView};

use crate::config::Config;
use crate::output::{Table, print_json};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register a recipient with exactly one way to lock their packages.
    Add(AddArgs),
    /// List recipients and their key fingerprints.
    List,
}

#[derive(Debug, clap::Args)]
#[command(group(
    ArgGroup::new("key")
        .required(true)
        .multiple(false)
        .args(["age_key", "ssh_key", "passphrase"])
))]
pub struct AddArgs {
    /// Short name used with `sekisho send --to`.
    pub name: String,
    /// The recipient's organisation.
    #[arg(long, value_name = "ORG")]
    pub org: String,
    /// The recipient's e-mail address.
    #[arg(long, value_name = "ADDR")]
    pub email: String,
    /// The recipient's age public key (age1...).
    #[arg(long, value_name = "KEY")]
    pub age_key: Option<String>,
    /// File with the recipient's OpenSSH public key(s) (the .pub file).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// Lock packages with a passphrase made for each transfer.
    #[arg(long)]
    pub passphrase: bool,
}

pub fn run(cfg: &Config, cmd: Command) -> Result<()> {
    match cmd {
        Command::Add(args) => add(cfg, args),
        Command::List => list(cfg),
    }
}

fn add(cfg: &Config, args: AddArgs) -> Result<()> {
    let (key_kind, public_key) = if let Some(key) = &args.age_key {
        (KeyKind::Age, Some(check_age_key(key)?))
    } else if let Some(file) = &args.ssh_key {
        (KeyKind::Ssh, Some(read_ssh_keys(file)?))
    } else if args.passphrase {
        (KeyKind::Passphrase, None)
    } else {
        // clap's ArgGroup already demands one; this only guards refactoring.
        bail!("choose how packages are locked: --age-key KEY, --ssh-key FILE or --passphrase");
    };
    let (api, _session) = super::logged_in(cfg)?;
    let request = CreateRecipientRequest {
        name: args.name.trim().to_string(),
        organisation: args.org.trim().to_string(),
        email: args.email.trim().to_string(),
        key_kind,
        public_key,
    };
    let created: RecipientView = api
        .post(api.url(&["recipients"])?, &request)
        .with_context(|| format!("the recipient {} was not registered", request.name))?;
    if cfg.json {
        return print_json(&created);
    }
    println!(
        "Recipient {} ({}, {}) registered; packages are locked with {}.",
        created.name,
        created.organisation,
        created.email,
        key_kind_label(created.key_kind)
    );
    if created.fingerprints.is_empty() {
        println!(
            "Each transfer gets its own passphrase, shown once when you send; tell it to the recipient by telephone."
        );
    } else {
        println!("Key fingerprints:");
        for fp in &created.fingerprints {
            println!("  {fp}");
        }
        println!(
            "Read these fingerprints to the recipient by telephone and check they match their key before you send anything."
        );
    }
    Ok(())
}

fn list(cfg: &Config) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let recipients: Vec<RecipientView> = api.get(api.url(&["recipients"])?)?;
    if cfg.json {
        return print_json(&recipients);
    }
    if recipients.is_empty() {
        println!("No recipients are registered yet; add one with `sekisho recipient add`.");
        return Ok(());
    }
    let mut table = Table::new(["NAME", "ORGANISATION", "E-MAIL", "LOCK", "FINGERPRINTS"]);
    for r in &recipients {
        let mut fps = r.fingerprints.iter();
        table.row([
            r.name.clone(),
            r.organisation.clone(),
            r.email.clone(),
            r.key_kind.as_str().to_string(),
            fps.next().cloned().unwrap_or_else(|| "-".to_string()),
        ]);
        // One fingerprint per line keeps each readable aloud on its own.
        for fp in fps {
            table.row([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                fp.clone(),
            ]);
        }
    }
    table.print();
    Ok(())
}

pub fn key_kind_label(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Age => "an age key",
        KeyKind::Ssh => "an SSH key",
        KeyKind::Passphrase => "a passphrase",
    }
}

fn check_age_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        bail!(
            "that is a SECRET age key, which must never leave its owner; ask the recipient for their public key (it starts with age1)"
        );
    }
    age::x25519::Recipient::from_str(key).map_err(|e| {
        anyhow::anyhow!("'{key}' is not an age public key ({e}); it should start with age1")
    })?;
    Ok(key.to_string())
}

fn read_ssh_keys(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the SSH key file {}", path.display()))?;
    let lines = ssh_key_lines(&text)
        .with_context(|| format!("{} cannot be used as an SSH public key", path.display()))?;
    Ok(lines.join("\n"))
}

/// The public key lines of an OpenSSH `.pub` or `authorized_keys`-style
/// text, each checked to be a key age can encrypt to.
fn ssh_key_lines(text: &str) -> Result<Vec<String>> {
    if text.contains("PRIVATE KEY") {
        bail!(
            "this is a PRIVATE key, which must never leave its owner; give the public key file instead (usually the same name ending in .pub)"
        );
    }
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(e) = age::ssh::Recipient::from_str(line) {
            let why = match e {
                age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                    "the RSA key is shorter than 2048 bits".to_string()
                }
                age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                    "the RSA key is too large".to_string()
                }
                age::ssh::ParseRecipientKeyError::Unsupported(kind) => {
                    format!("keys of type {kind} cannot be used; use ssh-ed25519 or ssh-rsa")
                }
                _ => "it is not an OpenSSH public key".to_string(),
            };
            bail!("line {}: {why}", number + 1);
        }
        lines.push(line.to_string());
    }
    if lines.is_empty() {
        bail!("the file holds no SSH public key");
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@example";

    #[test]
    fn public_key_lines_are_kept_and_comments_skipped() -> Result<()> {
        let text = format!("# work laptop\n{ED25519}\n\n");
        assert_eq!(ssh_key_lines(&text)?, vec![ED25519.to_string()]);
        Ok(())
    }

    #[test]
    fn private_keys_and_rubbish_are_refused() {
        assert!(ssh_key_lines(concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----\nabc\n")).is_err());
        assert!(ssh_key_lines("hello world\n").is_err());
        assert!(ssh_key_lines("\n# only a comment\n").is_err());
    }

    #[test]
    fn recipient_needs_exactly_one_key() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec![
                "sekisho",
                "recipient",
                "add",
                "n",
                "--org",
                "o",
                "--email",
                "e",
            ];
            argv.extend_from_slice(extra);
            crate::cli::Cli::try_parse_from(argv)
        };
        assert!(parse(&[]).is_err());
        assert!(parse(&["--passphrase", "--age-key", "age1x"]).is_err());
        assert!(parse(&["--passphrase"]).is_ok());
    }

    #[test]
    fn age_secret_key_is_refused() {
        assert!(check_age_key(concat!("AGE-SECRET-", "KEY-1QQQ")).is_err());
        assert!(check_age_key("age1nope").is_err());
    }
}
