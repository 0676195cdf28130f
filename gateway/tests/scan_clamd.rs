//! The clamd engine against a real clamd (Debian's `clamav-daemon`). Each
//! test starts its own daemon in a temporary directory with a configuration
//! and a signature database written here: Debian ships no signatures and
//! freshclam has no network, so the tests bring a body signature (`.ndb`)
//! and an MD5 signature (`.hdb`) of their own. clamd reports them with a
//! `.UNOFFICIAL` suffix.
//!
//! Without `clamd` installed the tests print why they skipped, unless `CI`
//! is set: CI must install it (`apt-get install -y clamav-daemon`), so
//! there a missing clamd fails the test instead of hiding it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sekisho_gateway::scan::clamd::parse_version;
use sekisho_gateway::scan::{
    BuiltinEngine, ClamdConfig, ClamdEngine, Engine, IcapConfig, IcapEngine, Limits, Scanner,
    Verdict,
};

const BODY_MARKER: &[u8] = b"SEKISHO-CLAMD-TEST-SIGNATURE-7f3a";
const HASHED_FILE: &[u8] = b"a file clamd knows by its MD5 only\n";

fn clamd_binary() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("clamd"))
            .find(|p| p.is_file())
    });
    in_path.or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/clamd");
        sbin.is_file().then_some(sbin)
    })
}

/// The clamd binary, or `None` after saying why the test is skipped.
fn require_clamd() -> Option<PathBuf> {
    match clamd_binary() {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("clamd is not installed; CI must run `apt-get install -y clamav-daemon`")
        }
        None => {
            eprintln!(
                "skipped: clamd is not installed (apt-get install -y clamav-daemon to run this test)"
            );
            None
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    let out = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("stdin").write_all(data)?;
            child.wait_with_output()
        })
        .expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("md5sum output")
        .to_string()
}

struct Clamd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    tcp: String,
}

