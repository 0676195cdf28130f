//! Removable media (policy 5.(1)③⑤, 2.(2)⑧): the ledger, what was written
//! for an approved carry-out, returns, carry-ins of outside media, and the
//! overdue list. The carry-out request itself is a transfer whose
//! "recipient" is the medium (see [`super::transfers::create`]), so upload,
//! approval, encryption and packaging are the same code.

use sekisho_proto::TransferView;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::media::{
    ArrivalKind, ArrivalView, CarryIn, CheckoutSummary, MediumDisposalKind, MediumDisposalRequest,
    MediumDisposalView, MediumState, MediumView, RegisterMedium, WrittenReport,
};
use sekisho_proto::vocab::MediumDisposalState;
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use super::{Origin, check_text, transfers};
use crate::clock::format_ms;
use crate::db::arrivals::ArrivalRow;
use crate::db::audit::{self, Record};
use crate::db::media::{self, MediumRow};
use crate::db::transfers as store;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

pub(super) fn check_medium_id(id: &str) -> AppResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "bad_medium_id",
            "a medium id is 1 to 64 letters, digits, '-', '_' or '.' (e.g. USB-001)",
        ))
    }
}

async fn view(state: &AppState, medium: &MediumRow) -> AppResult<MediumView> {
    let now = state.clock.now_ms();
    let mut conn = state.db.read().await?;
    let open = store::open_carry_outs(&mut conn, &medium.id).await?;
    let checkout = open.last().and_then(|t| {
        let c = t.carry_out.as_ref()?;
        Some(CheckoutSummary {
            id: t.id.clone(),
            requester: t.sender_name.clone(),
            purpose: t.purpose.clone(),
            state: t.state,
            return_by: format_ms(c.return_by),
            written_at: c.written_at.map(format_ms),
            overdue: c.written_at.is_some() && c.returned_at.is_none() && c.return_by < now,
        })
    });
    Ok(MediumView {
        id: medium.id.clone(),
        label: medium.label.clone(),
        media_type: medium.media_type.clone(),
        section: medium.section.clone(),
        state: medium.state,
        registered_by: medium.registered_by.clone(),
        registered_at: format_ms(medium.registered_at),
        checkout,
    })
}

pub async fn register(
    state: &AppState,
    actor: &Actor,
    request: RegisterMedium,
    origin: &Origin,
) -> AppResult<MediumView> {
    let _grant = policy::register_media(actor)?;
    check_medium_id(&request.id)?;
    check_text("the label", &request.label, 200)?;
    check_text("the type", &request.media_type, 50)?;
    check_text("the section", &request.section, 100)?;
    let now = state.clock.now_ms();
    let row = MediumRow {
        id: request.id.clone(),
        label: request.label.trim().to_string(),
        media_type: request.media_type.trim().to_string(),
        section: request.section.trim().to_string(),
        state: MediumState::Available,
        registered_by: actor.username.clone(),
        registered_at: now,
    };
    let mut tx = state.db.write().await?;
    if media::get(tx.conn(), &row.id).await?.is_some() {
        return Err(AppError::Conflict(
            "medium_exists",
            format!("medium '{}' is already registered", row.id),
        ));
    }
    media::insert(tx.conn(), &row).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::MediaRegister,
            object: ObjectRef::Medium(row.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "label": row.label, "type": row.media_type, "section": row.section }),
        },
    )
    .await?;
    tx.commit().await?;
    view(state, &row).await
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    overdue_only: bool,
) -> AppResult<Vec<MediumView>> {
    let _grant = policy::view_media(actor)?;
    let rows = {
        let mut conn = state.db.read().await?;
        media::list(&mut conn).await?
    };
    let mut out = Vec::new();
    for row in &rows {
        let v = view(state, row).await?;
        if !overdue_only || v.checkout.as_ref().is_some_and(|c| c.overdue) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The requester's client wrote the approved package onto the medium and
/// read it back; the gateway records what was written and that it left.
pub async fn written(
    state: &AppState,
    actor: &Actor,
    transfer_id: &str,
    report: WrittenReport,
    origin: &Origin,
) -> AppResult<TransferView> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let transfer = store::get(tx.conn(), transfer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Ownership first: another person's transfer is "not found", like a
    // random id, before anything is said about what kind of transfer it is.
    let grant = policy::record_written(actor, &transfer)?;
    let actor = grant.actor();
    let Some(carry_out) = transfer.carry_out.clone() else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "the policy granted a carry-out record for transfer {} which is not one",
            transfer.id
        )));
    };
    if report.sha256.len() != 64 || !report.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::invalid(
            "bad_digest",
            "sha256 must be 64 hex digits",
        ));
    }
    let sha256 = report.sha256.to_ascii_lowercase();
    if !store::record_written(tx.conn(), &transfer.id, &sha256, now).await? {
        return Err(AppError::Conflict(
            "already_written",
            "this carry-out was already written onto its medium; look at it with `sekisho show ID`"
                .into(),
        ));
    }
    media::set_state(tx.conn(), &carry_out.medium_id, MediumState::Out).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::MediaCheckout,
            object: ObjectRef::Transfer(transfer.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "medium": carry_out.medium_id,
                "file_name": report.file_name,
                "size": report.size,
                "sha256": report.sha256,
                "return_by": format_ms(carry_out.return_by),
                "content_digest": transfer.content_digest,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    transfers::view(state, actor, transfer_id).await
}

