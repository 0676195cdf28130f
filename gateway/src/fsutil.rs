//! Crash-safe and private file writing: write to a temporary name, fsync,
//! rename, fsync the folder. A crash leaves either the old state or the new
//! one, never a half-written file under the final name.

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn create_private_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("cannot create the folder {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict the folder {}", path.display()))?;
    Ok(())
}

/// Creates `path` with mode 0600; refuses if it exists.
pub fn write_new_private(path: &Path, contents: &[u8]) -> Result<()> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            path.display()
        );
    }
    let tmp = path.with_extension("tmp-new");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))?;
    sync_parent(path)
}

/// Replaces `path` atomically (used for files the gateway owns, like its config).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp-new");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    sync_parent(path)
}

pub fn sync_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync the folder {}", parent.display()))?;
    }
    Ok(())
}

/// Overwrites a file in place with zeros, fsyncs, then unlinks it and syncs
/// the folder. On SSDs and copy-on-write file systems the old blocks may
/// survive; that is why stored bytes are ciphertext and erasure is
/// cryptographic first. A missing file is not an error.
pub fn overwrite_and_remove(path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open {} to erase it", path.display()));
        }
    };
    let length = file.metadata()?.len();
    let zeros = vec![0u8; 1 << 20];
    file.seek(SeekFrom::Start(0))?;
    let mut left = length;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(filled(&zeros, n))?;
        left -= n as u64;
    }
    file.sync_all()?;
    drop(file);
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    sync_parent(path)
}

/// The part of `buf` that a read of `n` bytes filled. `Read` promises
/// `n <= buf.len()`; a reader breaking that promise gets its whole buffer
/// back rather than a panic in the server.
pub fn filled(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or(buf)
}
