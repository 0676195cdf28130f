//! Valid packages built in memory, for tests and fuzz seeds (feature
//! `fixtures`): a manifest over given files, and the tar the gateway would
//! send for it. Never used by the client itself.

use anyhow::Result;
use sekisho_proto::{
    CHECKSUMS_NAME, Class, FileEntry, MANIFEST_FORMAT, MANIFEST_NAME, Manifest, ManifestApproval,
    ManifestRecipient, Role, content_digest,
};
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A manifest listing `files` (name, content), approved when the class
/// needs it.
pub fn manifest(class: Class, files: &[(&str, &[u8])]) -> Manifest {
    let files: Vec<FileEntry> = files
        .iter()
        .map(|(n, d)| FileEntry {
            name: n.to_string(),
            size: d.len() as u64,
            sha256: sha256_hex(d),
        })
        .collect();
    let digest = content_digest(
        files
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    Manifest {
        format: MANIFEST_FORMAT.into(),
        transfer_id: "T1".into(),
        class,
        class_label: class.label_ja(),
        sender: "alice".into(),
        purpose: "test".into(),
        recipient: ManifestRecipient {
            name: "bob".into(),
            organisation: "Org".into(),
            email: "bob@example.org".into(),
        },
        created_at: "2026-11-25T00:00:00Z".into(),
        released_at: "2026-11-25T00:01:00Z".into(),
        approval: class.needs_approval().then(|| ManifestApproval {
            approver: "carol".into(),
            approver_role: Role::Approver,
            decided_at: "2026-11-25T00:01:00Z".into(),
            comment: None,
            content_digest: digest.clone(),
        }),
        content_digest: digest,
        files,
    }
}

/// The package tar: `m`'s manifest, its checksum list, then `entries` as
/// `files/<name>` (which may differ from what `m` lists, to build bad ones).
pub fn tar_of(m: &Manifest, entries: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data)?;
        Ok(())
    };
    add(MANIFEST_NAME, &serde_json::to_vec(m)?)?;
    let sums: String = m
        .files
        .iter()
        .map(|f| format!("{}  files/{}\n", f.sha256, f.name))
        .collect();
    add(CHECKSUMS_NAME, sums.as_bytes())?;
    for (name, data) in entries {
        add(&format!("files/{name}"), data)?;
    }
    Ok(builder.into_inner()?)
}
