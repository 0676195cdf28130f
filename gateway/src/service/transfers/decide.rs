//! Deciding on a transfer (policy 2.(2)⑨(イ), 6.(1)⑨): approval after a
//! step-up code, bound to the content digest the approver was shown;
//! rejection with a reason; release of the links; and revocation by the
//! sender or a supervisor (6.(1)⑧(エ)). Each change is made on the stored
//! state read inside the write transaction, with the grant asked again
//! there, so a decision taken while the transfer changed is refused.

use sekisho_proto::audit::Action;
use sekisho_proto::{
    ApproveRequest, Decision, LinkState, RejectRequest, RevokeRequest, TransferState, TransferView,
};
use serde_json::json;

use super::{changed_meanwhile, load, load_on, record, transition};
use crate::auth::token;
use crate::db::Conn;
use crate::db::audit;
use crate::db::transfers::{self as store, DecisionRow, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Decidable, Grant, perm};
use crate::service::{Origin, accounts, check_text, notify};
use crate::state::AppState;
use crate::transfer_state::Event;

pub async fn approve(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: ApproveRequest,
    origin: &Origin,
) -> AppResult<TransferView> {
    let grant = policy::decide(actor, load(state, id).await?)?;
    if let Some(comment) = request.comment.as_deref() {
        check_text("the comment", comment, 1000)?;
    }
    accounts::step_up(state, grant.actor(), &request.otp, origin).await?;
    let ruling = Ruling {
        decision: Decision::Approved,
        comment: request.comment,
        shown_digest: Some(request.content_digest),
    };
    record_decision(state, grant, ruling, origin).await?;
    super::view(state, actor, id).await
}

pub async fn reject(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: RejectRequest,
    origin: &Origin,
) -> AppResult<TransferView> {
    let grant = policy::decide(actor, load(state, id).await?)?;
    check_text("the reason", &request.reason, 1000)?;
    accounts::step_up(state, grant.actor(), &request.otp, origin).await?;
    let ruling = Ruling {
        decision: Decision::Rejected,
        comment: Some(request.reason),
        shown_digest: None,
    };
    record_decision(state, grant, ruling, origin).await?;
    super::view(state, actor, id).await
}

/// What the approver decided, and on which content.
struct Ruling {
    decision: Decision,
    /// The comment of an approval, or the reason of a rejection.
    comment: Option<String>,
    /// The content digest the approver was shown (approvals only).
    shown_digest: Option<String>,
}

