//! The built-in engine: works with no set-up and no daemon, so a gateway
//! always has at least one engine. It owns three checks:
//!
//! - **EICAR.** The file that conforms to the EICAR specification (the
//!   68-byte string at offset 0, optionally followed by whitespace — space,
//!   tab, CR, LF, Ctrl-Z — up to 128 bytes in all) is reported as
//!   `EICAR-Test-File`. We *also* report the string anywhere else in a stream
//!   (after other bytes, followed by other bytes, longer than 128 bytes) as
//!   `EICAR-Test-File (embedded)`. Why both: the spec variant is what other
//!   engines report, so incidents read the same; the embedded variant is how
//!   people test that a gateway looks past the first bytes (a document with
//!   the string inside, an archive member stored uncompressed), and 68
//!   specific bytes do not occur by accident. A site that wants the strict
//!   reading only can detect it in its own rules instead (`eicar = false`).
//! - **SHA-256 deny-list.** Digests from a file; the scanner hashes every
//!   stream once ([`StreamDigest`]), so this check costs a set look-up.
//! - **YARA rules** via the pure-Rust `boreal` crate. boreal evaluates rules
//!   on a whole buffer (its fragmented-memory API is pull-based and, like
//!   ours, does not match across fragments; it also makes `filesize` and
//!   offsets undefined), so we keep memory constant by scanning overlapping
//!   windows: [`YARA_WINDOW`] bytes, each starting [`YARA_OVERLAP`] bytes
//!   before the previous one ended. A stream no longer than one window is
//!   evaluated exactly as YARA would evaluate the file. Longer streams have
//!   two documented limitations: a match longer than the overlap that
//!   straddles a window boundary is missed, and conditions on `filesize`,
//!   on offsets (`$a at 100`, `uint16(0)`) and module parsers (`pe`, `elf`)
//!   see each window as if it were a whole file.
//!
//! The EICAR string is kept XOR-masked in the binary so that other scanners
//! on the gateway host do not flag the gateway itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use memchr::memmem;
use time::OffsetDateTime;

use super::config::BuiltinConfig;
use super::engine::{Engine, EngineInfo, EngineResult, EngineSession, StreamDigest};

/// Bytes of stream evaluated at once by the YARA rules.
pub const YARA_WINDOW: usize = 16 << 20;
/// How far each window reaches back into the previous one: the longest
/// string, hex pattern or regex match guaranteed to be found across a window
/// boundary.
pub const YARA_OVERLAP: usize = 64 << 10;

pub const EICAR_NAME: &str = "EICAR-Test-File";
pub const EICAR_EMBEDDED_NAME: &str = "EICAR-Test-File (embedded)";
const EICAR_LEN: usize = 68;
/// The spec allows whitespace padding up to this total length.
const EICAR_MAX_FILE: usize = 128;
const EICAR_MASK: u8 = 0x5a;
/// The EICAR string, each byte XOR [`EICAR_MASK`].
const EICAR_MASKED: [u8; EICAR_LEN] = [
    0x02, 0x6f, 0x15, 0x7b, 0x0a, 0x7f, 0x1a, 0x1b, 0x0a, 0x01, 0x6e, 0x06, 0x0a, 0x00, 0x02, 0x6f,
    0x6e, 0x72, 0x0a, 0x04, 0x73, 0x6d, 0x19, 0x19, 0x73, 0x6d, 0x27, 0x7e, 0x1f, 0x13, 0x19, 0x1b,
    0x08, 0x77, 0x09, 0x0e, 0x1b, 0x14, 0x1e, 0x1b, 0x08, 0x1e, 0x77, 0x1b, 0x14, 0x0e, 0x13, 0x0c,
    0x13, 0x08, 0x0f, 0x09, 0x77, 0x0e, 0x1f, 0x09, 0x0e, 0x77, 0x1c, 0x13, 0x16, 0x1f, 0x7b, 0x7e,
    0x12, 0x71, 0x12, 0x70,
];

/// The 68-byte EICAR test string (for tests and benchmarks that need it).
pub fn eicar_test_string() -> [u8; EICAR_LEN] {
    EICAR_MASKED.map(|b| b ^ EICAR_MASK)
}

pub struct BuiltinEngine {
    eicar: Option<memmem::Finder<'static>>,
    rules: Option<boreal::Scanner>,
    rule_count: usize,
    rule_timeout: Duration,
    deny: HashMap<[u8; 32], String>,
    version: String,
    signatures_updated: Option<OffsetDateTime>,
}

