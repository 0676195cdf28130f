//! The gateway's configuration: `sekisho.toml` in the data directory,
//! written with defaults by `init` and read by every command, plus the
//! [`Overrides`] the command line and environment may lay over it. Every
//! duration the policy cares about (link lifetime, lockout, sessions) lives
//! here so that an administrator can read and change it in one place.
//!
//! Values with a shape (the audit export target and format) are parsed here,
//! once, by serde into typed values, so a wrong value stops start-up with the
//! key's name and the modules that use them never parse strings. Secrets (the
//! database URL's password) are masked in every `Debug`, so a config that
//! reaches a log or a panic message does not carry them.
//!
//! This crate depends on nothing of the gateway's (no `service`, no
//! `state`): it is the bottom layer everything else reads. It is a crate of
//! its own (`sekisho-config`, re-exported as `sekisho_gateway::config`) so
//! that [`Config::parse`] can be fuzzed without the server stack.

// As in the gateway: configuration text is input, and parsing it never
// panics.
#![deny(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![deny(clippy::unreachable, clippy::todo, clippy::unimplemented)]

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub mod http;
pub mod store;

pub const CONFIG_FILE: &str = "sekisho.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    /// Time-outs, connection caps, rate limits and trusted proxies of both
    /// listeners (see the gateway's `http::layers`).
    pub http: http::HttpConfig,
    pub database: DatabaseConfig,
    pub links: LinkConfig,
    pub auth: AuthConfig,
    pub limits: LimitConfig,
    pub housekeeping: HousekeepingConfig,
    pub audit: AuditConfig,
    pub retention: RetentionConfig,
    /// Storage quotas and concurrency of inbound uploads.
    pub inbound: InboundConfig,
    /// Malware scanning (engines, archive bounds) and whether outbound files
    /// are scanned too.
    pub scan: sekisho_scan::ScanConfig,
    /// Who can open backups (`sekisho-gateway backup`).
    pub backup: BackupConfig,
    /// Mail notifications. Absent: nobody is mailed and the gateway works
    /// as without mail (`status` says mail is off).
    pub mail: Option<MailConfig>,
    /// File sanitisation (無害化) of inbound files after the scan.
    pub sanitise: SanitiseConfig,
    /// Requests nobody decides: the reminder and the expiry.
    pub approval: ApprovalConfig,
    /// Where objects and key shares live: a folder (default) or S3.
    pub store: store::StoreConfig,
}

/// `[approval]`: what happens to a request for approval that waits. Both
/// periods count on the gateway's clock from the submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// The approver (or their stand-in) is reminded once after this many
    /// hours; 0: never.
    pub reminder_hours: u32,
    /// Undecided after this many days, the request expires: nothing is
    /// released, the sender is told, and retention erases the content as
    /// it does a rejected one's.
    pub expire_days: u32,
    /// The longest period a stand-in may be named for.
    pub max_delegation_days: u32,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self {
            reminder_hours: 24,
            expire_days: 10,
            max_delegation_days: 92,
        }
    }
}

/// `[mail]`: the SMTP server notifications go through, and what they link to.
/// Nothing secret lives here: the SMTP login is read from
/// `credentials_file`, a file of the gateway's user alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://HOST:PORT` (STARTTLS, required) or `smtps://HOST:PORT`
    /// (TLS from the first byte).
    pub smtp_url: SmtpUrl,
    /// The sender address, e.g. `"Sekisho <sekisho@city.example.lg.jp>"`.
    pub from: String,
    /// Base of the web console links in mails, e.g. `https://sekisho.city.example.lg.jp`.
    pub console_base_url: String,
    /// A file (relative to DIR, mode 600) holding the SMTP user name on its
    /// first line and the password on its second. Unset: no login.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// A PEM file (relative to DIR) with the CA that signed the SMTP
    /// server's certificate, when it is an internal CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Tests only: talk to an SMTP server on a loopback address without
    /// TLS. Refused for any other host.
    #[serde(default)]
    pub danger_plaintext_loopback: bool,
    /// Sends of one mail before it is given up (each failure waits twice
    /// as long as the one before).
    #[serde(default = "MailConfig::default_max_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed send; it doubles each time, up to
    /// six hours.
    #[serde(default = "MailConfig::default_retry_seconds")]
    pub retry_seconds: u64,
}

