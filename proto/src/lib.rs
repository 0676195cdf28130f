//! Wire types shared by the gateway and the `sekisho` client.
//!
//! Everything that crosses the HTTPS boundary is defined here once, so the two
//! sides cannot drift apart. Timestamps travel as RFC 3339 strings in UTC;
//! digests as lower-case hex SHA-256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

pub mod api;
pub mod audit;
pub mod deletion;
pub mod escape;
pub mod inbound;
pub mod media;
pub mod names;
pub mod password;
pub mod report;
pub mod vocab;

pub use api::*;

/// 重要性 (classification) of a file or bundle, policy 第2章 2.(1).
///
/// The derive order matters: `I` is the most sensitive, so `max()` over a
/// bundle's classes gives the class the whole bundle must be handled at
/// (policy 2.(2)⑤(ウ)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Class {
    #[serde(rename = "III")]
    III,
    #[serde(rename = "II")]
    II,
    #[serde(rename = "I")]
    I,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::I => "I",
            Class::II => "II",
            Class::III => "III",
        }
    }

    /// The label as staff see it on paper: 重要性I, 重要性II, 重要性III.
    pub fn label_ja(self) -> String {
        format!("重要性{}", self.as_str())
    }

    /// Classes I and II may only leave encrypted and with an approver's permission.
    pub fn needs_approval(self) -> bool {
        matches!(self, Class::I | Class::II)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a classification the policy does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidClass(pub String);

impl fmt::Display for InvalidClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a classification; use I, II or III (重要性I/II/III)",
            self.0
        )
    }
}

impl std::error::Error for InvalidClass {}

impl FromStr for Class {
    type Err = InvalidClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "I" | "1" | "重要性I" => Ok(Class::I),
            "II" | "2" | "重要性II" => Ok(Class::II),
            "III" | "3" | "重要性III" => Ok(Class::III),
            other => Err(InvalidClass(other.to_string())),
        }
    }
}

/// Gateway roles (requirements.md, "People and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ciso,
    Approver,
    Manager,
    Sysadmin,
    Auditor,
    Staff,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Ciso,
        Role::Approver,
        Role::Manager,
        Role::Sysadmin,
        Role::Auditor,
        Role::Staff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ciso => "ciso",
            Role::Approver => "approver",
            Role::Manager => "manager",
            Role::Sysadmin => "sysadmin",
            Role::Auditor => "auditor",
            Role::Staff => "staff",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not a role; use one of ciso, approver, manager, sysadmin, auditor, staff")
            })
    }
}

/// Life cycle of an outbound transfer. The gateway owns the allowed
/// transitions; the client only displays the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Created; files are being streamed in.
    Uploading,
    /// All files stored; class I/II waits for an approver.
    PendingApproval,
    /// Links are live.
    Released,
    /// An approver refused it; nothing was ever released.
    Rejected,
    /// The sender withdrew it (before approval) or revoked its links (after).
    Revoked,
    /// Every link has expired.
    Expired,
    /// The stored content was securely deleted; only the record remains.
    Erased,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Uploading => "uploading",
            TransferState::PendingApproval => "pending_approval",
            TransferState::Released => "released",
            TransferState::Rejected => "rejected",
            TransferState::Revoked => "revoked",
            TransferState::Expired => "expired",
            TransferState::Erased => "erased",
        }
    }

    /// What staff read in a table (Japanese first, English after).
    pub fn label(self) -> &'static str {
        match self {
            TransferState::Uploading => "送信中 uploading",
            TransferState::PendingApproval => "承認待ち pending approval",
            TransferState::Released => "送付済み released",
            TransferState::Rejected => "却下 rejected",
            TransferState::Revoked => "取消 revoked",
            TransferState::Expired => "期限切れ expired",
            TransferState::Erased => "消去済み erased",
        }
    }
}

impl fmt::Display for TransferState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransferState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            TransferState::Uploading,
            TransferState::PendingApproval,
            TransferState::Released,
            TransferState::Rejected,
            TransferState::Revoked,
            TransferState::Expired,
            TransferState::Erased,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| format!("unknown transfer state '{s}'"))
    }
}

