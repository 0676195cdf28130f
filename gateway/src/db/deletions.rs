//! Disposal requests and the deletion journal, for transfers
//! (`deletions`) and inbound files (`inbound_deletions`).
//!
//! Every step of an erase is a compare-and-set on the journal row's state:
//! a step that finds the row already past it changes nothing and returns
//! false, so a resumed or repeated erase never runs a phase twice.

use anyhow::{Context, Result};
use sekisho_proto::Role;
use sekisho_proto::deletion::DisposalState;
use sekisho_proto::vocab::{DeletionTrigger, InboundState};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct DeletionRow {
    pub id: String,
    pub transfer_id: String,
    pub state: DisposalState,
    pub trigger: DeletionTrigger,
    pub reason: String,
    pub requested_by: String,
    pub requested_by_role: Role,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_comment: Option<String>,
    pub object_ids: Vec<String>,
    pub erased_at: Option<i64>,
    pub certificate: Option<String>,
}

const COLUMNS: &str = "id, transfer_id, state, trigger_kind, reason, requested_by, requested_by_role, \
     requested_at, decided_by, decided_at, decision_comment, object_ids, erased_at, certificate";

fn from_row(row: &AnyRow) -> Result<DeletionRow> {
    let state: String = row.try_get("state")?;
    let role: String = row.try_get("requested_by_role")?;
    let objects: String = row.try_get("object_ids")?;
    Ok(DeletionRow {
        id: row.try_get("id")?,
        transfer_id: row.try_get("transfer_id")?,
        state: super::decode::parse_word(&state, "state")?,
        trigger: super::decode::word(row, "trigger_kind")?,
        reason: row.try_get("reason")?,
        requested_by: row.try_get("requested_by")?,
        requested_by_role: role
            .parse()
            .map_err(|e: String| anyhow::anyhow!("stored deletion has a bad role: {e}"))?,
        requested_at: row.try_get("requested_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        decision_comment: row.try_get("decision_comment")?,
        object_ids: objects
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        erased_at: row.try_get("erased_at")?,
        certificate: row.try_get("certificate")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, d: &DeletionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO deletions (id, transfer_id, state, trigger_kind, reason, requested_by, requested_by_role, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&d.id)
    .bind(&d.transfer_id)
    .bind(d.state.as_str())
    .bind(d.trigger.as_str())
    .bind(&d.reason)
    .bind(&d.requested_by)
    .bind(d.requested_by_role.as_str())
    .bind(d.requested_at)
    .execute(conn)
    .await
    .context("cannot record the deletion")?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<DeletionRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM deletions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn for_transfer(conn: &mut AnyConnection, transfer_id: &str) -> Result<Vec<DeletionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM deletions WHERE transfer_id = $1 ORDER BY requested_at"
    )))
    .bind(transfer_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn in_state(conn: &mut AnyConnection, state: DisposalState) -> Result<Vec<DeletionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM deletions WHERE state = $1 ORDER BY requested_at"
    )))
    .bind(state.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn decide(
    conn: &mut AnyConnection,
    id: &str,
    to: DisposalState,
    by: &str,
    at: i64,
    comment: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deletions SET state = $1, decided_by = $2, decided_at = $3, decision_comment = $4 \
         WHERE id = $5 AND state = 'requested' AND decided_by IS NULL",
    )
    .bind(to.as_str())
    .bind(by)
    .bind(at)
    .bind(comment)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes every disposal request of a transfer still waiting for a
/// decision: retention has overtaken them. Returns how many were closed.
pub async fn overtake_requests(conn: &mut AnyConnection, transfer_id: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE deletions SET state = 'rejected', decision_comment = 'overtaken by retention' \
         WHERE transfer_id = $1 AND state = 'requested'",
    )
    .bind(transfer_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Journals phase 1 as done. Returns false when the deletion was no longer
/// waiting for it (another run got there first).
pub async fn mark_keys_destroyed(
    conn: &mut AnyConnection,
    id: &str,
    object_ids: &[String],
    at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deletions SET state = 'keys_destroyed', object_ids = $1, erased_at = $2 \
         WHERE id = $3 AND state = 'requested'",
    )
    .bind(object_ids.join(","))
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the signed certificate and closes the deletion. Returns false
/// when it was already complete, so the certificate is logged only once.
pub async fn complete(conn: &mut AnyConnection, id: &str, certificate: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deletions SET state = 'complete', certificate = $1 WHERE id = $2 AND state = 'keys_destroyed'",
    )
    .bind(certificate)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Destroys the database half of every object key of a transfer: the
/// wrapped key is overwritten where the database needs it, the row deleted,
/// and generated passphrases are dropped. Returns the object ids.
pub async fn destroy_keys(
    conn: &mut AnyConnection,
    transfer_id: &str,
    overwrite_first: bool,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT o.id FROM transfer_files f JOIN objects o ON o.id = f.object_id WHERE f.transfer_id = $1",
    )
    .bind(transfer_id)
    .fetch_all(&mut *conn)
    .await?;
    let ids = rows
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("UPDATE transfer_files SET object_id = NULL WHERE transfer_id = $1")
        .bind(transfer_id)
        .execute(&mut *conn)
        .await?;
    for id in &ids {
        super::objects::destroy(&mut *conn, id, overwrite_first).await?;
    }
    sqlx::query("UPDATE transfer_links SET passphrase_wrapped = NULL, state = CASE WHEN state IS NULL THEN NULL ELSE 'revoked' END WHERE transfer_id = $1")
        .bind(transfer_id)
        .execute(conn)
        .await?;
    Ok(ids)
}

/// An inbound file whose keeping period is over.
#[derive(Debug, Clone)]
pub struct InboundDue {
    pub file_id: String,
    pub object_id: String,
    pub state: InboundState,
    /// The sanitised copy staff received (migration 0010): erased with it.
    pub copy_object_id: Option<String>,
}

/// Inbound files still holding content: quarantined ones created before
/// `quarantine_before`, all others before `other_before`.
pub async fn inbound_due(
    conn: &mut AnyConnection,
    quarantine_before: i64,
    other_before: i64,
) -> Result<Vec<InboundDue>> {
    let rows = sqlx::query(
        "SELECT id, object_id, state, copy_object_id FROM inbound_files WHERE object_id IS NOT NULL AND state <> 'erased' \
         AND ((state = 'quarantined' AND created_at <= $1) OR (state <> 'quarantined' AND created_at <= $2)) \
         ORDER BY created_at",
    )
    .bind(quarantine_before)
    .bind(other_before)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InboundDue {
                file_id: r.try_get("id")?,
                object_id: r
                    .try_get::<Option<String>, _>("object_id")?
                    .unwrap_or_default(),
                state: super::decode::word(r, "state")?,
                copy_object_id: r.try_get("copy_object_id")?,
            })
        })
        .collect()
}

