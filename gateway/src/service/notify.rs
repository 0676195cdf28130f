//! Who is told what by mail, and the outbox worker that tells them.
//!
//! Queuing: each `queue_*` function runs in the caller's write transaction,
//! beside the audit event of the change that causes the mail, so a mail is
//! queued if and only if its change commits. Without `[mail]` they queue
//! nothing. Who is told is the policy's word (`policy::is_told_of_waiting`,
//! `is_told_in_place_of` for stand-ins, and friends); what the mail says
//! is `mail::render`'s.
//!
//! Sending: [`deliver_due`] runs in housekeeping on the injected clock. It
//! sends each due mail outside any transaction, then records the outcome
//! compare-and-set: sent (an audit `mail.send`), retried later with a
//! back-off that doubles each time, or given up after `mail.max_attempts`
//! (an audit `mail.fail`). A recipient's link is derived again when its mail
//! leaves, and a link closed meanwhile (revoked, expired) is not mailed.

use sekisho_proto::LinkState;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use crate::clock::format_ms;
use crate::db::Conn;
use crate::db::audit::{self, Record};
use crate::db::inbound::{IncidentRow, RequestRow};
use crate::db::outbox::{self, OutboxRow};
use crate::db::transfers::{self as store, LinkRow, TransferRow};
use crate::db::users::{self, UserRow};
use crate::mail::notice::{Arrival, LinkUse, ScannerProblem};
use crate::mail::render::{self, Links, Notice};
use crate::policy::{self, Addressee};
use crate::state::AppState;
use sekisho_proto::Role;

/// Mails sent in one housekeeping round at most; the rest wait for the next.
const BATCH: i64 = 50;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 6 * 3_600_000;

/// Queues `notice` to `to` in the caller's transaction (nothing without `[mail]`).
async fn queue(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    to: &str,
    notice: &Notice,
) -> anyhow::Result<()> {
    if state.mailer.is_none() || to.trim().is_empty() {
        return Ok(());
    }
    let row = OutboxRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: notice.kind().to_string(),
        to_address: to.trim().to_string(),
        object: notice.object().to_string(),
        facts: serde_json::to_string(notice)?,
        attempts: 0,
        created_at: now,
    };
    outbox::enqueue(conn, &row).await
}

fn addressee(user: &UserRow) -> Addressee<'_> {
    Addressee {
        user_id: &user.id,
        role: user.role,
        status: user.status,
    }
}

/// Who is told that `transfer` waits (or is overdue): each account of the
/// role that decides it, or, for one away, their stand-in in their place
/// (`policy::is_told_in_place_of`). Each address once, with the absent
/// approver a stand-in is told for.
async fn deciders(
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let facts = super::transfers::facts(transfer);
    let role = policy::approver_role_for(transfer.sender_role);
    let mut told: Vec<(String, Option<String>)> = Vec::new();
    for user in users::active_with_role(conn, role).await? {
        let who = addressee(&user);
        if !policy::is_told_of_waiting(&who, &facts) {
            continue;
        }
        let delegation = super::delegations::in_effect_of(conn, &user.id, now).await?;
        let stand_in = delegation.as_ref().filter(|d| {
            let stand_in = Addressee {
                user_id: &d.stand_in_id,
                role: d.stand_in_role,
                status: d.stand_in_status,
            };
            policy::is_told_in_place_of(&who, &stand_in, &facts)
        });
        let entry = match stand_in {
            Some(d) => d
                .stand_in_email
                .clone()
                .map(|email| (email, Some(user.username.clone()))),
            None => user.email.clone().map(|email| (email, None)),
        };
        if let Some(entry) = entry
            && !told.iter().any(|(email, _)| *email == entry.0)
        {
            told.push(entry);
        }
    }
    Ok(told)
}

/// A transfer now waits for approval: its deciders are told.
pub async fn queue_approval_waiting(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    let file_count = store::files(conn, &transfer.id).await?.len() as u32;
    let recipient_count = store::links(conn, &transfer.id).await?.len() as u32;
    for (email, stand_in_for) in deciders(conn, now, transfer).await? {
        let notice = Notice::ApprovalWaiting {
            transfer_id: transfer.id.clone(),
            sender: transfer.sender_name.clone(),
            purpose: transfer.purpose.clone(),
            class: transfer.class.as_str().to_string(),
            file_count,
            recipient_count,
            stand_in_for,
        };
        queue(state, conn, now, &email, &notice).await?;
    }
    Ok(())
}

