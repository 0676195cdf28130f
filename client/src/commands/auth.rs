//! `login`, `password`, `logout` and `whoami`: everything about who the
//! clerk is and the session that proves it.
//!
//! These are the only commands that create or delete the session file, so
//! the rules about it (no password on disk, gone after a password change
//! or logout even when the gateway cannot be reached) are kept together.

use anyhow::{Context, Result, bail};
use secrecy::ExposeSecret;
use sekisho_proto::{ChangePasswordRequest, LoginRequest, LoginResponse, UserInfo};
use serde_json::json;
use zeroize::Zeroize;

use crate::config::{Config, display_origin, parse_gateway};
use crate::http::{Api, SessionEnded};
use crate::output::{print_json, short_time};
use crate::prompt;
use crate::session::Session;

pub fn login(cfg: &Config, user: &str, otp: Option<String>) -> Result<()> {
    let user = user.trim();
    if user.is_empty() {
        bail!("give your user name with --user NAME");
    }
    let gateway = match cfg.gateway()? {
        Some(url) => url,
        // Logging in again to the gateway of the last session needs no flag.
        None => match Session::load(&cfg.session_path()).ok().flatten() {
            Some(old) => parse_gateway(&old.gateway)?,
            None => bail!(
                "which gateway? give its address with --gateway https://HOST:PORT or set SEKISHO_GATEWAY"
            ),
        },
    };
    let api = Api::anonymous(cfg, gateway.clone())?;

    let password = prompt::secret(prompt::PASSWORD_ENV, &format!("Password for {user}: "))?;
    let otp = prompt::otp(otp, "Code from your authenticator app: ")?;
    let mut request = LoginRequest {
        username: user.to_string(),
        password: password.expose_secret().to_string(),
        otp: otp.to_string(),
    };
    let answer: Result<LoginResponse> = api.post(api.url(&["login"])?, &request);
    request.password.zeroize();
    request.otp.zeroize();
    let mut answer = answer.context("login failed")?;

    let session = Session {
        gateway: display_origin(&gateway),
        username: answer.user.username.clone(),
        token: std::mem::take(&mut answer.token).into(),
        expires_at: answer.expires_at.clone(),
    };
    session.save(&cfg.session_path())?;

    if cfg.json {
        // The token stays in the session file; it is never printed.
        return print_json(&json!({
            "gateway": display_origin(&gateway),
            "user": answer.user,
            "expires_at": answer.expires_at,
        }));
    }
    println!(
        "Logged in to {} as {} ({}). Your session lasts until {}.",
        display_origin(&gateway),
        answer.user.username,
        answer.user.role,
        short_time(&answer.expires_at)
    );
    if answer.user.must_change_password {
        println!(
            "Your password is temporary: run `sekisho password` now to choose your own. Nothing else works until you do."
        );
    }
    Ok(())
}

pub fn password(cfg: &Config) -> Result<()> {
    let (api, session) = super::logged_in(cfg)?;
    let current = prompt::secret(prompt::PASSWORD_ENV, "Current password: ")?;
    let new = prompt::new_password(prompt::NEW_PASSWORD_ENV)?;
    if new.expose_secret() == current.expose_secret() {
        bail!("the new password is the same as the current one; choose a different one");
    }
    let mut request = ChangePasswordRequest {
        current_password: current.expose_secret().to_string(),
        new_password: new.expose_secret().to_string(),
    };
    let result = api.post_no_answer(api.url(&["password"])?, Some(&request));
    request.current_password.zeroize();
    request.new_password.zeroize();
    result.context("the password was not changed")?;

    // The gateway has ended every session of this user, ours included.
    Session::delete(&cfg.session_path())?;
    if cfg.json {
        return print_json(&json!({ "changed": true, "logged_out": true }));
    }
    println!(
        "Your password has been changed. All your sessions have ended; log in again with `sekisho login --user {}`.",
        session.username
    );
    Ok(())
}

pub fn logout(cfg: &Config) -> Result<()> {
    let path = cfg.session_path();
    let Some(session) = Session::load(&path).ok().flatten() else {
        // A damaged file is still a session file: remove it either way.
        Session::delete(&path)?;
        if cfg.json {
            return print_json(&json!({ "logged_out": true, "was_logged_in": false }));
        }
        println!("You were not logged in.");
        return Ok(());
    };

    let ended_at_gateway = Api::with_session(cfg, &session).and_then(|api| {
        let url = api.url(&["logout"])?;
        api.post_no_answer::<()>(url, None)
    });
    // The local copy goes even if the gateway is unreachable: the clerk
    // asked to be logged out of this computer.
    Session::delete(&path)?;

    // A session the gateway already ended needs no warning.
    if let Err(err) = &ended_at_gateway
        && !err.is::<SessionEnded>()
    {
        eprintln!(
            "warning: the gateway could not be told ({err:#}); the session was deleted from this computer and ends by itself at {}.",
            short_time(&session.expires_at)
        );
    }
    if cfg.json {
        return print_json(&json!({
            "logged_out": true,
            "was_logged_in": true,
            "gateway_confirmed": ended_at_gateway.is_ok(),
        }));
    }
    println!("Logged out {}.", session.username);
    Ok(())
}

pub fn whoami(cfg: &Config) -> Result<()> {
    let (api, session) = super::logged_in(cfg)?;
    let me: UserInfo = api.get(api.url(&["whoami"])?)?;
    if cfg.json {
        return print_json(&me);
    }
    println!(
        "{} ({}) at {}; session until {}.",
        me.username,
        me.role,
        display_origin(api.base()),
        short_time(&session.expires_at)
    );
    if me.must_change_password {
        println!("Your password is temporary: run `sekisho password` to choose your own.");
    }
    Ok(())
}