pub async fn check_in(
    state: &AppState,
    actor: &Actor,
    medium_id: &str,
    origin: &Origin,
) -> AppResult<MediumView> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let medium = media::get(tx.conn(), medium_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let open = store::open_carry_outs(tx.conn(), medium_id).await?;
    let Some(carried) = open
        .into_iter()
        .find(|t| t.carry_out.as_ref().is_some_and(|c| c.written_at.is_some()))
    else {
        return Err(AppError::Conflict(
            "not_out",
            format!("medium '{medium_id}' is not carried out; nothing to check in"),
        ));
    };
    let grant = policy::check_in(actor, &carried.sender_id, &carried)?;
    let actor = grant.actor();
    store::record_returned(tx.conn(), &carried.id, now).await?;
    media::set_state(tx.conn(), medium_id, MediumState::Available).await?;
    let arrival = super::arrivals::record(
        tx.conn(),
        &ArrivalRow {
            id: uuid::Uuid::new_v4().to_string(),
            medium_id: medium.id.clone(),
            kind: ArrivalKind::Return,
            transfer_id: Some(carried.id.clone()),
            carried_out_by_id: Some(carried.sender_id.clone()),
            purpose: carried.purpose.clone(),
            origin: None,
            recorded_by_id: actor.user_id.clone(),
            recorded_by: actor.username.clone(),
            recorded_at: now,
        },
    )
    .await?;
    let return_by = carried.carry_out.as_ref().map_or(0, |c| c.return_by);
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::MediaCheckin,
            object: ObjectRef::Transfer(carried.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "medium": medium.id,
                "carried_out_by": carried.sender_name,
                "late": now > return_by,
                "arrival": arrival.id,
                "note": "files found on a returned medium are taken in only through the inbound scan (sekisho intake --medium)",
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let medium = {
        let mut conn = state.db.read().await?;
        media::get(&mut conn, medium_id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    view(state, &medium).await
}

/// 5.(1)⑤, 6.(4)②(イ): an outside medium brought in is recorded; its files
/// reach nobody except through the inbound scan.
pub async fn carry_in(
    state: &AppState,
    actor: &Actor,
    medium_id: &str,
    request: CarryIn,
    origin: &Origin,
) -> AppResult<ArrivalView> {
    let grant = policy::record_carry_in(actor)?;
    let actor = grant.actor();
    check_medium_id(medium_id)?;
    let purpose = request.purpose.trim();
    check_text("the purpose", purpose, 1000)?;
    let from = request.origin.as_deref().map(str::trim);
    if let Some(from) = from {
        check_text("the origin", from, 200)?;
    }
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let registered = media::get(tx.conn(), medium_id).await?;
    if registered
        .as_ref()
        .is_some_and(|m| m.state != MediumState::Available)
    {
        return Err(AppError::Conflict(
            "medium_not_available",
            format!(
                "媒体「{medium_id}」は持出し中か廃棄済みです。持出しからの返却は `sekisho media checkin {medium_id}` で記録してください。 \
                 Medium '{medium_id}' is carried out or disposed of; a return from a carry-out is recorded with `sekisho media checkin {medium_id}`."
            ),
        ));
    }
    let arrival = super::arrivals::record(
        tx.conn(),
        &ArrivalRow {
            id: uuid::Uuid::new_v4().to_string(),
            medium_id: medium_id.to_string(),
            kind: ArrivalKind::CarryIn,
            transfer_id: None,
            carried_out_by_id: None,
            purpose: purpose.to_string(),
            origin: from.map(str::to_string),
            recorded_by_id: actor.user_id.clone(),
            recorded_by: actor.username.clone(),
            recorded_at: now,
        },
    )
    .await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::MediaCarryIn,
            object: ObjectRef::Medium(medium_id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "purpose": purpose,
                "origin": from,
                "registered": registered.is_some(),
                "arrival": arrival.id,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(arrival)
}

/// Housekeeping: each overdue carry-out is flagged to the approvers once,
/// as an audit event they see (and `sekisho media list --overdue` shows).
pub async fn flag_overdue(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let mut flagged = 0;
    for t in store::overdue_carry_outs(tx.conn(), now).await? {
        let Some(c) = &t.carry_out else { continue };
        if c.overdue_flagged {
            continue;
        }
        store::flag_overdue(tx.conn(), &t.id).await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: "(gateway)".into(),
                action: Action::MediaOverdue,
                object: ObjectRef::Transfer(t.id.to_string()),
                outcome: Outcome::Error,
                source: "-".into(),
                detail: json!({
                    "medium": c.medium_id,
                    "carried_out_by": t.sender_name,
                    "return_by": format_ms(c.return_by),
                    "notify": "approver",
                }),
            },
        )
        .await?;
        super::notify::queue_media_overdue(state, tx.conn(), now, &t, &c.medium_id, c.return_by)
            .await?;
        flagged += 1;
    }
    tx.commit().await?;
    Ok(flagged)
}

fn disposal_view(d: &media::DisposalRow) -> MediumDisposalView {
    MediumDisposalView {
        id: d.id.clone(),
        medium: d.medium_id.clone(),
        kind: d.kind,
        method: d.method.clone(),
        reason: d.reason.clone(),
        requested_by: d.requested_by.clone(),
        requested_at: format_ms(d.requested_at),
        state: d.state,
        decided_by: d.decided_by.clone(),
        decided_at: d.decided_at.map(format_ms),
        decision_comment: d.decision_comment.clone(),
    }
}

/// Asking to wipe or dispose of a medium (2.(2)⑩ applies to media too):
/// recorded with method and reason, decided by an approver.
pub async fn request_disposal(
    state: &AppState,
    actor: &Actor,
    medium_id: &str,
    request: MediumDisposalRequest,
    origin: &Origin,
) -> AppResult<MediumDisposalView> {
    let _grant = policy::request_medium_disposal(actor)?;
    check_text("the method", &request.method, 200)?;
    check_text("the reason", &request.reason, 1000)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let medium = media::get(tx.conn(), medium_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if medium.state != MediumState::Available {
        return Err(AppError::Conflict(
            "medium_not_available",
            format!("medium '{medium_id}' is carried out or already disposed of"),
        ));
    }
    let row = media::DisposalRow {
        id: uuid::Uuid::new_v4().to_string(),
        medium_id: medium.id.clone(),
        kind: request.kind,
        method: request.method.trim().to_string(),
        reason: request.reason.trim().to_string(),
        requested_by: actor.username.clone(),
        requested_by_role: actor.role,
        requested_at: now,
        state: MediumDisposalState::Requested,
        decided_by: None,
        decided_at: None,
        decision_comment: None,
    };
    media::insert_disposal(tx.conn(), &row).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::MediaDisposalRequest,
            object: ObjectRef::Medium(medium.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "request": row.id, "kind": request.kind, "method": row.method, "reason": row.reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(disposal_view(&row))
}

pub async fn pending_disposals(
    state: &AppState,
    actor: &Actor,
) -> AppResult<Vec<MediumDisposalView>> {
    let mut conn = state.db.read().await?;
    Ok(media::open_disposals(&mut conn)
        .await?
        .iter()
        .filter(|d| {
            policy::may_decide_disposal(actor, &d.requested_by, d.requested_by_role).is_ok()
        })
        .map(disposal_view)
        .collect())
}

pub async fn show_disposal(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> AppResult<MediumDisposalView> {
    let _grant = policy::view_media(actor)?;
    let mut conn = state.db.read().await?;
    let row = media::disposal(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(disposal_view(&row))
}

/// The approver's decision; approval records the wipe or disposal as done
/// (method, who asked, who approved, when) and retires a disposed medium.
pub async fn decide_disposal(
    state: &AppState,
    actor: &Actor,
    id: &str,
    approve: bool,
    decision: sekisho_proto::deletion::DecideDisposal,
    origin: &Origin,
) -> AppResult<MediumDisposalView> {
    let row = {
        let mut conn = state.db.read().await?;
        media::disposal(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    let (requested_by, requested_by_role) = (row.requested_by.clone(), row.requested_by_role);
    let grant = policy::decide_disposal(actor, &requested_by, requested_by_role, row)?;
    let (actor, row) = (grant.actor(), grant.object());
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
                "say why it is rejected: --reason TEXT",
            ));
        }
        None => {}
    }
    super::accounts::step_up(state, actor, &decision.otp, origin).await?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let decided = media::decide_disposal(
        tx.conn(),
        id,
        if approve {
            MediumDisposalState::Done
        } else {
            MediumDisposalState::Rejected
        },
        &actor.username,
        now,
        comment,
    )
    .await?;
    if !decided {
        return Err(AppError::Conflict(
            "wrong_state",
            "this request was already decided".into(),
        ));
    }
    if approve && row.kind == MediumDisposalKind::Dispose {
        media::set_state(tx.conn(), &row.medium_id, MediumState::Disposed).await?;
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: if approve {
                Action::MediaDispose
            } else {
                Action::MediaDisposalReject
            },
            object: ObjectRef::Medium(row.medium_id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "request": row.id, "kind": row.kind, "method": row.method, "reason": row.reason,
                "requested_by": row.requested_by, "comment": comment,
                "on_behalf_of": policy::disposal_decided_for(actor, &row.requested_by, row.requested_by_role)
                    .map(|s| s.username.clone()),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.read().await?;
    let row = media::disposal(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(disposal_view(&row))
}