/// A request still waits after `approval.reminder_hours`: its deciders
/// (as they are now: a stand-in named since is told) are reminded.
pub async fn queue_reminder(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    expires_at: i64,
) -> anyhow::Result<usize> {
    if state.mailer.is_none() {
        return Ok(0);
    }
    let told = deciders(conn, now, transfer).await?;
    for (email, stand_in_for) in &told {
        let notice = Notice::ApprovalReminder {
            transfer_id: transfer.id.clone(),
            sender: transfer.sender_name.clone(),
            purpose: transfer.purpose.clone(),
            class: transfer.class.as_str().to_string(),
            submitted_at: format_ms(transfer.submitted_at.unwrap_or(transfer.created_at)),
            expires_at: format_ms(expires_at),
            stand_in_for: stand_in_for.clone(),
        };
        queue(state, conn, now, email, &notice).await?;
    }
    Ok(told.len())
}

/// The deciders of a carry-out are told its medium is not back.
pub async fn queue_media_overdue(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    medium: &str,
    return_by: i64,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    for (email, _) in deciders(conn, now, transfer).await? {
        let notice = Notice::MediaOverdue {
            transfer_id: transfer.id.clone(),
            medium: medium.to_string(),
            carried_out_by: transfer.sender_name.clone(),
            return_by: format_ms(return_by),
        };
        queue(state, conn, now, &email, &notice).await?;
    }
    Ok(())
}

/// The sender's address, if they have one.
async fn sender_email(conn: &mut Conn, transfer: &TransferRow) -> anyhow::Result<Option<String>> {
    Ok(users::by_id(conn, &transfer.sender_id)
        .await?
        .and_then(|u| u.email))
}

/// Queues `notice` to the sender of `transfer`, if they have an address.
async fn queue_to_sender(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    notice: Notice,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    match sender_email(conn, transfer).await? {
        Some(email) => queue(state, conn, now, &email, &notice).await,
        None => Ok(()),
    }
}

/// The sender is told of the approval or rejection, with the reason.
pub async fn queue_decided(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    approved: bool,
    by: &str,
    comment: Option<&str>,
) -> anyhow::Result<()> {
    let notice = Notice::TransferDecided {
        transfer_id: transfer.id.clone(),
        approved,
        by: by.to_string(),
        purpose: transfer.purpose.clone(),
        comment: comment.map(str::to_string),
    };
    queue_to_sender(state, conn, now, transfer, notice).await
}

/// The sender is told when someone else revoked their transfer.
pub async fn queue_revoked(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    by: &policy::Actor,
    reason: &str,
) -> anyhow::Result<()> {
    let facts = super::transfers::facts(transfer);
    if !policy::sender_is_told_of_revocation(&by.user_id, &facts) {
        return Ok(());
    }
    let notice = Notice::TransferRevoked {
        transfer_id: transfer.id.clone(),
        by: by.username.clone(),
        purpose: transfer.purpose.clone(),
        reason: reason.to_string(),
    };
    queue_to_sender(state, conn, now, transfer, notice).await
}

/// The sender is told nobody decided their request in time.
pub async fn queue_request_expired(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
) -> anyhow::Result<()> {
    let notice = Notice::RequestExpired {
        transfer_id: transfer.id.clone(),
        purpose: transfer.purpose.clone(),
        days: state.config.approval.expire_days,
    };
    queue_to_sender(state, conn, now, transfer, notice).await
}

/// The sender is told every link ran out, with what each recipient used.
pub async fn queue_links_expired(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    let links = store::links(conn, &transfer.id)
        .await?
        .iter()
        .map(|l| LinkUse {
            recipient: l.name.clone(),
            downloads: l.downloads as u32,
            max_downloads: l.max_downloads as u32,
        })
        .collect();
    let notice = Notice::LinksExpired {
        transfer_id: transfer.id.clone(),
        purpose: transfer.purpose.clone(),
        links,
    };
    queue_to_sender(state, conn, now, transfer, notice).await
}

/// The sender is told of each download: who, when, from where.
pub async fn queue_downloaded(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
    link: &LinkRow,
    source: &str,
) -> anyhow::Result<()> {
    let notice = Notice::Downloaded {
        transfer_id: transfer.id.clone(),
        purpose: transfer.purpose.clone(),
        recipient: link.name.clone(),
        at: format_ms(now),
        source: source.to_string(),
        downloads: (link.downloads + 1) as u32,
        max_downloads: link.max_downloads as u32,
    };
    queue_to_sender(state, conn, now, transfer, notice).await
}

