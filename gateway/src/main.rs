//! `sekisho-gateway`: initialise a data directory, serve it, or run a
//! maintenance command on it. Every command that needs the directory's state
//! builds it with [`AppState::open`] and the same [`Overrides`], so the
//! command line and `SEKISHO_DATABASE_URL` mean the same for all of them.

// Server code never panics on input (kanidm's rule): no `expect`, `panic`,
// unchecked indexing or placeholders outside tests; `unwrap` is denied for
// the whole workspace in Cargo.toml.
#![deny(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![deny(clippy::unreachable, clippy::todo, clippy::unimplemented)]

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use sekisho_gateway::config::{DatabaseUrl, Overrides};
use sekisho_gateway::state::AppState;

#[derive(Parser)]
#[command(
    name = "sekisho-gateway",
    version,
    about = "Sekisho secure file-transfer gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--database-url` / `SEKISHO_DATABASE_URL`, for every command that opens
/// the database.
#[derive(Args)]
struct DatabaseArg {
    /// Use this database instead of `database.url` in DIR/sekisho.toml for
    /// this run (postgres://user:password@host/db, or sqlite://PATH).
    #[arg(long, env = "SEKISHO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl DatabaseArg {
    fn overrides(self) -> Overrides {
        Overrides {
            database_url: self.database_url.map(DatabaseUrl::new),
            ..Overrides::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: config, keys, TLS certificate, database and
    /// the first sysadmin (whose temporary password and TOTP secret are printed once).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Use this database instead of the embedded SQLite file
        /// (postgres://user:password@host/db); written into sekisho.toml.
        #[arg(long, env = "SEKISHO_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Name of the first sysadmin account.
        #[arg(long, default_value = "admin")]
        admin: String,
    },
    /// Run the gateway (initialising DIR first if it is empty, with the
    /// database URL written into its configuration). Stops on SIGTERM or
    /// Ctrl-C, letting requests in flight finish first.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        /// Internal listener (staff, approvers, auditors, admins).
        #[arg(long)]
        listen: Option<String>,
        /// Public listener (recipients' download pages only).
        #[arg(long)]
        public_listen: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Apply database migrations (as the database owner when the gateway
    /// itself runs as a least-privilege role).
    Migrate {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Print the audit public key that auditors pin (`sekisho audit pin`).
    AuditKey {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show each scan engine's version and signature age; stale signatures
    /// and unreachable engines are flagged (exit 1 if an engine cannot be asked).
    Status {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Delete audit events older than `audit.retention_days`, after signing a
    /// checkpoint that anchors the rest. On PostgreSQL, pass the owner role's
    /// URL: the gateway's own role may not delete audit rows.
    AuditPrune {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Write one encrypted archive (to `[backup] recipients`) of a
    /// consistent snapshot of DIR while the gateway serves:
    /// `backup --dir DIR -o FILE`. `backup verify FILE --identity KEY`
    /// checks an archive without restoring it.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        action: Option<BackupAction>,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The archive to write (must not exist yet).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Rebuild a data directory from a backup into NEW (new or empty); the
    /// archive is checked completely before anything is written.
    Restore {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        /// The age identity file matching a `[backup]` recipient, kept off the server.
        #[arg(long)]
        identity: PathBuf,
        /// PostgreSQL backups: the new, empty database to restore into.
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Decrypt FILE and check every member against its manifest.
    Verify {
        file: PathBuf,
        /// The age identity file matching a `[backup]` recipient.
        #[arg(long)]
        identity: PathBuf,
    },
}

fn print_init(
    result: &sekisho_gateway::init::Initialised,
    dir: &std::path::Path,
    json: bool,
) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "dir": dir,
            "ca_file": result.ca_file,
            "admin": result.admin,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let a = &result.admin;
        println!("Sekisho is initialised in {}.", dir.display());
        println!();
        println!("First sysadmin (shown once; write it down now):");
        println!("  user name:          {}", a.username);
        println!("  temporary password: {}", a.temporary_password);
        println!("  TOTP secret:        {}", a.totp_secret);
        println!("  TOTP URI:           {}", a.otpauth_uri);
        println!();
        println!(
            "Add the TOTP secret to an authenticator app, then log in and change the password:"
        );
        println!("  export SEKISHO_CA={}", result.ca_file.display());
        println!(
            "  sekisho --gateway https://127.0.0.1:8443 login --user {}",
            a.username
        );
        println!("  sekisho password");
    }
    Ok(())
}

/// `sekisho-gateway status`: the engines as configured in DIR, asked now.
async fn scan_status(dir: &std::path::Path, json: bool, overrides: &Overrides) -> Result<()> {
    let state = AppState::open(dir, overrides).await?;
    let outbox = match &state.mailer {
        Some(_) => Some(sekisho_gateway::service::notify::queue_length(&state).await),
        None => None,
    };
    state.db.close().await;
    let scanner = state.scanner.clone();
    let now = state.clock.now();
    let status = tokio::task::spawn_blocking(move || scanner.status(now)).await?;
    let config = &state.config;
    let database = state.db.backend_name();
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        for engine in &status {
            match (&engine.version, &engine.error) {
                (Some(version), _) => {
                    let age = engine
                        .signature_age_seconds
                        .map(|s| format!("{:.1} hours", s as f64 / 3600.0))
                        .unwrap_or_else(|| "unknown".into());
                    println!("{}: {version}; signatures age {age}", engine.engine);
                    if engine.stale {
                        println!(
                            "  WARNING: the signatures of {} are stale; update them (freshclam or the vendor's updater)",
                            engine.engine
                        );
                    }
                }
                (None, error) => println!(
                    "{}: NOT REACHABLE: {}; files are held (not released) until it works",
                    engine.engine,
                    error.as_deref().unwrap_or("unknown error")
                ),
            }
        }
        println!("Database: {database}, reachable.");
        if config.scan.scan_outbound {
            println!("Outbound files are scanned too.");
        } else {
            println!("WARNING: outbound files are NOT scanned ([scan] scan_outbound = false).");
        }
        match (&config.mail, outbox) {
            (None, _) => println!("Mail: off (no [mail] section); nobody is notified by mail."),
            (Some(mail), Some(Ok((queued, failed)))) => {
                println!(
                    "Mail: on, through {}; {queued} waiting in the outbox, {failed} given up.",
                    String::from(mail.smtp_url.clone())
                );
                if failed > 0 {
                    println!(
                        "  WARNING: {failed} notifications could not be delivered; see the mail.fail events with `sekisho audit log --action mail.`"
                    );
                }
            }
            (Some(_), outbox) => println!(
                "Mail: on, but the outbox cannot be read: {}",
                outbox
                    .and_then(Result::err)
                    .map(|e| format!("{e:#}"))
                    .unwrap_or_default()
            ),
        }
        print_sanitiser(&config.sanitise);
    }
    if status.iter().any(|e| e.error.is_some()) {
        anyhow::bail!("at least one scan engine cannot be asked");
    }
    Ok(())
}

/// The sanitiser's version, what it does per format, and the sources it
/// is switched off for (6.(4)②).
fn print_sanitiser(config: &sekisho_gateway::config::SanitiseConfig) {
    println!(
        "Sanitiser (無害化): sekisho-sanitise {}",
        sekisho_sanitise::VERSION
    );
    for (format, treatment) in sekisho_sanitise::FORMATS {
        println!("  {format}: {treatment}");
    }
    println!(
        "  other types: {}",
        if config.pass_unsupported {
            "passed on the malware scan alone ([sanitise] pass_unsupported = true)"
        } else {
            "held as not sanitised"
        }
    );
    for (on, source) in [
        (config.request_links, "request_links"),
        (config.media_intake, "media_intake"),
        (config.returned_media, "returned_media"),
    ] {
        if !on {
            println!(
                "  WARNING: files from {source} are NOT sanitised ([sanitise] {source} = false)"
            );
        }
    }
}

/// Argon2 allocates 19 MiB per password check; glibc keeps such blocks in
/// per-thread arenas for ever, so a few concurrent logins would pin over
/// 100 MiB. Serving allocations of 4 MiB and more straight from mmap hands
/// them back to the system when freed, while the 1 MiB streaming buffers
/// stay below the threshold and are reused without page faults.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; it is called before any
    // other thread exists and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

fn main() {
    return_large_allocations_to_the_system();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async_main());
}

async fn async_main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEKISHO_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            dir,
            json,
            database_url,
            admin,
        } => {
            let url = database_url.map(DatabaseUrl::new);
            let result = sekisho_gateway::init::run(&dir, url.as_ref(), &admin).await?;
            print_init(&result, &dir, json)
        }
        Command::Migrate { dir, database } => {
            // Opening migrates: a pending migration runs before anything else.
            let state = AppState::open(&dir, &database.overrides()).await?;
            state.db.close().await;
            println!("The database schema is up to date.");
            Ok(())
        }
        Command::Status {
            dir,
            json,
            database,
        } => scan_status(&dir, json, &database.overrides()).await,
        Command::AuditKey { dir, json } => {
            // Only the key file: this works while the database is down.
            let key = sekisho_gateway::keys::Keys::load(&dir)?.audit_public();
            if json {
                println!("{}", serde_json::to_string_pretty(&key)?);
            } else {
                println!("Audit public key (Ed25519): {}", key.public_key);
                println!("Fingerprint:                {}", key.fingerprint);
                println!(
                    "Give these to the auditors on paper; they pin them with `sekisho audit pin --key {}`.",
                    key.public_key
                );
            }
            Ok(())
        }
        Command::AuditPrune { dir, database } => {
            let state = AppState::open(&dir, &database.overrides()).await?;
            let days = state.config.audit.retention_days;
            if days == 0 {
                state.db.close().await;
                println!(
                    "audit.retention_days is 0: the audit log is kept forever; nothing pruned."
                );
                return Ok(());
            }
            let removed = sekisho_gateway::service::audit::prune(&state, days).await?;
            state.db.close().await;
            println!(
                "Removed {removed} audit events older than {days} days; the rest still verifies from a signed checkpoint."
            );
            Ok(())
        }
        Command::Backup {
            action: Some(BackupAction::Verify { file, identity }),
            ..
        } => {
            let manifest = sekisho_gateway::backup::verify(&file, &identity)?;
            println!(
                "The backup {} is intact: {} members match its manifest (snapshot {}, {} objects erased while it was taken).",
                file.display(),
                manifest.members.len(),
                manifest.created_at,
                manifest.erased_while_copying.len()
            );
            Ok(())
        }
        Command::Backup {
            action: None,
            dir,
            output,
            database,
        } => {
            let (Some(dir), Some(output)) = (dir, output) else {
                anyhow::bail!(
                    "--dir と -o を指定してください。 Give both --dir DIR and -o FILE (or `backup verify FILE --identity KEY`)"
                );
            };
            let state = AppState::open(&dir, &database.overrides()).await?;
            let written = sekisho_gateway::backup::create(&state, &output).await;
            state.db.close().await;
            let written = written?;
            println!(
                "Backup written to {}: {} members, snapshot {}; keep it away from this server and no longer than the retention period.",
                written.file.display(),
                written.manifest.members.len() + 1,
                written.manifest.created_at
            );
            Ok(())
        }
        Command::Restore {
            from,
            dir,
            identity,
            database,
        } => {
            let url = database.database_url.map(DatabaseUrl::new);
            let manifest = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || sekisho_gateway::backup::restore(&from, &identity, &dir, url.as_ref())
            })
            .await??;
            println!(
                "Restored into {} (snapshot {}); start it with `sekisho-gateway serve --dir {}`.",
                dir.display(),
                manifest.created_at,
                dir.display()
            );
            Ok(())
        }
        Command::Serve {
            dir,
            listen,
            public_listen,
            database,
        } => {
            let overrides = Overrides {
                listen,
                public_listen,
                ..database.overrides()
            };
            if !sekisho_gateway::init::is_initialised(&dir) {
                let url = overrides.database_url.as_ref();
                let result = sekisho_gateway::init::run(&dir, url, "admin").await?;
                print_init(&result, &dir, false)?;
            }
            // Once initialised, the URL is an override like for any command:
            // SEKISHO_DATABASE_URL pointing elsewhere is the database served.
            sekisho_gateway::serve(&dir, &overrides).await
        }
    }
}
