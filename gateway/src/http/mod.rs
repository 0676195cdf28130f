//! HTTPS wiring: two listeners, each with its own router. The routers are
//! plain values over the shared state, so tests drive them in-process
//! (`tests/router.rs`); [`serve`] puts one on a bound listener over TLS.

pub mod api;
mod extract;
pub mod openapi;
pub mod public;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use tower_http::trace::TraceLayer;

use crate::state::Shared;

pub fn internal_router(state: Shared) -> Router {
    api::router()
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The public paths carry download and upload tokens, so request spans
/// record the method and the route family only, never the path: a token
/// must not reach a log even at debug level.
pub fn public_router(state: Shared) -> Router {
    public::router()
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let family = match request.uri().path().get(..3) {
                    Some("/d/") => "download",
                    Some("/u/") => "upload",
                    _ => "other",
                };
                tracing::debug_span!("public", method = %request.method(), family)
            }),
        )
        .with_state(state)
}

pub fn bind(address: &str, what: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address} for the {what} listener"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves a router over TLS on an already bound listener until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: RustlsConfig,
    handle: axum_server::Handle<SocketAddr>,
) -> Result<()> {
    axum_server::from_tcp_rustls(listener, tls)
        .context("cannot hand the bound listener to the HTTPS server")?
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("the HTTPS server stopped")
}

/// How long requests in flight may run on after a shutdown was asked for;
/// the rest are cut (see [`crate::serve_on`]). Long enough for a normal
/// request, short enough for a service manager's stop time-out (systemd's
/// default is 90 s) and for the end-to-end kit's 15 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
