//! The framework's own refusals (a body that is not the JSON an operation
//! takes, a wrong content type, a bad query or path, an unknown route or
//! method, a body over the limit, a body time-out) answer plain text in the
//! framework's words. Clients and scripts read the documented JSON error
//! (`ErrorBody`), so this layer turns every such answer into one, with a
//! sentence a clerk can act on; the framework's detail (which field, which
//! line) follows in English for whoever wrote the request.
//!
//! Answers that are already JSON, HTML pages and successful answers pass
//! untouched.

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sekisho_proto::ErrorBody;

/// The framework's plain-text detail is a line or two; anything longer is
/// not ours to pass on.
const DETAIL_LIMIT: usize = 4096;

fn code_and_message(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "そのようなページ・操作はありません。 There is no such operation",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "この操作はこのメソッドでは行えません。 This operation does not take this HTTP method",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "要求の形式（Content-Type）が正しくありません。 The request's Content-Type is not one this operation takes",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too_large",
            "要求が大きすぎます。 The request body is larger than this operation allows",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            "データが届かなくなったため、要求を打ち切りました。もう一度送ってください。 \
             The request stopped arriving and was cut; send it again",
        ),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => (
            "bad_request",
            "要求の内容が正しくありません。 The request is not what this operation takes",
        ),
        _ => (
            "error",
            "要求を処理できませんでした。 The request could not be handled",
        ),
    }
}

fn is_json_or_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json") || value.starts_with("text/html"))
}

pub async fn as_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json_or_html(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = to_bytes(body, DETAIL_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let (code, message) = code_and_message(status);
    let message = if detail.is_empty() {
        message.to_string()
    } else {
        let detail: String = detail.chars().filter(|c| !c.is_control()).collect();
        format!("{message} (detail: {detail})")
    };
    let mut answer = (
        status,
        Json(ErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response();
    // Keep what the framework said about retrying or allowed methods.
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = parts.headers.get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}
