//! Outbound transfers: create, stream files in, submit, decide, release,
//! revoke (policy 2.(2)⑦⑨, 6.(1)⑧⑨). State changes follow
//! [`crate::transfer_state`]; permissions come from [`crate::policy`].

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use std::collections::HashSet;

use axum::body::Body;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use sekisho_proto::{
    ApproveRequest, Class, CreateTransferRequest, Decision, DecisionView, FileEntry, KeyKind,
    LinkState, LinkStatus, LinkView, RecipientPassphrase, RejectRequest, SubmitRequest,
    SubmitResponse, TransferCreated, TransferRecipientView, TransferState, TransferSummary,
    TransferView, UploadSlot, content_digest, names,
};
use serde_json::json;

use super::recipients::fingerprints;
use super::{Origin, accounts, check_text};
use crate::auth::token;
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::recipients;
use crate::db::transfers::{self as store, DecisionRow, LinkRow, ObjectRow, TransferRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, TransferFacts};
use crate::state::{AppState, Shared};
use crate::transfer_state::{self, Event};

pub fn facts(t: &TransferRow) -> TransferFacts<'_> {
    TransferFacts {
        sender_id: &t.sender_id,
        sender_role: t.sender_role,
        class: t.class,
        state: t.state,
        needs_approval: t.class.needs_approval() || t.carry_out.is_some(),
    }
}

impl policy::TransferSubject for TransferRow {
    fn transfer_facts(&self) -> TransferFacts<'_> {
        facts(self)
    }
}

impl policy::CarryOutSubject for TransferRow {
    fn carry_out_facts(&self) -> policy::CarryOutFacts<'_> {
        policy::CarryOutFacts {
            transfer: facts(self),
            is_carry_out: self.carry_out.is_some(),
        }
    }
}

/// Parses a return date: RFC 3339, or YYYY-MM-DD meaning the end of that
/// day in Japan (23:59:59 JST), which is what a clerk means by "by the 3rd".
pub fn parse_return_by(text: &str) -> AppResult<i64> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(crate::clock::to_ms(t));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| {
        AppError::invalid(
            "bad_return_by",
            format!("'{text}' is not a date: use YYYY-MM-DD (e.g. 2026-12-03)"),
        )
    })?;
    let end_of_day_jst = date
        .with_hms(23, 59, 59)
        .map_err(|_| AppError::invalid("bad_return_by", "not a valid date"))?
        .assume_offset(time::macros::offset!(+9));
    Ok(crate::clock::to_ms(end_of_day_jst))
}

fn transition(t: &TransferRow, event: Event) -> AppResult<TransferState> {
    transfer_state::next(t.state, event).ok_or_else(|| {
        AppError::Conflict(
            "wrong_state",
            format!(
                "this transfer is {} and cannot change that way",
                t.state.label()
            ),
        )
    })
}

async fn load(state: &AppState, id: &str) -> AppResult<TransferRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let mut conn = state.db.read().await?;
    store::get(&mut conn, id).await?.ok_or(AppError::NotFound)
}

