//! Scanner and archive-walker tests: every archive is built by the test, in
//! memory, so nothing depends on fixture files or on the network.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use super::builtin::{EICAR_EMBEDDED_NAME, EICAR_NAME, eicar_test_string};
use super::*;

fn eicar() -> Vec<u8> {
    eicar_test_string().to_vec()
}

fn builtin_scanner(dir: &Path, limits: Limits) -> Scanner {
    Scanner::new(
        vec![Box::new(BuiltinEngine::eicar_only())],
        limits,
        dir.to_path_buf(),
    )
}

fn scan(bytes: &[u8]) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    builtin_scanner(dir.path(), Limits::default()).scan_reader(bytes, Some(bytes.len() as u64))
}

fn assert_infected(report: &Report, signature: &str, location: Option<&str>) {
    match &report.verdict {
        Verdict::Infected {
            engine,
            signature: s,
        } => {
            assert_eq!(engine, "builtin");
            assert_eq!(s, signature, "{report:#?}");
        }
        other => panic!("expected infected, got {other:?}: {report:#?}"),
    }
    assert_eq!(report.location.as_deref(), location, "{report:#?}");
}

fn assert_unscanned(report: &Report, reason_part: &str) {
    match &report.verdict {
        Verdict::Unscanned { reason } => {
            assert!(reason.contains(reason_part), "{reason:?}: {report:#?}")
        }
        other => panic!("expected unscanned ({reason_part}), got {other:?}: {report:#?}"),
    }
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        zip.start_file(*name, options).expect("start_file");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn deflated_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_of(entries, zip::CompressionMethod::Deflated)
}

/// A tar with raw names: tar-rs refuses `..` through `set_path`, and the
/// point is to see what a hostile archive does.
fn tar_of(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.into_inner().expect("tar")
}

fn gzip_of(bytes: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut builder = flate2::GzBuilder::new();
    if let Some(name) = name {
        builder = builder.filename(name);
    }
    let mut gz = builder.write(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

#[test]
fn clean_file_is_clean_with_digest_and_size() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let report = scan(&data);
    assert_eq!(report.verdict, Verdict::Clean, "{report:#?}");
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&data)));
    assert_eq!(report.size, data.len() as u64);
    assert_eq!(report.members, 0);
    assert!(report.findings.is_empty());
    assert_eq!(report.engines.len(), 1);
    assert_eq!(report.engines[0].verdict, Verdict::Clean);

    let empty = scan(b"");
    assert_eq!(empty.verdict, Verdict::Clean);
    assert_eq!(empty.sha256, hex::encode(Sha256::digest(b"")));
}

#[test]
fn eicar_plain_renamed_padded_embedded() {
    // Names never reach the scanner: "eicar.pdf" is the same bytes.
    assert_infected(&scan(&eicar()), EICAR_NAME, None);

    let mut padded = eicar();
    padded.extend_from_slice(b"    \r\n\t\x1a");
    assert_infected(&scan(&padded), EICAR_NAME, None);

    let mut embedded = b"%PDF-1.7 a document that carries the test string: ".to_vec();
    embedded.extend_from_slice(&eicar());
    embedded.extend_from_slice(&[b'x'; 10_000]);
    assert_infected(&scan(&embedded), EICAR_EMBEDDED_NAME, None);
}

#[test]
fn eicar_inside_zip_is_found_in_the_member() {
    let zip = deflated_zip(&[("readme.txt", b"hello"), ("eicar.com", &eicar())]);
    let report = scan(&zip);
    assert_infected(&report, EICAR_NAME, Some("eicar.com"));
    assert_eq!(report.members, 2);
    assert_eq!(report.engines[0].streams, 3);

    // Stored: the outer stream carries the string too; the member finding
    // (innermost) decides the location.
    let stored = zip_of(&[("eicar.com", &eicar())], zip::CompressionMethod::Stored);
    let report = scan(&stored);
    assert_infected(&report, EICAR_NAME, Some("eicar.com"));
    assert_eq!(report.findings.len(), 2, "{report:#?}");
}