impl std::fmt::Debug for BuiltinEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinEngine")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl BuiltinEngine {
    /// Loads rules and deny-list. Paths must already be resolved. A rule
    /// that does not compile, an unreadable file or a malformed digest is an
    /// error: a scanner silently missing its rules would pass files it
    /// should refuse.
    pub fn load(config: &BuiltinConfig) -> Result<Self> {
        let mut newest: Option<SystemTime> = None;
        let mut note_mtime = |path: &Path| -> Result<()> {
            let modified = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .with_context(|| {
                    format!("cannot read the modification time of {}", path.display())
                })?;
            newest = Some(newest.map_or(modified, |n| n.max(modified)));
            Ok(())
        };

        let rule_timeout = Duration::from_secs(config.rule_timeout_seconds.max(1));
        let (rules, rule_count) = match &config.rules_dir {
            None => (None, 0),
            Some(dir) => {
                let files = rule_files(dir)?;
                let mut compiler = boreal::Compiler::new();
                for file in &files {
                    note_mtime(file)?;
                    let status = compiler
                        .add_rules_file(file)
                        .map_err(|e| anyhow!("YARA rule error: {e}"))?;
                    for warning in status.warnings() {
                        tracing::warn!("YARA rule warning: {warning}");
                    }
                }
                let mut scanner = compiler.finalize();
                scanner.set_scan_params(
                    boreal::scanner::ScanParams::default().timeout_duration(Some(rule_timeout)),
                );
                let count = scanner.rules().count();
                if count == 0 {
                    (None, 0)
                } else {
                    (Some(scanner), count)
                }
            }
        };

        let deny = match &config.deny_list {
            None => HashMap::new(),
            Some(path) => {
                note_mtime(path)?;
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the deny-list {}", path.display()))?;
                parse_deny_list(&text)
                    .with_context(|| format!("malformed deny-list {}", path.display()))?
            }
        };

        let version = format!(
            "sekisho-builtin {} (boreal 1.4; {} YARA rules, {} deny-listed digests, EICAR {})",
            env!("CARGO_PKG_VERSION"),
            rule_count,
            deny.len(),
            if config.eicar { "on" } else { "off" },
        );
        Ok(BuiltinEngine {
            eicar: config
                .eicar
                .then(|| memmem::Finder::new(&eicar_test_string()).into_owned()),
            rules,
            rule_count,
            rule_timeout,
            deny,
            version,
            signatures_updated: newest.map(OffsetDateTime::from),
        })
    }

    /// The engine with EICAR detection only (the no-set-up default).
    pub fn eicar_only() -> Self {
        // Loading with no files cannot fail; keep the one code path anyway.
        match Self::load(&BuiltinConfig::default()) {
            Ok(engine) => engine,
            Err(_) => BuiltinEngine {
                eicar: Some(memmem::Finder::new(&eicar_test_string()).into_owned()),
                rules: None,
                rule_count: 0,
                rule_timeout: Duration::from_secs(60),
                deny: HashMap::new(),
                version: format!("sekisho-builtin {}", env!("CARGO_PKG_VERSION")),
                signatures_updated: None,
            },
        }
    }

    pub fn rule_count(&self) -> usize {
        self.rule_count
    }
}

/// `*.yar` and `*.yara` files directly in `dir`, sorted so that compile
/// errors and rule order do not depend on the directory listing.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the YARA rule directory {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let is_rule = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"));
        if is_rule && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One digest per line (64 hex digits), optionally followed by whitespace
/// and a label (so `sha256sum` output works as is); `#` starts a comment
/// line. The label, or the digest's first 16 digits, names the detection.
fn parse_deny_list(text: &str) -> Result<HashMap<[u8; 32], String>> {
    let mut deny = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (digest, label) = match line.split_once(char::is_whitespace) {
            Some((d, l)) => (d, l.trim().trim_start_matches('*').trim()),
            None => (line, ""),
        };
        let mut bytes = [0u8; 32];
        if digest.len() != 64 || hex::decode_to_slice(digest, &mut bytes).is_err() {
            bail!(
                "line {}: expected a SHA-256 digest of 64 hex digits, found {:?}",
                number + 1,
                digest.chars().take(80).collect::<String>()
            );
        }
        let label = if label.is_empty() || label.starts_with('#') {
            digest[..16].to_ascii_lowercase()
        } else {
            label.to_string()
        };
        deny.insert(bytes, format!("DenyList.{label}"));
    }
    Ok(deny)
}

