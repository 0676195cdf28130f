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
    /// 413: a storage quota for inbound files is full; the message says
    /// whose and what to do.
    QuotaFull(String),
    /// 429: the link already has this many uploads running; try again when
    /// one has finished (`Retry-After`).
    UploadsInProgress(u32),
    /// 423: the account is locked after repeated failures.
    Locked(String),
    /// 429: too many requests from this address; try again after so many
    /// seconds (`Retry-After`).
    Throttled(u64),
    /// 503: the database cannot be reached; detail goes to the log only.
    Unavailable(anyhow::Error),
    /// 507: the disk (of the store, the keys or the database) is full, so
    /// nothing was saved; detail goes to the log only.
    InsufficientStorage(anyhow::Error),
    /// 500: anything else; detail goes to the log only. One that carries a
    /// database outage answers as [`AppError::Unavailable`].
    Internal(anyhow::Error),
}

/// Shown for every database outage; no driver text ever reaches a client.
const UNAVAILABLE_MESSAGE: &str = "データベースに接続できないため、処理できませんでした（この操作は完了していません）。\
     しばらくしてから再度お試しください。続く場合は、システム担当者にデータベースの状態の確認を依頼してください。 \
     The gateway cannot reach its database, so this was not done. Try again later; \
     if it keeps happening, ask the system staff to check the database";

/// Shown for every write refused because a disk is full.
const STORAGE_FULL_MESSAGE: &str = "ゲートウェイのディスクの空き容量が不足しているため、保存できませんでした（この操作は完了していません）。\
     システム担当者にディスクの空き容量を確保するよう依頼し、その後もう一度お試しください。 \
     The gateway's disk is full, so this was not saved (nothing of it was completed). \
     Ask the system staff to free space on the disk, then try again";

/// Seconds a client is asked to wait before trying again (`Retry-After`).
pub(crate) const RETRY_AFTER_SECONDS: &str = "30";

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid(code, message.into())
    }

    pub(crate) fn parts(&self) -> (StatusCode, &str, String) {
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
            AppError::QuotaFull(m) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_full", m.clone()),
            AppError::UploadsInProgress(limit) => (
                StatusCode::TOO_MANY_REQUESTS,
                "uploads_in_progress",
                format!(
                    "このリンクでは同時に {limit} 件までしかアップロードできません。実行中のアップロードが終わってから、もう一度お試しください。 \
                     This link takes at most {limit} upload(s) at a time; try again when the one running has finished"
                ),
            ),
            AppError::Locked(m) => (StatusCode::LOCKED, "locked", m.clone()),
            AppError::Throttled(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!(
                    "短時間に多くの要求があったため、受け付けませんでした。{seconds} 秒後に再度お試しください。 \
                     Too many requests from this address; try again in {seconds} s"
                ),
            ),
            AppError::InsufficientStorage(_) => storage_full(),
            AppError::Internal(e) if crate::db::full::in_chain(e) => storage_full(),
            AppError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                UNAVAILABLE_MESSAGE.to_string(),
            ),
            AppError::Internal(e) if crate::db::outage::in_chain(e) => (
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

fn storage_full() -> (StatusCode, &'static str, String) {
    (
        StatusCode::INSUFFICIENT_STORAGE,
        "storage_full",
        STORAGE_FULL_MESSAGE.to_string(),
    )
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        // Before the outage check: a full disk can also arrive as a driver
        // I/O error, and it needs space freed, not patience.
        if crate::db::full::in_chain(&e) {
            AppError::InsufficientStorage(e)
        } else if crate::db::outage::in_chain(&e) {
            AppError::Unavailable(e)
        } else {
            AppError::Internal(e)
        }
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
            AppError::InsufficientStorage(e) | AppError::Internal(e)
                if status == StatusCode::INSUFFICIENT_STORAGE =>
            {
                tracing::error!("request failed, the disk is full (free space): {e:#}");
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
        if let AppError::UploadsInProgress(_) = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if let AppError::Throttled(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
            (AppError::Throttled(7), StatusCode::TOO_MANY_REQUESTS),
        ];
        for (error, status) in cases {
            assert_eq!(error.parts().0, status);
        }
        let internal = AppError::Internal(anyhow::anyhow!("password=hunter2 in SQL"));
        assert!(!internal.parts().2.contains("hunter2"));
        assert_eq!(internal.parts().0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// A full disk answers 507 wherever it arose: from a service's `?`, or
    /// inside an error a service built as `Internal`; the message says, in
    /// Japanese first, that space must be freed and nothing was done.
    #[test]
    fn a_full_disk_answers_507_and_says_to_free_space() {
        let full = || anyhow::Error::from(std::io::Error::from_raw_os_error(28));
        for error in [
            AppError::from(full().context("cannot create a file in the store /srv/x")),
            AppError::Internal(full()),
            AppError::from(anyhow::Error::from(sqlx::Error::Io(
                std::io::Error::from_raw_os_error(28),
            ))),
        ] {
            let (status, code, message) = error.parts();
            assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{error:?}");
            assert_eq!(code, "storage_full");
            assert!(message.starts_with("ゲートウェイのディスク"), "{message}");
            assert!(message.contains("空き容量") && message.contains("free space"));
            assert!(!message.contains("/srv/x"), "{message}");
        }
    }
}