impl MailConfig {
    fn default_max_attempts() -> u32 {
        10
    }

    fn default_retry_seconds() -> u64 {
        60
    }

    fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.max_attempts > 0 && self.retry_seconds > 0,
            "mail.max_attempts and mail.retry_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.console_base_url.starts_with("https://")
                || self.console_base_url.starts_with("http://"),
            "mail.console_base_url '{}' must start with https:// (the web console's address)",
            self.console_base_url
        );
        if self.danger_plaintext_loopback {
            anyhow::ensure!(
                self.smtp_url.scheme == SmtpScheme::StartTls && self.smtp_url.is_loopback(),
                "mail.danger_plaintext_loopback is for tests against an SMTP server on this machine only: use smtp://127.0.0.1:PORT, or remove it"
            );
        }
        Ok(())
    }
}

/// How the gateway reaches the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpScheme {
    /// `smtp://`: plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

/// `smtp://HOST[:PORT]` or `smtps://HOST[:PORT]`, parsed once. No user or
/// password in it: those belong in `mail.credentials_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SmtpUrl {
    pub scheme: SmtpScheme,
    pub host: String,
    pub port: u16,
}

impl SmtpUrl {
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl TryFrom<String> for SmtpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        // Checked before the text is ever echoed: it may hold a password.
        if text.contains('@') {
            return Err("mail.smtp_url carries a login (user@ or user:password@); remove it and put the login in mail.credentials_file".into());
        }
        let refuse = |why: &str| {
            format!(
                "mail.smtp_url '{text}' {why}: use smtp://HOST:587 (STARTTLS) or smtps://HOST:465"
            )
        };
        let (scheme, rest, default_port) = if let Some(rest) = text.strip_prefix("smtp://") {
            (SmtpScheme::StartTls, rest, 587)
        } else if let Some(rest) = text.strip_prefix("smtps://") {
            (SmtpScheme::Tls, rest, 465)
        } else {
            return Err(refuse("is not supported"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '?', '#']) {
            return Err(refuse("is not HOST:PORT"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| refuse("has a bad port"))?,
            ),
            None => (rest, default_port),
        };
        if host.is_empty() {
            return Err(refuse("has no host"));
        }
        Ok(Self {
            scheme,
            host: host.to_string(),
            port,
        })
    }
}

impl From<SmtpUrl> for String {
    fn from(url: SmtpUrl) -> String {
        let scheme = match url.scheme {
            SmtpScheme::StartTls => "smtp",
            SmtpScheme::Tls => "smtps",
        };
        format!("{scheme}://{}:{}", url.host, url.port)
    }
}

/// `[sanitise]`: every clean file from outside is rebuilt without active
/// content before staff receive it (policy 6.(4)②; see the sanitise
/// crate for what is removed per format). On by default for every source;
/// switching a source off passes its files on the scan alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SanitiseConfig {
    /// Files uploaded through a request link.
    pub request_links: bool,
    /// Files a member of staff brings in through an intake.
    pub media_intake: bool,
    /// Files of an intake tied to a returned medium of ours
    /// (`sekisho intake --medium ID` after `media checkin ID`).
    pub returned_media: bool,
    /// Types the sanitiser does not rebuild (archives, executables, other
    /// formats) pass on the scan alone instead of being held. Off by
    /// default: an unknown type is not known to be harmless.
    pub pass_unsupported: bool,
    /// Bounds of one sanitisation (sizes in bytes, time in seconds).
    pub limits: sekisho_sanitise::Limits,
}

