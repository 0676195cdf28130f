//! Creating a transfer: the request is checked (classes, purpose, files,
//! names, limits), a carry-out's medium and return date are checked, the
//! recipients are resolved from the sender's address book, and the
//! transfer, its file slots and its links are stored and logged in one
//! transaction. Nothing is stored unless every check passed.

use std::collections::HashSet;

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::media::MediumState;
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{
    Class, CreateTransferRequest, KeyKind, NewFile, TransferCreated, UploadSlot, names,
};
use serde_json::json;

use crate::auth::token;
use crate::clock::format_ms;
use crate::config::LimitConfig;
use crate::db::Conn;
use crate::db::audit;
use crate::db::recipients;
use crate::db::transfers::{self as store, LinkRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Allowed, perm};
use crate::service::Origin;
use crate::service::check_text;
use crate::service::recipients::{age_recipients, fingerprints};
use crate::state::AppState;

/// Permission to send, for the steps below.
type SendGrant = Allowed<perm::Send>;

/// What a carry-out asks for, checked.
struct CarryOutRequest {
    medium_id: String,
    return_by: i64,
    /// An age public key to lock the package to, instead of a passphrase.
    key: Option<String>,
}

/// A request that passed every check that needs no database.
struct Checked<'r> {
    class: Class,
    purpose: &'r str,
    files: &'r [NewFile],
    recipients: &'r [String],
    carry_out: Option<CarryOutRequest>,
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    request: CreateTransferRequest,
    origin: &Origin,
) -> AppResult<TransferCreated> {
    let grant = policy::send(actor)?;
    let checked = check_request(state, &request)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let mut links = Vec::new();
    if let Some(carry_out) = &checked.carry_out {
        links.push(medium_link(state, tx.conn(), &id, checked.class, carry_out).await?);
    }
    links.extend(recipient_links(state, tx.conn(), &grant, &id, &checked).await?);
    let uploads = store_transfer(tx.conn(), &grant, &id, &checked, &links, now).await?;
    log_creation(tx.conn(), &grant, &id, &checked, &links, now, origin).await?;
    tx.commit().await?;
    Ok(TransferCreated {
        id,
        class: checked.class,
        uploads,
    })
}

/// Every check of the request itself, in the order a clerk fixes them.
fn check_request<'r>(
    state: &AppState,
    request: &'r CreateTransferRequest,
) -> AppResult<Checked<'r>> {
    let limits = &state.config.limits;
    let class = bundle_class(request)?;
    let purpose = check_purpose(request.purpose.as_deref())?;
    check_files(limits, &request.files)?;
    let carry_out = carry_out_request(state, request)?;
    check_recipient_count(limits, &request.recipients, carry_out.is_some())?;
    Ok(Checked {
        class,
        purpose,
        files: &request.files,
        recipients: &request.recipients,
        carry_out,
    })
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

/// 2.(2)⑤(ウ): a bundle is handled at the highest class of its files.
fn bundle_class(request: &CreateTransferRequest) -> AppResult<Class> {
    let mut class = parse_class(request.class.as_deref())?;
    for file in &request.files {
        if let Some(own) = file.class.as_deref() {
            class = class.max(parse_class(Some(own))?);
        }
    }
    Ok(class)
}

/// 2.(2)⑤(ア): files leave for business use only, so the use is stated.
fn check_purpose(purpose: Option<&str>) -> AppResult<&str> {
    let purpose = purpose.map(str::trim).unwrap_or("");
    if sekisho_proto::names::is_blank(purpose) {
        return Err(AppError::invalid(
            "purpose_missing",
            "say what the files are for: add --purpose \"...\" (policy 2.(2)⑤(ア): business use only)",
        ));
    }
    check_text("the purpose", purpose, 1000)?;
    Ok(purpose)
}

