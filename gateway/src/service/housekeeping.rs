//! Work nobody asks for: closing expired links (and logging it), ending
//! stale sessions, reminding of and expiring requests nobody decides,
//! watching the scanner, retention, sending the mail outbox, and start-up
//! recovery after a crash.

use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use std::collections::BTreeSet;
use std::time::Duration;

use sekisho_proto::{LinkState, TransferState};
use serde_json::json;

use crate::db::audit::{self, Record};
use crate::db::objects;
use crate::db::transfers as store;
use crate::db::users;
use crate::state::Shared;
use crate::transfer_state::{self, Event};

/// Runs until the process ends. Errors are logged and retried next round:
/// a database outage must not stop expiry for good. With several replicas
/// only the holder of the housekeeping lease does anything.
pub async fn run(state: Shared) {
    let mut lease = super::lease::Lease::new(super::lease::Job::Housekeeping);
    let mut sweep_interval = tokio::time::interval(Duration::from_secs(
        state.config.housekeeping.interval_seconds,
    ));
    sweep_interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpoint_interval = tokio::time::interval(Duration::from_secs(
        state.config.audit.checkpoint_interval_seconds,
    ));
    checkpoint_interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // On the injected clock, so a test that moves time sees the prune.
    let mut last_prune: Option<i64> = None;
    loop {
        tokio::select! {
            _ = sweep_interval.tick() => {
                if !lease.hold(&state).await {
                    continue;
                }
                round(&state).await;
                let now = state.clock.now_ms();
                if last_prune.is_none_or(|at| now - at >= super::audit::PRUNE_EVERY_MS) {
                    last_prune = Some(now);
                    match super::audit::scheduled_prune(&state).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!("audit retention: pruned {n} events past audit.retention_days"),
                        Err(e) => tracing::error!("audit retention: cannot prune, will retry in an hour: {e:#}"),
                    }
                }
            }
            _ = checkpoint_interval.tick() => {
                if !lease.hold(&state).await {
                    continue;
                }
                if let Err(e) = super::audit::periodic_checkpoint(&state).await {
                    tracing::error!("cannot sign an audit checkpoint, will retry: {e:#}");
                }
            }
        }
    }
}

/// One housekeeping round; each job fails on its own and is retried.
async fn round(state: &Shared) {
    if let Err(e) = sweep(state).await {
        tracing::error!("housekeeping failed, will retry: {e:#}");
    }
    if let Err(e) = super::media::flag_overdue(state).await {
        tracing::error!("cannot flag overdue media, will retry: {e:#}");
    }
    match super::unattended::run(state).await {
        Ok(done) if done != Default::default() => tracing::info!(
            "unattended requests: {} reminded, {} expired undecided",
            done.reminded,
            done.expired
        ),
        Ok(_) => {}
        Err(e) => tracing::error!("cannot remind or expire waiting requests, will retry: {e:#}"),
    }
    if let Err(e) = super::scanner_watch::run(state).await {
        tracing::error!("cannot check the scanning engines, will retry: {e:#}");
    }
    match super::deletion::apply_retention(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("retention: securely deleted the content of {n} transfers"),
        Err(e) => tracing::error!("retention deletion failed, will retry: {e:#}"),
    }
    match super::deletion::apply_inbound_retention(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("retention: securely deleted {n} inbound files"),
        Err(e) => tracing::error!("inbound retention deletion failed, will retry: {e:#}"),
    }
    // Last: a slow SMTP server delays only the mail, never expiry.
    match super::notify::deliver_due(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("mail: sent {n} notifications"),
        Err(e) => tracing::error!("cannot work through the mail outbox, will retry: {e:#}"),
    }
}

