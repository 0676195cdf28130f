//! Key material in the data directory's `keys/` folder.
//!
//! - `master.key`: an age X25519 identity. It wraps every per-object key and
//!   every stored secret (TOTP seeds, generated passphrases). Losing it makes
//!   the store unreadable; leaking it alone reveals nothing that was already
//!   crypto-erased, because erased objects have no wrapped key left to open.
//! - `link.key`: 32 random bytes. Download tokens are derived from it, so the
//!   database holds only token hashes yet the sender can be shown a link again.
//! - `audit.key`: the Ed25519 key that signs audit checkpoints. Auditors pin
//!   its public half (`sekisho-gateway audit-key`) and verify offline.
//!
//! - `objects/<id>`: one 32-byte key share per stored object. A per-object
//!   key is usable only with both its wrapped copy in the database and its
//!   share here, so a copy of the database plus the master key still cannot
//!   open an object whose share was erased (see [`KeyShares`]). With
//!   `[store] key_shares` the shares live in that folder instead (one
//!   folder all replicas reach; never the object store).
//!
//! Files are created 0600 and their contents live in zeroizing buffers.

use anyhow::{Context, Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

use crate::fsutil;

pub struct Keys {
    shares: KeyShares,
    master: age::x25519::Identity,
    master_recipient: age::x25519::Recipient,
    link_key: Zeroizing<[u8; 32]>,
    audit_key: ed25519_dalek::SigningKey,
}

fn keys_dir(dir: &Path) -> PathBuf {
    dir.join("keys")
}

impl Keys {
    /// Creates fresh keys; refuses to replace existing ones.
    pub fn generate(dir: &Path) -> Result<()> {
        let folder = keys_dir(dir);
        fsutil::create_private_dir(&folder)?;
        let master = age::x25519::Identity::generate();
        let text = Zeroizing::new(format!("{}\n", master.to_string().expose_secret()));
        fsutil::write_new_private(&folder.join("master.key"), text.as_bytes())?;
        let mut link_key = Zeroizing::new([0u8; 32]);
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, link_key.as_mut())
            .context("cannot read the system random number generator")?;
        let hex = Zeroizing::new(hex::encode(link_key.as_slice()));
        fsutil::write_new_private(&folder.join("link.key"), hex.as_bytes())?;
        let audit_key = ed25519_dalek::SigningKey::generate(&mut rand::rand_core::UnwrapErr(
            rand::rngs::SysRng,
        ));
        let hex = Zeroizing::new(hex::encode(audit_key.to_bytes()));
        fsutil::write_new_private(&folder.join("audit.key"), hex.as_bytes())?;
        Ok(())
    }

    /// Loads the keys with the shares in the default `keys/objects`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with_shares(dir, keys_dir(dir).join("objects"))
    }

    /// Loads the keys of `dir/keys` with the key shares in `shares`.
    pub fn load_with_shares(dir: &Path, shares: PathBuf) -> Result<Self> {
        let folder = keys_dir(dir);
        refuse_loose_modes(dir)?;
        let master_path = folder.join("master.key");
        let text = Zeroizing::new(std::fs::read_to_string(&master_path).with_context(|| {
            format!(
                "the master key {} is missing or unreadable; nothing can be released without it",
                master_path.display()
            )
        })?);
        let master = age::x25519::Identity::from_str(text.trim()).map_err(|e| {
            anyhow::anyhow!("the master key {} is damaged: {e}", master_path.display())
        })?;
        let link_path = folder.join("link.key");
        let hex_text = Zeroizing::new(std::fs::read_to_string(&link_path).with_context(|| {
            format!(
                "the link key {} is missing or unreadable",
                link_path.display()
            )
        })?);
        let mut link_key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_text.trim(), link_key.as_mut())
            .with_context(|| format!("the link key {} is damaged", link_path.display()))?;
        let audit_path = folder.join("audit.key");
        let audit_hex =
            Zeroizing::new(std::fs::read_to_string(&audit_path).with_context(|| {
                format!(
                    "the audit signing key {} is missing or unreadable",
                    audit_path.display()
                )
            })?);
        let mut audit_seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(audit_hex.trim(), audit_seed.as_mut()).with_context(|| {
            format!("the audit signing key {} is damaged", audit_path.display())
        })?;
        let audit_key = ed25519_dalek::SigningKey::from_bytes(&audit_seed);
        let master_recipient = master.to_public();
        Ok(Self {
            shares: KeyShares { root: shares },
            master,
            master_recipient,
            link_key,
            audit_key,
        })
    }

    /// Encrypts a small secret to the master key (age format).
    pub fn wrap(&self, secret: &[u8]) -> Result<Vec<u8>> {
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            &self.master_recipient as &dyn age::Recipient,
        ))
        .context("cannot set up key wrapping")?;
        let mut out = Vec::with_capacity(secret.len() + 256);
        let mut writer = encryptor.wrap_output(&mut out)?;
        writer.write_all(secret)?;
        writer.finish()?;
        Ok(out)
    }

    pub fn unwrap_secret(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let decryptor = age::Decryptor::new_buffered(wrapped)
            .context("a wrapped key in the database is damaged")?;
        let mut reader = decryptor
            .decrypt(std::iter::once(&self.master as &dyn age::Identity))
            .context("a wrapped key cannot be opened with this gateway's master key")?;
        let mut out = Zeroizing::new(Vec::new());
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    pub fn unwrap_string(&self, wrapped: &[u8]) -> Result<SecretString> {
        let bytes = self.unwrap_secret(wrapped)?;
        let text = std::str::from_utf8(&bytes).context("a wrapped secret is not text")?;
        Ok(SecretString::from(text.to_string()))
    }

    /// The download token of a link: HMAC over the link's id and nonce.
    pub fn link_token(&self, link_id: &str, nonce: &str) -> String {
        use base64::Engine;
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.link_key.as_ref()) else {
            // HMAC accepts keys of any length; this branch cannot be reached.
            return String::new();
        };
        mac.update(b"sekisho-link-v1\0");
        mac.update(link_id.as_bytes());
        mac.update(b"\0");
        mac.update(nonce.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl Keys {
    pub fn shares(&self) -> &KeyShares {
        &self.shares
    }

    /// The audit public key as auditors pin it.
    pub fn audit_public(&self) -> sekisho_proto::AuditKey {
        use base64::Engine;
        let public = self.audit_key.verifying_key().to_bytes();
        sekisho_proto::AuditKey {
            public_key: base64::engine::general_purpose::STANDARD.encode(public),
            fingerprint: sekisho_proto::audit_key_fingerprint(&public),
        }
    }

    /// Signs arbitrary bytes with the audit key (base64 signature); used for
    /// deletion certificates.
    pub fn sign_bytes(&self, message: &[u8]) -> String {
        use base64::Engine;
        use ed25519_dalek::Signer;
        base64::engine::general_purpose::STANDARD.encode(self.audit_key.sign(message).to_bytes())
    }

    /// Signs a checkpoint of the audit chain.
    pub fn sign_checkpoint(
        &self,
        seq: i64,
        head_hash: &str,
        at: &str,
    ) -> sekisho_proto::AuditCheckpoint {
        use base64::Engine;
        use ed25519_dalek::Signer;
        let signature = self
            .audit_key
            .sign(&sekisho_proto::checkpoint_message(seq, head_hash, at));
        sekisho_proto::AuditCheckpoint {
            seq,
            head_hash: head_hash.to_string(),
            at: at.to_string(),
            key_fingerprint: self.audit_public().fingerprint,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        }
    }
}

/// A fresh per-object key: an age X25519 identity used for exactly one
/// stored object. Destroying its wrapped copy is the cryptographic erase.
pub struct ObjectKey {
    identity: age::x25519::Identity,
}

impl ObjectKey {
    pub fn generate() -> Self {
        Self {
            identity: age::x25519::Identity::generate(),
        }
    }

    pub fn recipient(&self) -> age::x25519::Recipient {
        self.identity.to_public()
    }

    pub fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    /// Seals the key for storage: encrypted under a fresh share kept in
    /// `keys/objects/<id>`, then wrapped by the master key for the database.
    pub fn wrap(&self, keys: &Keys, object_id: &str) -> Result<Vec<u8>> {
        use chacha20poly1305::aead::{Aead, KeyInit};
        let share = keys.shares.create(object_id)?;
        let cipher = chacha20poly1305::ChaCha20Poly1305::new((&*share).into());
        let text = self.identity.to_string();
        // Each share encrypts exactly one message, so a fixed nonce is safe.
        let inner = cipher
            .encrypt(
                &chacha20poly1305::Nonce::default(),
                text.expose_secret().as_bytes(),
            )
            .map_err(|_| anyhow::anyhow!("cannot seal an object key"))?;
        keys.wrap(&inner)
    }

    pub fn unwrap(keys: &Keys, object_id: &str, wrapped: &[u8]) -> Result<Self> {
        use chacha20poly1305::aead::{Aead, KeyInit};
        let inner = keys.unwrap_secret(wrapped)?;
        let share = keys.shares.read(object_id)?;
        let cipher = chacha20poly1305::ChaCha20Poly1305::new((&*share).into());
        let text = Zeroizing::new(
            cipher
                .decrypt(&chacha20poly1305::Nonce::default(), inner.as_slice())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the key share of object {object_id} does not match its wrapped key"
                    )
                })?,
        );
        let text = std::str::from_utf8(&text).context("a stored object key is damaged")?;
        match age::x25519::Identity::from_str(text) {
            Ok(identity) => Ok(Self { identity }),
            Err(e) => bail!("a stored object key is damaged: {e}"),
        }
    }
}

