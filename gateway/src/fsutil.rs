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
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    durable_rename(file, &tmp, path, contents)
}

/// Replaces `path` atomically (used for files the gateway owns, like its config).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp-new");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    durable_rename(file, &tmp, path, contents)
}

/// Writes `contents` into the freshly created `tmp`, fsyncs it, renames it
/// to `path` and fsyncs the folder. Every error is returned (a failed fsync
/// means the bytes may not be on the disk), and on any error before the
/// rename the temporary file is removed, so a full disk leaves nothing
/// half-written behind.
fn durable_rename(mut file: File, tmp: &Path, path: &Path, contents: &[u8]) -> Result<()> {
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {} (is the disk full?)", tmp.display()));
    drop(file);
    let renamed = written.and_then(|()| {
        std::fs::rename(tmp, path).with_context(|| format!("cannot create {}", path.display()))
    });
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
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
    file.sync_all()
        .with_context(|| format!("cannot make the overwrite of {} durable", path.display()))?;
    drop(file);
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    sync_parent(path)
}

/// The part of `buf` that a read of `n` bytes filled. `Read` promises
/// `n <= buf.len()`; a reader breaking that promise gets its whole buffer
/// back rather than a panic in the server.
/// Reads a small secret file that only the gateway's user may read;
/// `what` names the secret in the refusal. The text is zeroized on drop.
pub fn read_private_text(path: &Path, what: &str) -> Result<zeroize::Zeroizing<String>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} may be read by other users (mode {mode:o}); it holds {what}. Fix: chmod 600 {}",
        path.display(),
        path.display()
    );
    Ok(zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    ))
}

pub fn filled(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that cannot complete (here the rename, because the folder
    /// went away; on a full disk the write or the fsync) leaves no
    /// temporary file and reports the failure.
    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("gone").join("share");
        std::fs::create_dir(dir.path().join("gone")).expect("dir");
        let tmp = target.with_extension("tmp-new");
        let file = std::fs::File::create(&tmp).expect("tmp");
        std::fs::remove_dir_all(dir.path().join("gone")).expect("remove");
        assert!(durable_rename(file, &tmp, &target, b"x").is_err());
        assert!(!tmp.exists() && !target.exists());

        let path = dir.path().join("k");
        write_new_private(&path, b"once").expect("first write");
        assert!(write_new_private(&path, b"twice").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"once");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("k")]);
    }
}
