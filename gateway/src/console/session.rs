//! The console's session: a `__Host-` cookie holding the same kind of
//! session token the API hands out (256 bits, stored only hashed), checked
//! by the same `accounts::authenticate`, plus the console's own idle
//! time-out. Every state-changing request also carries a CSRF token derived
//! from the session token, which a page from another site cannot know.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::i18n::Lang;
use crate::http::refusals::ActorSlot;
use crate::policy::Actor;
use crate::service::accounts;
use crate::state::Shared;

/// The session cookie. `__Host-` makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no other host can set or read it.
pub const SESSION_COOKIE: &str = "__Host-sekisho";

/// The header the console's own script sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a new session; the browser forgets it when the window
/// closes (no `Max-Age`), and the server ends it after its time-outs anyway.
pub fn session_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("__Host-sekisho=; Path=/; Secure; HttpOnly"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-sekisho=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// The CSRF token of a session: a digest of the session token under a
/// label, so it is as unguessable as the session and needs no storage.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"sekisho-console-csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

const CSRF_MESSAGE: &str = "このフォームは古いか、別のサイトから送られました。ページを開き直してからもう一度お試しください。 \
     this form is stale or came from another site; reload the page and try again";

/// The logged-in person of a console request.
pub struct ConsoleUser {
    pub actor: Actor,
    pub token: String,
    pub lang: Lang,
    /// The page asked for (the language switch comes back to it).
    pub path: String,
}

impl ConsoleUser {
    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }

    /// Refuses a state-changing request whose CSRF token is not this
    /// session's, compared in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), Refusal> {
        let expected = self.csrf();
        if bool::from(expected.as_bytes().ct_eq(presented.trim().as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::Csrf { script: false })
        }
    }

    /// [`Self::check_csrf`] for the console's own script, which sends the
    /// token in a header and reads a JSON answer.
    pub fn check_script_csrf(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.check_csrf(presented)
            .map_err(|_| Refusal::Csrf { script: true })
    }
}

/// A form whose only field is the CSRF token (logout, "sign now").
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// Why a console request was not let in.
#[derive(Debug)]
pub enum Refusal {
    /// No session or it ended: to the login page.
    LoggedOut,
    /// A temporary password must be changed before anything else.
    MustChangePassword,
    /// A form or script request without this session's CSRF token, or
    /// from another site. A form gets a page; the script gets JSON.
    Csrf { script: bool },
    /// The session could not be checked (database down).
    Failed(crate::error::AppError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::LoggedOut => Redirect::to("/login").into_response(),
            Refusal::MustChangePassword => Redirect::to("/password").into_response(),
            Refusal::Csrf { script: true } => {
                crate::error::AppError::Forbidden(CSRF_MESSAGE.to_string()).into_response()
            }
            Refusal::Csrf { script: false } => {
                let page = super::page::ErrorPage {
                    c: super::page::Chrome::anonymous(Lang::Ja, "エラー / Error"),
                    message: CSRF_MESSAGE.to_string(),
                };
                super::page::html(axum::http::StatusCode::FORBIDDEN, &page)
            }
            Refusal::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<Shared> for ConsoleUser {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Refusal> {
        let lang = Lang::from_headers(&parts.headers);
        // A browser says where a request comes from: nothing from another
        // site may act in a session (SameSite=Strict and the CSRF token are
        // the main guards; this one costs nothing).
        if parts.method != Method::GET
            && parts
                .headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|site| site == "cross-site")
        {
            let script = parts.headers.contains_key(CSRF_HEADER);
            return Err(Refusal::Csrf { script });
        }
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::LoggedOut)?;
        let actor = match accounts::authenticate(state, &token).await {
            Ok(actor) => actor,
            Err(crate::error::AppError::Unauthenticated(_)) => return Err(Refusal::LoggedOut),
            Err(other) => return Err(Refusal::Failed(other)),
        };
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.fill(&actor);
        }
        let path = parts.uri.path().to_string();
        if actor.must_change_password && path != "/password" && path != "/logout" {
            return Err(Refusal::MustChangePassword);
        }
        Ok(ConsoleUser {
            actor,
            token,
            lang,
            path,
        })
    }
}

/// On pages anyone may open (the login page): the person if logged in.
impl OptionalFromRequestParts<Shared> for ConsoleUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <ConsoleUser as FromRequestParts<Shared>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let a = csrf_token("session-a");
        assert_eq!(a, csrf_token("session-a"));
        assert_ne!(a, csrf_token("session-b"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn the_session_cookie_is_host_only_secure_and_strict() {
        let value = session_cookie("abc");
        let text = value.to_str().expect("ascii");
        assert!(text.starts_with("__Host-sekisho=abc; Path=/; Secure; HttpOnly; SameSite=Strict"));
        assert!(!text.contains("Domain"));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "x=1; __Host-sekisho=tok; y=2".parse().expect("header"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&headers, "z"), None);
    }
}
