//! `sekisho-gateway backup --dir DIR -o FILE`, while the gateway serves.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use super::{FORMAT_VERSION, Hashing, MANIFEST, Manifest, Member, POSTGRES_MEMBER, SQLITE_MEMBER};
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::state::AppState;

/// What `backup` reports.
pub struct Written {
    pub file: PathBuf,
    pub manifest: Manifest,
}

/// The files of the data directory copied as they are (beside the database
/// snapshot and the objects): configuration, keys and TLS material.
const FIXED_MEMBERS: &[&str] = &[
    "sekisho.toml",
    "keys/master.key",
    "keys/link.key",
    "keys/audit.key",
    "keys/tls-ca.key",
    "tls/ca.pem",
    "tls/server.pem",
    "tls/server.key",
];

pub async fn run(state: &AppState, output: &Path) -> Result<Written> {
    let store = &state.config.store;
    if store.url.is_some() || store.path.is_some() || store.key_shares.is_some() {
        bail!(
            "このバックアップはデータフォルダ内の保管庫だけを対象とします。 `backup` copies the store and key shares inside the data directory; with [store] url, path or key_shares set they live elsewhere: back up the database with its own tools, the bucket with its replication or versioning, and the key_shares folder with the file system's snapshots (README, \"Several gateways, object storage\")"
        );
    }
    let recipients = recipients(&state.config.backup.recipients)?;
    if output.exists() {
        bail!(
            "{0} は既に存在します。 {0} already exists; choose a new file name",
            output.display()
        );
    }
    // The plaintext snapshot stays inside the private data directory and is
    // removed whatever happens.
    let snapshot = Snapshot(
        state
            .dir
            .join(format!(".backup-{}.db", uuid::Uuid::new_v4())),
    );
    let taken_at = state.clock.now_ms();
    let database = state.db.backend_name();
    let (member, ids) = match database {
        "sqlite" => (SQLITE_MEMBER, sqlite_snapshot(state, &snapshot.0).await?),
        "postgresql" => (
            POSTGRES_MEMBER,
            postgres_snapshot(state, &snapshot.0).await?,
        ),
        other => bail!("backups of a {other} database are not supported"),
    };
    let dir = state.dir.clone();
    let shares: Vec<(String, PathBuf)> = ids
        .iter()
        .map(|id| Ok((id.clone(), state.keys.shares().path(id)?)))
        .collect::<Result<_>>()?;
    let snapshot_path = snapshot.0.clone();
    let output_owned = output.to_path_buf();
    let manifest = tokio::task::spawn_blocking(move || {
        write_archive(
            &dir,
            (member, &snapshot_path),
            database,
            &shares,
            &recipients,
            &output_owned,
            format_ms(taken_at),
        )
    })
    .await??;
    drop(snapshot);
    let mut tx = state.db.write().await?;
    audit::append(
        tx.conn(),
        state.clock.now_ms(),
        Record {
            actor: "(gateway)".into(),
            action: Action::BackupCreate,
            object: ObjectRef::Gateway("backup".into()),
            outcome: Outcome::Ok,
            source: "local".into(),
            detail: json!({
                "snapshot_at": manifest.created_at,
                "members": manifest.members.len(),
                "objects": ids.len() - manifest.erased_while_copying.len(),
                "erased_while_copying": manifest.erased_while_copying.len(),
                "recipients": state.config.backup.recipients,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Written {
        file: output.to_path_buf(),
        manifest,
    })
}

fn recipients(configured: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    if configured.is_empty() {
        bail!(
            "バックアップの受取人が設定されていません。 No backup recipient is configured: add \
             `[backup]\\nrecipients = [\"age1...\"]` to sekisho.toml with the public key of an \
             identity kept off this server (age-keygen makes one)"
        );
    }
    configured
        .iter()
        .map(|text| {
            age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "[backup] recipients の {text} は age の公開鍵ではありません。 {text} in [backup] recipients is not an age public key (age1...): {e}"
                )
            })
        })
        .collect()
}

/// Removes the plaintext snapshot when dropped.
struct Snapshot(PathBuf);

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// SQLite's online backup: `VACUUM INTO` writes a consistent copy while
/// others keep writing. Returns the objects the copy records.
async fn sqlite_snapshot(state: &AppState, snapshot: &Path) -> Result<Vec<String>> {
    {
        let mut conn = state.db.read().await?;
        sqlx::query("VACUUM INTO ?")
            .bind(snapshot.display().to_string())
            .execute(&mut *conn)
            .await
            .context("データベースの複製に失敗しました。 Cannot snapshot the database (is the disk full?)")?;
    }
    snapshot_object_ids(snapshot).await
}

/// PostgreSQL: a repeatable-read transaction exports its snapshot; the
/// object list is read and `pg_dump` dumps in that same snapshot, so both
/// describe one moment. The transaction is held until the dump is done.
async fn postgres_snapshot(state: &AppState, out: &Path) -> Result<Vec<String>> {
    use sqlx::Connection;
    let url = state.config.database_url(&state.dir);
    let mut conn = sqlx::AnyConnection::connect(url.expose())
        .await
        .context("cannot connect to the database for the backup")?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let name: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await
        .context("cannot export a database snapshot")?;
    let ids = crate::db::objects::all_ids(&mut tx).await?;
    let out = out.to_path_buf();
    let url_text = url.expose().to_string();
    tokio::task::spawn_blocking(move || super::postgres::dump(&url_text, &name, &out)).await??;
    tx.commit().await?;
    conn.close().await?;
    Ok(ids)
}

