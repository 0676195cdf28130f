//! Delivery to outside recipients through their own link (policy 2.(2)⑦⑨,
//! 6.(1)⑧). A package is built while it is sent: stored objects are
//! decrypted, checked against the digests the release was bound to, put in
//! a tar with a manifest, and (for I/II) age-encrypted to this recipient
//! only. Nothing is staged on disk or held in memory.
//!
//! If anything goes wrong part-way (a stored file changed, a key is
//! missing), the stream is cut before the age stream is finished, so the
//! recipient's decryption fails instead of yielding a partial package.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use std::io::{self, Read, Write};

use axum::body::Body;
use sekisho_proto::{
    CHECKSUMS_NAME, Class, FileEntry, KeyKind, MANIFEST_FORMAT, MANIFEST_NAME, Manifest,
    ManifestApproval, ManifestRecipient, PAYLOAD_DIR, content_digest,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::recipients::age_recipients;
use super::transfers::{effective_link_state, facts};
use super::{Origin, pump};
use crate::auth::token;
use crate::clock::format_ms;
use crate::db::audit::{self, Record};
use crate::db::objects::{self, ObjectRow};
use crate::db::transfers::{self as store, DecisionRow, LinkRow, TransferRow};
use crate::envelope;
use crate::error::{AppError, AppResult};
use crate::policy::{self, LinkFacts, LinkGrant, LinkRefusal};
use crate::state::{AppState, Shared};

/// What a recipient's page shows before anything is downloaded.
pub struct LinkSummary {
    pub recipient: String,
    pub class: Class,
    pub sender: String,
    pub file_count: usize,
    pub total_size: u64,
    pub expires_at: String,
    pub downloads_left: i64,
    pub encrypted: bool,
    pub passphrase: bool,
}

async fn find(state: &AppState, token_text: &str) -> AppResult<(LinkRow, TransferRow)> {
    let hash = token::link_lookup_hash(token_text).ok_or(AppError::NotFound)?;
    let mut conn = state.db.read().await?;
    let link = store::link_by_token_hash(&mut conn, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    let transfer = store::get(&mut conn, &link.transfer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((link, transfer))
}

/// Why a link cannot be used now, in words for the recipient.
fn refusal_text(refusal: LinkRefusal, link: &LinkRow) -> String {
    match refusal {
        LinkRefusal::Withdrawn => {
            "この送付は取り消されました。This transfer was withdrawn by the sender.".into()
        }
        LinkRefusal::Unusable => "このリンクは使用できません。This link cannot be used.".into(),
        LinkRefusal::UsedUp => format!(
            "ダウンロード回数の上限（{}回）に達しました。This link has been used its {} permitted times.",
            link.max_downloads, link.max_downloads
        ),
        LinkRefusal::Expired => {
            let expiry = link.expires_at.map(format_ms).unwrap_or_default();
            format!("このリンクは有効期限（{expiry}）を過ぎました。This link expired at {expiry}.")
        }
    }
}

/// The policy's answer for this link now: a grant to hand the transfer
/// out, or the words for the recipient.
fn usable(
    link: &LinkRow,
    transfer: TransferRow,
    now: i64,
) -> Result<LinkGrant<TransferRow>, String> {
    let facts = LinkFacts {
        state: effective_link_state(link, now),
    };
    policy::use_link(&facts, transfer).map_err(|refusal| refusal_text(refusal, link))
}

pub async fn summary(state: &AppState, token_text: &str) -> AppResult<LinkSummary> {
    let (link, transfer) = find(state, token_text).await?;
    let now = state.clock.now_ms();
    let grant = usable(&link, transfer, now).map_err(AppError::Gone)?;
    let transfer = grant.object();
    let mut conn = state.db.read().await?;
    let files = store::files(&mut conn, &transfer.id).await?;
    Ok(LinkSummary {
        recipient: link.name.clone(),
        class: transfer.class,
        sender: transfer.sender_name.clone(),
        file_count: files.len(),
        total_size: files.iter().map(|f| f.size as u64).sum(),
        expires_at: link.expires_at.map(format_ms).unwrap_or_default(),
        downloads_left: link.max_downloads - link.downloads,
        encrypted: transfer.class.needs_approval(),
        passphrase: link.key_kind == KeyKind::Passphrase && transfer.class.needs_approval(),
    })
}

pub struct Package {
    pub file_name: String,
    pub file_name_ascii: String,
    pub class: Class,
    pub encrypted: bool,
    pub content_digest: String,
    pub body: Body,
}

async fn log_refusal(
    state: &AppState,
    link: &LinkRow,
    reason: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    audit::append_alone(
        &state.db,
        now,
        Record {
            actor: format!("recipient:{}", link.name),
            action: Action::LinkRefused,
            object: ObjectRef::Transfer(link.transfer_id.to_string()),
            outcome: Outcome::Denied,
            source: origin.0.clone(),
            detail: json!({ "link": link.id, "reason": reason }),
        },
    )
    .await?;
    Ok(())
}

/// Hands a released transfer out through a recipient's link: the policy's
/// grant, the digest binding, one download counted, then the package
/// streamed.
pub async fn download(state: Shared, token_text: &str, origin: &Origin) -> AppResult<Package> {
    let (link, transfer) = find(&state, token_text).await?;
    let now = state.clock.now_ms();
    let grant = match usable(&link, transfer, now) {
        Ok(grant) => grant,
        Err(reason) => {
            log_refusal(&state, &link, &reason, origin).await?;
            return Err(AppError::Gone(reason));
        }
    };
    let (files, decision) = {
        let mut conn = state.db.read().await?;
        let id = &grant.object().id;
        (
            store::files(&mut conn, id).await?,
            store::decision(&mut conn, id).await?,
        )
    };
    let entries: Vec<FileEntry> = files.iter().map(|f| f.entry()).collect();
    let digest = bound_digest(&grant, &entries, decision.as_ref())?;
    count_download(&state, &grant, &link, &digest, now, origin).await?;
    let objects = stored_objects(&state, &grant, &files).await?;

    let transfer = grant.object();
    let encrypted = transfer.class.needs_approval();
    let manifest = manifest_for(transfer, &link, decision, digest.clone(), entries);
    let builder_state = state.clone();
    let what = format!("delivery of transfer {}", manifest.transfer_id);
    let body = pump::body_from_blocking(what, move |out| {
        write_package(&builder_state, &link, &manifest, &objects, encrypted, out)
    });
    Ok(Package {
        file_name: sekisho_proto::package_file_name(&transfer.id, transfer.class, encrypted),
        file_name_ascii: sekisho_proto::package_file_name_ascii(
            &transfer.id,
            transfer.class,
            encrypted,
        ),
        class: transfer.class,
        encrypted,
        content_digest: digest,
        body,
    })
}

/// The content digest of what is stored now, if the release is bound to
/// it: the digest recorded at submission and, for I/II, the one the
/// approver approved. Anything else: release nothing.
fn bound_digest(
    grant: &LinkGrant<TransferRow>,
    entries: &[FileEntry],
    decision: Option<&DecisionRow>,
) -> AppResult<String> {
    let transfer = grant.object();
    let digest = content_digest(
        entries
            .iter()
            .map(|f| (f.name.as_str(), f.size, f.sha256.as_str())),
    );
    let bound = transfer.content_digest.as_deref() == Some(digest.as_str())
        && (!facts(transfer).needs_approval
            || decision.is_some_and(|d| d.content_digest == digest));
    if !bound {
        return Err(AppError::Internal(anyhow::anyhow!(
            "transfer {} content digest does not match its approval; refusing to deliver",
            transfer.id
        )));
    }
    Ok(digest)
}

/// Uses up one download of the link (compare-and-set, so two at once
/// cannot both take the last one) and logs it in the same transaction.
async fn count_download(
    state: &AppState,
    grant: &LinkGrant<TransferRow>,
    link: &LinkRow,
    digest: &str,
    now: i64,
    origin: &Origin,
) -> AppResult<()> {
    let mut tx = state.db.write().await?;
    if !store::take_download(tx.conn(), &link.id, now).await? {
        drop(tx);
        let reason = "このリンクは使用できません。This link can no longer be used.";
        log_refusal(state, link, reason, origin).await?;
        return Err(AppError::Gone(reason.to_string()));
    }
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: format!("recipient:{}", link.name),
            action: Action::LinkDownload,
            object: ObjectRef::Transfer(grant.object().id.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "link": link.id, "recipient": link.name, "organisation": link.organisation,
                "download": link.downloads + 1, "max_downloads": link.max_downloads,
                "content_digest": digest,
            }),
        },
    )
    .await?;
    super::notify::queue_downloaded(state, tx.conn(), now, grant.object(), link, &origin.0).await?;
    tx.commit().await?;
    Ok(())
}

