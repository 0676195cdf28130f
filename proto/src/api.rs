//! Requests and responses of the internal API (`/api/v1`) and the public
//! download listener (`/d/<token>`).
//!
//! Routes (internal listener, all JSON, bearer token unless noted):
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | POST | /api/v1/login (no token) | [`LoginRequest`] → [`LoginResponse`] |
//! | POST | /api/v1/logout | – → 204 |
//! | GET  | /api/v1/whoami | → [`UserInfo`] |
//! | POST | /api/v1/password | [`ChangePasswordRequest`] → 204 |
//! | GET  | /api/v1/admin/users | → `Vec<`[`UserSummary`]`>` |
//! | POST | /api/v1/admin/users | [`CreateUserRequest`] → [`NewAccount`] |
//! | POST | /api/v1/admin/users/{name}/disable | → [`UserSummary`] |
//! | POST | /api/v1/admin/users/{name}/enable | → [`UserSummary`] |
//! | GET  | /api/v1/recipients | → `Vec<`[`RecipientView`]`>` |
//! | POST | /api/v1/recipients | [`CreateRecipientRequest`] → [`RecipientView`] |
//! | POST | /api/v1/transfers | [`CreateTransferRequest`] → [`TransferCreated`] |
//! | PUT  | /api/v1/transfers/{id}/files/{index} | raw bytes → [`FileEntry`] |
//! | POST | /api/v1/transfers/{id}/submit | [`SubmitRequest`] → [`SubmitResponse`] |
//! | GET  | /api/v1/transfers?scope=mine\|pending\|all | → `Vec<`[`TransferSummary`]`>` |
//! | GET  | /api/v1/transfers/{id} | → [`TransferView`] |
//! | POST | /api/v1/transfers/{id}/approve | [`ApproveRequest`] → [`TransferView`] |
//! | POST | /api/v1/transfers/{id}/reject | [`RejectRequest`] → [`TransferView`] |
//! | POST | /api/v1/transfers/{id}/revoke | – → [`TransferView`] |
//! | GET  | /api/v1/transfers/{id}/links | → `Vec<`[`LinkView`]`>` |
//! | GET  | /api/v1/audit/events?after=SEQ&limit=N&[`AuditFilter`] fields | → [`AuditPage`] |
//! | GET  | /api/v1/audit/checkpoints | → `Vec<`[`AuditCheckpoint`]`>` (oldest first) |
//! | POST | /api/v1/audit/checkpoints | – → [`AuditCheckpoint`] (signs the head now) |
//! | GET  | /api/v1/audit/key | → [`AuditKey`] |
//! | GET  | /api/v1/openapi.json (no token) | → OpenAPI 3.1 document |
//! | GET  | /api/v1/health (no token) | → [`Health`] |
//!
//! Public listener: `GET /d/{token}` (an HTML page that does not count as a
//! download, so mail scanners that open links use nothing up) and
//! `POST /d/{token}` (the package; counts as a download).
//!
//! Every error answer is an [`ErrorBody`].

use serde::{Deserialize, Serialize};

use crate::{Class, FileEntry, Role, TransferState};

pub const API_PREFIX: &str = "/api/v1";

/// Header on a package answer: `age` when the body is an age file, `none`
/// for a plain tar (class III).
pub const HEADER_ENCRYPTION: &str = "x-sekisho-encryption";
/// Header on a package answer: the class of the package.
pub const HEADER_CLASS: &str = "x-sekisho-class";
/// Header on a package answer: the content digest the release was bound to.
pub const HEADER_CONTENT_DIGEST: &str = "x-sekisho-content-digest";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable reason (for scripts and tests).
    pub code: String,
    /// A sentence a clerk can act on.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: crate::vocab::HealthStatus,
    pub version: String,
}

/// `/readyz`: whether the gateway can do its work now, part by part.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Every check is ready.
    pub ready: bool,
    /// `database`, `store` and `scanner`, in that order.
    pub checks: Vec<ReadinessCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessCheck {
    pub name: String,
    pub ready: bool,
    /// What is wrong, in a few words (`unreachable`, `timed out`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    pub otp: String,
}

/// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .field("otp", &self.otp)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: String,
    pub user: UserInfo,
}

/// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
    /// A temporary password must be changed before anything else works.
    pub must_change_password: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("current_password", &"***")
            .field("new_password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    pub username: String,
    pub role: Role,
    /// Where the account's notifications go (optional; a sysadmin can set
    /// it later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `POST /api/v1/admin/users/{name}/email`: the account's new address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    pub email: String,
}

