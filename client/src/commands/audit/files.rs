//! Files the audit commands keep and write.
//!
//! Two small records live in `$SEKISHO_HOME` next to the session: the
//! pinned audit key (`audit-key.json`) and the last checkpoint a
//! verification accepted (`audit-state.json`). Whoever can change them can
//! blind the auditor, so they are written like the session file: a 0700
//! folder, a 0600 file, written under a temporary name and renamed.
//!
//! Exports (`--output FILE`) follow the rule of the rest of the CLI: an
//! existing file is never replaced. They are written to a temporary file
//! beside the target and put in place only when complete, so a download
//! that fails half-way leaves nothing that looks like a finished export.
//! Audit exports name people and addresses, so they are 0600 too.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::private_file::{create_private_file, temp_path, write_atomically};

/// Reads a JSON record; `Ok(None)` when the file does not exist.
pub fn load_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("could not read {what} {}", path.display()));
        }
    };
    warn_if_writable_by_others(path, what);
    serde_json::from_slice(&bytes).map(Some).with_context(|| {
        format!(
            "{what} {} is damaged; look at it, then move it away and run the command again",
            path.display()
        )
    })
}

/// Writes a JSON record privately, replacing the previous one atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T, what: &str) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value).context("could not encode the record")?;
    json.push(b'\n');
    write_atomically(path, &json, what)
}

/// A pinned key that others may change is no pin at all.
#[cfg(unix)]
fn warn_if_writable_by_others(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            eprintln!(
                "warning: {what} {} can be changed by other users (mode {mode:o}); run `chmod 600 {}`.",
                path.display(),
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_writable_by_others(_path: &Path, _what: &str) {}

/// A new file that appears under its name only when [`NewFile::finish`]
/// succeeds; dropped unfinished, it leaves nothing behind.
pub struct NewFile {
    target: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl NewFile {
    /// Refuses at once when `target` exists, before anything is downloaded.
    pub fn create(target: &Path) -> Result<NewFile> {
        if fs::symlink_metadata(target).is_ok() {
            bail!(
                "{} already exists; Sekisho never overwrites a file. Choose another name with --output FILE.",
                target.display()
            );
        }
        let tmp = temp_path(target);
        let file = create_private_file(&tmp).with_context(|| {
            format!(
                "could not create a file next to {}; check that the folder exists and you may write in it",
                target.display()
            )
        })?;
        Ok(NewFile {
            target: target.to_path_buf(),
            tmp,
            out: Some(BufWriter::new(file)),
        })
    }

    pub fn finish(mut self) -> Result<()> {
        let out = self.out.take().context("the file was already finished")?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all().map(|()| f))
            .with_context(|| format!("could not write {}", self.target.display()))?;
        drop(file);
        place_without_overwriting(&self.tmp, &self.target)
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(buf),
            None => Err(io::Error::other("the file was already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A hard link fails if the target exists, so another file that appeared
/// meanwhile is never replaced; file systems without hard links fall back
/// to check-then-rename.
fn place_without_overwriting(tmp: &Path, target: &Path) -> Result<()> {
    let appeared = || {
        anyhow::anyhow!(
            "{} appeared while the export was being written; Sekisho never overwrites a file. Choose another name with --output FILE.",
            target.display()
        )
    };
    let result = match fs::hard_link(tmp, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(appeared()),
        Err(_) if fs::symlink_metadata(target).is_ok() => Err(appeared()),
        Err(_) => {
            fs::rename(tmp, target).with_context(|| format!("could not save {}", target.display()))
        }
    };
    let _ = fs::remove_file(tmp);
    result
}

/// Where an export goes: the screen, or a new file.
pub enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File(NewFile),
}

impl Sink {
    pub fn open(output: Option<&Path>) -> Result<Sink> {
        Ok(match output {
            Some(path) => Sink::File(NewFile::create(path)?),
            None => Sink::Stdout(BufWriter::new(io::stdout())),
        })
    }

    /// Flushes the screen, or puts the file in place.
    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut out) => out.flush().context("could not write to standard output"),
            Sink::File(file) => file.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File(file) => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_never_replaced() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("export.csv");
        fs::write(&target, b"keep me")?;
        assert!(NewFile::create(&target).is_err());
        assert_eq!(fs::read(&target)?, b"keep me");
        Ok(())
    }

    #[test]
    fn a_file_appears_only_when_finished() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("export.csv");
        {
            let mut file = NewFile::create(&target)?;
            file.write_all(b"half")?;
            // Dropped without finishing: a failed download.
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path())?.count(), 0, "temporary file left");

        let mut file = NewFile::create(&target)?;
        file.write_all(b"whole")?;
        // Somebody else creates the name meanwhile: theirs is kept.
        fs::write(&target, b"theirs")?;
        assert!(file.finish().is_err());
        assert_eq!(fs::read(&target)?, b"theirs");
        assert_eq!(fs::read_dir(dir.path())?.count(), 1, "temporary file left");

        fs::remove_file(&target)?;
        let mut file = NewFile::create(&target)?;
        file.write_all(b"whole")?;
        file.finish()?;
        assert_eq!(fs::read(&target)?, b"whole");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn records_are_private_and_replaced_whole() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("home").join("audit-state.json");
        assert!(load_json::<serde_json::Value>(&path, "the state")?.is_none());
        save_json(&path, &serde_json::json!({ "seq": 1 }), "the state")?;
        save_json(&path, &serde_json::json!({ "seq": 2 }), "the state")?;
        let back: Option<serde_json::Value> = load_json(&path, "the state")?;
        assert_eq!(back, Some(serde_json::json!({ "seq": 2 })));
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        let home = dir.path().join("home");
        assert_eq!(fs::metadata(&home)?.permissions().mode() & 0o777, 0o700);
        fs::write(&path, b"{ not json")?;
        let err = load_json::<serde_json::Value>(&path, "the state")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("damaged"), "{err}");
        Ok(())
    }
}
