//! The gateway's configuration: `sekisho.toml` in the data directory,
//! written with defaults by `init` and read by `serve`. Every duration the
//! policy cares about (link lifetime, lockout, sessions) lives here so that an
//! administrator can read and change it in one place.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "sekisho.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub links: LinkConfig,
    pub auth: AuthConfig,
    pub limits: LimitConfig,
    pub housekeeping: HousekeepingConfig,
    pub audit: AuditConfig,
    pub retention: RetentionConfig,
    /// Malware scanning (engines, archive bounds) and whether outbound files
    /// are scanned too.
    pub scan: crate::scan::ScanConfig,
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
    pub url: String,
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
    /// Pruning runs with `sekisho-gateway audit-prune`, as the database owner.
    pub retention_days: u32,
    /// Copy every event to a collector: `tcp://HOST:PORT`. Unset: no copy.
    pub export: Option<String>,
    /// `jsonl` or `syslog` (RFC 5424, octet-counted framing).
    pub export_format: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_seconds: 3600,
            retention_days: 5 * 366,
            export: None,
            export_format: "jsonl".into(),
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

impl Config {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(CONFIG_FILE)
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("the configuration {} is not valid", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.links.expiry_hours > 0 && self.links.max_downloads > 0,
            "links.expiry_hours and links.max_downloads must be at least 1"
        );
        anyhow::ensure!(
            self.auth.lockout_threshold > 0 && self.auth.session_minutes > 0,
            "auth.lockout_threshold and auth.session_minutes must be at least 1"
        );
        if let Some(target) = &self.audit.export {
            crate::service::audit_export::parse_target(target)?;
        }
        crate::service::audit_export::parse_format(&self.audit.export_format)?;
        anyhow::ensure!(
            self.audit.checkpoint_interval_seconds > 0,
            "audit.checkpoint_interval_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.housekeeping.interval_seconds > 0,
            "housekeeping.interval_seconds must be at least 1"
        );
        Ok(())
    }

    /// The database URL, with the embedded default filled in.
    pub fn database_url(&self, dir: &Path) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", dir.join("sekisho.db").display())
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
}
