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

crate::vocab::vocabulary! {
    /// How a medium came (back) into the office (6.(4)②(イ)).
    pub enum ArrivalKind ("medium arrival kind") {
        /// One of ours, back from an approved carry-out.
        Return = "return",
        /// An outside medium brought in.
        CarryIn = "carry_in",
    }
}

/// A return or carry-in, with what became of the files taken in from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArrivalView {
    pub id: String,
    pub medium: String,
    pub kind: ArrivalKind,
    /// The carry-out a return closes.
    pub transfer: Option<String>,
    pub purpose: String,
    /// Who an outside medium came from, when given.
    pub origin: Option<String>,
    pub recorded_by: String,
    pub recorded_at: String,
    /// Intakes (`sekisho intake --medium ID`) of this arrival's files.
    pub intakes: Vec<ArrivalIntake>,
    /// False while no file from this arrival has been through the inbound
    /// scan: such a medium's data has not been taken in through Sekisho.
    pub scanned: bool,
}

/// One intake of an arrival's files and its scan results.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArrivalIntake {
    pub id: String,
    pub by: String,
    pub at: String,
    pub files: u64,
    pub clean: u64,
    pub infected: u64,
    pub unscanned: u64,
}
