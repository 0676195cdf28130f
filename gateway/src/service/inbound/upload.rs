//! Receiving files through a request: an outside party's link or a member
//! of staff's intake. Every part streams into the store and the scanner at
//! once (never held in memory); the upload is all or nothing: every part is
//! stored and scanned first, then recorded in one transaction, and a refused
//! upload leaves nothing behind.

use std::time::Duration;

use axum::extract::Multipart;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::inbound::{UploadAnswer, UploadOutcome};
use sekisho_proto::names;
use sekisho_proto::vocab::{InboundState, Outcome, UploadOutcomeKind};
use serde_json::json;

use super::limits::{self, Bound, Room};
use super::requests::{find, unusable};
use super::sanitise;
use crate::db::audit::{self, Record};
use crate::db::inbound::{self as store, FileRow, RequestRow};
use crate::error::{AppError, AppResult};
use crate::mail::notice::Arrival;
use crate::policy::{self, Actor};
use crate::scan::Verdict;
use crate::service::incidents::{self, Finding};
use crate::service::ingest::{Finished, Ingest};
use crate::service::{Origin, notify};
use crate::state::{AppState, Shared};

/// The multipart field that carries files.
pub const FILE_FIELD: &str = "file";

/// The incident finding for an infected inbound file: who brought it, from where.
pub(super) fn infected_finding<'a>(
    file: &'a FileRow,
    r: &RequestRow,
    engine: &'a str,
    signature: &'a str,
) -> Finding<'a> {
    Finding {
        engine,
        signature,
        digest: &file.sha256,
        uploader: format!("{} from {}", super::sender_label(r), file.uploaded_from),
        request_id: Some(r.id.clone()),
        file_id: Some(&file.id),
    }
}

async fn log_refusal(
    state: &AppState,
    r: &RequestRow,
    uploader: &str,
    reason: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    audit::append_alone(
        &state.db,
        now,
        Record {
            actor: uploader.to_string(),
            action: Action::InboundRefused,
            object: ObjectRef::UploadRequest(r.id.to_string()),
            outcome: Outcome::Denied,
            source: origin.0.clone(),
            detail: json!({ "reason": reason }),
        },
    )
    .await?;
    Ok(())
}

/// `POST /u/{token}`: an outside party uploads through their link.
/// `declared` is the request's `Content-Length`, when it gave one.
pub async fn receive_by_link(
    state: Shared,
    token_text: &str,
    mut multipart: Multipart,
    declared: Option<u64>,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let r = match find(&state, token_text).await {
        Ok(r) => r,
        Err(e) => {
            drain_before_refusing(&mut multipart).await;
            return Err(e);
        }
    };
    let uploader = format!("uploader:{}", r.sender_name);
    if let Some(reason) = unusable(&r, state.clock.now_ms()) {
        drain_before_refusing(&mut multipart).await;
        log_refusal(&state, &r, &uploader, &reason, origin).await?;
        return Err(AppError::Gone(reason));
    }
    receive(state, r, uploader, multipart, declared, origin).await
}

/// Bytes of a refused upload read (and dropped) before answering.
const DRAIN_BEFORE_REFUSING: usize = 4 << 20;
/// How long the draining waits for the next bytes, and in all: a client
/// that declared a body and sends nothing gets its refusal at once.
const DRAIN_IDLE: Duration = Duration::from_millis(500);
const DRAIN_TOTAL: Duration = Duration::from_secs(3);

/// Reads a refused upload to its end, within bounds, before the refusal is
/// sent: a server that closes a connection with unread request bytes makes
/// its TCP stack reset it, and the sender's browser or curl then shows
/// "connection reset" instead of our message. Larger or slower uploads are
/// cut at the bound (they get the reset; reading gigabytes for nothing is
/// worse). Nothing read is kept.
async fn drain_before_refusing(multipart: &mut Multipart) {
    let started = tokio::time::Instant::now();
    let mut read = 0usize;
    let within = |started: tokio::time::Instant| {
        DRAIN_IDLE.min(DRAIN_TOTAL.saturating_sub(started.elapsed()))
    };
    while let Ok(Ok(Some(mut field))) =
        tokio::time::timeout(within(started), multipart.next_field()).await
    {
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(within(started), field.chunk()).await {
            read += chunk.len();
            if read > DRAIN_BEFORE_REFUSING {
                return;
            }
        }
        if started.elapsed() >= DRAIN_TOTAL {
            return;
        }
    }
}

