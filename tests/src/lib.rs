//! Test kit for the end-to-end tests: boots the real `sekisho-gateway` on
//! free loopback ports over HTTPS, with its own data directory and database
//! (SQLite, or a fresh PostgreSQL database when `SEKISHO_TEST_DATABASE` is a
//! `postgres://` URL), and drives the real `sekisho` client as users would.
//!
//! Time: the gateway reads a clock offset file that the kit owns, so tests
//! move time forward instead of sleeping. Every one-time code the kit makes
//! moves the clock 30 seconds first, because the gateway accepts each TOTP
//! step only once.
//!
//! Stopping: a gateway is stopped the way an operator stops it, with SIGTERM
//! ([`Gateway::stop`], [`Gateway::restart`], and when a test ends), and must
//! exit 0 within [`STOP_TIMEOUT`]; one that hangs is killed and the test
//! fails. Crash tests use [`Gateway::kill`] and [`Gateway::kill_and_restart`]
//! (SIGKILL: like a power cut, nothing runs on the way down).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

pub use tempfile::TempDir;

pub mod browser;
mod clamd;
mod postgres;
mod s3;
mod smtp;
pub use browser::Browser;
pub use clamd::{CLAMD_MARKER, Clamd};
pub use postgres::PgCluster;
pub use s3::S3Service;
pub use smtp::{ReceivedMail, SmtpServer, SmtpTls};

/// Folder that holds the workspace's built binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Which database the suite runs against.
pub enum TestDatabase {
    Sqlite,
    Postgres { admin_url: String },
}

pub fn test_database() -> TestDatabase {
    match std::env::var("SEKISHO_TEST_DATABASE") {
        Ok(url) if url.starts_with("postgres") => TestDatabase::Postgres { admin_url: url },
        _ => TestDatabase::Sqlite,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Creates an empty PostgreSQL database for one gateway (or a restore) and
/// returns its URL.
pub fn create_pg_database(admin_url: &str) -> Result<String> {
    let name = format!("sekisho_test_{}", uuid_like());
    runtime().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("cannot reach PostgreSQL at {admin_url}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .ok_or_else(|| anyhow!("bad postgres URL"))?;
    Ok(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    static COUNTER: AtomicI64 = AtomicI64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs SQL statements in order on one connection (one session).
pub fn sql_batch(database_url: &str, statements: &[String]) -> Result<()> {
    runtime().block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(database_url).await?;
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut conn)
                .await
                .with_context(|| format!("running: {statement}"))?;
        }
        Ok(())
    })
}

/// Whether the erase of `transfer` has run to its end (keys destroyed,
/// stored bytes erased, certificate signed): the `deletion.done` event is
/// the last thing it writes. The state turns "erased" at the first phase,
/// so a test that looks at what is left waits for this instead.
pub fn deletion_done(database_url: &str, transfer: &str) -> bool {
    stored_events(database_url)
        .map(|events| {
            events
                .iter()
                .any(|e| e.action == "deletion.done" && e.object.contains(transfer))
        })
        .unwrap_or(false)
}

/// The stored audit events of one action, in order.
pub fn stored_events_of(database_url: &str, action: &str) -> Vec<sekisho_proto::AuditEvent> {
    stored_events(database_url)
        .unwrap_or_else(|e| panic!("cannot read the audit events: {e:#}"))
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// All audit events as stored, in order (for playing an insider).
pub fn stored_events(database_url: &str) -> Result<Vec<sekisho_proto::AuditEvent>> {
    runtime().block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::{Connection, Row};
        let mut conn = sqlx::AnyConnection::connect(database_url).await?;
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, object, class, outcome, source, detail, prev_hash, hash \
             FROM audit_events ORDER BY seq",
        )
        .fetch_all(&mut conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(sekisho_proto::AuditEvent {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object: r.try_get("object")?,
                    class: r.try_get("class")?,
                    outcome: r.try_get("outcome")?,
                    source: r.try_get("source")?,
                    detail: r.try_get("detail")?,
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    })
}

/// Run a SQL statement against the gateway's database (tests use it to play
/// an insider who edits rows).
pub fn sql_execute(database_url: &str, statement: &str) -> Result<u64> {
    runtime().block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(database_url).await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await?;
        Ok(done.rows_affected())
    })
}

