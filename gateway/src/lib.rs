//! Sekisho gateway: the server side of the secure file-transfer gateway.
//!
//! Layout: [`policy`] decides every permission; [`transfer_state`] owns the
//! transfer life cycle; [`service`] does the work; [`http`] maps HTTPS
//! requests onto it; [`db`], [`blob`], [`envelope`] and [`keys`] keep data
//! safe at rest.

pub mod auth;
pub mod blob;
pub mod clock;
pub mod config;
pub mod db;
pub mod envelope;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod init;
pub mod keys;
pub mod policy;
pub mod scan;
pub mod service;
pub mod state;
pub mod tls;
pub mod transfer_state;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::blob::LocalDisk;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::keys::Keys;
use crate::state::AppState;

pub struct ServeOptions {
    pub listen: Option<String>,
    pub public_listen: Option<String>,
}

/// Opens a data directory for a maintenance command (no listeners). A
/// different database URL may be given, e.g. the owner role on PostgreSQL.
pub async fn open_for_maintenance(dir: &Path, database_url: Option<&str>) -> Result<AppState> {
    let config = Config::load(dir)?;
    let url = database_url.map_or_else(|| config.database_url(dir), str::to_string);
    Ok(AppState {
        dir: dir.to_path_buf(),
        db: Db::connect(&url).await?,
        keys: Keys::load(dir)?,
        store: Arc::new(LocalDisk::open(&dir.join("store")).context("cannot open the store")?),
        clock: Clock::from_env(),
        public_base_url: String::new(),
        scanner: build_scanner(&config, dir)?,
        config,
    })
}

/// The configured scanner; a rule that does not compile or a bad engine
/// address stops start-up (fail closed).
pub fn build_scanner(config: &Config, dir: &Path) -> Result<Arc<scan::Scanner>> {
    let scanner = scan::Scanner::from_config(&config.scan, dir).with_context(|| {
        format!(
            "the [scan] settings in {} cannot be used; fix them before starting",
            Config::path(dir).display()
        )
    })?;
    Ok(Arc::new(scanner))
}

/// Starts both listeners and runs until SIGTERM or Ctrl-C.
pub async fn serve(dir: &Path, options: ServeOptions) -> Result<()> {
    let mut config = Config::load(dir)?;
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    if let Some(public) = options.public_listen {
        config.server.public_listen = public;
    }
    let clock = Clock::from_env();
    if clock.is_manipulable() {
        tracing::warn!(
            "{} is set: the gateway's clock can be moved. This is for tests only; never run a real gateway like this.",
            clock::OFFSET_FILE_ENV
        );
    }
    // Fail closed: without keys, certificate or database nothing starts.
    let keys = Keys::load(dir)?;
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(dir)?);
    let scanner = build_scanner(&config, dir)?;
    let db = Db::connect(&config.database_url(dir)).await?;
    let store = Arc::new(LocalDisk::open(&dir.join("store")).context("cannot open the store")?);

    let internal = http::bind(&config.server.listen, "internal")?;
    let public = http::bind(&config.server.public_listen, "public")?;
    let internal_addr = internal.local_addr()?;
    let public_addr = public.local_addr()?;
    let public_base_url = config
        .server
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("https://{public_addr}"))
        .trim_end_matches('/')
        .to_string();

    let state = Arc::new(AppState {
        dir: dir.to_path_buf(),
        config,
        db,
        keys,
        store,
        clock,
        public_base_url,
        scanner,
    });
    service::housekeeping::recover(&state).await?;
    tokio::spawn(service::housekeeping::run(state.clone()));
    if let Some(target) = &state.config.audit.export {
        let address = service::audit_export::parse_target(target)?;
        let format = service::audit_export::parse_format(&state.config.audit.export_format)?;
        tokio::spawn(service::audit_export::run(state.clone(), address, format));
    }

    let handle = axum_server::Handle::new();
    let internal_task = tokio::spawn(http::serve(
        internal,
        http::internal_router(state.clone()),
        tls.clone(),
        handle.clone(),
    ));
    let public_task = tokio::spawn(http::serve(
        public,
        http::public_router(state.clone()),
        tls,
        handle.clone(),
    ));
    // Tests and scripts wait for this exact line.
    println!(
        "sekisho-gateway listening internal=https://{internal_addr} public=https://{public_addr} database={}",
        state.db.backend_name()
    );
    tracing::info!(
        "internal API on https://{internal_addr}, public downloads on https://{public_addr}"
    );

    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(http::SHUTDOWN_GRACE));
    let _ = internal_task.await;
    let _ = public_task.await;
    state.db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
