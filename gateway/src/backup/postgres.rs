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

/// The URL without its password, and the password (decoded): the tools get
/// the password through `PGPASSWORD`, because a command line is visible to
/// every user of the machine in the process list.
fn split_password(url: &str) -> Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("the database URL cannot be parsed")?;
    let password = parsed.password().map(percent_encoding_decode);
    if password.is_some() {
        parsed
            .set_password(None)
            .map_err(|()| anyhow::anyhow!("the database URL has no host"))?;
    }
    Ok((parsed.to_string(), password))
}

fn percent_encoding_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| text.to_string())
}

fn connect_to(command: &mut Command, url: &str) -> Result<()> {
    let (without, password) = split_password(url)?;
    command.arg("--dbname").arg(without);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
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
        .arg(out);
    connect_to(&mut command, url)?;
    run(command, "pg_dump")
}

/// Restores `dump` into the (new, empty) database at `url`, all or nothing.
pub fn restore(url: &str, dump: &Path) -> Result<()> {
    let mut command = Command::new(tool("pg_restore")?);
    command.args(["--no-owner", "--exit-on-error", "--single-transaction"]);
    connect_to(&mut command, url)?;
    command.arg(dump);
    run(command, "pg_restore")
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_command_line() -> Result<()> {
        let (url, password) = split_password("postgres://owner:p%40ss+w@db.example:5432/sekisho")?;
        assert_eq!(url, "postgres://owner@db.example:5432/sekisho");
        assert_eq!(password.as_deref(), Some("p@ss+w"));
        let (url, password) = split_password("postgres://postgres@127.0.0.1:55432/postgres")?;
        assert_eq!(url, "postgres://postgres@127.0.0.1:55432/postgres");
        assert_eq!(password, None);
        Ok(())
    }
}
