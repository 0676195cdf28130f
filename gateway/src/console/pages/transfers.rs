//! Staff's transfers: the home page, one transfer (which is also the
//! approver's review page), the send page and its upload endpoints, and
//! revocation. Every action calls the same `service::transfers` function
//! as the API, with the same grants.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::deletion::DecideDisposal;
use sekisho_proto::{
    ApproveRequest, CreateTransferRequest, KeyKind, LinkState, RejectRequest, RevokeRequest,
    SubmitRequest, TransferView,
};
use serde::Deserialize;

use crate::console::i18n::{ClassLabel, Lang};
use crate::console::page::{Chrome, error_page, html, human_size, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, deletion, media, recipients, transfers};
use crate::state::Shared;

/// One transfer as a row of a list.
pub struct Row {
    pub id: String,
    pub created: String,
    pub class: ClassLabel,
    pub purpose: String,
    pub state: &'static str,
    pub sender: String,
    pub recipients: Vec<RecipientLine>,
    pub size: String,
    pub files: u32,
    /// A carry-out: the medium and when it must be back.
    pub medium: String,
}

/// A recipient and how their link stands.
pub struct RecipientLine {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub kind: &'static str,
    pub fingerprints: Vec<String>,
    /// "2/3", empty before release.
    pub downloads: String,
    pub expires: String,
    pub link_state: &'static str,
}

fn link_state(lang: Lang, state: LinkState) -> &'static str {
    match state {
        LinkState::Active => lang.pick("有効", "active"),
        LinkState::Exhausted => lang.pick("回数上限", "used up"),
        LinkState::Expired => lang.pick("期限切れ", "expired"),
        LinkState::Revoked => lang.pick("取消", "revoked"),
    }
}

fn key_kind(lang: Lang, kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Age => "age",
        KeyKind::Ssh => "SSH",
        KeyKind::Passphrase => lang.pick("パスフレーズ", "passphrase"),
    }
}

fn recipient_lines(lang: Lang, view: &TransferView) -> Vec<RecipientLine> {
    view.recipients
        .iter()
        .map(|r| RecipientLine {
            name: r.name.clone(),
            organisation: r.organisation.clone(),
            email: r.email.clone(),
            kind: key_kind(lang, r.key_kind),
            fingerprints: r.fingerprints.clone(),
            downloads: r
                .link
                .as_ref()
                .map(|l| format!("{}/{}", l.downloads, l.max_downloads))
                .unwrap_or_default(),
            expires: r
                .link
                .as_ref()
                .map(|l| jst(&l.expires_at))
                .unwrap_or_default(),
            link_state: r
                .link
                .as_ref()
                .map(|l| link_state(lang, l.state))
                .unwrap_or_else(|| lang.pick("未公開", "not released")),
        })
        .collect()
}

