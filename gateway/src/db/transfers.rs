//! Outbound transfers, their files, stored objects, links and decisions.
//!
//! State changes are compare-and-set (`WHERE state = $expected`): a change
//! that lost a race changes nothing and reports it, instead of overwriting.

use anyhow::{Context, Result, bail};
use sekisho_proto::{Class, Decision, KeyKind, LinkState, Role, TransferState};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::recipients::parse_key_kind;

#[derive(Debug, Clone)]
pub struct TransferRow {
    pub id: String,
    pub sender_id: String,
    pub sender_name: String,
    pub sender_role: Role,
    pub class: Class,
    pub purpose: String,
    pub state: TransferState,
    pub approval_role: Option<Role>,
    pub content_digest: Option<String>,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub released_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// When the one reminder of a waiting request went out.
    pub reminded_at: Option<i64>,
    /// When it expired: undecided, or with every link run out.
    pub expired_at: Option<i64>,
    pub carry_out: Option<CarryOut>,
}

/// What makes a transfer a carry-out on a removable medium.
#[derive(Debug, Clone)]
pub struct CarryOut {
    pub medium_id: String,
    pub return_by: i64,
    pub written_at: Option<i64>,
    pub written_sha256: Option<String>,
    pub returned_at: Option<i64>,
    pub overdue_flagged: bool,
}

const TRANSFER_SELECT: &str = "SELECT t.id, t.sender_id, u.username AS sender_name, u.role AS sender_role, \
     t.class, t.purpose, t.state, t.approval_role, t.content_digest, t.created_at, t.submitted_at, \
     t.released_at, t.revoked_at, t.reminded_at, t.expired_at, t.kind, t.medium_id, t.return_by, t.written_at, t.written_sha256, \
     t.returned_at, t.overdue_flagged FROM transfers t JOIN users u ON u.id = t.sender_id";

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse::<T>()
        .map_err(|_| anyhow::anyhow!("stored {what} '{text}' is not valid"))
}

fn transfer_from_row(row: &AnyRow) -> Result<TransferRow> {
    let class: String = row.try_get("class")?;
    let state: String = row.try_get("state")?;
    let sender_role: String = row.try_get("sender_role")?;
    let approval_role: Option<String> = row.try_get("approval_role")?;
    Ok(TransferRow {
        id: row.try_get("id")?,
        sender_id: row.try_get("sender_id")?,
        sender_name: row.try_get("sender_name")?,
        sender_role: parse(&sender_role, "role")?,
        class: parse(&class, "class")?,
        purpose: row.try_get("purpose")?,
        state: parse(&state, "state")?,
        approval_role: approval_role.map(|r| parse(&r, "role")).transpose()?,
        content_digest: row.try_get("content_digest")?,
        created_at: row.try_get("created_at")?,
        submitted_at: row.try_get("submitted_at")?,
        released_at: row.try_get("released_at")?,
        revoked_at: row.try_get("revoked_at")?,
        reminded_at: row.try_get("reminded_at")?,
        expired_at: row.try_get("expired_at")?,
        carry_out: match row.try_get::<Option<String>, _>("medium_id")? {
            Some(medium_id) => Some(CarryOut {
                medium_id,
                return_by: row.try_get::<Option<i64>, _>("return_by")?.unwrap_or(0),
                written_at: row.try_get("written_at")?,
                written_sha256: row.try_get("written_sha256")?,
                returned_at: row.try_get("returned_at")?,
                overdue_flagged: row.try_get::<i64, _>("overdue_flagged")? != 0,
            }),
            None => None,
        },
    })
}

pub struct NewTransfer<'a> {
    pub id: &'a str,
    pub sender_id: &'a str,
    pub class: Class,
    pub purpose: &'a str,
    pub approval_role: Option<Role>,
    pub created_at: i64,
    /// (medium id, return by) for a carry-out.
    pub carry_out: Option<(&'a str, i64)>,
}

