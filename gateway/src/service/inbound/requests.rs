//! Asking for files: upload links handed to outside parties (the link is
//! the permission, 256-bit and stored only hashed) and a member of staff's
//! own media intake, which has no link.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::inbound::{CreateUploadRequest, UploadRequestCreated};
use sekisho_proto::vocab::{Outcome, UploadRequestKind, UploadRequestState};
use serde_json::json;

use super::sender_label;
use crate::auth::token;
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::inbound::{self as store, RequestRow};
use crate::db::{recipients, users};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::service::{Origin, check_text};
use crate::state::AppState;

const DEFAULT_EXPIRES_HOURS: u32 = 7 * 24;
const MAX_EXPIRES_HOURS: u32 = 90 * 24;
const DEFAULT_MAX_FILES: u32 = 20;
const MAX_MAX_FILES: u32 = 1000;
const DEFAULT_MAX_MB: u64 = 2048;

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
    let grant = policy::request_inbound(actor)?;
    let actor = grant.actor();
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
        kind: UploadRequestKind::Link,
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
        state: UploadRequestState::Open,
        created_at: now,
        arrival_kind: None,
    };
    let link_token = state.keys.link_token(&row.id, &row.nonce);
    store::insert_request(tx.conn(), &row, Some(&token::hash(&link_token))).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::InboundRequest,
            object: ObjectRef::UploadRequest(id.to_string()),
            outcome: Outcome::Ok,
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
    medium: Option<&str>,
    origin: &Origin,
) -> AppResult<String> {
    let grant = policy::request_inbound(actor)?;
    let actor = grant.actor();
    let purpose = purpose.trim();
    check_text("the purpose", purpose, 1000)?;
    let medium = medium.map(str::trim);
    let now = state.clock.now_ms();
    let row = RequestRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: actor.user_id.clone(),
        kind: UploadRequestKind::Intake,
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
        state: UploadRequestState::Open,
        created_at: now,
        arrival_kind: None,
    };
    let mut tx = state.db.write().await?;
    let arrival = match medium {
        Some(medium) => Some(crate::service::arrivals::for_intake(tx.conn(), actor, medium).await?),
        None => None,
    };
    store::insert_request(tx.conn(), &row, None).await?;
    if let Some(arrival) = &arrival {
        crate::db::arrivals::link_intake(tx.conn(), &row.id, &arrival.id).await?;
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::InboundIntake,
            object: ObjectRef::UploadRequest(row.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "purpose": purpose,
                "medium": arrival.as_ref().map(|a| &a.medium_id),
                "arrival": arrival.as_ref().map(|a| &a.id),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.id)
}

/// The request behind a link token; the link is the permission.
pub(super) async fn find(state: &AppState, token_text: &str) -> AppResult<RequestRow> {
    let hash = token::link_lookup_hash(token_text).ok_or(AppError::NotFound)?;
    let mut conn = state.db.read().await?;
    store::request_by_token_hash(&mut conn, &hash)
        .await?
        .ok_or(AppError::NotFound)
}

/// Why a request can take no more files, in words for the uploader.
pub(super) fn unusable(r: &RequestRow, now: i64) -> Option<String> {
    if r.state != UploadRequestState::Open {
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
    let sender = sender_label(&r);
    Ok(RequestPage {
        requester,
        sender,
        purpose: r.purpose.clone(),
        expires_at: format_ms(r.expires_at),
        files_left: r.max_files - r.files_received,
        bytes_left: r.max_bytes - r.bytes_received,
    })
}
