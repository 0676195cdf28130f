//! The append-only, hash-chained audit log and its signed checkpoints.
//!
//! [`append`] must run inside a [`super::WriteTx`]: it reads the head of the
//! chain and extends it in the same transaction as the change it records,
//! under the gateway-wide write lock, so the chain can never fork and an
//! event is never logged for a change that was rolled back.

use anyhow::{Context, Result};
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{AUDIT_GENESIS, AuditCheckpoint, AuditEvent, AuditFilter, audit_event_hash};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection, Arguments, QueryBuilder, Row};

use crate::clock;

/// What a caller says about an event; the chain fields are filled in here.
#[derive(Debug, Clone)]
pub struct Record {
    pub actor: String,
    pub action: Action,
    pub object: ObjectRef,
    pub outcome: Outcome,
    pub source: String,
    pub detail: serde_json::Value,
}

struct Head {
    seq: i64,
    hash: String,
    at_ms: i64,
}

async fn head(conn: &mut AnyConnection) -> Result<Head> {
    let row = sqlx::query("SELECT seq, hash, at_ms FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return Ok(Head {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
            at_ms: row.try_get("at_ms")?,
        });
    }
    // After retention pruning the log continues from the anchor checkpoint.
    let anchor = sqlx::query(
        "SELECT seq, head_hash, at_ms FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match anchor {
        Some(row) => Head {
            seq: row.try_get("seq")?,
            hash: row.try_get("head_hash")?,
            at_ms: row.try_get("at_ms")?,
        },
        None => Head {
            seq: 0,
            hash: AUDIT_GENESIS.to_string(),
            at_ms: 0,
        },
    })
}

/// The class of the object an event is about, so auditors can filter by it.
async fn class_of(conn: &mut AnyConnection, object: &ObjectRef) -> Result<String> {
    let ObjectRef::Transfer(id) = object else {
        return Ok(String::new());
    };
    let row = sqlx::query("SELECT class FROM transfers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("class")?,
        None => String::new(),
    })
}

async fn insert(conn: &mut AnyConnection, event: &AuditEvent, at_ms: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (seq, at, at_ms, actor, action, object, class, outcome, source, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(event.seq)
    .bind(&event.at)
    .bind(at_ms)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.object)
    .bind(&event.class)
    .bind(&event.outcome)
    .bind(&event.source)
    .bind(&event.detail)
    .bind(&event.prev_hash)
    .bind(&event.hash)
    .execute(conn)
    .await
    .context("cannot write the audit log; the action was not carried out")?;
    Ok(())
}

fn chained(head: &Head, at_ms: i64, mut event: AuditEvent) -> AuditEvent {
    event.seq = head.seq + 1;
    event.at = clock::format_ms(at_ms);
    event.prev_hash = head.hash.clone();
    event.hash = audit_event_hash(&event);
    event
}

/// Records an event that changes nothing else (a refusal, a failed
/// login) in a transaction of its own.
pub async fn append_alone(db: &super::Db, at_ms: i64, record: Record) -> Result<AuditEvent> {
    let mut tx = db.write().await?;
    let event = append(tx.conn(), at_ms, record).await?;
    tx.commit().await?;
    Ok(event)
}

/// How far an event's time may lie before the previous event's without
/// being a clock that went backwards. Requests read the clock when they
/// start and append when they get the write lock, so concurrent ones
/// arrive a little out of order; such an event is dated at the previous
/// event's time (the chain's times never decrease) and raises no alarm.
pub const CONCURRENCY_TOLERANCE_MS: i64 = 2_000;

