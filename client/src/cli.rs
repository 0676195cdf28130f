//! The command line as clap types, and nothing else.
//!
//! Keeping every flag in one file lets a reader see the whole surface of the
//! tool at once, and keeps the command modules free of parsing concerns.
//! Values that the policy makes mandatory (classification, purpose, reject
//! reason) are required here with no default: Sekisho never guesses them for
//! a clerk.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use sekisho_proto::{Class, Role};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and keep a session on this computer.
    Login {
        /// Your user name on the gateway.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// The 6-digit code from your authenticator app (asked for if left out).
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
    },
    /// Change your password (ends all your sessions).
    Password,
    /// End your session and forget it on this computer.
    Logout,
    /// Show who you are logged in as.
    Whoami,
    /// Manage user accounts (system administrators).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the people files may be sent to.
    #[command(subcommand)]
    Recipient(RecipientCommand),
    /// Send files to registered recipients.
    Send(SendArgs),
    /// List transfers (your own by default).
    List(ListArgs),
    /// Show everything about one transfer.
    Show {
        /// Transfer id.
        id: String,
    },
    /// Withdraw a transfer or revoke its download links.
    Revoke {
        /// Transfer id.
        id: String,
    },
    /// Show the download links of a transfer.
    Link {
        /// Transfer id.
        id: String,
    },
    /// Show transfers waiting for your decision (approvers).
    Pending,
    /// Approve a transfer after checking its contents (approvers).
    Approve {
        /// Transfer id.
        id: String,
        /// A note kept with the decision.
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// A fresh code from your authenticator app (asked for if left out).
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
    },
    /// Reject a transfer (approvers).
    Reject {
        /// Transfer id.
        id: String,
        /// Why the transfer is refused; the sender reads this.
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        reason: String,
        /// A fresh code from your authenticator app (asked for if left out).
        #[arg(long, value_name = "CODE")]
        otp: Option<String>,
    },
    /// Download and check a package from a link (no login needed).
    Receive(ReceiveArgs),
    /// Check the audit log (auditors).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create, disable, enable and list user accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its temporary password and TOTP secret once.
    Add {
        /// User name of the new account.
        name: String,
        /// One of ciso, approver, manager, sysadmin, auditor, staff.
        #[arg(long, value_name = "ROLE", value_parser = parse_role)]
        role: Role,
    },
    /// Stop an account from logging in.
    Disable {
        /// User name.
        name: String,
    },
    /// Allow a disabled account to log in again.
    Enable {
        /// User name.
        name: String,
    },
    /// List all accounts.
    List,
}

#[derive(Debug, Subcommand)]
pub enum RecipientCommand {
    /// Register a recipient with exactly one way to lock their packages.
    Add(RecipientAddArgs),
    /// List recipients and their key fingerprints.
    List,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("key")
        .required(true)
        .multiple(false)
        .args(["age_key", "ssh_key", "passphrase"])
))]
pub struct RecipientAddArgs {
    /// Short name used with `sekisho send --to`.
    pub name: String,
    /// The recipient's organisation.
    #[arg(long, value_name = "ORG")]
    pub org: String,
    /// The recipient's e-mail address.
    #[arg(long, value_name = "ADDR")]
    pub email: String,
    /// The recipient's age public key (age1...).
    #[arg(long, value_name = "KEY")]
    pub age_key: Option<String>,
    /// File with the recipient's OpenSSH public key(s) (the .pub file).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// Lock packages with a passphrase made for each transfer.
    #[arg(long)]
    pub passphrase: bool,
}

fn parse_file_class(text: &str) -> Result<(String, Class), String> {
    let (name, class) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("'{text}' should look like NAME=CLASS, e.g. 名簿.csv=I"))?;
    let class = parse_class(class)?;
    Ok((name.to_string(), class))
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The files to send (their names are kept as they are).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Classification of the files: I, II or III (重要性I/II/III).
    #[arg(long, value_name = "I|II|III", value_parser = parse_class)]
    pub class: Class,
    /// A different class for one file, as NAME=CLASS (repeatable); the whole
    /// transfer is handled at the highest class of its files.
    #[arg(long = "file-class", value_name = "NAME=CLASS", value_parser = parse_file_class)]
    pub file_class: Vec<(String, Class)>,
    /// A registered recipient; repeat for more than one.
    #[arg(long = "to", value_name = "RECIPIENT", required = true)]
    pub to: Vec<String>,
    /// Why the files are sent; the approver and the recipient read this.
    #[arg(long, value_name = "TEXT", value_parser = non_blank)]
    pub purpose: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every transfer (managers, auditors).
    #[arg(long, conflicts_with = "pending")]
    pub all: bool,
    /// Transfers waiting for a decision.
    #[arg(long)]
    pub pending: bool,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The link from the e-mail: https://HOST/d/...
    #[arg(value_name = "URL")]
    pub url: String,
    /// Folder to save the files in (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Your private key: an age identity file or an OpenSSH private key.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole audit log on this computer.
    Verify {
        /// Events fetched per request.
        #[arg(long, value_name = "N", default_value_t = 500,
              value_parser = clap::value_parser!(u32).range(1..=10_000))]
        page_size: u32,
    },
}

fn parse_class(s: &str) -> Result<Class, String> {
    s.parse::<Class>().map_err(|e| e.to_string())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>()
}

fn non_blank(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        Err("it must not be blank; write a short sentence".to_string())
    } else {
        Ok(trimmed.to_string())
    }
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
    fn send_has_no_default_class_and_refuses_blank_purpose() {
        let missing =
            Cli::try_parse_from(["sekisho", "send", "a.txt", "--to", "x", "--purpose", "p"]);
        assert!(missing.is_err());
        let wrong = Cli::try_parse_from([
            "sekisho",
            "send",
            "a.txt",
            "--class",
            "IV",
            "--to",
            "x",
            "--purpose",
            "p",
        ]);
        assert!(wrong.is_err());
        let blank = Cli::try_parse_from([
            "sekisho",
            "send",
            "a.txt",
            "--class",
            "II",
            "--to",
            "x",
            "--purpose",
            "  ",
        ]);
        assert!(blank.is_err());
        let ok = Cli::try_parse_from([
            "sekisho",
            "send",
            "a.txt",
            "--class",
            "II",
            "--to",
            "x",
            "--purpose",
            "p",
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn recipient_needs_exactly_one_key() {
        let none = Cli::try_parse_from([
            "sekisho",
            "recipient",
            "add",
            "n",
            "--org",
            "o",
            "--email",
            "e",
        ]);
        assert!(none.is_err());
        let two = Cli::try_parse_from([
            "sekisho",
            "recipient",
            "add",
            "n",
            "--org",
            "o",
            "--email",
            "e",
            "--passphrase",
            "--age-key",
            "age1x",
        ]);
        assert!(two.is_err());
        let one = Cli::try_parse_from([
            "sekisho",
            "recipient",
            "add",
            "n",
            "--org",
            "o",
            "--email",
            "e",
            "--passphrase",
        ]);
        assert!(one.is_ok());
    }
}