#[test]
fn eicar_in_zip_in_tar_gz_at_depth_three() {
    let inner = deflated_zip(&[("eicar.com", &eicar())]);
    let tar = tar_of(&[(b"docs/notes.txt", b"notes"), (b"docs/inner.zip", &inner)]);
    let tgz = gzip_of(&tar, Some("bundle.tar"));
    let report = scan(&tgz);
    assert_infected(
        &report,
        EICAR_NAME,
        Some("bundle.tar > docs/inner.zip > eicar.com"),
    );
    // gzip content, two tar entries, one zip entry.
    assert_eq!(report.members, 4);
}

#[test]
fn nesting_beyond_the_depth_bound_is_unscanned() {
    let mut nested = deflated_zip(&[("eicar.com", &eicar())]);
    for level in 0..3 {
        nested = deflated_zip(&[(&format!("level{level}.zip"), &nested)]);
    }
    // zip > zip > zip > zip > eicar.com: the fourth zip is not opened.
    let report = scan(&nested);
    assert_unscanned(&report, "nested deeper than 3 levels");
    assert_eq!(
        report.location.as_deref(),
        Some("level2.zip > level1.zip > level0.zip")
    );

    // The same file with a higher bound is opened to the end.
    let dir = tempfile::tempdir().expect("tempdir");
    let scanner = builtin_scanner(
        dir.path(),
        Limits {
            max_depth: 4,
            ..Limits::default()
        },
    );
    let report = scanner.scan_reader(&nested[..], None);
    assert_infected(
        &report,
        EICAR_NAME,
        Some("level2.zip > level1.zip > level0.zip > eicar.com"),
    );
}

/// 200 MB of zeros, deflated by the test.
fn zeros_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("zeros.bin", options).expect("start");
    let block = vec![0u8; 1 << 20];
    for _ in 0..200 {
        zip.write_all(&block).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

#[test]
fn zip_bomb_is_unscanned_by_ratio() {
    let bomb = zeros_zip();
    assert!(bomb.len() < 1 << 20, "compressed to {} bytes", bomb.len());
    let report = scan(&bomb);
    assert_unscanned(&report, "expands more than 100:1");
    assert_eq!(report.location.as_deref(), Some("zeros.bin"));
    // The input itself was still read completely.
    assert_eq!(report.size, bomb.len() as u64);
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&bomb)));

    // The same as a .gz, streamed rather than spilled.
    let gz = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let block = vec![0u8; 1 << 20];
        for _ in 0..200 {
            gz.write_all(&block).expect("gzip");
        }
        gz.finish().expect("gzip")
    };
    let report = scan(&gz);
    assert_unscanned(&report, "expands more than 100:1");
    assert_eq!(report.size, gz.len() as u64);
}

#[test]
fn entry_count_and_total_size_bounds() {
    let names: Vec<String> = (0..6).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"data"[..])).collect();
    let zip = deflated_zip(&entries);
    let dir = tempfile::tempdir().expect("tempdir");
    let few = builtin_scanner(
        dir.path(),
        Limits {
            max_entries: 5,
            ..Limits::default()
        },
    );
    assert_unscanned(
        &few.scan_reader(&zip[..], None),
        "more than 5 archive entries",
    );

    let small = builtin_scanner(
        dir.path(),
        Limits {
            max_expanded_bytes: 1000,
            ..Limits::default()
        },
    );
    let big = vec![b'z'; 5000];
    let tar = tar_of(&[(b"big.txt", &big)]);
    assert_unscanned(&small.scan_reader(&tar[..], None), "more than 1000 bytes");
}

