//! Stand-in approvers (代理承認): naming one for a period, clearing it, and
//! what a session holds of them. The rules are `policy::delegation`'s; a
//! stand-in's power to decide comes from `Actor::stands_in_for`, read with
//! every session, so it starts and ends on the gateway's clock.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use sekisho_proto::{DelegationView, SetDelegation};
use serde_json::json;

use super::{Origin, notify};
use crate::clock::{DayEdge, format_ms, parse_japan_day};
use crate::db::Conn;
use crate::db::audit::{self, Record};
use crate::db::delegations::{self as store, DelegationRow, NewDelegation};
use crate::db::users::{self, UserRow};
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor, Principal, StandIn};
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

fn principal(user: &UserRow) -> Principal<'_> {
    Principal {
        user_id: &user.id,
        role: user.role,
        status: user.status,
    }
}

fn principals(d: &DelegationRow) -> (Principal<'_>, Principal<'_>) {
    (
        Principal {
            user_id: &d.approver_id,
            role: d.approver_role,
            status: d.approver_status,
        },
        Principal {
            user_id: &d.stand_in_id,
            role: d.stand_in_role,
            status: d.stand_in_status,
        },
    )
}

fn in_effect(d: &DelegationRow, now: i64) -> bool {
    let (approver, stand_in) = principals(d);
    d.starts_at <= now && now < d.ends_at && policy::is_in_force(&approver, &stand_in)
}

fn view(d: &DelegationRow, now: i64) -> DelegationView {
    DelegationView {
        approver: d.approver_name.clone(),
        stand_in: d.stand_in_name.clone(),
        stand_in_role: d.stand_in_role,
        starts_at: format_ms(d.starts_at),
        ends_at: format_ms(d.ends_at),
        set_by: d.created_by.clone(),
        in_effect: in_effect(d, now),
    }
}

/// The approvers `user_id` stands in for at `now` (for the session's actor).
pub async fn stands_in_for(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> anyhow::Result<Vec<StandIn>> {
    Ok(store::held_by(conn, user_id, now)
        .await?
        .iter()
        .filter(|d| in_effect(d, now))
        .map(|d| StandIn {
            user_id: d.approver_id.clone(),
            username: d.approver_name.clone(),
            role: d.approver_role,
        })
        .collect())
}

/// The approver's delegation in effect at `now`, if any (who is mailed).
pub async fn in_effect_of(
    conn: &mut Conn,
    approver_id: &str,
    now: i64,
) -> anyhow::Result<Option<DelegationRow>> {
    Ok(store::open_of(conn, approver_id)
        .await?
        .filter(|d| in_effect(d, now)))
}

/// An account that can be named as a stand-in, or have one.
pub struct Candidate {
    pub user: UserRow,
}

impl Candidate {
    pub fn principal(&self) -> Principal<'_> {
        principal(&self.user)
    }
}

/// The active approvers and CISOs, for the console's choices; shown to
/// those who see the stand-ins.
pub async fn candidates(state: &AppState, actor: &Actor) -> AppResult<Vec<Candidate>> {
    policy::may_view_delegations(actor)?;
    let mut conn = state.db.read().await?;
    let mut out = Vec::new();
    for role in [sekisho_proto::Role::Approver, sekisho_proto::Role::Ciso] {
        for user in users::active_with_role(&mut conn, role).await? {
            out.push(Candidate { user });
        }
    }
    Ok(out)
}

/// The stand-ins whose period has not ended.
pub async fn list(state: &AppState, actor: &Actor) -> AppResult<Vec<DelegationView>> {
    policy::may_view_delegations(actor)?;
    let now = state.clock.now_ms();
    let mut conn = state.db.read().await?;
    Ok(store::current(&mut conn, now)
        .await?
        .iter()
        .map(|d| view(d, now))
        .collect())
}

async fn account(conn: &mut Conn, name: &str) -> AppResult<UserRow> {
    users::by_name(conn, name.trim()).await?.ok_or_else(|| {
        AppError::invalid(
            "unknown_user",
            format!(
                "'{}' という利用者はいません。There is no account '{}'; see `sekisho admin user list`",
                name.trim(),
                name.trim()
            ),
        )
    })
}

