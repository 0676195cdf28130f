//! Malware scanning: the one place that decides whether bytes are clean.
//!
//! A [`Scanner`] holds the configured [`Engine`]s and the archive bounds and
//! turns a byte stream into a [`Report`]. Every configured engine must pass a
//! file, and the scanner fails closed: an engine error, a time-out, an
//! unreachable engine, an exceeded bound, an encrypted or corrupt archive all
//! give [`Verdict::Unscanned`], never [`Verdict::Clean`]. The gateway decides
//! what to do with each verdict (release, quarantine, hold); this module only
//! says what was seen.
//!
//! The scanner is synchronous and streaming: [`Scanner::scan_reader`] reads
//! its input once, in bounded chunks, and feeds the same bytes to every
//! engine through the push interface [`EngineSession`] (see [`engine`] for
//! why push rather than pull). Memory stays bounded whatever the input size:
//! 256 KiB buffers, plus, per open nesting level, at most one 16 MiB YARA
//! window ([`builtin::YARA_WINDOW`]) — so at most (max_depth + 1) windows,
//! and only for streams that large (22 MiB peak RSS scanning 1 GiB). Only
//! zip archives, which need random access, are spilled to disk: to an
//! unnamed temporary file in the configured directory. Call it from a
//! blocking thread (`tokio::task::spawn_blocking`); an async upload body can
//! be handed to it as a `Read` with `tokio_util::io::SyncIoBridge`.
//!
//! Modules: [`engine`] (the contract), `builtin` (EICAR, SHA-256 deny-list,
//! YARA rules via boreal), [`clamd`] (ClamAV INSTREAM), [`icap`] (RFC 3507
//! RESPMOD), [`archive`] (the walker and its bounds), [`config`] (what the
//! gateway's configuration file embeds).
//!
//! A crate of its own (`sekisho-scan`, re-exported by the gateway as
//! `sekisho_gateway::scan`) so that the archive walker can be fuzzed without
//! compiling the gateway's server stack. Cargo features: `builtin` (default;
//! the built-in engine and boreal, which the fuzz build leaves out) and
//! `openapi` (the status type's OpenAPI schema, for the gateway's API).

// As in the gateway: code that reads attacker-controlled archives never
// panics on input.
#![deny(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![deny(clippy::unreachable, clippy::todo, clippy::unimplemented)]
// The tests build their own inputs and may index and panic on them.
#![cfg_attr(
    test,
    allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod archive;
#[cfg(feature = "builtin")]
pub mod builtin;
pub mod clamd;
pub mod config;
pub mod engine;
pub mod icap;

// The scanner's tests drive the built-in engine (EICAR, rules, deny-list).
#[cfg(all(test, feature = "builtin"))]
mod tests;

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use archive::Limits;
#[cfg(feature = "builtin")]
pub use builtin::BuiltinEngine;
pub use clamd::ClamdEngine;
pub use config::{BuiltinConfig, ClamdConfig, IcapConfig, ScanConfig};
pub use engine::{Engine, EngineInfo, EngineResult, EngineSession, StreamDigest};
pub use icap::IcapEngine;

/// What the scanner concluded about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every configured engine saw every byte (and every archive member) and
    /// found nothing.
    Clean,
    /// At least one engine named a threat.
    Infected { engine: String, signature: String },
    /// The file could not be checked completely. Never treat as clean.
    Unscanned { reason: String },
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        matches!(self, Verdict::Clean)
    }

    pub fn is_infected(&self) -> bool {
        matches!(self, Verdict::Infected { .. })
    }

    pub fn is_unscanned(&self) -> bool {
        matches!(self, Verdict::Unscanned { .. })
    }

    /// The stored word for this verdict.
    pub fn kind(&self) -> sekisho_proto::vocab::VerdictKind {
        use sekisho_proto::vocab::VerdictKind;
        match self {
            Verdict::Clean => VerdictKind::Clean,
            Verdict::Infected { .. } => VerdictKind::Infected,
            Verdict::Unscanned { .. } => VerdictKind::Unscanned,
        }
    }

    /// The evidence kept with a stored verdict (and in its audit event):
    /// engine and signature, or why the file could not be checked, and
    /// where in an archive the deciding finding was.
    pub fn detail(&self, report: Option<&Report>) -> serde_json::Value {
        let (engine, signature, reason) = match self {
            Verdict::Clean => (None, None, None),
            Verdict::Infected { engine, signature } => (Some(engine), Some(signature), None),
            Verdict::Unscanned { reason } => (None, None, Some(reason)),
        };
        serde_json::json!({
            "engine": engine,
            "signature": signature,
            "reason": reason,
            "location": report.and_then(|r| r.location.clone()),
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Clean => f.write_str("clean"),
            Verdict::Infected { engine, signature } => {
                write!(f, "infected: {signature} (found by {engine})")
            }
            Verdict::Unscanned { reason } => write!(f, "unscanned: {reason}"),
        }
    }
}

