//! The media ledger.

use anyhow::{Context, Result};
use sekisho_proto::media::{MediumDisposalKind, MediumState};
use sekisho_proto::vocab::MediumDisposalState;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode::word;

#[derive(Debug, Clone)]
pub struct MediumRow {
    pub id: String,
    pub label: String,
    pub media_type: String,
    pub section: String,
    pub state: MediumState,
    pub registered_by: String,
    pub registered_at: i64,
}

fn from_row(row: &AnyRow) -> Result<MediumRow> {
    Ok(MediumRow {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        media_type: row.try_get("media_type")?,
        section: row.try_get("section")?,
        state: word(row, "state")?,
        registered_by: row.try_get("registered_by")?,
        registered_at: row.try_get("registered_at")?,
    })
}

const COLUMNS: &str = "id, label, media_type, section, state, registered_by, registered_at";

pub async fn insert(conn: &mut AnyConnection, m: &MediumRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO media (id, label, media_type, section, state, registered_by, registered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&m.id)
    .bind(&m.label)
    .bind(&m.media_type)
    .bind(&m.section)
    .bind(m.state.as_str())
    .bind(&m.registered_by)
    .bind(m.registered_at)
    .execute(conn)
    .await
    .context("cannot register the medium")?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<MediumRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<MediumRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media ORDER BY id"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn set_state(conn: &mut AnyConnection, id: &str, state: MediumState) -> Result<()> {
    sqlx::query("UPDATE media SET state = $1 WHERE id = $2")
        .bind(state.as_str())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct DisposalRow {
    pub id: String,
    pub medium_id: String,
    pub kind: MediumDisposalKind,
    pub method: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_by_role: sekisho_proto::Role,
    pub requested_at: i64,
    pub state: MediumDisposalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_comment: Option<String>,
}

const DISPOSAL_COLUMNS: &str = "id, medium_id, kind, method, reason, requested_by, requested_by_role, \
     requested_at, state, decided_by, decided_at, decision_comment";

fn disposal_from_row(row: &AnyRow) -> Result<DisposalRow> {
    Ok(DisposalRow {
        id: row.try_get("id")?,
        medium_id: row.try_get("medium_id")?,
        kind: word(row, "kind")?,
        method: row.try_get("method")?,
        reason: row.try_get("reason")?,
        requested_by: row.try_get("requested_by")?,
        requested_by_role: word(row, "requested_by_role")?,
        requested_at: row.try_get("requested_at")?,
        state: word(row, "state")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        decision_comment: row.try_get("decision_comment")?,
    })
}

pub async fn insert_disposal(conn: &mut AnyConnection, d: &DisposalRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO media_disposals (id, medium_id, kind, method, reason, requested_by, requested_by_role, requested_at, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&d.id)
    .bind(&d.medium_id)
    .bind(d.kind.as_str())
    .bind(&d.method)
    .bind(&d.reason)
    .bind(&d.requested_by)
    .bind(d.requested_by_role.as_str())
    .bind(d.requested_at)
    .bind(MediumDisposalState::Requested.as_str())
    .execute(conn)
    .await
    .context("cannot record the request")?;
    Ok(())
}

pub async fn disposal(conn: &mut AnyConnection, id: &str) -> Result<Option<DisposalRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DISPOSAL_COLUMNS} FROM media_disposals WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(disposal_from_row).transpose()
}

pub async fn open_disposals(conn: &mut AnyConnection) -> Result<Vec<DisposalRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DISPOSAL_COLUMNS} FROM media_disposals WHERE state = $1 ORDER BY requested_at"
    )))
    .bind(MediumDisposalState::Requested.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(disposal_from_row).collect()
}

pub async fn decide_disposal(
    conn: &mut AnyConnection,
    id: &str,
    state: MediumDisposalState,
    by: &str,
    at: i64,
    comment: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE media_disposals SET state = $1, decided_by = $2, decided_at = $3, decision_comment = $4 \
         WHERE id = $5 AND state = $6",
    )
    .bind(state.as_str())
    .bind(by)
    .bind(at)
    .bind(comment)
    .bind(id)
    .bind(MediumDisposalState::Requested.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
