//! The mail outbox: notifications written in the transaction of the change
//! that causes them, and sent later by housekeeping (`service::notify`).
//! Rows move `queued` → `sent`, `failed` (given up) or `cancelled`, each
//! move compare-and-set on `queued`, so a row is never finished twice.

use anyhow::{Context, Result};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub kind: String,
    pub to_address: String,
    /// The audit object the mail is about, as `ObjectRef` writes it.
    pub object: String,
    /// The facts the mail is written from, as JSON (never a secret).
    pub facts: String,
    pub attempts: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, kind, to_address, object, facts, attempts, created_at";

fn from_row(row: &AnyRow) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        to_address: row.try_get("to_address")?,
        object: row.try_get("object")?,
        facts: row.try_get("facts")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Queues a mail, due at once.
pub async fn enqueue(conn: &mut AnyConnection, row: &OutboxRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_outbox (id, kind, to_address, object, facts, state, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6)",
    )
    .bind(&row.id)
    .bind(&row.kind)
    .bind(&row.to_address)
    .bind(&row.object)
    .bind(&row.facts)
    .bind(row.created_at)
    .execute(conn)
    .await
    .context("cannot queue the mail")?;
    Ok(())
}

/// Queued mails whose next attempt is due, oldest first.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mail_outbox WHERE state = 'queued' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, created_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Mails waiting to be sent (for `status`).
pub async fn queued_count(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'queued'")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// Mails given up after their last attempt (for `status`).
pub async fn failed_count(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'failed'")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// Finishes a queued mail as `sent`, `failed` or `cancelled`. False when
/// it was no longer queued.
pub async fn finish(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    attempts: i64,
    now: i64,
    error: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE mail_outbox SET state = $1, attempts = $2, sent_at = $3, last_error = $4 \
         WHERE id = $5 AND state = 'queued'",
    )
    .bind(state)
    .bind(attempts)
    .bind(now)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt and when to try again.
pub async fn retry_later(
    conn: &mut AnyConnection,
    id: &str,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE mail_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 \
         WHERE id = $4 AND state = 'queued'",
    )
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
