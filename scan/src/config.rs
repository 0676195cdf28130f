//! Scan settings as the gateway's `sekisho.toml` will embed them (a `[scan]`
//! table). Defaults give a working scanner with no set-up: the built-in
//! engine with EICAR detection only, the default archive bounds, and no
//! daemon. Every field has a default so that an administrator writes only
//! what differs.
//!
//! ```toml
//! [scan]
//! temp_dir = "tmp"                    # zip spill files; relative to the data dir
//! [scan.builtin]
//! rules_dir = "rules"                 # *.yar / *.yara, compiled at start-up
//! deny_list = "deny-sha256.txt"       # one SHA-256 per line, '#' comments
//! [scan.clamd]
//! address = "/run/clamav/clamd.ctl"   # or "127.0.0.1:3310"
//! [scan.icap]
//! url = "icap://127.0.0.1:1344/avscan"
//! [scan.limits]
//! max_depth = 3
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::archive::Limits;

/// Signatures older than this are reported as stale by `status`.
pub const DEFAULT_STALE_AFTER_HOURS: u32 = 48;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    pub builtin: BuiltinConfig,
    /// ClamAV through clamd; absent means not used.
    pub clamd: Option<ClamdConfig>,
    /// An ICAP (RFC 3507) server; absent means not used.
    pub icap: Option<IcapConfig>,
    pub limits: Limits,
    /// Where zip archives are spilled (unnamed files, removed on close).
    /// Default: the data directory (not /tmp, which is often memory-backed).
    pub temp_dir: Option<PathBuf>,
    /// `status` flags an engine whose signatures are older than this.
    pub stale_after_hours: u32,
    /// The gateway scans outbound files too (on by default): an infected or
    /// unscanned file cannot be sent.
    pub scan_outbound: bool,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            builtin: BuiltinConfig::default(),
            clamd: None,
            icap: None,
            limits: Limits::default(),
            temp_dir: None,
            stale_after_hours: DEFAULT_STALE_AFTER_HOURS,
            scan_outbound: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinConfig {
    /// The built-in engine needs no set-up and is on by default.
    pub enabled: bool,
    /// Detect the EICAR test file (and the EICAR string anywhere).
    pub eicar: bool,
    /// Directory of YARA rule files (`*.yar`, `*.yara`), not recursive.
    pub rules_dir: Option<PathBuf>,
    /// File of SHA-256 digests to refuse: one hex digest per line, optionally
    /// followed by a label; blank lines and lines starting with `#` ignored.
    pub deny_list: Option<PathBuf>,
    /// Longest a rule evaluation may take on one window before the file is
    /// Unscanned (guards against pathological rules).
    pub rule_timeout_seconds: u64,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        BuiltinConfig {
            enabled: true,
            eicar: true,
            rules_dir: None,
            deny_list: None,
            rule_timeout_seconds: 60,
        }
    }
}

/// clamd's own settings matter too: `StreamMaxLength` (default 25M) must be
/// at least the gateway's largest file, or larger files come back Unscanned
/// (`INSTREAM size limit exceeded`); `MaxScanSize` and `MaxFileSize` likewise,
/// with `AlertExceedsMax true` so that clamd reports an exceeded limit
/// instead of answering OK for a file it did not finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClamdConfig {
    /// `unix:/path`, an absolute socket path, or `host:port` (TCP).
    pub address: String,
    pub connect_timeout_seconds: u64,
    /// Longest wait for clamd to accept a chunk of the stream.
    pub io_timeout_seconds: u64,
    /// Longest wait for the verdict after the last byte (clamd scans only
    /// then; about 20 s per GiB here).
    pub reply_timeout_seconds: u64,
    /// Also stream every archive member to clamd as a stream of its own.
    /// Off by default: clamd opens archives itself (within its own
    /// MaxRecursion/MaxFiles/MaxScanSize limits), so it gets the file as
    /// uploaded, and the walker's members go to the built-in engine.
    pub scan_members: bool,
}

impl Default for ClamdConfig {
    fn default() -> Self {
        ClamdConfig {
            address: "/run/clamav/clamd.ctl".into(),
            connect_timeout_seconds: 5,
            io_timeout_seconds: 30,
            reply_timeout_seconds: 600,
            scan_members: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcapConfig {
    /// `icap://host[:port]/service`, e.g. `icap://127.0.0.1:1344/avscan`.
    pub url: String,
    pub connect_timeout_seconds: u64,
    pub io_timeout_seconds: u64,
    pub reply_timeout_seconds: u64,
    /// As for clamd: ICAP products open archives themselves.
    pub scan_members: bool,
}

impl Default for IcapConfig {
    fn default() -> Self {
        IcapConfig {
            url: String::new(),
            connect_timeout_seconds: 5,
            io_timeout_seconds: 30,
            reply_timeout_seconds: 600,
            scan_members: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_defaults_and_unknown_keys_are_refused() {
        let config: ScanConfig = toml::from_str("").expect("empty config");
        assert_eq!(config, ScanConfig::default());
        assert!(config.builtin.enabled && config.clamd.is_none());
        assert_eq!(config.limits.max_depth, 3);

        let config: ScanConfig =
            toml::from_str("[clamd]\naddress = \"127.0.0.1:3310\"\n[limits]\nmax_entries = 5\n")
                .expect("partial config");
        let clamd = config.clamd.expect("clamd table");
        assert_eq!(clamd.address, "127.0.0.1:3310");
        assert_eq!(clamd.reply_timeout_seconds, 600);
        assert_eq!(config.limits.max_entries, 5);
        assert_eq!(config.limits.max_ratio, 100);

        assert!(toml::from_str::<ScanConfig>("[builtin]\nrule_dir = \"x\"\n").is_err());
    }
}