impl Default for SanitiseConfig {
    fn default() -> Self {
        Self {
            request_links: true,
            media_intake: true,
            returned_media: true,
            pass_unsupported: false,
            limits: sekisho_sanitise::Limits::default(),
        }
    }
}

/// `[backup]`: the age recipients every backup archive is encrypted to. Only
/// public keys live here; the matching identities are kept off the server,
/// so a copy of the server (or of its backups) alone opens no backup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// `age1...` public keys; `backup` refuses to run while this is empty.
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Internal listener: staff, approvers, auditors and administrators.
    pub listen: String,
    /// Public listener: recipients' download pages only.
    pub public_listen: String,
    /// Base of the links handed to recipients, e.g. `https://files.example.jp`.
    /// When unset, links point at the public listener's own address.
    pub public_base_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://...` (embedded default) or `postgres://...`.
    /// Empty means `sekisho.db` in the data directory.
    pub url: DatabaseUrl,
}

/// A database URL. It may carry a password (`postgres://user:pw@host/db`, or
/// `?password=` in the query), so `Debug` and `Display` show it masked; only
/// [`DatabaseUrl::expose`] gives the real text, for connecting.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A toml error without the quoted line of the file (see
/// [`Config::from_toml`]): where it is, and toml's message, which names the
/// key and the expected type but not the value.
fn toml_error(text: &str, mut error: toml::de::Error) -> anyhow::Error {
    let position = error.span().and_then(|span| {
        let before = text.get(..span.start)?;
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some(format!(" at line {line}, column {column}"))
    });
    error.set_input(None);
    let message = error.to_string();
    anyhow::anyhow!(
        "TOML parse error{}: {}",
        position.unwrap_or_default(),
        message.trim_end()
    )
}

/// Masked as [`redact_url`] masks it.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// Hides a password in a database URL before it reaches a message or log:
/// the password in the user part becomes `***`, and so does the query,
/// entirely, because drivers accept `password=` (and key files) there too.
/// Written passwords are not always percent-encoded, so where the text is
/// ambiguous (a `?` between the user part's `:` and its `@`: a password
/// with a `?`, or a query with an `@`) everything after the `:` is hidden.
/// Over-masking only costs a less helpful message.
pub fn redact_url(url: &str) -> String {
    // Everything from the first `?` on becomes `?***`.
    fn without_query(text: &str) -> String {
        match text.split_once('?') {
            Some((base, _)) => format!("{base}?***"),
            None => text.to_string(),
        }
    }
    let query = url.find('?').unwrap_or(url.len());
    let masked = url.find("://").and_then(|scheme_end| {
        let start = scheme_end + 3;
        let rest = url.get(start..)?;
        let at = start + rest.rfind('@')?;
        let colon = start + url.get(start..at)?.find(':')?;
        if query < colon {
            // The `:` and `@` are inside the query: no password in a user part.
            return None;
        }
        let head = url.get(..=colon)?;
        Some(if query < at {
            format!("{head}***?***")
        } else {
            format!("{head}***{}", without_query(url.get(at..)?))
        })
    });
    masked.unwrap_or_else(|| without_query(url))
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl(\"{self}\")")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    pub expiry_hours: u32,
    pub max_downloads: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_minutes: u32,
    /// A web console session also ends after this many minutes unused.
    pub console_idle_minutes: u32,
    pub lockout_threshold: u32,
    pub lockout_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    pub max_file_bytes: u64,
    pub max_files_per_transfer: u32,
    pub max_recipients_per_transfer: u32,
}

/// What files from outside may take (policy 6.(1)⑦: the public side must
/// not let an outsider fill the gateway's disk). Quotas count received
/// files until their content is erased, infected and held ones included.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Stored inbound content per requester (the member of staff whose
    /// links and intakes brought it), in MiB.
    pub quota_per_requester_mb: u64,
    /// Stored inbound content of the whole gateway, in MiB.
    pub quota_total_mb: u64,
    /// Uploads that may run through one link or intake at the same time.
    pub concurrent_uploads_per_link: u32,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            quota_per_requester_mb: 10 * 1024,
            quota_total_mb: 100 * 1024,
            concurrent_uploads_per_link: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingConfig {
    /// How often expired links are closed and logged.
    pub interval_seconds: u64,
}

