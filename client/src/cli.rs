//! The top of the command line: the global flags every command understands
//! and the list of commands, each wrapping the arguments its own module in
//! [`crate::commands`] defines.
//!
//! A command's flags live next to the code that uses them, so adding or
//! changing one touches one file; this file is where a reader sees the
//! whole surface at once (one line of help per command). Values that the
//! policy makes mandatory (classification, purpose, reject reason) are
//! required by those modules with no default: Sekisho never guesses them
//! for a clerk.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    admin, approve, audit, delegate, deletion, dispose, inbox, incidents, intake, link, list,
    login, media, receive, recipient, reject, revoke, send, show, upload,
};

#[derive(Debug, Parser)]
#[command(
    name = "sekisho",
    version,
    about = "Send files out of the office safely through the Sekisho gateway (関所).",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Address of the gateway, e.g. https://sekisho.example.lg.jp:8443.
    #[arg(long, global = true, env = "SEKISHO_GATEWAY", value_name = "URL")]
    pub gateway: Option<String>,

    /// PEM file with the certificate of the gateway's certificate authority.
    #[arg(long, global = true, env = "SEKISHO_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Every command; [`crate::commands::run`] hands each to its module.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and keep a session on this computer.
    Login(login::Args),
    /// Change your password (ends all your sessions).
    Password,
    /// End your session and forget it on this computer.
    Logout,
    /// Show who you are logged in as.
    Whoami,
    /// Manage user accounts (system administrators).
    #[command(subcommand)]
    Admin(admin::Command),
    /// Manage the people files may be sent to.
    #[command(subcommand)]
    Recipient(recipient::Command),
    /// Send files to registered recipients.
    Send(send::Args),
    /// List transfers (your own by default).
    List(list::Args),
    /// Show everything about one transfer.
    Show(show::Args),
    /// Withdraw a transfer or revoke its download links.
    Revoke(revoke::Args),
    /// Show the download links of a transfer.
    Link(link::Args),
    /// Show transfers waiting for your decision (approvers).
    Pending,
    /// Approve a transfer after checking its contents (approvers).
    Approve(approve::Args),
    /// Reject a transfer (approvers).
    Reject(reject::Args),
    /// Name a stand-in approver while you are away, clear one, or list them (代理承認).
    Delegate(delegate::Args),
    /// Download and check a package from a link (no login needed).
    Receive(receive::Args),
    /// Ask to dispose of stored content before its time (I/II needs approval).
    Dispose(dispose::Args),
    /// Deletion certificates (廃棄証明).
    #[command(subcommand)]
    Deletion(deletion::Command),
    /// Removable media: ledger, carry-out, write, return (持ち出し・持ち込み).
    #[command(subcommand)]
    Media(media::Command),
    /// Review, verify and report on the audit log (auditors, CISO; 監査).
    #[command(subcommand)]
    Audit(audit::Command),
    /// Files brought in: upload requests, results, classification (受け入れ).
    #[command(subcommand)]
    Inbox(inbox::Command),
    /// Upload files through an upload link someone sent you (no account needed).
    Upload(upload::Args),
    /// Bring in data from a medium: every file is uploaded and scanned, nothing copied locally.
    Intake(intake::Args),
    /// Malware incidents (managers, approvers, CISO; auditors read only).
    Incidents(incidents::Args),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_command() {
        let parsed = Cli::try_parse_from([
            "sekisho",
            "whoami",
            "--json",
            "--gateway",
            "https://gw.example.lg.jp:8443",
        ]);
        match parsed {
            Ok(cli) => {
                assert!(cli.global.json);
                assert_eq!(
                    cli.global.gateway.as_deref(),
                    Some("https://gw.example.lg.jp:8443")
                );
                assert!(matches!(cli.command, Command::Whoami));
            }
            Err(e) => panic!("whoami --json was refused: {e}"),
        }
    }
}
