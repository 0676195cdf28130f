//! Readiness: whether this gateway can do its work now. `/healthz` says
//! only that the process answers (a liveness probe restarts a process that
//! does not); `/readyz` asks the database, the store and the scanner, each
//! within a bound, so a load balancer can send clerks elsewhere while one of
//! them is down, and take the gateway back once it recovers by itself.
//!
//! The answer names which part is down, never a driver's message: the
//! public listener serves it too.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sekisho_proto::{Readiness, ReadinessCheck};

use crate::state::Shared;

/// Each check's bound; the three run one after another, so an answer comes
/// within about three times this.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn database(state: &Shared) -> Result<(), &'static str> {
    let probe = async {
        let mut conn = state.db.read().await.map_err(|_| "unreachable")?;
        crate::db::ping(&mut conn)
            .await
            .map_err(|_| "not answering")
    };
    tokio::time::timeout(CHECK_TIMEOUT, probe)
        .await
        .unwrap_or(Err("timed out"))
}

/// Starts a blob and drops it unfinished: the store's own write path (its
/// temporary folder) must work, and dropping discards the attempt.
async fn store(state: &Shared) -> Result<(), &'static str> {
    let store = state.store.clone();
    let probe = tokio::task::spawn_blocking(move || {
        let mut writer = store
            .create(&uuid::Uuid::new_v4().to_string())
            .map_err(|_| "cannot write")?;
        std::io::Write::write_all(&mut writer, b"readyz").map_err(|_| "cannot write")?;
        Ok(())
    });
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("check failed"),
        Err(_) => Err("timed out"),
    }
}

async fn scanner(state: &Shared) -> Result<(), &'static str> {
    let scanner = state.scanner.clone();
    let now = state.clock.now();
    let probe = tokio::task::spawn_blocking(move || scanner.status(now));
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(engines)) if engines.iter().all(|e| e.error.is_none()) => Ok(()),
        Ok(Ok(_)) => Err("an engine does not answer"),
        Ok(Err(_)) => Err("check failed"),
        Err(_) => Err("timed out"),
    }
}

fn check(name: &str, result: Result<(), &'static str>) -> ReadinessCheck {
    ReadinessCheck {
        name: name.to_string(),
        ready: result.is_ok(),
        problem: result.err().map(str::to_string),
    }
}

pub async fn readiness(state: &Shared) -> (bool, Readiness) {
    let checks = vec![
        check("database", database(state).await),
        check("store", store(state).await),
        check("scanner", scanner(state).await),
    ];
    let ready = checks.iter().all(|c| c.ready);
    (ready, Readiness { ready, checks })
}

/// The `/readyz` answer: 200 when every part is ready, else 503.
async fn answer(State(state): State<Shared>) -> Response {
    let (ready, body) = readiness(&state).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Readiness of database, store and scanner (both listeners)
///
/// 200 when all three can be used now, 503 when one cannot, each check
/// bounded in time. `/healthz` (public) and `/api/v1/health` (internal)
/// only say that the process answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = super::openapi::TAG_META,
    responses(
        (status = 200, description = "Every part is ready", body = Readiness),
        (status = 503, description = "A part is not ready; `checks` says which", body = Readiness),
    )
)]
pub async fn readyz(state: State<Shared>) -> Response {
    answer(state).await
}