pub async fn insert(conn: &mut AnyConnection, t: &NewTransfer<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO transfers (id, sender_id, class, purpose, state, approval_role, created_at, kind, medium_id, return_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(t.id)
    .bind(t.sender_id)
    .bind(t.class.as_str())
    .bind(t.purpose)
    .bind(TransferState::Uploading.as_str())
    .bind(t.approval_role.map(|r| r.as_str()))
    .bind(t.created_at)
    .bind(if t.carry_out.is_some() { "carry_out" } else { "send" })
    .bind(t.carry_out.map(|(m, _)| m))
    .bind(t.carry_out.map(|(_, r)| r))
    .execute(conn)
    .await
    .context("cannot store the transfer")?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<TransferRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} WHERE t.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(transfer_from_row).transpose()
}

pub async fn list_by_sender(conn: &mut AnyConnection, sender_id: &str) -> Result<Vec<TransferRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} WHERE t.sender_id = $1 ORDER BY t.created_at DESC, t.id"
    )))
    .bind(sender_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

pub async fn list_by_state(
    conn: &mut AnyConnection,
    state: TransferState,
) -> Result<Vec<TransferRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} WHERE t.state = $1 ORDER BY t.created_at, t.id"
    )))
    .bind(state.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

pub async fn list_all(conn: &mut AnyConnection) -> Result<Vec<TransferRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} ORDER BY t.created_at DESC, t.id"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

/// Moves a transfer from `from` to `to`, stamping the time column that
/// belongs to the new state. Returns false (and changes nothing) when the
/// transfer was no longer in `from`: another request changed it meanwhile.
pub async fn set_state(
    conn: &mut AnyConnection,
    id: &str,
    from: TransferState,
    to: TransferState,
    at: i64,
) -> Result<bool> {
    let stamp_column = match to {
        TransferState::PendingApproval => Some("submitted_at"),
        TransferState::Released => Some("released_at"),
        TransferState::Revoked => Some("revoked_at"),
        TransferState::Expired => Some("expired_at"),
        _ => None,
    };
    let sql = match stamp_column {
        Some(column) => {
            format!("UPDATE transfers SET state = $1, {column} = $4 WHERE id = $2 AND state = $3")
        }
        None => "UPDATE transfers SET state = $1 WHERE id = $2 AND state = $3".to_string(),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str());
    if stamp_column.is_some() {
        query = query.bind(at);
    }
    let done = query.execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Why and by whom a transfer was revoked (in the revoking transaction).
pub async fn set_revocation(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    by_username: &str,
) -> Result<()> {
    sqlx::query("UPDATE transfers SET revoke_reason = $1, revoked_by = $2 WHERE id = $3")
        .bind(reason)
        .bind(by_username)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub struct RevocationRow {
    pub transfer_id: String,
    pub class: String,
    pub purpose: String,
    pub sender: String,
    pub approved_at: i64,
    pub revoked_at: i64,
    pub revoked_by: Option<String>,
    pub reason: Option<String>,
}

/// Transfers `approver` approved that were revoked at or after `since`,
/// newest first.
pub async fn revocations_approved_by(
    conn: &mut AnyConnection,
    approver: &str,
    since: i64,
) -> Result<Vec<RevocationRow>> {
    let rows = sqlx::query(
        "SELECT t.id, t.class, t.purpose, u.username AS sender, d.decided_at, t.revoked_at, \
         t.revoked_by, t.revoke_reason FROM transfers t \
         JOIN decisions d ON d.transfer_id = t.id JOIN users u ON u.id = t.sender_id \
         WHERE d.by_user = $1 AND d.decision = $2 AND t.state = $3 AND t.revoked_at >= $4 \
         ORDER BY t.revoked_at DESC, t.id",
    )
    .bind(approver)
    .bind(decision_str(Decision::Approved))
    .bind(TransferState::Revoked.as_str())
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RevocationRow {
                transfer_id: row.try_get("id")?,
                class: row.try_get("class")?,
                purpose: row.try_get("purpose")?,
                sender: row.try_get("sender")?,
                approved_at: row.try_get("decided_at")?,
                revoked_at: row.try_get("revoked_at")?,
                revoked_by: row.try_get("revoked_by")?,
                reason: row.try_get("revoke_reason")?,
            })
        })
        .collect()
}