async fn snapshot_object_ids(snapshot: &Path) -> Result<Vec<String>> {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", snapshot.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .context("cannot read the database snapshot")?;
    let ids = crate::db::objects::all_ids(&mut conn).await?;
    conn.close().await?;
    Ok(ids)
}

/// Writes the archive to a temporary file beside `output`, fsyncs it and
/// renames it into place, so `output` is either complete or absent.
fn write_archive(
    dir: &Path,
    (member, snapshot): (&str, &Path),
    database: &str,
    shares: &[(String, PathBuf)],
    recipients: &[age::x25519::Recipient],
    output: &Path,
    created_at: String,
) -> Result<Manifest> {
    let tmp = output.with_extension("partial");
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .context("cannot set up the backup encryption")?;
        let sealed = encryptor.wrap_output(BufWriter::new(file))?;
        let mut builder = tar::Builder::new(sealed);
        let mut members = BTreeMap::new();
        let mut erased = Vec::new();
        add_file(&mut builder, &mut members, member, snapshot)?
            .context("the database snapshot vanished")?;
        for name in FIXED_MEMBERS {
            // A deployment with its own certificate has no CA key: fine.
            add_file(&mut builder, &mut members, name, &dir.join(name))?;
        }
        let store = dir.join("store");
        for (id, share) in shares {
            let blob = crate::blob::committed_path(&store, id);
            let blob_name = relative(dir, &blob)?;
            let share_name = relative(dir, share)?;
            let copied_blob = add_file(&mut builder, &mut members, &blob_name, &blob)?;
            let copied_share = add_file(&mut builder, &mut members, &share_name, share)?;
            if copied_blob.is_none() || copied_share.is_none() {
                erased.push(id.clone());
            }
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            created_at,
            database: database.into(),
            members,
            erased_while_copying: erased,
        };
        let text = serde_json::to_vec_pretty(&manifest)?;
        let mut header = header(text.len() as u64);
        builder.append_data(&mut header, MANIFEST, text.as_slice())?;
        let sealed = builder.into_inner()?;
        let writer = sealed.finish()?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
            .with_context(|| format!("cannot write {} (is the disk full?)", tmp.display()))?;
        Ok(manifest)
    })();
    match result {
        Ok(manifest) => {
            std::fs::rename(&tmp, output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            crate::fsutil::sync_parent(output)?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn relative(dir: &Path, path: &Path) -> Result<String> {
    Ok(path
        .strip_prefix(dir)
        .with_context(|| format!("{} is outside the data directory", path.display()))?
        .display()
        .to_string())
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header
}

/// Adds `path` as `name`; `None` when the file does not exist (erased, or an
/// optional file). The digest is taken from the bytes actually archived.
fn add_file<W: Write>(
    builder: &mut tar::Builder<W>,
    members: &mut BTreeMap<String, Member>,
    name: &str,
    path: &Path,
) -> Result<Option<()>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let size = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut hashing = Hashing::new(file);
    builder
        .append_data(&mut header(size), name, &mut hashing)
        .with_context(|| {
            format!(
                "cannot archive {} (did it change while copying?)",
                path.display()
            )
        })?;
    members.insert(name.to_string(), hashing.finish());
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    /// An object the snapshot records but whose blob and share were erased
    /// before the copy is listed as erased, and the archive still verifies.
    #[test]
    fn objects_erased_before_the_copy_are_listed_and_the_archive_verifies() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::write(root.join("sekisho.toml"), b"")?;
        let snapshot = root.join("snapshot.db");
        std::fs::write(&snapshot, b"database bytes")?;
        let kept = "aa01";
        let blob = crate::blob::committed_path(&root.join("store"), kept);
        std::fs::create_dir_all(blob.parent().context("shard")?)?;
        std::fs::write(&blob, b"ciphertext")?;
        std::fs::create_dir_all(root.join("keys/objects"))?;
        std::fs::write(root.join("keys/objects").join(kept), [7u8; 32])?;
        let shares = vec![
            (kept.to_string(), root.join("keys/objects").join(kept)),
            ("bb02".to_string(), root.join("keys/objects/bb02")),
        ];
        let identity = age::x25519::Identity::generate();
        let output = root.join("out.backup");
        let manifest = write_archive(
            root,
            (SQLITE_MEMBER, &snapshot),
            "sqlite",
            &shares,
            &[identity.to_public()],
            &output,
            "2026-12-02T00:00:00Z".into(),
        )?;
        assert_eq!(manifest.erased_while_copying, vec!["bb02".to_string()]);
        assert!(manifest.members.contains_key("keys/objects/aa01"));
        assert!(manifest.members.contains_key("store/objects/aa/aa01"));

        let key_file = root.join("backup.key");
        std::fs::write(
            &key_file,
            format!("{}\n", identity.to_string().expose_secret()),
        )?;
        let verified = super::super::verify(&output, &key_file)?;
        assert_eq!(verified.members, manifest.members);
        Ok(())
    }
}