/// `POST /api/v1/inbox/requests/{id}/files`: a member of staff's intake.
pub async fn receive_intake(
    state: Shared,
    actor: &Actor,
    id: &str,
    mut multipart: Multipart,
    declared: Option<u64>,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let admitted = async {
        policy::may_request_inbound(actor)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(AppError::NotFound);
        }
        let r = {
            let mut conn = state.db.read().await?;
            store::request(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound)?
        };
        let grant = policy::intake(actor, r)?;
        if let Some(reason) = unusable(grant.object(), state.clock.now_ms()) {
            return Err(AppError::Gone(reason));
        }
        Ok(grant)
    }
    .await;
    let grant = match admitted {
        Ok(grant) => grant,
        Err(refusal) => {
            // As for links: the refusal must reach the client, not a reset.
            drain_before_refusing(&mut multipart).await;
            return Err(refusal);
        }
    };
    let uploader = grant.actor().username.clone();
    receive(
        state,
        grant.into_object(),
        uploader,
        multipart,
        declared,
        origin,
    )
    .await
}

struct Part {
    name: String,
    finished: Finished,
    /// Sanitisation, for a clean file (after every part was received).
    sanitised: Option<sanitise::Done>,
}

fn discard_all(state: &Shared, received: &[Part]) {
    for r in received {
        r.finished.discard(state);
        if let Some(done) = &r.sanitised {
            done.discard(state);
        }
    }
}

/// The refusal's text for the audit event.
fn refusal_reason(refusal: &AppError) -> String {
    match refusal {
        AppError::Invalid(_, m) | AppError::TooLarge(m) | AppError::QuotaFull(m) => m.clone(),
        AppError::UploadsInProgress(limit) => {
            format!("{limit} upload(s) were already running through this request")
        }
        _ => "the upload failed".to_string(),
    }
}

