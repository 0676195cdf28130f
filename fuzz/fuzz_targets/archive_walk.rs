//! The archive walker (`sekisho_scan::Scanner::scan_reader`) on arbitrary
//! bytes, with two recording engines in place of real ones: one that is
//! given every member, one that is given only the file (as clamd is).
//! Properties: the walk never panics; the report's digest and size are the
//! input's (every byte is read, whatever happens inside); every stream's
//! digest handed to an engine covers exactly the bytes that engine was fed;
//! the members engine saw one stream per member plus the file, the other
//! only the file; the members' bytes together stay within
//! `max_expanded_bytes` and the expansion ratio, and their number within
//! `max_entries`; no member is opened at `max_depth` 0; nothing is Clean
//! with a finding; every display name (in findings, and `display_name` on
//! the raw bytes) is free of control and invisible characters, bounded in
//! length, and unescapes back to the raw name.
//!
//! Input: four bytes of bounds (depth, entries, expanded size and ratio),
//! one byte for the reader's chunk size, then the file.
#![no_main]

use std::io::Read;
use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use sekisho_scan::archive::{MAX_DISPLAY_NAME, RATIO_FLOOR, display_name};
use sekisho_scan::{
    Engine, EngineInfo, EngineResult, EngineSession, Limits, Scanner, StreamDigest, Verdict,
};
use sha2::{Digest, Sha256};

/// What one session saw: its own digest of the bytes fed, and the digest
/// the walker handed it at the end.
struct Seen {
    fed: StreamDigest,
    told: StreamDigest,
}

struct Recorder {
    name: &'static str,
    members: bool,
    log: Arc<Mutex<Vec<Seen>>>,
}

struct Session<'a> {
    hasher: Sha256,
    size: u64,
    log: &'a Mutex<Vec<Seen>>,
}

impl Engine for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn info(&self) -> anyhow::Result<EngineInfo> {
        Ok(EngineInfo {
            version: "0".into(),
            signatures_updated: None,
        })
    }
    fn scans_members(&self) -> bool {
        self.members
    }
    fn start(&self) -> Box<dyn EngineSession + '_> {
        Box::new(Session {
            hasher: Sha256::new(),
            size: 0,
            log: &self.log,
        })
    }
}

impl EngineSession for Session<'_> {
    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }
    fn finish(self: Box<Self>, digest: &StreamDigest) -> EngineResult {
        let fed = StreamDigest {
            sha256: self.hasher.finalize().into(),
            size: self.size,
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(Seen { fed, told: *digest });
        }
        EngineResult::Clean
    }
}

/// A reader that hands out at most `chunk` bytes per call, so that the
/// walker's tee, sniffing and draining meet short reads.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        buf[..n].copy_from_slice(head);
        self.data = rest;
        Ok(n)
    }
}

/// The longest `display_name` may be: the cut is made before a character
/// (at most one escape, `\u{10ffff}`, past the limit) and `…` is added.
const MAX_DISPLAYED: usize = MAX_DISPLAY_NAME + "\\u{10ffff}".len() + '…'.len_utf8();

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn assert_displayable(shown: &str) {
    assert!(
        !shown.chars().any(|c| c.is_control() || is_invisible(c)),
        "a display string holds a control or invisible character: {shown:?}"
    );
}

