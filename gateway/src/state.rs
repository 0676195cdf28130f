//! What every request handler shares, and the one way to build it:
//! [`AppState::open`] for a data directory that is initialised (every
//! command: `serve`, `migrate`, `status`, `audit-prune`), and
//! [`AppState::assemble`] for `init`, which has its configuration in memory
//! before it writes the file. Both fail closed: without keys, a usable
//! scanner, the store or the database nothing is built.
//!
//! Building a state binds no sockets, so maintenance commands and in-process
//! tests can have one while a gateway is serving the same directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::blob::{BlobStore, LocalDisk};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::db::Db;
use crate::keys::Keys;
use crate::mail::Mailer;
use crate::scan::Scanner;
use crate::throttle::Throttles;

pub struct AppState {
    pub dir: PathBuf,
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub store: Arc<dyn BlobStore>,
    pub clock: Clock,
    /// Base of recipients' links, without a trailing slash.
    ///
    /// With `server.public_base_url` set it is that, from the start. Without
    /// it, links point at the public listener's own address, which exists
    /// only once a socket is bound (with port 0 the system picks it), and
    /// `open` binds nothing: then this is empty until
    /// [`crate::serve_on`] fills it in from the listener it was handed,
    /// before any request is served. Maintenance commands never make links.
    pub public_base_url: String,
    /// Every inbound file, and outbound ones unless disabled, passes it.
    pub scanner: Arc<Scanner>,
    /// Per-address and per-actor rate limits (in memory, per process).
    pub throttles: Throttles,
    /// Refusal events held back by the throttle, per actor.
    pub suppressed_refusals: crate::http::refusals::Suppressed,
    /// Uploads running through each inbound request (in memory, per process).
    pub upload_slots: Arc<crate::service::inbound::UploadSlots>,
    /// `[mail]`'s SMTP transport; `None` without `[mail]`: then no notice
    /// is queued and nothing is mailed.
    pub mailer: Option<Arc<Mailer>>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// Opens an initialised data directory: `sekisho.toml` with `overrides`
    /// laid over it, then keys, scanner, store and database (migrated when a
    /// migration is pending).
    pub async fn open(dir: &Path, overrides: &Overrides) -> Result<AppState> {
        let config = Config::load_with(dir, overrides)?;
        Self::assemble(dir, config).await
    }

    /// Builds the state from a configuration already in hand (`init` writes
    /// its file only once everything else succeeded).
    pub async fn assemble(dir: &Path, config: Config) -> Result<AppState> {
        let keys = Keys::load(dir)?;
        let scanner = build_scanner(&config, dir)?;
        let mailer = match &config.mail {
            Some(mail) => Some(Arc::new(Mailer::from_config(mail, dir).with_context(|| {
                format!(
                    "the [mail] settings in {} cannot be used; fix them, or remove [mail] to run without mail",
                    Config::path(dir).display()
                )
            })?)),
            None => None,
        };
        let store = LocalDisk::open(&dir.join("store")).with_context(|| {
            format!(
                "cannot open the store {}; check that the folder exists and the gateway may write it",
                dir.join("store").display()
            )
        })?;
        // Last: it is the only step with effects outside DIR (migrations).
        let db = Db::connect(config.database_url(dir).expose()).await?;
        let config_http = config.http.clone();
        let public_base_url = config
            .server
            .public_base_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(AppState {
            dir: dir.to_path_buf(),
            config,
            db,
            keys,
            store: Arc::new(store),
            clock: Clock::from_env(),
            public_base_url,
            scanner,
            throttles: Throttles::new(&config_http),
            suppressed_refusals: Default::default(),
            upload_slots: Default::default(),
            mailer,
        })
    }
}

/// The configured scanner; a rule that does not compile or a bad engine
/// address stops start-up (fail closed).
pub fn build_scanner(config: &Config, dir: &Path) -> Result<Arc<Scanner>> {
    let scanner = Scanner::from_config(&config.scan, dir).with_context(|| {
        format!(
            "the [scan] settings in {} cannot be used; fix them before starting",
            Config::path(dir).display()
        )
    })?;
    Ok(Arc::new(scanner))
}
