//! The public listener: recipients' download pages and nothing else. The
//! login, admin and approval API is simply not routed here, so an attacker
//! on the Internet cannot reach it.
//!
//! `GET /d/{token}` shows what is waiting and does not count as a download
//! (mail scanners open links); `POST /d/{token}` sends the package.
//!
//! These handlers are documented in the same OpenAPI document as the
//! internal API (tag `public`), and this router too is built only from their
//! `#[utoipa::path]` attributes.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sekisho_proto::inbound::UploadAnswer;
use sekisho_proto::{ErrorBody, HEADER_CLASS, HEADER_CONTENT_DIGEST, HEADER_ENCRYPTION};
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use super::extract::DeclaredLength;
use super::openapi::{self as doc, Documented};
use crate::error::AppError;
use crate::service::{Origin, delivery, inbound};
use crate::state::Shared;

/// Every public route, each with its documentation.
pub fn routes() -> Documented {
    Documented::default()
        .routes(routes!(download_page, download))
        // Uploads stream to disk and are scanned there; the request link's
        // own limits bound them, not the JSON body limit.
        .routes(routes!(upload_page, upload).layer(DefaultBodyLimit::disable()))
        .routes(routes!(healthz))
        .routes(routes!(super::ready::readyz))
}

pub fn router() -> Router<Shared> {
    routes().into_router()
}

/// Liveness of the public listener
#[utoipa::path(
    get,
    path = "/healthz",
    tag = doc::TAG_PUBLIC,
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String))
)]
async fn healthz() -> &'static str {
    "ok"
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn human_size(bytes: u64) -> String {
    const LARGER_UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut shown = None;
    for unit in LARGER_UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        shown = Some(unit);
    }
    match shown {
        None => format!("{bytes} B"),
        Some(unit) => format!("{value:.1} {unit}"),
    }
}

fn page_shell(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title>\
         <style>{}</style></head><body>{}</body></html>",
        escape(title),
        super::headers::PAGE_STYLE,
        body
    )
}

/// The download page: what is waiting (公開リスナー / public listener)
///
/// An HTML page for the recipient, in Japanese and English. Opening it does
/// not count as a download, so mail scanners that follow links use nothing up.
#[utoipa::path(
    get,
    path = "/d/{token}",
    tag = doc::TAG_PUBLIC,
    params(("token", description = "The link's token; the link is the permission")),
    responses(
        (status = 200, description = "The page, with a button that POSTs here",
            content_type = "text/html", body = String),
        (status = 400, response = doc::BadRequest),
        (status = 429, response = doc::TooManyRequests),
        (status = 404, description = "No such link (an HTML page)",
            content_type = "text/html", body = String),
        (status = 410, description = "The link expired, was revoked or used up (an HTML page)",
            content_type = "text/html", body = String),
        (status = 500, response = doc::Internal),
    )
)]
async fn download_page(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    match delivery::summary(&state, &token).await {
        Ok(s) => {
            let protection = if s.passphrase {
                "このファイルはパスフレーズで暗号化されています。パスフレーズは送信者から電話等で別途お知らせします。<br>\
                 The package is encrypted to a passphrase that the sender gives you separately (by telephone)."
            } else if s.encrypted {
                "このファイルはあなたの公開鍵で暗号化されています（age）。<br>The package is encrypted to your public key (age)."
            } else {
                "このファイルは暗号化されていません。SHA256SUMS で内容を確認できます。<br>\
                 The package is not encrypted; check it with the SHA256SUMS file inside."
            };
            let body = format!(
                "<h1>ファイルの受け取り / Files for you</h1>\
                 <p><span class=\"label\">{label}</span></p>\
                 <p>{recipient} 様 — 送信者 / from: {sender}</p>\
                 <p>ファイル数 / files: {count}、合計 / total: {size}</p>\
                 <p>有効期限 / valid until: {expires}（残り {left} 回 / {left} downloads left）</p>\
                 <p>{protection}</p>\
                 <form method=\"post\"><button type=\"submit\">ダウンロード / Download</button></form>\
                 <p><small>コマンドで受け取る場合 / from a terminal: <code>sekisho receive URL -o DIR</code></small></p>",
                label = escape(&s.class.label_ja()),
                recipient = escape(&s.recipient),
                sender = escape(&s.sender),
                count = s.file_count,
                size = human_size(s.total_size),
                expires = escape(&s.expires_at),
                left = s.downloads_left,
            );
            Html(page_shell("Sekisho", &body)).into_response()
        }
        Err(error) => error_page(error),
    }
}