impl Engine for BuiltinEngine {
    fn name(&self) -> &str {
        "builtin"
    }

    fn info(&self) -> Result<EngineInfo> {
        Ok(EngineInfo {
            version: self.version.clone(),
            signatures_updated: self.signatures_updated,
        })
    }

    fn scans_members(&self) -> bool {
        true
    }

    fn start(&self) -> Box<dyn EngineSession + '_> {
        Box::new(BuiltinSession {
            engine: self,
            head: Vec::new(),
            tail: Vec::new(),
            eicar_embedded: false,
            window: Vec::new(),
            fresh: 0,
            windows: 0,
            rule_hit: None,
            rule_error: None,
        })
    }
}

struct BuiltinSession<'e> {
    engine: &'e BuiltinEngine,
    /// The first bytes, for the EICAR specification check at the end.
    head: Vec<u8>,
    /// The previous chunk's last bytes, so that an EICAR string split
    /// between two chunks is found.
    tail: Vec<u8>,
    eicar_embedded: bool,
    /// Current YARA window; `fresh` of its bytes have not been evaluated.
    window: Vec<u8>,
    fresh: usize,
    windows: u64,
    rule_hit: Option<String>,
    rule_error: Option<String>,
}

impl BuiltinSession<'_> {
    fn look_for_eicar(&mut self, finder: &memmem::Finder<'_>, chunk: &[u8]) {
        if self.eicar_embedded {
            return;
        }
        // Across the boundary: the previous tail (< 68 bytes) plus the start
        // of this chunk.
        if !self.tail.is_empty() {
            let take = chunk.len().min(EICAR_LEN - 1);
            let mut joined = Vec::with_capacity(2 * EICAR_LEN);
            joined.extend_from_slice(&self.tail);
            joined.extend(chunk.iter().take(take));
            if finder.find(&joined).is_some() {
                self.eicar_embedded = true;
                return;
            }
        }
        if finder.find(chunk).is_some() {
            self.eicar_embedded = true;
            return;
        }
        let keep = EICAR_LEN - 1;
        if let Some(last) = chunk.len().checked_sub(keep).and_then(|at| chunk.get(at..)) {
            self.tail.clear();
            self.tail.extend_from_slice(last);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
    }

    fn evaluate_window(&mut self, rules: &boreal::Scanner) {
        self.windows += 1;
        self.fresh = 0;
        let matched = match rules.scan_mem(&self.window) {
            Ok(result) => result.rules.first().map(|r| rule_name(r.namespace, r.name)),
            Err((error, partial)) => {
                let hit = partial
                    .rules
                    .first()
                    .map(|r| rule_name(r.namespace, r.name));
                if hit.is_none() {
                    self.rule_error = Some(match error {
                        boreal::scanner::ScanError::Timeout => format!(
                            "YARA rule evaluation took longer than {} s",
                            self.engine.rule_timeout.as_secs()
                        ),
                        other => format!("YARA rule evaluation failed: {other}"),
                    });
                }
                hit
            }
        };
        if matched.is_some() {
            self.rule_hit = matched;
        }
    }
}

fn rule_name(namespace: &str, name: &str) -> String {
    if namespace == "default" || namespace.is_empty() {
        format!("YARA.{name}")
    } else {
        format!("YARA.{namespace}.{name}")
    }
}