/// The period asked for, checked: it ends in the future, after it starts,
/// and is no longer than `approval.max_delegation_days`.
fn period(state: &AppState, request: &SetDelegation, now: i64) -> AppResult<(i64, i64)> {
    let bad_day = |text: &str| {
        AppError::invalid(
            "bad_date",
            format!("'{text}' is not a date: use YYYY-MM-DD (e.g. 2026-12-24)"),
        )
    };
    let starts = match request.from.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(from) => parse_japan_day(from, DayEdge::Start)
            .ok_or_else(|| bad_day(from))?
            .max(now),
        None => now,
    };
    let ends = parse_japan_day(&request.until, DayEdge::End)
        .ok_or_else(|| bad_day(&request.until))?
        // The last second of the day named is included.
        + 1000;
    if ends <= now {
        return Err(AppError::invalid(
            "period_over",
            "終了日が過ぎています。The last day is in the past: give a day from today on",
        ));
    }
    if ends <= starts {
        return Err(AppError::invalid(
            "period_empty",
            "開始日が終了日より後です。The first day comes after the last one",
        ));
    }
    let max = state.config.approval.max_delegation_days;
    if ends - starts > (i64::from(max) + 1) * DAY_MS {
        return Err(AppError::invalid(
            "period_too_long",
            format!(
                "代理の期間は {max} 日までです。A stand-in is named for {max} days at most (approval.max_delegation_days); name them again later"
            ),
        ));
    }
    Ok((starts, ends))
}

/// Names `request.stand_in` to decide in `approver`'s place for a period;
/// an earlier delegation of the same approver is replaced.
pub async fn set(
    state: &AppState,
    actor: &Actor,
    approver: &str,
    request: SetDelegation,
    origin: &Origin,
) -> AppResult<DelegationView> {
    let now = state.clock.now_ms();
    let (starts, ends) = period(state, &request, now)?;
    let mut tx = state.db.write().await?;
    let absent = account(tx.conn(), approver).await?;
    let stand_in = account(tx.conn(), &request.stand_in).await?;
    policy::may_delegate(actor, &principal(&absent), &principal(&stand_in))?;
    let replaced = store::open_of(tx.conn(), &absent.id).await?;
    store::clear(tx.conn(), &absent.id, now, &actor.username).await?;
    let id = uuid::Uuid::new_v4().to_string();
    store::insert(
        tx.conn(),
        &NewDelegation {
            id: &id,
            approver_id: &absent.id,
            stand_in_id: &stand_in.id,
            starts_at: starts,
            ends_at: ends,
            created_by: &actor.username,
            created_at: now,
        },
    )
    .await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::DelegationSet,
            object: ObjectRef::User(absent.username.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "stand_in": stand_in.username,
                "stand_in_role": stand_in.role,
                "from": format_ms(starts),
                "until": format_ms(ends),
                "replaces": replaced.map(|d| d.stand_in_name),
            }),
        },
    )
    .await?;
    notify::queue_stand_in_named(
        state,
        tx.conn(),
        now,
        &absent,
        &stand_in,
        starts,
        ends,
        actor,
    )
    .await?;
    let row = store::open_of(tx.conn(), &absent.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the delegation just stored cannot be read back"))?;
    tx.commit().await?;
    Ok(view(&row, now))
}

/// Ends `approver`'s delegation now: they decide their queue again.
pub async fn clear(
    state: &AppState,
    actor: &Actor,
    approver: &str,
    origin: &Origin,
) -> AppResult<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    let absent = account(tx.conn(), approver).await?;
    policy::may_manage_stand_in(actor, &principal(&absent))?;
    let Some(open) = store::open_of(tx.conn(), &absent.id).await? else {
        return Err(AppError::invalid(
            "no_stand_in",
            format!(
                "{} さんには代理承認者がいません。{} has no stand-in to clear",
                absent.username, absent.username
            ),
        ));
    };
    store::clear(tx.conn(), &absent.id, now, &actor.username).await?;
    audit::append(
        tx.conn(),
        now,
        Record {
            actor: actor.username.clone(),
            action: Action::DelegationClear,
            object: ObjectRef::User(absent.username.clone()),
            outcome: Outcome::Ok,
            source: origin.0.clone(),
            detail: json!({
                "stand_in": open.stand_in_name,
                "was_until": format_ms(open.ends_at),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
