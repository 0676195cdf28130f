//! Files from outside: staff ask for them with an upload link, see what
//! arrived with its scan verdict and sanitisation report, set its class,
//! and download it when it is ready; a manager classifies what staff
//! marked "unknown". The same `service::inbound` calls as `sekisho inbox`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::inbound::{ClassifyRequest, CreateUploadRequest};
use sekisho_proto::vocab::{InboundClass, InboundState, VerdictKind};
use serde::Deserialize;

use crate::console::i18n::Lang;
use crate::console::page::{Chrome, error_page, html, human_size, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, inbound};
use crate::state::Shared;

pub struct FileLine {
    pub id: String,
    pub name: String,
    pub size: String,
    pub sha256: String,
    pub verdict: &'static str,
    pub verdict_code: &'static str,
    pub class: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub sender: String,
    pub purpose: String,
    pub received: String,
    pub sanitised: String,
    pub may_classify: bool,
    pub ready: bool,
}

fn verdict(lang: Lang, v: VerdictKind) -> &'static str {
    match v {
        VerdictKind::Clean => lang.pick("検出なし", "clean"),
        VerdictKind::Infected => lang.pick("ウイルス検出", "infected"),
        VerdictKind::Unscanned => lang.pick("未検査", "not scanned"),
    }
}

fn state_text(lang: Lang, s: InboundState) -> &'static str {
    match s {
        InboundState::AwaitingClass => lang.pick("重要性の設定待ち", "waiting for its class"),
        InboundState::Ready => lang.pick("受け取り可能", "ready"),
        InboundState::NeedsManager => lang.pick("係長の判定待ち", "waiting for a manager"),
        InboundState::Quarantined => lang.pick("隔離", "quarantined"),
        InboundState::Held => lang.pick("保留（未検査）", "held (not scanned)"),
        InboundState::NotSanitised => lang.pick("無害化できず保留", "held: could not be sanitised"),
        InboundState::Erased => lang.pick("消去済み", "erased"),
    }
}

#[derive(Template)]
#[template(path = "console/inbound.html")]
struct InboundPage {
    c: Chrome,
    files: Vec<FileLine>,
    created: Option<sekisho_proto::inbound::UploadRequestCreated>,
    created_expires: String,
}

pub async fn list(State(state): State<Shared>, user: ConsoleUser) -> Response {
    render(&state, &user, None).await
}

async fn render(
    state: &Shared,
    user: &ConsoleUser,
    created: Option<sekisho_proto::inbound::UploadRequestCreated>,
) -> Response {
    let lang = user.lang;
    let files = match inbound::list(state, &user.actor).await {
        Ok(files) => files,
        Err(e) => return error_page(state, user, e).await,
    };
    let manager = crate::policy::decides_unknown_classes(&user.actor);
    let c = Chrome::of(
        state,
        user,
        lang.pick("外部からの受け取り", "Files from outside"),
    )
    .await;
    let page = InboundPage {
        c,
        files: files
            .into_iter()
            .map(|f| {
                let may_classify = match f.state {
                    InboundState::AwaitingClass => true,
                    InboundState::NeedsManager => manager,
                    _ => false,
                };
                FileLine {
                    verdict: verdict(lang, f.verdict),
                    verdict_code: f.verdict.as_str(),
                    class: f
                        .class
                        .map(|c| match c.class() {
                            Some(class) => class.label_ja(),
                            None => lang.pick("不明", "unknown").to_string(),
                        })
                        .unwrap_or_default(),
                    state: state_text(lang, f.state),
                    state_code: f.state.as_str(),
                    sanitised: f
                        .sanitised
                        .as_ref()
                        .map(|s| {
                            let mut text = s.outcome.as_str().to_string();
                            if !s.removed.is_empty() {
                                text.push_str(": ");
                                text.push_str(&s.removed.join(", "));
                            }
                            if let Some(held) = &s.held {
                                text.push_str(" — ");
                                text.push_str(held);
                            }
                            text
                        })
                        .unwrap_or_default(),
                    ready: f.state == InboundState::Ready,
                    may_classify,
                    id: f.id,
                    name: f.name,
                    size: human_size(f.size),
                    sha256: f.sha256,
                    sender: f.sender,
                    purpose: f.purpose,
                    received: jst(&f.received_at),
                }
            })
            .collect(),
        created_expires: created
            .as_ref()
            .map(|c| jst(&c.expires_at))
            .unwrap_or_default(),
        created,
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct RequestForm {
    csrf: String,
    from: String,
    purpose: String,
    expires_hours: Option<String>,
}

/// A new upload link, shown on the page this once.
pub async fn create_request(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<RequestForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let hours = match form.expires_hours.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<u32>() {
            Ok(h) => Some(h),
            Err(_) => {
                let e = AppError::invalid("bad_expiry", "the expiry is a whole number of hours");
                return error_page(&state, &user, e).await;
            }
        },
    };
    let request = CreateUploadRequest {
        from: form.from.trim().to_string(),
        purpose: form.purpose.trim().to_string(),
        expires_hours: hours,
        max_files: None,
        max_mb: None,
    };
    match inbound::create_request(&state, &user.actor, request, &origin).await {
        Ok(created) => render(&state, &user, Some(created)).await,
        Err(e) => error_page(&state, &user, e).await,
    }
}

#[derive(Deserialize)]
pub struct ClassifyForm {
    csrf: String,
    class: String,
}

pub async fn classify(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<ClassifyForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let class = match form.class.parse::<InboundClass>() {
        Ok(class) => class,
        Err(e) => {
            return error_page(&state, &user, AppError::invalid("bad_class", e.to_string())).await;
        }
    };
    match inbound::classify(&state, &user.actor, &id, ClassifyRequest { class }, &origin).await {
        Ok(_) => Redirect::to("/inbound").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}

/// A ready file, streamed (the sanitised copy when there is one), saved
/// under its class label as `sekisho inbox get` does.
pub async fn content(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Response {
    let (file, body) = match inbound::content(state.clone(), &user.actor, &id, &origin).await {
        Ok(found) => found,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let label = file
        .class
        .and_then(|c| c.class())
        .map(|c| format!("{}_", c.label_ja()))
        .unwrap_or_default();
    let name = format!("{label}{}", file.name);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_DISPOSITION, attachment(&name));
    response
}

/// `Content-Disposition: attachment` with the name in UTF-8 (RFC 6266 /
/// RFC 8187) and an ASCII fallback for old browsers.
pub fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_japanese_name_survives_the_download_header() {
        let value = attachment("重要性II_見積書.pdf");
        let text = value.to_str().expect("ascii header");
        assert!(text.contains("filename*=UTF-8''%E9%87%8D"));
        assert!(text.ends_with(".pdf"));
        let hostile = attachment("a\"; filename=evil.exe");
        assert!(
            !hostile
                .to_str()
                .expect("ascii")
                .contains("\"; filename=evil")
        );
    }
}
