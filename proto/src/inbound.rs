//! Inbound files: upload requests handed to outside parties, what they
//! uploaded (with the scanner's verdict and the class staff give it), and
//! the incidents opened for infected files.

use serde::{Deserialize, Serialize};

use crate::vocab::{
    InboundClass, InboundState, IncidentState, SanitiseOutcome, UploadOutcomeKind, VerdictKind,
};

/// `POST /api/v1/inbox/requests`: ask an outside party for files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUploadRequest {
    /// A name from the requester's address book, or free text.
    pub from: String,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mb: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadRequestCreated {
    pub id: String,
    /// `https://<public base>/u/<token>`: the link is the permission.
    pub url: String,
    pub expires_at: String,
    pub max_files: u32,
    pub max_bytes: u64,
}

/// What happened to one uploaded file, in words for the uploader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadOutcome {
    pub name: String,
    pub outcome: UploadOutcomeKind,
    pub message: String,
    pub size: u64,
    pub sha256: String,
}

/// The answer to an upload through a request link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadAnswer {
    pub files: Vec<UploadOutcome>,
}

/// One received file as its requester (or a manager) sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboundFileView {
    pub id: String,
    pub request_id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub verdict: VerdictKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<InboundClass>,
    pub state: InboundState,
    pub sender: String,
    pub purpose: String,
    pub received_at: String,
    /// What sanitisation made of the file. With a rebuilt copy, `name`,
    /// `size` and `sha256` above describe the copy (what staff receive)
    /// and the original is described here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitised: Option<SanitisedView>,
}

/// The sanitisation report of one inbound file (6.(4)②).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SanitisedView {
    pub outcome: SanitiseOutcome,
    /// What was removed, one line each: kind and where
    /// (`vba_project word/vbaProject.bin`).
    #[serde(default)]
    pub removed: Vec<String>,
    /// Why the file was held (with outcome `held`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// The file as it came (kept encrypted; only a manager may release it).
    pub original_name: String,
    pub original_size: u64,
    pub original_sha256: String,
    #[serde(default)]
    pub sanitiser_version: String,
}

/// A manager's release of an original that staff do not receive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseOriginal {
    /// Why the original is needed (kept in the audit log).
    pub reason: String,
    /// A fresh code from the manager's authenticator app.
    pub otp: String,
}

/// `POST /api/v1/inbox/files/{id}/classify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassifyRequest {
    /// `unknown` hands the decision to a manager.
    pub class: InboundClass,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentView {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    pub engine: String,
    pub signature: String,
    pub digest: String,
    pub uploader: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub state: IncidentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub opened_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
}

/// `POST /api/v1/incidents/{id}/close`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CloseIncident {
    pub note: String,
}
