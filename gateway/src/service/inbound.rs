//! Bringing files in (policy 2.(2), "Bringing in"; classification 2.(2)④):
//! upload requests handed to outside parties, media intake by staff, the
//! scan of every received file, classification, quarantine and incidents.
//!
//! Nothing from outside reaches anyone inside before it has been scanned,
//! and a file that could not be scanned counts as not checked: clean files
//! wait for their class, infected ones are quarantined with an incident
//! opened in the same transaction, unscanned ones are held. An upload is
//! all or nothing: every part is stored and scanned first, then recorded
//! in one transaction; a refused upload leaves nothing behind.

use std::collections::HashMap;
use std::io::Read;

use axum::body::Body;
use axum::extract::Multipart;
use bytes::Bytes;
use sekisho_proto::inbound::{
    ClassifyRequest, CloseIncident, CreateUploadRequest, InboundFileView, IncidentView,
    UploadAnswer, UploadOutcome, UploadRequestCreated,
};
use sekisho_proto::{Class, names};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::ingest::{Finished, Ingest};
use super::{Origin, check_text};
use crate::auth::token;
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::inbound::{self as store, FileRow, IncidentRow, RequestRow};
use crate::db::{recipients, users};
use crate::envelope;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, InboundFacts};
use crate::scan::{EngineStatus, Report, Verdict};
use crate::state::{AppState, Shared};

const DEFAULT_EXPIRES_HOURS: u32 = 7 * 24;
const MAX_EXPIRES_HOURS: u32 = 90 * 24;
const DEFAULT_MAX_FILES: u32 = 20;
const MAX_MAX_FILES: u32 = 1000;
const DEFAULT_MAX_MB: u64 = 2048;
/// The multipart field that carries files.
pub const FILE_FIELD: &str = "file";

/// What the upload page shows.
pub struct RequestPage {
    pub requester: String,
    pub sender: String,
    pub purpose: String,
    pub expires_at: String,
    pub files_left: i64,
    pub bytes_left: i64,
}

