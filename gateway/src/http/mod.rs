//! HTTPS wiring: two listeners, each with its own router under one layer
//! stack ([`layers`]). The routers are plain values over the shared state,
//! so tests drive them in-process (`tests/router.rs`); [`serve`] puts one
//! on a bound listener over TLS, with the connection caps and time-outs of
//! `[http]`.

pub mod api;
pub(crate) mod client_addr;
mod connections;
mod extract;
mod framework_errors;
mod headers;
pub mod layers;
pub mod openapi;
pub mod public;
mod ready;
pub mod refusals;
pub(crate) mod throttling;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::config::http::HttpConfig;

pub use layers::{internal_router, public_router};

pub fn bind(address: &str, what: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address} for the {what} listener"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves a router over TLS on an already bound listener until `shutdown`.
///
/// Before a request reaches the router: the connection caps (before the
/// handshake, so a flood costs no cryptography), the TLS handshake
/// time-out, and the header-read time-out, which also ends keep-alive
/// connections that stay idle (hyper starts it whenever it waits for a
/// request's head).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: RustlsConfig,
    http: HttpConfig,
    handle: axum_server::Handle<SocketAddr>,
) -> Result<()> {
    let caps =
        connections::ConnectionCaps::new(http.max_connections, http.max_connections_per_address);
    let acceptor = RustlsAcceptor::new(tls)
        .handshake_timeout(Duration::from_secs(http.tls_handshake_seconds))
        .acceptor(caps);
    let header_read = Duration::from_secs(http.header_read_seconds);
    let mut server = axum_server::from_tcp(listener)
        .context("cannot hand the bound listener to the HTTPS server")?
        .acceptor(acceptor)
        .first_request_timeout(header_read)
        // Refused connections (over a cap, failed handshakes) are logged by
        // the caps themselves or are noise from scanners of the Internet.
        .accept_error_handler(|_, error| tracing::debug!("connection not accepted: {error}"));
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_read);
    // HTTP/2 carries many requests on one connection: the per-address cap
    // on connections bounds requests in flight only with this beside it.
    server
        .http_builder()
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    server
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("the HTTPS server stopped")
}

/// Requests in flight on one HTTP/2 connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;

/// How long requests in flight may run on after a shutdown was asked for;
/// the rest are cut (see [`crate::serve_on`]). Long enough for a normal
/// request, short enough for a service manager's stop time-out (systemd's
/// default is 90 s) and for the end-to-end kit's 15 s.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
