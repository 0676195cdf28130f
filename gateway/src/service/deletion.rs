//! Secure deletion (廃棄, policy 2.(2)⑩, 4.(1)⑥): retention-driven and
//! requested disposals, the three-phase erase, and signed certificates.
//!
//! Erasing a transfer's content happens in three phases, journalled in the
//! `deletions` table so that a crash at any point finishes at start-up:
//! 1. one transaction destroys the database half of every object key
//!    (overwritten first where the database keeps old versions), revokes the
//!    links, moves the transfer to `erased` and logs `deletion.erase`. From
//!    here on the content is unrecoverable: this is the cryptographic erase;
//! 2. the key shares on the gateway's disk and the stored ciphertext are
//!    overwritten (where the store allows) and removed;
//! 3. a certificate is signed with the audit key, stored, and logged as
//!    `deletion.done`.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::deletion::{
    CERTIFICATE_FORMAT, DecideDisposal, DeletionCertificate, DisposalState, DisposalView,
    DisposeRequest, certificate_message,
};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::vocab::{DeletionTrigger, InboundState};
use sekisho_proto::{FileEntry, TransferState};
use serde_json::json;

use super::{Origin, accounts, check_text};
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::deletions::{self, DeletionRow};
use crate::db::transfers::{self as store, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::service::transfers::facts;
use crate::state::AppState;
use crate::transfer_state::{self, Event};

/// Test hook: the gateway aborts right after phase 1, as a power cut would.
const CRASH_ENV: &str = "SEKISHO_DANGER_CRASH_AFTER_KEYS_DESTROYED";

pub const METHOD: &str = "cryptographic erase (per-object key destroyed: wrapped copy removed from the database, key share overwritten and removed) + stored ciphertext overwritten and removed";

async fn load_transfer(state: &AppState, id: &str) -> AppResult<TransferRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.read().await?;
    store::get(&mut conn, id).await?.ok_or(AppError::NotFound)
}

async fn files_of(state: &AppState, transfer_id: &str) -> AppResult<Vec<FileEntry>> {
    let mut conn = state.db.read().await?;
    Ok(store::files(&mut conn, transfer_id)
        .await?
        .into_iter()
        .map(|f| f.entry())
        .collect())
}

async fn view(
    state: &AppState,
    row: &DeletionRow,
    transfer: &TransferRow,
) -> AppResult<DisposalView> {
    Ok(DisposalView {
        id: row.id.clone(),
        object: row.transfer_id.clone(),
        class: transfer.class,
        state: row.state,
        reason: row.reason.clone(),
        trigger: row.trigger,
        requested_by: row.requested_by.clone(),
        requested_at: format_ms(row.requested_at),
        decided_by: row.decided_by.clone(),
        decided_at: row.decided_at.map(format_ms),
        decision_comment: row.decision_comment.clone(),
        files: files_of(state, &row.transfer_id).await?,
    })
}

/// `sekisho dispose ID --reason`: class III goes at once; I/II waits for
/// the approver (2.(2)⑩(ウ)).
pub async fn request(
    state: &AppState,
    actor: &Actor,
    request: DisposeRequest,
    origin: &Origin,
) -> AppResult<DisposalView> {
    let transfer = load_transfer(state, &request.object).await?;
    policy::may_request_disposal(actor, &facts(&transfer))?;
    check_text("the reason", &request.reason, 1000)?;
    if transfer.state == TransferState::Erased {
        return Err(AppError::Conflict(
            "already_erased",
            "this content was already deleted".into(),
        ));
    }
    let now = state.clock.now_ms();
    let needs_approval = policy::disposal_needs_approval(transfer.class);
    let row = DeletionRow {
        id: uuid::Uuid::new_v4().to_string(),
        transfer_id: transfer.id.clone(),
        state: DisposalState::Requested,
        trigger: DeletionTrigger::Request,
        reason: request.reason.trim().to_string(),
        requested_by: actor.username.clone(),
        requested_by_role: actor.role,
        requested_at: now,
        decided_by: None,
        decided_at: None,
        decision_comment: None,
        object_ids: Vec::new(),
        erased_at: None,
        certificate: None,
    };
    let mut tx = state.db.write().await?;
    let open = deletions::for_transfer(tx.conn(), &transfer.id)
        .await?
        .into_iter()
        .any(|d| {
            matches!(
                d.state,
                DisposalState::Requested | DisposalState::KeysDestroyed
            )
        });
    if open {
        return Err(AppError::Conflict(
            "already_requested",
            "a disposal of this content is already waiting or in progress".into(),
        ));
    }
    deletions::insert(tx.conn(), &row).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::DeletionRequest,
            object: ObjectRef::Transfer(transfer.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "deletion": row.id, "reason": row.reason, "needs_approval": needs_approval }),
        },
    )
    .await?;
    tx.commit().await?;
    if !needs_approval {
        erase(state, &row.id).await?;
    }
    let mut conn = state.db.read().await?;
    let stored = deletions::get(&mut conn, &row.id)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    view(state, &stored, &transfer).await
}

