//! `login`: ask for the password and a TOTP code, and keep the session
//! the gateway answers with on this computer.
//!
//! The password and code are wiped from memory as soon as the gateway has
//! answered; only the bearer token is kept, in the session file
//! ([`crate::session`]), and it is never printed, not even with `--json`.
//! With no `--gateway`, logging in again goes to the gateway of the last
//! session, so a clerk whose session expired needs no flag.

use anyhow::{Context, Result, bail};
use secrecy::ExposeSecret;
use sekisho_proto::{LoginRequest, LoginResponse};
use serde_json::json;
use zeroize::Zeroize;

use crate::config::{Config, display_origin, parse_gateway};
use crate::http::Api;
use crate::output::{print_json, short_time};
use crate::prompt;
use crate::session::Session;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Your user name on the gateway.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// The 6-digit code from your authenticator app (asked for if left out).
    #[arg(long, value_name = "CODE")]
    pub otp: Option<String>,
}

pub fn run(cfg: &Config, args: Args) -> Result<()> {
    let Args { user, otp } = args;
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
