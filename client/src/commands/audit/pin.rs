//! `audit pin`: remembering the gateway's audit signing key.
//!
//! A signed checkpoint proves nothing if the auditor checks it with
//! whatever key the gateway hands out today: an attacker who controls the
//! gateway would simply hand out their own. So the key is pinned once, on
//! the auditor's computer, ideally from what the operator printed on the
//! server console (`sekisho-gateway audit-key --dir DIR`), and every later
//! verification uses the pinned copy. A pin is never replaced silently:
//! a changed key is exactly what an attacker would show.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use sekisho_proto::{AuditKey, audit_key_fingerprint};
use serde::{Deserialize, Serialize};

use super::files;
use crate::config::Config;
use crate::output::print_json;
use crate::session::Session;

const WHAT: &str = "the pinned audit key";

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .multiple(false)
        .args(["key", "fetch"])
))]
pub struct Args {
    /// The public key the operator printed with `sekisho-gateway audit-key` (base64).
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    /// Ask the gateway for its key; you must then compare the fingerprint with the
    /// one printed on the server console.
    #[arg(long)]
    pub fetch: bool,
    /// Replace a key pinned earlier (only after the operator confirms the key changed).
    #[arg(long)]
    pub replace: bool,
}

/// `$SEKISHO_HOME/audit-key.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedKey {
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub fingerprint: String,
    /// The gateway it was pinned for (empty when pinned without a session).
    pub gateway: String,
    pub pinned_at: String,
    /// `key` when typed from the console or paper, `fetch` when taken from
    /// the gateway (and, one hopes, compared by eye).
    #[serde(default)]
    pub source: String,
}

/// Where a pinned key came from, as [`PinnedKey::source`] records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinSource {
    /// Typed from the server console or paper.
    Key,
    /// Taken from the gateway, which is why its fingerprint must be compared.
    Fetch,
}

impl PinSource {
    fn as_str(self) -> &'static str {
        match self {
            PinSource::Key => "key",
            PinSource::Fetch => "fetch",
        }
    }
}

pub fn path(cfg: &Config) -> PathBuf {
    cfg.home.join("audit-key.json")
}

/// The pinned key, checked for consistency, or `None` when none is pinned.
pub fn load(cfg: &Config) -> Result<Option<PinnedKey>> {
    load_from(&path(cfg))
}

fn load_from(path: &Path) -> Result<Option<PinnedKey>> {
    let Some(pin) = files::load_json::<PinnedKey>(path, WHAT)? else {
        return Ok(None);
    };
    // The fingerprint is what people compare by eye; make sure it belongs
    // to the key actually used.
    let key = decode_key(&pin.public_key).with_context(|| {
        format!(
            "{WHAT} in {} is damaged; pin the key again with `sekisho audit pin --key KEY --replace`",
            path.display()
        )
    })?;
    if audit_key_fingerprint(&key) != pin.fingerprint {
        bail!(
            "{WHAT} in {} does not match its own fingerprint (was it edited?); pin the key again from the server console with `sekisho audit pin --key KEY --replace`",
            path.display()
        );
    }
    Ok(Some(pin))
}

/// 32 bytes of base64, as `sekisho-gateway audit-key` prints them.
fn decode_key(text: &str) -> Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .context(
            "the audit key is not base64; copy it exactly as `sekisho-gateway audit-key` printed it",
        )?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "the audit key is {} bytes long, but an Ed25519 public key has 32; copy it exactly as `sekisho-gateway audit-key` printed it",
            b.len()
        )
    })
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let path = path(cfg);
    let existing = load(cfg)?;
    if let (Some(old), false) = (&existing, args.replace) {
        bail!(
            "an audit key is already pinned on this computer (fingerprint {}, pinned {}{}). \
             Sekisho does not replace it without --replace, because a changed key is exactly what an attacker who took over the gateway would show you. \
             Only if the server operator confirms the key was changed, compare the new fingerprint with the one printed by `sekisho-gateway audit-key --dir DIR` and run this command again with --replace.",
            old.fingerprint,
            old.pinned_at,
            if old.gateway.is_empty() {
                String::new()
            } else {
                format!(" for {}", old.gateway)
            }
        );
    }

    let (public_key, gateway, source) = match &args.key {
        Some(text) => {
            // Pinning from paper needs no session; remember the gateway
            // when one is known.
            let gateway = match Session::load(&cfg.session_path()).ok().flatten() {
                Some(session) => session.gateway,
                None => cfg
                    .gateway()?
                    .map(|g| crate::config::display_origin(&g))
                    .unwrap_or_default(),
            };
            (text.trim().to_string(), gateway, PinSource::Key)
        }
        None => {
            let (api, session) = crate::commands::logged_in(cfg)?;
            let served: AuditKey = api
                .get(api.url(&["audit", "key"])?)
                .context("could not fetch the audit key from the gateway")?;
            let key = decode_key(&served.public_key)?;
            if audit_key_fingerprint(&key) != served.fingerprint {
                bail!(
                    "the gateway's audit key does not match the fingerprint it gave with it; nothing was pinned. Tell your CISO."
                );
            }
            (served.public_key, session.gateway, PinSource::Fetch)
        }
    };
    let fingerprint = audit_key_fingerprint(&decode_key(&public_key)?);
    let pin = PinnedKey {
        public_key,
        fingerprint,
        gateway,
        pinned_at: super::times::now(),
        source: source.as_str().to_string(),
    };
    if existing
        .as_ref()
        .is_some_and(|old| old.public_key == pin.public_key)
    {
        if cfg.json {
            return print_json(&existing);
        }
        println!(
            "This key is already pinned (fingerprint {}); nothing was changed.",
            pin.fingerprint
        );
        return Ok(());
    }
    files::save_json(&path, &pin, WHAT)?;

    if cfg.json {
        return print_json(&pin);
    }
    println!("Audit key pinned on this computer (監査鍵を登録しました).");
    println!("  Fingerprint (フィンガープリント): {}", pin.fingerprint);
    if !pin.gateway.is_empty() {
        println!("  Gateway (ゲートウェイ):           {}", pin.gateway);
    }
    println!("  Saved in (保存先):                {}", path.display());
    println!();
    if source == PinSource::Fetch {
        println!(
            "This key came from the gateway itself. Before you trust it, compare the fingerprint above, character by character, \
             with the one the server operator printed with `sekisho-gateway audit-key --dir DIR` on the server console (or gave you on paper)."
        );
        println!(
            "If they differ, do not trust this gateway's checkpoints: pin the key from the console with `sekisho audit pin --key KEY --replace` and tell your CISO."
        );
    } else {
        println!(
            "Check that the fingerprint above is the one printed by `sekisho-gateway audit-key --dir DIR`, to be sure the key was copied correctly."
        );
    }
    println!(
        "From now on `sekisho audit verify` checks every checkpoint's signature with this key."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        let good = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(decode_key(&format!(" {good}\n")).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        let err = decode_key(&short).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("31 bytes")));
        assert!(decode_key("not base64!").is_err());
    }

    #[test]
    fn an_edited_pin_is_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("audit-key.json");
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let mut pin = PinnedKey {
            fingerprint: audit_key_fingerprint(&[9u8; 32]),
            public_key: key,
            gateway: String::new(),
            pinned_at: "2026-11-25T00:00:00Z".into(),
            source: "key".into(),
        };
        files::save_json(&file, &pin, WHAT)?;
        assert_eq!(load_from(&file)?, Some(pin.clone()));
        pin.public_key = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
        files::save_json(&file, &pin, WHAT)?;
        assert!(load_from(&file).is_err());
        Ok(())
    }
}