async fn load_request(state: &AppState, id: &str) -> AppResult<(DeletionRow, TransferRow)> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.read().await?;
    let row = deletions::get(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let transfer = store::get(&mut conn, &row.transfer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((row, transfer))
}

pub async fn show(state: &AppState, actor: &Actor, id: &str) -> AppResult<DisposalView> {
    let (row, transfer) = load_request(state, id).await?;
    policy::may_view_deletion(actor, &facts(&transfer))?;
    view(state, &row, &transfer).await
}

/// Requests waiting for this actor's decision.
pub async fn pending(state: &AppState, actor: &Actor) -> AppResult<Vec<DisposalView>> {
    let rows = {
        let mut conn = state.db.read().await?;
        deletions::in_state(&mut conn, DisposalState::Requested).await?
    };
    let mut out = Vec::new();
    for row in rows {
        if policy::may_decide_disposal(actor, &row.requested_by, row.requested_by_role).is_err() {
            continue;
        }
        let transfer = load_transfer(state, &row.transfer_id).await?;
        out.push(view(state, &row, &transfer).await?);
    }
    Ok(out)
}

pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: &str,
    approve: bool,
    decision: DecideDisposal,
    origin: &Origin,
) -> AppResult<DisposalView> {
    let (row, transfer) = load_request(state, id).await?;
    policy::may_view_deletion(actor, &facts(&transfer))?;
    policy::may_decide_disposal(actor, &row.requested_by, row.requested_by_role)?;
    if row.state != DisposalState::Requested {
        return Err(AppError::Conflict(
            "wrong_state",
            "this request was already decided".into(),
        ));
    }
    let comment = decision
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match comment {
        Some(c) => check_text("the comment", c, 1000)?,
        None if !approve => {
            return Err(AppError::invalid(
                "reason_missing",
                "say why the disposal is rejected: --reason TEXT",
            ));
        }
        None => {}
    }
    accounts::step_up(state, actor, &decision.otp).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    // An approved request stays "requested" until phase 1 of the erase
    // journals it; a rejected one is closed here.
    let to = if approve {
        DisposalState::Requested
    } else {
        DisposalState::Rejected
    };
    deletions::decide(tx.conn(), &row.id, to, &actor.username, now, comment).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: if approve { Action::DeletionApprove } else { Action::DeletionReject },
            object: ObjectRef::Transfer(row.transfer_id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "deletion": row.id, "comment": comment, "requested_by": row.requested_by }),
        },
    )
    .await?;
    tx.commit().await?;
    if approve {
        erase(state, &row.id).await?;
    }
    show(state, actor, id).await
}

/// Runs (or resumes) the three phases for one deletion.
pub async fn erase(state: &AppState, deletion_id: &str) -> anyhow::Result<()> {
    let row = {
        let mut conn = state.db.read().await?;
        deletions::get(&mut conn, deletion_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("deletion {deletion_id} vanished"))?
    };
    let object_ids = match row.state {
        DisposalState::Requested => destroy_keys(state, &row).await?,
        DisposalState::KeysDestroyed => row.object_ids.clone(),
        DisposalState::Complete | DisposalState::Rejected => return Ok(()),
    };
    if std::env::var_os(CRASH_ENV).is_some() {
        tracing::error!("{CRASH_ENV} is set: aborting after phase 1 as a test of crash recovery");
        std::process::abort();
    }
    // Phase 2: idempotent, so a resumed deletion simply runs it again.
    for id in &object_ids {
        state.keys.shares().erase(id)?;
        let store = state.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || store.erase(&id)).await??;
    }
    certify(state, deletion_id).await
}

