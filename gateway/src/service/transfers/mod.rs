//! Outbound transfers (policy 2.(2)⑦⑨, 6.(1)⑧⑨): create, stream files in,
//! submit, decide, release, revoke. State changes follow
//! [`crate::transfer_state`] and are stored compare-and-set.
//!
//! Every public function starts by obtaining a grant from
//! [`crate::policy`], and every function below it that reads or changes a
//! transfer takes that grant instead of an actor and a row, so none can run
//! unchecked. A caller who may not see a transfer gets "not found", exactly
//! as for an id that does not exist. One module per job:
//! - [`create`]: checking a request and storing the transfer with its
//!   files and links;
//! - [`upload`]: streaming files in, and submitting them;
//! - [`decide`]: approval, rejection, release and revocation;
//! - [`links`]: recipients' links as the sender sees them.
//!
//! Views and lists are here.

mod create;
mod decide;
mod links;
mod revocations;
mod upload;

pub use create::create;
pub use decide::{approve, reject, revoke};
pub use links::{effective_link_state, links};
pub use revocations::revocations;
pub use upload::{submit, upload};

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{
    DecisionView, FileEntry, TransferRecipientView, TransferState, TransferSummary, TransferView,
};

use super::Origin;
use super::recipients::fingerprints;
use crate::clock::format_ms;
use crate::db::Conn;
use crate::db::audit::Record;
use crate::db::transfers::{self as store, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Grant, TransferFacts, Visible};
use crate::state::AppState;
use crate::transfer_state::{self, Event};

pub fn facts(t: &TransferRow) -> TransferFacts<'_> {
    TransferFacts {
        sender_id: &t.sender_id,
        sender_role: t.sender_role,
        class: t.class,
        state: t.state,
        needs_approval: t.class.needs_approval() || t.carry_out.is_some(),
    }
}

impl policy::TransferSubject for TransferRow {
    fn transfer_facts(&self) -> TransferFacts<'_> {
        facts(self)
    }
}

impl policy::CarryOutSubject for TransferRow {
    fn carry_out_facts(&self) -> policy::CarryOutFacts<'_> {
        policy::CarryOutFacts {
            transfer: facts(self),
            is_carry_out: self.carry_out.is_some(),
        }
    }
}

/// The state `event` moves the transfer to, or 409 if it cannot.
fn transition(t: &TransferRow, event: Event) -> AppResult<TransferState> {
    transfer_state::next(t.state, event).ok_or_else(|| {
        AppError::Conflict(
            "wrong_state",
            format!(
                "this transfer is {} and cannot change that way",
                t.state.label()
            ),
        )
    })
}

/// Another request changed the transfer between reading and storing.
fn changed_meanwhile() -> AppError {
    AppError::Conflict(
        "wrong_state",
        "this transfer changed while your request ran; look at it again with `sekisho show ID`"
            .into(),
    )
}

/// A transfer by id on `conn`; a malformed id is "not found" at once.
async fn load_on(conn: &mut Conn, id: &str) -> AppResult<TransferRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    store::get(conn, id).await?.ok_or(AppError::NotFound)
}

async fn load(state: &AppState, id: &str) -> AppResult<TransferRow> {
    let mut conn = state.db.read().await?;
    load_on(&mut conn, id).await
}

/// An audit record of the grant's holder acting on its transfer.
fn record<P>(
    grant: &Grant<P, TransferRow>,
    action: Action,
    origin: &Origin,
    detail: serde_json::Value,
) -> Record {
    Record {
        actor: grant.actor().username.clone(),
        action,
        object: ObjectRef::Transfer(grant.object().id.clone()),
        outcome: Outcome::Ok,
        source: origin.0.clone(),
        detail,
    }
}

pub async fn view(state: &AppState, actor: &Actor, id: &str) -> AppResult<TransferView> {
    let grant = policy::view_transfer(actor, load(state, id).await?)?;
    render(state, &grant).await
}

