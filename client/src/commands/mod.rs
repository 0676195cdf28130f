//! One module per command group, each with its own `run()`; this file
//! dispatches to them and holds the little they share (finding the session
//! and building a client for it).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod deletion;
pub mod inbound;
pub mod media;
pub mod receive;
pub mod recipient;
pub mod send;
pub mod transfers;

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::{Cli, Command, DeletionCommand};
use crate::config::Config;
use crate::http::Api;
use crate::session::Session;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = Config::from_args(&cli.global)?;
    match cli.command {
        Command::Login { user, otp } => auth::login(&cfg, &user, otp),
        Command::Password => auth::password(&cfg),
        Command::Logout => auth::logout(&cfg),
        Command::Whoami => auth::whoami(&cfg),
        Command::Admin(cmd) => admin::run(&cfg, cmd),
        Command::Recipient(cmd) => recipient::run(&cfg, cmd),
        Command::Send(args) => send::run(&cfg, args),
        Command::List(args) => transfers::list(&cfg, &args),
        Command::Show { id } => transfers::show(&cfg, &id),
        Command::Revoke { id } => transfers::revoke(&cfg, &id),
        Command::Link { id } => transfers::link(&cfg, &id),
        Command::Pending => transfers::pending(&cfg),
        Command::Approve { id, comment, otp } => transfers::approve(&cfg, &id, comment, otp),
        Command::Reject { id, reason, otp } => transfers::reject(&cfg, &id, &reason, otp),
        Command::Receive(args) => receive::run(&cfg, args),
        Command::Dispose { id, reason } => deletion::dispose(&cfg, &id, &reason),
        Command::Media(cmd) => media::run(&cfg, cmd),
        Command::Deletion(DeletionCommand::Show { id, output }) => {
            deletion::show(&cfg, &id, output.as_deref())
        }
        Command::Deletion(DeletionCommand::Verify { file, key }) => {
            deletion::verify(&cfg, &file, key)
        }
        Command::Audit(cmd) => audit::run(&cfg, cmd),
        Command::Inbox(cmd) => inbound::inbox(&cfg, cmd),
        Command::Upload { url, files } => inbound::upload(&cfg, &url, &files),
        Command::Intake(args) => inbound::intake(&cfg, args),
        Command::Incidents { action } => inbound::incidents(&cfg, action),
    }
    .map(|()| ExitCode::SUCCESS)
    .or_else(|err| match err.downcast_ref::<Failed>() {
        // The command already printed its verdict (e.g. a broken audit chain).
        Some(Failed) => Ok(ExitCode::FAILURE),
        None => Err(err),
    })
}

/// Returned by a command that has already told the user why it failed and
/// only needs the process to exit 1.
#[derive(Debug)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the check failed")
    }
}

impl std::error::Error for Failed {}

/// The stored session and a client for its gateway, or the sentence that
/// tells the clerk to log in.
pub fn logged_in(cfg: &Config) -> Result<(Api, Session)> {
    let Some(session) = Session::load(&cfg.session_path())? else {
        bail!("You are not logged in; log in with `sekisho login --user NAME`.");
    };
    let api = Api::with_session(cfg, &session)?;
    Ok((api, session))
}