pub async fn set_content_digest(conn: &mut AnyConnection, id: &str, digest: &str) -> Result<()> {
    sqlx::query("UPDATE transfers SET content_digest = $1 WHERE id = $2")
        .bind(digest)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub idx: i64,
    pub name: String,
    pub size: i64,
    pub sha256: Option<String>,
    pub object_id: Option<String>,
}

impl FileRow {
    /// The file as the API and manifests describe it (empty digest until uploaded).
    pub fn entry(&self) -> sekisho_proto::FileEntry {
        sekisho_proto::FileEntry {
            name: self.name.clone(),
            size: self.size as u64,
            sha256: self.sha256.clone().unwrap_or_default(),
        }
    }
}

pub async fn insert_file(
    conn: &mut AnyConnection,
    transfer_id: &str,
    idx: i64,
    name: &str,
    size: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO transfer_files (transfer_id, idx, name, size) VALUES ($1, $2, $3, $4)",
    )
    .bind(transfer_id)
    .bind(idx)
    .bind(name)
    .bind(size)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn files(conn: &mut AnyConnection, transfer_id: &str) -> Result<Vec<FileRow>> {
    let rows = sqlx::query(
        "SELECT idx, name, size, sha256, object_id FROM transfer_files WHERE transfer_id = $1 ORDER BY idx",
    )
    .bind(transfer_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(FileRow {
                idx: row.try_get("idx")?,
                name: row.try_get("name")?,
                size: row.try_get("size")?,
                sha256: row.try_get("sha256")?,
                object_id: row.try_get("object_id")?,
            })
        })
        .collect()
}

use super::objects::ObjectRow;

/// Records a stored object and attaches it to its file slot, so a file
/// cannot be swapped after upload. Returns false when the slot already has
/// content: the object row was written, so the caller must roll back.
pub async fn attach_object(
    conn: &mut AnyConnection,
    transfer_id: &str,
    idx: i64,
    object: &ObjectRow,
    created_at: i64,
) -> Result<bool> {
    super::objects::insert(&mut *conn, object, created_at).await?;
    let done = sqlx::query(
        "UPDATE transfer_files SET object_id = $1, sha256 = $2 \
         WHERE transfer_id = $3 AND idx = $4 AND object_id IS NULL",
    )
    .bind(&object.id)
    .bind(&object.sha256)
    .bind(transfer_id)
    .bind(idx)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone)]
pub struct LinkRow {
    pub id: String,
    pub transfer_id: String,
    pub position: i64,
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub key_kind: KeyKind,
    pub public_key: Option<String>,
    pub passphrase_wrapped: Option<Vec<u8>>,
    pub nonce: String,
    pub state: Option<LinkState>,
    pub expires_at: Option<i64>,
    pub max_downloads: i64,
    pub downloads: i64,
}

/// The nonce (half of the link token) and the wrapped passphrase are masked.
impl std::fmt::Debug for LinkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRow")
            .field("id", &self.id)
            .field("transfer_id", &self.transfer_id)
            .field("position", &self.position)
            .field("name", &self.name)
            .field("key_kind", &self.key_kind)
            .field(
                "passphrase_wrapped",
                &self.passphrase_wrapped.as_ref().map(|_| "***"),
            )
            .field("nonce", &"***")
            .field("state", &self.state)
            .field("expires_at", &self.expires_at)
            .field("max_downloads", &self.max_downloads)
            .field("downloads", &self.downloads)
            .finish_non_exhaustive()
    }
}

