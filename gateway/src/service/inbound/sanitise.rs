//! Sanitisation (無害化, policy 6.(4)②) of a clean inbound file: the stored
//! original is decrypted as a seekable stream (never to a plaintext file),
//! rebuilt by [`sekisho_sanitise`] straight into a new encrypted object, and
//! the outcome recorded with the file. Staff receive the copy; the original
//! stays encrypted until retention ends and only a manager may release it
//! ([`super::files::release_original`]).
//!
//! Fail closed: a file the sanitiser holds (unsupported type, malformed,
//! over a bound, time-out, a panic inside a parser), a stored object that
//! cannot be read, or a sanitising thread that died all give
//! [`SanitiseOutcome::Held`], and the file is never readable by staff.

use sekisho_proto::inbound::SanitisedView;
use sekisho_proto::vocab::{SanitiseOutcome, UploadRequestKind};
use sekisho_sanitise::{Held, HeldReason, Outcome, Removal};
use serde::{Deserialize, Serialize};

use crate::config::SanitiseConfig;
use crate::db::inbound::RequestRow;
use crate::db::inbound::{FileRow, Sanitised, SanitisedCopy};
use crate::envelope;
use crate::service::ingest::discard_object;
use crate::state::Shared;
use sekisho_proto::media::ArrivalKind;

/// Does sanitisation apply to files from this request? Its source decides:
/// a request link, an intake of a returned medium of ours, or any other
/// intake (an outside medium, or one not tied to a medium).
pub fn applies(config: &SanitiseConfig, request: &RequestRow) -> bool {
    match (request.kind, request.arrival_kind) {
        (UploadRequestKind::Link, _) => config.request_links,
        (UploadRequestKind::Intake, Some(ArrivalKind::Return)) => config.returned_media,
        (UploadRequestKind::Intake, _) => config.media_intake,
    }
}

/// What is kept as the file's sanitisation report (JSON in the database
/// and in the audit event).
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredReport {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    sanitiser_version: String,
    #[serde(default)]
    removals: Vec<Removal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held: Option<Held>,
}

/// A finished sanitisation: what to record, and the copy's sealed object
/// when there is one (recorded with the file, or discarded with it).
pub struct Done {
    pub sanitised: Sanitised,
    pub copy_sealed: Option<envelope::Sealed>,
}

impl Done {
    /// Removes the copy's blob and key share (the upload was not recorded).
    pub fn discard(&self, state: &Shared) {
        if let Some(copy) = &self.sanitised.copy {
            discard_object(state, &copy.object_id);
        }
    }

    /// Records the copy's stored object, in the caller's transaction, so
    /// the copy and the file row that names it are one change.
    pub async fn record_copy(&self, conn: &mut crate::db::Conn, now: i64) -> anyhow::Result<()> {
        if let (Some(copy), Some(sealed)) = (&self.sanitised.copy, &self.copy_sealed) {
            crate::db::objects::insert(
                conn,
                &crate::db::objects::ObjectRow {
                    id: copy.object_id.clone(),
                    wrapped_key: sealed.wrapped_key.clone(),
                    size: sealed.size as i64,
                    sha256: sealed.sha256.clone(),
                },
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// The report as JSON, for the audit event.
    pub fn report_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.sanitised.report).unwrap_or(serde_json::Value::Null)
    }
}

fn held_done(held: Held) -> Done {
    let report = StoredReport {
        sanitiser_version: sekisho_sanitise::VERSION.into(),
        held: Some(held),
        ..StoredReport::default()
    };
    Done {
        sanitised: Sanitised {
            outcome: SanitiseOutcome::Held,
            report: serde_json::to_string(&report).unwrap_or_default(),
            copy: None,
        },
        copy_sealed: None,
    }
}

/// Sanitise the stored object `object_id` (the original, called `name` by
/// its sender) into a new encrypted object. Never fails: every failure is
/// a held file.
pub async fn run(state: &Shared, object_id: &str, wrapped_key: &[u8], name: &str) -> Done {
    let worker = {
        let state = state.clone();
        let object_id = object_id.to_string();
        let wrapped_key = wrapped_key.to_vec();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || blocking(&state, &object_id, &wrapped_key, &name))
    };
    match worker.await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!("the sanitising thread failed: {e}");
            held_done(Held::new(
                HeldReason::Crashed,
                "the sanitiser failed on this file",
            ))
        }
    }
}