/// One thing that was not clean: an engine's detection or failure, or a
/// problem of the archive walker (bound exceeded, encrypted or corrupt
/// archive), with where in the file it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Path of the archive member, levels joined with [`MEMBER_SEPARATOR`],
    /// every name escaped for display ([`archive::display_name`]). `None`
    /// means the scanned file itself. For display only: never a file name.
    pub member: Option<String>,
    /// The engine that reported it; `None` for the archive walker.
    pub engine: Option<String>,
    pub verdict: Verdict,
}

/// One engine's outcome over the whole file and all the members it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSummary {
    pub engine: String,
    /// Infected if the engine detected anything, else Unscanned if any of
    /// its sessions failed, else Clean.
    pub verdict: Verdict,
    /// How many streams (the file plus archive members) it scanned.
    pub streams: u64,
}

/// The result of one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Any Infected finding makes the file Infected; else any Unscanned
    /// finding makes it Unscanned; else it is Clean.
    pub verdict: Verdict,
    /// Where the deciding finding was (see [`Finding::member`]).
    pub location: Option<String>,
    /// SHA-256 (lower-case hex) of the bytes read from the input.
    pub sha256: String,
    /// Number of bytes read from the input.
    pub size: u64,
    /// Archive members scanned (at every nesting level).
    pub members: u64,
    pub engines: Vec<EngineSummary>,
    /// Every detection and failure, innermost first.
    pub findings: Vec<Finding>,
}

/// Separates nesting levels in [`Finding::member`], e.g.
/// `outer.tar > docs/inner.zip > eicar.com`.
pub const MEMBER_SEPARATOR: &str = " > ";

/// One engine's state for `sekisho-gateway status` and the status API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineStatus {
    pub engine: String,
    /// `None` with `error` set when the engine could not be asked.
    pub version: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signatures_updated: Option<OffsetDateTime>,
    /// Age of the signatures in whole seconds at the time asked.
    pub signature_age_seconds: Option<i64>,
    /// The signatures are older than the configured threshold.
    pub stale: bool,
    pub error: Option<String>,
}

/// The configured engines and bounds. Cheap to share (`Arc<Scanner>`); every
/// scan is independent.
pub struct Scanner {
    engines: Vec<Box<dyn Engine>>,
    limits: Limits,
    temp_dir: PathBuf,
    stale_after: time::Duration,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field(
                "engines",
                &self.engines.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .field("temp_dir", &self.temp_dir)
            .finish()
    }
}

impl Scanner {
    /// Builds the engines the configuration names. Relative paths (rule
    /// directory, deny-list, temporary directory) are taken from `base_dir`,
    /// the gateway's data directory, which is also where zips are spilled
    /// unless `temp_dir` is set. A rule that does not compile, a
    /// malformed deny-list line or a bad engine address is an error here, at
    /// start-up, rather than a silently weaker scan later.
    pub fn from_config(config: &ScanConfig, base_dir: &Path) -> Result<Self> {
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let mut engines: Vec<Box<dyn Engine>> = Vec::new();
        if config.builtin.enabled {
            #[cfg(feature = "builtin")]
            {
                let mut builtin = config.builtin.clone();
                builtin.rules_dir = builtin.rules_dir.as_deref().map(resolve);
                builtin.deny_list = builtin.deny_list.as_deref().map(resolve);
                engines.push(Box::new(
                    BuiltinEngine::load(&builtin)
                        .context("cannot load the built-in scan engine")?,
                ));
            }
            // Refused rather than skipped: a scanner silently without the
            // engine its configuration asks for would be a weaker scan.
            #[cfg(not(feature = "builtin"))]
            anyhow::bail!(
                "[scan.builtin] is enabled, but sekisho-scan was built without its `builtin` feature"
            );
        }
        if let Some(clamd) = &config.clamd {
            engines.push(Box::new(
                ClamdEngine::from_config(clamd).context("invalid [scan.clamd] settings")?,
            ));
        }
        if let Some(icap) = &config.icap {
            engines.push(Box::new(
                IcapEngine::from_config(icap).context("invalid [scan.icap] settings")?,
            ));
        }
        let temp_dir = config
            .temp_dir
            .as_deref()
            .map(resolve)
            // Not /tmp by default: it is often memory-backed, and a spilled
            // zip can be as large as the upload.
            .unwrap_or_else(|| base_dir.to_path_buf());
        let mut scanner = Scanner::new(engines, config.limits.clone(), temp_dir);
        scanner.stale_after = time::Duration::hours(i64::from(config.stale_after_hours));
        Ok(scanner)
    }

