//! Sekisho gateway: the server side of the secure file-transfer gateway.
//!
//! Layout: [`policy`] decides every permission; [`transfer_state`] owns the
//! transfer life cycle; [`service`] does the work; [`http`] maps HTTPS
//! requests onto it; [`db`], [`blob`], [`envelope`] and [`keys`] keep data
//! safe at rest.
//!
//! Starting: [`state::AppState::open`] builds the state of a data directory
//! (no sockets), [`serve_on`] serves it on listeners the caller already bound
//! until a shutdown future completes, and [`serve`] is the command: open,
//! bind, serve until SIGTERM or Ctrl-C. Tests bind port 0 themselves and
//! hand [`serve_on`] their own shutdown future.

// Server code never panics on input (kanidm's rule): no `expect`, `panic`,
// unchecked indexing or placeholders outside tests; `unwrap` is denied for
// the whole workspace in Cargo.toml.
#![deny(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![deny(clippy::unreachable, clippy::todo, clippy::unimplemented)]

pub mod auth;
pub mod backup;
pub mod blob;
pub mod clock;
/// The configuration, in its own crate (`config/`) so that its parsing can
/// be fuzzed without the server stack; `crate::config::...` as before.
pub use sekisho_config as config;
pub mod console;
pub mod db;
pub mod envelope;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod init;
pub mod keys;
pub mod mail;
pub mod policy;
/// Malware scanning, in its own crate (`scan/`) so that the archive walker
/// can be fuzzed without the server stack; `crate::scan::...` as before.
pub use sekisho_scan as scan;
pub mod service;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod transfer_state;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::{Overrides, ServerConfig};
use crate::state::{AppState, Shared};

/// The two listeners, already bound (non-blocking, as tokio needs them).
pub struct Listeners {
    /// Staff, approvers, auditors and administrators: the JSON API.
    pub internal: TcpListener,
    /// Recipients' download and upload pages only.
    pub public: TcpListener,
}

impl Listeners {
    /// Binds `server.listen` and `server.public_listen`.
    pub fn bind(server: &ServerConfig) -> Result<Self> {
        Ok(Self {
            internal: http::bind(&server.listen, "internal")?,
            public: http::bind(&server.public_listen, "public")?,
        })
    }
}

/// What is being served, handed to `serve_on`'s `ready` callback.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    pub internal: SocketAddr,
    pub public: SocketAddr,
    /// `sqlite` or `postgresql`.
    pub database: &'static str,
}