fn row(lang: Lang, view: &TransferView) -> Row {
    Row {
        id: view.id.clone(),
        created: jst(&view.created_at),
        class: ClassLabel::of(view.class),
        purpose: view.purpose.clone(),
        state: lang.state(view.state),
        sender: view.sender.clone(),
        recipients: recipient_lines(lang, view),
        size: human_size(view.total_size),
        files: view.files.len() as u32,
        medium: view
            .medium
            .as_ref()
            .map(|m| {
                let due = view.return_by.as_deref().map(jst).unwrap_or_default();
                format!(
                    "{} {m}（{} {due}）",
                    lang.pick("媒体", "Medium"),
                    lang.pick("返却期限", "due back")
                )
            })
            .unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    c: Chrome,
    transfers: Vec<Row>,
}

/// How many of one's own transfers the home page lists, newest first.
const HOME_LIMIT: usize = 50;

pub async fn home(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let c = Chrome::of(&state, &user, user.lang.pick("ホーム", "Home")).await;
    let mut transfers = Vec::new();
    if c.menu.send {
        let mine = match transfers::list(&state, &user.actor, "mine").await {
            Ok(list) => list,
            Err(e) => return error_page(&state, &user, e).await,
        };
        for summary in mine.iter().rev().take(HOME_LIMIT) {
            match transfers::view(&state, &user.actor, &summary.id).await {
                Ok(view) => transfers.push(row(user.lang, &view)),
                Err(e) => return error_page(&state, &user, e).await,
            }
        }
    }
    html(StatusCode::OK, &HomePage { c, transfers })
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    c: Chrome,
    transfers: Vec<Row>,
    disposals: Vec<DisposalLine>,
    done: Option<&'static str>,
}

/// An early disposal of a transfer, or a medium's wipe or disposal, that
/// waits for a decision.
pub struct DisposalLine {
    /// `transfer` or `medium`: which service decides it.
    pub kind: &'static str,
    pub id: String,
    pub what: String,
    pub class: Option<ClassLabel>,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
}

pub async fn queue(
    State(state): State<Shared>,
    user: ConsoleUser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let c = Chrome::of(
        &state,
        &user,
        user.lang.pick("承認待ち", "Waiting for your decision"),
    )
    .await;
    let pending = match transfers::list(&state, &user.actor, "pending").await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let mut rows = Vec::new();
    for summary in &pending {
        match transfers::view(&state, &user.actor, &summary.id).await {
            Ok(view) => rows.push(row(user.lang, &view)),
            Err(e) => return error_page(&state, &user, e).await,
        }
    }
    let lang = user.lang;
    let loaded = async {
        let of_transfers = deletion::pending(&state, &user.actor).await?;
        let of_media = media::pending_disposals(&state, &user.actor).await?;
        Ok::<_, AppError>((of_transfers, of_media))
    };
    let (of_transfers, of_media) = match loaded.await {
        Ok(lists) => lists,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let mut disposals: Vec<DisposalLine> = of_transfers
        .into_iter()
        .map(|d| DisposalLine {
            kind: "transfer",
            what: format!(
                "{} {}",
                lang.pick("送信の早期消去:", "Early erase of a transfer:"),
                d.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            class: Some(ClassLabel::of(d.class)),
            id: d.id,
            reason: d.reason,
            requested_by: d.requested_by,
            requested_at: jst(&d.requested_at),
        })
        .collect();
    disposals.extend(of_media.into_iter().map(|d| DisposalLine {
        kind: "medium",
        what: format!(
            "{} {}（{}）",
            lang.pick("媒体", "Medium"),
            d.medium,
            match d.kind {
                sekisho_proto::media::MediumDisposalKind::Wipe => lang.pick("消去", "wipe"),
                sekisho_proto::media::MediumDisposalKind::Dispose =>
                    lang.pick("廃棄", "dispose of"),
            }
        ),
        class: None,
        id: d.id,
        reason: format!("{} — {}", d.reason, d.method),
        requested_by: d.requested_by,
        requested_at: jst(&d.requested_at),
    }));
    html(
        StatusCode::OK,
        &QueuePage {
            c,
            transfers: rows,
            disposals,
            done: query
                .done
                .as_deref()
                .and_then(|d| disposal_done_message(lang, d)),
        },
    )
}

#[derive(Deserialize)]
pub struct DisposalForm {
    csrf: String,
    decision: String,
    otp: String,
    comment: Option<String>,
}

/// Approves or rejects a disposal from the queue, with a fresh code.
pub async fn decide_disposal(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<DisposalForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            let e = AppError::invalid("bad_decision", "the decision is approve or reject");
            return error_page(&state, &user, e).await;
        }
    };
    let decision = DecideDisposal {
        otp: form.otp.trim().to_string(),
        comment: form
            .comment
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
    };
    let done = match kind.as_str() {
        "transfer" => deletion::decide(&state, &user.actor, &id, approve, decision, &origin)
            .await
            .map(|_| ()),
        "medium" => media::decide_disposal(&state, &user.actor, &id, approve, decision, &origin)
            .await
            .map(|_| ()),
        _ => Err(AppError::NotFound),
    };
    match done {
        Ok(()) => Redirect::to(if approve {
            "/queue?done=disposal-approved"
        } else {
            "/queue?done=disposal-rejected"
        })
        .into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}

/// A file as the review page lists it.
pub struct FileLine {
    pub name: String,
    pub size: String,
    pub sha256: String,
}

pub struct HistoryLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub outcome: String,
}

pub struct LinkLine {
    pub recipient: String,
    pub url: String,
    pub state: &'static str,
    pub downloads: String,
    pub expires: String,
    pub passphrase: bool,
}

#[derive(Template)]
#[template(path = "console/transfer.html")]
struct TransferPage {
    c: Chrome,
    t: Row,
    sender_role: String,
    state_code: &'static str,
    files: Vec<FileLine>,
    content_digest: String,
    decision: Option<String>,
    history: Vec<HistoryLine>,
    links: Vec<LinkLine>,
    allowed: transfers::Allowed,
    message: Option<String>,
    done: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<Shared>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let done = query
        .done
        .as_deref()
        .and_then(|d| done_message(user.lang, d));
    transfer_page(&state, &user, &id, None, done, StatusCode::OK).await
}

/// What the queue says after a disposal was decided from it.
fn disposal_done_message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "disposal-approved" => lang.pick(
            "消去・廃棄を承認しました。",
            "Approved: the erase or disposal goes ahead.",
        ),
        "disposal-rejected" => lang.pick(
            "消去・廃棄の申請を却下しました。",
            "Rejected: nothing is erased.",
        ),
        _ => return None,
    })
}

