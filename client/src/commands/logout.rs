//! `logout`: end the session at the gateway and delete it here.
//!
//! The local session file goes even when the gateway cannot be reached or
//! the file is damaged: the clerk asked to be logged out of this computer,
//! and a token left on disk is the thing to avoid. A gateway that could not
//! be told only earns a warning, since the token expires by itself.

use anyhow::Result;
use serde_json::json;

use crate::config::Config;
use crate::http::{Api, SessionEnded};
use crate::output::{print_json, short_time};
use crate::session::Session;

pub fn run(cfg: &Config) -> Result<()> {
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
