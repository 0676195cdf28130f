//! Streaming a transfer's files in and submitting them. Bytes are hashed,
//! scanned and encrypted while they arrive, never held whole in memory;
//! only a clean file is stored (fail closed, policy 6.(4)②). Submission
//! binds the transfer to the digests the sender's computer computed, and
//! releases class III at once.

use axum::body::Body;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use sekisho_proto::audit::Action;
use sekisho_proto::{
    FileEntry, RecipientPassphrase, SubmitRequest, SubmitResponse, TransferState, content_digest,
};
use serde_json::json;

use super::{changed_meanwhile, decide, load, load_on, record, transition};
use crate::db::Conn;
use crate::db::audit;
use crate::db::objects::ObjectRow;
use crate::db::transfers::{self as store, FileRow, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Grant, perm};
use crate::service::ingest::{Finished, Ingest};
use crate::service::scanning::{self, RefusedFile};
use crate::service::{Origin, notify};
use crate::state::{AppState, Shared};
use crate::transfer_state::Event;

type UploadGrant = Grant<perm::Upload, TransferRow>;

/// Streams one file's bytes into the store: hashed and encrypted on a
/// blocking thread while the next chunks arrive, never held in memory.
pub async fn upload(
    state: Shared,
    actor: &Actor,
    id: &str,
    index: u32,
    declared_length: Option<u64>,
    body: Body,
    origin: &Origin,
) -> AppResult<FileEntry> {
    let grant = policy::upload(actor, load(&state, id).await?)?;
    let slot = empty_slot(&state, &grant, index).await?;
    check_declared_length(&slot, declared_length)?;
    let finished = receive(&state, &slot, body).await?;
    if let Some(verdict) = finished.verdict()
        && !verdict.is_clean()
    {
        finished.discard(&state);
        let file = RefusedFile {
            name: &slot.name,
            sha256: &finished.sealed.sha256,
            verdict: &verdict,
        };
        return Err(scanning::refuse_outbound(&state, &grant, id, file, origin).await);
    }
    record_upload(&state, &grant, &slot, finished, origin).await
}

/// The file slot `index` of the granted transfer, if nothing was uploaded
/// into it yet.
async fn empty_slot(state: &AppState, grant: &UploadGrant, index: u32) -> AppResult<FileRow> {
    let mut conn = state.db.read().await?;
    let slot = store::files(&mut conn, &grant.object().id)
        .await?
        .into_iter()
        .find(|f| f.idx == i64::from(index))
        .ok_or(AppError::NotFound)?;
    if slot.object_id.is_some() {
        return Err(already_uploaded(&slot));
    }
    Ok(slot)
}

fn already_uploaded(slot: &FileRow) -> AppError {
    AppError::Conflict(
        "already_uploaded",
        format!(
            "'{}' was already uploaded; a file cannot be replaced (revoke the transfer and send again to change it)",
            slot.name
        ),
    )
}

/// A length the client announced must be the size it declared at creation.
fn check_declared_length(slot: &FileRow, declared_length: Option<u64>) -> AppResult<()> {
    let expected = slot.size as u64;
    match declared_length {
        Some(length) if length != expected => Err(AppError::invalid(
            "size_mismatch",
            format!(
                "'{}' was announced as {expected} bytes but {length} bytes are being sent",
                slot.name
            ),
        )),
        _ => Ok(()),
    }
}

/// Pumps the body into the sealing thread and, unless switched off, the
/// scanner. Anything but exactly the declared bytes aborts and keeps nothing.
async fn receive(state: &Shared, slot: &FileRow, body: Body) -> AppResult<Finished> {
    let expected = slot.size as u64;
    let mut ingest = Ingest::start(state, state.config.scan.scan_outbound, Some(expected));
    let mut stream = body.into_data_stream();
    let mut failure: Option<AppError> = None;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            failure = Some(AppError::invalid(
                "upload_interrupted",
                "the upload was interrupted; send the file again",
            ));
            break;
        };
        if ingest.received + chunk.len() as u64 > expected {
            failure = Some(AppError::TooLarge(format!(
                "'{}' is larger than the {expected} bytes announced",
                slot.name
            )));
            break;
        }
        if !ingest.push(&chunk).await {
            // The store's own error (a full disk: 507) is the answer.
            return Err(ingest.failure().await.into());
        }
    }
    let received = ingest.received;
    if failure.is_none() && received != expected {
        failure = Some(AppError::invalid(
            "upload_incomplete",
            format!(
                "'{}' arrived with {received} of {expected} bytes; send it again",
                slot.name
            ),
        ));
    }
    if let Some(failure) = failure {
        ingest.abort().await;
        return Err(failure);
    }
    Ok(ingest.finish().await?)
}

