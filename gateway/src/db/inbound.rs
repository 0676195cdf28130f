//! Upload requests, inbound files and incidents (migration 0005).

use anyhow::Result;
use sekisho_proto::vocab::{
    InboundClass, InboundState, IncidentState, SanitiseOutcome, UploadRequestKind,
    UploadRequestState, VerdictKind,
};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode::{optional_word, word};

#[derive(Clone)]
pub struct RequestRow {
    pub id: String,
    pub owner_id: String,
    pub kind: UploadRequestKind,
    pub sender_name: String,
    pub sender_org: String,
    pub sender_email: String,
    pub purpose: String,
    pub nonce: String,
    pub expires_at: i64,
    pub max_files: i64,
    pub max_bytes: i64,
    pub files_received: i64,
    pub bytes_received: i64,
    pub state: UploadRequestState,
    pub created_at: i64,
    /// For an intake tied to a medium (`intake --medium`): whether that
    /// medium was a return or a carry-in. Read only; set by the arrival.
    pub arrival_kind: Option<sekisho_proto::media::ArrivalKind>,
}

/// The nonce (half of the upload link's token) is masked.
impl std::fmt::Debug for RequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRow")
            .field("id", &self.id)
            .field("owner_id", &self.owner_id)
            .field("kind", &self.kind)
            .field("nonce", &"***")
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

const REQUEST_COLUMNS: &str = "id, owner_id, kind, sender_name, sender_org, sender_email, purpose, \
    nonce, expires_at, max_files, max_bytes, files_received, bytes_received, state, created_at, \
    (SELECT a.kind FROM media_arrivals a WHERE a.id = upload_requests.arrival_id) AS arrival_kind";

fn request_from(row: &AnyRow) -> Result<RequestRow> {
    Ok(RequestRow {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        kind: word(row, "kind")?,
        sender_name: row.try_get("sender_name")?,
        sender_org: row.try_get("sender_org")?,
        sender_email: row.try_get("sender_email")?,
        purpose: row.try_get("purpose")?,
        nonce: row.try_get("nonce")?,
        expires_at: row.try_get("expires_at")?,
        max_files: row.try_get("max_files")?,
        max_bytes: row.try_get("max_bytes")?,
        files_received: row.try_get("files_received")?,
        bytes_received: row.try_get("bytes_received")?,
        state: word(row, "state")?,
        created_at: row.try_get("created_at")?,
        arrival_kind: optional_word(row, "arrival_kind")?,
    })
}

pub async fn insert_request(
    conn: &mut AnyConnection,
    r: &RequestRow,
    token_hash: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO upload_requests (id, owner_id, kind, sender_name, sender_org, sender_email, \
         purpose, token_hash, nonce, expires_at, max_files, max_bytes, files_received, \
         bytes_received, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&r.id)
    .bind(&r.owner_id)
    .bind(r.kind.as_str())
    .bind(&r.sender_name)
    .bind(&r.sender_org)
    .bind(&r.sender_email)
    .bind(&r.purpose)
    .bind(token_hash)
    .bind(&r.nonce)
    .bind(r.expires_at)
    .bind(r.max_files)
    .bind(r.max_bytes)
    .bind(r.files_received)
    .bind(r.bytes_received)
    .bind(r.state.as_str())
    .bind(r.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn request_by_token_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RequestRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM upload_requests WHERE token_hash = $1"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(request_from).transpose()
}

pub async fn request(conn: &mut AnyConnection, id: &str) -> Result<Option<RequestRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM upload_requests WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(request_from).transpose()
}

/// Counts a received file against the request's limits.
pub async fn add_received(conn: &mut AnyConnection, id: &str, bytes: i64) -> Result<()> {
    sqlx::query(
        "UPDATE upload_requests SET files_received = files_received + 1, \
         bytes_received = bytes_received + $1 WHERE id = $2",
    )
    .bind(bytes)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: String,
    pub request_id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub object_id: Option<String>,
    pub verdict: VerdictKind,
    pub verdict_detail: String,
    pub class: Option<InboundClass>,
    pub classified_by: Option<String>,
    pub classified_at: Option<i64>,
    pub state: InboundState,
    pub uploaded_from: String,
    pub created_at: i64,
    /// What sanitisation made of the file (migration 0010); `None` for a
    /// file that was not clean, or was received before sanitisation.
    pub sanitised: Option<Sanitised>,
}

/// A file's sanitisation: the outcome, the report (JSON: the sanitiser's
/// report, or why it was held) and, when it was rebuilt, the copy.
#[derive(Debug, Clone)]
pub struct Sanitised {
    pub outcome: SanitiseOutcome,
    pub report: String,
    pub copy: Option<SanitisedCopy>,
}

/// The rebuilt copy staff receive instead of the original.
#[derive(Debug, Clone)]
pub struct SanitisedCopy {
    pub object_id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
}

