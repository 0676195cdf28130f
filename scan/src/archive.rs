//! The archive walker: reads the input once, feeds every byte to the
//! engines, and opens zip, tar and gzip containers (recognised by their
//! magic bytes, never by name) so that their members are scanned as streams
//! of their own, nested to a bounded depth.
//!
//! How bytes flow: each stream (the input, or a member) has a [`Sink`] —
//! SHA-256, length and one session per engine. A tee in front of the sink
//! hands every byte that the archive parser pulls to the sink as well, so a
//! tar.gz is read once: the gzip decoder pulls the raw bytes (fed to the
//! input's sessions), the tar parser pulls the decompressed bytes (fed to the
//! gzip member's sessions), each tar entry is a member stream of its own.
//! After a parser finishes, the rest of its stream is drained into the sink:
//! bytes after an archive's end are scanned too.
//!
//! Zip needs its central directory at the end, so a zip stream is spilled to
//! an *unnamed* temporary file (`O_TMPFILE`, gone when closed) in the
//! configured directory while it is fed to its sessions, then opened from
//! there. Disk use is at most the input size plus the expanded size bound;
//! memory stays constant. (Streaming zip readers trust local headers, which
//! can disagree with the central directory that other tools use.)
//!
//! Bounds, all failing closed with a reason: nesting depth (an archive at
//! the limit is scanned as bytes but not opened), total entries, total
//! expanded bytes, and the ratio of expanded bytes to input bytes read so
//! far (below [`RATIO_FLOOR`] expanded bytes the ratio is not judged, so
//! small, very compressible files pass). When a bound trips, the walk stops
//! at once, and the rest of the *input* is still read raw so that its
//! digest is complete and the engines see every byte. Encrypted zip entries
//! and corrupt or truncated archives make the file Unscanned; the other
//! members are still scanned, so an infected sibling is still reported.
//!
//! Member names come from the archive and are attacker-controlled: they are
//! only ever turned into display strings by [`display_name`] (control and
//! bidirectional-override characters escaped), never used as paths.
//!
//! Limitations: archives are recognised at offset 0 only (a self-extracting
//! zip with a stub in front is scanned as bytes, not opened); V7 tar files
//! without the `ustar` magic are not opened; zip entries compressed other
//! than stored, deflate or deflate64 are Unscanned; other archive formats
//! (7z, RAR, bzip2, xz, zstd, cab, lzh) are scanned as bytes and, unless
//! `unsupported_archives_unscanned` is off, make the file Unscanned.

use crate::filled;
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{self, BufReader, Cursor, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::engine::{EngineResult, EngineSession, StreamDigest};
use super::{EngineSummary, Finding, MEMBER_SEPARATOR, Report, Scanner, Verdict};

/// Below this many expanded bytes the expansion ratio is not judged.
pub const RATIO_FLOOR: u64 = 1 << 20;
/// Longest display name, in bytes, before it is cut with `…`.
pub const MAX_DISPLAY_NAME: usize = 512;
/// Bytes read from each stream before deciding what it is (a tar header's
/// magic sits at offset 257).
const SNIFF_LEN: usize = 512;
const READ_BUF: usize = 256 << 10;

/// Archive bounds. Exceeding any of them makes the file Unscanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Archive layers opened: 3 opens a zip inside a tar inside a gzip.
    pub max_depth: u32,
    /// Entries counted over all archives in the file.
    pub max_entries: u64,
    /// Expanded bytes per input byte (e.g. 100 means 100:1).
    pub max_ratio: u64,
    /// Bytes of all members at all levels together.
    pub max_expanded_bytes: u64,
    /// Formats that are recognised but not opened (7z, RAR, ...) make the
    /// file Unscanned: their members were not checked.
    pub unsupported_archives_unscanned: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3,
            max_entries: 10_000,
            max_ratio: 100,
            max_expanded_bytes: 4 << 30,
            unsupported_archives_unscanned: true,
        }
    }
}