/// The stored object (ciphertext and wrapped key) of every file.
async fn stored_objects(
    state: &AppState,
    grant: &LinkGrant<TransferRow>,
    files: &[store::FileRow],
) -> AppResult<Vec<ObjectRow>> {
    let mut objects = Vec::with_capacity(files.len());
    let mut conn = state.db.read().await?;
    for file in files {
        let object = match &file.object_id {
            Some(id) => objects::get(&mut conn, id).await?,
            None => None,
        };
        objects.push(object.ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "transfer {} has a file without stored content or key",
                grant.object().id
            ))
        })?);
    }
    Ok(objects)
}

/// What the package says about itself; it names only this recipient.
fn manifest_for(
    transfer: &TransferRow,
    link: &LinkRow,
    decision: Option<DecisionRow>,
    content_digest: String,
    files: Vec<FileEntry>,
) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        transfer_id: transfer.id.clone(),
        class: transfer.class,
        class_label: transfer.class.label_ja(),
        sender: transfer.sender_name.clone(),
        purpose: transfer.purpose.clone(),
        recipient: ManifestRecipient {
            name: link.name.clone(),
            organisation: link.organisation.clone(),
            email: link.email.clone(),
        },
        created_at: format_ms(transfer.created_at),
        released_at: transfer.released_at.map(format_ms).unwrap_or_default(),
        approval: decision.map(|d| ManifestApproval {
            approver: d.by_user,
            approver_role: d.by_role,
            decided_at: format_ms(d.decided_at),
            comment: d.comment,
            content_digest: d.content_digest,
        }),
        content_digest,
        files,
    }
}