pub async fn create_request(
    state: &AppState,
    actor: &Actor,
    request: CreateUploadRequest,
    origin: &Origin,
) -> AppResult<UploadRequestCreated> {
    policy::may_request_inbound(actor)?;
    let purpose = request.purpose.trim();
    check_text("the purpose", purpose, 1000)?;
    let from = request.from.trim();
    check_text("the sender (--from)", from, 200)?;
    let expires_hours = request.expires_hours.unwrap_or(DEFAULT_EXPIRES_HOURS);
    if expires_hours == 0 || expires_hours > MAX_EXPIRES_HOURS {
        return Err(AppError::invalid(
            "bad_expiry",
            format!("--expires-hours must be between 1 and {MAX_EXPIRES_HOURS}"),
        ));
    }
    let max_files = request.max_files.unwrap_or(DEFAULT_MAX_FILES);
    if max_files == 0 || max_files > MAX_MAX_FILES {
        return Err(AppError::invalid(
            "bad_max_files",
            format!("--max-files must be between 1 and {MAX_MAX_FILES}"),
        ));
    }
    let max_mb = request.max_mb.unwrap_or(DEFAULT_MAX_MB);
    let max_bytes = max_mb.saturating_mul(1024 * 1024);
    if max_mb == 0
        || max_bytes
            > state
                .config
                .limits
                .max_file_bytes
                .saturating_mul(u64::from(max_files))
    {
        return Err(AppError::invalid(
            "bad_max_mb",
            "--max-mb must be at least 1 and within the gateway's size limits",
        ));
    }
    let now = state.clock.now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let nonce = token::generate().to_string();
    let mut tx = state.db.write().await?;
    let (sender_name, sender_org, sender_email) =
        match recipients::by_owner_and_name(tx.conn(), &actor.user_id, from).await? {
            Some(r) => (r.name, r.organisation, r.email),
            None => (from.to_string(), String::new(), String::new()),
        };
    let row = RequestRow {
        id: id.clone(),
        owner_id: actor.user_id.clone(),
        kind: "link".into(),
        sender_name,
        sender_org,
        sender_email,
        purpose: purpose.to_string(),
        nonce,
        expires_at: now + i64::from(expires_hours) * 3_600_000,
        max_files: i64::from(max_files),
        max_bytes: max_bytes as i64,
        files_received: 0,
        bytes_received: 0,
        state: "open".into(),
        created_at: now,
    };
    let link_token = state.keys.link_token(&row.id, &row.nonce);
    store::insert_request(tx.conn(), &row, Some(&token::hash(&link_token))).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "inbound.request",
            object: format!("upload_request:{id}"),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({
                "from": {"name": row.sender_name, "organisation": row.sender_org, "email": row.sender_email},
                "purpose": row.purpose,
                "expires_at": format_ms(row.expires_at),
                "max_files": max_files,
                "max_bytes": max_bytes,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(UploadRequestCreated {
        id,
        url: format!("{}/u/{link_token}", state.public_base_url),
        expires_at: format_ms(row.expires_at),
        max_files,
        max_bytes,
    })
}

/// An intake request: a member of staff brings data in on a medium; the
/// request is their own, with themselves as the sender, and has no link.
pub async fn create_intake(
    state: &AppState,
    actor: &Actor,
    purpose: &str,
    origin: &Origin,
) -> AppResult<String> {
    policy::may_request_inbound(actor)?;
    let purpose = purpose.trim();
    check_text("the purpose", purpose, 1000)?;
    let now = state.clock.now_ms();
    let row = RequestRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: actor.user_id.clone(),
        kind: "intake".into(),
        sender_name: actor.username.clone(),
        sender_org: String::new(),
        sender_email: String::new(),
        purpose: purpose.to_string(),
        nonce: token::generate().to_string(),
        expires_at: now + 24 * 3_600_000,
        max_files: i64::MAX / 2,
        max_bytes: i64::MAX / 2,
        files_received: 0,
        bytes_received: 0,
        state: "open".into(),
        created_at: now,
    };
    let mut tx = state.db.write().await?;
    store::insert_request(tx.conn(), &row, None).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "inbound.intake",
            object: format!("upload_request:{}", row.id),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({ "purpose": purpose }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.id)
}

async fn find(state: &AppState, token_text: &str) -> AppResult<RequestRow> {
    if token_text.len() != 43
        || !token_text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.read().await?;
    store::request_by_token_hash(&mut conn, &token::hash(token_text))
        .await?
        .ok_or(AppError::NotFound)
}

/// Why a request can take no more files, in words for the uploader.
fn unusable(r: &RequestRow, now: i64) -> Option<String> {
    if r.state != "open" {
        return Some("このリンクは使用できません。This link can no longer be used.".into());
    }
    if now >= r.expires_at {
        return Some(format!(
            "このリンクは有効期限（{0}）を過ぎました。This link expired at {0}.",
            format_ms(r.expires_at)
        ));
    }
    if r.files_received >= r.max_files || r.bytes_received >= r.max_bytes {
        return Some(
            "このリンクの上限に達しました。This link has received as many files as it allows."
                .into(),
        );
    }
    None
}

pub async fn page(state: &AppState, token_text: &str) -> AppResult<RequestPage> {
    let r = find(state, token_text).await?;
    if let Some(reason) = unusable(&r, state.clock.now_ms()) {
        return Err(AppError::Gone(reason));
    }
    let mut conn = state.db.read().await?;
    let requester = users::by_id(&mut conn, &r.owner_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    let sender = if r.sender_org.is_empty() {
        r.sender_name.clone()
    } else {
        format!("{} ({})", r.sender_name, r.sender_org)
    };
    Ok(RequestPage {
        requester,
        sender,
        purpose: r.purpose.clone(),
        expires_at: format_ms(r.expires_at),
        files_left: r.max_files - r.files_received,
        bytes_left: r.max_bytes - r.bytes_received,
    })
}

async fn log_refusal(
    state: &AppState,
    r: &RequestRow,
    uploader: &str,
    reason: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: uploader.to_string(),
            action: "inbound.refused",
            object: format!("upload_request:{}", r.id),
            outcome: "denied",
            source: origin.0.clone(),
            detail: json!({ "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /u/{token}`: an outside party uploads through their link.
pub async fn receive_by_link(
    state: Shared,
    token_text: &str,
    multipart: Multipart,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let r = find(&state, token_text).await?;
    let uploader = format!("uploader:{}", r.sender_name);
    if let Some(reason) = unusable(&r, state.clock.now_ms()) {
        log_refusal(&state, &r, &uploader, &reason, origin).await?;
        return Err(AppError::Gone(reason));
    }
    receive(state, r, uploader, multipart, origin).await
}

/// `POST /api/v1/inbox/requests/{id}/files`: a member of staff's intake.
pub async fn receive_intake(
    state: Shared,
    actor: &Actor,
    id: &str,
    multipart: Multipart,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    policy::may_request_inbound(actor)?;
    let r = {
        let mut conn = state.db.read().await?;
        store::request(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?
    };
    if r.owner_id != actor.user_id || r.kind != "intake" {
        return Err(AppError::NotFound);
    }
    if let Some(reason) = unusable(&r, state.clock.now_ms()) {
        return Err(AppError::Gone(reason));
    }
    receive(state, r, actor.username.clone(), multipart, origin).await
}

struct Received {
    name: String,
    finished: Finished,
}

fn discard_all(state: &Shared, received: &[Received]) {
    for r in received {
        r.finished.discard(state);
    }
}

async fn receive(
    state: Shared,
    r: RequestRow,
    uploader: String,
    mut multipart: Multipart,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let mut received: Vec<Received> = Vec::new();
    let files_left = r.max_files - r.files_received;
    let bytes_left = (r.max_bytes - r.bytes_received).max(0) as u64;
    let per_file = state.config.limits.max_file_bytes;
    let mut total: u64 = 0;
    let refusal = loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break None,
            Err(_) => {
                break Some(AppError::invalid(
                    "upload_interrupted",
                    "the upload was interrupted or is not a valid form; send the files again",
                ));
            }
        };
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_string();
        if name.is_empty() {
            // A browser sends an empty part for an unused file input.
            let empty = matches!(field.chunk().await, Ok(None));
            if empty {
                continue;
            }
        }
        if let Err(e) = names::check_file_name(&name) {
            break Some(AppError::invalid(
                "bad_file_name",
                format!("'{}': {e}", name.escape_debug()),
            ));
        }
        if received.len() as i64 >= files_left {
            break Some(AppError::TooLarge(format!(
                "この依頼で受け付けられるファイルは残り {files_left} 件です。This link accepts {files_left} more file(s) at most."
            )));
        }
        let mut ingest = Ingest::start(&state, true, None);
        let mut failure = None;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > bytes_left || ingest.received + chunk.len() as u64 > per_file {
                        failure = Some(AppError::TooLarge(
                            "ファイルの合計サイズが上限を超えました。The files are larger than this link allows."
                                .into(),
                        ));
                        break;
                    }
                    if !ingest.push(&chunk).await {
                        failure = Some(AppError::Internal(anyhow::anyhow!(
                            "the store stopped accepting the upload"
                        )));
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    failure = Some(AppError::invalid(
                        "upload_interrupted",
                        "the upload was interrupted; send the files again",
                    ));
                    break;
                }
            }
        }
        if let Some(failure) = failure {
            ingest.abort().await;
            break Some(failure);
        }
        match ingest.finish().await {
            Ok(finished) => received.push(Received { name, finished }),
            Err(e) => break Some(AppError::Internal(e)),
        }
    };
    if refusal.is_none() && received.is_empty() {
        return Err(AppError::invalid(
            "no_files",
            "ファイルが選択されていません。Choose at least one file.",
        ));
    }
    if let Some(refusal) = refusal {
        discard_all(&state, &received);
        let reason = match &refusal {
            AppError::Invalid(_, m) | AppError::TooLarge(m) => m.clone(),
            _ => "the upload failed".to_string(),
        };
        log_refusal(&state, &r, &uploader, &reason, origin).await?;
        return Err(refusal);
    }
    match record(&state, &r, &uploader, &received, origin).await {
        Ok(answer) => Ok(answer),
        Err(e) => {
            discard_all(&state, &received);
            Err(e)
        }
    }
}

/// The state a verdict puts a file in.
fn state_for(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Clean => "awaiting_class",
        Verdict::Infected { .. } => "quarantined",
        Verdict::Unscanned { .. } => "held",
    }
}

fn verdict_kind(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Clean => "clean",
        Verdict::Infected { .. } => "infected",
        Verdict::Unscanned { .. } => "unscanned",
    }
}

