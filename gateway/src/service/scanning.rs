//! The scanner as the services see it: the engines' status, and what
//! happens to an outbound file that is not clean (policy 6.(4)②: nothing
//! infected or unchecked leaves either).

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use super::Origin;
use super::incidents::{self, Finding};
use crate::db::audit::{self, Record};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Grant, perm};
use crate::scan::{EngineStatus, Verdict};
use crate::state::{AppState, Shared};

/// Each engine's version and signature age (engines are asked over the
/// network, so on a blocking thread).
pub async fn status(state: &Shared, actor: &Actor) -> AppResult<Vec<EngineStatus>> {
    let _grant = policy::view_scan_status(actor)?;
    let scanner = state.scanner.clone();
    let now = state.clock.now();
    tokio::task::spawn_blocking(move || scanner.status(now))
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// The file that was refused.
pub struct RefusedFile<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
    pub verdict: &'a Verdict,
}

/// An outbound file that is not clean: nothing is stored; the refusal is
/// logged and an infected file opens an incident (with the sender as the
/// "uploader"). Returns the error the sender sees.
pub async fn refuse_outbound<T>(
    state: &AppState,
    grant: &Grant<perm::Upload, T>,
    transfer_id: &str,
    file: RefusedFile<'_>,
    origin: &Origin,
) -> AppError {
    let actor = grant.actor();
    let now = state.clock.now_ms();
    let logged = async {
        let mut tx = state.db.write().await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: actor.username.clone(),
                action: Action::TransferUpload,
                object: ObjectRef::Transfer(transfer_id.to_string()),
                outcome: Outcome::Denied,
                source: origin.0.clone(),
                detail: json!({
                    "file": file.name,
                    "sha256": file.sha256,
                    "verdict": file.verdict.kind(),
                    "verdict_detail": file.verdict.detail(None),
                }),
            },
        )
        .await?;
        if let Verdict::Infected { engine, signature } = file.verdict {
            let finding = Finding {
                engine,
                signature,
                digest: file.sha256,
                uploader: format!(
                    "{} (outbound, '{}') from {}",
                    actor.username, file.name, origin.0
                ),
                request_id: Some(ObjectRef::Transfer(transfer_id.to_string()).to_string()),
                file_id: None,
            };
            incidents::open(state, tx.conn(), now, finding, &actor.username, origin).await?;
        }
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = logged {
        return e;
    }
    let name = file.name;
    match file.verdict {
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
