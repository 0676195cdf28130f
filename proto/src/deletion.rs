//! Secure deletion (廃棄, policy 2.(2)⑩): disposal requests and the signed
//! deletion certificate an auditor verifies offline.

use serde::{Deserialize, Serialize};

use crate::{Class, FileEntry};

pub const CERTIFICATE_FORMAT: &str = "sekisho-deletion-certificate-v1";

crate::vocab::vocabulary! {
    pub enum DisposalState ("deletion state") {
        /// Waiting for the approver (class I/II disposed of before its time).
        Requested = "requested",
        Rejected = "rejected",
        /// Keys destroyed; the stored bytes are being removed.
        KeysDestroyed = "keys_destroyed",
        Complete = "complete",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisposeRequest {
    /// The stored object: a transfer's id.
    pub object: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisposalView {
    pub id: String,
    pub object: String,
    pub class: Class,
    pub state: DisposalState,
    pub reason: String,
    pub trigger: crate::vocab::DeletionTrigger,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_comment: Option<String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecideDisposal {
    pub otp: String,
    /// A comment when approving; the reason when rejecting (required then).
    pub comment: Option<String>,
}

/// What was deleted, how, why, by whom and when: signed by the gateway's
/// audit key so an auditor can check it without trusting the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletionCertificate {
    pub format: String,
    pub deletion_id: String,
    pub object: String,
    pub class: Class,
    pub files: Vec<FileEntry>,
    pub method: String,
    pub reason: String,
    pub trigger: crate::vocab::DeletionTrigger,
    pub requested_by: String,
    pub requested_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub erased_at: String,
    pub key_fingerprint: String,
    /// Base64 Ed25519 signature over [`certificate_message`]; empty while signing.
    pub signature: String,
}

/// The bytes a certificate's signature covers: its JSON with an empty
/// signature (field order is fixed by the struct).
pub fn certificate_message(certificate: &DeletionCertificate) -> Vec<u8> {
    let mut unsigned = certificate.clone();
    unsigned.signature = String::new();
    let mut bytes = b"sekisho-deletion-certificate-v1\n".to_vec();
    bytes.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
    bytes
}

/// Checks a certificate against a pinned audit public key (base64).
pub fn verify_certificate(
    public_key_b64: &str,
    certificate: &DeletionCertificate,
) -> Result<(), String> {
    use base64::Engine;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let engine = base64::engine::general_purpose::STANDARD;
    let key_bytes: [u8; 32] = engine
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the audit key is not a base64 Ed25519 public key")?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| "the audit key is invalid")?;
    if crate::audit_key_fingerprint(&key_bytes) != certificate.key_fingerprint {
        return Err("the certificate was signed by another key, not the pinned one".into());
    }
    if certificate.format != CERTIFICATE_FORMAT {
        return Err(format!(
            "unknown certificate format '{}'",
            certificate.format
        ));
    }
    let signature: [u8; 64] = engine
        .decode(certificate.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the certificate's signature is malformed")?;
    key.verify(
        &certificate_message(certificate),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| "the certificate was altered or its signature is forged".to_string())
}