fn done_message(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "approved" => lang.pick(
            "承認しました。受取人にリンクが送られます。",
            "Approved: the recipients get their links.",
        ),
        "rejected" => lang.pick(
            "却下しました。送信者に通知されます。",
            "Rejected: the sender is told.",
        ),
        "revoked" => lang.pick(
            "取り消しました。リンクはもう使えません。",
            "Revoked: the links no longer work.",
        ),
        _ => return None,
    })
}

async fn transfer_page(
    state: &Shared,
    user: &ConsoleUser,
    id: &str,
    message: Option<String>,
    done: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let lang = user.lang;
    let loaded = async {
        let view = transfers::view(state, &user.actor, id).await?;
        let allowed = transfers::allowed(state, &user.actor, id).await?;
        let history = transfers::history(state, &user.actor, id).await?;
        let links = if allowed.view_links {
            transfers::links(state, &user.actor, id).await?
        } else {
            Vec::new()
        };
        Ok::<_, AppError>((view, allowed, history, links))
    };
    let (view, allowed, history, links) = match loaded.await {
        Ok(parts) => parts,
        Err(e) => return error_page(state, user, e).await,
    };
    let c = Chrome::of(state, user, lang.pick("送信の詳細", "Transfer")).await;
    let page = TransferPage {
        c,
        t: row(lang, &view),
        sender_role: lang.role(view.sender_role).to_string(),
        state_code: view.state.as_str(),
        files: view
            .files
            .iter()
            .map(|f| FileLine {
                name: f.name.clone(),
                size: human_size(f.size),
                sha256: f.sha256.clone(),
            })
            .collect(),
        content_digest: view.content_digest.clone().unwrap_or_default(),
        decision: view.decision.as_ref().map(|d| {
            format!(
                "{} — {}（{}）{} {}{}",
                match d.decision {
                    sekisho_proto::Decision::Approved => lang.pick("承認", "approved"),
                    sekisho_proto::Decision::Rejected => lang.pick("却下", "rejected"),
                },
                d.by,
                lang.role(d.by_role),
                d.on_behalf_of
                    .as_deref()
                    .map(|absent| match lang {
                        Lang::Ja => format!(" {absent} の代理"),
                        Lang::En => format!(" as stand-in for {absent}"),
                    })
                    .unwrap_or_default(),
                jst(&d.at),
                d.comment
                    .as_deref()
                    .map(|c| format!(" 「{c}」"))
                    .unwrap_or_default()
            )
        }),
        history: history
            .into_iter()
            .map(|e| HistoryLine {
                at: jst(&e.at),
                actor: e.actor,
                action: e.action,
                outcome: e.outcome,
            })
            .collect(),
        links: links
            .into_iter()
            .map(|l| LinkLine {
                recipient: l.recipient,
                url: l.url,
                state: link_state(lang, l.state),
                downloads: format!("{}/{}", l.downloads, l.max_downloads),
                expires: jst(&l.expires_at),
                passphrase: l.needs_passphrase,
            })
            .collect(),
        allowed,
        message,
        done,
    };
    html(status, &page)
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    /// The digest the page showed: approval is bound to it.
    content_digest: String,
    otp: String,
    comment: Option<String>,
}