const FILE_COLUMNS: &str = "f.id, f.request_id, f.name, f.size, f.sha256, f.object_id, f.verdict, \
    f.verdict_detail, f.class, f.classified_by, f.classified_at, f.state, f.uploaded_from, f.created_at, \
    f.sanitise_outcome, f.sanitise_report, f.copy_object_id, f.copy_name, f.copy_size, f.copy_sha256";

fn sanitised_from(row: &AnyRow) -> Result<Option<Sanitised>> {
    let Some(outcome) = optional_word::<SanitiseOutcome>(row, "sanitise_outcome")? else {
        return Ok(None);
    };
    let copy = match (
        row.try_get::<Option<String>, _>("copy_object_id")?,
        row.try_get::<Option<String>, _>("copy_name")?,
        row.try_get::<Option<i64>, _>("copy_size")?,
        row.try_get::<Option<String>, _>("copy_sha256")?,
    ) {
        (Some(object_id), Some(name), Some(size), Some(sha256)) => Some(SanitisedCopy {
            object_id,
            name,
            size,
            sha256,
        }),
        _ => None,
    };
    Ok(Some(Sanitised {
        outcome,
        report: row.try_get("sanitise_report")?,
        copy,
    }))
}

fn file_from(row: &AnyRow) -> Result<FileRow> {
    Ok(FileRow {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        name: row.try_get("name")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        object_id: row.try_get("object_id")?,
        verdict: word(row, "verdict")?,
        verdict_detail: row.try_get("verdict_detail")?,
        class: optional_word(row, "class")?,
        classified_by: row.try_get("classified_by")?,
        classified_at: row.try_get("classified_at")?,
        state: word(row, "state")?,
        uploaded_from: row.try_get("uploaded_from")?,
        created_at: row.try_get("created_at")?,
        sanitised: sanitised_from(row)?,
    })
}

pub async fn insert_file(conn: &mut AnyConnection, f: &FileRow) -> Result<()> {
    let copy = f.sanitised.as_ref().and_then(|s| s.copy.as_ref());
    sqlx::query(
        "INSERT INTO inbound_files (id, request_id, name, size, sha256, object_id, verdict, \
         verdict_detail, class, classified_by, classified_at, state, uploaded_from, created_at, \
         sanitise_outcome, sanitise_report, copy_object_id, copy_name, copy_size, copy_sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(&f.id)
    .bind(&f.request_id)
    .bind(&f.name)
    .bind(f.size)
    .bind(&f.sha256)
    .bind(&f.object_id)
    .bind(f.verdict.as_str())
    .bind(&f.verdict_detail)
    .bind(f.class.map(InboundClass::as_str))
    .bind(&f.classified_by)
    .bind(f.classified_at)
    .bind(f.state.as_str())
    .bind(&f.uploaded_from)
    .bind(f.created_at)
    .bind(f.sanitised.as_ref().map(|s| s.outcome.as_str()))
    .bind(f.sanitised.as_ref().map_or("", |s| s.report.as_str()))
    .bind(copy.map(|c| c.object_id.as_str()))
    .bind(copy.map(|c| c.name.as_str()))
    .bind(copy.map(|c| c.size))
    .bind(copy.map(|c| c.sha256.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn file(conn: &mut AnyConnection, id: &str) -> Result<Option<FileRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM inbound_files f WHERE f.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(file_from).transpose()
}

/// Files of the requests `owner_id` made, newest first.
pub async fn files_of_owner(conn: &mut AnyConnection, owner_id: &str) -> Result<Vec<FileRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM inbound_files f JOIN upload_requests r ON r.id = f.request_id \
         WHERE r.owner_id = $1 ORDER BY f.created_at DESC, f.id"
    )))
    .bind(owner_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(file_from).collect()
}

/// Bytes of inbound content still stored (not yet erased), of requests
/// `owner_id` made, or of all requests. What the quotas count.
pub async fn stored_bytes(conn: &mut AnyConnection, owner_id: Option<&str>) -> Result<u64> {
    // CAST: PostgreSQL sums BIGINT as NUMERIC, which the Any driver cannot read.
    let base = "SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) AS n FROM inbound_files f \
         JOIN upload_requests r ON r.id = f.request_id WHERE f.state <> $1";
    let row = match owner_id {
        Some(owner) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} AND r.owner_id = $2")))
                .bind(InboundState::Erased.as_str())
                .bind(owner)
                .fetch_one(conn)
                .await?
        }
        None => {
            sqlx::query(base)
                .bind(InboundState::Erased.as_str())
                .fetch_one(conn)
                .await?
        }
    };
    let n: i64 = row.try_get("n")?;
    Ok(n.max(0) as u64)
}

/// Files waiting for a manager's classification.
pub async fn files_in_state(conn: &mut AnyConnection, state: InboundState) -> Result<Vec<FileRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM inbound_files f WHERE f.state = $1 ORDER BY f.created_at DESC, f.id"
    )))
    .bind(state.as_str())
    .fetch_all(conn)
    .await?;
    rows.iter().map(file_from).collect()
}

