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
use crate::console::session::{ConsoleUser, CsrfForm};
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

/// The year form's fields: empty means the current fiscal year.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    fiscal_year: String,
    #[serde(default)]
    year: String,
}

fn year_field(text: &str) -> Result<Option<i32>, AppError> {
    match text.trim() {
        "" => Ok(None),
        t => t.parse::<i32>().map(Some).map_err(|_| {
            AppError::invalid(
                "bad_year",
                format!("'{t}' is not a year: write it like 2026"),
            )
        }),
    }
}

/// The yearly self-inspection report (policy 9.(1)) as one printable page:
/// the same figures, sections and layout as `sekisho audit report --format
/// html`, from the log as the gateway holds it, checked on the gateway with
/// its own audit key; the page says that this is not an independent check.
pub async fn report(
    State(state): State<Shared>,
    user: ConsoleUser,
    Query(q): Query<ReportQuery>,
) -> Response {
    match build_report(&state, &user, &q).await {
        Ok(page) => report_page(page),
        Err(e) => error_page(&state, &user, e).await,
    }
}

async fn build_report(
    state: &Shared,
    user: &ConsoleUser,
    q: &ReportQuery,
) -> Result<String, AppError> {
    use sekisho_proto::report::checker::{Checker, Origin as From};
    use sekisho_proto::report::model::{CountedOn, Report, Status};
    use sekisho_proto::report::tally::Tally;
    use sekisho_proto::report::times::{YearKind, fiscal_year_of, rfc3339, year_bounds};

    let now = state.clock.now();
    let (kind, year) = match (year_field(&q.fiscal_year)?, year_field(&q.year)?) {
        (_, Some(year)) => (YearKind::CalendarYear, year),
        (Some(year), None) => (YearKind::FiscalYear, year),
        (None, None) => (YearKind::FiscalYear, fiscal_year_of(now)),
    };
    let (since, until) = year_bounds(kind, year).map_err(|e| AppError::invalid("bad_year", e))?;
    let key = audit::key(state, &user.actor)?;
    let checkpoints = audit::checkpoints(state, &user.actor)
        .await?
        .into_iter()
        .map(|c| (c, From::Gateway))
        .collect();
    let mut checker = Checker::new(Some(&key.public_key), checkpoints);
    let mut counter = Tally::new(since.unix_timestamp(), until.unix_timestamp());
    let mut after = 0;
    loop {
        let page = audit::events(
            state,
            &user.actor,
            after,
            EXPORT_BATCH,
            AuditFilter::default(),
        )
        .await?;
        for event in &page.events {
            checker.push(event);
            counter.add(event);
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    let verification = checker.finish();
    let figures = counter.finish();
    let gateway = if state.public_base_url.is_empty() {
        "this gateway".to_string()
    } else {
        state.public_base_url.clone()
    };
    let report = Report {
        period: kind,
        year,
        since: rfc3339(since),
        until: rfc3339(until),
        gateway: &gateway,
        generated_at: rfc3339(now),
        generated_by: &user.actor.username,
        status: Status::of(&verification),
        figures: &figures,
        verification: &verification,
        counted_on: CountedOn::Gateway,
    };
    Ok(sekisho_proto::report::html::render(&report))
}

/// The report page carries its own style sheet (so that it prints and
/// archives as one file): its policy allows exactly that style, by digest.
fn report_page(body: String) -> Response {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(sekisho_proto::report::html::style_text().as_bytes());
    let style = base64::engine::general_purpose::STANDARD.encode(digest);
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{style}'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