async fn destroy_keys(state: &AppState, row: &DeletionRow) -> anyhow::Result<Vec<String>> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let transfer = store::get(tx.conn(), &row.transfer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("transfer {} vanished", row.transfer_id))?;
    let next = transfer_state::next(transfer.state, Event::Erased)
        .ok_or_else(|| anyhow::anyhow!("transfer {} is already erased", transfer.id))?;
    let ids = deletions::destroy_keys(tx.conn(), &transfer.id, state.db.overwrite_before_delete())
        .await?;
    store::set_state(tx.conn(), &transfer.id, transfer.state, next, now).await?;
    deletions::mark_keys_destroyed(tx.conn(), &row.id, &ids, now).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::DeletionErase,
            object: ObjectRef::Transfer(transfer.id.to_string()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({ "deletion": row.id, "objects": ids.len(), "previous_state": transfer.state.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ids)
}

async fn certify(state: &AppState, deletion_id: &str) -> anyhow::Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let row = deletions::get(tx.conn(), deletion_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("deletion {deletion_id} vanished"))?;
    if row.state == DisposalState::Complete {
        return Ok(());
    }
    let transfer = store::get(tx.conn(), &row.transfer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("transfer {} vanished", row.transfer_id))?;
    let files = store::files(tx.conn(), &row.transfer_id)
        .await?
        .into_iter()
        .map(|f| f.entry())
        .collect();
    let mut certificate = DeletionCertificate {
        format: CERTIFICATE_FORMAT.into(),
        deletion_id: row.id.clone(),
        object: row.transfer_id.clone(),
        class: transfer.class,
        files,
        method: METHOD.into(),
        reason: row.reason.clone(),
        trigger: row.trigger,
        requested_by: row.requested_by.clone(),
        requested_at: format_ms(row.requested_at),
        approved_by: row.decided_by.clone(),
        approved_at: row.decided_at.map(format_ms),
        erased_at: format_ms(row.erased_at.unwrap_or(now)),
        key_fingerprint: state.keys.audit_public().fingerprint,
        signature: String::new(),
    };
    certificate.signature = state.keys.sign_bytes(&certificate_message(&certificate));
    let text = serde_json::to_string(&certificate)?;
    deletions::complete(tx.conn(), &row.id, &text).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::DeletionDone,
            object: ObjectRef::Transfer(row.transfer_id.to_string()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "deletion": row.id,
                "trigger": row.trigger,
                "requested_by": row.requested_by,
                "approved_by": row.decided_by,
                "certificate_sha256": crate::auth::token::hash(&text),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Start-up: finishes deletions a crash interrupted after phase 1.
pub async fn resume(state: &AppState) -> anyhow::Result<()> {
    let inbound = {
        let mut conn = state.db.read().await?;
        deletions::inbound_deletions_in_state(&mut conn, "keys_destroyed").await?
    };
    for row in inbound {
        tracing::info!(
            "finishing the interrupted deletion {} of inbound file {}",
            row.id,
            row.file_id
        );
        finish_inbound(state, &row.id).await?;
    }
    let rows = {
        let mut conn = state.db.read().await?;
        deletions::in_state(&mut conn, DisposalState::KeysDestroyed).await?
    };
    for row in rows {
        tracing::info!(
            "finishing the interrupted deletion {} of transfer {}",
            row.id,
            row.transfer_id
        );
        erase(state, &row.id).await?;
    }
    Ok(())
}

/// The signed certificate(s) of an erased object.
pub async fn certificates(
    state: &AppState,
    actor: &Actor,
    object: &str,
) -> AppResult<Vec<DeletionCertificate>> {
    let transfer = match load_transfer(state, object).await {
        Ok(t) => t,
        Err(AppError::NotFound) => return inbound_certificates(state, actor, object).await,
        Err(e) => return Err(e),
    };
    policy::may_view_deletion(actor, &facts(&transfer))?;
    let mut conn = state.db.read().await?;
    let rows = deletions::for_transfer(&mut conn, object).await?;
    let found: Vec<DeletionCertificate> = rows
        .iter()
        .filter_map(|r| r.certificate.as_deref())
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect();
    if found.is_empty() {
        return Err(AppError::Conflict(
            "not_deleted",
            "this object has not been deleted".into(),
        ));
    }
    Ok(found)
}

/// Housekeeping: deletes what its retention period has run out on, with no
/// one asking (2.(2)③(ウ)). Returns how many transfers were erased.
pub async fn apply_retention(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now_ms();
    let r = &state.config.retention;
    let day = 86_400_000i64;
    let mut due = Vec::new();
    {
        let mut conn = state.db.read().await?;
        for t in store::list_by_state(&mut conn, TransferState::Expired).await? {
            let last_expiry = store::links(&mut conn, &t.id)
                .await?
                .iter()
                .filter_map(|l| l.expires_at)
                .max()
                .unwrap_or(t.created_at);
            if last_expiry + i64::from(r.released_days_after_expiry) * day <= now {
                due.push((t, "retention: released content past its keeping period"));
            }
        }
        for t in store::list_by_state(&mut conn, TransferState::Rejected).await? {
            let decided = store::decision(&mut conn, &t.id)
                .await?
                .map_or(t.created_at, |d| d.decided_at);
            if decided + i64::from(r.closed_days) * day <= now {
                due.push((t, "retention: rejected, never released"));
            }
        }
        for t in store::list_by_state(&mut conn, TransferState::Revoked).await? {
            if t.revoked_at.unwrap_or(t.created_at) + i64::from(r.closed_days) * day <= now {
                due.push((t, "retention: revoked"));
            }
        }
        for t in store::list_by_state(&mut conn, TransferState::Uploading).await? {
            if t.created_at + i64::from(r.abandoned_upload_hours) * 3_600_000 <= now {
                due.push((t, "retention: upload abandoned before submission"));
            }
        }
    }
    tracing::debug!("retention: {} transfers due", due.len());
    let mut erased = 0;
    for (transfer, reason) in due {
        let busy = {
            let mut conn = state.db.read().await?;
            deletions::for_transfer(&mut conn, &transfer.id)
                .await?
                .iter()
                .any(|d| {
                    matches!(
                        d.state,
                        DisposalState::KeysDestroyed | DisposalState::Complete
                    )
                })
        };
        if busy {
            continue;
        }
        let row = DeletionRow {
            id: uuid::Uuid::new_v4().to_string(),
            transfer_id: transfer.id.clone(),
            state: DisposalState::Requested,
            trigger: DeletionTrigger::Retention,
            reason: reason.into(),
            requested_by: "(retention)".into(),
            requested_by_role: sekisho_proto::Role::Sysadmin,
            requested_at: now,
            decided_by: None,
            decided_at: None,
            decision_comment: None,
            object_ids: Vec::new(),
            erased_at: None,
            certificate: None,
        };
        {
            let mut tx = state.db.write().await?;
            // Any disposal request still waiting is overtaken by retention.
            sqlx::query("UPDATE deletions SET state = 'rejected', decision_comment = 'overtaken by retention' WHERE transfer_id = $1 AND state = 'requested'")
                .bind(&transfer.id)
                .execute(tx.conn())
                .await?;
            deletions::insert(tx.conn(), &row).await?;
            tx.commit().await?;
        }
        erase(state, &row.id).await?;
        erased += 1;
    }
    Ok(erased)
}

/// Housekeeping: inbound files past their keeping period (quarantined ones
/// after `retention.quarantine_days`, all others after `inbound_days`) are
/// erased like outbound content, with a certificate each.
pub async fn apply_inbound_retention(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now_ms();
    let r = &state.config.retention;
    let day = 86_400_000i64;
    let due = {
        let mut conn = state.db.read().await?;
        deletions::inbound_due(
            &mut conn,
            now - i64::from(r.quarantine_days) * day,
            now - i64::from(r.inbound_days) * day,
        )
        .await?
    };
    for file in &due {
        let reason = if file.state == InboundState::Quarantined {
            "retention: quarantined inbound file past its keeping period"
        } else {
            "retention: inbound file past its keeping period"
        };
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = state.db.write().await?;
        deletions::destroy_inbound_key(
            tx.conn(),
            &id,
            file,
            reason,
            now,
            state.db.overwrite_before_delete(),
        )
        .await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: "(gateway)".into(),
                action: Action::DeletionErase,
                object: ObjectRef::InboundFile(file.file_id.to_string()),
                outcome: Outcome::Ok,
                source: "-".into(),
                detail: json!({ "deletion": id, "previous_state": file.state }),
            },
        )
        .await?;
        tx.commit().await?;
        finish_inbound(state, &id).await?;
    }
    Ok(due.len())
}