/// Digest that an approval is bound to: it covers every file's name, size
/// and SHA-256, in upload order. Both the approver's client and the gateway
/// compute it, so an approval cannot be replayed onto changed content.
pub fn content_digest<'a>(files: impl IntoIterator<Item = (&'a str, u64, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"sekisho-content-v1\n");
    for (name, size, sha256) in files {
        hasher.update(sha256.as_bytes());
        hasher.update(b" ");
        hasher.update(size.to_string().as_bytes());
        hasher.update(b" ");
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Fingerprint shown next to a recipient's public key: `SHA256:` and the
/// unpadded base64 of the SHA-256 of `key_material`. Pass the decoded key
/// blob of an SSH key (then it equals `ssh-keygen -l`) or the `age1...` text
/// of an age key.
pub fn key_fingerprint(key_material: &[u8]) -> String {
    use base64::Engine;
    let digest = Sha256::digest(key_material);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// Name of the package a recipient downloads: the class label is part of
/// the name (policy 2.(2)②(ア)).
pub fn package_file_name(transfer_id: &str, class: Class, encrypted: bool) -> String {
    let suffix = if encrypted { ".tar.age" } else { ".tar" };
    format!("{}_{}{}", class.label_ja(), transfer_id, suffix)
}

/// Name of a single file saved on a desk or a medium: its class label in
/// front (2.(2)①(イ), ②(ア)), so a copy still shows its class. A label that
/// is already there is replaced, never doubled or contradicted.
pub fn labelled_file_name(class: Class, name: &str) -> String {
    let bare = [Class::I, Class::II, Class::III]
        .iter()
        // Longest label first: 重要性III_ also starts with 重要性I.
        .rev()
        .find_map(|c| name.strip_prefix(&format!("{}_", c.label_ja())))
        .unwrap_or(name);
    format!("{}_{bare}", class.label_ja())
}

/// ASCII fallback for HTTP clients that cannot read RFC 5987 file names.
pub fn package_file_name_ascii(transfer_id: &str, class: Class, encrypted: bool) -> String {
    let suffix = if encrypted { ".tar.age" } else { ".tar" };
    format!("class-{}_{}{}", class.as_str(), transfer_id, suffix)
}

/// Manifest placed at the top of every delivered package as `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub transfer_id: String,
    pub class: Class,
    pub class_label: String,
    pub sender: String,
    pub purpose: String,
    pub recipient: ManifestRecipient,
    pub created_at: String,
    pub released_at: String,
    pub approval: Option<ManifestApproval>,
    pub content_digest: String,
    pub files: Vec<FileEntry>,
}

pub const MANIFEST_FORMAT: &str = "sekisho-package-v1";
pub const MANIFEST_NAME: &str = "MANIFEST.json";
/// `sha256sum -c` compatible list, so the manual path needs no Sekisho tool.
pub const CHECKSUMS_NAME: &str = "SHA256SUMS";
/// Folder inside the package that holds the files themselves.
pub const PAYLOAD_DIR: &str = "files";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecipient {
    pub name: String,
    pub organisation: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestApproval {
    pub approver: String,
    pub approver_role: Role,
    pub decided_at: String,
    pub comment: Option<String>,
    pub content_digest: String,
}

/// One file of a transfer as both sides describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_class_is_the_highest_of_its_files() {
        let classes = [Class::III, Class::I, Class::II];
        assert_eq!(classes.iter().max(), Some(&Class::I));
        assert_eq!([Class::III, Class::II].iter().max(), Some(&Class::II));
    }

    #[test]
    fn only_the_three_policy_classes_parse() {
        assert_eq!("II".parse::<Class>(), Ok(Class::II));
        assert_eq!("重要性III".parse::<Class>(), Ok(Class::III));
        assert!("IV".parse::<Class>().is_err());
        assert!("".parse::<Class>().is_err());
        assert!("secret".parse::<Class>().is_err());
    }

    #[test]
    fn content_digest_changes_with_any_field() {
        let base = content_digest([("a.txt", 3, "aa")]);
        assert_ne!(base, content_digest([("a.txt", 4, "aa")]));
        assert_ne!(base, content_digest([("b.txt", 3, "aa")]));
        assert_ne!(base, content_digest([("a.txt", 3, "ab")]));
        assert_eq!(base, content_digest([("a.txt", 3, "aa")]));
    }

    #[test]
    fn r02_2_1_a_saved_file_carries_its_class_label_once() {
        assert_eq!(
            labelled_file_name(Class::II, "見積書.pdf"),
            "重要性II_見積書.pdf"
        );
        assert_eq!(
            labelled_file_name(Class::II, "重要性II_見積書.pdf"),
            "重要性II_見積書.pdf"
        );
        assert_eq!(
            labelled_file_name(Class::I, "重要性III_a.txt"),
            "重要性I_a.txt"
        );
        assert_eq!(
            labelled_file_name(Class::III, "重要性I_a.txt"),
            "重要性III_a.txt"
        );
        assert_eq!(
            labelled_file_name(Class::I, "重要性Ia.txt"),
            "重要性I_重要性Ia.txt"
        );
    }

    #[test]
    fn package_name_carries_the_class_label() {
        assert_eq!(
            package_file_name("T1", Class::II, true),
            "重要性II_T1.tar.age"
        );
        assert_eq!(
            package_file_name_ascii("T1", Class::III, false),
            "class-III_T1.tar"
        );
    }
}
