//! Backups of a data directory: one age-encrypted tar archive holding a
//! consistent snapshot of the database, the configuration, the keys, the
//! TLS files and the store (`sekisho-gateway backup`), checked without
//! restoring (`backup verify`) and rebuilt into a new directory (`restore`).
//!
//! The archive is `tar` inside age's streaming encryption, so memory stays
//! constant whatever the store's size, and age's authenticated chunks make a
//! changed or cut-off archive fail to decrypt. Its last member,
//! `MANIFEST.json`, lists the SHA-256 and size of every other member and the
//! format version; verify recomputes them all.
//!
//! Consistency: the database is snapshotted first, then exactly the objects
//! that snapshot knows are copied (blob and key share). Objects created
//! afterwards are not in the backup at all; objects erased in between have
//! nothing left to copy and are listed in the manifest as erased, which is
//! what they are.

mod create;
mod postgres;
mod restore;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use create::run as create;
pub use restore::run as restore;

/// Raised when the archive layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "MANIFEST.json";
/// The SQLite snapshot's name inside the archive.
const SQLITE_MEMBER: &str = "database/sekisho.db";
/// The PostgreSQL dump's name inside the archive (`pg_dump --format=custom`).
const POSTGRES_MEMBER: &str = "database/postgresql.dump";

/// Plaintext database snapshots in the data directory while a backup runs.
const SNAPSHOT_PREFIX: &str = ".backup-snapshot-";

/// Start-up recovery: removes database snapshots a backup killed halfway
/// left in `dir`. They are plaintext copies of the database that nothing
/// else would ever delete. Returns how many were removed.
pub fn discard_leftover_snapshots(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let is_snapshot = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(SNAPSHOT_PREFIX));
        if is_snapshot {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// What `MANIFEST.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// When the database snapshot was taken (RFC 3339, gateway clock).
    pub created_at: String,
    /// `sqlite` (the snapshot is `database/sekisho.db`) or `postgresql`
    /// (`database/postgresql.dump`).
    pub database: String,
    /// Every other member: path in the archive -> digest and size.
    pub members: BTreeMap<String, Member>,
    /// Objects the snapshot records whose blob or key share was erased
    /// before it could be copied: restored, they stay unreadable, as erased.
    pub erased_while_copying: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub sha256: String,
    pub size: u64,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> Member {
        Member {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = crate::fsutil::filled(buf, n);
        self.hasher.update(read);
        self.size += read.len() as u64;
        Ok(n)
    }
}

/// Reads the age identities in `path` (the file `age-keygen` writes).
fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let file = age::IdentityFile::from_file(path.display().to_string()).with_context(|| {
        format!(
            "鍵ファイル {} を読めません。 Cannot read the identity file {}; pass the backup identity kept off the server with --identity",
            path.display(),
            path.display()
        )
    })?;
    file.into_identities().map_err(|e| {
        anyhow::anyhow!(
            "鍵ファイル {} が age の鍵ではありません。 {} is not an age identity file: {e}",
            path.display(),
            path.display()
        )
    })
}

/// Opens the archive with `identities`: the decrypted tar stream.
fn open_archive(
    file: &Path,
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<tar::Archive<impl Read + use<>>> {
    let input = std::fs::File::open(file).with_context(|| {
        format!(
            "バックアップ {0} を開けません。 Cannot open the backup {0}",
            file.display()
        )
    })?;
    let decryptor =
        age::Decryptor::new(std::io::BufReader::new(input)).map_err(|e| damaged(file, &e))?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => anyhow::anyhow!(
                "この鍵ではバックアップ {0} を開けません。 The identity given cannot open the backup {0}: it was encrypted to other [backup] recipients",
                file.display()
            ),
            other => damaged(file, &other),
        })?;
    Ok(tar::Archive::new(reader))
}

fn damaged(file: &Path, error: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "バックアップ {0} が壊れているか改ざんされています。 The backup {0} is damaged, cut off or was changed ({error}); use another copy",
        file.display()
    )
}

/// A member path must stay inside the directory it is restored into.
fn safe_member_path(path: &Path) -> Result<()> {
    let ok = path.components().all(|c| matches!(c, Component::Normal(_)))
        && path.components().next().is_some();
    if !ok {
        bail!(
            "バックアップに不正なパスがあります。 The backup holds a path outside its folder: {}",
            path.display()
        );
    }
    Ok(())
}

/// Walks the archive: `visit` gets every member but the manifest with its
/// data, then the digests are checked against the manifest, which must be
/// the last member. Returns the manifest.
fn walk(
    file: &Path,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    mut visit: impl FnMut(&Path, &mut dyn Read) -> Result<()>,
) -> Result<Manifest> {
    let mut archive = open_archive(file, identities)?;
    let mut seen: BTreeMap<String, Member> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in archive.entries().map_err(|e| damaged(file, &e))? {
        let entry = entry.map_err(|e| damaged(file, &e))?;
        let path = entry.path().map_err(|e| damaged(file, &e))?.into_owned();
        safe_member_path(&path)?;
        if manifest.is_some() {
            bail!("{}", damaged(file, &"a member follows the manifest"));
        }
        let name = path.display().to_string();
        if name == MANIFEST {
            let mut text = String::new();
            let mut entry = entry;
            entry
                .read_to_string(&mut text)
                .map_err(|e| damaged(file, &e))?;
            manifest = Some(serde_json::from_str(&text).map_err(|e| damaged(file, &e))?);
            continue;
        }
        let mut hashing = Hashing::new(entry);
        visit(&path, &mut hashing).map_err(|e| {
            // age reports a chunk that fails authentication as invalid
            // data: that is damage; the visitor's own errors (a full disk)
            // keep their message.
            match e.downcast_ref::<std::io::Error>() {
                Some(io) if io.kind() == std::io::ErrorKind::InvalidData => damaged(file, io),
                _ => e,
            }
        })?;
        // Drain what the visitor left, so the digest covers the member.
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| damaged(file, &e))?;
        seen.insert(name, hashing.finish());
    }
    let manifest = manifest.ok_or_else(|| damaged(file, &"the manifest is missing (cut off?)"))?;
    if manifest.format_version != FORMAT_VERSION {
        bail!(
            "バックアップの形式 {} はこの版では読めません。 Backup format {} is not the format {FORMAT_VERSION} this gateway reads; use the matching sekisho-gateway version",
            manifest.format_version,
            manifest.format_version
        );
    }
    if seen != manifest.members {
        let differing: Vec<&String> = manifest
            .members
            .keys()
            .chain(seen.keys())
            .filter(|k| manifest.members.get(*k) != seen.get(*k))
            .collect();
        bail!(
            "{}",
            damaged(
                file,
                &format!("members differ from the manifest: {differing:?}")
            )
        );
    }
    Ok(manifest)
}

/// `sekisho-gateway backup verify`: decrypts the whole archive and checks
/// every member against the manifest, writing nothing.
pub fn verify(file: &Path, identity: &Path) -> Result<Manifest> {
    let identities = load_identities(identity)?;
    walk(file, &identities, |_, _| Ok(()))
}
