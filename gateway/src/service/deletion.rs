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
//!
//! People reach a disposal through grants ([`policy::request_disposal`],
//! [`policy::view_deletion`], [`policy::decide_disposal`]); the phases run
//! only with an [`ErasureGrant`], which [`policy::erase`] gives for a
//! disposal that is due (retention, class III, or approved), so an
//! undecided class I/II request can never reach them. Inbound files are
//! erased the same way when their keeping period ends.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::deletion::{
    CERTIFICATE_FORMAT, DecideDisposal, DeletionCertificate, DisposalState, DisposalView,
    DisposeRequest, certificate_message,
};
use sekisho_proto::vocab::{DeletionTrigger, InboundClass, InboundState, Outcome};
use sekisho_proto::{Class, FileEntry, Role, TransferState};
use serde_json::json;

use super::{Origin, accounts, check_text};
use crate::clock::format_ms;
use crate::db::Conn;
use crate::db::audit::{self, Record};
use crate::db::deletions::{self, DeletionRow, InboundDeletionRow, InboundDue};
use crate::db::transfers::{self as store, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{
    self, Actor, DisposalFacts, DisposalSubject, ErasureGrant, Grant, TransferFacts,
    TransferSubject, Visible,
};
use crate::service::transfers::facts;
use crate::state::AppState;
use crate::transfer_state::{self, Event};

/// Test hook: the gateway aborts right after phase 1, as a power cut would.
const CRASH_ENV: &str = "SEKISHO_DANGER_CRASH_AFTER_KEYS_DESTROYED";

const METHOD: &str = "cryptographic erase (per-object key destroyed: wrapped copy removed from the database, key share overwritten and removed) + stored ciphertext overwritten and removed";

/// Who the gateway's own deletions are recorded as.
const GATEWAY: &str = "(gateway)";

/// A journalled disposal together with the transfer it is about: what the
/// transfer rules (who may see or decide it) and the erase rule judge.
pub struct Disposal {
    pub deletion: DeletionRow,
    pub transfer: TransferRow,
}

impl TransferSubject for Disposal {
    fn transfer_facts(&self) -> TransferFacts<'_> {
        facts(&self.transfer)
    }
}

impl DisposalSubject for Disposal {
    fn disposal_facts(&self) -> DisposalFacts {
        DisposalFacts {
            state: self.deletion.state,
            trigger: self.deletion.trigger,
            class: Some(self.transfer.class),
            decided: self.deletion.decided_by.is_some(),
        }
    }
}

/// An inbound file chosen by retention: due, never asked for by anyone.
impl DisposalSubject for InboundDue {
    fn disposal_facts(&self) -> DisposalFacts {
        DisposalFacts {
            state: DisposalState::Requested,
            trigger: DeletionTrigger::Retention,
            class: None,
            decided: false,
        }
    }
}

impl DisposalSubject for InboundDeletionRow {
    fn disposal_facts(&self) -> DisposalFacts {
        DisposalFacts {
            state: self.state,
            trigger: DeletionTrigger::Retention,
            class: None,
            decided: false,
        }
    }
}

async fn load_transfer(state: &AppState, id: &str) -> AppResult<TransferRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.read().await?;
    store::get(&mut conn, id).await?.ok_or(AppError::NotFound)
}

/// A disposal by id on `conn`; a malformed id is "not found" at once.
async fn load_disposal_on(conn: &mut Conn, id: &str) -> AppResult<Disposal> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let deletion = deletions::get(conn, id).await?.ok_or(AppError::NotFound)?;
    let transfer = store::get(conn, &deletion.transfer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Disposal { deletion, transfer })
}

async fn load_disposal(state: &AppState, id: &str) -> AppResult<Disposal> {
    let mut conn = state.db.read().await?;
    load_disposal_on(&mut conn, id).await
}

