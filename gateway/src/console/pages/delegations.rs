//! Stand-in approvers (代理承認) in the console: who decides for whom until
//! when, naming one (for oneself, or as a sysadmin for an approver) and
//! ending one. The same service and policy as `sekisho delegate`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::SetDelegation;
use serde::Deserialize;

use crate::console::i18n::Lang;
use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::policy;
use crate::service::{Origin, delegations};
use crate::state::Shared;

pub struct DelegationLine {
    pub approver: String,
    pub stand_in: String,
    pub period: String,
    pub status: &'static str,
    pub set_by: String,
    pub can_clear: bool,
}

pub struct Choice {
    pub username: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "console/delegations.html")]
struct DelegationsPage {
    c: Chrome,
    lines: Vec<DelegationLine>,
    /// Whom the actor may name a stand-in for (themself, or any approver
    /// for a sysadmin); empty: the form is not shown.
    for_whom: Vec<Choice>,
    stand_ins: Vec<Choice>,
    done: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn role_name(lang: Lang, role: sekisho_proto::Role) -> String {
    match role {
        sekisho_proto::Role::Ciso => lang.pick("CISO", "CISO").to_string(),
        _ => lang.pick("承認者", "approver").to_string(),
    }
}

pub async fn page(
    State(state): State<Shared>,
    user: ConsoleUser,
    axum::extract::Query(query): axum::extract::Query<DoneQuery>,
) -> Response {
    let lang = user.lang;
    let loaded = async {
        let list = delegations::list(&state, &user.actor).await?;
        let candidates = delegations::candidates(&state, &user.actor).await?;
        Ok::<_, crate::error::AppError>((list, candidates))
    };
    let (list, candidates) = match loaded.await {
        Ok(both) => both,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let may_manage = |name: &str| {
        candidates
            .iter()
            .find(|c| c.user.username == name)
            .is_some_and(|c| policy::may_manage_stand_in(&user.actor, &c.principal()).is_ok())
    };
    let lines = list
        .iter()
        .map(|d| DelegationLine {
            approver: d.approver.clone(),
            stand_in: format!("{}（{}）", d.stand_in, role_name(lang, d.stand_in_role)),
            period: format!("{} – {}", jst(&d.starts_at), jst(&d.ends_at)),
            status: if d.in_effect {
                lang.pick("代理中", "in effect")
            } else {
                lang.pick("予定", "scheduled")
            },
            set_by: d.set_by.clone(),
            can_clear: may_manage(&d.approver),
        })
        .collect();
    let choice = |c: &delegations::Candidate| Choice {
        username: c.user.username.clone(),
        role: role_name(lang, c.user.role),
    };
    let for_whom = candidates
        .iter()
        .filter(|c| policy::may_manage_stand_in(&user.actor, &c.principal()).is_ok())
        .map(choice)
        .collect();
    let stand_ins = candidates.iter().map(choice).collect();
    let done = match query.done.as_deref() {
        Some("set") => Some(lang.pick(
            "代理承認者を設定しました。期間中、申請は代理承認者に届きます。",
            "The stand-in is named: during the period, requests go to them.",
        )),
        Some("cleared") => Some(lang.pick(
            "代理承認を終了しました。",
            "The stand-in no longer decides.",
        )),
        _ => None,
    };
    let c = Chrome::of(&state, &user, lang.pick("代理承認", "Stand-in approvers")).await;
    html(
        StatusCode::OK,
        &DelegationsPage {
            c,
            lines,
            for_whom,
            stand_ins,
            done,
        },
    )
}

#[derive(Deserialize)]
pub struct SetForm {
    csrf: String,
    approver: String,
    stand_in: String,
    from: Option<String>,
    until: String,
}

pub async fn set(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<SetForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let request = SetDelegation {
        stand_in: form.stand_in,
        from: form.from.filter(|f| !f.trim().is_empty()),
        until: form.until,
    };
    match delegations::set(&state, &user.actor, &form.approver, request, &origin).await {
        Ok(_) => Redirect::to("/delegations?done=set").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}

pub async fn clear(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(approver): Path<String>,
    Form(form): Form<crate::console::session::CsrfForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    match delegations::clear(&state, &user.actor, &approver, &origin).await {
        Ok(()) => Redirect::to("/delegations?done=cleared").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}
