//! The media ledger.

use anyhow::{Context, Result};
use sekisho_proto::media::MediumState;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

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

fn state_str(state: MediumState) -> &'static str {
    match state {
        MediumState::Available => "available",
        MediumState::Out => "out",
    }
}

fn from_row(row: &AnyRow) -> Result<MediumRow> {
    let state: String = row.try_get("state")?;
    Ok(MediumRow {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        media_type: row.try_get("media_type")?,
        section: row.try_get("section")?,
        state: if state == "out" {
            MediumState::Out
        } else {
            MediumState::Available
        },
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
    .bind(state_str(m.state))
    .bind(&m.registered_by)
    .bind(m.registered_at)
    .execute(conn)
    .await
    .context("cannot register the medium")?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<MediumRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM media WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<MediumRow>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM media ORDER BY id"))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn set_state(conn: &mut AnyConnection, id: &str, state: MediumState) -> Result<()> {
    sqlx::query("UPDATE media SET state = $1 WHERE id = $2")
        .bind(state_str(state))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