/// How long stored content is kept before it is securely deleted by itself
/// (policy 2.(2)③(ウ), 2.(2)⑩). The records stay; only the content goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Released transfers: days after their links expired.
    pub released_days_after_expiry: u32,
    /// Rejected and revoked transfers: days after the decision or revocation.
    pub closed_days: u32,
    /// Uploads never submitted: hours after they were started.
    pub abandoned_upload_hours: u32,
    /// Inbound files found infected: days after they arrived.
    pub quarantine_days: u32,
    /// Every other inbound file (clean, classified, held): days after it arrived.
    pub inbound_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            released_days_after_expiry: 7,
            closed_days: 0,
            abandoned_upload_hours: 24,
            quarantine_days: 90,
            inbound_days: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often the gateway signs a checkpoint of the audit chain (when it grew).
    pub checkpoint_interval_seconds: u64,
    /// How long audit events are kept (policy 6.(1)④(ア)); 0 keeps them forever.
    /// The gateway prunes older events itself, once an hour (and
    /// `sekisho-gateway audit-prune` does it at once).
    pub retention_days: u32,
    /// PostgreSQL with a least-privilege role, which may not delete audit
    /// rows: a file (relative to DIR, readable by the gateway's user only)
    /// holding the database owner's URL, used for pruning and nothing else.
    pub prune_database_url_file: Option<PathBuf>,
    /// Copy every event to a collector: `tcp://HOST:PORT`. Unset: no copy.
    pub export: Option<ExportTarget>,
    /// `jsonl` or `syslog` (RFC 5424, octet-counted framing).
    pub export_format: ExportFormat,
}

/// Where audit events are copied: `tcp://HOST:PORT` in the file, kept as the
/// `HOST:PORT` to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExportTarget {
    address: String,
}

impl ExportTarget {
    /// `HOST:PORT`, as `TcpStream::connect` takes it.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl TryFrom<String> for ExportTarget {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let refuse = || {
            format!(
                "audit.export '{text}' is not supported: use tcp://HOST:PORT (e.g. tcp://loghost:6514)"
            )
        };
        let address = text.strip_prefix("tcp://").ok_or_else(refuse)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(refuse)?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(refuse());
        }
        Ok(Self {
            address: address.to_string(),
        })
    }
}

impl From<ExportTarget> for String {
    fn from(target: ExportTarget) -> String {
        format!("tcp://{}", target.address)
    }
}

/// How each exported audit event is framed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ExportFormat {
    /// `jsonl`: one JSON object per line, as the API shows events.
    #[default]
    JsonLines,
    /// `syslog`: RFC 5424 over TCP with RFC 6587 octet counting.
    Syslog,
}

impl TryFrom<String> for ExportFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "jsonl" => Ok(Self::JsonLines),
            "syslog" => Ok(Self::Syslog),
            other => Err(format!(
                "audit.export_format '{other}' is not known: use \"jsonl\" or \"syslog\""
            )),
        }
    }
}

impl From<ExportFormat> for String {
    fn from(format: ExportFormat) -> String {
        match format {
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Syslog => "syslog",
        }
        .to_string()
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_seconds: 3600,
            retention_days: 5 * 366,
            prune_database_url_file: None,
            export: None,
            export_format: ExportFormat::JsonLines,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".into(),
            public_listen: "127.0.0.1:9443".into(),
            public_base_url: None,
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            expiry_hours: 7 * 24,
            max_downloads: 3,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_minutes: 8 * 60,
            console_idle_minutes: 30,
            lockout_threshold: 5,
            lockout_minutes: 15,
        }
    }
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024 * 1024,
            max_files_per_transfer: 100,
            max_recipients_per_transfer: 20,
        }
    }
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 60,
        }
    }
}

