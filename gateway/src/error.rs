//! One error type for every answer. Each variant's status is documented;
//! internal detail (database, I/O) is logged and never sent to a client.
//!
//! A database that cannot be reached (pool time-out, refused or broken
//! connection, I/O) is an outage, not a bug: it answers 503 `unavailable`,
//! telling the clerk to try later and the system staff to look at the
//! database, wherever in a service the error arose and however it was
//! wrapped (the whole `anyhow` chain is searched for the driver's error).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_proto::ErrorBody;

use crate::policy::Denied;

#[derive(Debug)]
pub enum AppError {
    /// 400: the request is wrong; the message says how to fix it.
    Invalid(&'static str, String),
    /// 401: no session, or it ended.
    Unauthenticated(String),
    /// 403: the policy refuses; the message says why.
    Forbidden(String),
    /// 404: no such object, or the caller may not know it exists.
    NotFound,
    /// 409: the object is in a state that does not allow this.
    Conflict(&'static str, String),
    /// 410: a download link that expired, was revoked or used up.
    Gone(String),
    /// 413: the upload is larger than allowed or declared.
    TooLarge(String),
    /// 423: the account is locked after repeated failures.
    Locked(String),
    /// 503: the database cannot be reached; detail goes to the log only.
    Unavailable(anyhow::Error),
    /// 500: anything else; detail goes to the log only. One that carries a
    /// database outage answers as [`AppError::Unavailable`].
    Internal(anyhow::Error),
}

/// Shown for every database outage; no driver text ever reaches a client.
const UNAVAILABLE_MESSAGE: &str = "データベースに接続できないため、処理できませんでした（この操作は完了していません）。\
     しばらくしてから再度お試しください。続く場合は、システム担当者にデータベースの状態の確認を依頼してください。 \
     The gateway cannot reach its database, so this was not done. Try again later; \
     if it keeps happening, ask the system staff to check the database";

/// Seconds a client is asked to wait before trying again (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "30";

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
fn chain_has_outage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_database_outage)
    })
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid(code, message.into())
    }

    fn parts(&self) -> (StatusCode, &str, String) {
        match self {
            AppError::Invalid(code, m) => (StatusCode::BAD_REQUEST, code, m.clone()),
            AppError::Unauthenticated(m) => {
                (StatusCode::UNAUTHORIZED, "unauthenticated", m.clone())
            }
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "not found (it does not exist, or it is not yours to see)".to_string(),
            ),
            AppError::Conflict(code, m) => (StatusCode::CONFLICT, code, m.clone()),
            AppError::Gone(m) => (StatusCode::GONE, "gone", m.clone()),
            AppError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", m.clone()),
            AppError::Locked(m) => (StatusCode::LOCKED, "locked", m.clone()),
            AppError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                UNAVAILABLE_MESSAGE.to_string(),
            ),
            AppError::Internal(e) if chain_has_outage(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                UNAVAILABLE_MESSAGE.to_string(),
            ),
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway could not complete this request; nothing was released. \
                 Try again, and tell the system staff if it keeps happening"
                    .to_string(),
            ),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        if chain_has_outage(&e) {
            AppError::Unavailable(e)
        } else {
            AppError::Internal(e)
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        anyhow::Error::from(e).into()
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Hidden => AppError::NotFound,
            Denied::Forbidden(reason) => AppError::Forbidden(reason.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            AppError::Unavailable(e) | AppError::Internal(e)
                if status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                tracing::error!("request failed, the database is unavailable: {e:#}");
            }
            AppError::Internal(e) => tracing::error!("request failed: {e:#}"),
            _ => {}
        }
        let mut response = (
            status,
            Json(ErrorBody {
                code: code.to_string(),
                message,
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_no_internal_detail() {
        let cases = [
            (AppError::invalid("x", "m"), StatusCode::BAD_REQUEST),
            (
                AppError::Unauthenticated("m".into()),
                StatusCode::UNAUTHORIZED,
            ),
            (AppError::from(Denied::Hidden), StatusCode::NOT_FOUND),
            (
                AppError::from(Denied::Forbidden("r")),
                StatusCode::FORBIDDEN,
            ),
            (AppError::Gone("m".into()), StatusCode::GONE),
            (
                AppError::TooLarge("m".into()),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (AppError::Locked("m".into()), StatusCode::LOCKED),
        ];
        for (error, status) in cases {
            assert_eq!(error.parts().0, status);
        }
        let internal = AppError::Internal(anyhow::anyhow!("password=hunter2 in SQL"));
        assert!(!internal.parts().2.contains("hunter2"));
        assert_eq!(internal.parts().0, StatusCode::INTERNAL_SERVER_ERROR);
    }

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
