//! Stand-in approvers (代理承認者): who decides in whose place, and when.
//! A row is cleared, never deleted, so the record of who could decide for
//! whom stays as long as the decisions it explains.

use anyhow::{Context, Result};
use sekisho_proto::Role;
use sekisho_proto::vocab::AccountStatus;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A delegation with both accounts as they are now.
#[derive(Debug, Clone)]
pub struct DelegationRow {
    pub id: String,
    pub approver_id: String,
    pub approver_name: String,
    pub approver_role: Role,
    pub approver_status: AccountStatus,
    pub stand_in_id: String,
    pub stand_in_name: String,
    pub stand_in_role: Role,
    pub stand_in_status: AccountStatus,
    pub stand_in_email: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub created_at: i64,
}

const SELECT: &str = "SELECT d.id, d.approver_id, a.username AS approver_name, a.role AS approver_role, \
     a.status AS approver_status, d.stand_in_id, s.username AS stand_in_name, s.role AS stand_in_role, \
     s.status AS stand_in_status, s.email AS stand_in_email, d.starts_at, d.ends_at, d.created_by, \
     d.created_at FROM delegations d JOIN users a ON a.id = d.approver_id \
     JOIN users s ON s.id = d.stand_in_id";

fn from_row(row: &AnyRow) -> Result<DelegationRow> {
    let word = |column: &str| -> Result<String> { Ok(row.try_get::<String, _>(column)?) };
    let role = |column: &str| -> Result<Role> {
        word(column)?
            .parse()
            .map_err(|e: String| anyhow::anyhow!("stored delegation has a bad {column}: {e}"))
    };
    let status = |column: &str| -> Result<AccountStatus> {
        word(column)?
            .parse()
            .map_err(|e| anyhow::anyhow!("stored delegation has a bad {column}: {e}"))
    };
    Ok(DelegationRow {
        id: row.try_get("id")?,
        approver_id: row.try_get("approver_id")?,
        approver_name: row.try_get("approver_name")?,
        approver_role: role("approver_role")?,
        approver_status: status("approver_status")?,
        stand_in_id: row.try_get("stand_in_id")?,
        stand_in_name: row.try_get("stand_in_name")?,
        stand_in_role: role("stand_in_role")?,
        stand_in_status: status("stand_in_status")?,
        stand_in_email: row.try_get("stand_in_email")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The approver's delegation that is not cleared (in effect, ahead, or
/// run out but never cleared).
pub async fn open_of(conn: &mut AnyConnection, approver_id: &str) -> Result<Option<DelegationRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.approver_id = $1 AND d.cleared_at IS NULL"
    )))
    .bind(approver_id)
    .fetch_optional(conn)
    .await
    .context("cannot read the delegation")?;
    row.as_ref().map(from_row).transpose()
}

/// Every delegation not cleared whose period has not ended, by approver.
pub async fn current(conn: &mut AnyConnection, now: i64) -> Result<Vec<DelegationRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.cleared_at IS NULL AND d.ends_at > $1 ORDER BY a.username"
    )))
    .bind(now)
    .fetch_all(conn)
    .await
    .context("cannot read the delegations")?;
    rows.iter().map(from_row).collect()
}

/// The delegations `stand_in_id` holds at `now`.
pub async fn held_by(
    conn: &mut AnyConnection,
    stand_in_id: &str,
    now: i64,
) -> Result<Vec<DelegationRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE d.stand_in_id = $1 AND d.cleared_at IS NULL \
         AND d.starts_at <= $2 AND d.ends_at > $2 ORDER BY a.username"
    )))
    .bind(stand_in_id)
    .bind(now)
    .fetch_all(conn)
    .await
    .context("cannot read the delegations held")?;
    rows.iter().map(from_row).collect()
}

pub struct NewDelegation<'a> {
    pub id: &'a str,
    pub approver_id: &'a str,
    pub stand_in_id: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: &'a str,
    pub created_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, d: &NewDelegation<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO delegations (id, approver_id, stand_in_id, starts_at, ends_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(d.id)
    .bind(d.approver_id)
    .bind(d.stand_in_id)
    .bind(d.starts_at)
    .bind(d.ends_at)
    .bind(d.created_by)
    .bind(d.created_at)
    .execute(conn)
    .await
    .context("cannot store the delegation")?;
    Ok(())
}

/// Clears the approver's open delegation; whether there was one.
pub async fn clear(
    conn: &mut AnyConnection,
    approver_id: &str,
    now: i64,
    by: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE delegations SET cleared_at = $2, cleared_by = $3 \
         WHERE approver_id = $1 AND cleared_at IS NULL",
    )
    .bind(approver_id)
    .bind(now)
    .bind(by)
    .execute(conn)
    .await
    .context("cannot clear the delegation")?;
    Ok(done.rows_affected() > 0)
}