/// Compare-and-set: returns false (and changes nothing) when the file was
/// no longer in `from`.
pub async fn set_class(
    conn: &mut AnyConnection,
    id: &str,
    from: InboundState,
    class: InboundClass,
    by: &str,
    at: i64,
    to: InboundState,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE inbound_files SET class = $1, classified_by = $2, classified_at = $3, state = $4 \
         WHERE id = $5 AND state = $6",
    )
    .bind(class.as_str())
    .bind(by)
    .bind(at)
    .bind(to.as_str())
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new verdict for a held file (after a rescan); compare-and-set on `held`.
pub async fn set_verdict(
    conn: &mut AnyConnection,
    id: &str,
    verdict: VerdictKind,
    detail: &str,
    to: InboundState,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE inbound_files SET verdict = $1, verdict_detail = $2, state = $3 WHERE id = $4 AND state = $5",
    )
    .bind(verdict.as_str())
    .bind(detail)
    .bind(to.as_str())
    .bind(id)
    .bind(InboundState::Held.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what sanitisation made of a file that a rescan found clean,
/// with the state it moves to (from `awaiting_class` only: the rescan has
/// just put it there).
pub async fn set_sanitised(
    conn: &mut AnyConnection,
    id: &str,
    s: &Sanitised,
    to: InboundState,
) -> Result<bool> {
    let copy = s.copy.as_ref();
    let done = sqlx::query(
        "UPDATE inbound_files SET sanitise_outcome = $1, sanitise_report = $2, copy_object_id = $3, \
         copy_name = $4, copy_size = $5, copy_sha256 = $6, state = $7 WHERE id = $8 AND state = $9",
    )
    .bind(s.outcome.as_str())
    .bind(&s.report)
    .bind(copy.map(|c| c.object_id.as_str()))
    .bind(copy.map(|c| c.name.as_str()))
    .bind(copy.map(|c| c.size))
    .bind(copy.map(|c| c.sha256.as_str()))
    .bind(to.as_str())
    .bind(id)
    .bind(InboundState::AwaitingClass.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: String,
    pub inbound_file_id: Option<String>,
    pub engine: String,
    pub signature: String,
    pub digest: String,
    pub uploader: String,
    pub request_id: Option<String>,
    pub state: IncidentState,
    pub escalated_to: Option<String>,
    pub note: Option<String>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

const INCIDENT_COLUMNS: &str = "id, inbound_file_id, engine, signature, digest, uploader, \
    request_id, state, escalated_to, note, opened_at, closed_at, closed_by";

fn incident_from(row: &AnyRow) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.try_get("id")?,
        inbound_file_id: row.try_get("inbound_file_id")?,
        engine: row.try_get("engine")?,
        signature: row.try_get("signature")?,
        digest: row.try_get("digest")?,
        uploader: row.try_get("uploader")?,
        request_id: row.try_get("request_id")?,
        state: word(row, "state")?,
        escalated_to: row.try_get("escalated_to")?,
        note: row.try_get("note")?,
        opened_at: row.try_get("opened_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get("closed_by")?,
    })
}

pub async fn insert_incident(conn: &mut AnyConnection, i: &IncidentRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO incidents (id, inbound_file_id, engine, signature, digest, uploader, \
         request_id, state, escalated_to, note, opened_at, closed_at, closed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&i.id)
    .bind(&i.inbound_file_id)
    .bind(&i.engine)
    .bind(&i.signature)
    .bind(&i.digest)
    .bind(&i.uploader)
    .bind(&i.request_id)
    .bind(i.state.as_str())
    .bind(&i.escalated_to)
    .bind(&i.note)
    .bind(i.opened_at)
    .bind(i.closed_at)
    .bind(&i.closed_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn incidents(conn: &mut AnyConnection) -> Result<Vec<IncidentRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY opened_at DESC, id"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(incident_from).collect()
}

pub async fn incident(conn: &mut AnyConnection, id: &str) -> Result<Option<IncidentRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(incident_from).transpose()
}

/// Compare-and-set on `open`: false when it was escalated or closed meanwhile.
pub async fn escalate_incident(conn: &mut AnyConnection, id: &str, to: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET state = $1, escalated_to = $2 WHERE id = $3 AND state = $4",
    )
    .bind(IncidentState::Escalated.as_str())
    .bind(to)
    .bind(id)
    .bind(IncidentState::Open.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn close_incident(
    conn: &mut AnyConnection,
    id: &str,
    note: &str,
    by: &str,
    at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET state = $1, note = $2, closed_by = $3, closed_at = $4 \
         WHERE id = $5 AND state <> $1",
    )
    .bind(IncidentState::Closed.as_str())
    .bind(note)
    .bind(by)
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