fn parse_class(text: Option<&str>) -> AppResult<Class> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::invalid(
                "class_missing",
                "every file needs a classification (重要性): add --class I, II or III",
            )
        })?;
    text.parse::<Class>()
        .map_err(|e| AppError::invalid("class_invalid", e.to_string()))
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    request: CreateTransferRequest,
    origin: &Origin,
) -> AppResult<TransferCreated> {
    policy::may_send(actor)?;
    let mut class = parse_class(request.class.as_deref())?;
    // 2.(2)⑤(ウ): a bundle is handled at the highest class of its files.
    for file in &request.files {
        if let Some(own) = file.class.as_deref() {
            class = class.max(parse_class(Some(own))?);
        }
    }
    let purpose = request.purpose.as_deref().map(str::trim).unwrap_or("");
    if purpose.is_empty() {
        return Err(AppError::invalid(
            "purpose_missing",
            "say what the files are for: add --purpose \"...\" (policy 2.(2)⑤(ア): business use only)",
        ));
    }
    check_text("the purpose", purpose, 1000)?;
    let limits = &state.config.limits;
    if request.files.is_empty() {
        return Err(AppError::invalid(
            "no_files",
            "name at least one file to send",
        ));
    }
    if request.files.len() > limits.max_files_per_transfer as usize {
        return Err(AppError::invalid(
            "too_many_files",
            format!(
                "at most {} files can be sent at once",
                limits.max_files_per_transfer
            ),
        ));
    }
    let mut seen = HashSet::new();
    for file in &request.files {
        names::check_file_name(&file.name).map_err(|e| {
            AppError::invalid(
                "bad_file_name",
                format!("'{}': {e}", file.name.escape_debug()),
            )
        })?;
        if !seen.insert(file.name.as_str()) {
            return Err(AppError::invalid(
                "duplicate_file_name",
                format!("two files are named '{}'", file.name),
            ));
        }
        if file.size > limits.max_file_bytes {
            return Err(AppError::TooLarge(format!(
                "'{}' is larger than the gateway accepts ({} bytes at most)",
                file.name, limits.max_file_bytes
            )));
        }
    }
    let carry_out = match request.medium.as_deref() {
        Some(medium) => {
            let return_by = request.return_by.as_deref().ok_or_else(|| {
                AppError::invalid(
                    "return_by_missing",
                    "say when the medium comes back: --return-by YYYY-MM-DD",
                )
            })?;
            let return_by = parse_return_by(return_by)?;
            if return_by <= state.clock.now_ms() {
                return Err(AppError::invalid(
                    "return_by_past",
                    "the return date is already past",
                ));
            }
            if !request.recipients.is_empty() {
                return Err(AppError::invalid(
                    "bad_request",
                    "a carry-out has a medium, not recipients",
                ));
            }
            Some((medium.to_string(), return_by))
        }
        None => None,
    };
    if carry_out.is_none() && request.recipients.is_empty() {
        return Err(AppError::invalid(
            "no_recipient",
            "name a recipient from your address book: --to NAME",
        ));
    }
    if request.recipients.len() > limits.max_recipients_per_transfer as usize {
        return Err(AppError::invalid(
            "too_many_recipients",
            format!(
                "at most {} recipients per transfer",
                limits.max_recipients_per_transfer
            ),
        ));
    }

    let now = state.clock.now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    // 5.(1)③: every carry-out needs permission, whatever its class.
    let approval_role = (class.needs_approval() || carry_out.is_some())
        .then(|| policy::approver_role_for(actor.role));
    let mut tx = state.db.write().await?;
    let mut links = Vec::new();
    if let Some((medium_id, _)) = &carry_out {
        let Some(medium) = crate::db::media::get(tx.conn(), medium_id).await? else {
            return Err(AppError::invalid(
                "medium_unregistered",
                format!(
                    "medium '{medium_id}' is not in the ledger; only registered media may be used (ask the system staff)"
                ),
            ));
        };
        if medium.state == sekisho_proto::media::MediumState::Disposed {
            return Err(AppError::invalid(
                "medium_disposed",
                format!("medium '{medium_id}' was disposed of and cannot be used"),
            ));
        }
        if !store::open_carry_outs(tx.conn(), medium_id)
            .await?
            .is_empty()
        {
            return Err(AppError::Conflict(
                "medium_busy",
                format!(
                    "medium '{medium_id}' already has an open carry-out; it must be returned first"
                ),
            ));
        }
        // The medium is the "recipient": I/II are locked with a passphrase
        // shown once to the requester, or to an age key given (2.(2)⑧(ア)).
        let medium_key = match request.medium_key.as_deref().map(str::trim) {
            Some(key) => {
                super::recipients::age_recipients(KeyKind::Age, Some(key))
                    .map_err(|e| AppError::invalid("bad_key", format!("{e:#}")))?;
                Some(key.to_string())
            }
            None => None,
        };
        links.push(LinkRow {
            id: uuid::Uuid::new_v4().to_string(),
            transfer_id: id.clone(),
            position: 0,
            name: medium.id.clone(),
            organisation: medium.section.clone(),
            email: String::new(),
            key_kind: if medium_key.is_some() {
                KeyKind::Age
            } else {
                KeyKind::Passphrase
            },
            public_key: medium_key.clone(),
            passphrase_wrapped: if class.needs_approval() && medium_key.is_none() {
                Some(state.keys.wrap(token::generate_passphrase().as_bytes())?)
            } else {
                None
            },
            nonce: token::generate().to_string(),
            state: None,
            expires_at: None,
            max_downloads: i64::from(state.config.links.max_downloads),
            downloads: 0,
        });
    }
    let mut names_seen = HashSet::new();
    for (position, name) in request.recipients.iter().enumerate() {
        if !names_seen.insert(name.as_str()) {
            return Err(AppError::invalid(
                "duplicate_recipient",
                format!("'{name}' is named twice"),
            ));
        }
        let Some(r) = recipients::by_owner_and_name(tx.conn(), &actor.user_id, name).await? else {
            return Err(AppError::invalid(
                "recipient_unknown",
                format!(
                    "'{name}' is not in your address book; add it with `sekisho recipient add`"
                ),
            ));
        };
        // A passphrase is made only where it will be used: I/II content for
        // a recipient without keys. Class III leaves as a plain package.
        let passphrase_wrapped = if r.key_kind == KeyKind::Passphrase && class.needs_approval() {
            Some(state.keys.wrap(token::generate_passphrase().as_bytes())?)
        } else {
            None
        };
        links.push(LinkRow {
            id: uuid::Uuid::new_v4().to_string(),
            transfer_id: id.clone(),
            position: position as i64,
            name: r.name,
            organisation: r.organisation,
            email: r.email,
            key_kind: r.key_kind,
            public_key: r.public_key,
            passphrase_wrapped,
            nonce: token::generate().to_string(),
            state: None,
            expires_at: None,
            max_downloads: i64::from(state.config.links.max_downloads),
            downloads: 0,
        });
    }
    store::insert(
        tx.conn(),
        &store::NewTransfer {
            id: &id,
            sender_id: &actor.user_id,
            class,
            purpose,
            approval_role,
            created_at: now,
            carry_out: carry_out.as_ref().map(|(m, r)| (m.as_str(), *r)),
        },
    )
    .await?;
    let mut uploads = Vec::new();
    for (index, file) in request.files.iter().enumerate() {
        store::insert_file(tx.conn(), &id, index as i64, &file.name, file.size as i64).await?;
        uploads.push(UploadSlot {
            index: index as u32,
            name: file.name.clone(),
            size: file.size,
            path: format!("/api/v1/transfers/{id}/files/{index}"),
        });
    }
    for link in &links {
        store::insert_link(tx.conn(), link).await?;
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: if carry_out.is_some() { Action::MediaRequest } else { Action::TransferCreate },
            object: ObjectRef::Transfer(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "class": class.as_str(),
                "purpose": purpose,
                "medium": carry_out.as_ref().map(|(m, _)| m),
                "return_by": carry_out.as_ref().map(|(_, r)| format_ms(*r)),
                "recipients": links.iter().map(|l| json!({
                    "name": l.name, "organisation": l.organisation, "email": l.email,
                    "fingerprints": fingerprints(l.key_kind, l.public_key.as_deref()),
                })).collect::<Vec<_>>(),
                "files": request.files.iter().map(|f| json!({"name": f.name, "size": f.size})).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(TransferCreated { id, class, uploads })
}

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
    let transfer = load(&state, id).await?;
    let grant = policy::upload(actor, transfer)?;
    let slot = {
        let mut conn = state.db.read().await?;
        store::files(&mut conn, id)
            .await?
            .into_iter()
            .find(|f| f.idx == i64::from(index))
            .ok_or(AppError::NotFound)?
    };
    if slot.object_id.is_some() {
        return Err(AppError::Conflict(
            "already_uploaded",
            format!("'{}' was already uploaded", slot.name),
        ));
    }
    let expected = slot.size as u64;
    if let Some(length) = declared_length.filter(|l| *l != expected) {
        return Err(AppError::invalid(
            "size_mismatch",
            format!(
                "'{}' was announced as {expected} bytes but {length} bytes are being sent",
                slot.name
            ),
        ));
    }

    // The same pieces go to the sealing thread and, unless switched off,
    // to the scanner (fail closed: only a clean file is stored).
    let scan = state.config.scan.scan_outbound;
    let mut ingest = super::ingest::Ingest::start(&state, scan, Some(expected));
    let mut stream = body.into_data_stream();
    let mut failure: Option<AppError> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                failure = Some(AppError::invalid(
                    "upload_interrupted",
                    "the upload was interrupted; send the file again",
                ));
                break;
            }
        };
        if ingest.received + chunk.len() as u64 > expected {
            failure = Some(AppError::TooLarge(format!(
                "'{}' is larger than the {expected} bytes announced",
                slot.name
            )));
            break;
        }
        if !ingest.push(&chunk).await {
            failure = Some(AppError::Internal(anyhow::anyhow!(
                "the store stopped accepting the upload"
            )));
            break;
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
    let finished = ingest.finish().await?;
    let object_id = finished.object_id.clone();
    if let Some(verdict) = finished.verdict()
        && !verdict.is_clean()
    {
        finished.discard(&state);
        let file = super::scanning::RefusedFile {
            name: &slot.name,
            sha256: &finished.sealed.sha256,
            verdict: &verdict,
        };
        return Err(super::scanning::refuse_outbound(&state, &grant, id, file, origin).await);
    }
    let sealed = finished.sealed;

    let now = state.clock.now_ms();
    let object = ObjectRow {
        id: object_id.clone(),
        wrapped_key: sealed.wrapped_key,
        size: sealed.size as i64,
        sha256: sealed.sha256.clone(),
    };
    let recorded = async {
        let mut tx = state.db.write().await?;
        let current = store::get(tx.conn(), id).await?.ok_or(AppError::NotFound)?;
        policy::may_upload(actor, &facts(&current))?;
        store::attach_object(tx.conn(), id, slot.idx, &object, now)
            .await
            .map_err(|e| AppError::Conflict("already_uploaded", format!("{e:#}")))?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::TransferUpload,
                object: ObjectRef::Transfer(id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({ "file": slot.name, "size": sealed.size, "sha256": sealed.sha256 }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = recorded {
        // Not recorded means not accepted: remove the bytes now (start-up
        // recovery would also find them).
        let _ = state.store.delete(&object_id);
        return Err(e);
    }
    Ok(FileEntry {
        name: slot.name,
        size: sealed.size,
        sha256: sealed.sha256,
    })
}

/// Activates every link of a transfer at release time.
async fn release_links(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    transfer_id: &str,
    now: i64,
) -> AppResult<()> {
    let expires_at = now + i64::from(state.config.links.expiry_hours) * 3_600_000;
    for link in store::links(conn, transfer_id).await? {
        let token = state.keys.link_token(&link.id, &link.nonce);
        store::activate_link(conn, &link.id, &token::hash(&token), expires_at).await?;
    }
    Ok(())
}

pub async fn submit(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: SubmitRequest,
    origin: &Origin,
) -> AppResult<SubmitResponse> {
    let transfer = load(state, id).await?;
    policy::may_upload(actor, &facts(&transfer))?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let files = store::files(tx.conn(), id).await?;
    let mut entries = Vec::new();
    for file in &files {
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
        entries.push(FileEntry {
            name: file.name.clone(),
            size: file.size as u64,
            sha256: stored.to_string(),
        });
    }
    let digest = content_digest(
        entries
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    let next = transition(
        &transfer,
        Event::Submitted {
            needs_approval: facts(&transfer).needs_approval,
        },
    )?;
    store::set_content_digest(tx.conn(), id, &digest).await?;
    store::set_state(tx.conn(), id, TransferState::Uploading, next, now).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::TransferSubmit,
            object: ObjectRef::Transfer(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "class": transfer.class.as_str(),
                "content_digest": digest,
                "files": entries,
                "awaiting": transfer.approval_role.map(|r| r.as_str()),
            }),
        },
    )
    .await?;
    if next == TransferState::Released {
        release_links(state, tx.conn(), id, now).await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::TransferRelease,
                object: ObjectRef::Transfer(id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({ "class": transfer.class.as_str(), "content_digest": digest, "approval": "not required (class III)" }),
            },
        )
        .await?;
    }
    let mut passphrases = Vec::new();
    for link in store::links(tx.conn(), id).await? {
        if let Some(wrapped) = &link.passphrase_wrapped {
            passphrases.push(RecipientPassphrase {
                recipient: link.name.clone(),
                passphrase: state
                    .keys
                    .unwrap_string(wrapped)?
                    .expose_secret()
                    .to_string(),
            });
        }
    }
    tx.commit().await?;
    Ok(SubmitResponse {
        transfer: view(state, actor, id).await?,
        passphrases,
    })
}

