//! Stored objects: one row per encrypted blob in the store, holding the
//! database half of its key (the wrapped key). Outbound file slots and
//! inbound files point at a row here; destroying the row is the first,
//! decisive phase of a cryptographic erase ([`destroy`]).

use anyhow::{Context, Result};
use sqlx::AnyConnection;
use sqlx::Row;

#[derive(Clone)]
pub struct ObjectRow {
    pub id: String,
    pub wrapped_key: Vec<u8>,
    pub size: i64,
    pub sha256: String,
}

/// Records a stored object. Whoever points at it (a file slot, an inbound
/// file) is updated in the same transaction by the caller.
pub async fn insert(conn: &mut AnyConnection, object: &ObjectRow, created_at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO objects (id, wrapped_key, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&object.id)
    .bind(&object.wrapped_key)
    .bind(object.size)
    .bind(&object.sha256)
    .bind(created_at)
    .execute(conn)
    .await
    .context("cannot record the stored object")?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<ObjectRow>> {
    let row = sqlx::query("SELECT id, wrapped_key, size, sha256 FROM objects WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(ObjectRow {
            id: row.try_get("id")?,
            wrapped_key: row.try_get("wrapped_key")?,
            size: row.try_get("size")?,
            sha256: row.try_get("sha256")?,
        })
    })
    .transpose()
}

/// Every object id the database knows; start-up recovery compares it with
/// the blobs in the store.
pub async fn all_ids(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT id FROM objects")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
        .collect()
}

/// Destroys the database half of an object's key: the wrapped key is
/// overwritten with zeros first where the database keeps old row versions
/// (`overwrite_first`), then the row is deleted. The caller has already
/// cleared every reference to it in the same transaction. An object already
/// gone is not an error: the erase is being finished.
pub async fn destroy(conn: &mut AnyConnection, id: &str, overwrite_first: bool) -> Result<()> {
    if overwrite_first {
        let row = sqlx::query("SELECT wrapped_key FROM objects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let wrapped: Vec<u8> = row.try_get("wrapped_key")?;
            sqlx::query("UPDATE objects SET wrapped_key = $1 WHERE id = $2")
                .bind(vec![0u8; wrapped.len()])
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    sqlx::query("DELETE FROM objects WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .context("cannot destroy the stored object's key")?;
    Ok(())
}
