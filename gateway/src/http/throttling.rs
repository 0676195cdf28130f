//! The per-address throttles as the HTTP layer applies them: every public
//! request (each one names a link token, so each is a guess when it is not
//! a real link) and every login attempt. A refused request answers 429 with
//! `Retry-After` and costs the gateway no database work.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_addr::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::state::Shared;
use crate::throttle::PerMinute;

/// Liveness and readiness probes come from monitors, often many a minute,
/// and reveal nothing: they are never throttled.
const UNTHROTTLED: [&str; 2] = ["/healthz", "/readyz"];

fn refusal(wait: Duration) -> AppError {
    // Whole seconds, rounded up: "0" would invite an immediate retry.
    AppError::Throttled(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// `Ok` when `client` may go on under `throttle`. A request without a
/// resolved address (an in-process router test) is not throttled.
pub fn check(throttle: &PerMinute<std::net::IpAddr>, client: Option<ClientAddr>) -> AppResult<()> {
    match client {
        Some(ClientAddr(address)) => throttle.check(&address).map_err(refusal),
        None => Ok(()),
    }
}

/// Middleware for the public listener.
pub async fn public(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if !UNTHROTTLED.contains(&request.uri().path()) {
        let client = request.extensions().get::<ClientAddr>().copied();
        if let Err(refused) = check(&state.throttles.public, client) {
            return refused.into_response();
        }
    }
    next.run(request).await
}