/// Names a stand-in (代理承認者) for an approver or the CISO.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetDelegation {
    /// The user name of the stand-in: another approver, or the CISO.
    pub stand_in: String,
    /// First day (YYYY-MM-DD, Japan time); absent: from now.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD, Japan time), included.
    pub until: String,
}

/// A stand-in as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DelegationView {
    /// The approver (or CISO) who is away.
    pub approver: String,
    pub stand_in: String,
    pub stand_in_role: Role,
    pub starts_at: String,
    pub ends_at: String,
    /// Who named the stand-in: the approver or a sysadmin.
    pub set_by: String,
    /// Whether the stand-in decides in the approver's place right now.
    pub in_effect: bool,
}

/// Shown once, when an account is created.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAccount {
    pub username: String,
    pub role: Role,
    pub temporary_password: String,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

/// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("temporary_password", &"***")
            .field("totp_secret", &"***")
            .field("otpauth_uri", &"***")
            .finish()
    }
}

pub use crate::vocab::AccountStatus;

/// An account suspended recently (7.(5)②), for the CISO to review.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuspensionView {
    pub username: String,
    pub suspended_by: String,
    /// The suspender's role (a sysadmin, a manager or the CISO).
    pub by_role: Option<Role>,
    pub suspended_at: String,
    /// The account's status now (enabled again, still disabled, retired).
    pub status: Option<AccountStatus>,
}