pub struct Gateway {
    pub dir: TempDir,
    pub internal_url: String,
    pub public_url: String,
    pub ca_file: PathBuf,
    pub database_url: String,
    pub admin: Account,
    clock_offset: std::sync::Arc<Mutex<i64>>,
    /// The clock offset file this gateway reads; a replica reads its
    /// primary's, so both see the same time.
    clock_file: PathBuf,
    /// Where the objects are when the suite runs on S3, and their prefix.
    pub s3: Option<(S3Service, String)>,
    child: Option<Child>,
    stderr_log: PathBuf,
    extra_env: Vec<(String, String)>,
}

/// Credentials of one person, and the client home that holds their session.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub password: String,
    pub totp_secret: String,
    pub home: PathBuf,
}

#[derive(Default)]
pub struct GatewayOptions {
    /// Extra TOML appended to the generated config (e.g. "[links]\nmax_downloads = 1").
    pub config_patch: Vec<(String, String, String)>,
}

impl Gateway {
    pub fn start() -> Self {
        Self::start_with(GatewayOptions::default())
    }

    pub fn start_with(options: GatewayOptions) -> Self {
        Self::try_start(options).unwrap_or_else(|e| panic!("cannot start the gateway: {e:#}"))
    }

    /// A gateway on a database of the test's choosing (its own PostgreSQL
    /// cluster, for outage tests) instead of the suite's.
    pub fn start_on(database: TestDatabase, options: GatewayOptions) -> Self {
        Self::try_start_on(database, options)
            .unwrap_or_else(|e| panic!("cannot start the gateway: {e:#}"))
    }

    fn try_start(options: GatewayOptions) -> Result<Self> {
        Self::try_start_on(test_database(), options)
    }

    fn try_start_on(database: TestDatabase, options: GatewayOptions) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("sekisho-e2e").tempdir()?;
        let data = dir.path().join("data");
        let database_url = match database {
            TestDatabase::Sqlite => {
                format!("sqlite://{}?mode=rwc", data.join("sekisho.db").display())
            }
            TestDatabase::Postgres { admin_url } => create_pg_database(&admin_url)?,
        };
        let output = Command::new(bin("sekisho-gateway"))
            .args(["init", "--json", "--dir"])
            .arg(&data)
            .args(["--database-url", &database_url])
            .output()?;
        if !output.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let init: Value = serde_json::from_slice(&output.stdout)?;
        let admin_home = dir.path().join("home-admin");
        std::fs::create_dir_all(&admin_home)?;
        let admin = Account {
            username: json_str(&init["admin"]["username"])?,
            password: json_str(&init["admin"]["temporary_password"])?,
            totp_secret: json_str(&init["admin"]["totp_secret"])?,
            home: admin_home,
        };
        let ca_file = PathBuf::from(json_str(&init["ca_file"])?);
        // Every test's gateway serves one test client from one address, far
        // faster than any person: the per-address throttles are opened wide
        // unless a test sets them (its patches come after these).
        let mut patches: Vec<(String, String, String)> = [
            ("public_requests_per_minute", "100000"),
            ("login_attempts_per_minute", "100000"),
        ]
        .iter()
        .map(|(key, value)| ("http".to_string(), key.to_string(), value.to_string()))
        .collect();
        let s3 = S3Service::for_suite().map(|service| (service, format!("gw-{}", uuid_like())));
        if let Some((service, prefix)) = &s3 {
            write_private(&data.join("s3-credentials"), &service.credentials_text())?;
            patches.extend(service.config_patch(prefix, "s3-credentials"));
        }
        patches.extend(options.config_patch.iter().cloned());
        patch_config(&data.join("sekisho.toml"), &patches)?;
        let clock_file = dir.path().join("clock-offset");
        let mut gateway = Self {
            dir,
            internal_url: String::new(),
            public_url: String::new(),
            ca_file,
            database_url,
            admin,
            clock_offset: Default::default(),
            clock_file,
            s3,
            child: None,
            stderr_log: PathBuf::new(),
            extra_env: Vec::new(),
        };
        gateway.write_offset(0)?;
        gateway.launch()?;
        Ok(gateway)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn offset_file(&self) -> PathBuf {
        self.clock_file.clone()
    }

    fn write_offset(&self, seconds: i64) -> Result<()> {
        let tmp = self.clock_file.with_extension("tmp");
        std::fs::write(&tmp, seconds.to_string())?;
        std::fs::rename(tmp, self.offset_file())?;
        Ok(())
    }

