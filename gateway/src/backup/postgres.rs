//! PostgreSQL's own tools for backups: `pg_dump --format=custom` of an
//! exported snapshot (so the dump and the list of objects copied beside it
//! see the same database state) and `pg_restore` into a new, empty database.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// `pg_dump` or `pg_restore`: the newest server version's own binary in
/// /usr/lib/postgresql/*/bin (a dump must come from a pg_dump at least as
/// new as the server), else whatever PATH has.
fn tool(name: &str) -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let path = entry.path().join("bin").join(name);
            path.is_file().then_some((version, path))
        })
        .collect();
    versions.sort();
    if let Some((_, path)) = versions.pop() {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    on_path.with_context(|| {
        format!(
            "{name} が見つかりません。 {name} is not installed; install the PostgreSQL client tools (apt-get install postgresql-client)"
        )
    })
}

fn run(mut command: Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} に失敗しました。 {what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Dumps the database at `url` as it was in the exported `snapshot`.
pub fn dump(url: &str, snapshot: &str, out: &Path) -> Result<()> {
    let mut command = Command::new(tool("pg_dump")?);
    command
        .arg("--format=custom")
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(out)
        .arg("--dbname")
        .arg(url);
    run(command, "pg_dump")
}

/// Restores `dump` into the (new, empty) database at `url`, all or nothing.
pub fn restore(url: &str, dump: &Path) -> Result<()> {
    let mut command = Command::new(tool("pg_restore")?);
    command
        .args(["--no-owner", "--exit-on-error", "--single-transaction"])
        .arg("--dbname")
        .arg(url)
        .arg(dump);
    run(command, "pg_restore")
}