/// Escapes an archive member name for display: invalid UTF-8 as `\xNN`,
/// control, invisible and bidirectional-formatting characters as `\u{N}`,
/// backslash doubled (so the escaping is unambiguous), cut at
/// [`MAX_DISPLAY_NAME`] bytes. Path separators and `..` are kept as text:
/// the result is never used as a path.
pub fn display_name(raw: &[u8]) -> String {
    let mut out = String::new();
    'outer: for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if out.len() >= MAX_DISPLAY_NAME {
                out.push('…');
                break 'outer;
            }
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() || is_invisible(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        // Invalid bytes count against the cut too: a name of nothing but
        // invalid UTF-8 was once shown whole, four bytes per byte.
        for b in chunk.invalid() {
            if out.len() >= MAX_DISPLAY_NAME {
                out.push('…');
                break 'outer;
            }
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if out.is_empty() {
        out.push_str("(no name)");
    }
    out
}

/// Characters that change how the text around them is shown (Trojan Source
/// style reordering, zero-width padding).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    Gzip,
    Tar,
    Unsupported(&'static str),
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Gzip => "gzip",
            Kind::Tar => "tar",
            Kind::Unsupported(name) => name,
        }
    }
}

fn sniff(p: &[u8]) -> Option<Kind> {
    if p.starts_with(b"PK\x03\x04") || p.starts_with(b"PK\x05\x06") || p.starts_with(b"PK\x07\x08")
    {
        Some(Kind::Zip)
    } else if p.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Kind::Gzip)
    } else if p.get(257..262) == Some(b"ustar") {
        Some(Kind::Tar)
    } else if p.starts_with(b"7z\xbc\xaf\x27\x1c") {
        Some(Kind::Unsupported("7z"))
    } else if p.starts_with(b"Rar!\x1a\x07") {
        Some(Kind::Unsupported("RAR"))
    } else if p.starts_with(b"BZh")
        && p.get(3).is_some_and(|level| (b'1'..=b'9').contains(level))
        && p.get(4..10) == Some(b"\x31\x41\x59\x26\x53\x59")
    {
        Some(Kind::Unsupported("bzip2"))
    } else if p.starts_with(b"\xfd7zXZ\x00") {
        Some(Kind::Unsupported("xz"))
    } else if p.starts_with(b"\x28\xb5\x2f\xfd") {
        Some(Kind::Unsupported("zstd"))
    } else if p.starts_with(b"MSCF\0\0\0\0") {
        Some(Kind::Unsupported("cab"))
    } else if matches!(p.get(2..7), Some([b'-', b'l', b'h', _, b'-'])) {
        Some(Kind::Unsupported("LHA"))
    } else {
        None
    }
}

/// The name stored in a gzip header (FNAME), if the sniffed prefix holds it.
fn gzip_name(p: &[u8]) -> Option<Vec<u8>> {
    let flags = *p.get(3)?;
    let mut at = 10usize;
    if flags & 0x04 != 0 {
        let xlen = u16::from_le_bytes([*p.get(10)?, *p.get(11)?]);
        at = at.checked_add(2 + usize::from(xlen))?;
    }
    if flags & 0x08 == 0 {
        return None;
    }
    let rest = p.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end).map(<[u8]>::to_vec)
}

/// The walk is over: a bound tripped or the input failed. The reason is
/// already recorded as a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stopped;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Bound,
    Input,
}

#[derive(Default)]
struct EngineTally {
    streams: u64,
    infected: Option<Verdict>,
    unscanned: Option<Verdict>,
}

/// State of one scan, shared by all nesting levels (single-threaded, hence
/// `Cell`s).
struct Walk<'s> {
    scanner: &'s Scanner,
    outer_read: Cell<u64>,
    expanded: Cell<u64>,
    entries: Cell<u64>,
    members: Cell<u64>,
    stopped: Cell<Option<StopReason>>,
    top_digest: Cell<Option<StreamDigest>>,
    findings: RefCell<Vec<Finding>>,
    tallies: RefCell<Vec<EngineTally>>,
}

fn member_display(path: &[String]) -> Option<String> {
    (!path.is_empty()).then(|| path.join(MEMBER_SEPARATOR))
}

impl<'s> Walk<'s> {
    fn limits(&self) -> &Limits {
        &self.scanner.limits
    }

    fn unscanned(&self, path: &[String], reason: String) {
        self.findings.borrow_mut().push(Finding {
            member: member_display(path),
            engine: None,
            verdict: Verdict::Unscanned { reason },
        });
    }

    fn trip(&self, path: &[String], reason: String) -> Stopped {
        if self.stopped.get().is_none() {
            self.unscanned(path, reason);
            self.stopped.set(Some(StopReason::Bound));
        }
        Stopped
    }