fn link_state_str(state: LinkState) -> &'static str {
    match state {
        LinkState::Active => "active",
        LinkState::Exhausted => "exhausted",
        LinkState::Expired => "expired",
        LinkState::Revoked => "revoked",
    }
}

fn parse_link_state(text: &str) -> Result<LinkState> {
    Ok(match text {
        "active" => LinkState::Active,
        "exhausted" => LinkState::Exhausted,
        "expired" => LinkState::Expired,
        "revoked" => LinkState::Revoked,
        other => bail!("stored link state '{other}' is not valid"),
    })
}

const LINK_COLUMNS: &str = "id, transfer_id, position, name, organisation, email, key_kind, public_key, \
     passphrase_wrapped, nonce, state, expires_at, max_downloads, downloads";

fn link_from_row(row: &AnyRow) -> Result<LinkRow> {
    let kind: String = row.try_get("key_kind")?;
    let state: Option<String> = row.try_get("state")?;
    Ok(LinkRow {
        id: row.try_get("id")?,
        transfer_id: row.try_get("transfer_id")?,
        position: row.try_get("position")?,
        name: row.try_get("name")?,
        organisation: row.try_get("organisation")?,
        email: row.try_get("email")?,
        key_kind: parse_key_kind(&kind)?,
        public_key: row.try_get("public_key")?,
        passphrase_wrapped: row.try_get("passphrase_wrapped")?,
        nonce: row.try_get("nonce")?,
        state: state.as_deref().map(parse_link_state).transpose()?,
        expires_at: row.try_get("expires_at")?,
        max_downloads: row.try_get("max_downloads")?,
        downloads: row.try_get("downloads")?,
    })
}

pub async fn insert_link(conn: &mut AnyConnection, link: &LinkRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO transfer_links (id, transfer_id, position, name, organisation, email, key_kind, \
         public_key, passphrase_wrapped, nonce, max_downloads, downloads) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
    )
    .bind(&link.id)
    .bind(&link.transfer_id)
    .bind(link.position)
    .bind(&link.name)
    .bind(&link.organisation)
    .bind(&link.email)
    .bind(link.key_kind.as_str())
    .bind(link.public_key.as_deref())
    .bind(link.passphrase_wrapped.as_deref())
    .bind(&link.nonce)
    .bind(link.max_downloads)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn links(conn: &mut AnyConnection, transfer_id: &str) -> Result<Vec<LinkRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM transfer_links WHERE transfer_id = $1 ORDER BY position"
    )))
    .bind(transfer_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(link_from_row).collect()
}

pub async fn link_by_token_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<LinkRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM transfer_links WHERE token_hash = $1"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(link_from_row).transpose()
}

pub async fn activate_link(
    conn: &mut AnyConnection,
    link_id: &str,
    token_hash: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE transfer_links SET token_hash = $1, state = 'active', expires_at = $2 WHERE id = $3",
    )
    .bind(token_hash)
    .bind(expires_at)
    .bind(link_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one download if the link is still usable at `now`. Returns false
/// (and changes nothing) when it is not: the check and the count are one
/// statement, so two parallel downloads cannot both take the last one.
pub async fn take_download(conn: &mut AnyConnection, link_id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE transfer_links SET downloads = downloads + 1, \
         state = CASE WHEN downloads + 1 >= max_downloads THEN 'exhausted' ELSE state END \
         WHERE id = $1 AND state = 'active' AND downloads < max_downloads AND expires_at > $2",
    )
    .bind(link_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_links_state(
    conn: &mut AnyConnection,
    transfer_id: &str,
    from: LinkState,
    to: LinkState,
) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE transfer_links SET state = $1 WHERE transfer_id = $2 AND state = $3")
            .bind(link_state_str(to))
            .bind(transfer_id)
            .bind(link_state_str(from))
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Active links whose time is up.
pub async fn links_due_to_expire(conn: &mut AnyConnection, now: i64) -> Result<Vec<LinkRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM transfer_links WHERE state IN ('active', 'exhausted') AND expires_at <= $1 \
         ORDER BY expires_at, id"
    )))
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(link_from_row).collect()
}