pub async fn view(state: &AppState, actor: &Actor, id: &str) -> AppResult<TransferView> {
    let transfer = load(state, id).await?;
    policy::may_view_transfer(actor, &facts(&transfer))?;
    let mut conn = state.db.read().await?;
    let files = store::files(&mut conn, id).await?;
    let links = store::links(&mut conn, id).await?;
    let decision = store::decision(&mut conn, id).await?;
    let now = state.clock.now_ms();
    let entries: Vec<FileEntry> = files.iter().map(|f| f.entry()).collect();
    Ok(TransferView {
        id: transfer.id.clone(),
        state: transfer.state,
        class: transfer.class,
        sender: transfer.sender_name.clone(),
        sender_role: transfer.sender_role,
        purpose: transfer.purpose.clone(),
        created_at: format_ms(transfer.created_at),
        total_size: entries.iter().map(|f| f.size).sum(),
        files: entries,
        content_digest: transfer.content_digest.clone(),
        recipients: links
            .iter()
            .map(|l| TransferRecipientView {
                name: l.name.clone(),
                organisation: l.organisation.clone(),
                email: l.email.clone(),
                key_kind: l.key_kind,
                fingerprints: fingerprints(l.key_kind, l.public_key.as_deref()),
                link: link_status(l, now),
            })
            .collect(),
        decision: decision.map(|d| DecisionView {
            decision: d.decision,
            by: d.by_user,
            by_role: d.by_role,
            at: format_ms(d.decided_at),
            comment: d.comment,
            content_digest: d.content_digest,
        }),
        approval_by: transfer.approval_role,
        released_at: transfer.released_at.map(format_ms),
        revoked_at: transfer.revoked_at.map(format_ms),
        medium: transfer.carry_out.as_ref().map(|c| c.medium_id.clone()),
        return_by: transfer.carry_out.as_ref().map(|c| format_ms(c.return_by)),
        written_at: transfer
            .carry_out
            .as_ref()
            .and_then(|c| c.written_at)
            .map(format_ms),
        returned_at: transfer
            .carry_out
            .as_ref()
            .and_then(|c| c.returned_at)
            .map(format_ms),
    })
}

