//! Refusals are evidence (policy 6.(5)②): a logged-in actor who is refused
//! (403, or 404 on an object they may not know exists) leaves an
//! `access.refused` event with who, from where, which operation and when.
//!
//! The actor is only known inside the handler (the session is checked by
//! the [`super::extract::Authed`] extractor), so this layer hands every
//! request an empty [`ActorSlot`] that the extractor fills, and reads it once
//! the answer is ready. Anonymous refusals (no session) are login failures
//! and link refusals, which their services already record.
//!
//! Writing is throttled per actor: an attacker with a stolen session cannot
//! fill the log (or slow every other write) by asking for refusals. Events
//! beyond the allowance are counted, and the next event written carries the
//! count as `suppressed`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use crate::db::audit::{self, Record};
use crate::policy::Actor;
use crate::service::Origin;
use crate::state::Shared;

/// Filled by the session extractor with the request's actor.
#[derive(Clone, Default)]
pub struct ActorSlot(Arc<OnceLock<Actor>>);

impl ActorSlot {
    pub fn fill(&self, actor: &Actor) {
        let _ = self.0.set(actor.clone());
    }

    fn actor(&self) -> Option<&Actor> {
        self.0.get()
    }
}

/// Refusal events not written because of the throttle, per actor.
#[derive(Default)]
pub struct Suppressed(Mutex<HashMap<String, u64>>);

impl Suppressed {
    fn add(&self, actor: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(actor.to_string()).or_default() += 1;
        }
    }

    fn take(&self, actor: &str) -> u64 {
        self.0
            .lock()
            .ok()
            .and_then(|mut counts| counts.remove(actor))
            .unwrap_or(0)
    }
}

fn is_refusal(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
}

pub async fn record(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let slot = ActorSlot::default();
    request.extensions_mut().insert(slot.clone());
    let operation = format!(
        "{} {}",
        request.method(),
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or("(no such route)", MatchedPath::as_str)
    );
    let path = request.uri().path().to_string();
    let origin = request
        .extensions()
        .get::<super::client_addr::ClientAddr>()
        .map_or_else(|| "-".to_string(), |addr| addr.0.to_string());
    let response = next.run(request).await;
    if let Some(actor) = slot.actor().filter(|_| is_refusal(response.status())) {
        write(
            &state,
            actor,
            &operation,
            &path,
            response.status(),
            &Origin(origin),
        )
        .await;
    }
    response
}

async fn write(
    state: &Shared,
    actor: &Actor,
    operation: &str,
    path: &str,
    status: StatusCode,
    origin: &Origin,
) {
    if state
        .throttles
        .refusal_events
        .check(&actor.username)
        .is_err()
    {
        state.suppressed_refusals.add(&actor.username);
        return;
    }
    let suppressed = state.suppressed_refusals.take(&actor.username);
    let record = Record {
        actor: actor.username.clone(),
        action: Action::AccessRefused,
        object: ObjectRef::Route(operation.to_string()),
        outcome: Outcome::Denied,
        source: origin.0.clone(),
        detail: json!({
            "status": status.as_u16(),
            "path": path,
            "role": actor.role.as_str(),
            "suppressed": suppressed,
        }),
    };
    // The refusal already went to the caller; a database that cannot take
    // the event now is an outage that the next request reports.
    if let Err(error) = audit::append_alone(&state.db, state.clock.now_ms(), record).await {
        tracing::warn!("a refusal could not be recorded in the audit log: {error:#}");
    }
}