pub async fn append(conn: &mut AnyConnection, at_ms: i64, record: Record) -> Result<AuditEvent> {
    let mut head = head(conn).await?;
    let at_ms = if at_ms < head.at_ms && head.at_ms - at_ms <= CONCURRENCY_TOLERANCE_MS {
        head.at_ms
    } else {
        at_ms
    };
    // 7.(1)②: a clock that runs backwards is itself an event, recorded
    // before the event it would otherwise silently misdate.
    if at_ms < head.at_ms {
        let warning = chained(
            &head,
            at_ms,
            AuditEvent {
                seq: 0,
                at: String::new(),
                actor: "(gateway)".into(),
                action: Action::ClockBackwards.to_string(),
                object: ObjectRef::Gateway("clock".into()).to_string(),
                class: String::new(),
                outcome: Outcome::Error.to_string(),
                source: "-".into(),
                detail: serde_json::json!({
                    "previous": clock::format_ms(head.at_ms),
                    "now": clock::format_ms(at_ms),
                    "behind_ms": head.at_ms - at_ms,
                })
                .to_string(),
                prev_hash: String::new(),
                hash: String::new(),
            },
        );
        insert(conn, &warning, at_ms).await?;
        tracing::warn!(
            "the system clock went backwards by {} ms",
            head.at_ms - at_ms
        );
        head = Head {
            seq: warning.seq,
            hash: warning.hash,
            at_ms,
        };
    }
    let class = class_of(conn, &record.object).await?;
    let detail = if record.detail.is_null() {
        "{}".to_string()
    } else {
        record.detail.to_string()
    };
    let event = chained(
        &head,
        at_ms,
        AuditEvent {
            seq: 0,
            at: String::new(),
            actor: record.actor,
            action: record.action.to_string(),
            object: record.object.to_string(),
            class,
            outcome: record.outcome.to_string(),
            source: record.source,
            detail,
            prev_hash: String::new(),
            hash: String::new(),
        },
    );
    insert(conn, &event, at_ms).await?;
    Ok(event)
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        object: row.try_get("object")?,
        class: row.try_get("class")?,
        outcome: row.try_get("outcome")?,
        source: row.try_get("source")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// A filter with its times already converted to epoch milliseconds.
#[derive(Debug, Default)]
pub struct Query {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub filter: AuditFilter,
}

/// A value bound to one filter condition.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Int(i64),
    Text(String),
}

/// The filter as `column op` fragments with their values, in order. The
/// column names are fixed here; only values come from the caller.
fn conditions(after: i64, query: &Query) -> Vec<(&'static str, Bound)> {
    let mut out = vec![("seq >", Bound::Int(after))];
    if let Some(since) = query.since_ms {
        out.push(("at_ms >=", Bound::Int(since)));
    }
    if let Some(until) = query.until_ms {
        out.push(("at_ms <", Bound::Int(until)));
    }
    let f = &query.filter;
    match f.action.as_deref() {
        // A family (`transfer.`) is a range on the index: from the prefix up
        // to the prefix with its final '.' replaced by the next byte, '/'.
        Some(prefix) if prefix.ends_with('.') => {
            let upper = format!("{}/", &prefix[..prefix.len() - 1]);
            out.push(("action >=", Bound::Text(prefix.to_string())));
            out.push(("action <", Bound::Text(upper)));
        }
        Some(action) => out.push(("action =", Bound::Text(action.to_string()))),
        None => {}
    }
    for (column, value) in [
        ("actor =", &f.actor),
        ("object =", &f.object),
        ("class =", &f.class),
        ("outcome =", &f.outcome),
    ] {
        if let Some(value) = value {
            out.push((column, Bound::Text(value.clone())));
        }
    }
    out
}

/// The page query, every value bound. `push_bind` cannot be used: through
/// the `Any` driver it writes `?`, which PostgreSQL rejects (sqlx issue
/// #3000). So the arguments are bound first and each condition is pushed
/// with its own `$n`, which both databases accept.
fn page_query(after: i64, limit: i64, query: &Query) -> Result<QueryBuilder<Any>> {
    let conditions = conditions(after, query);
    let mut arguments = AnyArguments::default();
    for (_, value) in &conditions {
        match value {
            Bound::Int(v) => arguments.add(*v),
            Bound::Text(v) => arguments.add(v.clone()),
        }
        .map_err(|e| anyhow::anyhow!("cannot bind an audit filter value: {e}"))?;
    }
    arguments
        .add(limit)
        .map_err(|e| anyhow::anyhow!("cannot bind the page size: {e}"))?;
    let mut builder = QueryBuilder::with_arguments(
        "SELECT seq, at, actor, action, object, class, outcome, source, detail, prev_hash, hash \
         FROM audit_events WHERE ",
        arguments,
    );
    for (n, (condition, _)) in conditions.iter().enumerate() {
        if n > 0 {
            builder.push(" AND ");
        }
        builder.push(format_args!("{condition} ${}", n + 1));
    }
    builder.push(format_args!(
        " ORDER BY seq LIMIT ${}",
        conditions.len() + 1
    ));
    Ok(builder)
}

