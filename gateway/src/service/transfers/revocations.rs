//! 6.(1)⑧(エ) misdirected sends: an approver sees which of the transfers
//! they approved were revoked afterwards, by whom and why, without reading
//! the audit log.

use sekisho_proto::RevocationView;

use crate::clock::format_ms;
use crate::db::transfers as store;
use crate::error::{AppError, AppResult};
use crate::policy::{self, Actor};
use crate::state::AppState;

/// How far back the list reaches unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;
const MAX_DAYS: u32 = 366;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub async fn revocations(
    state: &AppState,
    actor: &Actor,
    days: Option<u32>,
) -> AppResult<Vec<RevocationView>> {
    let allowed = policy::review_revocations(actor)?;
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "bad_days",
            format!(
                "日数は 1 から {MAX_DAYS} の間で指定してください。 days must be between 1 and {MAX_DAYS}"
            ),
        ));
    }
    let since = state.clock.now_ms() - i64::from(days) * DAY_MS;
    let mut conn = state.db.read().await?;
    let rows = store::revocations_approved_by(&mut conn, &allowed.actor().username, since).await?;
    rows.into_iter()
        .map(|r| {
            Ok(RevocationView {
                class: r.class.parse().map_err(|e: sekisho_proto::InvalidClass| {
                    AppError::Internal(anyhow::anyhow!("stored transfer has a bad class: {e}"))
                })?,
                transfer_id: r.transfer_id,
                purpose: r.purpose,
                sender: r.sender,
                approved_at: format_ms(r.approved_at),
                revoked_at: format_ms(r.revoked_at),
                revoked_by: r.revoked_by,
                reason: r.reason,
            })
        })
        .collect()
}
