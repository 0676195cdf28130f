//! Media arrivals (6.(4)②(イ)): each return of a carried-out medium and
//! each outside medium brought in is recorded as an arrival, and an intake
//! (`sekisho intake --medium ID`) names the arrival its files came from.
//! The ledger then shows every arrival with its scan results and lists the
//! media whose files were never taken in through the scan.

use sekisho_proto::media::{ArrivalIntake, ArrivalView, MediumState};

use crate::clock::format_ms;
use crate::db::arrivals::{self, ArrivalRow};
use crate::db::{Conn, media};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, ArrivalFacts, ArrivalSubject};
use crate::state::AppState;

impl ArrivalSubject for ArrivalRow {
    fn arrival_facts(&self) -> ArrivalFacts<'_> {
        ArrivalFacts {
            recorded_by_id: &self.recorded_by_id,
            carried_out_by_id: self.carried_out_by_id.as_deref(),
        }
    }
}

async fn view(conn: &mut Conn, row: &ArrivalRow) -> AppResult<ArrivalView> {
    let intakes: Vec<ArrivalIntake> = arrivals::intakes_of(conn, &row.id)
        .await?
        .into_iter()
        .map(|i| ArrivalIntake {
            files: i.files(),
            id: i.request_id,
            by: i.by,
            at: format_ms(i.at),
            clean: i.clean,
            infected: i.infected,
            unscanned: i.unscanned,
        })
        .collect();
    Ok(ArrivalView {
        id: row.id.clone(),
        medium: row.medium_id.clone(),
        kind: row.kind,
        transfer: row.transfer_id.clone(),
        purpose: row.purpose.clone(),
        origin: row.origin.clone(),
        recorded_by: row.recorded_by.clone(),
        recorded_at: format_ms(row.recorded_at),
        scanned: intakes.iter().any(|i| i.files > 0),
        intakes,
    })
}

/// Records an arrival in the caller's transaction, so the return or
/// carry-in and its arrival are one change.
pub(super) async fn record(conn: &mut Conn, row: &ArrivalRow) -> AppResult<ArrivalView> {
    arrivals::insert(conn, row).await?;
    view(conn, row).await
}

/// The arrivals, newest first; with `unscanned_only`, those whose files
/// nobody has taken in through the scan yet.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    unscanned_only: bool,
) -> AppResult<Vec<ArrivalView>> {
    let _grant = policy::view_media(actor)?;
    let mut conn = state.db.read().await?;
    let mut out = Vec::new();
    for row in arrivals::list(&mut conn).await? {
        let v = view(&mut conn, &row).await?;
        if !unscanned_only || !v.scanned {
            out.push(v);
        }
    }
    Ok(out)
}

/// The arrival whose files an intake naming `medium_id` takes in: the
/// medium's latest return or carry-in, if the actor may take it in and the
/// medium is not out again.
pub(super) async fn for_intake(
    conn: &mut Conn,
    actor: &Actor,
    medium_id: &str,
) -> AppResult<ArrivalRow> {
    super::media::check_medium_id(medium_id)?;
    if media::get(conn, medium_id)
        .await?
        .is_some_and(|m| m.state == MediumState::Out)
    {
        return Err(AppError::Conflict(
            "medium_out",
            format!(
                "媒体「{medium_id}」は持出し中です。返却を記録してから取り込んでください。 \
                 Medium '{medium_id}' is carried out: record its return with `sekisho media checkin {medium_id}` first."
            ),
        ));
    }
    let Some(arrival) = arrivals::latest_of(conn, medium_id).await? else {
        return Err(AppError::Conflict(
            "medium_not_arrived",
            format!(
                "媒体「{medium_id}」の返却・持込みが記録されていません。先に `sekisho media checkin {medium_id}`（返却）または \
                 `sekisho media carry-in {medium_id} --purpose 目的`（外部からの持込み）で記録してください。 \
                 No return or carry-in of medium '{medium_id}' is recorded: record it first with \
                 `sekisho media checkin {medium_id}` or `sekisho media carry-in {medium_id} --purpose TEXT`."
            ),
        ));
    };
    Ok(policy::take_in_arrival(actor, arrival)?.into_object())
}