/// The disposal as its viewer (or decider) sees it.
async fn render<P>(state: &AppState, grant: &Grant<P, Disposal>) -> AppResult<DisposalView> {
    let Disposal { deletion, transfer } = grant.object();
    let mut conn = state.db.read().await?;
    let files = store::files(&mut conn, &transfer.id)
        .await?
        .into_iter()
        .map(|f| f.entry())
        .collect();
    Ok(DisposalView {
        id: deletion.id.clone(),
        object: deletion.transfer_id.clone(),
        class: transfer.class,
        state: deletion.state,
        reason: deletion.reason.clone(),
        trigger: deletion.trigger,
        requested_by: deletion.requested_by.clone(),
        requested_at: format_ms(deletion.requested_at),
        decided_by: deletion.decided_by.clone(),
        decided_at: deletion.decided_at.map(format_ms),
        decision_comment: deletion.decision_comment.clone(),
        files,
    })
}

/// A new journal row, waiting in `requested`.
fn new_deletion(
    transfer_id: &str,
    trigger: DeletionTrigger,
    reason: &str,
    requested_by: &str,
    requested_by_role: Role,
    now: i64,
) -> DeletionRow {
    DeletionRow {
        id: uuid::Uuid::new_v4().to_string(),
        transfer_id: transfer_id.to_string(),
        state: DisposalState::Requested,
        trigger,
        reason: reason.to_string(),
        requested_by: requested_by.to_string(),
        requested_by_role,
        requested_at: now,
        decided_by: None,
        decided_at: None,
        decision_comment: None,
        object_ids: Vec::new(),
        erased_at: None,
        certificate: None,
    }
}

/// `sekisho dispose ID --reason`: class III goes at once; I/II waits for
/// the approver (2.(2)⑩(ウ)).
pub async fn request(
    state: &AppState,
    actor: &Actor,
    request: DisposeRequest,
    origin: &Origin,
) -> AppResult<DisposalView> {
    let grant = policy::request_disposal(actor, load_transfer(state, &request.object).await?)?;
    check_text("the reason", &request.reason, 1000)?;
    let transfer = grant.object();
    if transfer.state == TransferState::Erased {
        return Err(AppError::Conflict(
            "already_erased",
            "this content was already deleted".into(),
        ));
    }
    let now = state.clock.now_ms();
    let requester = grant.actor();
    let row = new_deletion(
        &transfer.id,
        DeletionTrigger::Request,
        request.reason.trim(),
        &requester.username,
        requester.role,
        now,
    );
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
            "a disposal of this content is already waiting for a decision or in progress; an approver sees it with `sekisho pending`"
                .into(),
        ));
    }
    deletions::insert(tx.conn(), &row).await?;
    let needs_approval = policy::disposal_needs_approval(transfer.class);
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: requester.username.clone(),
            action: Action::DeletionRequest,
            object: ObjectRef::Transfer(transfer.id.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "deletion": row.id, "reason": row.reason, "needs_approval": needs_approval }),
        },
    )
    .await?;
    tx.commit().await?;
    let id = row.id.clone();
    let disposal = Disposal {
        deletion: row,
        transfer: grant.into_object(),
    };
    // The erase rule says whether it goes now: class III yes, I/II waits.
    if let Ok(erasure) = policy::erase(disposal) {
        erase(state, erasure).await?;
    }
    show(state, actor, &id).await
}

pub async fn show(state: &AppState, actor: &Actor, id: &str) -> AppResult<DisposalView> {
    let grant: Visible<Disposal> = policy::view_deletion(actor, load_disposal(state, id).await?)?;
    render(state, &grant).await
}

/// Requests waiting for this actor's decision.
pub async fn pending(state: &AppState, actor: &Actor) -> AppResult<Vec<DisposalView>> {
    let rows = {
        let mut conn = state.db.read().await?;
        deletions::in_state(&mut conn, DisposalState::Requested).await?
    };
    let mut out = Vec::new();
    // An approved request stays `requested` until its erase starts; it
    // waits for nobody's decision.
    for deletion in rows.into_iter().filter(|d| d.decided_by.is_none()) {
        let transfer = load_transfer(state, &deletion.transfer_id).await?;
        let by = deletion.requested_by.clone();
        let role = deletion.requested_by_role;
        let disposal = Disposal { deletion, transfer };
        if let Ok(grant) = policy::decide_disposal(actor, &by, role, disposal) {
            out.push(render(state, &grant).await?);
        }
    }
    Ok(out)
}