/// `POST /api/v1/admin/users/{name}/role`: the account's new role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub username: String,
    pub role: Role,
    pub status: AccountStatus,
    pub must_change_password: bool,
    /// Set while repeated login failures keep the account locked.
    pub locked_until: Option<String>,
    pub created_at: String,
    /// Where the account's notifications go, if anywhere.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Age,
    Ssh,
    Passphrase,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Age => "age",
            KeyKind::Ssh => "ssh",
            KeyKind::Passphrase => "passphrase",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRecipientRequest {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub key_kind: KeyKind,
    /// `age1...` or one or more OpenSSH public key lines; absent for passphrase.
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientView {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub key_kind: KeyKind,
    pub public_key: Option<String>,
    /// `SHA256:...` of each key, for reading aloud over the phone.
    pub fingerprints: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewFile {
    pub name: String,
    pub size: u64,
    /// This file's own class when it differs from the transfer's `class`;
    /// the bundle is handled at the highest class of its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTransferRequest {
    /// A string so that a wrong value gets the gateway's own clear message.
    pub class: Option<String>,
    pub purpose: Option<String>,
    pub recipients: Vec<String>,
    pub files: Vec<NewFile>,
    /// Set for a carry-out on a registered medium instead of a send; then
    /// `recipients` is empty and `return_by` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD: when the medium must be back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_by: Option<String>,
    /// Carry-outs: an age public key to lock I/II packages to, instead of a
    /// generated passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferCreated {
    pub id: String,
    pub class: Class,
    /// `PUT` each file's bytes to its path, in any order, then submit.
    pub uploads: Vec<UploadSlot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadSlot {
    pub index: u32,
    pub name: String,
    pub size: u64,
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitRequest {
    /// The SHA-256 the client computed while sending, per file index; the
    /// gateway refuses the transfer if its own digest differs.
    pub files: Vec<SubmittedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmittedFile {
    pub index: u32,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitResponse {
    pub transfer: TransferView,
    /// Passphrases generated for passphrase recipients. Shown this once:
    /// the sender passes them on by telephone, never with the link.
    pub passphrases: Vec<RecipientPassphrase>,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientPassphrase {
    pub recipient: String,
    pub passphrase: String,
}

/// Secrets never reach a log through `{:?}`.
impl std::fmt::Debug for RecipientPassphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientPassphrase")
            .field("recipient", &self.recipient)
            .field("passphrase", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferSummary {
    pub id: String,
    pub state: TransferState,
    pub class: Class,
    pub sender: String,
    pub purpose: String,
    pub recipients: Vec<String>,
    pub file_count: u32,
    pub total_size: u64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferView {
    pub id: String,
    pub state: TransferState,
    pub class: Class,
    pub sender: String,
    pub sender_role: Role,
    pub purpose: String,
    pub created_at: String,
    pub files: Vec<FileEntry>,
    pub total_size: u64,
    /// Covers every file's name, size and digest; an approval names it.
    pub content_digest: Option<String>,
    pub recipients: Vec<TransferRecipientView>,
    pub decision: Option<DecisionView>,
    /// Which role must decide (approver, or ciso for an approver's own request).
    pub approval_by: Option<Role>,
    pub released_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Carry-outs only: the medium, its return date, and what was recorded.
    #[serde(default)]
    pub medium: Option<String>,
    #[serde(default)]
    pub return_by: Option<String>,
    #[serde(default)]
    pub written_at: Option<String>,
    #[serde(default)]
    pub returned_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferRecipientView {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub key_kind: KeyKind,
    pub fingerprints: Vec<String>,
    pub link: Option<LinkStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkStatus {
    pub state: LinkState,
    pub downloads: u32,
    pub max_downloads: u32,
    pub expires_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Active,
    Exhausted,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    pub decision: Decision,
    pub by: String,
    pub by_role: Role,
    /// The approver a stand-in (代理承認者) decided for; absent when the
    /// decider acted on their own authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    pub at: String,
    pub comment: Option<String>,
    pub content_digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApproveRequest {
    /// The content digest the approver was shown; approval fails if the
    /// transfer no longer matches it.
    pub content_digest: String,
    /// Step-up: a fresh TOTP code.
    pub otp: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RejectRequest {
    pub otp: String,
    pub reason: String,
}

/// `POST /api/v1/transfers/{id}/revoke`: why (a wrong recipient, a wrong
/// file); shown to the approver who let the transfer out (6.(1)⑧(エ)).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: String,
}

/// A transfer the caller approved that was revoked afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevocationView {
    pub transfer_id: String,
    pub class: Class,
    pub purpose: String,
    pub sender: String,
    pub approved_at: String,
    pub revoked_at: String,
    /// Who revoked it (the sender, or an approver or the CISO).
    pub revoked_by: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkView {
    pub recipient: String,
    pub url: String,
    pub state: LinkState,
    pub downloads: u32,
    pub max_downloads: u32,
    pub expires_at: String,
    /// Set when the package is encrypted to a passphrase: remind the sender
    /// to pass it on by another channel.
    pub needs_passphrase: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    /// Class of the object the event is about (`I`, `II`, `III`), or empty.
    pub class: String,
    pub outcome: String,
    pub source: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` to fetch the next page; absent at the end.
    pub next_after: Option<i64>,
}

/// The hash chain link: SHA-256 over the previous hash and every field,
/// each length-prefixed so that no two different events encode alike.
/// The auditor's client recomputes it without trusting the gateway.
pub fn audit_event_hash(event: &AuditEvent) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"sekisho-audit-v1");
    let seq = event.seq.to_string();
    for field in [
        event.prev_hash.as_str(),
        seq.as_str(),
        event.at.as_str(),
        event.actor.as_str(),
        event.action.as_str(),
        event.object.as_str(),
        event.class.as_str(),
        event.outcome.as_str(),
        event.source.as_str(),
        event.detail.as_str(),
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Filters of `GET /api/v1/audit/events`, all optional and combined with
/// AND. Times are RFC 3339; `action` matches a whole action (`login.fail`)
/// or a family when it ends with a dot (`transfer.`). With any filter set
/// the answer is a subset and cannot be chain-verified; `audit verify`
/// always reads the unfiltered log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct AuditFilter {
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    pub actor: Option<String>,
    /// Exact (`login.fail`), or a family ending with `.` (`transfer.`).
    pub action: Option<String>,
    pub object: Option<String>,
    pub class: Option<String>,
    pub outcome: Option<String>,
}

/// A signed statement by the gateway: "the log had `seq` events and the
/// last one's hash was `head_hash` at `at`". Kept off the gateway (printed,
/// mailed, witnessed), it lets an auditor detect a truncated or rewritten log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditCheckpoint {
    pub seq: i64,
    pub head_hash: String,
    pub at: String,
    /// `SHA256:` fingerprint of the Ed25519 public key that signed it.
    pub key_fingerprint: String,
    /// Base64 Ed25519 signature over [`checkpoint_message`].
    pub signature: String,
}

/// The gateway's audit public key (Ed25519), for pinning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKey {
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub fingerprint: String,
}

/// Exactly the bytes a checkpoint signature covers.
pub fn checkpoint_message(seq: i64, head_hash: &str, at: &str) -> Vec<u8> {
    format!("sekisho-audit-checkpoint-v1\n{seq}\n{head_hash}\n{at}\n").into_bytes()
}

/// Fingerprint of an audit public key (raw 32 bytes).
pub fn audit_key_fingerprint(public_key: &[u8]) -> String {
    crate::key_fingerprint(public_key)
}

/// Checks a checkpoint's signature against a pinned public key (base64).
pub fn verify_checkpoint(public_key_b64: &str, checkpoint: &AuditCheckpoint) -> Result<(), String> {
    use base64::Engine;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let engine = base64::engine::general_purpose::STANDARD;
    let key_bytes: [u8; 32] = engine
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the pinned audit key is not a base64 Ed25519 public key")?;
    let key =
        VerifyingKey::from_bytes(&key_bytes).map_err(|_| "the pinned audit key is invalid")?;
    if audit_key_fingerprint(&key_bytes) != checkpoint.key_fingerprint {
        return Err(format!(
            "checkpoint #{} was signed by another key ({}), not the pinned one",
            checkpoint.seq, checkpoint.key_fingerprint
        ));
    }
    let signature_bytes: [u8; 64] = engine
        .decode(checkpoint.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("checkpoint #{} has a malformed signature", checkpoint.seq))?;
    key.verify(
        &checkpoint_message(checkpoint.seq, &checkpoint.head_hash, &checkpoint.at),
        &Signature::from_bytes(&signature_bytes),
    )
    .map_err(|_| {
        format!(
            "checkpoint #{} has a forged or damaged signature",
            checkpoint.seq
        )
    })
}

/// Hash that precedes the first event.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Result of checking a chain of events in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub events_checked: u64,
    pub first_bad: Option<BadEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadEvent {
    pub seq: i64,
    pub reason: String,
}

/// Incremental chain checker: feed events in order, page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: i64,
    checked: u64,
    first_bad: Option<BadEvent>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::starting_after(0, AUDIT_GENESIS)
    }
}

impl ChainVerifier {
    /// Continues a chain from a trusted point: after pruning, the first kept
    /// event must link to the head of a signed checkpoint at `seq`.
    pub fn starting_after(seq: i64, head_hash: &str) -> Self {
        Self {
            expected_prev: head_hash.to_string(),
            expected_seq: seq + 1,
            checked: 0,
            first_bad: None,
        }
    }

    /// Hash of the last good event (the head so far).
    pub fn head(&self) -> &str {
        &self.expected_prev
    }

    /// Sequence number of the last good event.
    pub fn last_seq(&self) -> i64 {
        self.expected_seq - 1
    }

    /// Returns false once a bad event has been found (later events are not
    /// examined: after the first break nothing downstream can be trusted).
    pub fn push(&mut self, event: &AuditEvent) -> bool {
        if self.first_bad.is_some() {
            return false;
        }
        let reason = if event.seq != self.expected_seq {
            Some(format!(
                "expected event #{} here but found #{} (an event was removed, inserted or reordered)",
                self.expected_seq, event.seq
            ))
        } else if event.prev_hash != self.expected_prev {
            Some("its link to the previous event does not match (an earlier event was changed or removed)".to_string())
        } else if audit_event_hash(event) != event.hash {
            Some("its content does not match its hash (the event was changed)".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            self.first_bad = Some(BadEvent {
                seq: event.seq,
                reason,
            });
            return false;
        }
        self.checked += 1;
        self.expected_seq += 1;
        self.expected_prev = event.hash.clone();
        true
    }

    pub fn finish(self) -> ChainReport {
        ChainReport {
            events_checked: self.checked,
            first_bad: self.first_bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_debug_output() {
        let request = LoginRequest {
            username: "alice".into(),
            password: "Hunter2-Hunter2".into(),
            otp: "123456".into(),
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("alice") && !shown.contains("Hunter2"));
    }

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = AUDIT_GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    seq,
                    at: "2026-11-25T00:00:00Z".into(),
                    actor: "alice".into(),
                    action: "login".into(),
                    object: format!("user:{seq}"),
                    class: String::new(),
                    outcome: "ok".into(),
                    source: "127.0.0.1".into(),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = audit_event_hash(&e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> ChainReport {
        let mut v = ChainVerifier::default();
        for e in events {
            v.push(e);
        }
        v.finish()
    }

    #[test]
    fn intact_chain_verifies() {
        let report = verify(&chain(5));
        assert_eq!(report.events_checked, 5);
        assert_eq!(report.first_bad, None);
    }

    #[test]
    fn edited_event_is_named() {
        let mut events = chain(5);
        events[2].actor = "mallory".into();
        assert_eq!(verify(&events).first_bad.map(|b| b.seq), Some(3));
    }

    #[test]
    fn removed_event_is_named() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify(&events).first_bad.map(|b| b.seq), Some(3));
    }

    #[test]
    fn rehashed_edit_breaks_the_next_link() {
        let mut events = chain(5);
        events[1].detail = "forged".into();
        events[1].hash = audit_event_hash(&events[1]);
        assert_eq!(verify(&events).first_bad.map(|b| b.seq), Some(3));
    }
}
