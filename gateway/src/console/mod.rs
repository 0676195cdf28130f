//! The web console on the internal listener (issue 9): server-rendered
//! pages in Japanese first, for every role. Handlers here only read forms
//! and render: every decision is the policy's, every change goes through
//! the same `service` functions as the API, so the console is a second
//! door to the same rooms, never a second set of rules.
//!
//! - [`session`]: the `__Host-` session cookie, its idle time-out, CSRF;
//! - [`i18n`]: Japanese and English, the class labels;
//! - [`page`]: the frame of every page and how a page becomes an answer;
//! - [`pages`]: one module per area.
//!
//! Nothing of this is routed on the public listener.

pub mod i18n;
pub mod page;
mod pages;
pub mod session;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};

use crate::state::Shared;

pub fn router() -> Router<Shared> {
    use pages::{
        accounts, audit, auth, delegations, inbound, incidents, media, recipients, transfers,
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/home") }))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/password",
            get(auth::password_page).post(auth::change_password),
        )
        .route("/lang", post(auth::switch_language))
        .route("/home", get(transfers::home))
        .route("/queue", get(transfers::queue))
        .route("/disposals/{kind}/{id}", post(transfers::decide_disposal))
        .route("/media", get(media::ledger))
        .route("/scanner", get(media::scanner))
        .route("/transfers/{id}", get(transfers::show))
        .route("/transfers/{id}/decide", post(transfers::decide))
        .route("/transfers/{id}/revoke", post(transfers::revoke))
        .route("/send", get(transfers::send_page).post(transfers::create))
        .route("/send/{id}/files/{index}", put(transfers::upload))
        .route("/send/{id}/submit", post(transfers::submit))
        .route(
            "/recipients",
            get(recipients::list).post(recipients::create),
        )
        .route("/inbound", get(inbound::list))
        .route("/classify", get(|| async { Redirect::to("/inbound") }))
        .route("/inbound/requests", post(inbound::create_request))
        .route("/inbound/{id}/classify", post(inbound::classify))
        .route("/inbound/{id}/content", get(inbound::content))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", post(incidents::act))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/{name}", post(accounts::change))
        .route(
            "/delegations",
            get(delegations::page).post(delegations::set),
        )
        .route("/delegations/{approver}/clear", post(delegations::clear))
        .route("/audit", get(audit::log))
        .route("/audit/report", get(audit::report))
        .route("/audit/export.csv", get(audit::csv))
        .route("/audit/export.jsonl", get(audit::jsonl))
        .route("/audit/checkpoints.json", get(audit::checkpoints))
        .route("/audit/checkpoints", post(audit::new_checkpoint))
        .route("/static/console.css", get(style))
        .route("/static/console.js", get(script))
}

async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("static/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("static/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