    fn check_stopped(&self) -> Result<(), Stopped> {
        match self.stopped.get() {
            Some(_) => Err(Stopped),
            None => Ok(()),
        }
    }

    /// A read failed while scanning `path`: either the walk is over (bound,
    /// input), or this stream is corrupt, which is recorded and the walk
    /// goes on with the next member.
    fn read_failed(&self, path: &[String], what: &str, error: &io::Error) -> Result<(), Stopped> {
        self.check_stopped()?;
        self.unscanned(path, format!("{what}: {error}"));
        Ok(())
    }

    fn count_entry(&self, archive: &[String]) -> Result<(), Stopped> {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        let max = self.limits().max_entries;
        if n > max {
            return Err(self.trip(
                archive,
                format!("more than {max} archive entries (max_entries)"),
            ));
        }
        Ok(())
    }

    fn expand(&self, n: u64, path: &[String]) -> Result<(), Stopped> {
        let total = self.expanded.get().saturating_add(n);
        self.expanded.set(total);
        let limits = self.limits();
        if total > limits.max_expanded_bytes {
            return Err(self.trip(
                path,
                format!(
                    "archive members add up to more than {} bytes (max_expanded_bytes)",
                    limits.max_expanded_bytes
                ),
            ));
        }
        let read = self.outer_read.get();
        if total > read.max(RATIO_FLOOR).saturating_mul(limits.max_ratio) {
            return Err(self.trip(
                path,
                format!(
                    "archive expands more than {}:1 ({total} bytes from {read} bytes read; max_ratio): possible decompression bomb",
                    limits.max_ratio
                ),
            ));
        }
        Ok(())
    }

    fn sink(&self, top: bool) -> Sink<'s> {
        let mut sessions = Vec::new();
        let mut tallies = self.tallies.borrow_mut();
        for (index, engine) in self.scanner.engines.iter().enumerate() {
            if top || engine.scans_members() {
                sessions.push((index, engine.start()));
                if let Some(t) = tallies.get_mut(index) {
                    t.streams += 1;
                }
            }
        }
        Sink {
            hasher: Sha256::new(),
            size: 0,
            sessions,
        }
    }

    fn record(&self, path: &[String], results: Vec<(usize, EngineResult)>) {
        let mut tallies = self.tallies.borrow_mut();
        let mut findings = self.findings.borrow_mut();
        for (index, result) in results {
            let Some(engine) = self.scanner.engines.get(index) else {
                continue;
            };
            let name = engine.name().to_string();
            let verdict = match result {
                EngineResult::Clean => continue,
                EngineResult::Infected { signature } => Verdict::Infected {
                    engine: name.clone(),
                    signature,
                },
                EngineResult::Unscanned { reason } => Verdict::Unscanned {
                    reason: format!("{name}: {reason}"),
                },
            };
            if let Some(t) = tallies.get_mut(index) {
                let slot = if verdict.is_infected() {
                    &mut t.infected
                } else {
                    &mut t.unscanned
                };
                slot.get_or_insert_with(|| verdict.clone());
            }
            findings.push(Finding {
                member: member_display(path),
                engine: Some(name),
                verdict,
            });
        }
    }
}

/// One stream's digest and engine sessions.
struct Sink<'s> {
    hasher: Sha256,
    size: u64,
    sessions: Vec<(usize, Box<dyn EngineSession + 's>)>,
}

impl Sink<'_> {
    fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        for (_, session) in &mut self.sessions {
            session.update(bytes);
        }
    }

    fn finish(self) -> (StreamDigest, Vec<(usize, EngineResult)>) {
        let digest = StreamDigest {
            sha256: self.hasher.finalize().into(),
            size: self.size,
        };
        let results = self
            .sessions
            .into_iter()
            .map(|(index, session)| (index, session.finish(&digest)))
            .collect();
        (digest, results)
    }
}

/// Feeds what the archive parser reads to the stream's sink.
struct Tee<'a, 's> {
    inner: &'a mut dyn Read,
    sink: &'a mut Sink<'s>,
}

impl Read for Tee<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.feed(filled(buf, n));
        Ok(n)
    }
}

/// The caller's input: counts bytes (the ratio's denominator) and turns a
/// read error into the end of the walk.
struct Outer<'a, 's> {
    inner: &'a mut dyn Read,
    walk: &'a Walk<'s>,
}