fn verdict_detail(verdict: &Verdict, report: Option<&Report>) -> serde_json::Value {
    let (engine, signature, reason) = match verdict {
        Verdict::Clean => (None, None, None),
        Verdict::Infected { engine, signature } => {
            (Some(engine.clone()), Some(signature.clone()), None)
        }
        Verdict::Unscanned { reason } => (None, None, Some(reason.clone())),
    };
    json!({
        "engine": engine,
        "signature": signature,
        "reason": reason,
        "location": report.and_then(|r| r.location.clone()),
    })
}

/// What the uploader is told: never the signature.
fn outcome_for(name: &str, verdict: &Verdict, size: u64, sha256: &str) -> UploadOutcome {
    let (outcome, message) = match verdict {
        Verdict::Clean => (
            "accepted",
            "受け付けました。Accepted: the file was checked and passed to the requester.",
        ),
        Verdict::Infected { .. } => (
            "rejected",
            "拒否されました：マルウェアが検出されました。Rejected: malware detected.",
        ),
        Verdict::Unscanned { .. } => (
            "held",
            "保留：検査できませんでした。Held: the file could not be checked; it is kept until it can be.",
        ),
    };
    UploadOutcome {
        name: name.to_string(),
        outcome: outcome.into(),
        message: message.into(),
        size,
        sha256: sha256.to_string(),
    }
}