fn already_decided() -> AppError {
    AppError::Conflict(
        "wrong_state",
        "this disposal request was already decided; nothing more to do (see what waits with `sekisho pending`)".into(),
    )
}

pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: &str,
    approve: bool,
    decision: DecideDisposal,
    origin: &Origin,
) -> AppResult<DisposalView> {
    // Seeing first: whoever may not see the transfer gets "not found".
    let seen = policy::view_deletion(actor, load_disposal(state, id).await?)?;
    let by = seen.object().deletion.requested_by.clone();
    let role = seen.object().deletion.requested_by_role;
    let grant = policy::decide_disposal(actor, &by, role, seen.into_object())?;
    let deletion = &grant.object().deletion;
    if deletion.state != DisposalState::Requested || deletion.decided_by.is_some() {
        return Err(already_decided());
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
    accounts::step_up(state, grant.actor(), &decision.otp, origin).await?;
    let now = state.clock.now_ms();
    let by = &grant.actor().username;
    let mut tx = state.db.write().await?;
    // An approved request stays "requested" until phase 1 of the erase
    // journals it; a rejected one is closed here.
    let to = if approve {
        DisposalState::Requested
    } else {
        DisposalState::Rejected
    };
    if !deletions::decide(tx.conn(), &deletion.id, to, by, now, comment).await? {
        return Err(already_decided());
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: by.clone(),
            action: if approve { Action::DeletionApprove } else { Action::DeletionReject },
            object: ObjectRef::Transfer(deletion.transfer_id.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "deletion": deletion.id, "comment": comment, "requested_by": deletion.requested_by,
                "on_behalf_of": policy::disposal_decided_for(grant.actor(), &deletion.requested_by, deletion.requested_by_role)
                    .map(|s| s.username.clone()),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    if approve {
        erase_by_id(state, id).await?;
    }
    show(state, actor, id).await
}

/// Loads a disposal and erases it, if the erase rule allows it now.
async fn erase_by_id(state: &AppState, deletion_id: &str) -> anyhow::Result<()> {
    let disposal = {
        let mut conn = state.db.read().await?;
        let deletion = deletions::get(&mut conn, deletion_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("deletion {deletion_id} vanished"))?;
        let transfer = store::get(&mut conn, &deletion.transfer_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("transfer {} vanished", deletion.transfer_id))?;
        Disposal { deletion, transfer }
    };
    let grant = policy::erase(disposal).map_err(|denied| {
        anyhow::anyhow!("deletion {deletion_id} may not be erased now: {denied:?}")
    })?;
    erase(state, grant).await
}

/// What phase 1 destroyed, and when.
struct Erased {
    object_ids: Vec<String>,
    at: i64,
}

/// Runs (or resumes) the three phases for one granted deletion.
async fn erase(state: &AppState, grant: ErasureGrant<Disposal>) -> anyhow::Result<()> {
    let deletion = &grant.object().deletion;
    let erased = match deletion.state {
        DisposalState::Requested => destroy_keys(state, &grant).await?,
        DisposalState::KeysDestroyed => Erased {
            object_ids: deletion.object_ids.clone(),
            at: deletion.erased_at.unwrap_or_else(|| state.clock.now_ms()),
        },
        // The erase rule grants neither; nothing to do.
        DisposalState::Complete | DisposalState::Rejected => return Ok(()),
    };
    if std::env::var_os(CRASH_ENV).is_some() {
        tracing::error!("{CRASH_ENV} is set: aborting after phase 1 as a test of crash recovery");
        std::process::abort();
    }
    // Phase 2: idempotent, so a resumed deletion simply runs it again.
    for id in &erased.object_ids {
        erase_stored(state, id).await?;
    }
    certify(state, &grant, &erased).await
}

/// Phase 2 for one object: its key share and its ciphertext.
async fn erase_stored(state: &AppState, object_id: &str) -> anyhow::Result<()> {
    state.keys.shares().erase(object_id)?;
    let store = state.store.clone();
    let id = object_id.to_string();
    tokio::task::spawn_blocking(move || store.erase(&id)).await??;
    Ok(())
}

/// Phase 1: the cryptographic erase, in one transaction.
async fn destroy_keys(state: &AppState, grant: &ErasureGrant<Disposal>) -> anyhow::Result<Erased> {
    let deletion = &grant.object().deletion;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    // The transfer as it is now: it may have expired or been revoked since.
    let transfer = store::get(tx.conn(), &deletion.transfer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("transfer {} vanished", deletion.transfer_id))?;
    let next = transfer_state::next(transfer.state, Event::Erased)
        .ok_or_else(|| anyhow::anyhow!("transfer {} is already erased", transfer.id))?;
    let ids = deletions::destroy_keys(tx.conn(), &transfer.id, state.db.overwrite_before_delete())
        .await?;
    if !store::set_state(tx.conn(), &transfer.id, transfer.state, next, now).await? {
        anyhow::bail!(
            "transfer {} changed during its erase; it will be retried",
            transfer.id
        );
    }
    if !deletions::mark_keys_destroyed(tx.conn(), &deletion.id, &ids, now).await? {
        anyhow::bail!("deletion {} was already past phase 1", deletion.id);
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: GATEWAY.into(),
            action: Action::DeletionErase,
            object: ObjectRef::Transfer(transfer.id.clone()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({ "deletion": deletion.id, "objects": ids.len(), "previous_state": transfer.state.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Erased {
        object_ids: ids,
        at: now,
    })
}

/// Phase 3: signs, stores and logs the certificate, once.
async fn certify(
    state: &AppState,
    grant: &ErasureGrant<Disposal>,
    erased: &Erased,
) -> anyhow::Result<()> {
    let Disposal { deletion, transfer } = grant.object();
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let files = store::files(tx.conn(), &transfer.id)
        .await?
        .into_iter()
        .map(|f| f.entry())
        .collect();
    let certificate = DeletionCertificate {
        format: CERTIFICATE_FORMAT.into(),
        deletion_id: deletion.id.clone(),
        object: transfer.id.clone(),
        class: transfer.class,
        files,
        method: METHOD.into(),
        reason: deletion.reason.clone(),
        trigger: deletion.trigger,
        requested_by: deletion.requested_by.clone(),
        requested_at: format_ms(deletion.requested_at),
        approved_by: deletion.decided_by.clone(),
        approved_at: deletion.decided_at.map(format_ms),
        erased_at: format_ms(erased.at),
        key_fingerprint: state.keys.audit_public().fingerprint,
        signature: String::new(),
    };
    let text = signed(state, certificate)?;
    if !deletions::complete(tx.conn(), &deletion.id, &text).await? {
        // Another run certified it already; its certificate stands.
        return Ok(());
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: GATEWAY.into(),
            action: Action::DeletionDone,
            object: ObjectRef::Transfer(transfer.id.clone()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "deletion": deletion.id,
                "trigger": deletion.trigger,
                "requested_by": deletion.requested_by,
                "approved_by": deletion.decided_by,
                "certificate_sha256": crate::auth::token::hash(&text),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The certificate signed with the audit key, as stored JSON.
fn signed(state: &AppState, mut certificate: DeletionCertificate) -> anyhow::Result<String> {
    certificate.signature = state.keys.sign_bytes(&certificate_message(&certificate));
    Ok(serde_json::to_string(&certificate)?)
}

/// Start-up: finishes deletions a crash interrupted after phase 1, then
/// due ones whose erase had not begun.
pub async fn resume(state: &AppState) -> anyhow::Result<()> {
    let inbound = {
        let mut conn = state.db.read().await?;
        deletions::inbound_deletions_in_state(&mut conn, DisposalState::KeysDestroyed).await?
    };
    for row in inbound {
        tracing::info!(
            "finishing the interrupted deletion {} of inbound file {}",
            row.id,
            row.file_id
        );
        let grant = policy::erase(row)
            .map_err(|denied| anyhow::anyhow!("an inbound erase was refused: {denied:?}"))?;
        finish_inbound(state, &grant).await?;
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
        erase_by_id(state, &row.id).await?;
    }
    resume_due_requests(state).await
}

/// A disposal that was due (class III, or approved) is journalled and
/// committed before its erase begins; a crash in between left it
/// `requested` for good: its requester was told "already in progress" and
/// nobody could decide it any more. Such disposals are erased now; those
/// still waiting for an approver stay as they are. One that cannot be
/// erased is logged and left for the system staff rather than keeping the
/// whole gateway from starting.
async fn resume_due_requests(state: &AppState) -> anyhow::Result<()> {
    let rows = {
        let mut conn = state.db.read().await?;
        deletions::in_state(&mut conn, DisposalState::Requested).await?
    };
    for deletion in rows {
        let transfer = {
            let mut conn = state.db.read().await?;
            store::get(&mut conn, &deletion.transfer_id).await?
        };
        let Some(transfer) = transfer else {
            continue;
        };
        let (id, transfer_id) = (deletion.id.clone(), transfer.id.clone());
        let Ok(grant) = policy::erase(Disposal { deletion, transfer }) else {
            continue;
        };
        tracing::info!(
            "finishing the disposal {id} of transfer {transfer_id}: it was due when the gateway stopped"
        );
        if let Err(e) = erase(state, grant).await {
            tracing::error!(
                "cannot finish the disposal {id} of transfer {transfer_id} (see `sekisho deletion show {transfer_id}`): {e:#}"
            );
        }
    }
    Ok(())
}

/// The signed certificate(s) of an erased object: a transfer, or else an
/// inbound file.
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
    let grant = policy::view_deletion(actor, transfer)?;
    let mut conn = state.db.read().await?;
    let texts = deletions::for_transfer(&mut conn, &grant.object().id)
        .await?
        .into_iter()
        .filter_map(|d| d.certificate);
    found_certificates(texts)
}

/// The stored certificates that parse; 409 when there are none.
fn found_certificates(texts: impl Iterator<Item = String>) -> AppResult<Vec<DeletionCertificate>> {
    let found: Vec<DeletionCertificate> = texts
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect();
    if found.is_empty() {
        return Err(AppError::Conflict(
            "not_deleted",
            "this object has not been deleted".into(),
        ));
    }
    Ok(found)
}

/// Certificates of an erased inbound file, for whoever may see the file.
async fn inbound_certificates(
    state: &AppState,
    actor: &Actor,
    file_id: &str,
) -> AppResult<Vec<DeletionCertificate>> {
    let mut conn = state.db.read().await?;
    let received = super::inbound::load(&mut conn, file_id).await?;
    let grant = policy::view_inbound_deletion(actor, received)?;
    let texts = deletions::inbound_deletions_of(&mut conn, &grant.object().file.id)
        .await?
        .into_iter()
        .filter_map(|d| d.certificate);
    found_certificates(texts)
}

/// Transfers whose retention period has run out, with the reason.
async fn retention_due(state: &AppState) -> anyhow::Result<Vec<(TransferRow, &'static str)>> {
    let now = state.clock.now_ms();
    let r = &state.config.retention;
    let day = 86_400_000i64;
    let mut due = Vec::new();
    let mut conn = state.db.read().await?;
    for t in store::list_by_state(&mut conn, TransferState::Expired).await? {
        // Never released: it expired undecided, and goes as a rejected one does.
        if t.released_at.is_none() {
            if t.expired_at.unwrap_or(t.created_at) + i64::from(r.closed_days) * day <= now {
                due.push((t, "retention: expired undecided, never released"));
            }
            continue;
        }
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
    Ok(due)
}

/// Housekeeping: deletes what its retention period has run out on, with no
/// one asking (2.(2)③(ウ)). Returns how many transfers were erased.
pub async fn apply_retention(state: &AppState) -> anyhow::Result<usize> {
    let due = retention_due(state).await?;
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
        let now = state.clock.now_ms();
        let row = new_deletion(
            &transfer.id,
            DeletionTrigger::Retention,
            reason,
            "(retention)",
            Role::Sysadmin,
            now,
        );
        {
            let mut tx = state.db.write().await?;
            // Any disposal request still waiting is overtaken by retention.
            deletions::overtake_requests(tx.conn(), &transfer.id).await?;
            deletions::insert(tx.conn(), &row).await?;
            tx.commit().await?;
        }
        let disposal = Disposal {
            deletion: row,
            transfer,
        };
        let grant = policy::erase(disposal)
            .map_err(|denied| anyhow::anyhow!("a retention erase was refused: {denied:?}"))?;
        erase(state, grant).await?;
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
    let count = due.len();
    for file in due {
        let grant = policy::erase(file)
            .map_err(|denied| anyhow::anyhow!("an inbound erase was refused: {denied:?}"))?;
        for id in destroy_inbound_key(state, &grant).await? {
            let journalled = {
                let mut conn = state.db.read().await?;
                deletions::inbound_deletion(&mut conn, &id).await?
            }
            .ok_or_else(|| anyhow::anyhow!("inbound deletion {id} vanished"))?;
            let grant = policy::erase(journalled)
                .map_err(|denied| anyhow::anyhow!("an inbound erase was refused: {denied:?}"))?;
            finish_inbound(state, &grant).await?;
        }
    }
    Ok(count)
}

/// Phase 1 for an inbound file; returns the new journal rows' ids (one
/// more for a sanitised copy).
async fn destroy_inbound_key(
    state: &AppState,
    grant: &ErasureGrant<InboundDue>,
) -> anyhow::Result<Vec<String>> {
    let file = grant.object();
    let now = state.clock.now_ms();
    let reason = if file.state == InboundState::Quarantined {
        "retention: quarantined inbound file past its keeping period"
    } else {
        "retention: inbound file past its keeping period"
    };
    let id = uuid::Uuid::new_v4().to_string();
    let copy_id = uuid::Uuid::new_v4().to_string();
    let mut tx = state.db.write().await?;
    deletions::destroy_inbound_key(
        tx.conn(),
        &id,
        &copy_id,
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
            actor: GATEWAY.into(),
            action: Action::DeletionErase,
            object: ObjectRef::InboundFile(file.file_id.clone()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "deletion": id,
                "copy_deletion": file.copy_object_id.as_ref().map(|_| &copy_id),
                "previous_state": file.state,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(match file.copy_object_id {
        Some(_) => vec![id, copy_id],
        None => vec![id],
    })
}

/// Phases 2 and 3 for an inbound file (also run at start-up to finish an
/// interrupted erase).
async fn finish_inbound(
    state: &AppState,
    grant: &ErasureGrant<InboundDeletionRow>,
) -> anyhow::Result<()> {
    let row = grant.object();
    if row.state != DisposalState::KeysDestroyed {
        return Ok(());
    }
    erase_stored(state, &row.object_id).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let file = crate::db::inbound::file(tx.conn(), &row.file_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("inbound file {} vanished", row.file_id))?;
    let certificate = DeletionCertificate {
        format: CERTIFICATE_FORMAT.into(),
        deletion_id: row.id.clone(),
        object: ObjectRef::InboundFile(row.file_id.clone()).to_string(),
        // Content never classified (quarantined, held, waiting) is certified
        // at the highest class: nobody has shown it to be less sensitive.
        class: file.class.and_then(InboundClass::class).unwrap_or(Class::I),
        // The journal row names the object: the original, or its copy.
        files: vec![match file.sanitised.and_then(|s| s.copy) {
            Some(copy) if copy.object_id == row.object_id => FileEntry {
                name: copy.name,
                size: copy.size as u64,
                sha256: copy.sha256,
            },
            _ => FileEntry {
                name: file.name,
                size: file.size as u64,
                sha256: file.sha256,
            },
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
    let text = signed(state, certificate)?;
    if !deletions::complete_inbound(tx.conn(), &row.id, &text).await? {
        return Ok(());
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: GATEWAY.into(),
            action: Action::DeletionDone,
            object: ObjectRef::InboundFile(row.file_id.clone()),
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