/// Records the stored object in its slot and logs it, on the transfer as it
/// is now (it may have been revoked while the bytes arrived). Not recorded
/// means not accepted: the bytes are removed at once (start-up recovery
/// would also find them).
async fn record_upload(
    state: &AppState,
    grant: &UploadGrant,
    slot: &FileRow,
    finished: Finished,
    origin: &Origin,
) -> AppResult<FileEntry> {
    let sealed = finished.sealed;
    let object = ObjectRow {
        id: finished.object_id,
        wrapped_key: sealed.wrapped_key,
        size: sealed.size as i64,
        sha256: sealed.sha256,
    };
    let recorded = async {
        let now = state.clock.now_ms();
        let mut tx = state.db.write().await?;
        let current = policy::upload(grant.actor(), load_on(tx.conn(), &grant.object().id).await?)?;
        if !store::attach_object(tx.conn(), &current.object().id, slot.idx, &object, now).await? {
            return Err(already_uploaded(slot));
        }
        let detail = json!({ "file": slot.name, "size": sealed.size, "sha256": object.sha256 });
        audit::append(
            tx.conn(),
            now,
            record(&current, Action::TransferUpload, origin, detail),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = recorded {
        crate::service::ingest::discard_object(state, &object.id);
        return Err(e);
    }
    Ok(FileEntry {
        name: slot.name.clone(),
        size: sealed.size,
        sha256: object.sha256,
    })
}

/// Closes the upload: every file must be in, with the digest the sender's
/// computer computed. Class III is released at once; the rest waits for the
/// approver. The generated passphrases are shown here, once.
pub async fn submit(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: SubmitRequest,
    origin: &Origin,
) -> AppResult<SubmitResponse> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let grant = policy::upload(actor, load_on(tx.conn(), id).await?)?;
    let entries = verified_files(tx.conn(), &grant, &request).await?;
    let digest = content_digest(
        entries
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    let transfer = grant.object();
    let needs_approval = super::facts(transfer).needs_approval;
    let next = transition(transfer, Event::Submitted { needs_approval })?;
    store::set_content_digest(tx.conn(), id, &digest).await?;
    if !store::set_state(tx.conn(), id, TransferState::Uploading, next, now).await? {
        return Err(changed_meanwhile());
    }
    let detail = json!({
        "class": transfer.class.as_str(),
        "content_digest": digest,
        "files": entries,
        "awaiting": transfer.approval_role.map(|r| r.as_str()),
    });
    audit::append(
        tx.conn(),
        now,
        record(&grant, Action::TransferSubmit, origin, detail),
    )
    .await?;
    if next == TransferState::PendingApproval {
        notify::queue_approval_waiting(state, tx.conn(), now, transfer).await?;
    }
    if next == TransferState::Released {
        let detail = json!({
            "class": transfer.class.as_str(),
            "content_digest": digest,
            "approval": "not required (class III)",
        });
        decide::release(state, tx.conn(), &grant, now, origin, detail).await?;
    }
    let passphrases = passphrases(state, tx.conn(), &grant).await?;
    tx.commit().await?;
    Ok(SubmitResponse {
        transfer: super::view(state, actor, id).await?,
        passphrases,
    })
}

/// Every slot's stored digest, checked against the one the client claims.
async fn verified_files(
    conn: &mut Conn,
    grant: &UploadGrant,
    request: &SubmitRequest,
) -> AppResult<Vec<FileEntry>> {
    let mut entries = Vec::new();
    for file in store::files(conn, &grant.object().id).await? {
        let Some(stored) = file.sha256.as_deref() else {
            return Err(AppError::invalid(
                "upload_incomplete",
                format!("'{}' has not been uploaded yet", file.name),
            ));
        };
        let claimed = request
            .files
            .iter()
            .find(|f| i64::from(f.index) == file.idx)
            .map(|f| f.sha256.to_ascii_lowercase());
        if claimed.as_deref() != Some(stored) {
            return Err(AppError::Conflict(
                "digest_mismatch",
                format!(
                    "'{}' changed on the way (the gateway received different bytes from those your computer sent); revoke this transfer and send again",
                    file.name
                ),
            ));
        }
        entries.push(file.entry());
    }
    Ok(entries)
}

/// The passphrases generated for recipients without keys, unwrapped for
/// the sender to pass on by another channel.
async fn passphrases(
    state: &AppState,
    conn: &mut Conn,
    grant: &UploadGrant,
) -> AppResult<Vec<RecipientPassphrase>> {
    let mut out = Vec::new();
    for link in store::links(conn, &grant.object().id).await? {
        if let Some(wrapped) = &link.passphrase_wrapped {
            out.push(RecipientPassphrase {
                recipient: link.name.clone(),
                passphrase: state
                    .keys
                    .unwrap_string(wrapped)?
                    .expose_secret()
                    .to_string(),
            });
        }
    }
    Ok(out)
}
