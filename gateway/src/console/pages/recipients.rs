//! The address book: outside recipients with an age key, SSH keys, or a
//! passphrase generated per transfer. Fingerprints are shown so a key can
//! be compared with the one the recipient reads out on the telephone.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use sekisho_proto::{CreateRecipientRequest, KeyKind};
use serde::Deserialize;

use crate::console::page::{Chrome, error_page, html, jst};
use crate::console::session::ConsoleUser;
use crate::error::AppError;
use crate::service::{Origin, recipients};
use crate::state::Shared;

pub struct RecipientLine {
    pub name: String,
    pub organisation: String,
    pub email: String,
    pub kind: &'static str,
    pub fingerprints: Vec<String>,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/recipients.html")]
struct RecipientsPage {
    c: Chrome,
    recipients: Vec<RecipientLine>,
}

pub async fn list(State(state): State<Shared>, user: ConsoleUser) -> Response {
    let lang = user.lang;
    let list = match recipients::list(&state, &user.actor).await {
        Ok(list) => list,
        Err(e) => return error_page(&state, &user, e).await,
    };
    let c = Chrome::of(
        &state,
        &user,
        lang.pick("宛先（アドレス帳）", "Address book"),
    )
    .await;
    let page = RecipientsPage {
        c,
        recipients: list
            .into_iter()
            .map(|r| RecipientLine {
                kind: match r.key_kind {
                    KeyKind::Age => "age",
                    KeyKind::Ssh => "SSH",
                    KeyKind::Passphrase => lang.pick("パスフレーズ", "passphrase"),
                },
                name: r.name,
                organisation: r.organisation,
                email: r.email,
                fingerprints: r.fingerprints,
                created: jst(&r.created_at),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct RecipientForm {
    csrf: String,
    name: String,
    organisation: String,
    email: String,
    key_kind: String,
    public_key: Option<String>,
}

pub async fn create(
    State(state): State<Shared>,
    origin: Origin,
    user: ConsoleUser,
    Form(form): Form<RecipientForm>,
) -> Response {
    if let Err(refusal) = user.check_csrf(&form.csrf) {
        return refusal.into_response();
    }
    let key_kind = match form.key_kind.as_str() {
        "age" => KeyKind::Age,
        "ssh" => KeyKind::Ssh,
        "passphrase" => KeyKind::Passphrase,
        _ => {
            let e = AppError::invalid("bad_key_kind", "choose age, SSH or passphrase");
            return error_page(&state, &user, e).await;
        }
    };
    let public_key = form
        .public_key
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty() && key_kind != KeyKind::Passphrase);
    let request = CreateRecipientRequest {
        name: form.name.trim().to_string(),
        organisation: form.organisation.trim().to_string(),
        email: form.email.trim().to_string(),
        key_kind,
        public_key,
    };
    match recipients::create(&state, &user.actor, request, &origin).await {
        Ok(_) => Redirect::to("/recipients").into_response(),
        Err(e) => error_page(&state, &user, e).await,
    }
}
