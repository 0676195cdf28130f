//! The facts a notification is written from, stored in the outbox as JSON.
//! A notice carries only what its addressee may read in a mail: never file
//! content or file names, never a passphrase, a session token or a link
//! token (a recipient's link is derived again when its mail leaves).

use sekisho_proto::audit::ObjectRef;
use sekisho_proto::vocab::InboundState;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// To the deciders (the CISO for an approver's own request, a stand-in
    /// in an absent approver's place): a request waits for them.
    ApprovalWaiting {
        transfer_id: String,
        sender: String,
        purpose: String,
        class: String,
        file_count: u32,
        recipient_count: u32,
        /// The absent approver the addressee stands in for.
        #[serde(default)]
        stand_in_for: Option<String>,
    },
    /// To the same deciders, once, after `approval.reminder_hours`.
    ApprovalReminder {
        transfer_id: String,
        sender: String,
        purpose: String,
        class: String,
        submitted_at: String,
        expires_at: String,
        #[serde(default)]
        stand_in_for: Option<String>,
    },
    /// To the sender: their transfer was approved or rejected.
    TransferDecided {
        transfer_id: String,
        approved: bool,
        by: String,
        purpose: String,
        /// The approver's comment, or the reason of a rejection.
        comment: Option<String>,
    },
    /// To the sender: someone else revoked their transfer.
    TransferRevoked {
        transfer_id: String,
        by: String,
        purpose: String,
        reason: String,
    },
    /// To the sender: nobody decided within `approval.expire_days`.
    RequestExpired {
        transfer_id: String,
        purpose: String,
        days: u32,
    },
    /// To the sender: every link ran out.
    LinksExpired {
        transfer_id: String,
        purpose: String,
        links: Vec<LinkUse>,
    },
    /// To the sender: a recipient downloaded.
    Downloaded {
        transfer_id: String,
        purpose: String,
        recipient: String,
        at: String,
        /// The client address the download came from.
        source: String,
        downloads: u32,
        max_downloads: u32,
    },
    /// To one recipient: their own download link, after release.
    LinkReleased {
        transfer_id: String,
        link_id: String,
        recipient: String,
        sender: String,
        expires_at: String,
        max_downloads: u32,
        needs_passphrase: bool,
    },
    /// To the stand-in: they decide an absent approver's queue for a period.
    StandInNamed {
        approver: String,
        by: String,
        starts_at: String,
        ends_at: String,
    },
    /// To the requester of an inbound link or intake: files arrived.
    InboundArrived {
        request_id: String,
        from: String,
        purpose: String,
        files: Vec<Arrival>,
    },
    /// To the managers: malware was found.
    IncidentOpened {
        incident_id: String,
        engine: String,
        signature: String,
        uploader: String,
    },
    /// To the managers: a received file was classed `unknown`.
    UnknownClass { file_id: String, requester: String },
    /// To the deciders of the carry-out: a medium was not back in time.
    MediaOverdue {
        transfer_id: String,
        medium: String,
        carried_out_by: String,
        return_by: String,
    },
    /// To the system staff: a scanning engine needs attention.
    ScannerAlert {
        engine: String,
        problem: ScannerProblem,
    },
}

/// One link of a transfer whose links ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkUse {
    pub recipient: String,
    pub downloads: u32,
    pub max_downloads: u32,
}

/// One received file as its requester is told of it: no name (it came
/// from outside and could say anything), its size and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub size: u64,
    pub state: InboundState,
    /// Whether staff will receive a sanitised copy.
    pub sanitised: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScannerProblem {
    /// Signatures older than `scan.stale_after_hours`.
    Stale { age_hours: u64 },
    /// The engine did not answer, or answered with an error.
    Failing { error: String },
}

impl ScannerProblem {
    /// The alert this problem raises, one per engine and kind, so that it
    /// is mailed once while it lasts.
    pub fn alert_name(&self, engine: &str) -> String {
        match self {
            ScannerProblem::Stale { .. } => format!("scanner.stale:{engine}"),
            ScannerProblem::Failing { .. } => format!("scanner.failing:{engine}"),
        }
    }
}

impl Notice {
    /// The outbox's `kind` column: the serde tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::ApprovalWaiting { .. } => "approval_waiting",
            Notice::ApprovalReminder { .. } => "approval_reminder",
            Notice::TransferDecided { .. } => "transfer_decided",
            Notice::TransferRevoked { .. } => "transfer_revoked",
            Notice::RequestExpired { .. } => "request_expired",
            Notice::LinksExpired { .. } => "links_expired",
            Notice::Downloaded { .. } => "downloaded",
            Notice::LinkReleased { .. } => "link_released",
            Notice::StandInNamed { .. } => "stand_in_named",
            Notice::InboundArrived { .. } => "inbound_arrived",
            Notice::IncidentOpened { .. } => "incident_opened",
            Notice::UnknownClass { .. } => "unknown_class",
            Notice::MediaOverdue { .. } => "media_overdue",
            Notice::ScannerAlert { .. } => "scanner_alert",
        }
    }

    /// What the mail is about, as the audit log names it.
    pub fn object(&self) -> ObjectRef {
        match self {
            Notice::ApprovalWaiting { transfer_id, .. }
            | Notice::ApprovalReminder { transfer_id, .. }
            | Notice::TransferDecided { transfer_id, .. }
            | Notice::TransferRevoked { transfer_id, .. }
            | Notice::RequestExpired { transfer_id, .. }
            | Notice::LinksExpired { transfer_id, .. }
            | Notice::Downloaded { transfer_id, .. }
            | Notice::LinkReleased { transfer_id, .. }
            | Notice::MediaOverdue { transfer_id, .. } => ObjectRef::Transfer(transfer_id.clone()),
            Notice::StandInNamed { approver, .. } => ObjectRef::User(approver.clone()),
            Notice::InboundArrived { request_id, .. } => {
                ObjectRef::UploadRequest(request_id.clone())
            }
            Notice::IncidentOpened { incident_id, .. } => ObjectRef::Incident(incident_id.clone()),
            Notice::UnknownClass { file_id, .. } => ObjectRef::InboundFile(file_id.clone()),
            Notice::ScannerAlert { engine, .. } => ObjectRef::Gateway(format!("scanner:{engine}")),
        }
    }
}
