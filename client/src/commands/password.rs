//! `password`: change the logged-in user's password.
//!
//! The gateway ends every session of the user when the password changes,
//! ours included, so the session file is deleted here too and the clerk is
//! told to log in again. Both passwords are wiped from memory once sent.

use anyhow::{Context, Result, bail};
use secrecy::ExposeSecret;
use sekisho_proto::ChangePasswordRequest;
use serde_json::json;
use zeroize::Zeroize;

use crate::config::Config;
use crate::output::print_json;
use crate::prompt;
use crate::session::Session;

pub fn run(cfg: &Config) -> Result<()> {
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