pub async fn decide(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let comment = form
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let otp = form.otp.trim().to_string();
    let outcome = match form.decision.as_str() {
        "approve" => transfers::approve(
            &state,
            &user.actor,
            &id,
            ApproveRequest {
                content_digest: form.content_digest,
                otp,
                comment,
            },
            &origin,
        )
        .await
        .map(|_| "approved"),
        "reject" => match comment {
            Some(reason) => transfers::reject(
                &state,
                &user.actor,
                &id,
                RejectRequest { otp, reason },
                &origin,
            )
            .await
            .map(|_| "rejected"),
            None => Err(AppError::invalid(
                "reason_required",
                user.lang.pick(
                    "却下するときは理由を書いてください（送信者に伝えられます）。",
                    "Write the reason for rejecting (the sender is told).",
                ),
            )),
        },
        _ => Err(AppError::invalid(
            "bad_decision",
            "the decision is approve or reject",
        )),
    };
    after_action(&state, &user, &id, outcome).await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    reason: String,
}

pub async fn revoke(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let outcome = transfers::revoke(
        &state,
        &user.actor,
        &id,
        RevokeRequest {
            reason: form.reason.trim().to_string(),
        },
        &origin,
    )
    .await
    .map(|_| "revoked");
    after_action(&state, &user, &id, outcome).await
}

/// After a form: back to the transfer with what was done (so a reload does
/// not post again), or the same page with why it was refused.
async fn after_action(
    state: &Shared,
    user: &ConsoleUser,
    id: &str,
    outcome: Result<&'static str, AppError>,
) -> Response {
    match outcome {
        Ok(done) => Redirect::to(&format!("/transfers/{id}?done={done}")).into_response(),
        Err(AppError::NotFound) => error_page(state, user, AppError::NotFound).await,
        Err(error) => {
            let (status, _, message) = error.parts();
            if status.is_server_error() {
                return error_page(state, user, error).await;
            }
            transfer_page(state, user, id, Some(message), None, status).await
        }
    }
}

pub struct RecipientChoice {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub kind: &'static str,
    pub fingerprints: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/send.html")]
struct SendPage {
    c: Chrome,
    recipients: Vec<RecipientChoice>,
}

pub async fn send_page(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let list = match recipients::list(&state, &user.actor).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let c = Chrome::of(&state, &user, user.lang.pick("ファイル送信", "Send files")).await;
    let recipients = list
        .into_iter()
        .map(|r| RecipientChoice {
            kind: key_kind(user.lang, r.key_kind),
            name: r.name,
            organisation: r.organisation,
            email: r.email,
            fingerprints: r.fingerprints,
        })
        .collect();
    html(StatusCode::OK, &SendPage { c, recipients })
}

/// The send page's script: create the transfer (names, sizes, classes).
pub async fn create(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    headers: HeaderMap,
    Json(request): Json<CreateTransferRequest>,
) -> Response {
    if let Err(refusal) = user.check_script_csrf(&headers) {
        return refusal.into_response();
    }
    match transfers::create(&state, &user.actor, request, &origin).await {
        Ok(created) => Json(created).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The send page's script: one file's bytes, streamed to the store as the
/// CLI's are (hashed, scanned and encrypted on the way, never buffered).
pub async fn upload(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path((id, index)): Path<(String, u32)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refusal) = user.check_script_csrf(&headers) {
        return refusal.into_response();
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match transfers::upload(state, &user.actor, &id, index, declared, body, &origin).await {
        Ok(entry) => Json(entry).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The send page's script: submit, with the digests the gateway answered
/// for each file. The passphrases come back this once, to be shown.
pub async fn submit(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(request): Json<SubmitRequest>,
) -> Response {
    if let Err(refusal) = user.check_script_csrf(&headers) {
        return refusal.into_response();
    }
    match transfers::submit(&state, &user.actor, &id, request, &origin).await {
        Ok(submitted) => Json(submitted).into_response(),
        Err(e) => e.into_response(),
    }
}
