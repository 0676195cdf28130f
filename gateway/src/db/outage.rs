//! Telling a database outage from a bug. A database that cannot be
//! reached or talked to answers 503 (see [`crate::error`]); a query it
//! refused (a constraint, a bad row) is a bug and answers 500. This is the
//! one place outside the queries that knows the driver's error types.

use crate::error::AppError;

/// Whether `error` says the database could not be reached or talked to, as
/// opposed to a query it refused (a constraint, a bad row), which is a bug.
pub fn is_database_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // PostgreSQL: SQLSTATE classes 08 (connection exception), 53
        // (insufficient resources: too many connections, disk full) and 57P
        // (the server is shutting down or starting). SQLite: 5 and 6 (busy,
        // locked, with their extended codes), after its busy time-out.
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                ["08", "53", "57P"]
                    .iter()
                    .any(|class| code.starts_with(class))
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Whether a database outage is anywhere in the chain of `error`.
pub fn in_chain(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_database_outage)
    })
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RETRY_AFTER_SECONDS;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    fn io(kind: std::io::ErrorKind) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(
            kind,
            "connect to 10.0.0.5:5432 as sekisho: driver detail",
        ))
    }

    /// An outage, however it reaches the handler: straight from sqlx, with
    /// `?` through anyhow and a context (as `Db::read` adds), or built as
    /// `Internal` by a service.
    #[test]
    fn database_outages_answer_503_with_an_opaque_body() {
        let outages = || {
            [
                AppError::from(sqlx::Error::PoolTimedOut),
                AppError::from(sqlx::Error::PoolClosed),
                AppError::from(io(std::io::ErrorKind::ConnectionRefused)),
                AppError::from(
                    anyhow::Error::from(io(std::io::ErrorKind::BrokenPipe))
                        .context("the database is unavailable"),
                ),
                AppError::Internal(
                    anyhow::Error::from(sqlx::Error::PoolTimedOut).context("reading transfers"),
                ),
            ]
        };
        for error in outages() {
            let (status, code, message) = error.parts();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{error:?}");
            assert_eq!(code, "unavailable");
            assert!(
                message.starts_with("データベース"),
                "Japanese first: {message}"
            );
            assert!(message.contains("システム担当者") && message.contains("Try again later"));
            for leak in ["10.0.0.5", "sekisho", "driver", "pool", "refused"] {
                assert!(
                    !message.to_lowercase().contains(leak),
                    "{leak} in {message}"
                );
            }
        }
        for error in outages() {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(RETRY_AFTER_SECONDS.as_bytes())
            );
        }
    }

    /// A real driver error: SQLite answers "database is locked" (code 5)
    /// when another connection holds the write lock past the busy time-out.
    #[tokio::test]
    async fn a_locked_sqlite_database_is_an_outage() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut holder = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut holder)
            .await
            .expect("create");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut holder)
            .await
            .expect("lock");
        let mut other = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut other)
            .await
            .expect("pragma");
        let error = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut other)
            .await
            .expect_err("the write must fail while the lock is held");
        assert!(is_database_outage(&error), "{error:?}");
        assert_eq!(
            AppError::from(error).parts().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // A constraint the database enforces is not an outage.
        sqlx::query("COMMIT")
            .execute(&mut holder)
            .await
            .expect("unlock");
        sqlx::query("CREATE TABLE u (x INTEGER PRIMARY KEY)")
            .execute(&mut holder)
            .await
            .expect("create");
        sqlx::query("INSERT INTO u VALUES (1)")
            .execute(&mut holder)
            .await
            .expect("insert");
        let duplicate = sqlx::query("INSERT INTO u VALUES (1)")
            .execute(&mut holder)
            .await
            .expect_err("a duplicate key is refused");
        assert!(!is_database_outage(&duplicate), "{duplicate:?}");
    }

    #[test]
    fn a_refused_query_is_a_bug_not_an_outage() {
        for error in [
            AppError::from(sqlx::Error::RowNotFound),
            AppError::from(sqlx::Error::ColumnNotFound("secret_column".into())),
            AppError::from(anyhow::anyhow!("no database involved")),
        ] {
            let (status, code, message) = error.parts();
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{error:?}");
            assert_eq!(code, "internal");
            assert!(!message.contains("secret_column"));
        }
    }
}
