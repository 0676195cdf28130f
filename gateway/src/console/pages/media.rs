//! The media ledger (who has which USB stick, until when, overdue ones
//! first) and the scanner's status with stale-signature warnings.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sekisho_proto::media::MediumState;

use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::service::{media, scanning};
use crate::state::Shared;

pub struct MediumLine {
    pub id: String,
    pub label: String,
    pub media_type: String,
    pub section: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub requester: String,
    pub purpose: String,
    pub return_by: String,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "console/media.html")]
struct MediaPage {
    c: Chrome,
    media: Vec<MediumLine>,
}

pub async fn ledger(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let lang = user.lang;
    let list = match media::list(&state, &user.actor, false).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let mut media: Vec<MediumLine> = list
        .into_iter()
        .map(|m| {
            let checkout = m.checkout.as_ref();
            MediumLine {
                state: match m.state {
                    MediumState::Available => lang.pick("保管中", "in the office"),
                    MediumState::Out => lang.pick("持ち出し中", "carried out"),
                    MediumState::Disposed => lang.pick("廃棄済み", "disposed of"),
                },
                state_code: m.state.as_str(),
                requester: checkout.map(|c| c.requester.clone()).unwrap_or_default(),
                purpose: checkout.map(|c| c.purpose.clone()).unwrap_or_default(),
                return_by: checkout.map(|c| jst(&c.return_by)).unwrap_or_default(),
                overdue: checkout.is_some_and(|c| c.overdue),
                id: m.id,
                label: m.label,
                media_type: m.media_type,
                section: m.section,
            }
        })
        .collect();
    // What needs chasing comes first.
    media.sort_by_key(|m| !m.overdue);
    let c = Chrome::of(&state, &user, lang.pick("媒体台帳", "Media ledger")).await;
    html(StatusCode::OK, &MediaPage { c, media })
}

pub struct EngineLine {
    pub engine: String,
    pub version: String,
    pub updated: String,
    pub age_hours: String,
    pub stale: bool,
    pub error: String,
}

#[derive(Template)]
#[template(path = "console/scanner.html")]
struct ScannerPage {
    c: Chrome,
    engines: Vec<EngineLine>,
    warning: bool,
}

pub async fn scanner(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let engines = match scanning::status(&state, &user.actor).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let engines: Vec<EngineLine> = engines
        .into_iter()
        .map(|e| EngineLine {
            engine: e.engine,
            version: e.version.unwrap_or_default(),
            updated: e
                .signatures_updated
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| jst(&t))
                .unwrap_or_default(),
            age_hours: e
                .signature_age_seconds
                .map(|s| format!("{}", s / 3600))
                .unwrap_or_default(),
            stale: e.stale,
            error: e.error.unwrap_or_default(),
        })
        .collect();
    let warning = engines.iter().any(|e| e.stale || !e.error.is_empty());
    let c = Chrome::of(
        &state,
        &user,
        user.lang.pick("ウイルス検査の状態", "Scanner status"),
    )
    .await;
    html(
        StatusCode::OK,
        &ScannerPage {
            c,
            engines,
            warning,
        },
    )
}
