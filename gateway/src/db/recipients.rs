//! Each member of staff's address book of outside recipients.

use anyhow::{Context, Result};
use sekisho_proto::KeyKind;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct RecipientRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub key_kind: KeyKind,
    pub public_key: Option<String>,
    pub created_at: i64,
}

pub fn parse_key_kind(text: &str) -> Result<KeyKind> {
    match text {
        "age" => Ok(KeyKind::Age),
        "ssh" => Ok(KeyKind::Ssh),
        "passphrase" => Ok(KeyKind::Passphrase),
        other => anyhow::bail!("stored recipient has an unknown key kind '{other}'"),
    }
}

fn from_row(row: &AnyRow) -> Result<RecipientRow> {
    let kind: String = row.try_get("key_kind")?;
    Ok(RecipientRow {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        organisation: row.try_get("organisation")?,
        email: row.try_get("email")?,
        key_kind: parse_key_kind(&kind)?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "id, owner_id, name, organisation, email, key_kind, public_key, created_at";

pub async fn insert(conn: &mut AnyConnection, r: &RecipientRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO recipients (id, owner_id, name, organisation, email, key_kind, public_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&r.id)
    .bind(&r.owner_id)
    .bind(&r.name)
    .bind(&r.organisation)
    .bind(&r.email)
    .bind(r.key_kind.as_str())
    .bind(r.public_key.as_deref())
    .bind(r.created_at)
    .execute(conn)
    .await
    .context("cannot store the recipient")?;
    Ok(())
}

pub async fn by_owner_and_name(
    conn: &mut AnyConnection,
    owner_id: &str,
    name: &str,
) -> Result<Option<RecipientRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recipients WHERE owner_id = $1 AND name = $2"
    )))
    .bind(owner_id)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list_for_owner(conn: &mut AnyConnection, owner_id: &str) -> Result<Vec<RecipientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recipients WHERE owner_id = $1 ORDER BY name"
    )))
    .bind(owner_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
