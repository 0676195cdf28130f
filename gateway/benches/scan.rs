//! Scan throughput: `cargo bench -p sekisho-gateway --bench scan`.
//!
//! Measures, on files the bench writes (random bytes, so nothing compresses
//! and nothing matches):
//! - the built-in engine (EICAR, a one-digest deny-list, one YARA rule) on a
//!   1 GiB file and on a zip of 200 stored members of 2 MiB;
//! - clamd INSTREAM through the same scanner, and `clamdscan --stream`, on
//!   the same files, when clamd is installed (a private clamd with a
//!   one-line signature database and its cache off);
//! - this process's peak resident memory (VmHWM) during each phase.
//!
//! `SEKISHO_SCAN_BENCH_MIB` changes the large file's size (default 1024),
//! `SEKISHO_SCAN_BENCH_RUNS` the runs per measurement (default 3, median
//! reported), `SEKISHO_SCAN_BENCH_DIR` where the files go.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sekisho_gateway::scan::{
    BuiltinConfig, BuiltinEngine, ClamdConfig, ClamdEngine, Engine, Limits, Report, Scanner,
    Verdict,
};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: fast, deterministic, incompressible enough for a scanner.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn write_random(path: &Path, bytes: u64, noise: &mut Noise) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create bench file"));
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        noise.fill(&mut buf[..n]);
        out.write_all(&buf[..n]).expect("write bench file");
        left -= n as u64;
    }
    out.flush().expect("flush");
}

fn write_zip(path: &Path, members: usize, member_bytes: usize, noise: &mut Noise) {
    let file = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let mut buf = vec![0u8; member_bytes];
    for i in 0..members {
        noise.fill(&mut buf);
        zip.start_file(format!("data/part-{i:03}.bin"), options)
            .expect("zip entry");
        zip.write_all(&buf).expect("zip write");
    }
    zip.finish().expect("zip finish");
}

fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so each phase reports
/// its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> f64 {
    proc_status("VmHWM:").map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

struct Measured {
    median: Duration,
    report: Report,
    peak_mib: f64,
}

fn measure(runs: u64, mut scan: impl FnMut() -> Report) -> Measured {
    reset_peak();
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let r = scan();
        times.push(start.elapsed());
        report = Some(r);
    }
    times.sort();
    Measured {
        median: times[times.len() / 2],
        report: report.expect("at least one run"),
        peak_mib: peak_mib(),
    }
}

fn line(what: &str, file: &str, bytes: u64, m: &Measured) {
    let secs = m.median.as_secs_f64();
    println!(
        "{what:<22} {file:<24} {:>9.1} MiB {:>8.3} s {:>9.1} MB/s  peak RSS {:>7.1} MiB  verdict: {}",
        bytes as f64 / (1 << 20) as f64,
        secs,
        bytes as f64 / 1e6 / secs,
        m.peak_mib,
        m.report.verdict,
    );
    if !matches!(m.report.verdict, Verdict::Clean) {
        println!("    (not clean: {:?})", m.report.findings.first());
    }
}

struct Clamd {
    child: Child,
    conf: PathBuf,
    socket: PathBuf,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_clamd(dir: &Path) -> Option<Clamd> {
    let binary = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
    let db = dir.join("clamd-db");
    let tmp = dir.join("clamd-tmp");
    std::fs::create_dir_all(&db).ok()?;
    std::fs::create_dir_all(&tmp).ok()?;
    std::fs::write(
        db.join("bench.ndb"),
        format!(
            "Sekisho.Bench.Body:0:*:{}\n",
            hex::encode("SEKISHO-BENCH-MARKER")
        ),
    )
    .ok()?;
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\nTemporaryDirectory {}\nLogFile {}\n\
             OfficialDatabaseOnly false\nForeground true\nSelfCheck 0\nBytecode false\n\
             AlertExceedsMax true\nDisableCache yes\n\
             StreamMaxLength 4000M\nMaxScanSize 4000M\nMaxFileSize 4000M\n",
            socket.display(),
            db.display(),
            tmp.display(),
            dir.join("clamd.log").display(),
        ),
    )
    .ok()?;
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let clamd = Clamd {
        child,
        conf,
        socket,
    };
    let engine = clamd_engine(&clamd);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if engine.command("PING").is_ok_and(|r| r == "PONG") {
            return Some(clamd);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "clamd did not start; see {}",
        dir.join("clamd.log").display()
    );
    None
}