impl Read for Outer<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.walk
                    .outer_read
                    .set(self.walk.outer_read.get() + n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                if self.walk.stopped.get() != Some(StopReason::Input) {
                    self.walk
                        .unscanned(&[], format!("reading the input failed: {e}"));
                    self.walk.stopped.set(Some(StopReason::Input));
                }
                Err(e)
            }
        }
    }
}

/// A member's bytes: counted against the expansion bounds; refuses to go on
/// once the walk has stopped, so unwinding does not decompress further.
struct Metered<'a, 's, R> {
    inner: R,
    walk: &'a Walk<'s>,
    path: &'a [String],
}

impl<R: Read> Read for Metered<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.walk.check_stopped().is_err() {
            return Err(io::Error::other("the scan has stopped"));
        }
        let n = self.inner.read(buf)?;
        if self.walk.expand(n as u64, self.path).is_err() {
            return Err(io::Error::other("an archive bound was exceeded"));
        }
        Ok(n)
    }
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match src.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `src` to its end into the sink.
fn drain(walk: &Walk, src: &mut dyn Read, sink: &mut Sink, path: &[String]) -> Result<(), Stopped> {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink.feed(filled(&buf, n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return walk.read_failed(path, "cannot read", &e),
        }
    }
}

/// Scans the caller's input and builds the report.
pub(crate) fn scan(scanner: &Scanner, input: &mut dyn Read, size_hint: Option<u64>) -> Report {
    let walk = Walk {
        scanner,
        outer_read: Cell::new(0),
        expanded: Cell::new(0),
        entries: Cell::new(0),
        members: Cell::new(0),
        stopped: Cell::new(None),
        top_digest: Cell::new(None),
        findings: RefCell::new(Vec::new()),
        tallies: RefCell::new(
            scanner
                .engines
                .iter()
                .map(|_| EngineTally::default())
                .collect(),
        ),
    };
    if scanner.engines.is_empty() {
        walk.unscanned(&[], "no scan engine is configured".into());
    }
    let mut outer = Outer {
        inner: input,
        walk: &walk,
    };
    // Stopped is already recorded as a finding; the report says the rest.
    let _ = scan_stream(&walk, &mut outer, &[], 0);

    let digest = walk.top_digest.get().unwrap_or(StreamDigest {
        sha256: Sha256::digest(b"").into(),
        size: 0,
    });
    if let Some(expected) = size_hint
        && expected != digest.size
        && walk.stopped.get() != Some(StopReason::Input)
    {
        walk.unscanned(
            &[],
            format!(
                "the input had {} bytes where {expected} were expected",
                digest.size
            ),
        );
    }

    let findings = walk.findings.into_inner();
    let deciding = findings
        .iter()
        .find(|f| f.verdict.is_infected())
        .or_else(|| findings.iter().find(|f| f.verdict.is_unscanned()));
    let (verdict, location) = match deciding {
        Some(f) => (f.verdict.clone(), f.member.clone()),
        None => (Verdict::Clean, None),
    };
    let engines = scanner
        .engines
        .iter()
        .zip(walk.tallies.into_inner())
        .map(|(engine, tally)| EngineSummary {
            engine: engine.name().to_string(),
            verdict: tally.infected.or(tally.unscanned).unwrap_or(Verdict::Clean),
            streams: tally.streams,
        })
        .collect();
    Report {
        verdict,
        location,
        sha256: hex::encode(digest.sha256),
        size: digest.size,
        members: walk.members.get(),
        engines,
        findings,
    }
}

/// Scans one stream: the input (`path` empty) or an archive member.
fn scan_stream(
    walk: &Walk,
    src: &mut dyn Read,
    path: &[String],
    depth: u32,
) -> Result<(), Stopped> {
    let top = path.is_empty();
    if !top {
        walk.members.set(walk.members.get() + 1);
    }
    let mut sink = walk.sink(top);
    let mut prefix = [0u8; SNIFF_LEN];
    let body = match read_full(src, &mut prefix) {
        Ok(n) => {
            let prefix = filled(&prefix, n);
            sink.feed(prefix);
            scan_body(walk, src, &mut sink, prefix, path, depth)
        }
        Err(e) => walk.read_failed(path, "cannot read", &e).map(|()| None),
    };
    // After a bound tripped, the input itself is still read to its end: its
    // digest must be complete and the engines still see every raw byte
    // (so an infection can still be named). Members are not: that would
    // expand what the bound refused.
    if top && walk.stopped.get() == Some(StopReason::Bound) {
        let _ = drain(walk, src, &mut sink, path);
    }
    let (digest, results) = sink.finish();
    if top {
        walk.top_digest.set(Some(digest));
    }
    // A zip is opened after its own sessions have finished (they have seen
    // every byte), so that a daemon connection is not held open, idle,
    // while the members are scanned. Its findings still come after the
    // members', innermost first.
    let outcome = match body {
        Ok(Some(spilled)) => scan_zip(walk, spilled, path, depth),
        Ok(None) => Ok(()),
        Err(stopped) => Err(stopped),
    };
    walk.record(path, results);
    outcome
}