impl EngineSession for BuiltinSession<'_> {
    fn update(&mut self, chunk: &[u8]) {
        if self.head.len() <= EICAR_MAX_FILE {
            let take = chunk.len().min(EICAR_MAX_FILE + 1 - self.head.len());
            self.head.extend(chunk.iter().take(take));
        }
        if let Some(finder) = &self.engine.eicar {
            self.look_for_eicar(finder, chunk);
        }
        let Some(rules) = &self.engine.rules else {
            return;
        };
        let mut rest = chunk;
        // Once a rule matched or failed, the answer cannot get better.
        while !rest.is_empty() && self.rule_hit.is_none() && self.rule_error.is_none() {
            if self.window.capacity() < YARA_WINDOW
                && self.window.len() + rest.len() > self.window.capacity()
            {
                // Grow geometrically but never past one window: small members
                // stay small, large streams allocate once.
                let want = (self.window.len() + rest.len())
                    .max(self.window.capacity() * 2)
                    .min(YARA_WINDOW);
                self.window.reserve_exact(want - self.window.len());
            }
            let take = rest.len().min(YARA_WINDOW - self.window.len());
            let (now, later) = rest.split_at_checked(take).unwrap_or((rest, &[]));
            self.window.extend_from_slice(now);
            self.fresh += now.len();
            rest = later;
            if self.window.len() == YARA_WINDOW {
                self.evaluate_window(rules);
                self.window.drain(..YARA_WINDOW - YARA_OVERLAP);
            }
        }
    }

    fn finish(mut self: Box<Self>, digest: &StreamDigest) -> EngineResult {
        if self.engine.eicar.is_some() && is_eicar_file(&self.head, digest.size) {
            return EngineResult::Infected {
                signature: EICAR_NAME.into(),
            };
        }
        if self.eicar_embedded {
            return EngineResult::Infected {
                signature: EICAR_EMBEDDED_NAME.into(),
            };
        }
        if let Some(label) = self.engine.deny.get(&digest.sha256) {
            return EngineResult::Infected {
                signature: label.clone(),
            };
        }
        if let Some(rules) = &self.engine.rules
            && self.rule_hit.is_none()
            && self.rule_error.is_none()
            && (self.fresh > 0 || self.windows == 0)
        {
            // The last, partial window; also an empty stream, so that rules
            // about empty files behave as in YARA.
            self.evaluate_window(rules);
        }
        if let Some(signature) = self.rule_hit {
            return EngineResult::Infected { signature };
        }
        if let Some(reason) = self.rule_error {
            return EngineResult::Unscanned { reason };
        }
        EngineResult::Clean
    }
}

