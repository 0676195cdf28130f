//! Recipients' links as the sender sees them. The links carry the download
//! permission, so only the sender is granted them (policy 6.(1)⑧); every
//! other caller gets "not found".

use sekisho_proto::{LinkState, LinkStatus, LinkView};

use super::load;
use crate::clock::format_ms;
use crate::db::transfers::{self as store, LinkRow, TransferRow};
use crate::error::AppResult;
use crate::policy::{self, Actor, Grant, perm};
use crate::state::AppState;

pub async fn links(state: &AppState, actor: &Actor, id: &str) -> AppResult<Vec<LinkView>> {
    let grant = policy::view_links(actor, load(state, id).await?)?;
    link_views(state, &grant).await
}

/// The released links of the granted transfer, with their URLs.
async fn link_views(
    state: &AppState,
    grant: &Grant<perm::ViewLinks, TransferRow>,
) -> AppResult<Vec<LinkView>> {
    let mut conn = state.db.read().await?;
    let now = state.clock.now_ms();
    Ok(store::links(&mut conn, &grant.object().id)
        .await?
        .iter()
        .filter_map(|link| {
            let status = status(link, now)?;
            Some(LinkView {
                recipient: link.name.clone(),
                url: format!(
                    "{}/d/{}",
                    state.public_base_url,
                    state.keys.link_token(&link.id, &link.nonce)
                ),
                state: status.state,
                downloads: status.downloads,
                max_downloads: status.max_downloads,
                expires_at: status.expires_at,
                needs_passphrase: link.passphrase_wrapped.is_some(),
            })
        })
        .collect())
}

/// A link's state as the user should see it now, even before the
/// housekeeping task has closed an expired link.
pub fn effective_link_state(link: &LinkRow, now: i64) -> Option<LinkState> {
    let state = link.state?;
    match (state, link.expires_at) {
        (LinkState::Active | LinkState::Exhausted, Some(expires)) if expires <= now => {
            Some(LinkState::Expired)
        }
        _ => Some(state),
    }
}

/// A released link's status; `None` before release.
pub(super) fn status(link: &LinkRow, now: i64) -> Option<LinkStatus> {
    Some(LinkStatus {
        state: effective_link_state(link, now)?,
        downloads: link.downloads as u32,
        max_downloads: link.max_downloads as u32,
        expires_at: format_ms(link.expires_at?),
    })
}