/// Undoes `display_name`'s escaping: `\\`, `\u{N}`, `\xNN`.
fn unescape(shown: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = shown;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        if let Some(r) = rest.strip_prefix('\\') {
            out.push(b'\\');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("u{") {
            let end = r.find('}').expect("an escape is closed");
            let code = u32::from_str_radix(&r[..end], 16).expect("an escape is hex");
            let c = char::from_u32(code).expect("an escape is a character");
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('x') {
            let byte = u8::from_str_radix(r.get(..2).expect("two hex digits"), 16)
                .expect("a byte escape is hex");
            out.push(byte);
            rest = &r[2..];
        } else {
            panic!("a lone backslash in a display name: {shown:?}");
        }
    }
    out
}

fn check_display_name(raw: &[u8]) {
    let shown = display_name(raw);
    assert_displayable(&shown);
    assert!(
        shown.len() <= MAX_DISPLAYED,
        "a display name of {} bytes (from {} raw bytes)",
        shown.len(),
        raw.len()
    );
    if raw.is_empty() {
        assert_eq!(shown, "(no name)");
    } else if let Some(cut) = shown.strip_suffix('…') {
        let back = unescape(cut);
        assert!(
            raw.starts_with(&back),
            "a cut display name is not a prefix of the name"
        );
    } else {
        assert_eq!(unescape(&shown), raw, "the escaping is ambiguous");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[depth, entries, expanded, ratio, chunk], file)) = data.split_first_chunk::<5>()
    else {
        return;
    };
    // Names inside the archives are checked through the findings below;
    // here the escaping itself, on the bytes as they come.
    check_display_name(file.get(..600).unwrap_or(file));

    let limits = Limits {
        max_depth: u32::from(depth % 5),
        max_entries: u64::from(entries % 64) + 1,
        // Up to 4 MiB, so that both the size bound and (above RATIO_FLOOR)
        // the ratio can be reached by a small input.
        max_expanded_bytes: (u64::from(expanded) + 1) << 14,
        max_ratio: u64::from(ratio % 8) + 1,
        unsupported_archives_unscanned: ratio & 0x80 != 0,
    };
    let members_log = Arc::new(Mutex::new(Vec::new()));
    let file_log = Arc::new(Mutex::new(Vec::new()));
    let engines: Vec<Box<dyn Engine>> = vec![
        Box::new(Recorder {
            name: "members",
            members: true,
            log: members_log.clone(),
        }),
        Box::new(Recorder {
            name: "file",
            members: false,
            log: file_log.clone(),
        }),
    ];
    let scanner = Scanner::new(engines, limits.clone(), std::env::temp_dir());
    let reader = Chunked {
        data: file,
        chunk: usize::from(chunk) * 61 + 1,
    };
    let report = scanner.scan_reader(reader, Some(file.len() as u64));

    // The whole input was read and hashed, bounds or not.
    assert_eq!(
        report.size,
        file.len() as u64,
        "the input was not read whole"
    );
    assert_eq!(report.sha256, hex::encode(Sha256::digest(file)));

    let members_seen = members_log.lock().expect("not poisoned");
    let file_seen = file_log.lock().expect("not poisoned");
    for seen in members_seen.iter().chain(file_seen.iter()) {
        assert_eq!(
            seen.fed, seen.told,
            "an engine was told a digest that is not of the bytes it was fed"
        );
    }
    assert_eq!(file_seen.len(), 1, "the file-only engine saw other streams");
    let file_stream = file_seen.first().expect("one stream");
    assert_eq!(file_stream.fed.size, file.len() as u64);
    assert_eq!(
        members_seen.len() as u64,
        report.members + 1,
        "the members engine saw {} streams for {} members",
        members_seen.len(),
        report.members
    );
    let by_name = |name: &str| report.engines.iter().find(|e| e.engine == name);
    assert_eq!(
        by_name("members").map(|e| e.streams),
        Some(report.members + 1)
    );
    assert_eq!(by_name("file").map(|e| e.streams), Some(1));
    // The file's own stream is the one whose size is the input's; the
    // members are the others.
    let whole = members_seen
        .iter()
        .position(|s| s.fed.sha256 == file_stream.fed.sha256 && s.fed.size == file_stream.fed.size)
        .expect("the members engine saw the file itself");
    let member_bytes: u64 = members_seen
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != whole)
        .map(|(_, s)| s.fed.size)
        .sum();

    assert!(
        report.members <= limits.max_entries,
        "{} members scanned with max_entries {}",
        report.members,
        limits.max_entries
    );
    assert!(
        member_bytes <= limits.max_expanded_bytes,
        "{member_bytes} member bytes scanned with max_expanded_bytes {}",
        limits.max_expanded_bytes
    );
    let ratio_cap = (file.len() as u64)
        .max(RATIO_FLOOR)
        .saturating_mul(limits.max_ratio);
    assert!(
        member_bytes <= ratio_cap,
        "{member_bytes} member bytes scanned from {} input bytes with max_ratio {}",
        file.len(),
        limits.max_ratio
    );
    if limits.max_depth == 0 {
        assert_eq!(report.members, 0, "an archive was opened at max_depth 0");
    }

    // The recorders find nothing, so anything not clean is the walker's.
    assert!(!report.verdict.is_infected());
    assert_eq!(
        report.verdict == Verdict::Clean,
        report.findings.is_empty(),
        "the verdict and the findings disagree"
    );
    for finding in &report.findings {
        assert!(finding.verdict.is_unscanned());
        if let Some(member) = &finding.member {
            assert_displayable(member);
            // One display name per level, at most max_depth levels.
            let levels = limits.max_depth as usize;
            assert!(
                member.len() <= levels * (MAX_DISPLAYED + sekisho_scan::MEMBER_SEPARATOR.len()),
                "a member path of {} bytes at max_depth {levels}",
                member.len()
            );
        }
    }
});