pub async fn expire_link(conn: &mut AnyConnection, link_id: &str) -> Result<()> {
    sqlx::query("UPDATE transfer_links SET state = 'expired' WHERE id = $1")
        .bind(link_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub decision: Decision,
    pub by_user: String,
    pub by_role: Role,
    pub decided_at: i64,
    pub comment: Option<String>,
    pub content_digest: String,
    /// The absent approver a stand-in decided for.
    pub on_behalf_of: Option<String>,
}

fn decision_str(decision: Decision) -> &'static str {
    match decision {
        Decision::Approved => "approved",
        Decision::Rejected => "rejected",
    }
}

/// Records the one decision a transfer gets. Returns false (and changes
/// nothing) when it already has one. `ON CONFLICT DO NOTHING` rather than a
/// failed insert, because a failed statement aborts a PostgreSQL transaction.
pub async fn insert_decision(
    conn: &mut AnyConnection,
    transfer_id: &str,
    d: &DecisionRow,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO decisions (transfer_id, decision, by_user, by_role, decided_at, comment, content_digest, on_behalf_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (transfer_id) DO NOTHING",
    )
    .bind(transfer_id)
    .bind(decision_str(d.decision))
    .bind(&d.by_user)
    .bind(d.by_role.as_str())
    .bind(d.decided_at)
    .bind(d.comment.as_deref())
    .bind(&d.content_digest)
    .bind(d.on_behalf_of.as_deref())
    .execute(conn)
    .await
    .context("cannot store the decision")?;
    Ok(done.rows_affected() == 1)
}

pub async fn decision(conn: &mut AnyConnection, transfer_id: &str) -> Result<Option<DecisionRow>> {
    let row = sqlx::query(
        "SELECT decision, by_user, by_role, decided_at, comment, content_digest, on_behalf_of FROM decisions WHERE transfer_id = $1",
    )
    .bind(transfer_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        let decision: String = row.try_get("decision")?;
        let by_role: String = row.try_get("by_role")?;
        Ok(DecisionRow {
            decision: match decision.as_str() {
                "approved" => Decision::Approved,
                "rejected" => Decision::Rejected,
                other => {
                    bail!("stored decision '{other}' is not valid; the database row is damaged")
                }
            },
            by_user: row.try_get("by_user")?,
            by_role: parse(&by_role, "role")?,
            decided_at: row.try_get("decided_at")?,
            comment: row.try_get("comment")?,
            content_digest: row.try_get("content_digest")?,
            on_behalf_of: row.try_get("on_behalf_of")?,
        })
    })
    .transpose()
}

/// Carry-outs of a medium that are not closed (not returned, not rejected,
/// revoked or erased before being written).
pub async fn open_carry_outs(
    conn: &mut AnyConnection,
    medium_id: &str,
) -> Result<Vec<TransferRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} WHERE t.medium_id = $1 AND t.returned_at IS NULL \
         AND (t.written_at IS NOT NULL OR t.state IN ('uploading', 'pending_approval', 'released')) \
         ORDER BY t.created_at"
    )))
    .bind(medium_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

/// Written, not returned, and past their return date.
pub async fn overdue_carry_outs(conn: &mut AnyConnection, now: i64) -> Result<Vec<TransferRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TRANSFER_SELECT} WHERE t.kind = 'carry_out' AND t.written_at IS NOT NULL \
         AND t.returned_at IS NULL AND t.return_by < $1 ORDER BY t.return_by"
    )))
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