/// Per-object key shares on the gateway's own disk. Erasing a share is the
/// part of the cryptographic erase that no database copy can undo.
pub struct KeyShares {
    root: PathBuf,
}

impl KeyShares {
    /// The folder of the shares.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the share of `object_id` lives (backups copy it from there).
    pub fn path(&self, object_id: &str) -> Result<PathBuf> {
        anyhow::ensure!(
            !object_id.is_empty() && object_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "invalid object id"
        );
        Ok(self.root.join(object_id))
    }

    fn create(&self, object_id: &str) -> Result<Zeroizing<[u8; 32]>> {
        fsutil::create_private_dir(&self.root)?;
        let mut share = Zeroizing::new([0u8; 32]);
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, share.as_mut())
            .context("cannot read the system random number generator")?;
        fsutil::write_new_private(&self.path(object_id)?, share.as_ref())?;
        Ok(share)
    }

    fn read(&self, object_id: &str) -> Result<Zeroizing<[u8; 32]>> {
        let path = self.path(object_id)?;
        let bytes = Zeroizing::new(std::fs::read(&path).with_context(|| {
            format!("the key share of object {object_id} is missing (erased?)")
        })?);
        let mut share = Zeroizing::new([0u8; 32]);
        anyhow::ensure!(
            bytes.len() == 32,
            "the key share of object {object_id} is damaged"
        );
        share.copy_from_slice(&bytes);
        Ok(share)
    }

    pub fn exists(&self, object_id: &str) -> bool {
        self.path(object_id).map(|p| p.exists()).unwrap_or(false)
    }

    /// Removes shares a crash left half-written (the temporary files of
    /// [`fsutil::write_new_private`], never renamed to an object's id: no
    /// object can use them); returns how many. Start-up recovery only.
    /// With a shared folder only those older than `older_than`: another
    /// replica may be writing the younger ones right now.
    pub fn discard_partials(&self, older_than: std::time::Duration) -> Result<usize> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot list {}", self.root.display()));
            }
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", self.root.display()))?
                .path();
            let old_enough = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| crate::blob::is_older_than(modified, older_than));
            if path.extension().is_some_and(|e| e == "tmp-new") && old_enough {
                fsutil::overwrite_and_remove(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Overwrites the share, makes that durable, then removes it.
    /// Missing shares are fine: erasing is idempotent.
    pub fn erase(&self, object_id: &str) -> Result<()> {
        let path = self.path(object_id)?;
        fsutil::overwrite_and_remove(&path)
    }
}

/// Every file that holds a secret, with the folders that hold them. The TLS
/// CA key may be absent (a deployment with its own certificate removes it).
fn secret_paths(dir: &Path) -> Vec<PathBuf> {
    let folder = keys_dir(dir);
    vec![
        folder.clone(),
        folder.join("master.key"),
        folder.join("link.key"),
        folder.join("audit.key"),
        folder.join("tls-ca.key"),
        folder.join("objects"),
        dir.join("tls").join("server.key"),
    ]
}

/// Start-up refuses key files and folders that other users may read or
/// write: a key that leaked is no key, and a warning in a log nobody reads
/// protects nothing. The error names every such path and the command that
/// fixes them.
pub fn refuse_loose_modes(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let loose: Vec<(PathBuf, u32)> = secret_paths(dir)
        .into_iter()
        .filter_map(|path| {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then_some((path, mode))
        })
        .collect();
    if loose.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = loose
        .iter()
        .map(|(path, mode)| format!("{} (mode {mode:o})", path.display()))
        .collect();
    let fixes: Vec<String> = loose
        .iter()
        .map(|(path, _)| {
            let wanted = if path.is_dir() { "700" } else { "600" };
            format!("chmod {wanted} {}", path.display())
        })
        .collect();
    anyhow::bail!(
        "鍵ファイルが他のユーザーから読める状態のため、起動しません。 \
         Key files other users can read or write, so the gateway does not start: {}. \
         Fix with: {}",
        listed.join(", "),
        fixes.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_keys() -> (tempdir::Dir, Keys) {
        let dir = tempdir::Dir::new();
        Keys::generate(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
        let keys = Keys::load(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
        (dir, keys)
    }

    #[test]
    fn wrapped_secrets_round_trip() {
        let (_dir, keys) = temp_keys();
        let wrapped = keys.wrap(b"seed").unwrap_or_default();
        assert_ne!(wrapped, b"seed");
        let opened = keys
            .unwrap_secret(&wrapped)
            .map(|z| z.to_vec())
            .unwrap_or_default();
        assert_eq!(opened, b"seed");
    }

    #[test]
    fn link_tokens_are_stable_and_distinct() {
        let (_dir, keys) = temp_keys();
        let a = keys.link_token("L1", "n1");
        assert_eq!(a, keys.link_token("L1", "n1"));
        assert_ne!(a, keys.link_token("L1", "n2"));
        assert_ne!(a, keys.link_token("L2", "n1"));
        assert!(a.len() >= 43, "256-bit token expected");
    }

    #[test]
    fn checkpoints_verify_with_the_public_key_and_not_when_altered() {
        let (_dir, keys) = temp_keys();
        let public = keys.audit_public();
        let mut checkpoint = keys.sign_checkpoint(7, "ab", "2026-11-25T00:00:00Z");
        assert_eq!(
            sekisho_proto::verify_checkpoint(&public.public_key, &checkpoint),
            Ok(())
        );
        checkpoint.seq = 6;
        assert!(sekisho_proto::verify_checkpoint(&public.public_key, &checkpoint).is_err());
    }

    #[test]
    fn generate_refuses_to_overwrite() {
        let (dir, _keys) = temp_keys();
        assert!(Keys::generate(dir.path()).is_err());
    }

    /// Minimal temporary folder without another dependency.
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let path =
                    std::env::temp_dir().join(format!("sekisho-keys-{}", uuid::Uuid::new_v4()));
                let _ = std::fs::create_dir_all(&path);
                Dir(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
