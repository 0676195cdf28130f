//! The contract between the scanner and an engine.
//!
//! Push, not pull: the scanner reads the input once and hands each chunk to
//! every engine's [`EngineSession::update`], then calls
//! [`EngineSession::finish`]. A pull interface (each engine given a `Read`)
//! would need the input read once per engine, or a thread and a buffer per
//! engine; with push, one read feeds all engines, the archive walker can tee
//! the bytes it decompresses straight into the member's sessions, and memory
//! is whatever each session keeps (a 16 MiB rule window for the built-in
//! engine, a 256 KiB frame buffer for clamd and ICAP). Sessions that talk to
//! a daemon use blocking sockets with time-outs: the scanner runs on a
//! blocking thread, so there is no runtime to share.
//!
//! The contract every session keeps: it never panics on input, it never
//! turns a failure into Clean (a session that lost its connection, timed
//! out or hit a limit answers [`EngineResult::Unscanned`]), and it may stop
//! looking once it has found something.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Version and signature date of an engine, for status reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub version: String,
    /// When the signatures were last updated; `None` when the engine has
    /// only compiled-in signatures or does not say.
    #[serde(with = "time::serde::rfc3339::option")]
    pub signatures_updated: Option<OffsetDateTime>,
}

impl EngineInfo {
    /// Age of the signatures at `now` (time is a parameter so tests choose
    /// it). A date in the future counts as age zero.
    pub fn signature_age(&self, now: OffsetDateTime) -> Option<time::Duration> {
        self.signatures_updated
            .map(|t| (now - t).max(time::Duration::ZERO))
    }
}

/// SHA-256 and length of one stream, computed once by the scanner and given
/// to every session at the end, so that hash-based engines (the deny-list)
/// cost nothing extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDigest {
    pub sha256: [u8; 32],
    pub size: u64,
}

/// One engine's answer for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineResult {
    Clean,
    Infected {
        signature: String,
    },
    /// The engine could not give an answer; `reason` says why in words an
    /// administrator can act on.
    Unscanned {
        reason: String,
    },
}

/// A scan engine. Implementations are shared by all scans (`Send + Sync`);
/// per-scan state lives in the session.
pub trait Engine: Send + Sync {
    /// Short stable name used in reports and incidents (`builtin`, `clamd`).
    fn name(&self) -> &str;

    /// Version and signature date. May do I/O (clamd's `VERSION`).
    fn info(&self) -> anyhow::Result<EngineInfo>;

    /// Whether archive members are given to this engine as streams of their
    /// own. Engines that unpack archives themselves (clamd, most ICAP
    /// products) get only the file as uploaded, unless configured otherwise.
    fn scans_members(&self) -> bool;

    /// Starts scanning one stream. Never fails: a session that cannot start
    /// (e.g. the daemon is unreachable) remembers why and answers Unscanned
    /// from `finish`.
    fn start(&self) -> Box<dyn EngineSession + '_>;
}

/// One stream being scanned by one engine.
pub trait EngineSession: Send {
    /// The next bytes of the stream, in order.
    fn update(&mut self, chunk: &[u8]);

    /// The stream has ended; `digest` covers exactly the bytes given to
    /// `update`. You MUST call this to get a verdict: dropping a session
    /// abandons the scan.
    fn finish(self: Box<Self>, digest: &StreamDigest) -> EngineResult;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_age_is_never_negative() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(10);
        let info = EngineInfo {
            version: "x".into(),
            signatures_updated: Some(now - time::Duration::days(3)),
        };
        assert_eq!(info.signature_age(now), Some(time::Duration::days(3)));
        let future = EngineInfo {
            signatures_updated: Some(now + time::Duration::days(1)),
            ..info
        };
        assert_eq!(future.signature_age(now), Some(time::Duration::ZERO));
    }
}
