//! Incidents (policy 6.(4), 7.): one is opened, in the same transaction,
//! whenever a file is found infected, whether it came in through a link, a
//! media intake, a rescan or an outbound upload; managers escalate them to
//! the approvers and the CISO, and supervisors close them with a note.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::inbound::{CloseIncident, IncidentView};
use sekisho_proto::vocab::{IncidentState, Outcome};
use serde_json::json;

use super::{Origin, check_text};
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::inbound::{self as store, IncidentRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

/// What an incident is about.
pub struct Finding<'a> {
    pub engine: &'a str,
    pub signature: &'a str,
    /// SHA-256 of the infected file.
    pub digest: &'a str,
    /// Who brought it, in words for the investigation.
    pub uploader: String,
    /// The upload request, or `transfer:<id>` for an outbound file.
    pub request_id: Option<String>,
    /// The inbound file, when it was stored.
    pub file_id: Option<&'a str>,
}

/// Opens an incident in the caller's transaction and logs it; the
/// managers are the ones to be told (`notify`).
pub async fn open(
    state: &AppState,
    conn: &mut crate::db::Conn,
    now: i64,
    finding: Finding<'_>,
    actor: &str,
    origin: &Origin,
) -> AppResult<()> {
    let incident = IncidentRow {
        id: uuid::Uuid::new_v4().to_string(),
        inbound_file_id: finding.file_id.map(str::to_string),
        engine: finding.engine.to_string(),
        signature: finding.signature.to_string(),
        digest: finding.digest.to_string(),
        uploader: finding.uploader,
        request_id: finding.request_id,
        state: IncidentState::Open,
        escalated_to: None,
        note: None,
        opened_at: now,
        closed_at: None,
        closed_by: None,
    };
    store::insert_incident(conn, &incident).await?;
    let mut detail = serde_json::Map::new();
    detail.insert("engine".into(), json!(incident.engine));
    detail.insert("signature".into(), json!(incident.signature));
    detail.insert("digest".into(), json!(incident.digest));
    detail.insert("uploader".into(), json!(incident.uploader));
    detail.insert("request".into(), json!(incident.request_id));
    detail.insert("notify".into(), json!("manager"));
    if let Some(file) = &incident.inbound_file_id {
        detail.insert("file".into(), json!(file));
    }
    let detail = serde_json::Value::Object(detail);
    audit::append(
        conn,
        now,
        Record {
            actor: actor.to_string(),
            action: Action::IncidentOpen,
            object: ObjectRef::Incident(incident.id.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail,
        },
    )
    .await?;
    super::notify::queue_incident(state, conn, now, &incident).await?;
    Ok(())
}

fn view(i: &IncidentRow) -> IncidentView {
    IncidentView {
        id: i.id.clone(),
        file_id: i.inbound_file_id.clone(),
        engine: i.engine.clone(),
        signature: i.signature.clone(),
        digest: i.digest.clone(),
        uploader: i.uploader.clone(),
        request_id: i.request_id.clone(),
        state: i.state,
        escalated_to: i.escalated_to.clone(),
        note: i.note.clone(),
        opened_at: format_ms(i.opened_at),
        closed_at: i.closed_at.map(format_ms),
        closed_by: i.closed_by.clone(),
    }
}

pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<IncidentView>> {
    let _grant = policy::view_incidents(actor)?;
    let mut conn = state.db.read().await?;
    Ok(store::incidents(&mut conn)
        .await?
        .iter()
        .map(view)
        .collect())
}

async fn load(conn: &mut crate::db::Conn, id: &str) -> AppResult<IncidentRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    store::incident(conn, id).await?.ok_or(AppError::NotFound)
}

fn changed_meanwhile() -> AppError {
    AppError::Conflict(
        "wrong_state",
        "this incident changed meanwhile; look at it again".into(),
    )
}

pub async fn escalate(
    state: &AppState,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<IncidentView> {
    let grant = policy::escalate_incident(actor)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let mut incident = load(tx.conn(), id).await?;
    if incident.state != IncidentState::Open {
        return Err(AppError::Conflict(
            "wrong_state",
            format!(
                "this incident is {} and cannot be escalated",
                incident.state
            ),
        ));
    }
    let to = "approver,ciso";
    if !store::escalate_incident(tx.conn(), id, to).await? {
        return Err(changed_meanwhile());
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: grant.actor().username.clone(),
            action: Action::IncidentEscalate,
            object: ObjectRef::Incident(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "to": ["approver", "ciso"], "signature": incident.signature, "digest": incident.digest }),
        },
    )
    .await?;
    tx.commit().await?;
    incident.state = IncidentState::Escalated;
    incident.escalated_to = Some(to.into());
    Ok(view(&incident))
}

pub async fn close(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: CloseIncident,
    origin: &Origin,
) -> AppResult<IncidentView> {
    let grant = policy::close_incident(actor)?;
    let note = request.note.trim();
    check_text("the note", note, 2000)?;
    let now = state.clock.now_ms();
    let by = &grant.actor().username;
    let mut tx = state.db.write().await?;
    let mut incident = load(tx.conn(), id).await?;
    if incident.state == IncidentState::Closed {
        return Err(AppError::Conflict(
            "wrong_state",
            "this incident is already closed".into(),
        ));
    }
    if !store::close_incident(tx.conn(), id, note, by, now).await? {
        return Err(changed_meanwhile());
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: by.clone(),
            action: Action::IncidentClose,
            object: ObjectRef::Incident(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "note": note }),
        },
    )
    .await?;
    tx.commit().await?;
    incident.state = IncidentState::Closed;
    incident.note = Some(note.into());
    incident.closed_at = Some(now);
    incident.closed_by = Some(by.clone());
    Ok(view(&incident))
}
