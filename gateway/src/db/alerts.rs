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
