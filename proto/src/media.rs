//! Removable media (電磁的記録媒体, policy 5.(1)③⑤, 2.(2)⑧): the ledger,
//! carry-out records and returns.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterMedium {
    pub id: String,
    pub label: String,
    pub media_type: String,
    pub section: String,
}

crate::vocab::vocabulary! {
    pub enum MediumState ("medium state") {
        /// In the office, free to be used.
        Available = "available",
        /// Carried out (written with an approved package), not yet returned.
        Out = "out",
        /// Disposed of (destroyed or handed back); it can never be used again.
        Disposed = "disposed",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediumView {
    pub id: String,
    pub label: String,
    pub media_type: String,
    pub section: String,
    pub state: MediumState,
    pub registered_by: String,
    pub registered_at: String,
    /// The open carry-out, if any.
    pub checkout: Option<CheckoutSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckoutSummary {
    /// The carry-out's transfer id.
    pub id: String,
    pub requester: String,
    pub purpose: String,
    pub state: crate::TransferState,
    pub return_by: String,
    pub written_at: Option<String>,
    pub overdue: bool,
}

/// What the client wrote onto the medium and read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WrittenReport {
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarryIn {
    pub purpose: String,
    /// Who the medium came from (outside media), if not one of ours.
    pub origin: Option<String>,
}

crate::vocab::vocabulary! {
    /// Wiping keeps the medium in use; disposing retires it for good.
    pub enum MediumDisposalKind ("medium disposal kind") {
        Wipe = "wipe",
        Dispose = "dispose",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediumDisposalRequest {
    pub kind: MediumDisposalKind,
    /// How: e.g. "全領域上書き消去 (overwrite)", "物理破壊 (shredded)".
    pub method: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediumDisposalView {
    pub id: String,
    pub medium: String,
    pub kind: MediumDisposalKind,
    pub method: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
    pub state: crate::vocab::MediumDisposalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_comment: Option<String>,
}