    /// Moves the gateway's clock forward.
    pub fn advance(&self, seconds: i64) {
        let mut offset = self.clock_offset.lock().expect("clock lock");
        *offset += seconds;
        self.write_offset(*offset).expect("write clock offset");
    }

    /// The gateway's current time, as Unix seconds.
    pub fn now(&self) -> i64 {
        let offset = *self.clock_offset.lock().expect("clock lock");
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            + offset
    }

    /// A fresh TOTP code for `secret` (moves the clock one step first).
    pub fn otp(&self, secret: &str) -> String {
        self.advance(30);
        let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_secret(bytes)
            .with_account_name("t")
            .build()
            .expect("totp");
        totp.generate(self.now() as u64).to_string()
    }

    fn launch(&mut self) -> Result<()> {
        let log = self.dir.path().join(format!("gateway-{}.log", uuid_like()));
        // A restart keeps the same ports, so clients' sessions (bound to the
        // gateway's address) and handed-out links stay valid.
        let port_of = |url: &str| -> String {
            url.rsplit(':')
                .next()
                .filter(|p| !p.is_empty())
                .unwrap_or("0")
                .to_string()
        };
        let internal = format!("127.0.0.1:{}", port_of(&self.internal_url));
        let public = format!("127.0.0.1:{}", port_of(&self.public_url));
        let mut child = Command::new(bin("sekisho-gateway"))
            .args([
                "serve",
                "--listen",
                &internal,
                "--public-listen",
                &public,
                "--dir",
            ])
            .arg(self.data_dir())
            .env("SEKISHO_DANGER_CLOCK_OFFSET_FILE", self.offset_file())
            .env("SEKISHO_LOG", "info,tower_http=warn,sqlx=warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if line.starts_with("sekisho-gateway listening") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| {
            anyhow!(
                "the gateway did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })?;
        let field = |name: &str| -> Result<String> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no {name} in '{line}'"))
        };
        self.internal_url = field("internal")?;
        self.public_url = field("public")?;
        self.child = Some(child);
        self.stderr_log = log;
        Ok(())
    }

    /// A second gateway process on the same database, store and key shares
    /// (a replica behind the load balancer), with its own data folder that
    /// holds copies of the primary's keys, certificate and configuration,
    /// and its own ports. It reads the primary's clock.
    ///
    /// Files copied: `sekisho.toml`, `keys/master.key`, `keys/link.key`,
    /// `keys/audit.key`, `tls/ca.pem`, `tls/server.pem`, `tls/server.key`
    /// (and the S3 login). The local store and the key shares are the
    /// primary's folders (`[store] path`, `key_shares`, `shared = true`).
    pub fn replica(&self) -> Gateway {
        self.try_replica()
            .unwrap_or_else(|e| panic!("cannot start a replica: {e:#}"))
    }

    fn try_replica(&self) -> Result<Gateway> {
        let dir = tempfile::Builder::new()
            .prefix("sekisho-replica")
            .tempdir()?;
        let data = dir.path().join("data");
        let primary = self.data_dir();
        for folder in ["keys", "tls"] {
            std::fs::create_dir_all(data.join(folder))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(data.join("keys"), std::fs::Permissions::from_mode(0o700))?;
        for file in [
            "sekisho.toml",
            "keys/master.key",
            "keys/link.key",
            "keys/audit.key",
            "tls/ca.pem",
            "tls/server.pem",
            "tls/server.key",
            "s3-credentials",
        ] {
            let from = primary.join(file);
            if from.exists() {
                std::fs::copy(&from, data.join(file))
                    .with_context(|| format!("cannot copy {}", from.display()))?;
            }
        }
        let mut patches = vec![
            (
                "database".to_string(),
                "url".to_string(),
                format!("\"{}\"", self.database_url),
            ),
            (
                "store".to_string(),
                "key_shares".to_string(),
                format!("\"{}\"", primary.join("keys").join("objects").display()),
            ),
            (
                "store".to_string(),
                "shared".to_string(),
                "true".to_string(),
            ),
        ];
        if self.s3.is_none() {
            patches.push((
                "store".to_string(),
                "path".to_string(),
                format!("\"{}\"", primary.join("store").display()),
            ));
        }
        patch_config(&data.join("sekisho.toml"), &patches)?;
        // From its next start the primary, too, leaves young files to the
        // replica that may be writing them.
        patch_config(
            &primary.join("sekisho.toml"),
            &[(
                "store".to_string(),
                "shared".to_string(),
                "true".to_string(),
            )],
        )?;
        let mut replica = Gateway {
            dir,
            internal_url: String::new(),
            public_url: String::new(),
            ca_file: self.ca_file.clone(),
            database_url: self.database_url.clone(),
            admin: self.admin.clone(),
            clock_offset: self.clock_offset.clone(),
            clock_file: self.clock_file.clone(),
            s3: self.s3.clone(),
            child: None,
            stderr_log: PathBuf::new(),
            extra_env: self.extra_env.clone(),
        };
        replica.launch()?;
        Ok(replica)
    }

    /// Sets (or with `None` removes) an environment variable for the next
    /// (re)start of the gateway.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.extra_env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.extra_env.push((key.to_string(), value.to_string()));
        }
    }

