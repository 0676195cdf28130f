//! Telling a full disk from other failures. A write that failed because
//! the disk (or a quota) is full answers 507 (see [`crate::error`]) with a
//! message that says space must be freed; it is neither a bug (500) nor a
//! database that cannot be reached (503), and retrying does not help until
//! someone frees space. This module knows the shapes that reach a handler:
//! the OS error (`ENOSPC`, `EDQUOT`) from the store or the key shares,
//! SQLite's `SQLITE_FULL` and PostgreSQL's `disk_full` (SQLSTATE 53100).

use std::error::Error as StdError;

/// `SQLITE_FULL`: "insertion failed because database is full" — what SQLite
/// answers when a write to its file or its write-ahead log hits `ENOSPC`.
const SQLITE_FULL: i32 = 13;
/// PostgreSQL's `disk_full`.
const POSTGRES_DISK_FULL: &str = "53100";

/// Whether a full disk is anywhere in the chain of `error`.
pub fn in_chain(error: &anyhow::Error) -> bool {
    error.chain().any(is_full)
}

fn is_full(cause: &(dyn StdError + 'static)) -> bool {
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return io_is_full(io);
    }
    if let Some(sql) = cause.downcast_ref::<sqlx::Error>() {
        return sqlx_is_full(sql);
    }
    false
}

fn io_is_full(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) {
        return true;
    }
    // `io::Error::other(inner)` hides `inner` from `source()`: look inside.
    error.get_ref().is_some_and(|inner| {
        let inner: &(dyn StdError + 'static) = inner;
        let mut cause = Some(inner);
        while let Some(c) = cause {
            if is_full(c) {
                return true;
            }
            cause = c.source();
        }
        false
    })
}

fn sqlx_is_full(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(io) => io_is_full(io),
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(|c| c & 0xff == SQLITE_FULL)
            } else if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                code == POSTGRES_DISK_FULL
            } else {
                false
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enospc() -> std::io::Error {
        std::io::Error::from_raw_os_error(28)
    }

    #[test]
    fn a_full_disk_is_found_however_it_was_wrapped() {
        let cases = [
            anyhow::Error::from(enospc()),
            anyhow::Error::from(enospc()).context("cannot create a file in the store"),
            anyhow::Error::from(std::io::Error::other(
                anyhow::Error::from(enospc()).context("cannot write the key share"),
            )),
            anyhow::Error::from(std::io::Error::from_raw_os_error(122)),
            anyhow::Error::from(sqlx::Error::Io(enospc())).context("commit"),
        ];
        for error in &cases {
            assert!(in_chain(error), "{error:#}");
        }
    }

    #[test]
    fn other_failures_are_not_a_full_disk() {
        for error in [
            anyhow::anyhow!("no disk involved"),
            anyhow::Error::from(std::io::Error::from_raw_os_error(5)).context("EIO"),
            anyhow::Error::from(sqlx::Error::PoolTimedOut),
            anyhow::Error::from(sqlx::Error::RowNotFound),
        ] {
            assert!(!in_chain(&error), "{error:#}");
        }
    }

    /// A real SQLite database on a file system that is full: SQLite's own
    /// answer is recognised. `max_page_count` makes SQLite answer
    /// `SQLITE_FULL` exactly as a full disk does, without filling one.
    #[tokio::test]
    async fn sqlite_full_is_a_full_disk() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        for statement in ["CREATE TABLE t (x BLOB)", "PRAGMA max_page_count = 4"] {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
        }
        let error = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut conn)
            .await
            .expect_err("the insert must not fit");
        assert!(
            in_chain(&anyhow::Error::from(error).context("insert")),
            "SQLITE_FULL not recognised"
        );
    }
}