/// Opens an incident for an infected file (in the caller's transaction).
async fn open_incident(
    conn: &mut sqlx::AnyConnection,
    now: i64,
    file: &FileRow,
    r: &RequestRow,
    (engine, signature): (&str, &str),
    actor: &str,
    origin: &Origin,
) -> AppResult<()> {
    let uploader = if r.sender_org.is_empty() {
        format!("{} from {}", r.sender_name, file.uploaded_from)
    } else {
        format!(
            "{} ({}) from {}",
            r.sender_name, r.sender_org, file.uploaded_from
        )
    };
    let incident = IncidentRow {
        id: uuid::Uuid::new_v4().to_string(),
        inbound_file_id: Some(file.id.clone()),
        engine: engine.to_string(),
        signature: signature.to_string(),
        digest: file.sha256.clone(),
        uploader: uploader.clone(),
        request_id: Some(r.id.clone()),
        state: "open".into(),
        escalated_to: None,
        note: None,
        opened_at: now,
        closed_at: None,
        closed_by: None,
    };
    store::insert_incident(conn, &incident).await?;
    audit::append(
        conn,
        now,
        Record {
            actor: actor.to_string(),
            action: "incident.open",
            object: format!("incident:{}", incident.id),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({
                "engine": engine,
                "signature": signature,
                "digest": file.sha256,
                "uploader": uploader,
                "request": r.id,
                "file": file.id,
                "notify": "manager",
            }),
        },
    )
    .await?;
    Ok(())
}