    /// Whether the gateway process has exited (e.g. after a crash hook).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Stops the gateway gracefully (see [`Gateway::stop`]; a gateway that
    /// does not stop cleanly fails the test) and starts it again.
    pub fn restart(&mut self) {
        if let Err(e) = self.stop() {
            panic!("{e:#}\n--- gateway log ---\n{}", self.log());
        }
        self.launch().expect("restart gateway");
    }

    /// Stops the gateway, puts `restored` (a directory `sekisho-gateway
    /// restore` wrote) where the data directory was, keeping the old one as
    /// `data-replaced`, and starts the gateway on it with the same ports, so
    /// clients' sessions in the restored database still reach it.
    pub fn replace_data_dir(&mut self, restored: &Path) {
        if let Err(e) = self.stop() {
            panic!("{e:#}\n--- gateway log ---\n{}", self.log());
        }
        let aside = self.dir.path().join("data-replaced");
        std::fs::rename(self.data_dir(), &aside).expect("move the data directory aside");
        std::fs::rename(restored, self.data_dir()).expect("move the restored directory in");
        self.launch().expect("start on the restored directory");
    }

    /// Starts a gateway that [`Gateway::stop`] stopped (an operator's
    /// maintenance window: commands run while it is down).
    pub fn start_again(&mut self) {
        self.launch().expect("start the gateway again");
    }