impl Clamd {
    fn start(binary: &Path, stream_max_length: &str) -> Clamd {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&db).expect("db dir");
        std::fs::create_dir(&tmp).expect("tmp dir");
        std::fs::write(
            db.join("sekisho.ndb"),
            format!("Sekisho.Test.Body:0:*:{}\n", hex::encode(BODY_MARKER)),
        )
        .expect("ndb");
        std::fs::write(
            db.join("sekisho.hdb"),
            format!(
                "{}:{}:Sekisho.Test.Hash\n",
                md5_hex(HASHED_FILE),
                HASHED_FILE.len()
            ),
        )
        .expect("hdb");
        // A free loopback port (released before clamd binds it; a clash
        // makes clamd fail loudly below).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let socket = dir.path().join("clamd.sock");
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "LocalSocket {socket}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
                 DatabaseDirectory {db}\nTemporaryDirectory {tmp}\nLogFile {log}\n\
                 OfficialDatabaseOnly false\nForeground true\nSelfCheck 0\nBytecode false\n\
                 AlertExceedsMax true\nDisableCache yes\n\
                 StreamMaxLength {stream_max_length}\nMaxScanSize 400M\nMaxFileSize 200M\n",
                socket = socket.display(),
                db = db.display(),
                tmp = tmp.display(),
                log = dir.path().join("clamd.log").display(),
            ),
        )
        .expect("conf");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clamd");
        let mut clamd = Clamd {
            child: Some(child),
            dir,
            tcp: format!("127.0.0.1:{port}"),
        };
        clamd.wait_ready();
        clamd
    }

    fn socket(&self) -> String {
        self.dir.path().join("clamd.sock").display().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let unix = self.engine(&self.socket(), false);
        let tcp = self.engine(&self.tcp.clone(), false);
        loop {
            let ping = |e: &ClamdEngine| e.command("PING").map(|r| r == "PONG").unwrap_or(false);
            if ping(&unix) && ping(&tcp) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("clamd exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "clamd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn engine(&self, address: &str, scan_members: bool) -> ClamdEngine {
        ClamdEngine::from_config(&ClamdConfig {
            address: address.into(),
            reply_timeout_seconds: 60,
            scan_members,
            ..ClamdConfig::default()
        })
        .expect("clamd engine")
    }

    fn scanner(&self, address: &str) -> Scanner {
        Scanner::new(
            vec![
                Box::new(BuiltinEngine::eicar_only()),
                Box::new(self.engine(address, false)),
            ],
            Limits::default(),
            self.dir.path().to_path_buf(),
        )
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn infected_by_clamd(verdict: &Verdict) -> Option<&str> {
    match verdict {
        Verdict::Infected { engine, signature } if engine == "clamd" => Some(signature),
        _ => None,
    }
}

fn zip_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(name, zip::write::SimpleFileOptions::default())
        .expect("start");
    zip.write_all(data).expect("write");
    zip.finish().expect("finish").into_inner()
}

#[test]
fn scan_clean_and_infected_over_unix_and_tcp() {
    let Some(binary) = require_clamd() else {
        return;
    };
    let clamd = Clamd::start(&binary, "200M");
    let mut infected = vec![b'.'; 100_000];
    infected.extend_from_slice(BODY_MARKER);
    infected.extend_from_slice(&[b'.'; 100_000]);
    let clean: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();

    for address in [clamd.socket(), clamd.tcp.clone()] {
        let scanner = clamd.scanner(&address);
        let report = scanner.scan_reader(&clean[..], Some(clean.len() as u64));
        assert_eq!(report.verdict, Verdict::Clean, "{address}: {report:#?}");
        assert_eq!(report.engines[1].verdict, Verdict::Clean);

        let report = scanner.scan_reader(&infected[..], None);
        assert_eq!(
            infected_by_clamd(&report.verdict),
            Some("Sekisho.Test.Body.UNOFFICIAL"),
            "{address}: {report:#?}"
        );

        let report = scanner.scan_reader(HASHED_FILE, None);
        assert_eq!(
            infected_by_clamd(&report.verdict),
            Some("Sekisho.Test.Hash.UNOFFICIAL"),
            "{address}: {report:#?}"
        );
    }

    // clamd opens the zip itself (it gets the file as uploaded only).
    let scanner = clamd.scanner(&clamd.socket());
    let zip = zip_with("inner/marker.bin", &infected);
    let report = scanner.scan_reader(&zip[..], None);
    assert_eq!(
        infected_by_clamd(&report.verdict),
        Some("Sekisho.Test.Body.UNOFFICIAL"),
        "{report:#?}"
    );
    assert_eq!(report.engines[1].streams, 1);

    // With scan_members, every member is a stream of its own as well.
    let members = Scanner::new(
        vec![Box::new(clamd.engine(&clamd.socket(), true))],
        Limits::default(),
        clamd.dir.path().to_path_buf(),
    );
    let report = members.scan_reader(&zip[..], None);
    assert_eq!(report.engines[0].streams, 2);
    assert!(report.verdict.is_infected(), "{report:#?}");
}

#[test]
fn scan_engine_version_and_signature_date() {
    let Some(binary) = require_clamd() else {
        return;
    };
    let clamd = Clamd::start(&binary, "200M");
    let engine = clamd.engine(&clamd.socket(), false);
    let reply = engine.command("VERSION").expect("VERSION");
    assert!(reply.starts_with("ClamAV 1."), "{reply:?}");
    let info = parse_version(&reply).expect("parse VERSION");
    assert!(info.version.starts_with("ClamAV 1."), "{info:?}");
    let status = clamd
        .scanner(&clamd.socket())
        .status(sekisho_gateway::clock::Clock::System.now());
    assert_eq!(status[1].engine, "clamd");
    assert_eq!(status[1].error, None, "{status:#?}");
    assert_eq!(status[1].version.as_deref(), Some(info.version.as_str()));
    eprintln!("clamd VERSION: {reply:?} -> {status:?}");
}

/// Yields `total` bytes; after `stop_after` bytes it runs `stop` once (kills
/// clamd) and goes on, as an upload would.
struct StopMidway<F: FnMut()> {
    sent: usize,
    total: usize,
    stop_after: usize,
    stop: Option<F>,
}

impl<F: FnMut()> Read for StopMidway<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.sent >= self.stop_after
            && let Some(mut stop) = self.stop.take()
        {
            stop();
        }
        let n = buf.len().min(self.total - self.sent).min(64 << 10);
        buf[..n].fill(b'q');
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn scan_with_clamd_stopped_mid_run_is_unscanned() {
    let Some(binary) = require_clamd() else {
        return;
    };
    let mut clamd = Clamd::start(&binary, "200M");
    let socket = clamd.socket();
    let scanner = clamd.scanner(&socket);
    let child = clamd.child.take().expect("clamd running");
    let child = std::cell::RefCell::new(Some(child));
    let reader = StopMidway {
        sent: 0,
        total: 64 << 20,
        stop_after: 8 << 20,
        stop: Some(|| {
            if let Some(mut c) = child.borrow_mut().take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }),
    };
    let report = scanner.scan_reader(reader, Some(64 << 20));
    match &report.verdict {
        Verdict::Unscanned { reason } => assert!(reason.starts_with("clamd: "), "{reason}"),
        other => panic!("expected Unscanned, got {other:?}: {report:#?}"),
    }
    assert_eq!(report.engines[0].verdict, Verdict::Clean);
    assert_eq!(report.size, 64 << 20);

    // And with clamd gone, the next file is not released either.
    let report = scanner.scan_reader(&b"harmless"[..], None);
    match &report.verdict {
        Verdict::Unscanned { reason } => assert!(reason.contains("cannot connect"), "{reason}"),
        other => panic!("expected Unscanned, got {other:?}"),
    }
    assert!(
        scanner.status(sekisho_gateway::clock::Clock::System.now())[1]
            .error
            .is_some()
    );
}

#[test]
fn scan_over_stream_size_limit_is_unscanned() {
    let Some(binary) = require_clamd() else {
        return;
    };
    let clamd = Clamd::start(&binary, "1M");
    let scanner = clamd.scanner(&clamd.socket());
    let big = vec![b'z'; 3 << 20];
    let report = scanner.scan_reader(&big[..], None);
    match &report.verdict {
        Verdict::Unscanned { reason } => {
            assert!(reason.contains("size limit"), "{reason}: {}", clamd.log())
        }
        other => panic!("expected Unscanned, got {other:?}: {report:#?}"),
    }
}

/// c-icap (Debian's `c-icap` with `libc-icap-mod-virus-scan`) in front of
/// the test's clamd: checks the ICAP engine against a real server. Optional:
/// skipped when c-icap is not installed, even in CI.
struct CIcap {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for CIcap {
    /// c-icap forks its servers: stop the whole process group it leads
    /// (started with `process_group(0)`), politely first.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl CIcap {
    fn start(clamd: &Clamd) -> Option<CIcap> {
        let binary = PathBuf::from("/usr/bin/c-icap");
        let modules = PathBuf::from("/usr/lib/x86_64-linux-gnu/c_icap");
        if !binary.is_file() || !modules.join("virus_scan.so").is_file() {
            eprintln!("skipped: c-icap with the virus_scan module is not installed");
            return None;
        }
        let dir = clamd.dir.path().join("icap");
        std::fs::create_dir_all(dir.join("tmp")).expect("icap dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let conf = dir.join("c-icap.conf");
        let log = dir.join("server.log");
        std::fs::write(
            &conf,
            format!(
                "PidFile {dir}/c-icap.pid\nCommandsSocket {dir}/c-icap.ctl\n\
                 Port 127.0.0.1:{port}\nServerLog {log}\nAccessLog {dir}/access.log\n\
                 TmpDir {dir}/tmp\nModulesDir {modules}\nServicesDir {modules}\n\
                 TemplateDir /usr/share/c_icap/templates/\n\
                 LoadMagicFile /etc/c-icap/c-icap.magic\n\
                 StartServers 1\nMaxServers 2\nDebugLevel 1\n\
                 Module common clamd_mod.so\nclamd_mod.ClamdSocket {socket}\n\
                 Service antivirus_module virus_scan.so\n\
                 ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple\n\
                 virus_scan.DefaultEngine clamd\nvirus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE DOCUMENT\n",
                dir = dir.display(),
                log = log.display(),
                modules = modules.display(),
                socket = clamd.socket(),
            ),
        )
        .expect("c-icap conf");
        let child = Command::new(binary)
            .process_group(0)
            .args(["-N", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn c-icap");
        let mut icap = CIcap {
            child,
            url: format!("icap://127.0.0.1:{port}/avscan"),
            log,
        };
        let engine = icap.engine();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if engine.info().is_ok() {
                return Some(icap);
            }
            if let Ok(Some(status)) = icap.child.try_wait() {
                panic!("c-icap exited with {status}:\n{}", icap.log());
            }
            assert!(
                Instant::now() < deadline,
                "c-icap did not start:\n{}",
                icap.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn engine(&self) -> IcapEngine {
        IcapEngine::from_config(&IcapConfig {
            url: self.url.clone(),
            reply_timeout_seconds: 60,
            ..IcapConfig::default()
        })
        .expect("icap engine")
    }
}

#[test]
fn scan_icap_respmod_against_c_icap() {
    let Some(binary) = require_clamd() else {
        return;
    };
    let clamd = Clamd::start(&binary, "200M");
    let Some(icap) = CIcap::start(&clamd) else {
        return;
    };
    let engine = icap.engine();
    let info = engine.info().expect("OPTIONS");
    eprintln!("ICAP service: {}", info.version);
    let scanner = Scanner::new(
        vec![Box::new(engine)],
        Limits::default(),
        clamd.dir.path().to_path_buf(),
    );
    let clean = vec![b'c'; 300_000];
    let report = scanner.scan_reader(&clean[..], None);
    assert_eq!(
        report.verdict,
        Verdict::Clean,
        "{report:#?}\n{}",
        icap.log()
    );

    let mut infected = vec![b'.'; 300_000];
    infected.extend_from_slice(BODY_MARKER);
    let report = scanner.scan_reader(&infected[..], None);
    match &report.verdict {
        Verdict::Infected { engine, signature } => {
            assert_eq!(engine, "icap");
            assert!(signature.contains("Sekisho.Test.Body"), "{signature}");
        }
        other => panic!("expected infected, got {other:?}\n{}", icap.log()),
    }
}