/// Each recipient is told of their own link, once it is released.
pub async fn queue_links_released(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    transfer: &TransferRow,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    for link in store::links(conn, &transfer.id).await? {
        let Some(expires_at) = link.expires_at else {
            continue;
        };
        let notice = Notice::LinkReleased {
            transfer_id: transfer.id.clone(),
            link_id: link.id.clone(),
            recipient: link.name.clone(),
            sender: transfer.sender_name.clone(),
            expires_at: format_ms(expires_at),
            max_downloads: link.max_downloads as u32,
            needs_passphrase: link.passphrase_wrapped.is_some(),
        };
        queue(state, conn, now, &link.email, &notice).await?;
    }
    Ok(())
}

/// The stand-in is told whose queue they decide, and for how long.
#[allow(clippy::too_many_arguments)]
pub async fn queue_stand_in_named(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    approver: &UserRow,
    stand_in: &UserRow,
    starts_at: i64,
    ends_at: i64,
    by: &policy::Actor,
) -> anyhow::Result<()> {
    let Some(email) = &stand_in.email else {
        return Ok(());
    };
    let notice = Notice::StandInNamed {
        approver: approver.username.clone(),
        by: by.username.clone(),
        starts_at: format_ms(starts_at),
        ends_at: format_ms(ends_at),
    };
    queue(state, conn, now, email, &notice).await
}

/// Every active account of `role` with an address is told `notice`.
async fn queue_to_role(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    role: Role,
    notice: &Notice,
) -> anyhow::Result<()> {
    if state.mailer.is_none() {
        return Ok(());
    }
    for user in users::mailable_with_role(conn, role).await? {
        if let Some(email) = &user.email {
            queue(state, conn, now, email, notice).await?;
        }
    }
    Ok(())
}

/// The requester of an inbound link or intake is told what arrived.
pub async fn queue_inbound_arrived(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    request: &RequestRow,
    from: &str,
    files: Vec<Arrival>,
) -> anyhow::Result<()> {
    if state.mailer.is_none() || files.is_empty() {
        return Ok(());
    }
    let Some(email) = users::by_id(conn, &request.owner_id)
        .await?
        .and_then(|u| u.email)
    else {
        return Ok(());
    };
    let notice = Notice::InboundArrived {
        request_id: request.id.clone(),
        from: from.to_string(),
        purpose: request.purpose.clone(),
        files,
    };
    queue(state, conn, now, &email, &notice).await
}

/// 6.(4), 7.: the managers are told of every incident.
pub async fn queue_incident(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    incident: &IncidentRow,
) -> anyhow::Result<()> {
    let notice = Notice::IncidentOpened {
        incident_id: incident.id.clone(),
        engine: incident.engine.clone(),
        signature: incident.signature.clone(),
        uploader: incident.uploader.clone(),
    };
    queue_to_role(state, conn, now, Role::Manager, &notice).await
}

/// 2.(2)④(イ): the managers decide the class of a file classed `unknown`.
pub async fn queue_unknown_class(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    file_id: &str,
    requester: &str,
) -> anyhow::Result<()> {
    let notice = Notice::UnknownClass {
        file_id: file_id.to_string(),
        requester: requester.to_string(),
    };
    queue_to_role(state, conn, now, Role::Manager, &notice).await
}

/// The system staff are told an engine needs attention.
pub async fn queue_scanner_alert(
    state: &AppState,
    conn: &mut Conn,
    now: i64,
    engine: &str,
    problem: ScannerProblem,
) -> anyhow::Result<()> {
    let notice = Notice::ScannerAlert {
        engine: engine.to_string(),
        problem,
    };
    queue_to_role(state, conn, now, Role::Sysadmin, &notice).await
}

/// The wait after the `attempts`-th failure: `retry_seconds`, doubled for
/// each failure before it, at most six hours.
pub fn backoff_ms(retry_seconds: u64, attempts: u32) -> i64 {
    let base = i64::try_from(retry_seconds.saturating_mul(1000)).unwrap_or(MAX_BACKOFF_MS);
    let doublings = attempts.saturating_sub(1).min(30);
    base.saturating_mul(1_i64 << doublings).min(MAX_BACKOFF_MS)
}

/// How many mails wait in the outbox, and how many were given up.
pub async fn queue_length(state: &AppState) -> anyhow::Result<(i64, i64)> {
    let mut conn = state.db.read().await?;
    Ok((
        outbox::queued_count(&mut conn).await?,
        outbox::failed_count(&mut conn).await?,
    ))
}

/// What became of one attempt.
enum Attempt {
    Sent,
    Failed(String),
    /// The link the mail would carry is closed: nothing to send.
    Cancelled(&'static str),
}

/// Sends the mails that are due; returns how many left.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let Some(mailer) = state.mailer.clone() else {
        return Ok(0);
    };
    let now = state.clock.now_ms();
    let due = {
        let mut conn = state.db.read().await?;
        outbox::due(&mut conn, now, BATCH).await?
    };
    let mut sent = 0;
    for row in due {
        let attempt = attempt(state, &mailer, &row).await;
        if matches!(attempt, Attempt::Sent) {
            sent += 1;
        }
        record(state, &row, attempt).await?;
    }
    Ok(sent)
}

