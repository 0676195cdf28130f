//! Incidents (detections by the scanner): the manager sees each one,
//! escalates it to the approvers and the CISO, or closes it with a note.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::inbound::CloseIncident;
use sekisho_proto::vocab::IncidentState;
use serde::Deserialize;

use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, incidents};
use crate::state::Shared;

pub struct IncidentLine {
    pub id: String,
    pub opened: String,
    pub signature: String,
    pub engine: String,
    pub digest: String,
    pub uploader: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub open: bool,
    pub note: String,
}

#[derive(Template)]
#[template(path = "console/incidents.html")]
struct IncidentsPage {
    c: Chrome,
    incidents: Vec<IncidentLine>,
}

pub async fn list(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let lang = user.lang;
    let list = match incidents::list(&state, &user.actor).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let c = Chrome::of(&state, &user, lang.pick("インシデント", "Incidents")).await;
    let page = IncidentsPage {
        c,
        incidents: list
            .into_iter()
            .map(|i| IncidentLine {
                opened: jst(&i.opened_at),
                state: match i.state {
                    IncidentState::Open => lang.pick("未対応", "open"),
                    IncidentState::Escalated => lang.pick("上申済み", "escalated"),
                    IncidentState::Closed => lang.pick("完了", "closed"),
                },
                state_code: i.state.as_str(),
                open: i.state != IncidentState::Closed,
                note: i.note.unwrap_or_default(),
                id: i.id,
                signature: i.signature,
                engine: i.engine,
                digest: i.digest,
                uploader: i.uploader,
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct IncidentForm {
    csrf: String,
    action: String,
    note: Option<String>,
}

pub async fn act(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<IncidentForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let done = match form.action.as_str() {
        "escalate" => incidents::escalate(&state, &user.actor, &id, &origin).await,
        "close" => {
            let note = form.note.unwrap_or_default().trim().to_string();
            incidents::close(&state, &user.actor, &id, CloseIncident { note }, &origin).await
        }
        _ => Err(AppError::invalid("bad_action", "escalate or close")),
    };
    match done {
        Ok(_) => Redirect::to("/incidents").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}