/// A link's state as the user should see it now, even before the
/// housekeeping task has closed an expired link.
pub fn effective_link_state(link: &LinkRow, now: i64) -> Option<LinkState> {
    let state = link.state?;
    match (state, link.expires_at) {
        (LinkState::Active | LinkState::Exhausted, Some(expires)) if expires <= now => {
            Some(LinkState::Expired)
        }
        _ => Some(state),
    }
}

fn link_status(link: &LinkRow, now: i64) -> Option<LinkStatus> {
    Some(LinkStatus {
        state: effective_link_state(link, now)?,
        downloads: link.downloads as u32,
        max_downloads: link.max_downloads as u32,
        expires_at: format_ms(link.expires_at?),
    })
}

pub async fn list(state: &AppState, actor: &Actor, scope: &str) -> AppResult<Vec<TransferSummary>> {
    let mut conn = state.db.read().await?;
    let rows = match scope {
        "mine" | "" => {
            policy::may_send(actor)?;
            store::list_by_sender(&mut conn, &actor.user_id).await?
        }
        "pending" => store::list_by_state(&mut conn, TransferState::PendingApproval)
            .await?
            .into_iter()
            .filter(|t| policy::is_in_approval_queue(actor, &facts(t)))
            .collect(),
        "all" => {
            policy::may_list_all_transfers(actor)?;
            store::list_all(&mut conn).await?
        }
        other => {
            return Err(AppError::invalid(
                "bad_scope",
                format!("unknown list scope '{other}': use mine, pending or all"),
            ));
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let files = store::files(&mut conn, &t.id).await?;
        let links = store::links(&mut conn, &t.id).await?;
        out.push(TransferSummary {
            id: t.id,
            state: t.state,
            class: t.class,
            sender: t.sender_name,
            purpose: t.purpose,
            recipients: links.into_iter().map(|l| l.name).collect(),
            file_count: files.len() as u32,
            total_size: files.iter().map(|f| f.size as u64).sum(),
            created_at: format_ms(t.created_at),
        });
    }
    Ok(out)
}

pub async fn approve(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: ApproveRequest,
    origin: &Origin,
) -> AppResult<TransferView> {
    let transfer = load(state, id).await?;
    policy::may_decide(actor, &facts(&transfer))?;
    if let Some(comment) = request.comment.as_deref() {
        check_text("the comment", comment, 1000)?;
    }
    accounts::step_up(state, actor, &request.otp).await?;
    decide(
        state,
        actor,
        transfer,
        Decision::Approved,
        request.comment,
        Some(request.content_digest),
        origin,
    )
    .await?;
    view(state, actor, id).await
}

pub async fn reject(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: RejectRequest,
    origin: &Origin,
) -> AppResult<TransferView> {
    let transfer = load(state, id).await?;
    policy::may_decide(actor, &facts(&transfer))?;
    check_text("the reason", &request.reason, 1000)?;
    accounts::step_up(state, actor, &request.otp).await?;
    decide(
        state,
        actor,
        transfer,
        Decision::Rejected,
        Some(request.reason),
        None,
        origin,
    )
    .await?;
    view(state, actor, id).await
}

async fn decide(
    state: &AppState,
    actor: &Actor,
    transfer: TransferRow,
    decision: Decision,
    comment: Option<String>,
    approved_digest: Option<String>,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    // Decide on the stored state, not on what was read before the step-up.
    let current = store::get(tx.conn(), &transfer.id)
        .await?
        .ok_or(AppError::NotFound)?;
    policy::may_decide(actor, &facts(&current))?;
    let stored_digest = current.content_digest.clone().unwrap_or_default();
    if let Some(digest) = &approved_digest
        && !digest.eq_ignore_ascii_case(&stored_digest)
    {
        return Err(AppError::Conflict(
            "digest_mismatch",
            "the files are not the ones you were shown (the content digest differs); look at the request again"
                .to_string(),
        ));
    }
    let event = match decision {
        Decision::Approved => Event::Approved,
        Decision::Rejected => Event::Rejected,
    };
    let next = transition(&current, event)?;
    store::insert_decision(
        tx.conn(),
        &current.id,
        &DecisionRow {
            decision,
            by_user: actor.username.clone(),
            by_role: actor.role,
            decided_at: now,
            comment: comment.clone(),
            content_digest: stored_digest.clone(),
        },
    )
    .await?;
    store::set_state(tx.conn(), &current.id, current.state, next, now).await?;
    let (action, detail) = match decision {
        Decision::Approved => (
            Action::TransferApprove,
            json!({ "comment": comment, "content_digest": stored_digest, "sender": current.sender_name }),
        ),
        Decision::Rejected => (
            Action::TransferReject,
            json!({ "reason": comment, "content_digest": stored_digest, "sender": current.sender_name }),
        ),
    };
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action,
            object: ObjectRef::Transfer(current.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail,
        },
    )
    .await?;
    if next == TransferState::Released {
        release_links(state, tx.conn(), &current.id, now).await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::TransferRelease,
                object: ObjectRef::Transfer(current.id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({ "class": current.class.as_str(), "content_digest": stored_digest }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn revoke(
    state: &AppState,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<TransferView> {
    let transfer = load(state, id).await?;
    policy::may_revoke(actor, &facts(&transfer))?;
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let current = store::get(tx.conn(), id).await?.ok_or(AppError::NotFound)?;
    policy::may_revoke(actor, &facts(&current))?;
    let next = transition(&current, Event::Revoked)?;
    store::set_state(tx.conn(), id, current.state, next, now).await?;
    let mut closed =
        store::set_links_state(tx.conn(), id, LinkState::Active, LinkState::Revoked).await?;
    closed +=
        store::set_links_state(tx.conn(), id, LinkState::Exhausted, LinkState::Revoked).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::TransferRevoke,
            object: ObjectRef::Transfer(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({ "previous_state": current.state.as_str(), "links_closed": closed, "sender": current.sender_name }),
        },
    )
    .await?;
    tx.commit().await?;
    view(state, actor, id).await
}

pub async fn links(state: &AppState, actor: &Actor, id: &str) -> AppResult<Vec<LinkView>> {
    let transfer = load(state, id).await?;
    policy::may_view_links(actor, &facts(&transfer))?;
    let mut conn = state.db.read().await?;
    let now = state.clock.now_ms();
    Ok(store::links(&mut conn, id)
        .await?
        .iter()
        .filter_map(|link| {
            let status = link_status(link, now)?;
            Some(LinkView {
                recipient: link.name.clone(),
                url: format!(
                    "{}/d/{}",
                    state.public_base_url,
                    state.keys.link_token(&link.id, &link.nonce)
                ),
                state: status.state,
                downloads: status.downloads,
                max_downloads: status.max_downloads,
                expires_at: status.expires_at,
                needs_passphrase: link.passphrase_wrapped.is_some(),
            })
        })
        .collect())
}
