//! The auditor's pages: the audit log with the filters of `sekisho audit
//! log`, paged; its CSV (Excel-safe, the same cells as the CLI writes) and
//! JSON-lines downloads; the signed checkpoints and their export. The
//! pages say plainly that verification happens on the auditor's own
//! machine: a page served by the gateway cannot vouch for the gateway.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::escape::{AUDIT_CSV_HEADER, UTF8_BOM, audit_csv_fields, csv_row, json_line};
use sekisho_proto::{AuditEvent, AuditFilter};
use serde::{Deserialize, Serialize};

use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, audit};
use crate::state::Shared;

/// Events on one page of the log.
const PAGE_SIZE: i64 = 100;
/// Events read per query while writing a download.
const EXPORT_BATCH: i64 = 1000;

/// The filter form's fields; empty fields filter nothing.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogQuery {
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    after: Option<i64>,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl LogQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            since: given(&self.since).map(|t| day_or_time(&t, false)),
            until: given(&self.until).map(|t| day_or_time(&t, true)),
            actor: given(&self.actor),
            action: given(&self.action),
            object: given(&self.object),
            class: given(&self.class),
            outcome: given(&self.outcome),
        }
    }

    /// The filters as a query string (for the next page and downloads).
    fn encoded(&self) -> String {
        let without_page = LogQuery {
            after: None,
            ..self.clone()
        };
        serde_urlencoded::to_string(&without_page).unwrap_or_default()
    }
}

/// A date from the form's date field (`YYYY-MM-DD`) means that day in
/// Japan: from its start, or up to its end for "until". Anything else is
/// passed on as typed (RFC 3339), for the service to judge.
fn day_or_time(text: &str, end_of_day: bool) -> String {
    let is_date = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-');
    match (is_date, end_of_day) {
        (true, false) => format!("{text}T00:00:00+09:00"),
        (true, true) => format!("{text}T23:59:59.999+09:00"),
        _ => text.to_string(),
    }
}

pub struct EventLine {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub class: String,
    pub outcome: String,
    pub source: String,
    pub detail: String,
}

impl EventLine {
    fn of(e: AuditEvent) -> EventLine {
        // Whatever the database holds, the page shows it inert: askama
        // escapes HTML, `visible` shows control and direction characters.
        let shown = |t: &str| sekisho_proto::escape::visible(t).into_owned();
        EventLine {
            seq: e.seq,
            at: jst(&e.at),
            actor: shown(&e.actor),
            action: shown(&e.action),
            object: shown(&e.object),
            class: shown(&e.class),
            outcome: shown(&e.outcome),
            source: shown(&e.source),
            detail: sekisho_proto::escape::visible_truncated(&e.detail, 160),
        }
    }
}

pub struct CheckpointLine {
    pub seq: i64,
    pub head_hash: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    q: LogQuery,
    events: Vec<EventLine>,
    next: Option<String>,
    filters: String,
    checkpoints: Vec<CheckpointLine>,
    key_fingerprint: String,
}

pub async fn log(
    State(state): State<Shared>,
    user: ConsoleUser,
    Query(q): Query<LogQuery>,
) -> Response {
    let loaded = async {
        let page = audit::events(
            &state,
            &user.actor,
            q.after.unwrap_or(0),
            PAGE_SIZE,
            q.filter(),
        )
        .await?;
        let checkpoints = audit::checkpoints(&state, &user.actor).await?;
        let key = audit::key(&state, &user.actor)?;
        Ok::<_, AppError>((page, checkpoints, key))
    };
    let (page, checkpoints, key) = match loaded.await {
        Ok(parts) => parts,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let filters = q.encoded();
    let next = page
        .next_after
        .map(|after| format!("/audit?{filters}&after={after}"));
    let c = Chrome::of(&state, &user, user.lang.pick("監査ログ", "Audit log")).await;
    let page = AuditPage {
        c,
        q,
        events: page.events.into_iter().map(EventLine::of).collect(),
        next,
        filters,
        checkpoints: checkpoints
            .into_iter()
            .rev()
            .take(20)
            .map(|cp| CheckpointLine {
                seq: cp.seq,
                head_hash: cp.head_hash,
                at: jst(&cp.at),
            })
            .collect(),
        key_fingerprint: key.fingerprint,
    };
    html(StatusCode::OK, &page)
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    JsonLines,
}

pub async fn csv(state: State<Shared>, user: ConsoleUser, q: Query<LogQuery>) -> Response {
    export(state, user, q, Format::Csv).await
}

pub async fn jsonl(state: State<Shared>, user: ConsoleUser, q: Query<LogQuery>) -> Response {
    export(state, user, q, Format::JsonLines).await
}

/// The whole filtered log as one file, written as the CLI writes it.
async fn export(
    State(state): State<Shared>,
    user: ConsoleUser,
    Query(q): Query<LogQuery>,
    format: Format,
) -> Response {
    let mut body = String::new();
    if let Format::Csv = format {
        body.push_str(UTF8_BOM);
        body.push_str(&csv_row(&AUDIT_CSV_HEADER));
    }
    let filter = q.filter();
    let mut after = 0;
    loop {
        let page =
            match audit::events(&state, &user.actor, after, EXPORT_BATCH, filter.clone()).await {
                Ok(page) => page,
                Err(e) => return error_page(&state, &user, e).await,
            };
        for event in &page.events {
            match format {
                Format::Csv => body.push_str(&csv_row(&audit_csv_fields(event))),
                Format::JsonLines => match json_line(event) {
                    Ok(line) => {
                        body.push_str(&line);
                        body.push('\n');
                    }
                    Err(e) => {
                        return AppError::Internal(
                            anyhow::Error::new(e).context("cannot encode an audit event"),
                        )
                        .into_response();
                    }
                },
            }
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "sekisho-audit.csv"),
        Format::JsonLines => ("application/x-ndjson", "sekisho-audit.jsonl"),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// The signed checkpoints as JSON, the file `sekisho audit verify
/// --checkpoint FILE` reads.
pub async fn checkpoints(State(state): State<Shared>, user: ConsoleUser) -> Response {
    match audit::checkpoints(&state, &user.actor).await {
        Ok(list) => (
            [(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"sekisho-checkpoints.json\""),
            )],
            axum::Json(list),
        )
            .into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn new_checkpoint(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    match audit::request_checkpoint(&state, &user.actor, &origin).await {
        Ok(_) => Redirect::to("/audit").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}