/// Phase 1 for an inbound file: the database half of its key goes, the
/// file is marked erased, and the journal row is written.
/// Destroys the keys of an inbound file's content (and of its sanitised
/// copy, journalled as a deletion of its own, `copy_deletion_id`).
pub async fn destroy_inbound_key(
    conn: &mut AnyConnection,
    deletion_id: &str,
    copy_deletion_id: &str,
    due: &InboundDue,
    reason: &str,
    at: i64,
    overwrite_first: bool,
) -> Result<()> {
    if let Some(copy) = &due.copy_object_id {
        super::objects::destroy(&mut *conn, copy, overwrite_first).await?;
        sqlx::query(
            "INSERT INTO inbound_deletions (id, file_id, object_id, state, reason, erased_at) \
             VALUES ($1, $2, $3, 'keys_destroyed', $4, $5)",
        )
        .bind(copy_deletion_id)
        .bind(&due.file_id)
        .bind(copy)
        .bind(format!("{reason} (its sanitised copy)"))
        .bind(at)
        .execute(&mut *conn)
        .await
        .context("cannot journal the deletion of the sanitised copy")?;
    }
    sqlx::query("UPDATE inbound_files SET object_id = NULL, state = 'erased' WHERE id = $1")
        .bind(&due.file_id)
        .execute(&mut *conn)
        .await?;
    super::objects::destroy(&mut *conn, &due.object_id, overwrite_first).await?;
    sqlx::query(
        "INSERT INTO inbound_deletions (id, file_id, object_id, state, reason, erased_at) \
         VALUES ($1, $2, $3, 'keys_destroyed', $4, $5)",
    )
    .bind(deletion_id)
    .bind(&due.file_id)
    .bind(&due.object_id)
    .bind(reason)
    .bind(at)
    .execute(conn)
    .await
    .context("cannot journal the deletion")?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct InboundDeletionRow {
    pub id: String,
    pub file_id: String,
    pub object_id: String,
    pub state: DisposalState,
    pub reason: String,
    pub erased_at: i64,
    pub certificate: Option<String>,
}

fn inbound_deletion_from_row(r: &AnyRow) -> Result<InboundDeletionRow> {
    Ok(InboundDeletionRow {
        id: r.try_get("id")?,
        file_id: r.try_get("file_id")?,
        object_id: r.try_get("object_id")?,
        state: super::decode::word(r, "state")?,
        reason: r.try_get("reason")?,
        erased_at: r.try_get("erased_at")?,
        certificate: r.try_get("certificate")?,
    })
}

const INBOUND_COLUMNS: &str = "id, file_id, object_id, state, reason, erased_at, certificate";

pub async fn inbound_deletions_in_state(
    conn: &mut AnyConnection,
    state: DisposalState,
) -> Result<Vec<InboundDeletionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_deletions WHERE state = $1 ORDER BY erased_at, id"
    )))
    .bind(state.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(inbound_deletion_from_row).collect()
}

