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

use crate::blob::s3::S3Settings;
use crate::blob::{BlobStore, LocalDisk, S3Store};
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
        let keys = Keys::load_with_shares(dir, config.store.key_shares_dir(dir))?;
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
        let store = open_store(&config, dir)?;
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
            store,
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

/// The configured store: S3 with `[store] url`, else the local folder.
/// An S3 store is listed once, so wrong credentials or a missing bucket
/// stop start-up with the reason instead of failing the first upload.
pub fn open_store(config: &Config, dir: &Path) -> Result<Arc<dyn BlobStore>> {
    let store = &config.store;
    let Some(location) = store.s3()? else {
        let folder = store.objects_dir(dir);
        let local = LocalDisk::open(&folder).with_context(|| {
            format!(
                "cannot open the store {}; check that the folder exists and the gateway may write it",
                folder.display()
            )
        })?;
        return Ok(Arc::new(local));
    };
    let (access_key_id, secret_access_key) = s3_credentials(store, dir)?;
    let s3 = S3Store::open(S3Settings {
        bucket: location.bucket,
        prefix: location.prefix,
        endpoint: store.endpoint.clone(),
        region: store.region.clone(),
        access_key_id,
        secret_access_key,
        allow_http: store.danger_plain_http_loopback,
    })?;
    s3.check().with_context(|| {
        format!(
            "the object store does not answer or refuses these credentials; check [store] url, endpoint and region in {} and the S3 credentials",
            Config::path(dir).display()
        )
    })?;
    Ok(Arc::new(s3))
}

/// The S3 login: `store.credentials_file` (key id, then secret, mode 600),
/// else `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
fn s3_credentials(
    store: &crate::config::store::StoreConfig,
    dir: &Path,
) -> Result<(String, zeroize::Zeroizing<String>)> {
    if let Some(file) = &store.credentials_file {
        let path = dir.join(file);
        let text = crate::fsutil::read_private_text(&path, "the S3 secret access key").with_context(|| {
            format!(
                "cannot use store.credentials_file {}; put the access key id on its first line and the secret on its second, then chmod 600",
                path.display()
            )
        })?;
        let mut lines = text.lines();
        return match (lines.next(), lines.next()) {
            (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.trim().is_empty() => Ok((
                id.trim().to_string(),
                zeroize::Zeroizing::new(secret.trim().to_string()),
            )),
            _ => anyhow::bail!(
                "{} must hold the S3 access key id on its first line and the secret on its second",
                path.display()
            ),
        };
    }
    match (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id, zeroize::Zeroizing::new(secret)))
        }
        _ => anyhow::bail!(
            "store.url is set but no S3 credentials were given: set store.credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the gateway's environment"
        ),
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