/// How long the database may take to hand its connections back at shutdown,
/// after the listeners stopped. Nothing is left to commit by then; this only
/// bounds a hang.
const DATABASE_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Runs the gateway on listeners the caller bound, until `shutdown`
/// completes:
///
/// 1. fills in the links' base from the public listener's address when the
///    configuration gives none (see [`AppState::public_base_url`]);
/// 2. loads the TLS certificate and runs start-up recovery (half-written and
///    unrecorded blobs, key shares of objects never recorded, interrupted
///    deletions), so a directory that does not agree with its database is
///    never served;
/// 3. starts housekeeping and, when configured, the audit export;
/// 4. serves both routers, then calls `ready`: the gateway answers from this
///    point on. `serve` prints its "listening" line there; tests and scripts
///    take that line as "recovered and serving", which is why it is a
///    callback and not printed by the caller before `serve_on` (recovery
///    would still be running);
/// 5. on `shutdown`, stops accepting, lets requests in flight finish for
///    [`http::SHUTDOWN_GRACE`] and cuts the rest (an upload cut there was
///    never recorded: its partial blob is removed by the store, and anything
///    left behind by the next start-up recovery), stops the background
///    tasks and closes the database.
///
/// An error from a listener ends the gateway the same way, and is returned.
pub async fn serve_on(
    listeners: Listeners,
    mut state: AppState,
    shutdown: impl Future<Output = ()> + Send,
    ready: impl FnOnce(&Serving) + Send,
) -> Result<()> {
    let internal_addr = listeners
        .internal
        .local_addr()
        .context("the internal listener has no address")?;
    let public_addr = listeners
        .public
        .local_addr()
        .context("the public listener has no address")?;
    if state.public_base_url.is_empty() {
        state.public_base_url = format!("https://{public_addr}");
    }
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls::server_config(&state.dir)?);
    let state: Shared = std::sync::Arc::new(state);

    service::housekeeping::recover(&state).await?;
    erase_orphan_key_shares(&state).await?;
    let leftovers = backup::discard_leftover_snapshots(&state.dir)?;
    if leftovers > 0 {
        tracing::info!("recovery: removed {leftovers} database snapshots of interrupted backups");
    }
    let changed = service::config_record::record_start(&state).await?;
    tracing::info!(
        "configuration recorded (config.start): {changed} setting(s) changed since the last start"
    );
    let mut background = vec![tokio::spawn(service::housekeeping::run(state.clone()))];
    if let Some(target) = state.config.audit.export.clone() {
        let format = state.config.audit.export_format;
        background.push(tokio::spawn(service::audit_export::run(
            state.clone(),
            target,
            format,
        )));
    }

    let handle = axum_server::Handle::new();
    let mut internal_task = tokio::spawn(http::serve(
        listeners.internal,
        http::internal_router(state.clone()),
        tls.clone(),
        state.config.http.clone(),
        handle.clone(),
    ));
    let mut public_task = tokio::spawn(http::serve(
        listeners.public,
        http::public_router(state.clone()),
        tls,
        state.config.http.clone(),
        handle.clone(),
    ));
    ready(&Serving {
        internal: internal_addr,
        public: public_addr,
        database: state.db.backend_name(),
    });
    tracing::info!(
        "internal API on https://{internal_addr}, public pages on https://{public_addr}"
    );

    // A listener that stops by itself (it cannot accept any more) ends the
    // gateway: half a gateway would look alive to a monitor.
    let mut failure = None;
    tokio::select! {
        () = shutdown => tracing::info!("shutting down: finishing requests in flight"),
        result = &mut internal_task => failure = Some(listener_failure("internal", result)),
        result = &mut public_task => failure = Some(listener_failure("public", result)),
    }
    let draining = Instant::now();
    handle.graceful_shutdown(Some(http::SHUTDOWN_GRACE));
    for task in [internal_task, public_task] {
        if !task.is_finished() {
            let _ = task.await;
        }
    }
    if draining.elapsed() >= http::SHUTDOWN_GRACE {
        tracing::warn!(
            "requests still running after {} s were cut; an upload cut this way was not recorded and must be sent again",
            http::SHUTDOWN_GRACE.as_secs()
        );
    }
    // Housekeeping and export are safe to stop anywhere: each step is a
    // transaction (rolled back when dropped) or resumed by recovery.
    for task in &background {
        task.abort();
    }
    for task in background {
        let _ = task.await;
    }
    if tokio::time::timeout(DATABASE_CLOSE_GRACE, state.db.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close within {DATABASE_CLOSE_GRACE:?}");
    }
    tracing::info!("stopped");
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Start-up recovery for `keys/objects/`: a key share whose object was never
/// recorded (an upload cut by a crash, a client that went away, or the end
/// of the shutdown grace: the share is made when the upload starts, the row
/// only when it is complete) is erased. Such a share opens nothing, but key
/// material with no record is exactly what an erasure audit must not find.
/// Runs before anything is served, so no upload can be in progress.
///
/// It sits beside `housekeeping::recover` (which does the same for blobs)
/// rather than in it only while that module is being reworked; it belongs
/// there.
async fn erase_orphan_key_shares(state: &Shared) -> Result<usize> {
    let known: std::collections::BTreeSet<String> = {
        let mut conn = state.db.read().await?;
        db::objects::all_ids(&mut conn).await?.into_iter().collect()
    };
    let state = state.clone();
    let grace = state.config.store.recovery_grace();
    let erased = tokio::task::spawn_blocking(move || -> Result<usize> {
        let folder = state.keys.shares().root().to_path_buf();
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot list {}", folder.display()));
            }
        };
        let mut erased = 0;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // In a shared folder a young share may belong to an object
            // another replica is storing right now.
            let old_enough = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| blob::is_older_than(modified, grace));
            if !known.contains(&id) && old_enough && state.keys.shares().exists(&id) {
                state.keys.shares().erase(&id)?;
                erased += 1;
            }
        }
        Ok(erased)
    })
    .await??;
    if erased > 0 {
        tracing::info!("recovery: erased {erased} key shares of objects never recorded");
    }
    Ok(erased)
}

fn listener_failure(
    which: &str,
    result: std::result::Result<Result<()>, tokio::task::JoinError>,
) -> anyhow::Error {
    let error = match result {
        Ok(Ok(())) => anyhow::anyhow!("it stopped accepting connections"),
        Ok(Err(e)) => e,
        Err(e) => anyhow::Error::from(e),
    };
    tracing::error!("the {which} listener failed, stopping the gateway: {error:#}");
    error.context(format!(
        "the {which} listener failed; the gateway stopped (see the log, then start it again)"
    ))
}

/// `sekisho-gateway serve`: opens DIR with `overrides`, binds both listeners,
/// prints the "listening" line and serves until SIGTERM or Ctrl-C.
pub async fn serve(dir: &Path, overrides: &Overrides) -> Result<()> {
    // First, so that a SIGTERM during start-up is held until the gateway can
    // stop cleanly instead of killing it half-started.
    let shutdown = shutdown_signal()?;
    let state = AppState::open(dir, overrides).await?;
    if state.clock.is_manipulable() {
        tracing::warn!(
            "{} is set: the gateway's clock can be moved. This is for tests only; never run a real gateway like this.",
            clock::OFFSET_FILE_ENV
        );
    }
    let listeners = match Listeners::bind(&state.config.server) {
        Ok(listeners) => listeners,
        Err(e) => {
            state.db.close().await;
            return Err(e);
        }
    };
    serve_on(listeners, state, shutdown, |serving| {
        // Tests and scripts wait for this exact line.
        println!(
            "sekisho-gateway listening internal=https://{} public=https://{} database={}",
            serving.internal, serving.public, serving.database
        );
    })
    .await
}

/// A future that completes on SIGTERM or Ctrl-C (SIGINT). The handlers are
/// installed now, not when the future is first polled, so a signal that
/// arrives while the gateway starts is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
