//! The append-only, hash-chained audit log.
//!
//! [`append`] must run inside a [`super::WriteTx`]: it reads the head of the
//! chain and extends it in the same transaction as the change it records,
//! under the gateway-wide write lock, so the chain can never fork and an
//! event is never logged for a change that was rolled back.

use anyhow::{Context, Result};
use sekisho_proto::{AUDIT_GENESIS, AuditEvent, audit_event_hash};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::clock;

/// What a caller says about an event; the chain fields are filled in here.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub actor: String,
    pub action: &'static str,
    pub object: String,
    pub outcome: &'static str,
    pub source: String,
    pub detail: serde_json::Value,
}

pub async fn append(conn: &mut AnyConnection, at_ms: i64, record: Record) -> Result<AuditEvent> {
    let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (prev_seq, prev_hash) = match head {
        Some(row) => (
            row.try_get::<i64, _>("seq")?,
            row.try_get::<String, _>("hash")?,
        ),
        None => (0, AUDIT_GENESIS.to_string()),
    };
    let detail = if record.detail.is_null() {
        "{}".to_string()
    } else {
        record.detail.to_string()
    };
    let mut event = AuditEvent {
        seq: prev_seq + 1,
        at: clock::format_ms(at_ms),
        actor: record.actor,
        action: record.action.to_string(),
        object: record.object,
        outcome: record.outcome.to_string(),
        source: record.source,
        detail,
        prev_hash,
        hash: String::new(),
    };
    event.hash = audit_event_hash(&event);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, at_ms, actor, action, object, outcome, source, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.seq)
    .bind(&event.at)
    .bind(at_ms)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.object)
    .bind(&event.outcome)
    .bind(&event.source)
    .bind(&event.detail)
    .bind(&event.prev_hash)
    .bind(&event.hash)
    .execute(conn)
    .await
    .context("cannot write the audit log; the action was not carried out")?;
    Ok(event)
}

pub async fn page(conn: &mut AnyConnection, after: i64, limit: i64) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, object, outcome, source, detail, prev_hash, hash \
         FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditEvent {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                object: row.try_get("object")?,
                outcome: row.try_get("outcome")?,
                source: row.try_get("source")?,
                detail: row.try_get("detail")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        })
        .collect()
}