async fn record(
    state: &Shared,
    r: &RequestRow,
    uploader: &str,
    received: &[Received],
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    // Re-checked under the write lock: two uploads at once cannot both
    // take the last places.
    let current = store::request(tx.conn(), &r.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let bytes: u64 = received.iter().map(|f| f.finished.sealed.size).sum();
    if current.files_received + received.len() as i64 > current.max_files
        || current.bytes_received + bytes as i64 > current.max_bytes
        || now >= current.expires_at
    {
        return Err(AppError::Gone(
            "このリンクの上限に達しました。This link has received as many files as it allows."
                .into(),
        ));
    }
    let mut outcomes = Vec::new();
    for item in received {
        let f = &item.finished;
        let verdict = f.verdict().unwrap_or(Verdict::Unscanned {
            reason: "no scan was made".into(),
        });
        crate::db::transfers::insert_object(
            tx.conn(),
            &crate::db::transfers::ObjectRow {
                id: f.object_id.clone(),
                wrapped_key: f.sealed.wrapped_key.clone(),
                size: f.sealed.size as i64,
                sha256: f.sealed.sha256.clone(),
            },
            now,
        )
        .await?;
        let row = FileRow {
            id: uuid::Uuid::new_v4().to_string(),
            request_id: r.id.clone(),
            name: item.name.clone(),
            size: f.sealed.size as i64,
            sha256: f.sealed.sha256.clone(),
            object_id: Some(f.object_id.clone()),
            verdict: verdict_kind(&verdict).into(),
            verdict_detail: verdict_detail(&verdict, f.report.as_ref()).to_string(),
            class: None,
            classified_by: None,
            classified_at: None,
            state: state_for(&verdict).into(),
            uploaded_from: origin.0.clone(),
            created_at: now,
        };
        store::insert_file(tx.conn(), &row).await?;
        store::add_received(tx.conn(), &r.id, row.size).await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: uploader.to_string(),
                action: "inbound.upload",
                object: format!("inbound_file:{}", row.id),
                outcome: "ok",
                source: origin.0.clone(),
                detail: json!({
                    "request": r.id,
                    "file": row.name,
                    "size": row.size,
                    "sha256": row.sha256,
                    "verdict": row.verdict,
                    "verdict_detail": verdict_detail(&verdict, f.report.as_ref()),
                    "state": row.state,
                }),
            },
        )
        .await?;
        if let Verdict::Infected { engine, signature } = &verdict {
            open_incident(
                tx.conn(),
                now,
                &row,
                r,
                (engine, signature),
                uploader,
                origin,
            )
            .await?;
        }
        outcomes.push(outcome_for(
            &row.name,
            &verdict,
            f.sealed.size,
            &f.sealed.sha256,
        ));
    }
    tx.commit().await?;
    Ok(UploadAnswer { files: outcomes })
}

fn view(file: &FileRow, r: &RequestRow) -> InboundFileView {
    InboundFileView {
        id: file.id.clone(),
        request_id: file.request_id.clone(),
        name: file.name.clone(),
        size: file.size as u64,
        sha256: file.sha256.clone(),
        verdict: file.verdict.clone(),
        class: file.class.clone(),
        state: file.state.clone(),
        sender: r.sender_name.clone(),
        purpose: r.purpose.clone(),
        received_at: format_ms(file.created_at),
    }
}

/// The caller's inbound files; a manager also sees those left to them.
pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<InboundFileView>> {
    policy::may_request_inbound(actor)?;
    let mut conn = state.db.read().await?;
    let mut files = store::files_of_owner(&mut conn, &actor.user_id).await?;
    if policy::decides_unknown_classes(actor) {
        for f in store::files_in_state(&mut conn, "needs_manager").await? {
            if !files.iter().any(|own| own.id == f.id) {
                files.push(f);
            }
        }
    }
    let mut requests: HashMap<String, RequestRow> = HashMap::new();
    let mut views = Vec::new();
    for f in &files {
        if !requests.contains_key(&f.request_id) {
            let r = store::request(&mut conn, &f.request_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("inbound file {} has no request", f.id))?;
            requests.insert(f.request_id.clone(), r);
        }
        if let Some(r) = requests.get(&f.request_id)
            && policy::may_view_inbound(
                actor,
                &InboundFacts {
                    owner_id: &r.owner_id,
                    state: &f.state,
                },
            )
            .is_ok()
        {
            views.push(view(f, r));
        }
    }
    Ok(views)
}