    /// Kills the gateway (SIGKILL: like a power cut) and starts it again.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.launch().expect("restart gateway");
    }

    /// SIGKILL: nothing runs on the way down. For crash tests.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The running gateway's process id, for crash tests that must cut it
    /// down from another thread while clients are using it (`kill` needs
    /// the gateway to itself).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM and returns at once; [`Gateway::wait_stopped`] waits.
    pub fn terminate(&self) -> Result<()> {
        let Some(child) = self.child.as_ref() else {
            bail!("the gateway is not running");
        };
        // The shell's built-in kill: no extra dependency, and present on a
        // minimal machine where procps is not.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .status()
            .context("cannot run sh -c kill")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", child.id());
        Ok(())
    }

    /// Waits up to `timeout` for the gateway to exit. When it does not, it
    /// is killed and this is an error; otherwise its exit status and how
    /// long the wait took.
    pub fn wait_stopped(&mut self, timeout: Duration) -> Result<(ExitStatus, Duration)> {
        let Some(mut child) = self.child.take() else {
            bail!("the gateway is not running");
        };
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, started.elapsed()));
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the gateway did not exit within {timeout:?} of SIGTERM (it hangs on the way down); it was killed"
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the gateway as an operator does: SIGTERM, then it finishes the
    /// requests in flight and must exit 0 within [`STOP_TIMEOUT`]. A gateway
    /// that already exited by itself (a crash hook) is simply gone. Returns
    /// how long stopping took.
    pub fn stop(&mut self) -> Result<Duration> {
        let Some(child) = self.child.as_mut() else {
            return Ok(Duration::ZERO);
        };
        if let Some(status) = child.try_wait()? {
            eprintln!("the gateway had already exited ({status})");
            self.child = None;
            return Ok(Duration::ZERO);
        }
        self.terminate()?;
        let (status, took) = self.wait_stopped(STOP_TIMEOUT)?;
        if !status.success() {
            bail!("the gateway exited with {status} after SIGTERM; a clean stop exits 0");
        }
        Ok(took)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Runs a `sekisho-gateway` maintenance command on this data directory,
    /// seeing the same (test-controlled) clock as the running gateway.
    pub fn admin_command(&self, args: &[&str]) -> Output {
        Command::new(bin("sekisho-gateway"))
            .args(args)
            .arg("--dir")
            .arg(self.data_dir())
            .env("SEKISHO_DANGER_CLOCK_OFFSET_FILE", self.offset_file())
            .output()
            .expect("run sekisho-gateway")
    }

    /// Changes settings in the config and restarts the gateway to read them.
    pub fn reconfigure(&mut self, patches: &[(&str, &str, &str)]) {
        let owned: Vec<(String, String, String)> = patches
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        patch_config(&self.data_dir().join("sekisho.toml"), &owned).expect("patch config");
        self.restart();
    }

    /// PostgreSQL only: creates a least-privilege role with the grants of
    /// `migrations/postgres-roles/app-role.sql`, restarts the gateway as that
    /// role and returns the role's database URL.
    pub fn switch_to_app_role(&mut self, role: &str) -> String {
        let grants = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres-roles/app-role.sql"),
        )
        .expect("app-role.sql");
        let mut statements = vec![format!("CREATE ROLE {role} LOGIN")];
        statements.extend(
            grants
                .replace(":app_role", role)
                .split(';')
                .map(|s| {
                    s.lines()
                        .filter(|l| !l.trim_start().starts_with("--"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .filter(|s| !s.trim().is_empty()),
        );
        sql_batch(&self.database_url, &statements).expect("create app role");
        let (base, db) = self.database_url.rsplit_once('/').expect("url");
        let app_url = format!("{}/{db}", base.replace("postgres@", &format!("{role}@")));
        self.reconfigure(&[("database", "url", &format!("\"{app_url}\""))]);
        app_url
    }

    /// The `sekisho` client as `account` (its own SEKISHO_HOME).
    pub fn cli(&self, account: &Account) -> Cli {
        Cli {
            command_env: vec![
                ("SEKISHO_GATEWAY".into(), self.internal_url.clone()),
                ("SEKISHO_CA".into(), self.ca_file.display().to_string()),
                ("SEKISHO_HOME".into(), account.home.display().to_string()),
                ("SEKISHO_PASSWORD".into(), account.password.clone()),
            ],
        }
    }

    /// The client for someone outside: no gateway, no session, just the CA.
    pub fn outsider(&self, home: &Path) -> Cli {
        Cli {
            command_env: vec![
                ("SEKISHO_CA".into(), self.ca_file.display().to_string()),
                ("SEKISHO_HOME".into(), home.display().to_string()),
            ],
        }
    }

    pub fn login(&self, account: &Account) -> Output {
        let code = self.otp(&account.totp_secret);
        self.cli(account)
            .run(&["login", "--user", &account.username, "--otp", &code])
    }

    /// Logs the first sysadmin in and replaces the temporary password.
    pub fn admin_ready(&mut self) -> Account {
        let mut admin = self.admin.clone();
        activate(self, &mut admin);
        self.admin = admin.clone();
        admin
    }

    /// Creates an account with `role` (through the admin), then logs the new
    /// user in, changes the temporary password and logs in again.
    pub fn user(&self, admin: &Account, username: &str, role: &str) -> Account {
        let out = self
            .cli(admin)
            .run(&["--json", "admin", "user", "add", username, "--role", role]);
        let created = json_of(&out);
        let home = self.dir.path().join(format!("home-{username}"));
        std::fs::create_dir_all(&home).expect("home");
        let mut account = Account {
            username: username.to_string(),
            password: json_str(&created["temporary_password"]).expect("temporary password"),
            totp_secret: json_str(&created["totp_secret"]).expect("totp secret"),
            home,
        };
        activate(self, &mut account);
        account
    }

    /// A raw HTTPS client that trusts the gateway's CA.
    pub fn http(&self) -> reqwest::blocking::Client {
        self.http_builder().build().expect("http client")
    }

    /// A client that opens a new connection for every request. A refusal
    /// sent before the request body was read (507, 413) closes the
    /// connection, and a pooled client may send its next request on it
    /// before it sees the close (hyper's `IncompleteMessage`): tests that
    /// provoke such refusals and then go on use this one.
    pub fn http_without_reuse(&self) -> reqwest::blocking::Client {
        self.http_builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client")
    }

    fn http_builder(&self) -> reqwest::blocking::ClientBuilder {
        let ca = std::fs::read(&self.ca_file).expect("ca file");
        reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
            .tls_backend_rustls()
            .timeout(Duration::from_secs(120))
    }

    /// The session token the client stored for `account`.
    pub fn token(&self, account: &Account) -> String {
        let text =
            std::fs::read_to_string(account.home.join("session.json")).expect("session file");
        let value: Value = serde_json::from_str(&text).expect("session json");
        json_str(&value["token"]).expect("token")
    }
}

/// How long a gateway may take to exit after SIGTERM: its own grace for
/// requests in flight (10 s) and a margin.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

impl Drop for Gateway {
    /// A test that passed ends with a graceful stop, so every test also
    /// proves the gateway shuts down cleanly; a failing one is killed at
    /// once (its log is what matters then).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.kill();
            eprintln!("--- gateway log ---\n{}", self.log());
            return;
        }
        if let Err(e) = self.stop() {
            panic!(
                "the gateway did not stop cleanly: {e:#}\n--- gateway log ---\n{}",
                self.log()
            );
        }
    }
}

const STRONG_PASSWORD_SUFFIX: &str = "-Strong-Pass-9";

fn activate(gateway: &Gateway, account: &mut Account) {
    let out = gateway.login(account);
    assert_success(&out, "first login");
    let new_password = format!("{}{}", account.username, STRONG_PASSWORD_SUFFIX);
    let out = gateway
        .cli(account)
        .env("SEKISHO_NEW_PASSWORD", &new_password)
        .run(&["password"]);
    assert_success(&out, "password change");
    account.password = new_password;
    let out = gateway.login(account);
    assert_success(&out, "login after password change");
}

/// A file only its owner may read (the gateway refuses looser secrets).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn patch_config(path: &Path, patches: &[(String, String, String)]) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut value: toml::Table = toml::from_str(&text)?;
    for (section, key, raw) in patches {
        let parsed: toml::Table = toml::from_str(&format!("v = {raw}"))?;
        let v = parsed
            .get("v")
            .cloned()
            .ok_or_else(|| anyhow!("bad patch"))?;
        let table = value
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = table {
            t.insert(key.clone(), v);
        }
    }
    std::fs::write(path, toml::to_string(&value)?)?;
    Ok(())
}

