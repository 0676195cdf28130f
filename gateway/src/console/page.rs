//! What every console page shares: the frame around it (who is logged in,
//! the menu the policy allows them, the approval queue's count, the
//! language switch) and the way a page becomes an answer, with the
//! console's content security policy.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::i18n::Lang;
use super::session::ConsoleUser;
use crate::error::AppError;
use crate::policy::{self, Actor};
use crate::service::transfers;
use crate::state::AppState;

/// The console's pages load their style and script from the gateway itself
/// and nothing else: no inline script or style, no other origin, no frame.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The menu entries the policy allows this person.
#[derive(Debug, Clone, Default)]
pub struct Menu {
    pub send: bool,
    pub queue: bool,
    pub inbound: bool,
    pub classify: bool,
    pub incidents: bool,
    pub accounts: bool,
    pub audit: bool,
    pub media: bool,
    pub scanner: bool,
    pub delegations: bool,
}

impl Menu {
    pub fn of(actor: &Actor) -> Menu {
        Menu {
            send: policy::may_send(actor).is_ok(),
            queue: policy::has_approval_queue(actor),
            inbound: policy::may_request_inbound(actor).is_ok(),
            classify: policy::decides_unknown_classes(actor),
            incidents: policy::may_view_incidents(actor).is_ok(),
            accounts: policy::may_manage_accounts(actor).is_ok(),
            audit: policy::may_read_audit(actor).is_ok(),
            media: policy::may_view_media(actor).is_ok(),
            scanner: policy::may_view_scan_status(actor).is_ok(),
            delegations: policy::may_view_delegations(actor).is_ok(),
        }
    }
}

/// The frame of a page.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub lang: Lang,
    /// Empty on pages before login.
    pub username: String,
    pub role: String,
    pub csrf: String,
    pub menu: Menu,
    /// What waits in the approval queue (shown on every page).
    pub pending: usize,
    pub title: String,
    /// This page's path: the language switch comes back to it.
    pub path: String,
}

impl Chrome {
    /// The frame for a page before login.
    pub fn anonymous(lang: Lang, title: &'static str) -> Chrome {
        Chrome {
            lang,
            title: title.to_string(),
            path: "/login".to_string(),
            ..Chrome::default()
        }
    }

    /// The frame for a logged-in person; the count costs one query, and
    /// only for those with a queue.
    pub async fn of(state: &AppState, user: &ConsoleUser, title: &'static str) -> Chrome {
        let menu = Menu::of(&user.actor);
        let pending = if menu.queue {
            waiting_count(state, &user.actor).await
        } else {
            0
        };
        Chrome {
            lang: user.lang,
            username: user.actor.username.clone(),
            role: user.lang.role(user.actor.role).to_string(),
            csrf: user.csrf(),
            menu,
            pending,
            title: title.to_string(),
            path: user.path.clone(),
        }
    }

    /// A text in the page's language.
    pub fn t(&self, ja: &'static str, en: &'static str) -> &'static str {
        self.lang.pick(ja, en)
    }

    pub fn logged_in(&self) -> bool {
        !self.username.is_empty()
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn other_lang_code(&self) -> &'static str {
        self.lang.other().code()
    }

    pub fn other_lang_name(&self) -> &'static str {
        match self.lang.other() {
            Lang::Ja => "日本語",
            Lang::En => "English",
        }
    }
}

/// Everything that waits for this person's decision: transfers and
/// carry-outs, early disposals of transfers, and media wipes and disposals.
/// A count that cannot be read shows as 0; the queue page says why.
pub async fn waiting_count(state: &AppState, actor: &Actor) -> usize {
    let transfers = transfers::list(state, actor, "pending")
        .await
        .map(|l| l.len());
    let disposals = crate::service::deletion::pending(state, actor)
        .await
        .map(|l| l.len());
    let media = crate::service::media::pending_disposals(state, actor)
        .await
        .map(|l| l.len());
    [transfers, disposals, media]
        .into_iter()
        .map(|n| n.unwrap_or(0))
        .sum()
}

/// A rendered page as an answer, with the console's headers.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONSOLE_CSP),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => AppError::Internal(anyhow::Error::new(e).context("cannot render a console page"))
            .into_response(),
    }
}

/// A page that says what went wrong, in the words the API uses (they are
/// Japanese first already), with a way back.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub c: Chrome,
    pub message: String,
}

/// An error from a service, as a page in the frame.
pub async fn error_page(state: &AppState, user: &ConsoleUser, error: AppError) -> Response {
    let (status, _code, message) = error.parts();
    if status.is_server_error() {
        // Logged once with its detail, as the API does.
        let _ = error.into_response();
    }
    let c = Chrome::of(state, user, "エラー").await;
    html(status, &ErrorPage { c, message })
}

/// Times on pages are JST, as in mails.
pub use crate::clock::jst;

/// Bytes with a size people read: "1.5 MB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    match (unit, UNITS.get(unit)) {
        (0, _) => format!("{bytes} B"),
        (_, Some(name)) => format!("{value:.1} {name}"),
        _ => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_japan_time() {
        assert_eq!(jst("2026-03-31T14:30:00Z"), "2026-03-31 23:30");
        assert_eq!(jst("2026-03-31T15:30:00.123Z"), "2026-04-01 00:30");
        assert_eq!(jst("garbage"), "garbage");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500_000), "1.5 MB");
        assert_eq!(human_size(2 * 1024 * 1024 * 1024), "2.1 GB");
    }

    #[test]
    fn the_console_policy_allows_no_inline_script_and_no_other_origin() {
        assert!(!CONSOLE_CSP.contains("unsafe"));
        assert!(CONSOLE_CSP.contains("script-src 'self'"));
        assert!(CONSOLE_CSP.contains("frame-ancestors 'none'"));
    }
}
