//! `sekisho-gateway restore --from FILE --dir NEW --identity KEY`: rebuilds a
//! data directory from a backup. The archive is verified completely before
//! anything is written, then unpacked with the modes the gateway demands of
//! key files (0600 files, 0700 folders), and the configuration is written
//! last: like `init`, its presence marks a complete directory.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Manifest, POSTGRES_MEMBER, SQLITE_MEMBER, load_identities, walk};
use crate::config::{CONFIG_FILE, Config, DatabaseUrl};
use crate::fsutil;

/// `database_url`: for a PostgreSQL backup, the new, empty database the dump
/// is restored into (it becomes the restored directory's `database.url`).
pub fn run(
    file: &Path,
    identity: &Path,
    new_dir: &Path,
    database_url: Option<&DatabaseUrl>,
) -> Result<Manifest> {
    if new_dir.exists()
        && std::fs::read_dir(new_dir)
            .with_context(|| format!("cannot read {}", new_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{0} は空ではありません。 {0} is not empty; restore into a new or empty folder",
            new_dir.display()
        );
    }
    let identities = load_identities(identity)?;
    // First pass: nothing is written unless the whole archive checks out.
    let manifest = walk(file, &identities, |_, _| Ok(()))?;
    let postgres_url = match (manifest.database.as_str(), database_url) {
        ("postgresql", Some(url)) if !url.is_empty() => Some(url.clone()),
        ("postgresql", _) => bail!(
            "PostgreSQL のバックアップです。復元先の空のデータベースを --database-url で指定してください。 \
             This is a PostgreSQL backup: give the new, empty database to restore into with --database-url postgres://..."
        ),
        _ => None,
    };
    let written = unpack(file, &identities, new_dir, postgres_url);
    written.with_context(|| {
        format!(
            "復元は途中で止まりました。{0} を削除してからやり直してください。 The restore stopped halfway: {0} is incomplete (it has no {CONFIG_FILE}, so it cannot be served); delete it before trying again",
            new_dir.display()
        )
    })?;
    Ok(manifest)
}

/// The second pass: writes the members into `new_dir`, restores the
/// database, then writes the configuration.
fn unpack(
    file: &Path,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    new_dir: &Path,
    postgres_url: Option<DatabaseUrl>,
) -> Result<()> {
    let dump = new_dir.join(".restore-postgresql.dump");
    fsutil::create_private_dir(new_dir)?;
    let mut config_text: Option<String> = None;
    // Second pass: the digests are checked again, so an archive replaced
    // between the passes is refused too (the folder is then left partial,
    // without its configuration, so it cannot be served by mistake).
    walk(file, identities, |path, data| {
        let name = path.display().to_string();
        if name == CONFIG_FILE {
            let mut text = String::new();
            data.read_to_string(&mut text)?;
            config_text = Some(text);
            return Ok(());
        }
        let target = if name == SQLITE_MEMBER {
            new_dir.join("sekisho.db")
        } else if name == POSTGRES_MEMBER {
            dump.clone()
        } else {
            new_dir.join(path)
        };
        write_private(new_dir, &target, data)
    })?;
    let text = config_text.with_context(|| format!("the backup has no {CONFIG_FILE}"))?;
    let mut config = Config::from_toml(&text)
        .with_context(|| format!("the {CONFIG_FILE} in the backup is not valid"))?;
    // The snapshot now lives in NEW (or the new database); the old URL would
    // still name the old directory's file or database, and serving that is
    // exactly what must not happen. Empty means NEW/sekisho.db.
    match postgres_url {
        Some(url) => {
            let restored = super::postgres::restore(url.expose(), &dump);
            let _ = std::fs::remove_file(&dump);
            restored?;
            config.database.url = url;
        }
        None => config.database.url = DatabaseUrl::new(""),
    }
    for folder in ["store/objects", "store/tmp", "keys/objects"] {
        fsutil::create_private_dir(&new_dir.join(folder))?;
    }
    fsutil::write_atomic(&Config::path(new_dir), config.to_toml()?.as_bytes(), 0o600)?;
    Ok(())
}

/// Creates `target` (and its folders, 0700) with mode 0600 and fsyncs it.
fn write_private(root: &Path, target: &Path, data: &mut dyn Read) -> Result<()> {
    if let Some(parent) = target.parent() {
        let mut folder = root.to_path_buf();
        for part in parent
            .strip_prefix(root)
            .unwrap_or(Path::new(""))
            .components()
        {
            folder.push(part);
            if !folder.is_dir() {
                fsutil::create_private_dir(&folder)?;
            }
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    std::io::copy(data, &mut file)?;
    file.sync_all()
        .with_context(|| format!("cannot write {} (is the disk full?)", target.display()))?;
    Ok(())
}