async fn load(conn: &mut sqlx::AnyConnection, id: &str) -> AppResult<(FileRow, RequestRow)> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let file = store::file(conn, id).await?.ok_or(AppError::NotFound)?;
    let r = store::request(conn, &file.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((file, r))
}

pub async fn classify(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: ClassifyRequest,
    origin: &Origin,
) -> AppResult<InboundFileView> {
    let text = request.class.trim();
    let class = if text.eq_ignore_ascii_case("unknown") {
        None
    } else {
        Some(
            text.parse::<Class>()
                .map_err(|e| AppError::invalid("class_invalid", format!("{e} (or 'unknown')")))?,
        )
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let (file, r) = load(tx.conn(), id).await?;
    policy::may_classify_inbound(
        actor,
        &InboundFacts {
            owner_id: &r.owner_id,
            state: &file.state,
        },
    )?;
    let by_manager = file.state == "needs_manager";
    let (class_text, new_state) = match class {
        Some(c) => (c.as_str(), "ready"),
        None if by_manager => {
            return Err(AppError::invalid(
                "class_invalid",
                "a manager must decide: give --class I, II or III",
            ));
        }
        None => ("unknown", "needs_manager"),
    };
    store::set_class(
        tx.conn(),
        &file.id,
        class_text,
        &actor.username,
        now,
        new_state,
    )
    .await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "inbound.classify",
            object: format!("inbound_file:{}", file.id),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({
                "class": class_text,
                "state": new_state,
                "by_manager": by_manager,
                "file": file.name,
                "sha256": file.sha256,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let mut updated = file;
    updated.class = Some(class_text.to_string());
    updated.state = new_state.to_string();
    Ok(view(&updated, &r))
}

/// The decrypted content of a ready file, streamed; the digest is checked
/// on the way and the stream is cut if it does not match.
pub async fn content(
    state: Shared,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<(InboundFileView, Body)> {
    let (file, r, object) = {
        let mut conn = state.db.read().await?;
        let (file, r) = load(&mut conn, id).await?;
        policy::may_read_inbound(
            actor,
            &InboundFacts {
                owner_id: &r.owner_id,
                state: &file.state,
            },
        )?;
        let object_id = file.object_id.clone().ok_or(AppError::NotFound)?;
        let object = crate::db::transfers::object(&mut conn, &object_id)
            .await?
            .ok_or(AppError::NotFound)?;
        (file, r, object)
    };
    let now = state.clock.now_ms();
    {
        let mut tx = state.db.write().await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: "inbound.download",
                object: format!("inbound_file:{}", file.id),
                outcome: "ok",
                source: origin.0.clone(),
                detail: json!({ "file": file.name, "sha256": file.sha256, "class": file.class }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    let expected = file.sha256.clone();
    tokio::task::spawn_blocking(move || {
        let result = (|| -> std::io::Result<()> {
            let mut reader = envelope::open(
                &state.keys,
                state.store.as_ref(),
                &object.id,
                &object.wrapped_key,
            )
            .map_err(std::io::Error::other)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                if sender
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    return Ok(());
                }
            }
            if hex::encode(hasher.finalize()) != expected {
                return Err(std::io::Error::other("the stored file changed"));
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!("inbound download cut off: {e}");
            let _ = sender.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((view(&file, &r), Body::from_stream(stream)))
}

/// Rescans a held file (after the engine was fixed) and moves it on.
pub async fn rescan(
    state: Shared,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<InboundFileView> {
    policy::may_rescan(actor)?;
    let (file, object) = {
        let mut conn = state.db.read().await?;
        let (file, _) = load(&mut conn, id).await?;
        if file.state != "held" {
            return Err(AppError::Conflict(
                "wrong_state",
                format!("only held files are rescanned; this one is {}", file.state),
            ));
        }
        let object_id = file.object_id.clone().ok_or(AppError::NotFound)?;
        let object = crate::db::transfers::object(&mut conn, &object_id)
            .await?
            .ok_or(AppError::NotFound)?;
        (file, object)
    };
    let report = {
        let state = state.clone();
        let size = object.size as u64;
        tokio::task::spawn_blocking(move || {
            match envelope::open(
                &state.keys,
                state.store.as_ref(),
                &object.id,
                &object.wrapped_key,
            ) {
                Ok(reader) => state.scanner.scan_reader(reader, Some(size)),
                Err(e) => state
                    .scanner
                    .scan_reader(FailingReader(format!("{e:#}")), Some(size)),
            }
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    };
    let mut verdict = report.verdict.clone();
    if verdict.is_clean() && report.sha256 != file.sha256 {
        verdict = Verdict::Unscanned {
            reason: "the stored file does not match its digest".into(),
        };
    }
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let (current, r) = load(tx.conn(), id).await?;
    if current.state != "held" {
        return Err(AppError::Conflict(
            "wrong_state",
            "the file changed meanwhile".into(),
        ));
    }
    let new_state = state_for(&verdict);
    let detail = verdict_detail(&verdict, Some(&report));
    store::set_verdict(
        tx.conn(),
        &file.id,
        verdict_kind(&verdict),
        &detail.to_string(),
        new_state,
    )
    .await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "inbound.rescan",
            object: format!("inbound_file:{}", file.id),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({ "verdict": verdict_kind(&verdict), "verdict_detail": detail, "state": new_state }),
        },
    )
    .await?;
    if let Verdict::Infected { engine, signature } = &verdict {
        open_incident(
            tx.conn(),
            now,
            &current,
            &r,
            (engine, signature),
            &actor.username,
            origin,
        )
        .await?;
    }
    tx.commit().await?;
    let mut updated = current;
    updated.verdict = verdict_kind(&verdict).into();
    updated.state = new_state.into();
    Ok(view(&updated, &r))
}

/// A reader that fails at once: the scan of an unreadable object is
/// Unscanned with the reason.
struct FailingReader(String);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

/// An outbound file that is not clean: nothing is stored; an infected one
/// opens an incident (with the sender as the "uploader"). Returns the error
/// the sender sees.
pub async fn refuse_outbound(
    state: &AppState,
    actor: &Actor,
    transfer_id: &str,
    name: &str,
    sha256: &str,
    verdict: &Verdict,
    origin: &Origin,
) -> AppError {
    let now = state.clock.now_ms();
    let logged = async {
        let mut tx = state.db.write().await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: "transfer.upload",
                object: format!("transfer:{transfer_id}"),
                outcome: "denied",
                source: origin.0.clone(),
                detail: json!({
                    "file": name,
                    "sha256": sha256,
                    "verdict": verdict_kind(verdict),
                    "verdict_detail": verdict_detail(verdict, None),
                }),
            },
        )
        .await?;
        if let Verdict::Infected { engine, signature } = verdict {
            let incident = IncidentRow {
                id: uuid::Uuid::new_v4().to_string(),
                inbound_file_id: None,
                engine: engine.clone(),
                signature: signature.clone(),
                digest: sha256.to_string(),
                uploader: format!(
                    "{} (outbound, '{}') from {}",
                    actor.username, name, origin.0
                ),
                request_id: Some(format!("transfer:{transfer_id}")),
                state: "open".into(),
                escalated_to: None,
                note: None,
                opened_at: now,
                closed_at: None,
                closed_by: None,
            };
            store::insert_incident(tx.conn(), &incident).await?;
            audit::append(
                tx.conn(),
                now,
                Record {
                    actor: actor.username.clone(),
                    action: "incident.open",
                    object: format!("incident:{}", incident.id),
                    outcome: "ok",
                    source: origin.0.clone(),
                    detail: json!({
                        "engine": engine,
                        "signature": signature,
                        "digest": sha256,
                        "uploader": incident.uploader,
                        "request": incident.request_id,
                        "notify": "manager",
                    }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = logged {
        return e;
    }
    match verdict {
        Verdict::Infected { .. } => AppError::invalid(
            "malware_detected",
            format!(
                "'{name}' contains malware and cannot be sent; nothing was stored. \
                 The managers have been told (an incident was opened)"
            ),
        ),
        _ => AppError::invalid(
            "not_scanned",
            format!(
                "'{name}' could not be checked for malware, so it cannot be sent; nothing was stored. \
                 Try again later, and tell the system staff if it keeps happening"
            ),
        ),
    }
}

fn incident_view(i: &IncidentRow) -> IncidentView {
    IncidentView {
        id: i.id.clone(),
        file_id: i.inbound_file_id.clone(),
        engine: i.engine.clone(),
        signature: i.signature.clone(),
        digest: i.digest.clone(),
        uploader: i.uploader.clone(),
        request_id: i.request_id.clone(),
        state: i.state.clone(),
        escalated_to: i.escalated_to.clone(),
        note: i.note.clone(),
        opened_at: format_ms(i.opened_at),
        closed_at: i.closed_at.map(format_ms),
        closed_by: i.closed_by.clone(),
    }
}

pub async fn incidents(state: &AppState, actor: &Actor) -> AppResult<Vec<IncidentView>> {
    policy::may_view_incidents(actor)?;
    let mut conn = state.db.read().await?;
    Ok(store::incidents(&mut conn)
        .await?
        .iter()
        .map(incident_view)
        .collect())
}

async fn load_incident(conn: &mut sqlx::AnyConnection, id: &str) -> AppResult<IncidentRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    store::incident(conn, id).await?.ok_or(AppError::NotFound)
}

pub async fn escalate_incident(
    state: &AppState,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<IncidentView> {
    policy::may_escalate_incident(actor)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let mut incident = load_incident(tx.conn(), id).await?;
    if incident.state != "open" {
        return Err(AppError::Conflict(
            "wrong_state",
            format!(
                "this incident is {} and cannot be escalated",
                incident.state
            ),
        ));
    }
    let to = "approver,ciso";
    store::escalate_incident(tx.conn(), id, to).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "incident.escalate",
            object: format!("incident:{id}"),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({ "to": ["approver", "ciso"], "signature": incident.signature, "digest": incident.digest }),
        },
    )
    .await?;
    tx.commit().await?;
    incident.state = "escalated".into();
    incident.escalated_to = Some(to.into());
    Ok(incident_view(&incident))
}

pub async fn close_incident(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: CloseIncident,
    origin: &Origin,
) -> AppResult<IncidentView> {
    policy::may_close_incident(actor)?;
    let note = request.note.trim();
    check_text("the note", note, 2000)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let mut incident = load_incident(tx.conn(), id).await?;
    if incident.state == "closed" {
        return Err(AppError::Conflict(
            "wrong_state",
            "this incident is already closed".into(),
        ));
    }
    store::close_incident(tx.conn(), id, note, &actor.username, now).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: "incident.close",
            object: format!("incident:{id}"),
            outcome: "ok",
            source: origin.0.clone(),
            detail: json!({ "note": note }),
        },
    )
    .await?;
    tx.commit().await?;
    incident.state = "closed".into();
    incident.note = Some(note.into());
    incident.closed_at = Some(now);
    incident.closed_by = Some(actor.username.clone());
    Ok(incident_view(&incident))
}

/// Each engine's version and signature age (engines are asked over the
/// network, so on a blocking thread).
pub async fn scan_status(state: &Shared, actor: &Actor) -> AppResult<Vec<EngineStatus>> {
    policy::may_view_scan_status(actor)?;
    let scanner = state.scanner.clone();
    let now = state.clock.now();
    tokio::task::spawn_blocking(move || scanner.status(now))
        .await
        .map_err(|e| AppError::Internal(e.into()))
}