fn blocking(state: &Shared, object_id: &str, wrapped_key: &[u8], name: &str) -> Done {
    let config = &state.config.sanitise;
    let original =
        match envelope::open_seekable(&state.keys, state.store.as_ref(), object_id, wrapped_key) {
            Ok(reader) => reader,
            Err(e) => {
                tracing::error!("cannot read inbound object {object_id} to sanitise it: {e:#}");
                return held_done(Held::new(
                    HeldReason::Malformed,
                    "the stored file could not be read to sanitise it",
                ));
            }
        };
    let copy_id = uuid::Uuid::new_v4().simple().to_string();
    let (mut writer, wrapped) = match envelope::seal(&state.keys, state.store.as_ref(), &copy_id) {
        Ok(sealing) => sealing,
        Err(e) => {
            tracing::error!("cannot store a sanitised copy: {e:#}");
            return held_done(Held::new(
                HeldReason::Crashed,
                "the sanitised copy could not be stored",
            ));
        }
    };
    let result = sekisho_sanitise::sanitise(original, name, &mut writer, &config.limits);
    let stored = |report: &sekisho_sanitise::Report| {
        serde_json::to_string(&StoredReport {
            format: Some(report.format.as_str().into()),
            sanitiser_version: report.sanitiser_version.clone(),
            removals: report.removals.clone(),
            held: None,
        })
        .unwrap_or_default()
    };
    match result {
        Ok(Outcome::Rebuilt { report, new_name }) => match writer.finish(wrapped.clone()) {
            Ok(sealed) => Done {
                sanitised: Sanitised {
                    outcome: SanitiseOutcome::Rebuilt,
                    report: stored(&report),
                    copy: Some(SanitisedCopy {
                        object_id: copy_id,
                        name: new_name,
                        size: sealed.size as i64,
                        sha256: sealed.sha256.clone(),
                    }),
                },
                copy_sealed: Some(sealed),
            },
            Err(e) => {
                tracing::error!("cannot store a sanitised copy: {e:#}");
                discard_object(state, &copy_id);
                held_done(Held::new(
                    HeldReason::Crashed,
                    "the sanitised copy could not be stored",
                ))
            }
        },
        Ok(Outcome::Unchanged { report }) => {
            drop(writer);
            discard_object(state, &copy_id);
            Done {
                sanitised: Sanitised {
                    outcome: SanitiseOutcome::Unchanged,
                    report: stored(&report),
                    copy: None,
                },
                copy_sealed: None,
            }
        }
        Err(held) => {
            drop(writer);
            discard_object(state, &copy_id);
            if held.reason == HeldReason::Unsupported && config.pass_unsupported {
                // Configured to pass on the scan alone; the report says so.
                let mut done = held_done(held);
                done.sanitised.outcome = SanitiseOutcome::Off;
                return done;
            }
            held_done(held)
        }
    }
}

/// The outcome when sanitisation does not apply to the file's source.
pub fn off() -> Done {
    Done {
        sanitised: Sanitised {
            outcome: SanitiseOutcome::Off,
            report: String::new(),
            copy: None,
        },
        copy_sealed: None,
    }
}

/// The report as staff read it.
pub fn view(file: &FileRow) -> Option<SanitisedView> {
    let s = file.sanitised.as_ref()?;
    let report: StoredReport = serde_json::from_str(&s.report).unwrap_or_default();
    Some(SanitisedView {
        outcome: s.outcome,
        removed: report
            .removals
            .iter()
            .map(|r| format!("{} {}", r.kind.as_str(), r.location))
            .collect(),
        held: report
            .held
            .map(|h| format!("{}: {}", h.reason.as_str(), h.detail)),
        original_name: file.name.clone(),
        original_size: file.size as u64,
        original_sha256: file.sha256.clone(),
        sanitiser_version: report.sanitiser_version,
    })
}