/// Records what was written onto the medium. Returns false (and changes
/// nothing) when the carry-out was already written.
pub async fn record_written(
    conn: &mut AnyConnection,
    id: &str,
    sha256: &str,
    at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE transfers SET written_at = $1, written_sha256 = $2 WHERE id = $3 AND written_at IS NULL",
    )
    .bind(at)
    .bind(sha256)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record_returned(conn: &mut AnyConnection, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE transfers SET returned_at = $1 WHERE id = $2 AND returned_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn flag_overdue(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE transfers SET overdue_flagged = 1 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stamps the one reminder of a waiting request; false if it was sent
/// already (another round or replica got there first).
pub async fn set_reminded(conn: &mut AnyConnection, id: &str, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE transfers SET reminded_at = $2 WHERE id = $1 AND reminded_at IS NULL AND state = 'pending_approval'",
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .context("cannot record the reminder")?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::{Db, users};

    /// A migrated SQLite database in a scratch directory, with one sender
    /// and one transfer waiting in `uploading` with one file slot.
    pub(crate) async fn scratch() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.expect("database");
        let mut tx = db.write().await.expect("write");
        let sender = users::NewUser {
            id: "u1",
            username: "sato",
            role: Role::Staff,
            password_hash: "-",
            totp_secret_wrapped: b"-",
            created_at: 0,
            email: None,
        };
        users::insert(tx.conn(), &sender).await.expect("user");
        let transfer = NewTransfer {
            id: "t1",
            sender_id: "u1",
            class: Class::II,
            purpose: "test",
            approval_role: Some(Role::Approver),
            created_at: 0,
            carry_out: None,
        };
        insert(tx.conn(), &transfer).await.expect("transfer");
        insert_file(tx.conn(), "t1", 0, "a.txt", 1)
            .await
            .expect("file");
        tx.commit().await.expect("commit");
        (dir, db)
    }

    fn object(id: &str) -> ObjectRow {
        ObjectRow {
            id: id.into(),
            wrapped_key: vec![1; 8],
            size: 1,
            sha256: "ab".repeat(32),
        }
    }

    #[tokio::test]
    async fn business_outcomes_are_answers_not_errors() {
        let (_dir, db) = scratch().await;
        let mut tx = db.write().await.expect("write");
        let conn = tx.conn();
        assert!(
            attach_object(conn, "t1", 0, &object("o1"), 1)
                .await
                .expect("attach")
        );
        // The slot is taken: a second object is refused, not an error.
        assert!(
            !attach_object(conn, "t1", 0, &object("o2"), 1)
                .await
                .expect("attach")
        );
        // A lost compare-and-set reports false and changes nothing.
        let pending = TransferState::PendingApproval;
        assert!(
            !set_state(conn, "t1", pending, TransferState::Released, 2)
                .await
                .expect("cas")
        );
        assert!(
            set_state(conn, "t1", TransferState::Uploading, pending, 2)
                .await
                .expect("cas")
        );
        let stored = get(conn, "t1").await.expect("get").expect("transfer");
        assert_eq!((stored.state, stored.submitted_at), (pending, Some(2)));
        let decision = DecisionRow {
            decision: Decision::Approved,
            by_user: "ap".into(),
            by_role: Role::Approver,
            decided_at: 3,
            comment: None,
            content_digest: "d".into(),
            on_behalf_of: Some("jicho".into()),
        };
        assert!(
            insert_decision(conn, "t1", &decision)
                .await
                .expect("decide")
        );
        let second = DecisionRow {
            decision: Decision::Rejected,
            ..decision
        };
        assert!(!insert_decision(conn, "t1", &second).await.expect("decide"));
        // The transaction is still usable after the refusals (PostgreSQL
        // would abort it after a failed statement) and kept the first answer.
        let kept = super::decision(conn, "t1")
            .await
            .expect("read")
            .expect("decision");
        assert_eq!(kept.decision, Decision::Approved);
        assert_eq!(kept.on_behalf_of.as_deref(), Some("jicho"));
    }
}