/// Everything after the sniffed prefix. Returns a spilled zip to be opened
/// once the stream's sessions are finished.
fn scan_body(
    walk: &Walk,
    src: &mut dyn Read,
    sink: &mut Sink,
    prefix: &[u8],
    path: &[String],
    depth: u32,
) -> Result<Option<std::fs::File>, Stopped> {
    let limits = walk.limits();
    let kind = match sniff(prefix) {
        None => None,
        Some(Kind::Unsupported(name)) => {
            if limits.unsupported_archives_unscanned {
                walk.unscanned(
                    path,
                    format!("{name} archives are not opened, so their members were not scanned"),
                );
            }
            None
        }
        Some(kind) if depth >= limits.max_depth => {
            walk.unscanned(
                path,
                format!(
                    "{} archive nested deeper than {} levels (max_depth): not opened",
                    kind.label(),
                    limits.max_depth
                ),
            );
            None
        }
        Some(kind) => Some(kind),
    };
    let Some(kind) = kind else {
        drain(walk, src, sink, path)?;
        return Ok(None);
    };

    let mut tee = Tee { inner: src, sink };
    let mut reader = Cursor::new(prefix).chain(&mut tee);
    let walked = match kind {
        Kind::Gzip => scan_gzip(walk, &mut reader, prefix, path, depth),
        Kind::Tar => scan_tar(walk, &mut reader, path, depth),
        Kind::Zip => return spill(walk, &mut reader, path),
        Kind::Unsupported(_) => Ok(()),
    };
    walked?;
    // Bytes after the archive's end are part of this stream too.
    drain_reader(walk, &mut reader, path)
}

fn drain_reader(
    walk: &Walk,
    reader: &mut dyn Read,
    path: &[String],
) -> Result<Option<std::fs::File>, Stopped> {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return walk.read_failed(path, "cannot read", &e).map(|()| None),
        }
    }
}

fn scan_gzip(
    walk: &Walk,
    reader: &mut dyn Read,
    prefix: &[u8],
    path: &[String],
    depth: u32,
) -> Result<(), Stopped> {
    walk.count_entry(path)?;
    let name = gzip_name(prefix)
        .map(|n| display_name(&n))
        .unwrap_or_else(|| "(gzip content)".into());
    let child = [path, &[name]].concat();
    let mut decoder = flate2::read::MultiGzDecoder::new(reader);
    let mut member = Metered {
        inner: &mut decoder,
        walk,
        path: &child,
    };
    scan_stream(walk, &mut member, &child, depth + 1)
}

fn scan_tar(
    walk: &Walk,
    reader: &mut dyn Read,
    path: &[String],
    depth: u32,
) -> Result<(), Stopped> {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return walk.read_failed(path, "corrupt tar archive", &e),
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => return walk.read_failed(path, "corrupt tar archive", &e),
        };
        walk.count_entry(path)?;
        // Links, directories and devices have no content to scan.
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse
        ) {
            continue;
        }
        let child = [path, &[display_name(&entry.path_bytes())]].concat();
        let mut member = Metered {
            inner: &mut entry,
            walk,
            path: &child,
        };
        scan_stream(walk, &mut member, &child, depth + 1)?;
    }
    Ok(())
}

