//! A real SMTP server for the mail tests: aiosmtpd (PyPI, installed by
//! `scripts/test.sh`) run by `smtp_sink.py`, which writes every message it
//! accepts to a folder, decoded, for the test to read. Missing aiosmtpd
//! skips the test outside CI and fails it under CI.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::in_ci;

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope recipients.
    pub to: Vec<String>,
    pub subject: String,
    /// The plain-text part, decoded.
    pub text: String,
    /// The HTML alternative, decoded.
    pub html: String,
    /// `multipart/alternative` for every notification.
    pub content_type: String,
    /// The message as it came over the wire (still transfer-encoded).
    pub raw: String,
    /// Whether the sender logged in, and whether the session was TLS.
    pub authenticated: bool,
    pub tls: bool,
}

impl ReceivedMail {
    /// Everything a reader of the mail could see, decoded and raw.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.subject, self.text, self.html, self.raw
        )
    }
}

pub struct SmtpServer {
    pub port: u16,
    folder: PathBuf,
    child: Option<Child>,
    tls: Option<SmtpTls>,
    _dir: tempfile::TempDir,
}

/// How a TLS test server talks: STARTTLS required, or TLS from the first
/// byte; both with a certificate and a required login.
#[derive(Debug, Clone)]
pub struct SmtpTls {
    pub implicit: bool,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub user: String,
    pub password: String,
}

fn python() -> String {
    std::env::var("SEKISHO_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl SmtpServer {
    /// Starts the server on a free loopback port; `None` (test skipped)
    /// when aiosmtpd is not installed, unless in CI.
    pub fn start() -> Option<SmtpServer> {
        Self::start_with(None)
    }

    /// A server that requires TLS and a login (see [`SmtpTls`]).
    pub fn start_tls(tls: SmtpTls) -> Option<SmtpServer> {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<SmtpTls>) -> Option<SmtpServer> {
        let found = Command::new(python())
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                !in_ci(),
                "CI must install aiosmtpd (scripts/test.sh: pip install aiosmtpd==1.4.6)"
            );
            eprintln!("skipped: aiosmtpd is not installed (pip install aiosmtpd==1.4.6)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("received");
        std::fs::create_dir(&folder).expect("folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut server = SmtpServer {
            port,
            folder,
            child: None,
            tls,
            _dir: dir,
        };
        server.start_again();
        Some(server)
    }

    /// The `[mail]` settings that point a gateway at this server.
    pub fn config_patch(&self) -> Vec<(String, String, String)> {
        [
            ("smtp_url", format!("\"smtp://127.0.0.1:{}\"", self.port)),
            (
                "from",
                "\"Sekisho <sekisho@city.example.lg.jp>\"".to_string(),
            ),
            (
                "console_base_url",
                "\"https://sekisho.city.example.lg.jp\"".to_string(),
            ),
            ("danger_plaintext_loopback", "true".to_string()),
            ("retry_seconds", "60".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| ("mail".to_string(), k.to_string(), v))
        .collect()
    }

    /// Starts the server (again) on its port and waits until it listens.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is already running");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/smtp_sink.py");
        let started = Instant::now();
        loop {
            let mut command = Command::new(python());
            command
                .arg(&script)
                .arg(&self.folder)
                .arg(self.port.to_string());
            if let Some(tls) = &self.tls {
                command
                    .arg(if tls.implicit { "smtps" } else { "starttls" })
                    .arg(&tls.cert)
                    .arg(&tls.key)
                    .arg(&tls.user)
                    .arg(&tls.password);
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the SMTP server");
            let stdout = child.stdout.take().expect("stdout");
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            if line.trim() == "ready" {
                self.child = Some(child);
                return;
            }
            // The port may still be held by the previous run for a moment.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the SMTP server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server: the port refuses connections until `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, in order of arrival.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut names: Vec<String> = std::fs::read_dir(&self.folder)
            .expect("read the SMTP folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.folder.join(name)).expect("mail");
                let v: Value = serde_json::from_str(&text).expect("mail json");
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                let raw = std::fs::read(self.folder.join(name.replace(".json", ".eml")))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                ReceivedMail {
                    to: v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    subject: field("subject"),
                    text: field("text"),
                    html: field("html"),
                    content_type: field("content_type"),
                    raw,
                    authenticated: v["authenticated"].as_bool().unwrap_or(false),
                    tls: v["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// The messages received so far that were addressed to `address`.
    pub fn received_by(&self, address: &str) -> Vec<ReceivedMail> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to == address))
            .collect()
    }

    /// Waits until `address` has at least `count` messages, and returns them.
    pub fn wait_for_mails_to(
        &self,
        address: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        let started = Instant::now();
        loop {
            let mails = self.received_by(address);
            if mails.len() >= count {
                return mails;
            }
            assert!(
                started.elapsed() < timeout,
                "{address} got {} mails, expected {count}: {mails:#?}",
                mails.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until at least `count` messages arrived (housekeeping sends
    /// them on its own round), and returns them all.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let started = Instant::now();
        loop {
            let mails = self.received();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                started.elapsed() < timeout,
                "expected {count} mails, received {}: {:#?}",
                mails.len(),
                mails
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