/// Stores the decision, moves the transfer on and, for an approval,
/// releases it: all in one transaction, on the state stored now (not on
/// what was read before the step-up).
async fn record_decision(
    state: &AppState,
    grant: Decidable<TransferRow>,
    ruling: Ruling,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let current = load_on(tx.conn(), &grant.object().id).await?;
    let grant = policy::decide(grant.actor(), current)?;
    let transfer = grant.object();
    let stored_digest = transfer.content_digest.clone().unwrap_or_default();
    if let Some(digest) = &ruling.shown_digest
        && !digest.eq_ignore_ascii_case(&stored_digest)
    {
        return Err(AppError::Conflict(
            "digest_mismatch",
            "the files are not the ones you were shown (the content digest differs); look at the request again"
                .to_string(),
        ));
    }
    let event = match ruling.decision {
        Decision::Approved => Event::Approved,
        Decision::Rejected => Event::Rejected,
    };
    let next = transition(transfer, event)?;
    let on_behalf_of =
        policy::decided_for(grant.actor(), &super::facts(transfer)).map(|s| s.username.clone());
    let row = DecisionRow {
        decision: ruling.decision,
        by_user: grant.actor().username.clone(),
        by_role: grant.actor().role,
        decided_at: now,
        comment: ruling.comment.clone(),
        content_digest: stored_digest.clone(),
        on_behalf_of: on_behalf_of.clone(),
    };
    if !store::insert_decision(tx.conn(), &transfer.id, &row).await? {
        return Err(AppError::Conflict(
            "already_decided",
            "this transfer was already decided by someone else; look at it again with `sekisho show ID`"
                .into(),
        ));
    }
    if !store::set_state(tx.conn(), &transfer.id, transfer.state, next, now).await? {
        return Err(changed_meanwhile());
    }
    let comment = ruling.comment;
    let (action, detail) = match ruling.decision {
        Decision::Approved => (
            Action::TransferApprove,
            json!({ "comment": comment, "content_digest": stored_digest, "sender": transfer.sender_name, "on_behalf_of": on_behalf_of }),
        ),
        Decision::Rejected => (
            Action::TransferReject,
            json!({ "reason": comment, "content_digest": stored_digest, "sender": transfer.sender_name, "on_behalf_of": on_behalf_of }),
        ),
    };
    audit::append(tx.conn(), now, record(&grant, action, origin, detail)).await?;
    let approved = ruling.decision == Decision::Approved;
    let by = match &on_behalf_of {
        Some(absent) => format!(
            "{}（{absent} の代理 / for {absent}）",
            grant.actor().username
        ),
        None => grant.actor().username.clone(),
    };
    notify::queue_decided(
        state,
        tx.conn(),
        now,
        transfer,
        approved,
        &by,
        comment.as_deref(),
    )
    .await?;
    if next == TransferState::Released {
        let detail = json!({ "class": transfer.class.as_str(), "content_digest": stored_digest });
        release(state, tx.conn(), &grant, now, origin, detail).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The permissions whose use can release a transfer: submitting one that
/// needs no approval, and approving one.
pub(super) trait Releases {}
impl Releases for perm::Upload {}
impl Releases for perm::Decide {}

/// Activates every link of the granted transfer (each gets its token and
/// expiry now) and logs the release, in the caller's transaction.
pub(super) async fn release<P: Releases>(
    state: &AppState,
    conn: &mut Conn,
    grant: &Grant<P, TransferRow>,
    now: i64,
    origin: &Origin,
    detail: serde_json::Value,
) -> AppResult<()> {
    let expires_at = now + i64::from(state.config.links.expiry_hours) * 3_600_000;
    for link in store::links(conn, &grant.object().id).await? {
        let token = state.keys.link_token(&link.id, &link.nonce);
        store::activate_link(conn, &link.id, &token::hash(&token), expires_at).await?;
    }
    notify::queue_links_released(state, conn, now, grant.object()).await?;
    audit::append(
        conn,
        now,
        record(grant, Action::TransferRelease, origin, detail),
    )
    .await?;
    Ok(())
}

/// 6.(1)⑧(エ): withdraws a transfer at once; its links stop working.
pub async fn revoke(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: RevokeRequest,
    origin: &Origin,
) -> AppResult<TransferView> {
    let grant = policy::revoke(actor, load(state, id).await?)?;
    check_text("the reason", &request.reason, 1000)?;
    close_links(state, grant, request.reason.trim(), origin).await?;
    super::view(state, actor, id).await
}

/// Moves the transfer to revoked and closes its links, on the state stored
/// now, and logs how many links were closed.
async fn close_links(
    state: &AppState,
    grant: Grant<perm::Revoke, TransferRow>,
    reason: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let current = load_on(tx.conn(), &grant.object().id).await?;
    let grant = policy::revoke(grant.actor(), current)?;
    let transfer = grant.object();
    let next = transition(transfer, Event::Revoked)?;
    if !store::set_state(tx.conn(), &transfer.id, transfer.state, next, now).await? {
        return Err(changed_meanwhile());
    }
    let mut closed = 0;
    for open in [LinkState::Active, LinkState::Exhausted] {
        closed += store::set_links_state(tx.conn(), &transfer.id, open, LinkState::Revoked).await?;
    }
    store::set_revocation(tx.conn(), &transfer.id, reason, &grant.actor().username).await?;
    let detail = json!({
        "previous_state": transfer.state.as_str(),
        "links_closed": closed,
        "sender": transfer.sender_name,
        "reason": reason,
    });
    audit::append(
        tx.conn(),
        now,
        record(&grant, Action::TransferRevoke, origin, detail),
    )
    .await?;
    notify::queue_revoked(state, tx.conn(), now, transfer, grant.actor(), reason).await?;
    tx.commit().await?;
    Ok(())
}
