//! Blobs as files in a folder: the embedded default store.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{BlobStore, BlobWriter, SeekRead, StoredBlob, valid_id};

/// Blobs as files under `<root>/objects/<2 hex>/<id>`, written under
/// `<root>/tmp` and renamed into place after fsync.
pub struct LocalDisk {
    root: PathBuf,
}

/// Where a committed blob `id` lives under a store folder `root`; backups
/// read the store through this instead of knowing the layout themselves.
pub fn committed_path(root: &Path, id: &str) -> PathBuf {
    let shard = id.get(..2).unwrap_or("00");
    root.join("objects").join(shard).join(id)
}

impl LocalDisk {
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("objects"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn final_path(&self, id: &str) -> PathBuf {
        committed_path(&self.root, id)
    }
}

impl BlobStore for LocalDisk {
    fn create(&self, id: &str) -> io::Result<Box<dyn BlobWriter>> {
        valid_id(id)?;
        let final_path = self.final_path(id);
        if let Some(shard) = final_path.parent()
            && !shard.is_dir()
        {
            std::fs::create_dir_all(shard)?;
            // The new shard's own entry must survive a power cut too, or
            // the blob committed into it later could vanish with it.
            File::open(self.root.join("objects"))?.sync_all()?;
        }
        let tmp_path = self.root.join("tmp").join(format!("{id}.partial"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp_path)?;
        Ok(Box::new(LocalWriter {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp_path,
            final_path,
            renamed: false,
        }))
    }

    fn open(&self, id: &str) -> io::Result<Box<dyn Read + Send>> {
        valid_id(id)?;
        Ok(Box::new(File::open(self.final_path(id))?))
    }

    fn open_seekable(&self, id: &str) -> io::Result<Box<dyn SeekRead>> {
        valid_id(id)?;
        Ok(Box::new(File::open(self.final_path(id))?))
    }

    fn delete(&self, id: &str) -> io::Result<()> {
        valid_id(id)?;
        match std::fs::remove_file(self.final_path(id)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn erase(&self, id: &str) -> io::Result<()> {
        valid_id(id)?;
        crate::fsutil::overwrite_and_remove(&self.final_path(id)).map_err(io::Error::other)
    }

    fn list(&self) -> io::Result<Vec<StoredBlob>> {
        let mut blobs = Vec::new();
        for shard in std::fs::read_dir(self.root.join("objects"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                if let Some(name) = entry.file_name().to_str() {
                    blobs.push(StoredBlob {
                        id: name.to_string(),
                        modified: entry.metadata()?.modified()?,
                    });
                }
            }
        }
        Ok(blobs)
    }

    fn discard_partials(&self, older_than: Duration) -> io::Result<usize> {
        let mut n = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if !is_older_than(entry.metadata()?.modified()?, older_than) {
                continue;
            }
            // Another replica may have finished it meanwhile.
            match std::fs::remove_file(entry.path()) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// Whether a file written at `modified` is older than `age` now (store
/// times are the system's, not the injected clock's). A time in the
/// future counts as new.
// The system clock on purpose: a test's moved clock would make a file
// another replica is writing right now look old.
#[allow(clippy::disallowed_methods)]
pub fn is_older_than(modified: SystemTime, age: Duration) -> bool {
    age.is_zero()
        || SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|elapsed| elapsed >= age)
}

struct LocalWriter {
    file: Option<BufWriter<File>>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    /// Set once the temporary file has its final name: from then on it is
    /// the blob, and the caller removes it if the commit still failed.
    renamed: bool,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("blob already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter for LocalWriter {
    /// Every step's error is returned, the last buffered write's and each
    /// fsync's included: on a full disk the data may only fail to reach
    /// the disk at fsync, and a blob whose fsync failed is not durable.
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let Some(writer) = self.file.take() else {
            return Err(io::Error::other("blob already committed"));
        };
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.final_path)?;
        self.renamed = true;
        if let Some(parent) = self.final_path.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for LocalWriter {
    /// Not committed (dropped, or a step of `commit` failed): the
    /// temporary file goes, so a full disk leaves nothing behind in `tmp`.
    fn drop(&mut self) {
        // Unflushed bytes are discarded, not written out on the way.
        if let Some(writer) = self.file.take() {
            drop(writer.into_parts());
        }
        if !self.renamed {
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn store() -> (PathBuf, LocalDisk) {
        let root = std::env::temp_dir().join(format!("sekisho-blob-{}", uuid::Uuid::new_v4()));
        let store = LocalDisk::open(&root).unwrap();
        (root, store)
    }

    #[test]
    fn nothing_is_visible_before_commit_and_drop_discards() {
        let (root, store) = store();
        let mut w = store.create("abcd").unwrap();
        w.write_all(b"secret").unwrap();
        assert!(store.open("abcd").is_err());
        drop(w);
        assert!(store.open("abcd").is_err());
        assert_eq!(store.discard_partials(Duration::ZERO).unwrap(), 0);
        let mut w = store.create("abcd").unwrap();
        w.write_all(b"secret").unwrap();
        w.commit().unwrap();
        let mut text = String::new();
        store
            .open("abcd")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "secret");
        let listed: Vec<String> = store.list().unwrap().into_iter().map(|b| b.id).collect();
        assert_eq!(listed, vec!["abcd".to_string()]);
        store.delete("abcd").unwrap();
        store.delete("abcd").unwrap();
        let _ = std::fs::remove_dir_all(root);
    }

    /// A commit that fails (here the rename, because the shard folder went
    /// away; on a full disk the last write or the fsync) leaves neither the
    /// blob nor its temporary file.
    #[test]
    fn a_failed_commit_leaves_no_temporary_file() {
        let (root, store) = store();
        let mut w = store.create("abcd").unwrap();
        w.write_all(b"secret").unwrap();
        std::fs::remove_dir_all(root.join("objects").join("ab")).unwrap();
        assert!(w.commit().is_err());
        assert!(store.open("abcd").is_err());
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn ids_cannot_escape_the_store() {
        let (root, store) = store();
        assert!(store.create("../x").is_err());
        assert!(store.open("..").is_err());
        let _ = std::fs::remove_dir_all(root);
    }
}