/// Copies a zip stream (feeding its sessions through the tee) to an unnamed
/// temporary file.
fn spill(
    walk: &Walk,
    reader: &mut dyn Read,
    path: &[String],
) -> Result<Option<std::fs::File>, Stopped> {
    let dir = &walk.scanner.temp_dir;
    let mut file = match tempfile::tempfile_in(dir) {
        Ok(file) => file,
        Err(e) => {
            walk.unscanned(
                path,
                format!(
                    "cannot create a temporary file in {} to open a zip archive: {e}",
                    dir.display()
                ),
            );
            return drain_reader(walk, reader, path);
        }
    };
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return walk.read_failed(path, "cannot read", &e).map(|()| None),
        };
        if let Err(e) = file.write_all(filled(&buf, n)) {
            walk.unscanned(
                path,
                format!(
                    "cannot write a temporary file in {} to open a zip archive: {e}",
                    dir.display()
                ),
            );
            return drain_reader(walk, reader, path);
        }
    }
    Ok(Some(file))
}

fn scan_zip(walk: &Walk, file: std::fs::File, path: &[String], depth: u32) -> Result<(), Stopped> {
    let mut zip = match zip::ZipArchive::new(BufReader::with_capacity(64 << 10, file)) {
        Ok(zip) => zip,
        Err(e) => {
            walk.unscanned(path, format!("corrupt zip archive: {e}"));
            return Ok(());
        }
    };
    for index in 0..zip.len() {
        walk.count_entry(path)?;
        let (name, encrypted, is_dir) = match zip.by_index_data(index) {
            Ok(entry) => {
                let name = match entry.name() {
                    Ok(name) => display_name(name.as_bytes()),
                    Err(_) => display_name(entry.name_raw()),
                };
                (name, entry.encrypted(), entry.is_dir())
            }
            Err(e) => {
                walk.unscanned(path, format!("corrupt zip archive: {e}"));
                return Ok(());
            }
        };
        let child = [path, &[name]].concat();
        if encrypted {
            walk.unscanned(
                &child,
                "encrypted zip entry: its content cannot be scanned".into(),
            );
            continue;
        }
        if is_dir {
            continue;
        }
        let mut entry = match zip.by_index(index) {
            Ok(entry) => entry,
            Err(e) => {
                walk.unscanned(&child, format!("cannot open zip entry: {e}"));
                continue;
            }
        };
        let mut member = Metered {
            inner: &mut entry,
            walk,
            path: &child,
        };
        scan_stream(walk, &mut member, &child, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_display() {
        assert_eq!(display_name(b"../../etc/passwd"), "../../etc/passwd");
        assert_eq!(
            display_name(b"a\nb\rc\x1b[31m"),
            "a\\u{a}b\\u{d}c\\u{1b}[31m"
        );
        assert_eq!(
            display_name("evil\u{202e}fdp.exe".as_bytes()),
            "evil\\u{202e}fdp.exe"
        );
        assert_eq!(display_name(b"bad\xff\xfeutf8"), "bad\\xff\\xfeutf8");
        assert_eq!(display_name(b"back\\slash"), "back\\\\slash");
        assert_eq!(display_name("日本語.txt".as_bytes()), "日本語.txt");
        assert_eq!(display_name(b""), "(no name)");
        let long = display_name(&[b'a'; 5000]);
        assert!(long.len() <= MAX_DISPLAY_NAME + 4 && long.ends_with('…'));
        // Found by the archive_walk fuzz target: invalid bytes were never
        // cut (a 64 KiB zip name became a 256 KiB display string).
        for raw in [
            vec![0xffu8; 5000],
            [b"a".as_slice(), &[0xfe; 3000]].concat(),
        ] {
            let shown = display_name(&raw);
            assert!(shown.len() <= MAX_DISPLAY_NAME + 4 + 3, "{}", shown.len());
            assert!(shown.ends_with('…'));
        }
    }

    #[test]
    fn sniffing_uses_magic_bytes() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08, 0]), Some(Kind::Gzip));
        let mut tar = [0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(sniff(&tar), Some(Kind::Tar));
        assert_eq!(
            sniff(b"7z\xbc\xaf\x27\x1c...."),
            Some(Kind::Unsupported("7z"))
        );
        assert_eq!(sniff(b"PK"), None);
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn gzip_header_name() {
        // ID1 ID2 CM FLG(FNAME) MTIME(4) XFL OS, name, NUL
        let mut header = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        header.extend_from_slice(b"report.tar\0rest");
        assert_eq!(gzip_name(&header).as_deref(), Some(&b"report.tar"[..]));
        header[3] = 0;
        assert_eq!(gzip_name(&header), None);
        assert_eq!(gzip_name(&[0x1f, 0x8b, 8, 0x0c]), None);
    }
}