pub struct Cli {
    command_env: Vec<(String, String)>,
}

impl Cli {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command_env.retain(|(k, _)| k != key);
        self.command_env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn without_env(mut self, key: &str) -> Self {
        self.command_env.retain(|(k, _)| k != key);
        self
    }

    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut command = Command::new(bin("sekisho"));
        command.args(args).stdin(Stdio::null());
        command.env_remove("SEKISHO_PASSPHRASE");
        for (k, v) in &self.command_env {
            command.env(k, v);
        }
        command.output().expect("run sekisho")
    }
}

pub fn json_str(value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("expected a string, got {value}"))
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
pub fn assert_success(output: &Output, what: &str) {
    assert!(output.status.success(), "{what} failed:\n{}", text(output));
}

/// Asserts failure and that stderr mentions `needle` (case-insensitive).
#[track_caller]
pub fn assert_failure(output: &Output, needle: &str) {
    assert!(
        !output.status.success(),
        "expected failure:\n{}",
        text(output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(
        stderr.contains(&needle.to_lowercase()),
        "stderr should mention '{needle}':\n{}",
        text(output)
    );
}

#[track_caller]
pub fn json_of(output: &Output) -> Value {
    assert_success(output, "command");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", text(output)))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// An age X25519 key pair written as an identity file; returns (file, recipient).
pub fn age_identity(dir: &Path, name: &str) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let path = dir.join(format!("{name}.agekey"));
    std::fs::write(
        &path,
        format!(
            "# test key, made by the test\n{}\n",
            identity.to_string().expose_secret()
        ),
    )
    .expect("write identity");
    (path, identity.to_public().to_string())
}

/// Adds the outside recipient `partner` (Partner K.K., a fresh age key) to
/// `account`'s address book; returns the identity file that opens what is
/// sent to it.
pub fn add_age_partner(gw: &Gateway, account: &Account) -> PathBuf {
    let (identity, recipient) = age_identity(gw.dir.path(), "partner");
    assert_success(
        &gw.cli(account).run(&[
            "recipient",
            "add",
            "partner",
            "--org",
            "Partner K.K.",
            "--email",
            "p@example.jp",
            "--age-key",
            &recipient,
        ]),
        "recipient add partner",
    );
    identity
}

/// What the data directory holds beside the database: stored blobs
/// (`store/objects/<shard>/<id>`), key shares (`keys/objects/<id>`), and
/// what only a write in progress or a crash leaves (`store/tmp/*`, key
/// shares' `*.tmp-new`). Crash and full-disk tests compare it with
/// [`object_ids`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StoreListing {
    pub blobs: std::collections::BTreeSet<String>,
    pub shares: std::collections::BTreeSet<String>,
    pub partial_blobs: std::collections::BTreeSet<String>,
    pub partial_shares: std::collections::BTreeSet<String>,
}

fn names_in(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// On S3 the blobs are listed through the S3 API; half-written ones are
/// unfinished multipart uploads, which no listing shows (so
/// `partial_blobs` is empty there).
pub fn store_listing(gw: &Gateway) -> StoreListing {
    let data = gw.data_dir();
    let objects = data.join("store").join("objects");
    let blobs = match &gw.s3 {
        Some((service, prefix)) => service
            .blob_ids(prefix)
            .unwrap_or_else(|e| panic!("cannot list the bucket: {e:#}")),
        None => names_in(&objects)
            .iter()
            .flat_map(|shard| names_in(&objects.join(shard)))
            .collect(),
    };
    let (partial_shares, shares) = names_in(&data.join("keys").join("objects"))
        .into_iter()
        .partition(|name| name.contains('.'));
    StoreListing {
        blobs,
        shares,
        partial_blobs: names_in(&data.join("store").join("tmp")),
        partial_shares,
    }
}

/// Where the local store keeps object `id` (`store/objects/<shard>/<id>`).
fn local_blob_path(gw: &Gateway, id: &str) -> Option<PathBuf> {
    let objects = gw.data_dir().join("store").join("objects");
    names_in(&objects)
        .into_iter()
        .map(|shard| objects.join(shard).join(id))
        .find(|path| path.exists())
}

impl Gateway {
    /// The stored ciphertext of object `id`, from the folder or the bucket
    /// this gateway uses; None once it is gone.
    pub fn stored_blob(&self, id: &str) -> Option<Vec<u8>> {
        match &self.s3 {
            Some((service, prefix)) => service
                .blob(prefix, id)
                .unwrap_or_else(|e| panic!("cannot read object {id} from the bucket: {e:#}")),
            None => local_blob_path(self, id).map(|path| {
                std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            }),
        }
    }

    /// Replaces the stored ciphertext of object `id` (tampering tests).
    pub fn overwrite_stored_blob(&self, id: &str, bytes: Vec<u8>) {
        match &self.s3 {
            Some((service, prefix)) => service
                .overwrite_blob(prefix, id, bytes)
                .unwrap_or_else(|e| panic!("cannot overwrite object {id} in the bucket: {e:#}")),
            None => {
                let path =
                    local_blob_path(self, id).unwrap_or_else(|| panic!("no stored object {id}"));
                std::fs::write(&path, bytes)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
        }
    }

    /// The key share of object `id` (in `keys/objects`, whatever the store).
    pub fn key_share_path(&self, id: &str) -> PathBuf {
        self.data_dir().join("keys").join("objects").join(id)
    }
}

/// Rows of a query whose columns are all read as optional text (numbers
/// are cast by the query), e.g. `SELECT id, state FROM transfers`.
pub fn query_text(database_url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    runtime().block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::{Connection, Row};
        let mut conn = sqlx::AnyConnection::connect(database_url).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .with_context(|| format!("running: {sql}"))?;
        let table = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let _ = conn.close().await;
        Ok(table)
    })
}

/// Every stored object the database knows.
pub fn object_ids(database_url: &str) -> Result<std::collections::BTreeSet<String>> {
    Ok(query_text(database_url, "SELECT id FROM objects")?
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .collect())
}

/// The EICAR test string, which every scanner detects; stored reversed so
/// that scanners on the host do not flag this source file.
pub fn eicar() -> Vec<u8> {
    let reversed = r"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\4[PA@%P!O5X";
    reversed.chars().rev().collect::<String>().into_bytes()
}

/// Looks a program up on PATH. A missing one fails the test, never skips
/// it: scripts/test.sh installs every program the tests use.
pub fn which(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` is not installed; scripts/test.sh installs it"))
}