/// Everything about a transfer its viewer may see.
async fn render(state: &AppState, grant: &Visible<TransferRow>) -> AppResult<TransferView> {
    let transfer = grant.object();
    let mut conn = state.db.read().await?;
    let files = store::files(&mut conn, &transfer.id).await?;
    let links = store::links(&mut conn, &transfer.id).await?;
    let decision = store::decision(&mut conn, &transfer.id).await?;
    let now = state.clock.now_ms();
    let entries: Vec<FileEntry> = files.iter().map(|f| f.entry()).collect();
    let carry_out = transfer.carry_out.as_ref();
    Ok(TransferView {
        id: transfer.id.clone(),
        state: transfer.state,
        class: transfer.class,
        sender: transfer.sender_name.clone(),
        sender_role: transfer.sender_role,
        purpose: transfer.purpose.clone(),
        created_at: format_ms(transfer.created_at),
        total_size: entries.iter().map(|f| f.size).sum(),
        files: entries,
        content_digest: transfer.content_digest.clone(),
        recipients: links
            .iter()
            .map(|l| TransferRecipientView {
                name: l.name.clone(),
                organisation: l.organisation.clone(),
                email: l.email.clone(),
                key_kind: l.key_kind,
                fingerprints: fingerprints(l.key_kind, l.public_key.as_deref()),
                link: links::status(l, now),
            })
            .collect(),
        decision: decision.map(|d| DecisionView {
            decision: d.decision,
            by: d.by_user,
            by_role: d.by_role,
            at: format_ms(d.decided_at),
            comment: d.comment,
            content_digest: d.content_digest,
            on_behalf_of: d.on_behalf_of,
        }),
        approval_by: transfer.approval_role,
        released_at: transfer.released_at.map(format_ms),
        revoked_at: transfer.revoked_at.map(format_ms),
        medium: carry_out.map(|c| c.medium_id.clone()),
        return_by: carry_out.map(|c| format_ms(c.return_by)),
        written_at: carry_out.and_then(|c| c.written_at).map(format_ms),
        returned_at: carry_out.and_then(|c| c.returned_at).map(format_ms),
    })
}

/// The transfers a scope shows: the caller's own (`mine`), those waiting
/// for the caller's decision (`pending`), or every one (`all`).
pub async fn list(state: &AppState, actor: &Actor, scope: &str) -> AppResult<Vec<TransferSummary>> {
    let mut conn = state.db.read().await?;
    let rows = match scope {
        "mine" | "" => {
            let grant = policy::send(actor)?;
            store::list_by_sender(&mut conn, &grant.actor().user_id).await?
        }
        // The approval queue: exactly the transfers a decision grant is
        // given for now.
        "pending" => store::list_by_state(&mut conn, TransferState::PendingApproval)
            .await?
            .into_iter()
            .filter_map(|t| policy::decide(actor, t).ok().map(Grant::into_object))
            .collect(),
        "all" => {
            let _grant = policy::list_all_transfers(actor)?;
            store::list_all(&mut conn).await?
        }
        other => {
            return Err(AppError::invalid(
                "bad_scope",
                format!("unknown list scope '{other}': use mine, pending or all"),
            ));
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let files = store::files(&mut conn, &t.id).await?;
        let links = store::links(&mut conn, &t.id).await?;
        out.push(TransferSummary {
            id: t.id,
            state: t.state,
            class: t.class,
            sender: t.sender_name,
            purpose: t.purpose,
            recipients: links.into_iter().map(|l| l.name).collect(),
            file_count: files.len() as u32,
            total_size: files.iter().map(|f| f.size as u64).sum(),
            created_at: format_ms(t.created_at),
        });
    }
    Ok(out)
}

/// What the actor may do to a transfer now, asked of the policy: a screen
/// offers exactly these actions, and each is asked again when it is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowed {
    pub decide: bool,
    pub revoke: bool,
    pub view_links: bool,
}

pub async fn allowed(state: &AppState, actor: &Actor, id: &str) -> AppResult<Allowed> {
    let grant = policy::view_transfer(actor, load(state, id).await?)?;
    let facts = facts(grant.object());
    Ok(Allowed {
        decide: policy::may_decide(actor, &facts).is_ok(),
        revoke: policy::may_revoke(actor, &facts).is_ok(),
        view_links: policy::may_view_links(actor, &facts).is_ok(),
    })
}

/// The audit events about one transfer, oldest first, for whoever may see
/// the transfer (an approver reviews its history before deciding).
pub async fn history(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> AppResult<Vec<sekisho_proto::AuditEvent>> {
    let grant = policy::view_transfer(actor, load(state, id).await?)?;
    let query = crate::db::audit::Query {
        since_ms: None,
        until_ms: None,
        filter: sekisho_proto::AuditFilter {
            object: Some(ObjectRef::Transfer(grant.object().id.clone()).to_string()),
            ..Default::default()
        },
    };
    let mut conn = state.db.read().await?;
    Ok(crate::db::audit::page(&mut conn, 0, HISTORY_LIMIT, &query).await?)
}

/// A transfer's history is a handful of events; this bounds a pathological one.
const HISTORY_LIMIT: i64 = 500;
