//! Conditions the system staff were alerted to, one row while each lasts.

use anyhow::{Context, Result};
use sqlx::AnyConnection;

/// Records `name` as raised; false when it was raised already (nothing to
/// mail again).
pub async fn raise(conn: &mut AnyConnection, name: &str, detail: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alerts (name, detail, raised_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(detail)
    .bind(now)
    .execute(conn)
    .await
    .context("cannot record the alert")?;
    Ok(done.rows_affected() == 1)
}

/// Ends `name`; false when it was not raised.
pub async fn clear(conn: &mut AnyConnection, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM alerts WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await
        .context("cannot clear the alert")?;
    Ok(done.rows_affected() == 1)
}

/// The names of the alerts raised now that start with `prefix`.
pub async fn raised(conn: &mut AnyConnection, prefix: &str) -> Result<Vec<String>> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT name FROM alerts WHERE name LIKE $1 ORDER BY name")
        .bind(format!("{prefix}%"))
        .fetch_all(conn)
        .await
        .context("cannot read the alerts")?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name").map_err(Into::into))
        .collect()
}