pub async fn inbound_deletion(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<InboundDeletionRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_deletions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(inbound_deletion_from_row).transpose()
}

pub async fn inbound_deletions_of(
    conn: &mut AnyConnection,
    file_id: &str,
) -> Result<Vec<InboundDeletionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_deletions WHERE file_id = $1 ORDER BY erased_at, id"
    )))
    .bind(file_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(inbound_deletion_from_row).collect()
}

/// Stores an inbound file's certificate. Returns false when that deletion
/// was already complete.
pub async fn complete_inbound(
    conn: &mut AnyConnection,
    id: &str,
    certificate: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE inbound_deletions SET state = 'complete', certificate = $1 WHERE id = $2 AND state = 'keys_destroyed'",
    )
    .bind(certificate)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::transfers::tests::scratch;

    #[tokio::test]
    async fn each_erase_step_happens_once() {
        let (_dir, db) = scratch().await;
        let mut tx = db.write().await.expect("write");
        let conn = tx.conn();
        let row = DeletionRow {
            id: "d1".into(),
            transfer_id: "t1".into(),
            state: DisposalState::Requested,
            trigger: DeletionTrigger::Request,
            reason: "r".into(),
            requested_by: "sato".into(),
            requested_by_role: Role::Staff,
            requested_at: 0,
            decided_by: None,
            decided_at: None,
            decision_comment: None,
            object_ids: Vec::new(),
            erased_at: None,
            certificate: None,
        };
        insert(conn, &row).await.expect("insert");
        let approved = DisposalState::Requested;
        assert!(
            decide(conn, "d1", approved, "ap", 1, None)
                .await
                .expect("decide")
        );
        // Approved but not yet erased: still `requested`, yet decided.
        assert!(
            !decide(conn, "d1", DisposalState::Rejected, "ap2", 2, None)
                .await
                .expect("decide")
        );
        assert!(!complete(conn, "d1", "{}").await.expect("complete"));
        let ids = vec!["o1".to_string()];
        assert!(
            mark_keys_destroyed(conn, "d1", &ids, 3)
                .await
                .expect("phase 1")
        );
        assert!(
            !mark_keys_destroyed(conn, "d1", &ids, 4)
                .await
                .expect("phase 1")
        );
        assert!(complete(conn, "d1", "{}").await.expect("complete"));
        assert!(
            !complete(conn, "d1", "{\"again\":1}")
                .await
                .expect("complete")
        );
        let stored = get(conn, "d1").await.expect("get").expect("row");
        assert_eq!(stored.state, DisposalState::Complete);
        assert_eq!(stored.decided_by.as_deref(), Some("ap"));
        assert_eq!(
            (stored.erased_at, stored.certificate.as_deref()),
            (Some(3), Some("{}"))
        );
    }
}