fn error_page(error: AppError) -> Response {
    let (status, message) = match &error {
        AppError::Invalid(_, message) => (StatusCode::BAD_REQUEST, message.clone()),
        AppError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message.clone()),
        AppError::Gone(message) => (StatusCode::GONE, message.clone()),
        AppError::NotFound => (
            StatusCode::NOT_FOUND,
            "このリンクは存在しません。This link does not exist.".to_string(),
        ),
        _ => return error.into_response(),
    };
    let body = format!("<h1>Sekisho</h1><p>{}</p>", escape(&message));
    (status, Html(page_shell("Sekisho", &body))).into_response()
}

/// The package (公開リスナー / public listener; counts as a download)
///
/// An age file (`x-sekisho-encryption: age`) for classes I and II, or a plain
/// tar for class III; either holds `MANIFEST.json` and `SHA256SUMS`.
#[utoipa::path(
    post,
    path = "/d/{token}",
    tag = doc::TAG_PUBLIC,
    params(("token", description = "The link's token; the link is the permission")),
    responses(
        (status = 200, description = "The package, streamed",
            content(
                (doc::Binary = "application/octet-stream"),
                (doc::Binary = "application/x-tar"),
            ),
            headers(
                ("content-disposition" = String,
                    description = "The package's name (the class label is part of it), with an ASCII fallback"),
                ("x-sekisho-encryption" = String, description = "`age` or `none`"),
                ("x-sekisho-class" = String, description = "`I`, `II` or `III`"),
                ("x-sekisho-content-digest" = String,
                    description = "The content digest the release was bound to"),
            )),
        (status = 400, response = doc::BadRequest),
        (status = 429, response = doc::TooManyRequests),
        (status = 404, response = doc::NotFound),
        (status = 410, response = doc::Gone),
        (status = 500, response = doc::Internal),
    )
)]
async fn download(
    State(state): State<Shared>,
    origin: Origin,
    Path(token): Path<String>,
) -> Response {
    let package = match delivery::download(state, &token, &origin).await {
        Ok(p) => p,
        Err(error) => return error.into_response(),
    };
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        package.file_name_ascii,
        percent_encode(&package.file_name)
    );
    let mut response = package.body.into_response();
    let headers = response.headers_mut();
    let content_type = if package.encrypted {
        "application/octet-stream"
    } else {
        "application/x-tar"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        HEADER_ENCRYPTION,
        HeaderValue::from_static(
            sekisho_proto::vocab::PackageEncryption::of(package.encrypted).as_str(),
        ),
    );
    headers.insert(
        HEADER_CLASS,
        HeaderValue::from_static(package.class.as_str()),
    );
    if let Ok(value) = HeaderValue::from_str(&package.content_digest) {
        headers.insert(HEADER_CONTENT_DIGEST, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The upload form of a request link (公開リスナー / public listener)
#[utoipa::path(
    get,
    path = "/u/{token}",
    tag = doc::TAG_PUBLIC,
    params(("token", description = "The upload link's token; the link is the permission")),
    responses(
        (status = 200, description = "An HTML form that POSTs the files here",
            content_type = "text/html", body = String),
        (status = 400, response = doc::BadRequest),
        (status = 429, response = doc::TooManyRequests),
        (status = 404, description = "No such link (an HTML page)",
            content_type = "text/html", body = String),
        (status = 410, description = "The link expired, was withdrawn or is used up (an HTML page)",
            content_type = "text/html", body = String),
        (status = 500, response = doc::Internal),
    )
)]
async fn upload_page(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    match inbound::page(&state, &token).await {
        Ok(p) => {
            let body = format!(
                "<h1>ファイルの提出 / Send files</h1>\
                 <p>{sender} 様 — 依頼者 / requested by: {requester}</p>\
                 <p>用件 / purpose: {purpose}</p>\
                 <p>残り / up to: {files} 件 / files, {size}</p>\
                 <p>有効期限 / valid until: {expires}</p>\
                 <p>提出されたファイルはすべてウイルス検査されます。All files are checked for malware.</p>\
                 <form method=\"post\" enctype=\"multipart/form-data\">\
                 <p><input type=\"file\" name=\"{field}\" multiple required></p>\
                 <p><button type=\"submit\">送信 / Upload</button></p></form>\
                 <p><small>コマンドで送る場合 / from a terminal: <code>sekisho upload URL FILE...</code> \
                 or <code>curl -F file=@FILE URL</code></small></p>",
                sender = escape(&p.sender),
                requester = escape(&p.requester),
                purpose = escape(&p.purpose),
                files = p.files_left,
                size = human_size(p.bytes_left.max(0) as u64),
                expires = escape(&p.expires_at),
                field = inbound::FILE_FIELD,
            );
            Html(page_shell("Sekisho", &body)).into_response()
        }
        Err(error) => error_page(error),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Upload files through a request link (公開リスナー / public listener)
///
/// Every file is scanned while it is stored. The answer is JSON, or an HTML
/// result page (errors too) when the request says `Accept: text/html`.
#[utoipa::path(
    post,
    path = "/u/{token}",
    tag = doc::TAG_PUBLIC,
    params(("token", description = "The upload link's token; the link is the permission")),
    request_body(content = inline(doc::FileParts), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "What became of each file",
            content((UploadAnswer = "application/json"), (String = "text/html"))),
        (status = 400, description = "Not a usable multipart upload, or a file name refused",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many requests from this address (code throttled), or uploads already running through this link (code uploads_in_progress); Retry-After says when to try again",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 404, description = "No such link",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 410, description = "The link expired, was withdrawn or is used up",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 413, description = "More files or bytes than the link allows (judged on the declared Content-Length before the body is read), or an inbound storage quota is full (code quota_full)",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 500, response = doc::Internal),
    )
)]
async fn upload(
    State(state): State<Shared>,
    origin: Origin,
    Path(token): Path<String>,
    headers: HeaderMap,
    DeclaredLength(declared): DeclaredLength,
    multipart: Multipart,
) -> Response {
    let html = wants_html(&headers);
    match inbound::receive_by_link(state, &token, multipart, declared, &origin).await {
        Ok(answer) if html => {
            let rows: String = answer
                .files
                .iter()
                .map(|f| {
                    format!(
                        "<li><strong>{}</strong> ({}): {}</li>",
                        escape(&f.name),
                        human_size(f.size),
                        escape(&f.message)
                    )
                })
                .collect();
            let body = format!(
                "<h1>提出結果 / Upload result</h1><ul>{rows}</ul>\
                 <p>ありがとうございました。Thank you.</p>"
            );
            Html(page_shell("Sekisho", &body)).into_response()
        }
        Ok(answer) => axum::Json(answer).into_response(),
        Err(error) if html => error_page(error),
        Err(error) => error.into_response(),
    }
}

/// RFC 5987 encoding for the UTF-8 file name (the class label is Japanese).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn japanese_file_names_are_percent_encoded() {
        assert_eq!(
            percent_encode("重要性II_x.tar"),
            "%E9%87%8D%E8%A6%81%E6%80%A7II_x.tar"
        );
    }

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(human_size(1 << 60), "1048576.0 TiB");
    }
}
