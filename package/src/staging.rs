//! The files one run writes: temporaries (mode 0600) until every check has
//! passed, then their final names, placed so that nothing is overwritten.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sekisho_proto::MANIFEST_NAME;
use sha2::{Digest, Sha256};

use crate::{broken_stream, damaged};

/// Large reads and writes, without holding much in memory.
const CHUNK: usize = 1024 * 1024;

/// Files written by this run: temporaries until `commit`, then their final
/// names. Anything not committed is removed by `discard` (or on drop).
pub struct Staging {
    dir: PathBuf,
    created_dir: bool,
    staged: Vec<(PathBuf, PathBuf)>,
    placed: Vec<PathBuf>,
    counter: u32,
    done: bool,
}

impl Staging {
    /// Takes `dir` (created when missing, and then removed again by
    /// [`Staging::discard`]) and refuses at once if a manifest is already there.
    pub fn prepare(dir: &Path) -> Result<Staging> {
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
        sekisho_proto::names::join_one(&self.dir, name).map_err(|why| {
            anyhow!(
                "the package names a file '{}' that cannot be written here: {why}",
                name.escape_debug()
            )
        })
    }

    pub(crate) fn ensure_free(&self, name: &str) -> Result<()> {
        let target = self.target(name)?;
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            _ => bail!(
                "{} already exists; Sekisho never overwrites a file. Choose an empty folder with -o DIR",
                target.display()
            ),
        }
    }

    pub(crate) fn new_temp(&mut self) -> Result<(PathBuf, File)> {
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

    pub(crate) fn stage_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.target(name)?;
        let (tmp, mut file) = self.new_temp()?;
        self.staged.push((tmp.clone(), target));
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("could not write {} (is the disk full?)", tmp.display()))
    }

    /// Copies one file into a temporary, hashing as it goes, and keeps it
    /// only if size and SHA-256 match the manifest.
    pub(crate) fn stage_stream(
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
    pub(crate) fn commit(&mut self) -> Result<()> {
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

    /// Removes every file this run wrote, and the folder if it made it.
    pub fn discard(&mut self) {
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
