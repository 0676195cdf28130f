//! A real clamd (Debian's clamav-daemon) for the tests that need one.

use std::io::Write;
use std::path::PathBuf;

use crate::in_ci;

/// A real clamd (Debian's clamav-daemon) with a body signature written by
/// the test (Debian ships no signatures and freshclam has no network).
/// `None` (test skipped) when clamd is not installed, unless in CI.
pub struct Clamd {
    child: std::process::Child,
    dir: tempfile::TempDir,
    binary: PathBuf,
}

pub const CLAMD_MARKER: &[u8] = b"SEKISHO-CLAMD-E2E-SIGNATURE-91c2";

impl Clamd {
    pub fn start() -> Option<Clamd> {
        let binary = ["/usr/sbin/clamd", "/usr/bin/clamd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let Some(binary) = binary else {
            assert!(!in_ci(), "CI must install clamav-daemon");
            eprintln!("skipped: clamd is not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&db).expect("db");
        std::fs::create_dir(&tmp).expect("tmp");
        let marker: String = CLAMD_MARKER.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            db.join("sekisho.ndb"),
            format!("Sekisho.E2E.Body:0:*:{marker}\n"),
        )
        .expect("ndb");
        let socket = dir.path().join("clamd.sock");
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "LocalSocket {}\nDatabaseDirectory {}\nTemporaryDirectory {}\nLogFile {}\n\
                 OfficialDatabaseOnly false\nForeground true\nSelfCheck 0\nBytecode false\n\
                 AlertExceedsMax true\nDisableCache yes\nStreamMaxLength 100M\n",
                socket.display(),
                db.display(),
                tmp.display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .expect("conf");
        Some(Self::spawn(binary, dir))
    }

    /// Starts clamd on the folder prepared by [`Clamd::start`] and waits
    /// until it answers.
    fn spawn(binary: PathBuf, dir: tempfile::TempDir) -> Clamd {
        let child = std::process::Command::new(&binary)
            .arg("-c")
            .arg(dir.path().join("clamd.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn clamd");
        let clamd = Clamd { child, dir, binary };
        let started = std::time::Instant::now();
        while !clamd.ping() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "clamd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        clamd
    }

    /// Starts a stopped clamd again, on the same socket and signatures.
    pub fn restart(mut self) -> Clamd {
        self.stop();
        let _ = std::fs::remove_file(self.dir.path().join("clamd.sock"));
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let binary = self.binary.clone();
        drop(self);
        Self::spawn(binary, dir)
    }

    pub fn socket(&self) -> String {
        self.dir.path().join("clamd.sock").display().to_string()
    }

    pub fn ping(&self) -> bool {
        use std::io::Read;
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.socket()) else {
            return false;
        };
        let mut answer = String::new();
        s.write_all(b"zPING\0").is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && answer.starts_with("PONG")
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
