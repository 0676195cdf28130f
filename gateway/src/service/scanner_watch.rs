//! Watching the scanning engines for the system staff: an engine whose
//! signatures went stale, or that stopped answering, raises an alert (an
//! audit event and one mail to the sysadmins); its recovery ends it. The
//! alert is stored, so it is mailed once while it lasts, whichever
//! replica's housekeeping sees it.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::json;

use super::notify;
use crate::db::alerts;
use crate::db::audit::{self, Record};
use crate::mail::notice::ScannerProblem;
use crate::scan::EngineStatus;
use crate::state::Shared;

/// The problems of one engine now, each with whether it is present.
fn problems(e: &EngineStatus) -> [(ScannerProblem, bool); 2] {
    [
        (
            ScannerProblem::Stale {
                age_hours: e.signature_age_seconds.unwrap_or(0).max(0).unsigned_abs() / 3600,
            },
            e.stale,
        ),
        (
            ScannerProblem::Failing {
                error: e.error.clone().unwrap_or_default(),
            },
            e.error.is_some(),
        ),
    ]
}

/// Checks every engine once; returns how many alerts were raised.
pub async fn run(state: &Shared) -> anyhow::Result<usize> {
    let scanner = state.scanner.clone();
    let at = state.clock.now();
    let engines = tokio::task::spawn_blocking(move || scanner.status(at)).await?;
    let now = state.clock.now_ms();
    let mut raised = 0;
    let mut checked = Vec::new();
    for engine in &engines {
        for (problem, present) in problems(engine) {
            let name = problem.alert_name(&engine.engine);
            checked.push(name.clone());
            let mut tx = state.db.write().await?;
            let (action, outcome) = if present {
                if !alerts::raise(tx.conn(), &name, &serde_json::to_string(&problem)?, now).await? {
                    continue;
                }
                notify::queue_scanner_alert(state, tx.conn(), now, &engine.engine, problem.clone())
                    .await?;
                raised += 1;
                tracing::warn!("scanner alert {name}: {problem:?}");
                (Action::ScannerAlert, Outcome::Error)
            } else {
                if !alerts::clear(tx.conn(), &name).await? {
                    continue;
                }
                (Action::ScannerRecovered, Outcome::Ok)
            };
            audit::append(
                tx.conn(),
                now,
                Record {
                    actor: "(gateway)".into(),
                    action,
                    object: ObjectRef::Gateway(format!("scanner:{}", engine.engine)),
                    outcome,
                    source: "-".into(),
                    detail: json!({ "alert": name, "problem": problem, "notify": "sysadmin" }),
                },
            )
            .await?;
            tx.commit().await?;
        }
    }
    // An engine taken out of the configuration ends its alerts.
    let mut tx = state.db.write().await?;
    for name in alerts::raised(tx.conn(), "scanner.").await? {
        if checked.contains(&name) || !alerts::clear(tx.conn(), &name).await? {
            continue;
        }
        let engine = name.split_once(':').map_or("", |(_, e)| e).to_string();
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: "(gateway)".into(),
                action: Action::ScannerRecovered,
                object: ObjectRef::Gateway(format!("scanner:{engine}")),
                outcome: Outcome::Ok,
                source: "-".into(),
                detail: json!({ "alert": name, "why": "the engine is no longer configured" }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(raised)
}