fn clamd_engine(clamd: &Clamd) -> ClamdEngine {
    ClamdEngine::from_config(&ClamdConfig {
        address: clamd.socket.display().to_string(),
        reply_timeout_seconds: 3600,
        ..ClamdConfig::default()
    })
    .expect("clamd engine")
}

fn clamdscan(clamd: &Clamd, file: &Path) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("clamdscan")
        .arg(format!("--config-file={}", clamd.conf.display()))
        .args(["--stream", "--no-summary"])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    let elapsed = start.elapsed();
    // 0: clean; anything else means the figure is not a clean scan.
    status.success().then_some(elapsed)
}

fn main() {
    let mib = env_num("SEKISHO_SCAN_BENCH_MIB", 1024);
    let runs = env_num("SEKISHO_SCAN_BENCH_RUNS", 3);
    let base = std::env::var_os("SEKISHO_SCAN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("bench dir");
    let big = dir.path().join("random.bin");
    let zip = dir.path().join("members.zip");
    let big_bytes = mib << 20;
    let mut noise = Noise(0x5eed_5eed_1234_5678);
    write_random(&big, big_bytes, &mut noise);
    write_zip(&zip, 200, 2 << 20, &mut noise);
    let zip_bytes = std::fs::metadata(&zip).expect("zip size").len();

    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("rules dir");
    std::fs::write(
        rules.join("bench.yar"),
        "rule Sekisho_Bench { strings: $a = \"SEKISHO-BENCH-MARKER\" condition: $a }\n",
    )
    .expect("rule");
    let deny = dir.path().join("deny.txt");
    std::fs::write(&deny, format!("{} bench-digest\n", "ab".repeat(32))).expect("deny-list");
    let builtin = BuiltinEngine::load(&BuiltinConfig {
        rules_dir: Some(rules),
        deny_list: Some(deny),
        ..BuiltinConfig::default()
    })
    .expect("built-in engine");
    println!(
        "scan bench: {} run(s) per line, median; files in {}; {}",
        runs,
        base.display(),
        builtin.info().map(|i| i.version).unwrap_or_default()
    );
    let scanner = Scanner::new(
        vec![Box::new(builtin)],
        Limits::default(),
        dir.path().to_path_buf(),
    );

    let m = measure(runs, || scanner.scan_path(&big));
    line("builtin", &format!("random {mib} MiB"), big_bytes, &m);
    let m = measure(runs, || scanner.scan_path(&zip));
    line("builtin", "zip 200 x 2 MiB stored", zip_bytes, &m);
    println!("    ({} members scanned)", m.report.members);

    match start_clamd(dir.path()) {
        None => println!("clamd: not installed or did not start; clamd figures skipped"),
        Some(clamd) => {
            let only_clamd = Scanner::new(
                vec![Box::new(clamd_engine(&clamd))],
                Limits::default(),
                dir.path().to_path_buf(),
            );
            // clamd is slow (about 50 MB/s): one run each.
            let m = measure(1, || only_clamd.scan_path(&big));
            line(
                "clamd INSTREAM",
                &format!("random {mib} MiB"),
                big_bytes,
                &m,
            );
            let m = measure(1, || only_clamd.scan_path(&zip));
            line("clamd INSTREAM", "zip 200 x 2 MiB stored", zip_bytes, &m);
            for (file, label, bytes) in [
                (&big, format!("random {mib} MiB"), big_bytes),
                (&zip, "zip 200 x 2 MiB stored".to_string(), zip_bytes),
            ] {
                match clamdscan(&clamd, file) {
                    Some(t) => println!(
                        "{:<22} {label:<24} {:>9.1} MiB {:>8.3} s {:>9.1} MB/s",
                        "clamdscan --stream",
                        bytes as f64 / (1 << 20) as f64,
                        t.as_secs_f64(),
                        bytes as f64 / 1e6 / t.as_secs_f64()
                    ),
                    None => println!("clamdscan --stream {label}: failed or not installed"),
                }
            }
        }
    }
    println!(
        "process peak RSS over the whole bench (VmHWM after the last reset): {:.1} MiB",
        peak_mib()
    );
}
