//! The address book: outside recipients and their keys (policy 6.(1)⑧, ⑨).

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use std::str::FromStr;

use base64::Engine;
use sekisho_proto::{CreateRecipientRequest, KeyKind, RecipientView, key_fingerprint};
use serde_json::json;

use super::{Origin, check_text};
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::recipients::{self, RecipientRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

/// Recipients that age can encrypt to, parsed from stored key text.
pub fn age_recipients(
    kind: KeyKind,
    key_text: Option<&str>,
) -> anyhow::Result<Vec<Box<dyn age::Recipient + Send>>> {
    let text = key_text.unwrap_or("");
    let mut out: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
    match kind {
        KeyKind::Age => {
            for token in text.split_whitespace() {
                let r = age::x25519::Recipient::from_str(token)
                    .map_err(|e| anyhow::anyhow!("'{token}' is not an age public key: {e}"))?;
                out.push(Box::new(r));
            }
        }
        KeyKind::Ssh => {
            for line in ssh_lines(text) {
                let r = age::ssh::Recipient::from_str(line).map_err(|e| {
                    anyhow::anyhow!("not a usable SSH public key (ssh-ed25519 or ssh-rsa): {e:?}")
                })?;
                out.push(Box::new(r));
            }
        }
        KeyKind::Passphrase => {}
    }
    Ok(out)
}

fn ssh_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Fingerprints as the recipient's own tools print them: the key blob's
/// SHA-256 for SSH keys (like `ssh-keygen -l`), the key text's for age.
pub fn fingerprints(kind: KeyKind, key_text: Option<&str>) -> Vec<String> {
    let text = key_text.unwrap_or("");
    match kind {
        KeyKind::Age => text
            .split_whitespace()
            .map(|k| key_fingerprint(k.as_bytes()))
            .collect(),
        KeyKind::Ssh => ssh_lines(text)
            .filter_map(|line| line.split_whitespace().nth(1))
            .filter_map(|blob| base64::engine::general_purpose::STANDARD.decode(blob).ok())
            .map(|blob| key_fingerprint(&blob))
            .collect(),
        KeyKind::Passphrase => Vec::new(),
    }
}

pub fn view(row: &RecipientRow) -> RecipientView {
    RecipientView {
        name: row.name.clone(),
        organisation: row.organisation.clone(),
        email: row.email.clone(),
        key_kind: row.key_kind,
        public_key: row.public_key.clone(),
        fingerprints: fingerprints(row.key_kind, row.public_key.as_deref()),
        created_at: format_ms(row.created_at),
    }
}

fn check_email(email: &str) -> AppResult<()> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid(
            "bad_email",
            format!("'{email}' is not an e-mail address"),
        ))
    }
}

pub async fn create(
    state: &AppState,
    actor: &Actor,
    request: CreateRecipientRequest,
    origin: &Origin,
) -> AppResult<RecipientView> {
    let grant = policy::manage_recipients(actor)?;
    let owner = grant.actor();
    check_text("the recipient's name", &request.name, 100)?;
    check_text("the organisation", &request.organisation, 200)?;
    check_email(&request.email)?;
    let public_key = match request.key_kind {
        KeyKind::Passphrase => None,
        kind => {
            let text = request
                .public_key
                .as_deref()
                .unwrap_or("")
                .trim()
                .to_string();
            let parsed = age_recipients(kind, Some(&text))
                .map_err(|e| AppError::invalid("bad_key", format!("{e:#}")))?;
            if parsed.is_empty() {
                return Err(AppError::invalid(
                    "bad_key",
                    "no public key was given: pass --age-key age1... or --ssh-key FILE",
                ));
            }
            Some(text)
        }
    };
    let row = RecipientRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_id: owner.user_id.clone(),
        name: request.name.trim().to_string(),
        organisation: request.organisation.trim().to_string(),
        email: request.email.trim().to_string(),
        key_kind: request.key_kind,
        public_key,
        created_at: state.clock.now_ms(),
    };
    let mut tx = state.db.write().await?;
    if recipients::by_owner_and_name(tx.conn(), &owner.user_id, &row.name)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(
            "recipient_exists",
            format!(
                "your address book already has a recipient named '{}'",
                row.name
            ),
        ));
    }
    recipients::insert(tx.conn(), &row).await?;
    let shown = view(&row);
    audit::append(
        tx.conn(),
        row.created_at,
        Record {
            actor: owner.username.clone(),
            action: Action::RecipientCreate,
            object: ObjectRef::Recipient(row.id.to_string()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "name": row.name, "organisation": row.organisation, "email": row.email,
                "key_kind": row.key_kind.as_str(), "fingerprints": shown.fingerprints,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(shown)
}

pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<RecipientView>> {
    let grant = policy::manage_recipients(actor)?;
    let mut conn = state.db.read().await?;
    Ok(
        recipients::list_for_owner(&mut conn, &grant.actor().user_id)
            .await?
            .iter()
            .map(view)
            .collect(),
    )
}