/// A zip with one ZipCrypto-encrypted entry, and optionally an EICAR
/// sibling in the clear.
fn encrypted_zip(with_eicar: bool) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let secret = SimpleFileOptions::default()
        .with_deprecated_encryption(b"password")
        .expect("zipcrypto");
    zip.start_file("secret.txt", secret).expect("start");
    zip.write_all(b"what is in here cannot be known")
        .expect("write");
    if with_eicar {
        zip.start_file("eicar.com", SimpleFileOptions::default())
            .expect("start");
        zip.write_all(&eicar()).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

#[test]
fn encrypted_zip_is_unscanned_but_siblings_are_scanned() {
    let report = scan(&encrypted_zip(false));
    assert_unscanned(&report, "encrypted zip entry");
    assert_eq!(report.location.as_deref(), Some("secret.txt"));

    let report = scan(&encrypted_zip(true));
    assert_infected(&report, EICAR_NAME, Some("eicar.com"));
    assert!(report.findings.iter().any(|f| f.verdict.is_unscanned()));
}

#[test]
fn deny_list_and_yara_hits_inside_archives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let banned = b"a tool the organisation has banned";
    let deny = dir.path().join("deny.txt");
    std::fs::write(
        &deny,
        format!("{} banned-tool\n", hex::encode(Sha256::digest(banned))),
    )
    .expect("write");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(
        rules.join("test.yar"),
        r#"rule Sekisho_Marker { strings: $m = "sekisho-marker" condition: $m }"#,
    )
    .expect("write");
    let config = ScanConfig {
        builtin: BuiltinConfig {
            rules_dir: Some("rules".into()),
            deny_list: Some("deny.txt".into()),
            ..BuiltinConfig::default()
        },
        ..ScanConfig::default()
    };
    let scanner = Scanner::from_config(&config, dir.path()).expect("scanner");

    let tar = tar_of(&[(b"ok.txt", b"fine"), (b"tools/banned.exe", banned)]);
    let report = scanner.scan_reader(&tar[..], None);
    assert_infected(&report, "DenyList.banned-tool", Some("tools/banned.exe"));

    let zip = deflated_zip(&[("doc.txt", b"... sekisho-marker ...")]);
    let report = scanner.scan_reader(&zip[..], None);
    assert_infected(&report, "YARA.Sekisho_Marker", Some("doc.txt"));

    let clean = deflated_zip(&[("doc.txt", b"nothing to see")]);
    assert_eq!(
        scanner.scan_reader(&clean[..], None).verdict,
        Verdict::Clean
    );

    let status = scanner.status(now());
    assert_eq!(status.len(), 1);
    assert!(
        status[0]
            .version
            .as_deref()
            .is_some_and(|v| v.contains("1 YARA rules"))
    );
    assert!(status[0].signatures_updated.is_some() && !status[0].stale);
    let later = scanner.status(now() + time::Duration::days(3));
    assert!(later[0].stale);
}

#[test]
fn hostile_member_names_are_display_strings_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scanner = builtin_scanner(dir.path(), Limits::default());
    let tar = tar_of(&[(b"../../../../tmp/sekisho-pwned", &eicar())]);
    let report = scanner.scan_reader(&tar[..], None);
    assert_infected(&report, EICAR_NAME, Some("../../../../tmp/sekisho-pwned"));
    assert!(!Path::new("/tmp/sekisho-pwned").exists());

    let zip = deflated_zip(&[("evil\x1b[2J\r\n\u{202e}txt.exe", &eicar())]);
    let report = scanner.scan_reader(&zip[..], None);
    assert_infected(
        &report,
        EICAR_NAME,
        Some("evil\\u{1b}[2J\\u{d}\\u{a}\\u{202e}txt.exe"),
    );
    // The zip spill file is unnamed: nothing is left in (or was named in)
    // the temporary directory.
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn corrupt_and_truncated_archives_are_unscanned() {
    let mut fake_zip = b"PK\x03\x04".to_vec();
    fake_zip.extend_from_slice(&[0x55; 300]);
    assert_unscanned(&scan(&fake_zip), "corrupt zip archive");

    let tgz = gzip_of(&tar_of(&[(b"a.txt", &[b'a'; 20_000])]), None);
    let truncated = &tgz[..tgz.len() / 2];
    assert_unscanned(&scan(truncated), "cannot read");

    let mut tar = tar_of(&[(b"a.txt", b"aaaa")]);
    tar[100] ^= 0xff; // breaks the header checksum
    assert_unscanned(&scan(&tar), "corrupt tar archive");
}

#[test]
fn bytes_after_an_archive_end_are_scanned() {
    let mut tar = tar_of(&[(b"a.txt", b"harmless")]);
    tar.extend_from_slice(&eicar());
    assert_infected(&scan(&tar), EICAR_EMBEDDED_NAME, None);
}