pub async fn sweep(state: &Shared) -> anyhow::Result<()> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write().await?;
    users::delete_expired_sessions(tx.conn(), now).await?;
    let due = store::links_due_to_expire(tx.conn(), now).await?;
    let mut touched = BTreeSet::new();
    for link in &due {
        store::expire_link(tx.conn(), &link.id).await?;
        audit::append(
            tx.conn(),
            now,
            Record {
                actor: "(gateway)".into(),
                action: Action::LinkExpire,
                object: ObjectRef::Transfer(link.transfer_id.to_string()),
                outcome: Outcome::Ok,
                source: "-".into(),
                detail: json!({ "link": link.id, "recipient": link.name, "downloads": link.downloads }),
            },
        )
        .await?;
        touched.insert(link.transfer_id.clone());
    }
    for transfer_id in touched {
        let Some(transfer) = store::get(tx.conn(), &transfer_id).await? else {
            continue;
        };
        let links = store::links(tx.conn(), &transfer_id).await?;
        let still_open = links.iter().any(|l| l.state == Some(LinkState::Active));
        if transfer.state != TransferState::Released || still_open {
            continue;
        }
        let Some(next) = transfer_state::next(transfer.state, Event::LinksExpired) else {
            continue;
        };
        // Under the write lock nothing else changes it; a false here would
        // mean it is no longer released, so there is nothing to expire.
        if store::set_state(tx.conn(), &transfer_id, transfer.state, next, now).await? {
            audit::append(
                tx.conn(),
                now,
                Record {
                    actor: "(gateway)".into(),
                    action: Action::TransferExpire,
                    object: ObjectRef::Transfer(transfer_id.to_string()),
                    outcome: Outcome::Ok,
                    source: "-".into(),
                    detail: json!({ "sender": transfer.sender_name }),
                },
            )
            .await?;
            super::notify::queue_links_expired(state, tx.conn(), now, &transfer).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Makes the store agree with the database after a crash, before anything
/// is served:
/// 1. half-written blobs and half-written key shares are discarded;
/// 2. interrupted deletions are finished first, so the blobs whose keys
///    were already destroyed are overwritten by the erase, not merely
///    unlinked as orphans below;
/// 3. blobs the database never accepted (the crash came between storing
///    the bytes and committing the record) are removed.
///
/// Key shares of objects never recorded are erased by
/// `erase_orphan_key_shares` in `lib.rs`, right after this.
///
/// With a shared store (`[store] shared`, or S3) other replicas may be
/// writing right now: only what is older than `store.recovery_grace_minutes`
/// counts as left by a crash.
pub async fn recover(state: &Shared) -> anyhow::Result<()> {
    let grace = state.config.store.recovery_grace();
    let store = state.store.clone();
    let partials = tokio::task::spawn_blocking(move || store.discard_partials(grace)).await??;
    let keys_state = state.clone();
    let share_partials =
        tokio::task::spawn_blocking(move || keys_state.keys.shares().discard_partials(grace))
            .await??;
    super::deletion::resume(state).await?;
    let known: BTreeSet<String> = {
        let mut conn = state.db.read().await?;
        objects::all_ids(&mut conn).await?.into_iter().collect()
    };
    let store = state.store.clone();
    let listed = tokio::task::spawn_blocking(move || store.list()).await??;
    let orphans: Vec<String> = listed
        .iter()
        .filter(|blob| {
            !known.contains(&blob.id) && crate::blob::is_older_than(blob.modified, grace)
        })
        .map(|blob| blob.id.clone())
        .collect();
    let store = state.store.clone();
    let removed = orphans.len();
    tokio::task::spawn_blocking(move || orphans.iter().try_for_each(|id| store.delete(id)))
        .await??;
    let orphans = removed;
    let on_disk: BTreeSet<String> = listed.into_iter().map(|blob| blob.id).collect();
    let missing = known.iter().filter(|id| !on_disk.contains(*id)).count();
    if partials + share_partials + orphans > 0 {
        tracing::info!(
            "recovery: removed {partials} half-written stored files, {share_partials} half-written key shares and {orphans} unrecorded stored files"
        );
    }
    if missing > 0 {
        tracing::error!(
            "recovery: {missing} stored files recorded in the database are missing from the store; they cannot be delivered"
        );
    }
    Ok(())
}
