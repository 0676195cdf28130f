//! What staff do with received files: list them, set their class
//! (2.(2)④), read a ready one, and (the system staff) rescan a held one.
//! Every step takes a grant from [`crate::policy`] for that file.

use std::collections::HashMap;
use std::io::{Read, Write};

use axum::body::Body;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::inbound::{ClassifyRequest, InboundFileView, ReleaseOriginal};
use sekisho_proto::vocab::{InboundState, Outcome};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::sanitise;
use super::upload::infected_finding;
use super::{Received, view};
use crate::db::audit::{self, Record};
use crate::db::inbound::{self as store, RequestRow};
use crate::envelope;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::scan::Verdict;
use crate::service::{Origin, incidents, notify, pump};
use crate::state::{AppState, Shared};

/// The caller's inbound files; a manager also sees those left to them.
pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<InboundFileView>> {
    policy::may_request_inbound(actor)?;
    let mut conn = state.db.read().await?;
    let mut files = store::files_of_owner(&mut conn, &actor.user_id).await?;
    if policy::decides_unknown_classes(actor) {
        for f in store::files_in_state(&mut conn, InboundState::NeedsManager).await? {
            if !files.iter().any(|own| own.id == f.id) {
                files.push(f);
            }
        }
    }
    let mut requests: HashMap<String, RequestRow> = HashMap::new();
    let mut views = Vec::new();
    for file in files {
        let request = match requests.get(&file.request_id) {
            Some(r) => r.clone(),
            None => {
                let r = store::request(&mut conn, &file.request_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("inbound file {} has no request", file.id))?;
                requests.insert(file.request_id.clone(), r.clone());
                r
            }
        };
        if let Ok(grant) = policy::view_inbound(actor, Received { file, request }) {
            let seen = grant.object();
            views.push(view(&seen.file, &seen.request));
        }
    }
    Ok(views)
}

/// A received file with its request; a malformed id is "not found" at once.
pub async fn load(conn: &mut crate::db::Conn, id: &str) -> AppResult<Received> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    let file = store::file(conn, id).await?.ok_or(AppError::NotFound)?;
    let request = store::request(conn, &file.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Received { file, request })
}

pub async fn classify(
    state: &AppState,
    actor: &Actor,
    id: &str,
    request: ClassifyRequest,
    origin: &Origin,
) -> AppResult<InboundFileView> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let grant = policy::classify_inbound(actor, load(tx.conn(), id).await?)?;
    let file = &grant.object().file;
    let by_manager = file.state == InboundState::NeedsManager;
    let class = request.class;
    let new_state = match class.class() {
        Some(_) => InboundState::Ready,
        None if by_manager => {
            return Err(AppError::invalid(
                "class_invalid",
                "a manager must decide: give --class I, II or III",
            ));
        }
        None => InboundState::NeedsManager,
    };
    let by = &grant.actor().username;
    if !store::set_class(tx.conn(), &file.id, file.state, class, by, now, new_state).await? {
        return Err(AppError::Conflict(
            "wrong_state",
            "this file changed meanwhile; look at it again".into(),
        ));
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::InboundClassify,
            object: ObjectRef::InboundFile(file.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "class": class,
                "state": new_state,
                "by_manager": by_manager,
                "file": file.name,
                "sha256": file.sha256,
            }),
        },
    )
    .await?;
    if new_state == InboundState::NeedsManager {
        notify::queue_unknown_class(state, tx.conn(), now, &file.id, by).await?;
    }
    tx.commit().await?;
    let Received { mut file, request } = grant.into_object();
    file.class = Some(class);
    file.state = new_state;
    Ok(view(&file, &request))
}