fn write_package(
    state: &AppState,
    link: &LinkRow,
    manifest: &Manifest,
    objects: &[ObjectRow],
    encrypted: bool,
    out: &mut pump::BodyWriter,
) -> anyhow::Result<()> {
    let buffered = io::BufWriter::with_capacity(256 * 1024, out);
    if !encrypted {
        let buffered = write_tar(state, manifest, objects, buffered)?;
        buffered.into_inner().map_err(|e| e.into_error())?;
        return Ok(());
    }
    let encryptor = match &link.passphrase_wrapped {
        Some(wrapped) => age::Encryptor::with_user_passphrase(state.keys.unwrap_string(wrapped)?),
        None => {
            let recipients = age_recipients(link.key_kind, link.public_key.as_deref())?;
            anyhow::ensure!(!recipients.is_empty(), "recipient {} has no key", link.name);
            age::Encryptor::with_recipients(
                recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
            )?
        }
    };
    let age_writer = encryptor.wrap_output(buffered)?;
    let age_writer = write_tar(state, manifest, objects, age_writer)?;
    let buffered = age_writer.finish()?;
    buffered.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, data)
}

fn write_tar<W: Write>(
    state: &AppState,
    manifest: &Manifest,
    objects: &[ObjectRow],
    out: W,
) -> anyhow::Result<W> {
    let mtime = (state.clock.now_ms() / 1000).max(0) as u64;
    let mut builder = tar::Builder::new(out);
    let manifest_json = serde_json::to_vec_pretty(manifest)?;
    append_bytes(&mut builder, MANIFEST_NAME, &manifest_json, mtime)?;
    let sums: String = manifest
        .files
        .iter()
        .map(|f| format!("{}  {}/{}\n", f.sha256, PAYLOAD_DIR, f.name))
        .collect();
    append_bytes(&mut builder, CHECKSUMS_NAME, sums.as_bytes(), mtime)?;
    for (file, object) in manifest.files.iter().zip(objects) {
        let object_id = &object.id;
        anyhow::ensure!(
            object.sha256 == file.sha256 && object.size as u64 == file.size,
            "stored object {object_id} does not match the released file"
        );
        let plain = envelope::open(
            &state.keys,
            state.store.as_ref(),
            &object.id,
            &object.wrapped_key,
        )?;
        let mut verified = VerifyingReader {
            inner: plain.take(file.size),
            hasher: Sha256::new(),
            count: 0,
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(file.size);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(
            &mut header,
            format!("{PAYLOAD_DIR}/{}", file.name),
            &mut verified,
        )?;
        anyhow::ensure!(
            verified.count == file.size && hex::encode(verified.hasher.finalize()) == file.sha256,
            "stored object {object_id} changed since it was approved"
        );
    }
    Ok(builder.into_inner()?)
}

struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(crate::fsutil::filled(buf, n));
        self.count += n as u64;
        Ok(n)
    }
}