#[test]
fn unsupported_archive_formats() {
    let mut seven = b"7z\xbc\xaf\x27\x1c".to_vec();
    seven.extend_from_slice(&[0; 100]);
    assert_unscanned(&scan(&seven), "7z archives are not opened");
    let dir = tempfile::tempdir().expect("tempdir");
    let lenient = builtin_scanner(
        dir.path(),
        Limits {
            unsupported_archives_unscanned: false,
            ..Limits::default()
        },
    );
    assert_eq!(
        lenient.scan_reader(&seven[..], None).verdict,
        Verdict::Clean
    );
}

struct FailingReader {
    left: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(b'a');
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn input_errors_and_short_inputs_are_unscanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scanner = builtin_scanner(dir.path(), Limits::default());
    let report = scanner.scan_reader(FailingReader { left: 1000 }, None);
    assert_unscanned(&report, "reading the input failed: disk on fire");
    assert_eq!(report.size, 1000);

    let report = scanner.scan_reader(&b"short"[..], Some(10));
    assert_unscanned(&report, "5 bytes where 10 were expected");

    let missing = scanner.scan_path(&dir.path().join("missing"));
    assert_unscanned(&missing, "cannot open");
}

/// An engine with a fixed answer, to check how results combine.
struct Fixed {
    name: &'static str,
    result: EngineResult,
}

impl Engine for Fixed {
    fn name(&self) -> &str {
        self.name
    }
    fn info(&self) -> anyhow::Result<EngineInfo> {
        anyhow::bail!("not reachable")
    }
    fn scans_members(&self) -> bool {
        false
    }
    fn start(&self) -> Box<dyn EngineSession + '_> {
        Box::new(FixedSession(self.result.clone()))
    }
}

struct FixedSession(EngineResult);

impl EngineSession for FixedSession {
    fn update(&mut self, _chunk: &[u8]) {}
    fn finish(self: Box<Self>, _digest: &StreamDigest) -> EngineResult {
        self.0
    }
}

#[test]
fn every_engine_must_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with = |result: EngineResult| {
        Scanner::new(
            vec![
                Box::new(BuiltinEngine::eicar_only()),
                Box::new(Fixed {
                    name: "other",
                    result,
                }),
            ],
            Limits::default(),
            dir.path().to_path_buf(),
        )
    };
    let failing = with(EngineResult::Unscanned {
        reason: "time-out".into(),
    });
    let report = failing.scan_reader(&b"clean bytes"[..], None);
    assert_unscanned(&report, "other: time-out");
    assert_eq!(report.engines[0].verdict, Verdict::Clean);
    assert!(report.engines[1].verdict.is_unscanned());
    // An infection found by another engine outranks a failure.
    let report = failing.scan_reader(&eicar()[..], None);
    assert_infected(&report, EICAR_NAME, None);

    let detecting = with(EngineResult::Infected {
        signature: "Other.Sig".into(),
    });
    let report = detecting.scan_reader(&b"clean bytes"[..], None);
    assert_eq!(
        report.verdict,
        Verdict::Infected {
            engine: "other".into(),
            signature: "Other.Sig".into()
        }
    );

    // Members go only to engines that scan members; the other one sees the
    // outer file once.
    let zip = deflated_zip(&[("a.txt", b"a"), ("b.txt", b"b")]);
    let report = with(EngineResult::Clean).scan_reader(&zip[..], None);
    assert_eq!(report.verdict, Verdict::Clean);
    assert_eq!(
        (report.engines[0].streams, report.engines[1].streams),
        (3, 1)
    );

    let status = failing.status(now());
    assert!(
        status[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not reachable"))
    );
}

#[test]
fn no_engine_is_unscanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scanner = Scanner::new(Vec::new(), Limits::default(), dir.path().to_path_buf());
    assert_unscanned(&scanner.scan_reader(&b"x"[..], None), "no scan engine");
}

#[test]
fn report_serialises_for_the_gateway() {
    let report = scan(&eicar());
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["verdict"]["verdict"], "infected");
    assert_eq!(json["verdict"]["signature"], EICAR_NAME);
    let back: Report = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, report);
}

#[test]
fn scanner_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Scanner>();
    shared::<Report>();
}

/// Signature ages are measured against files just written, so these tests
/// need the real time.
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
