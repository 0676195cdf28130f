//! A PostgreSQL cluster of a test's own, for tests that stop and start the
//! database under a running gateway (the suite's shared cluster must stay
//! up for every other test).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::in_ci;

pub struct PgCluster {
    bin: PathBuf,
    /// Directly under /tmp: the `postgres` user must reach it (a folder
    /// inside a root-only temporary folder lets initdb succeed and the
    /// server fail).
    dir: tempfile::TempDir,
    pub port: u16,
}

fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PgCluster {
    /// A new cluster, started; `None` (the test is skipped) only outside CI
    /// when the server is not installed.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = server_binaries() else {
            assert!(!in_ci(), "CI must install the PostgreSQL server");
            eprintln!("skipped: the PostgreSQL server is not installed");
            return None;
        };
        let cluster = Self::create(bin).unwrap_or_else(|e| panic!("{e:#}"));
        Some(cluster)
    }

    fn create(bin: PathBuf) -> Result<PgCluster> {
        let dir = tempfile::Builder::new()
            .prefix("sekisho-pg-own")
            .tempdir_in("/tmp")?;
        let port = free_port()?;
        let cluster = PgCluster { bin, dir, port };
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres"])
                .arg(cluster.dir.path())
                .status()?;
            anyhow::ensure!(status.success(), "cannot chown the cluster folder");
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        cluster.start_again()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(tool);
        let out = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()?
        } else {
            Command::new(&program).args(args).output()?
        };
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("server.log").display().to_string(),
                "-w",
                "-o",
                &options,
                "start",
            ],
        )
        .context("cannot start the test's own PostgreSQL")
    }

    /// Stops the server at once, as a crash or an operator's mistake would
    /// (connections are cut, nothing waits for clients).
    pub fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
