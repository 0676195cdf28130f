//! Media arrivals (migration 0009): each return and carry-in, and the
//! intakes that took its files in through the scan.

use anyhow::{Context, Result};
use sekisho_proto::media::ArrivalKind;
use sekisho_proto::vocab::VerdictKind;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode::word;

#[derive(Debug, Clone)]
pub struct ArrivalRow {
    pub id: String,
    pub medium_id: String,
    pub kind: ArrivalKind,
    pub transfer_id: Option<String>,
    pub carried_out_by_id: Option<String>,
    pub purpose: String,
    pub origin: Option<String>,
    pub recorded_by_id: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

const COLUMNS: &str = "id, medium_id, kind, transfer_id, carried_out_by_id, purpose, origin, \
    recorded_by_id, recorded_by, recorded_at";

fn from_row(row: &AnyRow) -> Result<ArrivalRow> {
    Ok(ArrivalRow {
        id: row.try_get("id")?,
        medium_id: row.try_get("medium_id")?,
        kind: word(row, "kind")?,
        transfer_id: row.try_get("transfer_id")?,
        carried_out_by_id: row.try_get("carried_out_by_id")?,
        purpose: row.try_get("purpose")?,
        origin: row.try_get("origin")?,
        recorded_by_id: row.try_get("recorded_by_id")?,
        recorded_by: row.try_get("recorded_by")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, a: &ArrivalRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO media_arrivals (id, medium_id, kind, transfer_id, carried_out_by_id, purpose, \
         origin, recorded_by_id, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&a.id)
    .bind(&a.medium_id)
    .bind(a.kind.as_str())
    .bind(&a.transfer_id)
    .bind(&a.carried_out_by_id)
    .bind(&a.purpose)
    .bind(&a.origin)
    .bind(&a.recorded_by_id)
    .bind(&a.recorded_by)
    .bind(a.recorded_at)
    .execute(conn)
    .await
    .context("cannot record the medium's arrival")?;
    Ok(())
}

/// The medium's most recent arrival: the one whose files an intake now
/// takes in.
pub async fn latest_of(conn: &mut AnyConnection, medium_id: &str) -> Result<Option<ArrivalRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media_arrivals WHERE medium_id = $1 \
         ORDER BY recorded_at DESC, id DESC LIMIT 1"
    )))
    .bind(medium_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every arrival, newest first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<ArrivalRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media_arrivals ORDER BY recorded_at DESC, id DESC"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Ties an intake to the arrival its files came from.
pub async fn link_intake(
    conn: &mut AnyConnection,
    request_id: &str,
    arrival_id: &str,
) -> Result<()> {
    sqlx::query("UPDATE upload_requests SET arrival_id = $1 WHERE id = $2")
        .bind(arrival_id)
        .bind(request_id)
        .execute(conn)
        .await
        .context("cannot tie the intake to the medium")?;
    Ok(())
}

/// An intake of an arrival's files, with its files counted by verdict.
#[derive(Debug, Clone, Default)]
pub struct IntakeCounts {
    pub request_id: String,
    pub by: String,
    pub at: i64,
    pub clean: u64,
    pub infected: u64,
    pub unscanned: u64,
}

impl IntakeCounts {
    pub fn files(&self) -> u64 {
        self.clean + self.infected + self.unscanned
    }
}

/// The intakes tied to `arrival_id`, oldest first, each with the current
/// verdicts of its files (a rescan moves a file from unscanned to clean).
pub async fn intakes_of(conn: &mut AnyConnection, arrival_id: &str) -> Result<Vec<IntakeCounts>> {
    let rows = sqlx::query(
        "SELECT r.id AS request_id, r.sender_name AS by_name, r.created_at AS at, f.verdict AS verdict, \
         COUNT(f.id) AS n \
         FROM upload_requests r LEFT JOIN inbound_files f ON f.request_id = r.id \
         WHERE r.arrival_id = $1 \
         GROUP BY r.id, r.sender_name, r.created_at, f.verdict \
         ORDER BY r.created_at, r.id",
    )
    .bind(arrival_id)
    .fetch_all(conn)
    .await?;
    let mut out: Vec<IntakeCounts> = Vec::new();
    for row in &rows {
        let request_id: String = row.try_get("request_id")?;
        if out.last().is_none_or(|last| last.request_id != request_id) {
            out.push(IntakeCounts {
                request_id: request_id.clone(),
                by: row.try_get("by_name")?,
                at: row.try_get("at")?,
                ..IntakeCounts::default()
            });
        }
        let verdict: Option<String> = row.try_get("verdict")?;
        let n: i64 = row.try_get("n")?;
        let n = n.max(0) as u64;
        let Some(verdict) = verdict else { continue };
        let counts = out.last_mut().context("an intake row without its intake")?;
        match super::decode::parse_word::<VerdictKind>(&verdict, "verdict")? {
            VerdictKind::Clean => counts.clean += n,
            VerdictKind::Infected => counts.infected += n,
            VerdictKind::Unscanned => counts.unscanned += n,
        }
    }
    Ok(out)
}