/// The EICAR specification: the string at offset 0, then only whitespace,
/// at most 128 bytes in all.
fn is_eicar_file(head: &[u8], size: u64) -> bool {
    let eicar = eicar_test_string();
    size <= EICAR_MAX_FILE as u64
        && head.len() as u64 == size
        && head.starts_with(&eicar)
        && head
            .iter()
            .skip(EICAR_LEN)
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x1a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest(bytes: &[u8]) -> StreamDigest {
        StreamDigest {
            sha256: Sha256::digest(bytes).into(),
            size: bytes.len() as u64,
        }
    }

    /// Feeds `bytes` in chunks of `chunk` bytes.
    fn run(engine: &BuiltinEngine, bytes: &[u8], chunk: usize) -> EngineResult {
        let mut session = engine.start();
        for part in bytes.chunks(chunk.max(1)) {
            session.update(part);
        }
        session.finish(&digest(bytes))
    }

    fn infected(name: &str) -> EngineResult {
        EngineResult::Infected {
            signature: name.into(),
        }
    }

    #[test]
    fn eicar_mask_decodes_to_the_published_string() {
        let s = eicar_test_string();
        assert!(s.starts_with(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD"));
        assert!(s.ends_with(b"-ANTIVIRUS-TEST-FILE!$H+H*"));
    }

    #[test]
    fn eicar_plain_padded_and_embedded() {
        let engine = BuiltinEngine::eicar_only();
        let eicar = eicar_test_string().to_vec();
        assert_eq!(run(&engine, &eicar, 1 << 20), infected(EICAR_NAME));

        let mut padded = eicar.clone();
        padded.extend_from_slice(b"\r\n\t  \x1a");
        padded.resize(128, b' ');
        assert_eq!(run(&engine, &padded, 7), infected(EICAR_NAME));

        // 129 bytes: longer than the spec allows, still found as embedded.
        let mut long = padded.clone();
        long.push(b' ');
        assert_eq!(run(&engine, &long, 1 << 20), infected(EICAR_EMBEDDED_NAME));

        // Non-whitespace padding.
        let mut junk = eicar.clone();
        junk.extend_from_slice(b"junk");
        assert_eq!(run(&engine, &junk, 1 << 20), infected(EICAR_EMBEDDED_NAME));

        // In the middle of a large stream, split across every chunk size.
        let mut embedded = vec![b'A'; 3000];
        embedded.extend_from_slice(&eicar);
        embedded.extend_from_slice(&[b'B'; 3000]);
        for chunk in [1, 2, 13, 67, 68, 69, 1000, 3001, 3050, 1 << 20] {
            assert_eq!(
                run(&engine, &embedded, chunk),
                infected(EICAR_EMBEDDED_NAME),
                "chunk {chunk}"
            );
        }

        // Almost EICAR.
        let mut almost = eicar.clone();
        almost[30] ^= 1;
        assert_eq!(run(&engine, &almost, 5), EngineResult::Clean);
        assert_eq!(run(&engine, b"", 5), EngineResult::Clean);
    }

    #[test]
    fn eicar_can_be_switched_off() {
        let engine = BuiltinEngine::load(&BuiltinConfig {
            eicar: false,
            ..BuiltinConfig::default()
        })
        .expect("load");
        assert_eq!(run(&engine, &eicar_test_string(), 100), EngineResult::Clean);
    }

    #[test]
    fn deny_list_parses_labels_comments_and_refuses_junk() {
        let bad = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85";
        let good = format!("{bad}5");
        let text = format!("# comment\n\n{good}  empty.txt\n{}\n", "AB".repeat(32));
        let deny = parse_deny_list(&text).expect("parse");
        assert_eq!(deny.len(), 2);
        assert_eq!(
            deny.get(&[0xab; 32]).map(String::as_str),
            Some("DenyList.abababababababab")
        );
        let err = parse_deny_list(&format!("{good}\n{bad}\n")).expect_err("short digest");
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn deny_list_hit_uses_the_stream_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("deny.txt");
        let bad = b"a file the organisation has banned";
        let hex = hex::encode(Sha256::digest(bad));
        std::fs::write(&list, format!("# banned\n{hex} banned-tool.exe\n")).expect("write");
        let engine = BuiltinEngine::load(&BuiltinConfig {
            deny_list: Some(list),
            ..BuiltinConfig::default()
        })
        .expect("load");
        assert_eq!(run(&engine, bad, 3), infected("DenyList.banned-tool.exe"));
        assert_eq!(run(&engine, b"another file", 3), EngineResult::Clean);
        let info = engine.info().expect("info");
        assert!(info.signatures_updated.is_some());
        assert!(
            info.version.contains("1 deny-listed digests"),
            "{}",
            info.version
        );
    }

    fn rules_engine(rules: &str) -> Result<BuiltinEngine> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("test.yar"), rules).expect("write");
        std::fs::write(dir.path().join("ignored.txt"), "not a rule").expect("write");
        BuiltinEngine::load(&BuiltinConfig {
            rules_dir: Some(dir.path().to_path_buf()),
            ..BuiltinConfig::default()
        })
    }

    #[test]
    fn yara_rule_hits_across_windows_and_chunks() {
        let engine = rules_engine(
            r#"rule Sekisho_Test { strings: $a = "sekisho-yara-test-marker" condition: $a }"#,
        )
        .expect("rules compile");
        assert_eq!(engine.rule_count(), 1);
        let marker = b"sekisho-yara-test-marker";
        assert_eq!(
            run(&engine, b"xx sekisho-yara-test-marker yy", 4),
            infected("YARA.Sekisho_Test")
        );
        assert_eq!(run(&engine, b"nothing here", 4), EngineResult::Clean);

        // Straddling the first window boundary, and in the last window.
        for at in [
            YARA_WINDOW - 10,
            YARA_WINDOW - YARA_OVERLAP + 3,
            2 * YARA_WINDOW,
        ] {
            let mut big = vec![0u8; 2 * YARA_WINDOW + 1000];
            big[at..at + marker.len()].copy_from_slice(marker);
            assert_eq!(
                run(&engine, &big, 1 << 20),
                infected("YARA.Sekisho_Test"),
                "at {at}"
            );
        }
        let clean = vec![0u8; 2 * YARA_WINDOW + 1000];
        assert_eq!(run(&engine, &clean, 1 << 20), EngineResult::Clean);
    }

    #[test]
    fn yara_conditions_see_the_whole_small_file() {
        let engine = rules_engine(
            "rule Tiny_MZ { condition: filesize < 100 and uint16(0) == 0x5A4D }\n\
             rule Empty { condition: filesize == 0 }",
        )
        .expect("rules compile");
        assert_eq!(run(&engine, b"MZ\x90\x00", 1), infected("YARA.Tiny_MZ"));
        assert_eq!(run(&engine, b"", 1), infected("YARA.Empty"));
        assert_eq!(run(&engine, b"ZM", 1), EngineResult::Clean);
    }

    #[test]
    fn yara_compile_errors_are_load_errors() {
        let err = rules_engine("rule Broken { condition: $nope }").expect_err("must not load");
        assert!(format!("{err:#}").contains("test.yar"), "{err:#}");
        let missing = BuiltinEngine::load(&BuiltinConfig {
            rules_dir: Some(PathBuf::from("/nonexistent/rules")),
            ..BuiltinConfig::default()
        });
        assert!(missing.is_err());
    }
}