async fn receive(
    state: Shared,
    r: RequestRow,
    uploader: String,
    mut multipart: Multipart,
    declared: Option<u64>,
    origin: &Origin,
) -> AppResult<UploadAnswer> {
    let files_left = r.max_files - r.files_received;
    let bytes_left = (r.max_bytes - r.bytes_received).max(0) as u64;
    // Held until this function returns, whatever the outcome.
    let _slot = match state.upload_slots.take(&r.id, &state.config.inbound) {
        Ok(slot) => slot,
        Err(busy) => {
            drain_before_refusing(&mut multipart).await;
            log_refusal(&state, &r, &uploader, &refusal_reason(&busy), origin).await?;
            return Err(busy);
        }
    };
    let (requester_room, gateway_room) = {
        let mut conn = state.db.read().await?;
        limits::quota_room(&state, &mut conn, &r.owner_id).await?
    };
    let room = Room::tightest(bytes_left, requester_room, gateway_room);
    // Nothing is stored or given a key when the declared length cannot
    // fit: the refusal goes out after at most a bounded drain.
    if let Err(refusal) = room.admit_declared(declared, files_left) {
        drain_before_refusing(&mut multipart).await;
        log_refusal(&state, &r, &uploader, &refusal_reason(&refusal), origin).await?;
        return Err(refusal);
    }
    let mut received: Vec<Part> = Vec::new();
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
        let mut store_stopped = false;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > room.bytes {
                        failure = Some(room.bound.refusal());
                        break;
                    }
                    if ingest.received + chunk.len() as u64 > per_file {
                        failure = Some(Bound::Link.refusal());
                        break;
                    }
                    if !ingest.push(&chunk).await {
                        store_stopped = true;
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
        if store_stopped {
            // The store's own error (a full disk: 507) is the answer.
            break Some(ingest.failure().await.into());
        }
        if let Some(failure) = failure {
            ingest.abort().await;
            break Some(failure);
        }
        match ingest.finish().await {
            Ok(finished) => received.push(Part {
                name,
                finished,
                sanitised: None,
            }),
            Err(e) => break Some(e.into()),
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
        drain_before_refusing(&mut multipart).await;
        log_refusal(&state, &r, &uploader, &refusal_reason(&refusal), origin).await?;
        return Err(refusal);
    }
    // 6.(4)②: clean files are rebuilt without active content before anyone
    // inside sees them; the originals stay as they were stored.
    let sanitising = sanitise::applies(&state.config.sanitise, &r);
    for part in &mut received {
        if !part.finished.verdict().is_some_and(|v| v.is_clean()) {
            continue;
        }
        part.sanitised = Some(if sanitising {
            let f = &part.finished;
            sanitise::run(&state, &f.object_id, &f.sealed.wrapped_key, &part.name).await
        } else {
            sanitise::off()
        });
    }
    match record(&state, &r, &uploader, &received, origin).await {
        Ok(answer) => Ok(answer),
        Err(e) => {
            discard_all(&state, &received);
            if matches!(e, AppError::QuotaFull(_)) {
                log_refusal(&state, &r, &uploader, &refusal_reason(&e), origin).await?;
            }
            Err(e)
        }
    }
}

/// What the uploader is told: never the signature, nor what the
/// sanitiser removed.
fn outcome_for(
    name: &str,
    verdict: &Verdict,
    state: InboundState,
    size: u64,
    sha256: &str,
) -> UploadOutcome {
    let outcome = match state {
        InboundState::NotSanitised => UploadOutcomeKind::Held,
        _ => verdict.kind().upload_outcome(),
    };
    let message = match outcome {
        _ if state == InboundState::NotSanitised => {
            "保留：無害化できない形式または内容です。Held: the file could not be made safe (sanitised); the requester's office will decide."
        }
        UploadOutcomeKind::Accepted => {
            "受け付けました。Accepted: the file was checked and passed to the requester."
        }
        UploadOutcomeKind::Rejected => {
            "拒否されました：マルウェアが検出されました。Rejected: malware detected."
        }
        UploadOutcomeKind::Held => {
            "保留：検査できませんでした。Held: the file could not be checked; it is kept until it can be."
        }
    };
    UploadOutcome {
        name: name.to_string(),
        outcome,
        message: message.into(),
        size,
        sha256: sha256.to_string(),
    }
}

async fn record(
    state: &Shared,
    r: &RequestRow,
    uploader: &str,
    received: &[Part],
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
    // Two uploads that each fitted alone cannot both take the last room.
    let (requester_room, gateway_room) = limits::quota_room(state, tx.conn(), &r.owner_id).await?;
    if bytes > requester_room {
        return Err(Bound::Requester.refusal());
    }
    if bytes > gateway_room {
        return Err(Bound::Gateway.refusal());
    }
    let mut outcomes = Vec::new();
    let mut arrivals = Vec::new();
    for item in received {
        let f = &item.finished;
        let verdict = f.verdict().unwrap_or(Verdict::Unscanned {
            reason: "no scan was made".into(),
        });
        let sanitised = item.sanitised.as_ref();
        if let Some(done) = sanitised {
            done.record_copy(tx.conn(), now).await?;
        }
        let file_state = verdict
            .kind()
            .initial_state()
            .after_sanitising(sanitised.map(|d| d.sanitised.outcome));
        crate::db::objects::insert(
            tx.conn(),
            &crate::db::objects::ObjectRow {
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
            verdict: verdict.kind(),
            verdict_detail: verdict.detail(f.report.as_ref()).to_string(),
            class: None,
            classified_by: None,
            classified_at: None,
            state: file_state,
            uploaded_from: origin.0.clone(),
            created_at: now,
            sanitised: sanitised.map(|d| d.sanitised.clone()),
        };
        store::insert_file(tx.conn(), &row).await?;
        store::add_received(tx.conn(), &r.id, row.size).await?;
        arrivals.push(Arrival {
            size: f.sealed.size,
            state: row.state,
            sanitised: sanitised.is_some_and(|d| d.sanitised.copy.is_some()),
        });
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: uploader.to_string(),
                action: Action::InboundUpload,
                object: ObjectRef::InboundFile(row.id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({
                    "request": r.id,
                    "file": row.name,
                    "size": row.size,
                    "sha256": row.sha256,
                    "verdict": row.verdict,
                    "verdict_detail": verdict.detail(f.report.as_ref()),
                    "state": row.state,
                    "sanitised": sanitised.map(|d| json!({
                        "outcome": d.sanitised.outcome,
                        "report": d.report_json(),
                        "copy": d.sanitised.copy.as_ref().map(|c| json!({
                            "name": c.name, "size": c.size, "sha256": c.sha256,
                        })),
                    })),
                }),
            },
        )
        .await?;
        if let Verdict::Infected { engine, signature } = &verdict {
            let finding = infected_finding(&row, r, engine, signature);
            incidents::open(state, tx.conn(), now, finding, uploader, origin).await?;
        }
        outcomes.push(outcome_for(
            &row.name,
            &verdict,
            row.state,
            f.sealed.size,
            &f.sealed.sha256,
        ));
    }
    notify::queue_inbound_arrived(state, tx.conn(), now, r, uploader, arrivals).await?;
    tx.commit().await?;
    Ok(UploadAnswer { files: outcomes })
}
