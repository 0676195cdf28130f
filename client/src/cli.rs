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
    /// Ask to dispose of stored content before its time (I/II needs approval).
    Dispose {
        /// Transfer id whose stored content should be securely deleted.
        id: String,
        /// Why; the approver and the deletion certificate show it.
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        reason: String,
    },
    /// Deletion certificates (廃棄証明).
    #[command(subcommand)]
    Deletion(DeletionCommand),
    /// Removable media: ledger, carry-out, write, return (持ち出し・持ち込み).
    #[command(subcommand)]
    Media(MediaCommand),
    /// Review, verify and report on the audit log (auditors, CISO; 監査).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Files brought in: upload requests, results, classification (受け入れ).
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Upload files through an upload link someone sent you (no account needed).
    Upload {
        /// The link, https://.../u/...
        url: String,
        /// The files to upload.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Bring in data from a medium: every file is uploaded and scanned, nothing copied locally.
    Intake(IntakeArgs),
    /// Malware incidents (managers, approvers, CISO; auditors read only).
    Incidents {
        #[command(subcommand)]
        action: Option<IncidentCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Ask someone outside for files; prints the upload link to give them.
    Request {
        /// A name from your address book, or who it is (free text).
        #[arg(long, value_name = "RECIPIENT", value_parser = non_blank)]
        from: String,
        /// What the files are for.
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        purpose: String,
        /// How long the link stays usable (default 168 = 7 days).
        #[arg(long = "expires-hours", value_name = "N")]
        expires_hours: Option<u32>,
        /// At most this many files (default 20).
        #[arg(long = "max-files", value_name = "N")]
        max_files: Option<u32>,
        /// At most this many MiB in total (default 2048).
        #[arg(long = "max-mb", value_name = "N")]
        max_mb: Option<u64>,
    },
    /// Files received for you, with their scan verdict, class and state.
    List,
    /// Set the class of a clean file; `unknown` leaves it to a manager.
    Classify {
        /// Inbound file id.
        id: String,
        #[arg(long, value_name = "I|II|III|unknown")]
        class: String,
    },
    /// Save a clean, classified file into a folder (never overwrites).
    Get {
        /// Inbound file id.
        id: String,
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
    },
    /// Scan a held file again, after the engine was fixed (sysadmin).
    Rescan {
        /// Inbound file id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct IntakeArgs {
    /// Files or folders to bring in (folders are walked; links are not followed).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// What the data is for.
    #[arg(long, value_name = "TEXT", value_parser = non_blank)]
    pub purpose: String,
    /// Classify every clean file at once: I, II, III or unknown.
    #[arg(long, value_name = "I|II|III|unknown")]
    pub class: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Hand an incident to the approvers and the CISO (managers).
    Escalate {
        /// Incident id.
        id: String,
    },
    /// Close an incident with a note of what was done.
    Close {
        /// Incident id.
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        note: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Register a medium in the ledger (sysadmin).
    Register {
        /// The medium's id, as written on it (e.g. USB-001).
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        label: String,
        #[arg(long = "type", value_name = "TYPE", default_value = "USB")]
        media_type: String,
        #[arg(long, value_name = "SECTION", default_value = "総務")]
        section: String,
    },
    /// The ledger; --overdue lists only media past their return date.
    List {
        #[arg(long)]
        overdue: bool,
    },
    /// Ask to carry files out on a registered medium (always needs approval).
    Checkout(MediaCheckoutArgs),
    /// Write an approved carry-out onto the medium and check it.
    Write {
        /// The carry-out's id.
        checkout: String,
        /// Where the medium is mounted.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
    /// Record that a medium came back.
    Checkin {
        /// The medium's id.
        id: String,
    },
    /// Ask to wipe or dispose of a medium (needs an approver's decision).
    Dispose {
        /// The medium's id.
        id: String,
        /// `wipe` keeps the medium in use; `dispose` retires it for good.
        #[arg(long, value_name = "wipe|dispose", value_parser = ["wipe", "dispose"])]
        kind: String,
        /// How it is done, e.g. "全領域上書き消去" or "物理破壊".
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        method: String,
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        reason: String,
    },
    /// Record an outside medium brought in (its files go through the inbound scan).
    CarryIn {
        /// The medium's id or label.
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = non_blank)]
        purpose: String,
        /// Who it came from.
        #[arg(long, value_name = "TEXT")]
        origin: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct MediaCheckoutArgs {
    /// The registered medium.
    #[arg(long, value_name = "ID")]
    pub medium: String,
    /// Why the files are carried out.
    #[arg(long, value_name = "TEXT", value_parser = non_blank)]
    pub purpose: String,
    /// When the medium comes back: YYYY-MM-DD or an RFC 3339 time.
    #[arg(long = "return-by", value_name = "DATE")]
    pub return_by: String,
    /// Classification of the files: I, II or III.
    #[arg(long, value_name = "I|II|III", value_parser = parse_class)]
    pub class: Class,
    /// A different class for one file, as NAME=CLASS.
    #[arg(long = "file-class", value_name = "NAME=CLASS", value_parser = parse_file_class)]
    pub file_class: Vec<(String, Class)>,
    /// Lock I/II to this age public key instead of a generated passphrase.
    #[arg(long = "age-key", value_name = "age1...")]
    pub age_key: Option<String>,
    /// The files to carry out.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DeletionCommand {
    /// Print the signed certificate of a deleted object.
    Show {
        /// Id of the deleted object (the transfer id).
        id: String,
        /// Also save the certificate (JSON) to this new file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a saved certificate offline against the pinned audit key.
    Verify {
        /// The certificate file.
        file: PathBuf,
        /// The gateway's audit public key (base64); default: the pinned one.
        #[arg(long, value_name = "BASE64")]
        key: Option<String>,
    },
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
    /// Show or export audit events (監査ログの表示・書き出し).
    Log(AuditLogArgs),
    /// Pin the gateway's audit signing key on this computer (監査鍵の登録).
    Pin(AuditPinArgs),
    /// Check the whole audit log and its signed checkpoints on this computer (監査ログの検証).
    Verify(AuditVerifyArgs),
    /// Print the latest signed checkpoint, or have the gateway sign one now (チェックポイント).
    Checkpoint(AuditCheckpointArgs),
    /// Write the yearly self-inspection report, policy 9.(1) (年次自己点検報告).
    Report(AuditReportArgs),
}

#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// Events at or after this time: 2026-04-01 (00:00 UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = audit_time)]
    pub since: Option<String>,
    /// Events before this time (not included): 2026-05-01 or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = audit_time)]
    pub until: Option<String>,
    /// Only events by this user (exact name).
    #[arg(long, value_name = "USER", value_parser = non_blank)]
    pub actor: Option<String>,
    /// Only this action (login.fail), or a family when it ends with a dot (transfer.).
    #[arg(long, value_name = "ACTION", value_parser = non_blank)]
    pub action: Option<String>,
    /// Only events about this object, e.g. transfer:<id> or user:<name>.
    #[arg(long, value_name = "OBJECT", value_parser = non_blank)]
    pub object: Option<String>,
    /// Only events about files of this class: I, II or III.
    #[arg(long, value_name = "I|II|III", value_parser = parse_class)]
    pub class: Option<Class>,
    /// Only events with this outcome.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<AuditOutcome>,
    /// At most this many events, oldest first; 0 means all. Default: 100 for
    /// the table, all for jsonl and csv.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// table for reading, jsonl or csv (opens in Excel) for keeping. --json means jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<AuditLogFormat>,
    /// Write to this new file instead of the screen (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditOutcome {
    Ok,
    Denied,
    Error,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditLogFormat {
    Table,
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .multiple(false)
        .args(["key", "fetch"])
))]
pub struct AuditPinArgs {
    /// The public key the operator printed with `sekisho-gateway audit-key` (base64).
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    /// Ask the gateway for its key; you must then compare the fingerprint with the
    /// one printed on the server console.
    #[arg(long)]
    pub fetch: bool,
    /// Replace a key pinned earlier (only after the operator confirms the key changed).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// A checkpoint saved earlier with `sekisho audit checkpoint --output FILE`
    /// (repeatable); kept off the gateway, it proves the log was not cut short.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
    /// Events fetched per request.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page_size: u32,
}

#[derive(Debug, Args)]
pub struct AuditCheckpointArgs {
    /// Have the gateway sign its current head now instead of showing the latest checkpoint.
    #[arg(long)]
    pub new: bool,
    /// Write the checkpoint to this new file (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditReportArgs {
    /// The calendar year to report on (1 January to 31 December, UTC).
    #[arg(long, value_name = "YYYY",
          value_parser = clap::value_parser!(i32).range(2000..=9998))]
    pub year: i32,
    /// markdown (default), csv (opens in Excel) or html (one printable page).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<AuditReportFormat>,
    /// Write to this new file instead of the screen (an existing file is never replaced).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditReportFormat {
    Markdown,
    Csv,
    Html,
}

/// `--since`/`--until`: checked here so a typo is a usage error, and passed
/// on to the gateway as RFC 3339 in UTC.
fn audit_time(s: &str) -> Result<String, String> {
    crate::commands::audit::times::parse_bound(s).map(crate::commands::audit::times::rfc3339)
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
    fn audit_arguments_parse_and_refuse_mistakes() {
        let log = Cli::try_parse_from([
            "sekisho",
            "audit",
            "log",
            "--since",
            "2026-04-01",
            "--until",
            "2026-05-01T09:00:00+09:00",
            "--class",
            "II",
            "--outcome",
            "denied",
            "--format",
            "csv",
        ]);
        match log.map(|c| c.command) {
            Ok(Command::Audit(AuditCommand::Log(args))) => {
                assert_eq!(args.since.as_deref(), Some("2026-04-01T00:00:00Z"));
                assert_eq!(args.until.as_deref(), Some("2026-05-01T00:00:00Z"));
                assert_eq!(args.outcome, Some(AuditOutcome::Denied));
            }
            other => panic!("unexpected parse: {other:?}"),
        }
        for bad in [
            ["sekisho", "audit", "log", "--since", "2026/04/01"],
            ["sekisho", "audit", "log", "--class", "IV"],
            ["sekisho", "audit", "log", "--outcome", "maybe"],
            ["sekisho", "audit", "report", "--year", "26"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin"]).is_err());
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin", "--fetch", "--key", "x"]).is_err());
        assert!(Cli::try_parse_from(["sekisho", "audit", "pin", "--fetch"]).is_ok());
        assert!(Cli::try_parse_from(["sekisho", "audit", "verify"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "sekisho",
                "audit",
                "verify",
                "--checkpoint",
                "a.json",
                "--checkpoint",
                "b.json"
            ])
            .is_ok()
        );
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
