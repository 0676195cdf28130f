//! Audit review on the gateway's side: filtered reads, signed checkpoints
//! and retention pruning. Verification happens on the auditor's machine
//! (the client); the gateway only serves and signs.

use anyhow::Context as _;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{AuditCheckpoint, AuditFilter, AuditKey, AuditPage};
use serde_json::json;

use super::Origin;
use crate::clock::{format_ms, to_ms};
use crate::db::audit::{self, Query, Record};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

fn parse_time(field: &'static str, text: &str) -> AppResult<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(to_ms)
        .map_err(|_| {
            AppError::invalid(
                "bad_time",
                format!("{field} must be an RFC 3339 time such as 2026-04-01T00:00:00Z"),
            )
        })
}

pub async fn events(
    state: &AppState,
    actor: &Actor,
    after: i64,
    limit: i64,
    filter: AuditFilter,
) -> AppResult<AuditPage> {
    let _grant = policy::read_audit(actor)?;
    let query = Query {
        since_ms: filter
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until_ms: filter
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        filter,
    };
    let limit = limit.clamp(1, 10_000);
    let mut conn = state.db.read().await?;
    let events = audit::page(&mut conn, after.max(0), limit, &query).await?;
    let next_after = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(AuditPage { events, next_after })
}

pub async fn checkpoints(state: &AppState, actor: &Actor) -> AppResult<Vec<AuditCheckpoint>> {
    let _grant = policy::read_audit(actor)?;
    let mut conn = state.db.read().await?;
    Ok(audit::checkpoints(&mut conn).await?)
}

pub fn key(state: &AppState, actor: &Actor) -> AppResult<AuditKey> {
    let _grant = policy::read_audit(actor)?;
    Ok(state.keys.audit_public())
}

/// Signs the current head, stores the checkpoint and logs that it did, as
/// `by` (an auditor who asked, or the gateway on its schedule). Returns the
/// existing checkpoint if the head has not moved since.
async fn checkpoint_now(
    state: &AppState,
    by: &str,
    origin: &Origin,
) -> anyhow::Result<Option<AuditCheckpoint>> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let (seq, head_hash) = audit::current_head(tx.conn()).await?;
    if seq == 0 {
        return Ok(None);
    }
    let latest = audit::latest_checkpoint_seq(tx.conn()).await?;
    if latest >= seq {
        return Ok(audit::checkpoints(tx.conn())
            .await?
            .into_iter()
            .find(|c| c.seq == seq));
    }
    let checkpoint = state.keys.sign_checkpoint(seq, &head_hash, &format_ms(now));
    audit::insert_checkpoint(tx.conn(), &checkpoint, now).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: by.to_string(),
            action: Action::AuditCheckpoint,
            object: ObjectRef::AuditEvent(seq),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "seq": seq, "head_hash": head_hash }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(checkpoint))
}

pub async fn request_checkpoint(
    state: &AppState,
    actor: &Actor,
    origin: &Origin,
) -> AppResult<AuditCheckpoint> {
    let grant = policy::read_audit(actor)?;
    checkpoint_now(state, &grant.actor().username, origin)
        .await?
        .ok_or_else(|| {
            AppError::Conflict(
                "empty_log",
                "the audit log is empty; there is nothing to sign yet".to_string(),
            )
        })
}

/// Housekeeping: a checkpoint when the log grew since the last one (the
/// checkpoint's own event does not count as growth).
pub async fn periodic_checkpoint(state: &AppState) -> anyhow::Result<()> {
    let (seq, latest) = {
        let mut conn = state.db.read().await?;
        (
            audit::current_head(&mut conn).await?.0,
            audit::latest_checkpoint_seq(&mut conn).await?,
        )
    };
    if seq > latest + 1 {
        checkpoint_now(state, "(gateway)", &Origin("-".into())).await?;
    }
    Ok(())
}

/// Deletes events older than the retention period. The last deleted event
/// is covered by a signed checkpoint first, so the remaining log still
/// verifies from that anchor. Returns how many events were removed.
pub async fn prune(state: &AppState, retention_days: u32) -> anyhow::Result<u64> {
    match &state.config.audit.prune_database_url_file {
        None => prune_on(state, &state.db, retention_days).await,
        Some(file) => {
            let url = owner_url(&state.dir.join(file))?;
            let owner = crate::db::Db::connect(url.expose()).await?;
            let pruned = prune_on(state, &owner, retention_days).await;
            owner.close().await;
            pruned
        }
    }
}

/// The owner's URL from `audit.prune_database_url_file`. The file holds a
/// password that may delete the audit log, so it must be the gateway
/// user's alone.
fn owner_url(path: &std::path::Path) -> anyhow::Result<crate::config::DatabaseUrl> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "cannot read audit.prune_database_url_file {}; create it with the owner's postgres:// URL",
            path.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "{} may be read by other users (mode {mode:o}); it holds the database owner's password. Fix: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let url = text.trim();
    if url.is_empty() {
        anyhow::bail!(
            "{} is empty; write the owner's postgres:// URL into it",
            path.display()
        );
    }
    Ok(crate::config::DatabaseUrl::new(url))
}

/// How often the gateway looks for events past their retention.
pub const PRUNE_EVERY_MS: i64 = 3_600_000;

/// Housekeeping: prunes when the retention period allows it. A failure
/// (the owner's URL missing, the database refusing) is retried next time.
pub async fn scheduled_prune(state: &AppState) -> anyhow::Result<u64> {
    let days = state.config.audit.retention_days;
    if days == 0 {
        return Ok(0);
    }
    prune(state, days).await
}

async fn prune_on(
    state: &AppState,
    db: &crate::db::Db,
    retention_days: u32,
) -> anyhow::Result<u64> {
    let now = state.clock.now_ms();
    let cutoff = now - i64::from(retention_days) * 86_400_000;
    let mut tx = db.write().await?;
    let Some(last) = audit::last_seq_before(tx.conn(), cutoff).await? else {
        return Ok(0);
    };
    let (head_seq, _) = audit::current_head(tx.conn()).await?;
    // Keep at least the newest event so the chain always has a visible head.
    let last = last.min(head_seq - 1);
    if last < 1 {
        return Ok(0);
    }
    let anchored = audit::checkpoints(tx.conn())
        .await?
        .iter()
        .any(|c| c.seq == last);
    if !anchored {
        let hash = audit::hash_at(tx.conn(), last).await?.ok_or_else(|| {
            anyhow::anyhow!("event #{last} is missing; the log is already damaged")
        })?;
        let checkpoint = state.keys.sign_checkpoint(last, &hash, &format_ms(now));
        audit::insert_checkpoint(tx.conn(), &checkpoint, now).await?;
    }
    let removed = audit::delete_through(tx.conn(), last).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::AuditPrune,
            object: ObjectRef::AuditEvent(last),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({ "through_seq": last, "removed": removed, "retention_days": retention_days }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}
