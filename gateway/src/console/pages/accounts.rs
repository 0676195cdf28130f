//! The system administrator's accounts page: create an account (its
//! temporary password and TOTP secret shown once, the secret as a QR code
//! for the authenticator app), disable, enable, change role or mail
//! address. Each action is `service::accounts`, as `sekisho admin user`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::{AccountStatus, CreateUserRequest, Role};
use serde::Deserialize;

use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, accounts};
use crate::state::Shared;

pub struct AccountLine {
    pub username: String,
    pub role: String,
    pub role_code: &'static str,
    pub status: &'static str,
    pub active: bool,
    pub retired: bool,
    pub email: String,
    pub created: String,
    pub locked_until: String,
    pub temporary: bool,
}

pub struct RoleChoice {
    pub code: &'static str,
    pub name: &'static str,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct AccountsPage {
    c: Chrome,
    accounts: Vec<AccountLine>,
    roles: Vec<RoleChoice>,
}

pub async fn list(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let list = match accounts::list(&state, &user.actor).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let lang = user.lang;
    let c = Chrome::of(&state, &user, lang.pick("アカウント", "Accounts")).await;
    let page = AccountsPage {
        c,
        accounts: list
            .into_iter()
            .map(|a| AccountLine {
                role: lang.role(a.role).to_string(),
                role_code: a.role.as_str(),
                status: match a.status {
                    AccountStatus::Active => lang.pick("有効", "active"),
                    AccountStatus::Disabled => lang.pick("停止中", "disabled"),
                    AccountStatus::Retired => lang.pick("退職", "retired"),
                },
                active: a.status == AccountStatus::Active,
                retired: a.status == AccountStatus::Retired,
                email: a.email.unwrap_or_default(),
                created: jst(&a.created_at),
                locked_until: a.locked_until.as_deref().map(jst).unwrap_or_default(),
                temporary: a.must_change_password,
                username: a.username,
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| RoleChoice {
                code: r.as_str(),
                name: lang.role(*r),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "console/account_created.html")]
struct CreatedPage {
    c: Chrome,
    username: String,
    role: String,
    temporary_password: String,
    totp_secret: String,
    qr_svg: String,
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    username: String,
    role: String,
    email: Option<String>,
}

pub async fn create(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let created = async {
        let role = form
            .role
            .parse::<Role>()
            .map_err(|e| AppError::invalid("bad_role", e.to_string()))?;
        let request = CreateUserRequest {
            username: form.username.trim().to_string(),
            role,
            email: form
                .email
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty()),
        };
        accounts::create(&state, Some(&user.actor), &request, &origin).await
    };
    let account = match created.await {
        Ok(account) => account,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let qr_svg = match qr_svg(&account.otpauth_uri) {
        Ok(svg) => svg,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let lang = user.lang;
    let c = Chrome::of(
        &state,
        &user,
        lang.pick("アカウントを作成しました", "Account created"),
    )
    .await;
    let page = CreatedPage {
        c,
        role: lang.role(account.role).to_string(),
        username: account.username,
        temporary_password: account.temporary_password,
        totp_secret: account.totp_secret,
        qr_svg,
    };
    html(StatusCode::CREATED, &page)
}

/// The otpauth URI as an SVG QR code, inline in the page (no image
/// request, nothing stored).
fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "cannot draw the TOTP secret as a QR code: {e}"
        ))
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The renderer's own XML declaration is not valid inside HTML.
    let svg = match svg.find("<svg") {
        Some(start) => svg.get(start..).unwrap_or_default().to_string(),
        None => svg,
    };
    Ok(svg.replacen(
        "<svg",
        "<svg class=\"qr\" role=\"img\" aria-label=\"TOTP QR\"",
        1,
    ))
}

#[derive(Deserialize)]
pub struct ChangeForm {
    csrf: String,
    action: String,
    role: Option<String>,
    email: Option<String>,
}

pub async fn change(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Path(name): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let done = match form.action.as_str() {
        "disable" => accounts::set_enabled(&state, &user.actor, &name, false, &origin).await,
        "enable" => accounts::set_enabled(&state, &user.actor, &name, true, &origin).await,
        "role" => match form.role.as_deref().map(str::parse::<Role>) {
            Some(Ok(role)) => {
                accounts::change_role(&state, &user.actor, &name, role, &origin).await
            }
            _ => Err(AppError::invalid("bad_role", "choose a role")),
        },
        "email" => {
            let email = form.email.unwrap_or_default();
            accounts::set_email(&state, &user.actor, &name, email.trim(), &origin).await
        }
        _ => Err(AppError::invalid("bad_action", "unknown account action")),
    };
    match done {
        Ok(_) => Redirect::to("/accounts").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}