/// What the command line and the environment may lay over `sekisho.toml`
/// for one run, without writing it back. Every command applies the same
/// overrides the same way (through [`Config::load_with`]), so `serve`,
/// `migrate`, `status` and `audit-prune` all see the same database.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-url` / `SEKISHO_DATABASE_URL`: another database than
    /// `database.url`, e.g. the owner role for `migrate` and `audit-prune`.
    /// An empty value overrides nothing.
    pub database_url: Option<DatabaseUrl>,
    /// `--listen`: the internal listener instead of `server.listen`.
    pub listen: Option<String>,
    /// `--public-listen`: the public listener instead of `server.public_listen`.
    pub public_listen: Option<String>,
}

impl Overrides {
    pub fn apply(&self, config: &mut Config) {
        if let Some(url) = self.database_url.as_ref().filter(|u| !u.is_empty()) {
            config.database.url = url.clone();
        }
        if let Some(listen) = &self.listen {
            config.server.listen = listen.clone();
        }
        if let Some(public) = &self.public_listen {
            config.server.public_listen = public.clone();
        }
    }
}

impl Config {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(CONFIG_FILE)
    }

    /// The configuration of `dir` with `overrides` laid over it, checked.
    pub fn load_with(dir: &Path, overrides: &Overrides) -> Result<Self> {
        let mut config = Self::load(dir)?;
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let config = Self::from_toml(&text)
            .with_context(|| format!("the configuration {} is not valid", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// The text of a `sekisho.toml` as typed values, not yet checked. A
    /// syntax or type error names the line, column and key, but never
    /// quotes the line: toml's own message does, and the line may be
    /// `url = "postgres://user:password@..."` or a login pasted into
    /// `mail.smtp_url`, which would then reach the log.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_error(text, e))
    }

    /// The text of a `sekisho.toml`, parsed and checked ([`Config::validate`]);
    /// no file is read. What [`Config::load`] does after reading (less the
    /// file name in the message), and what the `config` fuzz target drives.
    pub fn parse(text: &str) -> Result<Self> {
        let config = Self::from_toml(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.links.expiry_hours > 0 && self.links.max_downloads > 0,
            "links.expiry_hours and links.max_downloads must be at least 1"
        );
        anyhow::ensure!(
            self.auth.lockout_threshold > 0
                && self.auth.session_minutes > 0
                && self.auth.console_idle_minutes > 0,
            "auth.lockout_threshold, auth.session_minutes and auth.console_idle_minutes must be at least 1"
        );
        anyhow::ensure!(
            self.audit.checkpoint_interval_seconds > 0,
            "audit.checkpoint_interval_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.housekeeping.interval_seconds > 0,
            "housekeeping.interval_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.approval.expire_days > 0 && self.approval.max_delegation_days > 0,
            "approval.expire_days and approval.max_delegation_days must be at least 1"
        );
        anyhow::ensure!(
            u64::from(self.approval.reminder_hours) < u64::from(self.approval.expire_days) * 24,
            "approval.reminder_hours ({}) must be shorter than approval.expire_days ({} days), or the reminder comes after the request expired; lower it, or 0 for no reminder",
            self.approval.reminder_hours,
            self.approval.expire_days
        );
        self.http.validate()?;
        self.store.validate()?;
        if let Some(mail) = &self.mail {
            mail.validate()?;
        }
        Ok(())
    }

    /// The database URL, with the embedded default filled in.
    pub fn database_url(&self, dir: &Path) -> DatabaseUrl {
        if self.database.url.is_empty() {
            DatabaseUrl::new(format!(
                "sqlite://{}?mode=rwc",
                dir.join("sekisho.db").display()
            ))
        } else {
            self.database.url.clone()
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_match_the_policy_defaults() {
        let config = Config::default();
        let text = config.to_toml().unwrap_or_default();
        let parsed: Config = toml::from_str(&text).unwrap_or_default();
        assert_eq!(parsed.links.expiry_hours, 168);
        assert_eq!(parsed.links.max_downloads, 3);
        assert!(parsed.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("[links]\nexpiry_days = 3\n").is_err());
    }

    #[test]
    fn debug_never_shows_the_database_password() {
        let mut config = Config::default();
        config.database.url = DatabaseUrl::new("postgres://user:hunter2@db/x");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://user:***@db/x"), "{shown}");

        let query = DatabaseUrl::new("postgres://user@db/x?password=hunter2&sslmode=require");
        assert!(!format!("{query:?} {query}").contains("hunter2"));
        assert_eq!(
            query.expose(),
            "postgres://user@db/x?password=hunter2&sslmode=require"
        );

        let overrides = Overrides {
            database_url: Some(DatabaseUrl::new("postgres://owner:hunter2@db/x")),
            ..Overrides::default()
        };
        assert!(!format!("{overrides:?}").contains("hunter2"));
    }

    /// A password in the query reached messages built with `redact_url`
    /// (the unsupported-URL and cannot-open errors of `db`): only
    /// `DatabaseUrl`'s `Display` dropped the query. Now `redact_url` drops
    /// it itself, and an `@` or `:` in the query no longer moves where the
    /// user part is taken to end.
    #[test]
    fn redact_url_hides_query_passwords_too() {
        assert_eq!(
            redact_url("postgres://u@db/x?password=hunter2&sslmode=require"),
            "postgres://u@db/x?***"
        );
        assert_eq!(
            redact_url("postgres://u:hunter2@db/x?options=a@b"),
            "postgres://u:***?***"
        );
        assert_eq!(
            redact_url("postgres://u:x@h/db?a=@&password=hunter2"),
            "postgres://u:***?***"
        );
        assert_eq!(
            redact_url("postgres://u:pa?ss@db/x"),
            "postgres://u:***?***"
        );
        assert_eq!(
            redact_url("postgres://db/x?password=a:b@c"),
            "postgres://db/x?***"
        );
        assert_eq!(redact_url("mysql:x"), "mysql:x");
        assert_eq!(
            redact_url("postgres://u:p@ss:w@db/x"),
            "postgres://u:***@db/x"
        );
        let url = DatabaseUrl::new("postgres://u:hunter2@db/x?sslpassword=hunter2");
        assert_eq!(url.to_string(), "postgres://u:***@db/x?***");
    }

    /// toml's error messages quote the offending line; the mail URL's
    /// refusal of a login was echoed with the login in it, and so was a
    /// database URL on a line with a type error.
    #[test]
    fn parse_errors_never_quote_the_line() {
        for text in [
            "[mail]\nsmtp_url = \"smtp://u:hunter2@mail.example.jp\"\nfrom = \"a\"\nconsole_base_url = \"https://c\"\n",
            "[database]\nurl = \"postgres://u:hunter2@db/x\" x\n",
            "[database]\nurl = [\"postgres://u:hunter2@db/x\"]\n",
        ] {
            let error = Config::parse(text).err().map(|e| format!("{e:#} {e:?}"));
            let error = error.unwrap_or_default();
            assert!(error.contains("line "), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn parse_is_load_without_the_file() {
        assert!(Config::parse("").is_ok());
        assert!(Config::parse("[links]\nexpiry_hours = 0\n").is_err());
        assert!(Config::parse("[links]\nexpiry_days = 3\n").is_err());
    }

    #[test]
    fn export_settings_are_typed_once_and_wrong_ones_name_their_key() {
        let config: Config = toml::from_str(
            "[audit]\nexport = \"tcp://127.0.0.1:514\"\nexport_format = \"syslog\"\n",
        )
        .expect("valid export settings");
        assert_eq!(
            config.audit.export.as_ref().map(ExportTarget::address),
            Some("127.0.0.1:514")
        );
        assert_eq!(config.audit.export_format, ExportFormat::Syslog);
        // What init writes reads back the same.
        let text = config.to_toml().expect("toml");
        assert!(text.contains("export = \"tcp://127.0.0.1:514\""), "{text}");
        let again: Config = toml::from_str(&text).expect("round trip");
        assert_eq!(again.audit.export, config.audit.export);

        for (patch, key) in [
            ("export = \"udp://x:1\"", "audit.export"),
            ("export = \"tcp://\"", "audit.export"),
            ("export = \"tcp://loghost\"", "audit.export"),
            ("export = \"tcp://loghost:0\"", "audit.export"),
            ("export_format = \"xml\"", "audit.export_format"),
        ] {
            let error = toml::from_str::<Config>(&format!("[audit]\n{patch}\n"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(key), "{patch}: {error}");
        }
        assert_eq!(
            Config::default().audit.export_format,
            ExportFormat::JsonLines
        );
    }

    #[test]
    fn mail_urls_are_typed_once_and_logins_stay_out_of_them() {
        let config: Config = toml::from_str(
            "[mail]\nsmtp_url = \"smtp://mail.example.jp\"\nfrom = \"s@example.jp\"\nconsole_base_url = \"https://c.example.jp\"\n",
        )
        .expect("valid mail settings");
        let mail = config.mail.as_ref().expect("mail section");
        assert_eq!(mail.smtp_url.scheme, SmtpScheme::StartTls);
        assert_eq!(mail.smtp_url.port, 587);
        assert_eq!(mail.max_attempts, 10);
        assert!(config.validate().is_ok());
        let again: Config = toml::from_str(&config.to_toml().expect("toml")).expect("round trip");
        assert_eq!(again.mail.map(|m| m.smtp_url), Some(mail.smtp_url.clone()));

        let tls = SmtpUrl::try_from("smtps://mail.example.jp:4650".to_string()).expect("smtps");
        assert_eq!((tls.scheme, tls.port), (SmtpScheme::Tls, 4650));
        for bad in [
            "smtp://user:pw@mail.example.jp",
            "http://mail.example.jp",
            "smtp://",
            "smtp://mail:0",
            "smtp://mail/path",
        ] {
            let error = SmtpUrl::try_from(bad.to_string()).err().unwrap_or_default();
            assert!(error.contains("mail.smtp_url"), "{bad}: {error}");
            assert!(!error.contains("pw"), "{error}");
        }
        // Without [mail] nothing is configured, and what init writes has none.
        assert!(Config::default().mail.is_none());
        assert!(
            !Config::default()
                .to_toml()
                .unwrap_or_default()
                .contains("[mail]")
        );
    }

    #[test]
    fn plaintext_mail_is_only_for_loopback() {
        let base = "[mail]\nfrom = \"s@example.jp\"\nconsole_base_url = \"https://c\"\ndanger_plaintext_loopback = true\n";
        let local: Config =
            toml::from_str(&format!("{base}smtp_url = \"smtp://127.0.0.1:2525\"\n")).expect("toml");
        assert!(local.validate().is_ok());
        let remote: Config =
            toml::from_str(&format!("{base}smtp_url = \"smtp://mail.example.jp:25\"\n"))
                .expect("toml");
        assert!(remote.validate().is_err());
    }

    #[test]
    fn overrides_replace_what_they_carry_and_nothing_else() {
        let mut config = Config::default();
        config.database.url = DatabaseUrl::new("sqlite:///from/the/file.db");
        Overrides {
            database_url: Some(DatabaseUrl::new("postgres://elsewhere/x")),
            listen: Some("127.0.0.1:0".into()),
            public_listen: None,
        }
        .apply(&mut config);
        assert_eq!(config.database.url.expose(), "postgres://elsewhere/x");
        assert_eq!(config.server.listen, "127.0.0.1:0");
        assert_eq!(config.server.public_listen, "127.0.0.1:9443");

        Overrides {
            database_url: Some(DatabaseUrl::new("")),
            ..Overrides::default()
        }
        .apply(&mut config);
        assert_eq!(config.database.url.expose(), "postgres://elsewhere/x");
    }
}