/// The decrypted content of a ready file, streamed; the digest is checked
/// on the way and the stream is cut if it does not match.
pub async fn content(
    state: Shared,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<(InboundFileView, Body)> {
    let (grant, object) = {
        let mut conn = state.db.read().await?;
        let grant = policy::read_inbound(actor, load(&mut conn, id).await?)?;
        let file = &grant.object().file;
        // Staff receive the sanitised copy when there is one (6.(4)②).
        let copy = file.sanitised.as_ref().and_then(|s| s.copy.as_ref());
        let object_id = match copy {
            Some(c) => c.object_id.clone(),
            None => file.object_id.clone().ok_or(AppError::NotFound)?,
        };
        let object = crate::db::objects::get(&mut conn, &object_id)
            .await?
            .ok_or(AppError::NotFound)?;
        (grant, object)
    };
    let actor = grant.actor();
    let Received { file, request: r } = grant.object();
    let copy = file.sanitised.as_ref().and_then(|s| s.copy.as_ref());
    let now = state.clock.now_ms();
    {
        let mut tx = state.db.write().await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::InboundDownload,
                object: ObjectRef::InboundFile(file.id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({
                    "file": file.name,
                    "sha256": file.sha256,
                    "class": file.class,
                    "sanitised_copy": copy.map(|c| json!({ "name": c.name, "sha256": c.sha256 })),
                }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    let copy = file.sanitised.as_ref().and_then(|s| s.copy.as_ref());
    let expected = copy.map_or_else(|| file.sha256.clone(), |c| c.sha256.clone());
    let body = verified_body(
        &state,
        format!("inbound file {}", file.id),
        object,
        expected,
    );
    Ok((view(file, r), body))
}

/// Rescans a held file (after the engine was fixed) and moves it on.
pub async fn rescan(
    state: Shared,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> AppResult<InboundFileView> {
    // The role first, so a member of staff is told "sysadmins only" for any
    // id, existing or not.
    policy::may_rescan(actor)?;
    let (grant, object) = {
        let mut conn = state.db.read().await?;
        let grant = policy::rescan_inbound(actor, load(&mut conn, id).await?)?;
        let file = &grant.object().file;
        let object_id = file.object_id.clone().ok_or(AppError::NotFound)?;
        let object = crate::db::objects::get(&mut conn, &object_id)
            .await?
            .ok_or(AppError::NotFound)?;
        (grant, object)
    };
    let (actor, file) = (grant.actor(), &grant.object().file);
    let report = {
        let state = state.clone();
        let size = object.size as u64;
        let object = object.clone();
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
    // A file held by the scanner and now clean is sanitised like any other
    // (6.(4)②): a rescan is no way around the sanitiser.
    let sanitised = if !verdict.is_clean() {
        None
    } else if sanitise::applies(&state.config.sanitise, &grant.object().request) {
        Some(sanitise::run(&state, &object.id, &object.wrapped_key, &file.name).await)
    } else {
        Some(sanitise::off())
    };
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let Received {
        file: current,
        request: r,
    } = load(tx.conn(), id).await?;
    let scanned_state = verdict.kind().initial_state();
    let new_state = scanned_state.after_sanitising(sanitised.as_ref().map(|d| d.sanitised.outcome));
    let detail = verdict.detail(Some(&report));
    let changed = store::set_verdict(
        tx.conn(),
        &file.id,
        verdict.kind(),
        &detail.to_string(),
        scanned_state,
    )
    .await?;
    if !changed {
        if let Some(done) = &sanitised {
            done.discard(&state);
        }
        return Err(AppError::Conflict(
            "wrong_state",
            "the file changed meanwhile".into(),
        ));
    }
    if let Some(done) = &sanitised {
        done.record_copy(tx.conn(), now).await?;
        store::set_sanitised(tx.conn(), &file.id, &done.sanitised, new_state).await?;
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::InboundRescan,
            object: ObjectRef::InboundFile(file.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "verdict": verdict.kind(),
                "verdict_detail": detail,
                "state": new_state,
                "sanitised": sanitised.as_ref().map(|d| json!({
                    "outcome": d.sanitised.outcome,
                    "report": d.report_json(),
                })),
            }),
        },
    )
    .await?;
    if let Verdict::Infected { engine, signature } = &verdict {
        let finding = infected_finding(&current, &r, engine, signature);
        incidents::open(&state, tx.conn(), now, finding, &actor.username, origin).await?;
    }
    tx.commit().await?;
    let mut updated = current;
    updated.verdict = verdict.kind();
    updated.state = new_state;
    updated.sanitised = sanitised.map(|d| d.sanitised);
    Ok(view(&updated, &r))
}

/// A manager releases the original of a sanitised (or sanitisation-held)
/// file to themself: the role and the file's state first, then a fresh
/// TOTP code (step-up), then the audit event with the reason, then the
/// decrypted original, streamed with its digest checked on the way.
pub async fn release_original(
    state: Shared,
    actor: &Actor,
    id: &str,
    request: ReleaseOriginal,
    origin: &Origin,
) -> AppResult<(InboundFileView, Body)> {
    let reason = request.reason.trim().to_string();
    if reason.is_empty() {
        return Err(AppError::invalid(
            "reason_required",
            "理由を入力してください。Give the reason the original is needed: --reason TEXT",
        ));
    }
    let (grant, object) = {
        let mut conn = state.db.read().await?;
        let grant = policy::release_original(actor, load(&mut conn, id).await?)?;
        let object_id = grant
            .object()
            .file
            .object_id
            .clone()
            .ok_or(AppError::NotFound)?;
        let object = crate::db::objects::get(&mut conn, &object_id)
            .await?
            .ok_or(AppError::NotFound)?;
        (grant, object)
    };
    crate::service::accounts::step_up(&state, grant.actor(), &request.otp, origin).await?;
    let Received { file, request: r } = grant.object();
    let now = state.clock.now_ms();
    {
        let mut tx = state.db.write().await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: grant.actor().username.clone(),
                action: Action::InboundOriginalRelease,
                object: ObjectRef::InboundFile(file.id.to_string()),
                outcome: Outcome::Ok,
                source: origin.0.clone(),
                detail: json!({
                    "file": file.name,
                    "sha256": file.sha256,
                    "state": file.state,
                    "owner": r.owner_id,
                    "reason": reason,
                    "sanitised": file.sanitised.as_ref().map(|s| s.outcome),
                }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    let expected = file.sha256.clone();
    let body = verified_body(
        &state,
        format!("original of inbound file {}", file.id),
        object,
        expected,
    );
    // The view of the original itself: what the manager checks the
    // download against.
    let mut original = view(file, r);
    original.name = file.name.clone();
    original.size = file.size as u64;
    original.sha256 = file.sha256.clone();
    Ok((original, body))
}

/// A reader that fails at once: the scan of an unreadable object is
/// Unscanned with the reason.
struct FailingReader(String);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(self.0.clone()))
    }
}

/// The stored content of `object`, decrypted as it streams out; the
/// download fails at its end if the bytes' SHA-256 is not `expected`, the
/// digest the file's view showed.
fn verified_body(
    state: &Shared,
    what: String,
    object: crate::db::objects::ObjectRow,
    expected: String,
) -> Body {
    let state = state.clone();
    pump::body_from_blocking(what, move |out| {
        let mut reader = envelope::open(
            &state.keys,
            state.store.as_ref(),
            &object.id,
            &object.wrapped_key,
        )?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf)?;
            let Some(piece) = buf.get(..n).filter(|p| !p.is_empty()) else {
                break;
            };
            hasher.update(piece);
            out.write_all(piece)?;
        }
        anyhow::ensure!(
            hex::encode(hasher.finalize()) == expected,
            "the stored file changed"
        );
        Ok(())
    })
}