/// Phases 2 and 3 for an inbound file (also run at start-up to finish an
/// interrupted erase).
async fn finish_inbound(state: &AppState, deletion_id: &str) -> anyhow::Result<()> {
    let row = {
        let mut conn = state.db.read().await?;
        deletions::inbound_deletions_in_state(&mut conn, "keys_destroyed")
            .await?
            .into_iter()
            .find(|d| d.id == deletion_id)
    };
    let Some(row) = row else { return Ok(()) };
    state.keys.shares().erase(&row.object_id)?;
    let store = state.store.clone();
    let object_id = row.object_id.clone();
    tokio::task::spawn_blocking(move || store.erase(&object_id)).await??;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let file = sqlx::query("SELECT name, size, sha256, class FROM inbound_files WHERE id = $1")
        .bind(&row.file_id)
        .fetch_one(tx.conn())
        .await?;
    use sqlx::Row;
    let class_text: Option<String> = file.try_get("class")?;
    let mut certificate = DeletionCertificate {
        format: CERTIFICATE_FORMAT.into(),
        deletion_id: row.id.clone(),
        object: ObjectRef::InboundFile(row.file_id.to_string()).to_string(),
        // Content never classified (quarantined, held, waiting) is certified
        // at the highest class: nobody has shown it to be less sensitive.
        class: class_text
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(sekisho_proto::Class::I),
        files: vec![FileEntry {
            name: file.try_get("name")?,
            size: file.try_get::<i64, _>("size")? as u64,
            sha256: file.try_get("sha256")?,
        }],
        method: METHOD.into(),
        reason: row.reason.clone(),
        trigger: DeletionTrigger::Retention,
        requested_by: "(retention)".into(),
        requested_at: format_ms(row.erased_at),
        approved_by: None,
        approved_at: None,
        erased_at: format_ms(row.erased_at),
        key_fingerprint: state.keys.audit_public().fingerprint,
        signature: String::new(),
    };
    certificate.signature = state.keys.sign_bytes(&certificate_message(&certificate));
    let text = serde_json::to_string(&certificate)?;
    deletions::complete_inbound(tx.conn(), &row.id, &text).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::DeletionDone,
            object: ObjectRef::InboundFile(row.file_id.to_string()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "deletion": row.id,
                "trigger": "retention",
                "certificate_sha256": crate::auth::token::hash(&text),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Certificates of an erased inbound file, for whoever may see the file.
pub async fn inbound_certificates(
    state: &AppState,
    actor: &Actor,
    file_id: &str,
) -> AppResult<Vec<DeletionCertificate>> {
    let mut conn = state.db.read().await?;
    let received = super::inbound::load(&mut conn, file_id).await?;
    let _grant = policy::view_inbound_deletion(actor, received)?;
    let found: Vec<DeletionCertificate> = deletions::inbound_deletions_of(&mut conn, file_id)
        .await?
        .iter()
        .filter_map(|d| d.certificate.as_deref())
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect();
    if found.is_empty() {
        return Err(AppError::Conflict(
            "not_deleted",
            "this object has not been deleted".into(),
        ));
    }
    Ok(found)
}
