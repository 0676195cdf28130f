//! One module per command, each owning its clap arguments (`Args`, or
//! `Command` for a command with subcommands) and its `run()`; this file
//! dispatches to them and holds the little they all share (finding the
//! session and building a client for it, and the "already reported" error).
//!
//! Approving and rejecting decide three kinds of request (transfers,
//! disposals of stored content, medium wipes and disposals) with one pair
//! of commands, so `approve`, `reject` and `pending` use what `show`,
//! `deletion` and `media` export about their own objects.

pub mod admin;
pub mod approve;
pub mod audit;
pub mod delegate;
pub mod deletion;
pub mod dispose;
pub mod inbox;
pub mod incidents;
pub mod intake;
pub mod link;
pub mod list;
pub mod login;
pub mod logout;
pub mod media;
pub mod password;
pub mod pending;
pub mod receive;
pub mod recipient;
pub mod reject;
pub mod revoke;
pub mod send;
pub mod show;
pub mod upload;
pub mod values;
pub mod whoami;

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::http::Api;
use crate::session::Session;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = Config::from_args(&cli.global)?;
    match cli.command {
        Command::Login(args) => login::run(&cfg, args),
        Command::Password => password::run(&cfg),
        Command::Logout => logout::run(&cfg),
        Command::Whoami => whoami::run(&cfg),
        Command::Admin(cmd) => admin::run(&cfg, cmd),
        Command::Recipient(cmd) => recipient::run(&cfg, cmd),
        Command::Send(args) => send::run(&cfg, args),
        Command::List(args) => list::run(&cfg, args),
        Command::Show(args) => show::run(&cfg, args),
        Command::Revoke(args) => revoke::run(&cfg, args),
        Command::Link(args) => link::run(&cfg, args),
        Command::Pending => pending::run(&cfg),
        Command::Approve(args) => approve::run(&cfg, args),
        Command::Reject(args) => reject::run(&cfg, args),
        Command::Delegate(args) => delegate::run(&cfg, args),
        Command::Receive(args) => receive::run(&cfg, args),
        Command::Dispose(args) => dispose::run(&cfg, args),
        Command::Deletion(cmd) => deletion::run(&cfg, cmd),
        Command::Media(cmd) => media::run(&cfg, cmd),
        Command::Audit(cmd) => audit::run(&cfg, cmd),
        Command::Inbox(cmd) => inbox::run(&cfg, cmd),
        Command::Upload(args) => upload::run(&cfg, args),
        Command::Intake(args) => intake::run(&cfg, args),
        Command::Incidents(args) => incidents::run(&cfg, args),
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
