//! The one layer stack of both listeners, outermost first. Each layer sees
//! what the ones above it let through, and the order is deliberate:
//!
//! 1. **trace**: a span per request (on the public listener the method and
//!    the route family only: paths carry tokens, which never reach a log);
//! 2. **security headers** on every answer, refusals by the layers below
//!    included (`headers`);
//! 3. **framework errors as JSON**: the plain-text refusals of axum's
//!    extractors and router become the documented `ErrorBody`
//!    (`framework_errors`); below the headers so that its answers get them;
//! 4. **client address**: the connection's address, or a trusted proxy's
//!    client (`client_addr`); everything below names this address;
//! 5. public listener: **per-address throttle** (`throttling`), before any
//!    database work; internal listener: **refusal evidence** (`refusals`),
//!    which records a logged-in actor's 403 and 404 answers;
//! 6. **idle-body time-out**: a request body that sends nothing for
//!    `http.idle_body_seconds` is cut; an honest slow upload goes on;
//! 7. the routes, each with its own body limit (JSON 2 MiB; uploads bounded
//!    by their link or transfer). The internal listener has the API under
//!    `/api/v1` and the web console (`crate::console`) everywhere else.
//!
//! Below the stack, before any of it: connection caps, TLS handshake and
//! header-read time-outs (`super::serve`).

use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use super::{api, client_addr, framework_errors, headers, public, refusals, throttling};
use crate::state::Shared;

fn with_headers(mut router: Router) -> Router {
    for layer in headers::layers() {
        router = router.layer(layer);
    }
    router
}

pub fn internal_router(state: Shared) -> Router {
    let idle_body = Duration::from_secs(state.config.http.idle_body_seconds);
    // `Router::layer` wraps what is there already: the last call is the
    // outermost layer, so this reads from the routes outwards (7 to 1).
    let router = api::router()
        .merge(crate::console::router())
        .layer(RequestBodyTimeoutLayer::new(idle_body))
        .layer(from_fn_with_state(state.clone(), refusals::record))
        .layer(from_fn_with_state(state.clone(), client_addr::attach))
        .layer(from_fn(framework_errors::as_json))
        .with_state(state);
    with_headers(router).layer(TraceLayer::new_for_http())
}

/// The public paths carry download and upload tokens, so request spans
/// record the method and the route family only, never the path: a token
/// must not reach a log even at debug level.
pub fn public_router(state: Shared) -> Router {
    let idle_body = Duration::from_secs(state.config.http.idle_body_seconds);
    let router = public::router()
        .layer(RequestBodyTimeoutLayer::new(idle_body))
        .layer(from_fn_with_state(state.clone(), throttling::public))
        .layer(from_fn_with_state(state.clone(), client_addr::attach))
        .layer(from_fn(framework_errors::as_json))
        .with_state(state);
    with_headers(router).layer(TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<_>| {
            let family = match request.uri().path().get(..3) {
                Some("/d/") => "download",
                Some("/u/") => "upload",
                _ => "other",
            };
            tracing::debug_span!("public", method = %request.method(), family)
        },
    ))
}
