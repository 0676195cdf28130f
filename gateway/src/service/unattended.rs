//! Requests nobody acts on (issue: reminders and expiry): after
//! `approval.reminder_hours` the deciders are reminded once; after
//! `approval.expire_days` the request expires undecided, nothing is
//! released, the sender is told, and retention erases its content as it
//! does a rejected one's. Both count from the submission, on the injected
//! clock, in housekeeping.

use sekisho_proto::TransferState;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use super::notify;
use crate::db::audit::{self, Record};
use crate::db::transfers::{self as store, TransferRow};
use crate::state::AppState;
use crate::transfer_state::{self, Event};

const HOUR_MS: i64 = 3_600_000;

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub reminded: usize,
    pub expired: usize,
}

/// When a waiting request expires.
pub fn expires_at(state: &AppState, t: &TransferRow) -> i64 {
    submitted(t) + i64::from(state.config.approval.expire_days) * 24 * HOUR_MS
}

fn submitted(t: &TransferRow) -> i64 {
    t.submitted_at.unwrap_or(t.created_at)
}

pub async fn run(state: &AppState) -> anyhow::Result<Done> {
    let now = state.clock.now_ms();
    let waiting = {
        let mut conn = state.db.read().await?;
        store::list_by_state(&mut conn, TransferState::PendingApproval).await?
    };
    let remind_after = i64::from(state.config.approval.reminder_hours) * HOUR_MS;
    let mut done = Done::default();
    for t in waiting {
        if now >= expires_at(state, &t) {
            if expire(state, &t, now).await? {
                done.expired += 1;
            }
        } else if remind_after > 0
            && t.reminded_at.is_none()
            && now >= submitted(&t) + remind_after
            && remind(state, &t, now).await?
        {
            done.reminded += 1;
        }
    }
    Ok(done)
}

/// Expires one request, compare-and-set on its state: an approval that got
/// in first wins, and nothing happens here.
async fn expire(state: &AppState, t: &TransferRow, now: i64) -> anyhow::Result<bool> {
    let Some(next) = transfer_state::next(t.state, Event::Unattended) else {
        return Ok(false);
    };
    let mut tx = state.db.write().await?;
    if !store::set_state(tx.conn(), &t.id, t.state, next, now).await? {
        return Ok(false);
    }
    let days = state.config.approval.expire_days;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::TransferExpire,
            object: ObjectRef::Transfer(t.id.clone()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "sender": t.sender_name,
                "reason": "undecided",
                "expire_days": days,
                "submitted_at": crate::clock::format_ms(submitted(t)),
            }),
        },
    )
    .await?;
    notify::queue_request_expired(state, tx.conn(), now, t).await?;
    tx.commit().await?;
    tracing::info!("transfer {} expired: not decided within {days} days", t.id);
    Ok(true)
}

/// Reminds the request's deciders once; the stamp makes it once across
/// rounds and replicas.
async fn remind(state: &AppState, t: &TransferRow, now: i64) -> anyhow::Result<bool> {
    let mut tx = state.db.write().await?;
    if !store::set_reminded(tx.conn(), &t.id, now).await? {
        return Ok(false);
    }
    let told = notify::queue_reminder(state, tx.conn(), now, t, expires_at(state, t)).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: "(gateway)".into(),
            action: Action::ApprovalRemind,
            object: ObjectRef::Transfer(t.id.clone()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "waiting_hours": (now - submitted(t)) / HOUR_MS,
                "mails": told,
                "expires_at": crate::clock::format_ms(expires_at(state, t)),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
