//! Logging in and out, the temporary password, and the language switch.
//! Logging in goes through `accounts::login_as`: the same lockout, per
//! address throttle and events as `sekisho login`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use sekisho_proto::{ChangePasswordRequest, LoginRequest};
use serde::Deserialize;

use crate::console::i18n::{LANG_COOKIE, Lang};
use crate::console::page::{Chrome, html};
use crate::console::session::{self, ConsoleUser, CsrfForm};
use crate::error::AppError;
use crate::http::client_addr::ClientAddr;
use crate::http::throttling;
use crate::service::Origin;
use crate::service::accounts::{self, SessionKind};
use crate::state::Shared;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    username: String,
    message: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    changed: Option<String>,
}

pub async fn login_page(
    headers: HeaderMap,
    user: Option<ConsoleUser>,
    Query(query): Query<LoginQuery>,
) -> Response {
    if user.is_some() {
        return Redirect::to("/home").into_response();
    }
    let lang = Lang::from_headers(&headers);
    let message = query.changed.map(|_| {
        lang.pick(
            "パスワードを変更しました。新しいパスワードでログインしてください。",
            "Your password was changed. Log in with the new password.",
        )
        .to_string()
    });
    let page = LoginPage {
        c: Chrome::anonymous(lang, lang.pick("ログイン", "Log in")),
        username: String::new(),
        message,
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    otp: String,
}

pub async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    origin: Origin,
    client: Option<Extension<ClientAddr>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let username = form.username.trim().to_string();
    let attempt = async {
        throttling::check(&state.throttles.login, client.map(|Extension(c)| c))?;
        let request = LoginRequest {
            username: username.clone(),
            password: form.password,
            otp: form.otp.trim().to_string(),
        };
        accounts::login_as(&state, request, &origin, SessionKind::Console).await
    };
    match attempt.await {
        Ok(session) => {
            let next = if session.user.must_change_password {
                "/password"
            } else {
                "/home"
            };
            let mut response = Redirect::to(next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::session_cookie(&session.token));
            response
        }
        Err(error) => {
            let (status, _, message) = error.parts();
            if status.is_server_error() {
                let _ = error.into_response();
            }
            let page = LoginPage {
                c: Chrome::anonymous(lang, lang.pick("ログイン", "Log in")),
                username,
                message: Some(message),
            };
            html(status, &page)
        }
    }
}

pub async fn logout(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    if let Err(e) = accounts::logout(&state, &user.actor, &user.token, &origin).await {
        return e.into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::cleared_cookie());
    response
}

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage {
    c: Chrome,
    must_change: bool,
    message: Option<String>,
}

pub async fn password_page(State(state): State<Shared>, user: ConsoleUser) -> Response {
    password_form(&state, &user, StatusCode::OK, None).await
}

/// The password page, with why the last attempt was refused if it was.
async fn password_form(
    state: &Shared,
    user: &ConsoleUser,
    status: StatusCode,
    message: Option<String>,
) -> Response {
    let c = Chrome::of(
        state,
        user,
        user.lang.pick("パスワードの変更", "Change password"),
    )
    .await;
    let page = PasswordPage {
        c,
        must_change: user.actor.must_change_password,
        message,
    };
    html(status, &page)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let request = ChangePasswordRequest {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    match accounts::change_password(&state, &user.actor, request, &origin).await {
        // Every session of the account ended with the change, this one too.
        Ok(()) => {
            let mut response = Redirect::to("/login?changed=1").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::cleared_cookie());
            response
        }
        Err(error) => {
            let (status, _, message) = error.parts();
            password_form(&state, &user, status, Some(message)).await
        }
    }
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    back: Option<String>,
}

/// Sets the language cookie and goes back to the page it came from (only
/// a path of this gateway: never another site).
pub async fn switch_language(Form(form): Form<LangForm>) -> Response {
    let Some(lang) = Lang::parse(&form.lang) else {
        return AppError::invalid("bad_lang", "the language is ja or en").into_response();
    };
    let back = form
        .back
        .filter(|p| is_local_path(p))
        .unwrap_or_else(|| "/home".to_string());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Secure; SameSite=Strict; Max-Age=31536000",
        lang.code()
    );
    let mut response = Redirect::to(&back).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A path on this gateway: `/…`, but not `//host` or `/\host`, which
/// browsers read as another site.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_goes_back_only_to_this_gateway() {
        assert!(is_local_path("/transfers/abc"));
        assert!(!is_local_path("//evil.example/"));
        assert!(!is_local_path("/\\evil.example/"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("/a\r\nSet-Cookie: x"));
    }
}