/// Events after `after` in chain order, filtered. Each filter is one indexed
/// condition; values are bound, never spliced into the SQL.
pub async fn page(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
    query: &Query,
) -> Result<Vec<AuditEvent>> {
    let mut builder = page_query(after, limit, query)?;
    let rows = builder.build().fetch_all(conn).await?;
    rows.iter().map(event_from_row).collect()
}

pub async fn checkpoints(conn: &mut AnyConnection) -> Result<Vec<AuditCheckpoint>> {
    let rows = sqlx::query(
        "SELECT seq, head_hash, at, key_fingerprint, signature FROM audit_checkpoints ORDER BY seq",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(AuditCheckpoint {
                seq: row.try_get("seq")?,
                head_hash: row.try_get("head_hash")?,
                at: row.try_get("at")?,
                key_fingerprint: row.try_get("key_fingerprint")?,
                signature: row.try_get("signature")?,
            })
        })
        .collect()
}

pub async fn latest_checkpoint_seq(conn: &mut AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("seq")?,
        None => 0,
    })
}

/// The newest event of `action`, if any.
pub async fn last_of(conn: &mut AnyConnection, action: Action) -> Result<Option<AuditEvent>> {
    let row = sqlx::query(
        "SELECT seq, at, actor, action, object, class, outcome, source, detail, prev_hash, hash \
         FROM audit_events WHERE action = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(action.as_str())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(event_from_row).transpose()
}

/// The current head: (seq, hash) of the last event, if any.
pub async fn current_head(conn: &mut AnyConnection) -> Result<(i64, String)> {
    let h = head(conn).await?;
    Ok((h.seq, h.hash))
}

/// Hash of event `seq`, if it is still in the log.
pub async fn hash_at(conn: &mut AnyConnection, seq: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT hash FROM audit_events WHERE seq = $1")
        .bind(seq)
        .fetch_optional(conn)
        .await?;
    row.map(|r| r.try_get::<String, _>("hash").map_err(Into::into))
        .transpose()
}

pub async fn insert_checkpoint(
    conn: &mut AnyConnection,
    checkpoint: &AuditCheckpoint,
    at_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (seq, head_hash, at, at_ms, key_fingerprint, signature) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.head_hash)
    .bind(&checkpoint.at)
    .bind(at_ms)
    .bind(&checkpoint.key_fingerprint)
    .bind(&checkpoint.signature)
    .execute(conn)
    .await
    .context("cannot store the audit checkpoint")?;
    Ok(())
}

/// Last event older than `before_ms` (retention pruning boundary).
pub async fn last_seq_before(conn: &mut AnyConnection, before_ms: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT MAX(seq) AS seq FROM audit_events WHERE at_ms < $1")
        .bind(before_ms)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<Option<i64>, _>("seq")?)
}

pub async fn delete_through(conn: &mut AnyConnection, seq: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
        .bind(seq)
        .execute(conn)
        .await
        .context("cannot prune the audit log (the database role may lack DELETE on audit_events; run the prune with the owner role)")?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_query_numbers_every_value_and_splices_none() {
        let query = Query {
            since_ms: Some(10),
            until_ms: None,
            filter: AuditFilter {
                action: Some("transfer.".into()),
                actor: Some("x' OR '1'='1".into()),
                ..AuditFilter::default()
            },
        };
        let builder = page_query(5, 100, &query).expect("builds");
        assert_eq!(
            builder.sql(),
            "SELECT seq, at, actor, action, object, class, outcome, source, detail, prev_hash, hash \
             FROM audit_events WHERE seq > $1 AND at_ms >= $2 AND action >= $3 AND action < $4 \
             AND actor = $5 ORDER BY seq LIMIT $6"
        );
        assert_eq!(
            conditions(5, &query)[2..4],
            [
                ("action >=", Bound::Text("transfer.".into())),
                ("action <", Bound::Text("transfer/".into())),
            ]
        );
    }

    #[test]
    fn page_query_without_filters_reads_after_the_cursor() {
        let builder = page_query(0, 1, &Query::default()).expect("builds");
        assert!(
            builder
                .sql()
                .as_str()
                .ends_with("WHERE seq > $1 ORDER BY seq LIMIT $2"),
            "{}",
            builder.sql().as_str()
        );
    }
}