async fn attempt(state: &AppState, mailer: &crate::mail::Mailer, row: &OutboxRow) -> Attempt {
    let notice: Notice = match serde_json::from_str(&row.facts) {
        Ok(notice) => notice,
        Err(e) => return Attempt::Failed(format!("the stored notice cannot be read: {e}")),
    };
    let download = match &notice {
        Notice::LinkReleased {
            transfer_id,
            link_id,
            ..
        } => match open_link_url(state, transfer_id, link_id).await {
            Ok(Some(url)) => Some(url),
            Ok(None) => return Attempt::Cancelled("the link was closed before its mail left"),
            Err(e) => return Attempt::Failed(format!("cannot read the link: {e:#}")),
        },
        _ => None,
    };
    let mail = render::render(
        &notice,
        &Links {
            console: &mailer.console_base_url,
            download: download.as_deref(),
        },
    );
    match mailer.send(&row.to_address, &mail).await {
        Ok(()) => Attempt::Sent,
        Err(e) => Attempt::Failed(e),
    }
}

/// The recipient's download URL, derived from the link as at release;
/// `None` when the link no longer works.
async fn open_link_url(
    state: &AppState,
    transfer_id: &str,
    link_id: &str,
) -> anyhow::Result<Option<String>> {
    let mut conn = state.db.read().await?;
    let now = state.clock.now_ms();
    let link = store::links(&mut conn, transfer_id)
        .await?
        .into_iter()
        .find(|l| l.id == link_id);
    Ok(link
        .filter(|l| l.state == Some(LinkState::Active) && l.expires_at.is_some_and(|e| e > now))
        .map(|l| {
            format!(
                "{}/d/{}",
                state.public_base_url,
                state.keys.link_token(&l.id, &l.nonce)
            )
        }))
}

/// Stores the outcome of one attempt, with its audit event when it is final.
async fn record(state: &AppState, row: &OutboxRow, attempt: Attempt) -> anyhow::Result<()> {
    let Some(mailer) = &state.mailer else {
        return Ok(());
    };
    let now = state.clock.now_ms();
    let attempts = row.attempts + 1;
    let object =
        ObjectRef::parse(&row.object).unwrap_or_else(|_| ObjectRef::Gateway("mail".to_string()));
    let event = |action, outcome, detail| Record {
        actor: "(gateway)".into(),
        action,
        object: object.clone(),
        outcome,
        source: "-".into(),
        detail,
    };
    let mut tx = state.db.write().await?;
    match attempt {
        Attempt::Sent => {
            if outbox::finish(tx.conn(), &row.id, "sent", attempts, now, None).await? {
                let detail =
                    json!({ "kind": row.kind, "to": row.to_address, "attempts": attempts });
                audit::append(tx.conn(), now, event(Action::MailSend, Outcome::Ok, detail)).await?;
            }
        }
        Attempt::Cancelled(why) => {
            outbox::finish(
                tx.conn(),
                &row.id,
                "cancelled",
                row.attempts,
                now,
                Some(why),
            )
            .await?;
        }
        Attempt::Failed(error) => {
            let max = i64::from(mailer.config.max_attempts);
            if attempts >= max {
                if outbox::finish(tx.conn(), &row.id, "failed", attempts, now, Some(&error)).await?
                {
                    tracing::error!(
                        "mail {} to {} given up after {attempts} attempts: {error}",
                        row.kind,
                        row.to_address
                    );
                    let detail = json!({
                        "kind": row.kind, "to": row.to_address, "attempts": attempts, "error": error,
                    });
                    audit::append(
                        tx.conn(),
                        now,
                        event(Action::MailFail, Outcome::Error, detail),
                    )
                    .await?;
                }
            } else {
                let wait = backoff_ms(mailer.config.retry_seconds, attempts as u32);
                tracing::warn!(
                    "mail {} to {} not sent (attempt {attempts} of {max}), next try in {} s: {error}",
                    row.kind,
                    row.to_address,
                    wait / 1000
                );
                outbox::retry_later(tx.conn(), &row.id, attempts, now + wait, &error).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_each_failure_up_to_six_hours() {
        assert_eq!(backoff_ms(60, 1), 60_000);
        assert_eq!(backoff_ms(60, 2), 120_000);
        assert_eq!(backoff_ms(60, 3), 240_000);
        assert_eq!(backoff_ms(60, 40), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(u64::MAX, 1), MAX_BACKOFF_MS);
    }
}