    /// A scanner over engines built by the caller (tests, benchmarks, or an
    /// engine this module does not know). `temp_dir` receives the unnamed
    /// spill files of zip archives.
    pub fn new(engines: Vec<Box<dyn Engine>>, limits: Limits, temp_dir: PathBuf) -> Self {
        Scanner {
            engines,
            limits,
            temp_dir,
            stale_after: time::Duration::hours(i64::from(config::DEFAULT_STALE_AFTER_HOURS)),
        }
    }

    pub fn engines(&self) -> impl Iterator<Item = &dyn Engine> {
        self.engines.iter().map(|e| e.as_ref())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Asks every engine for its version and signature date (clamd and ICAP
    /// are asked over the network, with their time-outs). `now` is a
    /// parameter so that tests control the age.
    pub fn status(&self, now: OffsetDateTime) -> Vec<EngineStatus> {
        self.engines
            .iter()
            .map(|engine| match engine.info() {
                Ok(info) => {
                    let age = info.signature_age(now);
                    EngineStatus {
                        engine: engine.name().to_string(),
                        version: Some(info.version),
                        signatures_updated: info.signatures_updated,
                        signature_age_seconds: age.map(|a| a.whole_seconds()),
                        stale: age.is_some_and(|a| a > self.stale_after),
                        error: None,
                    }
                }
                Err(e) => EngineStatus {
                    engine: engine.name().to_string(),
                    version: None,
                    signatures_updated: None,
                    signature_age_seconds: None,
                    stale: false,
                    error: Some(format!("{e:#}")),
                },
            })
            .collect()
    }

    /// Scans everything `reader` yields. Runs synchronously: put it on a
    /// blocking thread. Never fails: a failure to read the input is itself
    /// an Unscanned verdict (the digest then covers only what was read).
    ///
    /// `size_hint` is the size the caller expects (e.g. the stored file's
    /// length). When given, a stream that ends early or runs long is
    /// Unscanned: the bytes scanned are not the bytes the caller holds.
    pub fn scan_reader(&self, reader: impl Read, size_hint: Option<u64>) -> Report {
        let mut reader = reader;
        archive::scan(self, &mut reader, size_hint)
    }

    /// Scans a file on disk (e.g. a rescan of a held file).
    pub fn scan_path(&self, path: &Path) -> Report {
        let opened = std::fs::File::open(path).and_then(|f| Ok((f.metadata()?.len(), f)));
        match opened {
            Ok((len, file)) => self.scan_reader(file, Some(len)),
            Err(e) => {
                let reason = format!("cannot open {}: {e}", path.display());
                Report::failed_before_reading(reason, &self.engines)
            }
        }
    }
}

/// The bytes a `read` call filled: `buf[..n]`, or all of `buf` should a
/// reader ever report more than it was given (a broken `Read`, which must
/// not become a panic here). The gateway's `fsutil::filled` is the same.
pub(crate) fn filled(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or(buf)
}

impl Report {
    fn failed_before_reading(reason: String, engines: &[Box<dyn Engine>]) -> Report {
        let verdict = Verdict::Unscanned { reason };
        Report {
            verdict: verdict.clone(),
            location: None,
            sha256: String::new(),
            size: 0,
            members: 0,
            engines: engines
                .iter()
                .map(|e| EngineSummary {
                    engine: e.name().to_string(),
                    verdict: verdict.clone(),
                    streams: 0,
                })
                .collect(),
            findings: vec![Finding {
                member: None,
                engine: None,
                verdict,
            }],
        }
    }
}