/// At least one file, within the limits, each with a safe, unique name.
fn check_files(limits: &LimitConfig, files: &[NewFile]) -> AppResult<()> {
    if files.is_empty() {
        return Err(AppError::invalid(
            "no_files",
            "name at least one file to send",
        ));
    }
    if files.len() > limits.max_files_per_transfer as usize {
        return Err(AppError::invalid(
            "too_many_files",
            format!(
                "at most {} files can be sent at once",
                limits.max_files_per_transfer
            ),
        ));
    }
    let mut seen = HashSet::new();
    for file in files {
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
    Ok(())
}

/// Parses a return date: RFC 3339, or YYYY-MM-DD meaning the end of that
/// day in Japan (23:59:59 JST), which is what a clerk means by "by the 3rd".
fn parse_return_by(text: &str) -> AppResult<i64> {
    crate::clock::parse_japan_day(text, crate::clock::DayEdge::End).ok_or_else(|| {
        AppError::invalid(
            "bad_return_by",
            format!(
                "'{}' is not a date: use YYYY-MM-DD (e.g. 2026-12-03)",
                text.trim()
            ),
        )
    })
}

/// 5.(1)③: a carry-out names a medium, a future return date and no
/// recipients; an age key given for the medium must parse.
fn carry_out_request(
    state: &AppState,
    request: &CreateTransferRequest,
) -> AppResult<Option<CarryOutRequest>> {
    let Some(medium) = request.medium.as_deref() else {
        return Ok(None);
    };
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
    let key = match request.medium_key.as_deref().map(str::trim) {
        Some(key) => {
            age_recipients(KeyKind::Age, Some(key))
                .map_err(|e| AppError::invalid("bad_key", format!("{e:#}")))?;
            Some(key.to_string())
        }
        None => None,
    };
    Ok(Some(CarryOutRequest {
        medium_id: medium.to_string(),
        return_by,
        key,
    }))
}

/// A send names at least one recipient, and no more than the limit.
fn check_recipient_count(
    limits: &LimitConfig,
    recipients: &[String],
    is_carry_out: bool,
) -> AppResult<()> {
    if !is_carry_out && recipients.is_empty() {
        return Err(AppError::invalid(
            "no_recipient",
            "name a recipient from your address book: --to NAME",
        ));
    }
    if recipients.len() > limits.max_recipients_per_transfer as usize {
        return Err(AppError::invalid(
            "too_many_recipients",
            format!(
                "at most {} recipients per transfer",
                limits.max_recipients_per_transfer
            ),
        ));
    }
    Ok(())
}

/// A link row, not yet active: it gets its token and expiry at release.
fn new_link(state: &AppState, transfer_id: &str, position: i64) -> LinkRow {
    LinkRow {
        id: uuid::Uuid::new_v4().to_string(),
        transfer_id: transfer_id.to_string(),
        position,
        name: String::new(),
        organisation: String::new(),
        email: String::new(),
        key_kind: KeyKind::Passphrase,
        public_key: None,
        passphrase_wrapped: None,
        nonce: token::generate().to_string(),
        state: None,
        expires_at: None,
        max_downloads: i64::from(state.config.links.max_downloads),
        downloads: 0,
    }
}

/// A generated passphrase, wrapped for storage; shown once at submission.
fn wrapped_passphrase(state: &AppState) -> AppResult<Vec<u8>> {
    Ok(state.keys.wrap(token::generate_passphrase().as_bytes())?)
}

/// 5.(1)⑤: only a registered medium that is neither disposed of nor
/// already out may be used. The medium is the "recipient": I/II are locked
/// with a passphrase shown once to the requester, or to the age key given
/// (2.(2)⑧(ア)).
async fn medium_link(
    state: &AppState,
    conn: &mut Conn,
    transfer_id: &str,
    class: Class,
    carry_out: &CarryOutRequest,
) -> AppResult<LinkRow> {
    let medium_id = &carry_out.medium_id;
    let Some(medium) = crate::db::media::get(conn, medium_id).await? else {
        return Err(AppError::invalid(
            "medium_unregistered",
            format!(
                "medium '{medium_id}' is not in the ledger; only registered media may be used (ask the system staff)"
            ),
        ));
    };
    if medium.state == MediumState::Disposed {
        return Err(AppError::invalid(
            "medium_disposed",
            format!("medium '{medium_id}' was disposed of and cannot be used"),
        ));
    }
    if !store::open_carry_outs(conn, medium_id).await?.is_empty() {
        return Err(AppError::Conflict(
            "medium_busy",
            format!(
                "medium '{medium_id}' already has an open carry-out; it must be returned first"
            ),
        ));
    }
    let needs_passphrase = class.needs_approval() && carry_out.key.is_none();
    Ok(LinkRow {
        name: medium.id.clone(),
        organisation: medium.section.clone(),
        key_kind: if carry_out.key.is_some() {
            KeyKind::Age
        } else {
            KeyKind::Passphrase
        },
        public_key: carry_out.key.clone(),
        passphrase_wrapped: needs_passphrase
            .then(|| wrapped_passphrase(state))
            .transpose()?,
        ..new_link(state, transfer_id, 0)
    })
}

/// One link per named recipient, each from the sender's own address book.
async fn recipient_links(
    state: &AppState,
    conn: &mut Conn,
    grant: &SendGrant,
    transfer_id: &str,
    checked: &Checked<'_>,
) -> AppResult<Vec<LinkRow>> {
    let mut seen = HashSet::new();
    let mut links = Vec::with_capacity(checked.recipients.len());
    for (position, name) in checked.recipients.iter().enumerate() {
        if !seen.insert(name.as_str()) {
            return Err(AppError::invalid(
                "duplicate_recipient",
                format!("'{name}' is named twice"),
            ));
        }
        let Some(r) = recipients::by_owner_and_name(conn, &grant.actor().user_id, name).await?
        else {
            return Err(AppError::invalid(
                "recipient_unknown",
                format!(
                    "'{name}' is not in your address book; add it with `sekisho recipient add`"
                ),
            ));
        };
        // A passphrase is made only where it will be used: I/II content for
        // a recipient without keys. Class III leaves as a plain package.
        let needs_passphrase = r.key_kind == KeyKind::Passphrase && checked.class.needs_approval();
        links.push(LinkRow {
            name: r.name,
            organisation: r.organisation,
            email: r.email,
            key_kind: r.key_kind,
            public_key: r.public_key,
            passphrase_wrapped: needs_passphrase
                .then(|| wrapped_passphrase(state))
                .transpose()?,
            ..new_link(state, transfer_id, position as i64)
        });
    }
    Ok(links)
}

/// Stores the transfer, one empty slot per file and its links; returns
/// where each file's bytes go.
async fn store_transfer(
    conn: &mut Conn,
    grant: &SendGrant,
    id: &str,
    checked: &Checked<'_>,
    links: &[LinkRow],
    now: i64,
) -> AppResult<Vec<UploadSlot>> {
    let sender = grant.actor();
    store::insert(
        conn,
        &store::NewTransfer {
            id,
            sender_id: &sender.user_id,
            class: checked.class,
            purpose: checked.purpose,
            // 5.(1)③: every carry-out needs permission, whatever its class.
            approval_role: (checked.class.needs_approval() || checked.carry_out.is_some())
                .then(|| policy::approver_role_for(sender.role)),
            created_at: now,
            carry_out: checked
                .carry_out
                .as_ref()
                .map(|c| (c.medium_id.as_str(), c.return_by)),
        },
    )
    .await?;
    let mut uploads = Vec::with_capacity(checked.files.len());
    for (index, file) in checked.files.iter().enumerate() {
        store::insert_file(conn, id, index as i64, &file.name, file.size as i64).await?;
        uploads.push(UploadSlot {
            index: index as u32,
            name: file.name.clone(),
            size: file.size,
            path: format!("/api/v1/transfers/{id}/files/{index}"),
        });
    }
    for link in links {
        store::insert_link(conn, link).await?;
    }
    Ok(uploads)
}

/// Logs the request with everything an auditor needs: class, purpose,
/// medium, recipients with their key fingerprints, and the files announced.
async fn log_creation(
    conn: &mut Conn,
    grant: &SendGrant,
    id: &str,
    checked: &Checked<'_>,
    links: &[LinkRow],
    now: i64,
    origin: &Origin,
) -> AppResult<()> {
    let carry_out = checked.carry_out.as_ref();
    audit::append(
        conn,
        now,
        audit::Record {
            actor: grant.actor().username.clone(),
            action: if carry_out.is_some() {
                Action::MediaRequest
            } else {
                Action::TransferCreate
            },
            object: ObjectRef::Transfer(id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "class": checked.class.as_str(),
                "purpose": checked.purpose,
                "medium": carry_out.map(|c| &c.medium_id),
                "return_by": carry_out.map(|c| format_ms(c.return_by)),
                "recipients": links.iter().map(|l| json!({
                    "name": l.name, "organisation": l.organisation, "email": l.email,
                    "fingerprints": fingerprints(l.key_kind, l.public_key.as_deref()),
                })).collect::<Vec<_>>(),
                "files": checked.files.iter().map(|f| json!({"name": f.name, "size": f.size})).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_date_means_the_end_of_that_day_in_japan() {
        let plain = parse_return_by("2026-12-03").expect("a date");
        let explicit = parse_return_by("2026-12-03T23:59:59+09:00").expect("a time");
        assert_eq!(plain, explicit);
        assert!(parse_return_by("next tuesday").is_err());
    }

    #[test]
    fn a_bundle_takes_the_highest_class_of_its_files() {
        let file = |class: Option<&str>| NewFile {
            name: "a.txt".into(),
            size: 1,
            class: class.map(str::to_string),
        };
        let request = CreateTransferRequest {
            class: Some("III".into()),
            purpose: Some("p".into()),
            recipients: vec![],
            files: vec![file(None), file(Some("II"))],
            medium: None,
            return_by: None,
            medium_key: None,
        };
        assert_eq!(bundle_class(&request).ok(), Some(Class::II));
        let missing = CreateTransferRequest {
            class: None,
            ..request
        };
        assert!(bundle_class(&missing).is_err());
    }
}
